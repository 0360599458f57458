"""(e) Trials started from a snapshot (harness.verdicts.snapshots).

* ``start``: what starting a trial from a snapshot costs: fork a copy of a
  process holding a driven world (three hosts, ``vm1`` resized to ``dst``
  and awaiting confirm, the ``before`` audit done), read the instance back
  from the copy's database, and have the copy report back and exit.
  Target (issue 11): median <= 20 ms.
* ``control trial``: a whole control trial from that snapshot (tracker and
  compute-service audits of every host, the invariants at each stage), and
  the same trial on a fresh world, the way every trial ran before.
"""
from __future__ import annotations

import os
import statistics

import pytest

from harness.world.trace import Trace
from harness.verdicts import judge as judge_mod
from harness.verdicts import snapshots
from harness.verdicts.judge import Trial
from harness.world.deployment import World
from harness.world.workloads import MOVES

MOVE = "resize-finished"


@pytest.fixture(scope="module")
def driven():
    """A world driven to the point of interest, with its before-audit."""
    trial = Trial("control", MOVES[MOVE])
    base = judge_mod.TrialRun(trial, Trace())
    world = World(trace=base.trace)
    world.setUp()
    base.prepare(world)
    yield trial, base, world
    world.cleanUp()
    base.capture.cleanUp()


def _cpu() -> float:
    """CPU seconds of this process and of its waited-for children (the
    copies): on a shared machine, the figure that does not depend on what
    else runs; recorded next to pytest-benchmark's wall times."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _with_cpu(benchmark, fn, *args):
    spent = []

    def timed():
        t0 = _cpu()
        out = fn(*args)
        spent.append(_cpu() - t0)
        return out
    return timed, spent


def _record_cpu(benchmark, spent):
    ms = sorted(x * 1000 for x in spent)
    benchmark.extra_info["cpu_ms_median"] = round(statistics.median(ms), 2)
    benchmark.extra_info["cpu_ms_min"] = round(ms[0], 2)
    print("\n%s: CPU (self + copies) median %.1f ms, min %.1f ms"
          % (benchmark.name, statistics.median(ms), ms[0]))


def test_snapshot_trial_start(benchmark, driven):
    _, _, world = driven
    timed, spent = _with_cpu(benchmark, snapshots.in_copy,
                             lambda: world.instance("vm1").hostname)
    name = benchmark.pedantic(timed, rounds=50, warmup_rounds=3,
                              iterations=1)
    assert name == "vm1"
    _record_cpu(benchmark, spent[3:])


def test_snapshot_control_trial(benchmark, driven):
    trial, base, world = driven
    obs = benchmark.pedantic(
        judge_mod._forked, args=(base, world, trial, Trace()),
        rounds=10, warmup_rounds=1, iterations=1)
    assert obs.error is None and obs.clean


def test_fresh_world_control_trial(benchmark):
    obs = benchmark.pedantic(
        judge_mod.run_trial, args=(Trial("control", MOVES[MOVE]),),
        rounds=10, warmup_rounds=1, iterations=1)
    assert obs.error is None and obs.clean
