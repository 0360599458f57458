"""(e) Exploration throughput: operations per second of the explorer.

A fixed-seed batch of the stateful explorer (fresh worlds, real Nova
operations, every invariant after every operation) is timed; the figure is
operations per CPU second (``--benchmark-timer=time.process_time`` in ``tox
-e bench``) and per wall second, in ``extra_info``.  A second benchmark
times the per-operation check alone (the state read and every invariant),
which is what the harness adds to each operation.
"""
from __future__ import annotations

import time

from harness.explore.machine import Recorder
from harness.explore import runner
from harness.oracle.stepchecks import StepChecker
from harness.world.deployment import World
from harness.world.ops import Client, Op

SEED = 20261130


def test_explore_ops_per_second(benchmark):
    figures = []

    def batch():
        rec = Recorder()
        wall, cpu = time.monotonic(), time.process_time()
        failure = runner.run_batch(SEED, len(figures), rec, examples=2,
                                   steps=25)
        figures.append((rec.ops_total, time.monotonic() - wall,
                        time.process_time() - cpu))
        assert failure is None or failure.ops, failure

    benchmark.pedantic(batch, rounds=3, iterations=1)
    ops = sum(f[0] for f in figures)
    benchmark.extra_info["ops"] = ops
    benchmark.extra_info["ops_per_wall_second"] = round(
        ops / sum(f[1] for f in figures), 1)
    benchmark.extra_info["ops_per_cpu_second"] = round(
        ops / sum(f[2] for f in figures), 1)


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
