"""Standard workloads: a small population with one instance mid-move.

Every move workload boots ``vm1`` on ``src`` and a bystander instance ``vm2``
on ``bystander``, then moves ``vm1`` in one of the shapes below.  Together
they cover incoming, outgoing and same-node accounting for every migration
type the tracker handles.
"""
from __future__ import annotations

from typing import Callable

SMALL = dict(vcpus=1, memory_mb=1024, root_gb=10, ephemeral_gb=0, swap=0)
LARGE = dict(vcpus=2, memory_mb=2048, root_gb=20, ephemeral_gb=5, swap=1024)


def population(world):
    world.create_flavor("small", **SMALL)
    world.create_flavor("large", **LARGE)
    world.boot("vm1", "small", "src")
    world.boot("vm2", "small", "bystander")


def _move(fn: Callable) -> Callable:
    def setup(world):
        population(world)
        fn(world)
    setup.__doc__ = fn.__doc__
    return setup


@_move
def resize_incoming(world):
    """resize src->dst claimed on dst, not yet finished (incoming on dst)"""
    world.resize("vm1", "large", "dst", until="pre-migrating")


@_move
def resize_migrating(world):
    """resize src->dst while the source is migrating the disk"""
    world.resize("vm1", "large", "dst", until="migrating")


@_move
def resize_finished(world):
    """resize src->dst finished, awaiting confirm (outgoing on src)"""
    world.resize("vm1", "large", "dst", until="finished")


@_move
def migration_incoming(world):
    """cold migration src->dst claimed on dst (incoming on dst)"""
    world.migrate("vm1", "dst", until="pre-migrating")


@_move
def migration_finished(world):
    """cold migration src->dst finished (outgoing on src)"""
    world.migrate("vm1", "dst", until="finished")


@_move
def same_node_resize_claimed(world):
    """same-node resize on src, claimed, not finished"""
    world.resize("vm1", "large", "src", until="pre-migrating")


@_move
def same_node_resize_finished(world):
    """same-node resize on src, finished, awaiting confirm"""
    world.resize("vm1", "large", "src", until="finished")


@_move
def live_migration_running(world):
    """live migration src->dst running (incoming on dst)"""
    world.live_migrate("vm1", "dst", until="running")


MOVES: dict[str, Callable] = {
    "resize-incoming": resize_incoming,
    "resize-migrating": resize_migrating,
    "resize-finished": resize_finished,
    "migration-incoming": migration_incoming,
    "migration-finished": migration_finished,
    "same-node-claimed": same_node_resize_claimed,
    "same-node-finished": same_node_resize_finished,
    "live-running": live_migration_running,
}
