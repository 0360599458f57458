"""Findings the lifecycle operations showed: F-11, F-12, F-13 and F-14.

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

import time

import pytest

from harness.faults import driver as dfaults
from harness.verdicts.judge import BetweenAudits, Trial
from harness.world import lifecycle

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


# F-13: how the errored live migration's last save and the resize's saves
# are stamped.  "later": the resize starts over a second after the
# rollback, so its records are newer on any engine (the control);
# "same second": one frozen clock stamps the rollback and every save of the
# resize alike, as MySQL's whole-second DATETIME stamps saves made within
# one second; "source ahead": the source host's clock, which stamps the
# rollback, runs a minute ahead of the one stamping the resize.
BESIDE_PHASES = ("pre-migrating", "finished")
STAMPS = {
    "same second": ("the rollback and the resize saved within one second "
                    "(one frozen clock stamps both, as MariaDB's "
                    "whole-second DATETIME does)",
                    "Nova on MySQL/MariaDB (DATETIME columns keep whole "
                    "seconds): a move whose latest status change falls in "
                    "the second of the errored migration's last save"),
    "source ahead": ("the source's clock 60 s ahead while it saves the "
                     "rollback",
                     "clock skew between compute hosts: the source ahead "
                     "of the destination by more than the time from the "
                     "rollback to the move's latest status change"),
}


def _beside_an_errored_one(until, stamps):
    def setup(world):
        world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        world.create_flavor("eph", vcpus=2, memory_mb=1024, root_gb=10,
                            ephemeral_gb=5, swap=1024)
        world.boot("k", "small", "src")
        world.live_migrate("k", "dst", until="running")
        if stamps == "same second":
            with dfaults.ClockSkew(world, 0):
                lifecycle.live_rollback(world, "k", status="error")
                world.resize("k", "eph", "dst", until=until)
            return
        if stamps == "source ahead":
            with dfaults.ClockSkew(world, 60):
                lifecycle.live_rollback(world, "k", status="error")
        else:
            lifecycle.live_rollback(world, "k", status="error")
            time.sleep(1.1)
        world.resize("k", "eph", "dst", until=until)
    return setup


@pytest.mark.finding("F-13")
def test_move_beside_an_errored_one_goes_uncounted(judge):
    """F-13: the lifecycle sequence "a move beside an errored one, audited
    at every phase" passed on sqlite and failed on MariaDB.  A resize that
    follows a live migration rolled back to ``error`` must be counted by
    the audit on both of its hosts, whatever the two migrations' records
    say about which was saved last."""
    trials = []
    for until in BESIDE_PHASES:
        trials.append(Trial(
            "resize stopped at %s beside an errored live migration, saved "
            "a second later [control]" % until,
            _beside_an_errored_one(until, "later"), audit_via=("tracker",)))
        for stamps, (condition, reach) in STAMPS.items():
            trials.append(Trial(
                "resize stopped at %s beside an errored live migration / "
                "%s" % (until, stamps),
                _beside_an_errored_one(until, stamps),
                audit_via=("tracker",), condition=condition,
                condition_authority="timing", condition_reach=reach))
    judge.trials(trials)
    judge.decide(
        hypothesis="When an instance's errored live migration was saved "
                   "no earlier than its resize's latest status change, the "
                   "audit keeps the errored record and skips the resize: "
                   "the resize's destination (or, once it is finished, its "
                   "source) is missing the instance's usage.",
        stages=("under_fault",),
        invariants=("usage_matches_ledger",),
        fault_space="live migration src->dst rolled back to error, then a "
                    "resize to dst stopped at %s; the resize saved a "
                    "second later (control), in the same second, or with "
                    "the source's clock 60 s ahead at the rollback; audits "
                    "on every host" % ", ".join(BESIDE_PHASES))


# F-14: how a resize back to the host a server live-migrated from ends.
BACK_ENDS = ("reverted", "confirmed, deleted", "confirmed, offloaded")


def _resized_back(end, audited_first):
    def setup(world):
        world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        world.create_flavor("large", vcpus=4, memory_mb=2048, root_gb=20)
        world.boot("k", "small", "src")
        world.live_migrate("k", "dst", until="completed")
        if audited_first:
            world.audit("src")
        world.resize("k", "large", "src", until="finished")
        if end == "reverted":
            world.revert("k")
            return
        world.confirm("k")
        if end == "confirmed, deleted":
            world.delete("k")
        else:
            lifecycle.shelve(world, "k")
            lifecycle.shelve_offload(world, "k")
    return setup


@pytest.mark.finding("F-14")
def test_resize_back_after_live_migration_goes_negative(judge):
    """F-14.  The explorer's first failure once its batches explored more
    than audits (``python -m harness explore --seed 7``) was the ledger
    not knowing that a tracker still tracking a live-migrated instance
    absorbs a claim back for it; probing that mechanism on real Nova showed
    the negative usage below.  A live migration leaves
    the source's tracker tracking the instance until its next audit; a
    resize back onto that host meanwhile is absorbed by the stale entry,
    and ending it removes the larger flavor from the smaller one.  The
    controls audit the former source before the resize back, as the
    periodic task would a minute later.  Judged before any audit: the
    audit repairs it."""
    trials = []
    for end in BACK_ENDS:
        trials.append(BetweenAudits(
            "live-migrated src->dst, src audited, resized back to src "
            "larger, %s [control]" % end, _resized_back(end, True),
            audit_via=("tracker",)))
        trials.append(BetweenAudits(
            "live-migrated src->dst, resized back to src larger before "
            "src's audit, %s" % end, _resized_back(end, False),
            audit_via=("tracker",),
            condition="the resize back claimed on src before src's "
                      "periodic audit after the live migration",
            condition_authority="none",
            condition_reach="an operator's live migration, then a user's "
                            "resize (with the scheduler choosing the "
                            "former host) within the audit interval"))
    judge.trials(trials)
    judge.decide(
        hypothesis="A resize back onto the host a server just "
                   "live-migrated from, before that host's next audit, "
                   "leaves it with negative usage once the resize is "
                   "reverted, or confirmed and the server deleted or "
                   "offloaded.",
        stages=("under_fault",),
        invariants=("usage_in_bounds",),
        fault_space="small server live-migrated src->dst, resized back "
                    "to src as large (4x the vCPUs) and finished, then %s; "
                    "src audited before the resize back (controls) or not; "
                    "judged before any further audit" % ", ".join(
                        BACK_ENDS))
