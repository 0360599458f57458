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

# (post-migrating too in the guard of scenarios/findings/: here a control
# stopped post-migrating would be audited in finding F-15's window)
UNTIL = ("pre-migrating", "migrating")


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


# F-13: how the errored migration's last save and the resize's saves are
# stamped.  The errored migration is one Nova really leaves in ``error``
# with the server still active: a resize whose source hypervisor failed the
# disk copy and rolled back (``InstanceFaultRollback``).  "later": the
# resize is retried over a second after, so its records are newer on any
# engine (the control); "same second": one frozen clock stamps the failed
# move and every save of the retry alike, as MySQL's whole-second DATETIME
# stamps saves made within one second; "clock stepped back": the clock
# that stamps the records ran a minute ahead while the first move failed
# and was stepped back before the retry (in production every service
# saves its records through the conductor, whose clock stamps them all).
BESIDE_PHASES = ("pre-migrating", "finished")
STAMPS = {
    "same second": ("the failed move and the retried resize saved within "
                    "one second (one frozen clock stamps both, as "
                    "MariaDB's whole-second DATETIME does)",
                    "Nova on MySQL/MariaDB (DATETIME columns keep whole "
                    "seconds): a resize retried within the second its "
                    "failed attempt was saved in"),
    "clock stepped back": ("the clock stamping the records stepped back "
                           "60 s between the failed move and the retry",
                           "a clock correction (NTP step) on the host "
                           "whose clock stamps the records (the "
                           "conductor's) between a failed resize and its "
                           "retry"),
}


def _beside_an_errored_one(until, stamps):
    def setup(world):
        world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        world.create_flavor("eph", vcpus=2, memory_mb=1024, root_gb=10,
                            ephemeral_gb=5, swap=1024)
        world.boot("k", "small", "src")
        if stamps == "same second":
            with dfaults.ClockSkew(world, 0):
                world.resize("k", "eph", "dst", fail="disk")
                world.resize("k", "eph", "dst", until=until)
            return
        if stamps == "clock stepped back":
            with dfaults.ClockSkew(world, 60):
                world.resize("k", "eph", "dst", fail="disk")
        else:
            world.resize("k", "eph", "dst", fail="disk")
            time.sleep(1.1)
        world.resize("k", "eph", "dst", until=until)
    return setup


@pytest.mark.finding("F-13")
def test_move_beside_an_errored_one_goes_uncounted(judge):
    """F-13: the lifecycle sequence "a move beside an errored one, audited
    at every phase" passed on sqlite and failed on MariaDB.  A resize that
    follows a resize Nova ended in ``error`` (the source hypervisor failed
    the disk copy and rolled back) must be counted by
    the audit on both of its hosts, whatever the two migrations' records
    say about which was saved last."""
    trials = []
    for until in BESIDE_PHASES:
        trials.append(Trial(
            "resize stopped at %s beside an errored resize, retried a "
            "second later [control]" % until,
            _beside_an_errored_one(until, "later"), audit_via=("tracker",)))
        for stamps, (condition, reach) in STAMPS.items():
            trials.append(Trial(
                "resize stopped at %s beside an errored resize / %s"
                % (until, stamps),
                _beside_an_errored_one(until, stamps),
                audit_via=("tracker",), condition=condition,
                condition_authority="timing", condition_reach=reach))
    judge.trials(trials)
    judge.decide(
        hypothesis="When an instance's errored migration was saved no "
                   "earlier than its resize's latest status change, the "
                   "audit keeps the errored record and skips the resize: "
                   "the resize's destination (or, once it is finished, its "
                   "source) is missing the instance's usage.",
        stages=("under_fault",),
        invariants=("usage_matches_ledger",),
        fault_space="resize src->dst ended in error by the source "
                    "hypervisor's failed disk copy, then retried and "
                    "stopped at %s; the retry saved a second later "
                    "(control), in the same second, or after the stamping "
                    "clock stepped back 60 s; audits on every host"
                    % ", ".join(BESIDE_PHASES))


# F-14: how a resize back to the host a server live-migrated from ends.
BACK_ENDS = ("reverted", "confirmed, deleted", "confirmed, offloaded")


def _resized_back(end, audited_first):
    """``audited_first``: the former source (src) is audited before the
    resize back (the controls).  The destination (dst) is audited right
    after the live migration in every trial, so that finding F-17's
    condition (a host that never counted the instance) is absent."""
    def setup(world):
        world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        world.create_flavor("large", vcpus=4, memory_mb=2048, root_gb=20)
        world.boot("k", "small", "src")
        world.live_migrate("k", "dst", until="completed")
        world.audit("dst")
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
        fault_space="small server live-migrated src->dst (dst audited "
                    "after), resized back to src as large (4x the vCPUs) "
                    "and finished, then %s; src audited before the resize "
                    "back (controls) or not; judged before any further "
                    "audit" % ", ".join(BACK_ENDS))


# F-17: a server live-migrated onto a host and moved away before that
# host's audit.
AWAY_ENDS = ("confirmed", "confirmed, deleted", "reverted")


def _moved_on_unaudited(end, audited):
    def setup(world):
        world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        world.create_flavor("large", vcpus=4, memory_mb=2048, root_gb=20)
        world.boot("k", "small", "src")
        world.live_migrate("k", "dst", until="completed")
        if audited:
            world.audit("dst")
        world.resize("k", "large", "bystander", until="finished")
        if end == "reverted":
            world.revert("k")
            return
        world.confirm("k")
        if end == "confirmed, deleted":
            world.delete("k")
    return setup


@pytest.mark.finding("F-17")
def test_a_move_away_before_the_audit_after_a_live_migration_goes_negative(
        judge):
    """F-17, found when F-14 was judged again on Nova's own services: a
    live migration that is not NUMA-aware makes no claim on its
    destination, which counts the arrived instance only from its next
    audit.  Resized (or cold-migrated) away from that host before the
    audit and confirmed, the instance's old flavor is dropped from it
    (``drop_move_claim_at_source`` subtracts the flavor it is given,
    counted or not): the host's tracker and compute_nodes row go negative
    until the audit.  Controls audit the host before the move away.
    Judged before any further audit."""
    trials = []
    for end in AWAY_ENDS:
        trials.append(BetweenAudits(
            "live-migrated src->dst, dst audited, resized to bystander, "
            "%s [control]" % end, _moved_on_unaudited(end, True),
            audit_via=("tracker",)))
        trials.append(BetweenAudits(
            "live-migrated src->dst, resized to bystander before dst's "
            "audit, %s" % end, _moved_on_unaudited(end, False),
            audit_via=("tracker",),
            condition="the resize away from dst claimed and finished "
                      "before dst's periodic audit after the live "
                      "migration onto it",
            condition_authority="none",
            condition_reach="an operator's live migration, then a user's "
                            "resize away from that host within its audit "
                            "interval (60 s by default)"))
    judge.trials(trials)
    judge.decide(
        hypothesis="A server resized away from the host it was just "
                   "live-migrated onto, before that host's next audit, "
                   "leaves that host with negative usage once the resize "
                   "is confirmed.",
        stages=("under_fault",),
        invariants=("usage_in_bounds",),
        fault_space="small server live-migrated src->dst, resized to "
                    "bystander as large and finished, then %s; dst "
                    "audited before the resize (controls) or not; judged "
                    "before any further audit" % ", ".join(AWAY_ENDS))


# F-15: an audit of the destination while a resize is post-migrating.
def _resized_through_the_window(audited_in_window):
    def setup(world):
        world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        world.create_flavor("large", vcpus=4, memory_mb=2048, root_gb=20)
        world.boot("r", "small", "src")
        world.resize("r", "large", "dst", until="post-migrating")
        world.audit("dst" if audited_in_window else "bystander",
                    via="service")
        lifecycle.advance(world, "r")
    return setup


@pytest.mark.finding("F-15")
def test_an_audit_while_a_resize_is_post_migrating_counts_the_old_flavor(
        judge):
    """F-15, found when the world began to drive Nova's own services: the
    source's ``resize_instance`` moves the instance record to the
    destination (``post-migrating``) and casts ``finish_resize``, which
    sets the new flavor.  A periodic audit of the destination in between
    counts the instance as an instance (it is on that host now) with the
    flavor its record still has, the old one, and skips the migration
    (the instance is tracked): the destination's tracker and
    compute_nodes row lose the new flavor's difference, and keep it lost
    after ``finish_resize`` until the next audit.  Controls audit another
    host in the same window.  Judged right after the resize finished,
    before any further audit."""
    trials = [BetweenAudits(
        "resize src->dst small->large, another host audited while "
        "post-migrating, finished [control]",
        _resized_through_the_window(False), audit_via=("service",))]
    trials.append(BetweenAudits(
        "resize src->dst small->large, dst audited while post-migrating, "
        "finished", _resized_through_the_window(True),
        audit_via=("service",),
        condition="the destination's periodic audit ran between the "
                  "source's resize_instance and the destination's "
                  "finish_resize",
        condition_authority="timing",
        condition_reach="a race: the destination's periodic audit (every "
                        "60 s by default) falls within finish_resize's "
                        "hypervisor work (finish_migration) of any resize "
                        "or cold migration to it"))
    judge.trials(trials)
    judge.decide(
        hypothesis="An audit of the destination while a resize is "
                   "post-migrating counts the instance with its old "
                   "flavor there, and the destination keeps missing the "
                   "new flavor's difference after the resize finished, "
                   "until its next audit.",
        stages=("under_fault",),
        invariants=("usage_agrees",),
        fault_space="resize src->dst small->large stopped at "
                    "post-migrating (finish_resize held on the bus); the "
                    "destination's periodic audit then (or another "
                    "host's, control); finish_resize delivered; judged "
                    "before any further audit")


# F-16: a compute service restart while a live migration runs from it.
def _live_migration_cut(restart):
    def setup(world):
        world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        world.boot("l", "small", "src")
        world.live_migrate("l", "dst", until="running")
        if restart:
            lifecycle.restart(world, "src")
        else:
            lifecycle.live_rollback(world, "l", status="failed")
    return setup


@pytest.mark.finding("F-16")
def test_a_compute_restart_mid_live_migration_strands_its_allocations(
        judge):
    """F-16, found when the world began to drive Nova's own services: a
    compute service that restarts while a live migration from it runs
    finds the instance ``migrating`` at start-up and resets it
    (``_reset_live_migration``): the migration ends in ``error`` and the
    server stays active on the source, but its allocations are left as the
    migration had placed them: the server's own consumer holds the
    destination, the migration consumer holds the source.  No audit
    repairs placement.  Control: the hypervisor rolls the live migration
    back (Nova's recover path reverts the allocation)."""
    trials = [Trial("live migration src->dst rolled back by the "
                    "hypervisor [control]", _live_migration_cut(False),
                    audit_via=("tracker", "service"))]
    trials.append(Trial(
        "live migration src->dst cut by a restart of src's compute",
        _live_migration_cut(True), audit_via=("tracker", "service"),
        condition="the source's compute service restarted while the live "
                  "migration ran",
        condition_authority="infrastructure",
        condition_reach="an operator or a crash restarting nova-compute "
                        "during a live migration from that host"))
    judge.trials(trials)
    judge.decide(
        hypothesis="After the source's compute service restarts during a "
                   "live migration, the server is active on the source "
                   "while placement holds its allocation on the "
                   "destination and the errored migration's on the "
                   "source, through every later audit.",
        stages=("under_fault", "after_clear"),
        invariants=("allocations_match_ledger",
                    "placement_usage_matches_ledger"),
        fault_space="live migration src->dst stopped while running, then "
                    "src's compute service restarted (or the migration "
                    "rolled back by the hypervisor, control); audits on "
                    "every host")
