"""Findings the lifecycle operations showed: F-11 and F-12.

Deleting an instance in the middle of a cold move (resize stopped at
``pre-migrating``, ``migrating`` or ``post-migrating``) deletes the
instance consumer's allocation only.  The source's share, which the
conductor moved to the *migration* consumer when the move began, stays in
placement after every later audit: placement reports capacity that no
instance uses.  Any user can delete a server while it resizes.  The
reproducer that asserts the broken behaviour step by step is
``scenarios/findings/test_delete_mid_move_leaks_migration_allocation.py``;
this scenario decides the finding's verdict, with the what-if
``delete-frees-migration-allocations`` (the delete also frees what the
instance's unfinished migration holds) showing the cause.
"""
from __future__ import annotations

import pytest

from harness.faults import driver as dfaults
from harness.verdicts.judge import Trial

UNTIL = ("pre-migrating", "migrating", "post-migrating")


def _resizing(until, delete):
    def setup(world):
        world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        world.create_flavor("large", vcpus=2, memory_mb=1024, root_gb=20)
        world.boot("vm1", "small", "src")
        world.resize("vm1", "large", "dst", until=until)
        if delete:
            world.delete("vm1")
    return setup


@pytest.mark.finding("F-11")
def test_delete_mid_move_leaks_the_migration_allocation(judge):
    """Deleting a server mid-resize must leave nothing in placement."""
    trials = []
    for until in UNTIL:
        trials.append(Trial("resize stopped at %s [control]" % until,
                            _resizing(until, delete=False),
                            audit_via=("tracker",)))
        trials.append(Trial(
            "resize stopped at %s / deleted" % until,
            _resizing(until, delete=True), audit_via=("tracker",),
            condition="vm1 deleted while its resize is %s" % until,
            condition_authority="none",
            condition_reach="a user through the API under default policy "
                            "(deleting a server while it resizes)"))
    judge.trials(trials)
    judge.decide(
        hypothesis="After a server is deleted mid-resize, its migration's "
                   "allocation on the source stays in placement, audits "
                   "or not.",
        stages=("under_fault", "after_clear"),
        invariants=("allocations_match_ledger",
                    "placement_usage_matches_ledger"),
        fault_space="resize from src to dst stopped at %s, then the server "
                    "deleted; audits on every host" % ", ".join(UNTIL))


def _two_hosts_in_use(world):
    world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
    world.boot("vm1", "small", "dst")
    world.boot("vm2", "small", "src")


@pytest.mark.finding("F-12")
def test_unreported_node_loses_its_record(judge):
    """F-12: the lifecycle sequence "a node goes away and comes back; a
    compute restarts" failed on Nova 27 and 28 and passed from 29 on (the
    release matrix).  A node the driver leaves out of one audit's node
    list, while an instance runs on it, must keep its compute node record
    and its usage.  The compute manager's audit (``via service``) is the
    one that meets the node's row with no reported node; the fault
    clears before ``after_clear``'s audit, when the driver reports the
    node again."""
    trials = [Trial("two hosts in use [control]", _two_hosts_in_use,
                    audit_via=("service",))]
    for host in ("dst", "src"):
        trials.append(Trial(
            "two hosts in use / %s unreported" % host, _two_hosts_in_use,
            fault=lambda w, host=host: dfaults.NodeUnreported(w, host),
            audit_via=("service",)))
    judge.trials(trials)
    judge.decide(
        hypothesis="While its driver does not report a node that hosts "
                   "an instance, the node's compute_nodes row and tracker "
                   "entry are gone and its usage is accounted nowhere.",
        stages=("under_fault",),
        invariants=("usage_matches_ledger",),
        fault_space="the node of dst, then of src (each hosting one "
                    "instance) left out of its driver's node list for one "
                    "audit of the compute manager; audits on every host")

