"""(a) Building one fresh world: median over many builds.

The default world (three hosts, each with its first, startup audit), a
one-host world, and the default world on Nova's own WAL file databases
(``sqlite="file"``) for comparison.  Only ``World.setUp()`` is timed; the
previous world is cleaned up before each round, outside the timing.
"""
from __future__ import annotations

import pytest

from harness.world.deployment import World

ROUNDS = 30


def _bench_world(benchmark, **kwargs):
    worlds = []

    def cleanup_previous():
        while worlds:
            worlds.pop().cleanUp()
        return (), {}

    def build():
        w = World(**kwargs)
        w.setUp()
        worlds.append(w)

    try:
        benchmark.pedantic(build, setup=cleanup_previous, rounds=ROUNDS,
                           warmup_rounds=3, iterations=1)
    finally:
        cleanup_previous()
    benchmark.extra_info["world"] = kwargs or "default (3 hosts)"


def test_world_build_default(benchmark):
    _bench_world(benchmark)


def test_world_build_one_host(benchmark):
    _bench_world(benchmark, hosts=("src",))


@pytest.mark.parametrize("sqlite", ["file"])
def test_world_build_file_databases(benchmark, sqlite):
    _bench_world(benchmark, sqlite=sqlite)


def test_world_cleanup(benchmark):
    """Tearing a world down (all patches undone, databases released)."""
    holder = []

    def build():
        w = World()
        w.setUp()
        holder[:] = [w]
        return (), {}

    benchmark.pedantic(lambda: holder.pop().cleanUp(), setup=build,
                       rounds=ROUNDS, iterations=1)
