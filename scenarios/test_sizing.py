"""Instance sizes the API would never accept: claim 000-3.

The tracker counts an instance's usage from the flavor embedded in the
instance record (``instance_extra.flavor``), and during a move from the
stashed old or new flavor.  The API refuses a flavor with negative or zero
vCPUs or RAM, sizes above its limits, or fractional values; nothing checks
them again once they are in the database.  Each trial boots ``vm1`` (and,
for the moves, puts it mid-move), then rewrites its embedded flavor (or the
size columns of its ``instances`` row, which the tracker is not expected to
read) with one such value, and audits as the tracker and the compute
service do.  Besides the usage in the tracker, the ``compute_nodes`` row
and placement, the trials read what the scheduler would read: a
``HostState`` built from the node's row
(:func:`harness.oracle.checks.scheduler_view_possible`).

What the claim predicts is not merely "a different number": it is a number
that cannot be true (negative usage, more free than total, more used than
placement could ever allocate) or an audit that fails, while the bad value
is present; and, in the second scenario, damage that outlives its repair.
"""
from __future__ import annotations

import pytest

from harness.oracle import checks
from harness.faults import Combined
from harness.faults import records as rec
from harness.world.workloads import MOVES

SMALL = dict(vcpus=1, memory_mb=1024, root_gb=10, ephemeral_gb=0, swap=0)

# field -> values the API would refuse (or never produce), for the embedded
# flavor of a running instance.
IMPLAUSIBLE = {
    "vcpus": (-8, 0, 2 ** 31, 2 ** 63),
    "memory_mb": (-4096, 0, 10 ** 9, 1024.7),
    "root_gb": (-100, 10 ** 6),
    "ephemeral_gb": (-50,),
    "swap": (-2048, 512, 1.5, 10 ** 9),
}
# the instances table's own size columns (the tracker is not expected to
# read them; included to find out)
COLUMNS = {
    "vcpus=-8, memory_mb=-4096, root_gb=10**6, ephemeral_gb=-50": dict(
        vcpus=-8, memory_mb=-4096, root_gb=10 ** 6, ephemeral_gb=-50),
    "memory_mb=0": dict(memory_mb=0),
}
# moves: which stashed flavor the tracker reads for the move's extra usage
MOVE_FAULTS = {
    "resize-incoming": ("new", {"memory_mb": -4096, "vcpus": 0}),
    "resize-finished": ("old", {"root_gb": -100}),
}
EXTRA_CHECKS = (checks.scheduler_view_possible,)
PREDICTED = ("usage_in_bounds", "scheduler_view_possible", "audit_completed")


def booted(world):
    """vm1 (1 vCPU, 1 GiB, 10 GiB root) running on src."""
    world.create_flavor("small", **SMALL)
    world.boot("vm1", "small", "src")


def sizing_faults() -> dict:
    f = {}
    for field, values in IMPLAUSIBLE.items():
        for value in values:
            f["embedded flavor %s=%r" % (field, value)] = (
                lambda w, k=field, v=value: rec.EmbeddedFlavor(
                    w, "vm1", which="cur", mode="altered", **{k: v}))
    f["embedded flavor all negative"] = lambda w: rec.EmbeddedFlavor(
        w, "vm1", which="cur", mode="altered", vcpus=-1, memory_mb=-1,
        root_gb=-1, ephemeral_gb=-1, swap=-1)
    for label, cols in COLUMNS.items():
        f["instances row %s" % label] = (
            lambda w, c=cols: rec.InstanceField(w, "vm1", **c))
    f["instances row and embedded flavor both memory_mb=-4096"] = (
        lambda w: Combined(w, rec.InstanceField(w, "vm1", memory_mb=-4096),
                           rec.EmbeddedFlavor(w, "vm1", which="cur",
                                              mode="altered",
                                              memory_mb=-4096)))
    return f


def move_faults(which: str, changes: dict) -> dict:
    f = {}
    for field, value in changes.items():
        f["embedded %s_flavor %s=%r" % (which, field, value)] = (
            lambda w, k=field, v=value: rec.EmbeddedFlavor(
                w, "vm1", which=which, mode="altered", **{k: v}))
    return f


def sizing_trials(run):
    # one host is enough for a running instance
    run.paired("booted", booted, sizing_faults(),
               world_kwargs={"hosts": ("src",)}, checks=EXTRA_CHECKS)
    for move, (which, changes) in MOVE_FAULTS.items():
        run.paired(move, MOVES[move], move_faults(which, changes),
                   checks=EXTRA_CHECKS)


SPACE = ("implausible sizes on a running instance (its embedded flavor, "
         "the instances row's size columns, both) and on the stashed "
         "old/new flavor of a move")


@pytest.mark.claims("000-3")
def test_implausible_sizes_reach_node_accounting(judge):
    """Sizes the API would refuse must not produce impossible numbers."""
    judge.observe(sizing_trials)
    judge.decide(
        hypothesis="An instance size the API would never accept (negative, "
                   "zero, enormous or fractional), once in the database, "
                   "flows unchecked into the node's accounting and produces "
                   "impossible numbers (negative usage, more free than "
                   "total, more used than placement could allocate, in the "
                   "tracker, the compute_nodes row or the scheduler's "
                   "HostState) or makes the audit fail.",
        stages=("under_fault",), invariants=PREDICTED,
        fault_space=SPACE)


@pytest.mark.claims("000-3")
def test_implausible_sizes_outlive_repair(judge):
    """Once the size is repaired, one audit restores every invariant."""
    judge.observe(sizing_trials)
    judge.decide(
        hypothesis="Damage done while an implausible size was in the "
                   "database outlives its repair: after the record is "
                   "restored and one more audit runs, an invariant is "
                   "still broken.",
        stages=("after_clear",), invariants=None, fault_space=SPACE)


@pytest.mark.claims("000-3")
def test_implausible_sizes_reach_placement(judge):
    """The tracker's reports to placement do not carry instance sizes."""
    judge.observe(sizing_trials)
    judge.decide(
        hypothesis="An implausible instance size in the database reaches "
                   "placement through the tracker: inventories, allocations "
                   "or provider usages change while it is present.",
        stages=("under_fault",),
        invariants=("allocations_match_ledger",
                    "placement_usage_matches_ledger",
                    "inventory_matches_driver"),
        fault_space=SPACE)
