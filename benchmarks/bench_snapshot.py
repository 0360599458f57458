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

import pytest

from harness.oracle.trace import Trace
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


def test_snapshot_trial_start(benchmark, driven):
    _, _, world = driven
    name = benchmark.pedantic(
        snapshots.in_copy, args=(lambda: world.instance("vm1").hostname,),
        rounds=50, warmup_rounds=3, iterations=1)
    assert name == "vm1"


def test_snapshot_control_trial(benchmark, driven):
    trial, base, world = driven
    obs = benchmark.pedantic(
        snapshots._forked, args=(base, world, trial, Trace()),
        rounds=10, warmup_rounds=1, iterations=1)
    assert obs.error is None and obs.clean


def test_fresh_world_control_trial(benchmark):
    obs = benchmark.pedantic(
        judge_mod.run_trial, args=(Trial("control", MOVES[MOVE]),),
        rounds=10, warmup_rounds=1, iterations=1)
    assert obs.error is None and obs.clean
