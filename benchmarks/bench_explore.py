"""(e) Exploration throughput: operations per second of the explorer.

A fixed-seed exploration (``BATCHES`` batches of ``EXAMPLES`` examples x
25 steps, leaving out the recorded finding F-11's family: real Nova
operations, every invariant after every operation) is timed in three
shapes, the same batches each time (so the same operations, which the
benchmark asserts).  Until 2026-11-30 the batches had 2 examples, which
Hypothesis spends on its simplest example (25 audits of every host) and an
empty one: those figures timed audits only.  The operation mix is printed
with the figures.  The shapes:

* ``fresh-1``: every example builds its own world, one process (the
  explorer before issue 10's work; ``HARNESS_SNAPSHOTS=0``);
* ``forked-1``: every example starts from a forked copy of one template
  world (:mod:`harness.explore.forked`), one process;
* ``forked-2``: the same in two processes (one per core here).

The figures of record are in ``extra_info`` (and printed; run with ``-s``):
operations per wall second and per CPU second, where CPU seconds are this
process's *and its children's* (the copies and the parallel explorers do
the work; ``--benchmark-timer=time.process_time``, as ``tox -e bench``
sets it, counts only this process, so its min/median columns say nothing
about the forked shapes).  A second benchmark times the per-operation
check alone (the state read and every invariant).
"""
from __future__ import annotations

import os
import time

import pytest

from harness.explore import runner
from harness.oracle.stepchecks import StepChecker
from harness.world.deployment import World
from harness.world.ops import Client, Op

SEED = 20261130
BATCHES = 4
EXAMPLES = 20
EXCLUDE = ("delete_mid_move",)
SHAPES = {"fresh-1": (False, 1), "forked-1": (True, 1),
          "forked-2": (True, 2)}
_OPS: dict = {}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_explore_ops_per_second(benchmark, shape, monkeypatch, capsys):
    forked, jobs = SHAPES[shape]
    if not forked:
        monkeypatch.setenv("HARNESS_SNAPSHOTS", "0")
    figures = []

    def run():
        wall, cpu = time.monotonic(), runner.cpu_seconds()
        result = runner.explore(3600, SEED, examples=EXAMPLES, steps=25,
                                max_batches=BATCHES, jobs=jobs,
                                exclude=EXCLUDE)
        figures.append((result, time.monotonic() - wall,
                        runner.cpu_seconds() - cpu))

    benchmark.pedantic(run, rounds=1, iterations=1)
    result, wall, cpu = figures[0]
    assert result.failure is None, result.failure
    assert result.jobs == jobs and result.batches == BATCHES
    # the same seed runs the same operations whatever the shape
    _OPS.setdefault("ops", result.ops)
    assert result.ops == _OPS["ops"], (shape, result.ops, _OPS)
    info = {"ops": result.ops, "runs": result.runs, "jobs": jobs,
            "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
            "ops_per_wall_second": round(result.ops / wall, 1),
            "ops_per_cpu_second": round(result.ops / cpu, 1),
            "load_average": round(os.getloadavg()[0], 1)}
    benchmark.extra_info.update(info)
    with capsys.disabled():
        print("\n%s: %s" % (shape, ", ".join("%s %s" % kv
                                             for kv in info.items())))
        print("  operations: %s" % result.mix())


def test_step_check_alone(benchmark):
    world = World()
    world.setUp()
    try:
        client = Client(world)
        world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        for i, host in enumerate(("src", "dst", "bystander", "src")):
            client.perform(Op("boot", {"name": "v%d" % i, "flavor": "small",
                                       "host": host}))
        client.perform(Op("move", {"name": "v0", "dest": "dst"}))
        done = client.perform(Op("audit", {}))
        checker = StepChecker()
        benchmark(checker.check, world, done, client)
    finally:
        world.cleanUp()
