"""Migration records and flavors: claims 000-1, 000-2 and 001-2; findings
F-01 and F-02.

Every trial here builds a fresh world with ``vm1`` mid-move (each shape in
:data:`harness.world.workloads.MOVES`) and a bystander ``vm2``, corrupts one thing
in the database (or several, for the combined variants), and audits every
host as the tracker and as the compute service do.  The ledger keeps the
truth the harness created; the invariants compare against it while the fault
is present, and again after the fault is cleared and one more audit ran.

Several scenarios read the same trials (the observations are computed once
per process and shared), each deciding its own hypothesis from them.
"""
from __future__ import annotations

import pytest

from harness.faults import Combined
from harness.faults import driver as drv
from harness.faults import records as rec
from harness.world.workloads import MOVES

ACCOUNTING = ("usage_matches_ledger", "usage_in_bounds",
              "allocations_match_ledger", "placement_usage_matches_ledger",
              "inventory_matches_driver")

# Moves the migration-record corruptions are applied to: incoming (claimed
# on the destination), outgoing (finished, revert room on the source),
# same-node, and every migration type.
RECORD_MOVES = ("resize-incoming", "resize-finished", "migration-finished",
                "same-node-claimed", "same-node-finished", "live-running")


def _flavor_id(world, name):
    return world.flavors[name].id


def _uuid(world, name):
    return world.instances[name].uuid


def migration_record_corruptions() -> dict:
    """name -> factory(world) for every single and combined corruption."""
    f = {}
    for status in ("confirmed", "reverted", "error", "finished",
                   "pre-migrating", "exploded"):
        f["status=%s" % status] = (
            lambda w, s=status: rec.MigrationField(w, "vm1", status=s))
    for mtype in ("resize", "migration", "live-migration", "evacuation",
                  "teleport"):
        f["type=%s" % mtype] = (
            lambda w, t=mtype: rec.MigrationField(w, "vm1",
                                                  migration_type=t))
    f["instance_uuid=bystander's"] = lambda w: rec.MigrationField(
        w, "vm1", instance_uuid=_uuid(w, "vm2"))
    f["instance_uuid=unknown"] = lambda w: rec.MigrationField(
        w, "vm1", instance_uuid="00000000-0000-4000-8000-000000000000")
    for end in ("source", "dest"):
        for target in ("bystander", "ghost"):
            f["%s=%s" % (end, target)] = (
                lambda w, e=end, t=target: rec.MigrationField(
                    w, "vm1", **{"%s_compute" % e: t, "%s_node" % e: t}))
        f["%s_node only=bystander" % end] = (
            lambda w, e=end: rec.MigrationField(
                w, "vm1", **{"%s_node" % e: "bystander"}))
    f["old_flavor_id=large"] = lambda w: rec.MigrationField(
        w, "vm1", old_instance_type_id=_flavor_id(w, "large"))
    f["old_flavor_id=absent"] = lambda w: rec.MigrationField(
        w, "vm1", old_instance_type_id=99999)
    f["new_flavor_id=small"] = lambda w: rec.MigrationField(
        w, "vm1", new_instance_type_id=_flavor_id(w, "small"))
    f["new_flavor_id=absent"] = lambda w: rec.MigrationField(
        w, "vm1", new_instance_type_id=99999)
    f["context missing"] = lambda w: rec.MigrationContextFault(w, "vm1")
    f["context stale"] = lambda w: rec.MigrationContextFault(
        w, "vm1", mode="stale")
    f["duplicate"] = lambda w: rec.DuplicateMigration(w, "vm1")
    f["duplicate to bystander"] = lambda w: rec.DuplicateMigration(
        w, "vm1", dest_compute="bystander", dest_node="bystander")
    f["orphan for never-created instance"] = lambda w: rec.OrphanMigration(
        w, "src", "bystander", mode="absent")
    f["orphan for deleted instance"] = lambda w: rec.OrphanMigration(
        w, "src", "bystander", mode="deleted")
    # combined
    f["status=error + context stale"] = lambda w: Combined(
        w, rec.MigrationField(w, "vm1", status="error"),
        rec.MigrationContextFault(w, "vm1", mode="stale"))
    f["dest=bystander + duplicate"] = lambda w: Combined(
        w, rec.MigrationField(w, "vm1", dest_compute="bystander",
                              dest_node="bystander"),
        rec.DuplicateMigration(w, "vm1"))
    f["source=ghost + old_flavor_id=absent"] = lambda w: Combined(
        w, rec.MigrationField(w, "vm1", source_compute="ghost",
                              source_node="ghost",
                              old_instance_type_id=99999))
    f["type=migration + new_flavor_id=small"] = lambda w: Combined(
        w, rec.MigrationField(w, "vm1", migration_type="migration",
                              new_instance_type_id=_flavor_id(w, "small")))
    return f


def flavor_faults() -> dict:
    """Missing or altered flavors: API DB rows and embedded flavors."""
    return {
        "flavor small deleted from API DB": lambda w: rec.FlavorDeleted(
            w, "small"),
        "flavor large deleted from API DB": lambda w: rec.FlavorDeleted(
            w, "large"),
        "both flavors deleted from API DB": lambda w: Combined(
            w, rec.FlavorDeleted(w, "small"), rec.FlavorDeleted(w, "large")),
        "embedded old_flavor absent": lambda w: rec.EmbeddedFlavor(
            w, "vm1", which="old"),
        "embedded new_flavor absent": lambda w: rec.EmbeddedFlavor(
            w, "vm1", which="new"),
        "embedded old and new absent": lambda w: Combined(
            w, rec.EmbeddedFlavor(w, "vm1", which="old"),
            rec.EmbeddedFlavor(w, "vm1", which="new")),
        "embedded new_flavor altered (memory 4096)": lambda w:
            rec.EmbeddedFlavor(w, "vm1", which="new", mode="altered",
                               memory_mb=4096),
        "embedded old_flavor altered (vcpus 8)": lambda w:
            rec.EmbeddedFlavor(w, "vm1", which="old", mode="altered",
                               vcpus=8),
        "API DB flavor deleted + embedded new absent": lambda w: Combined(
            w, rec.FlavorDeleted(w, "large"),
            rec.EmbeddedFlavor(w, "vm1", which="new")),
    }


def instance_lookup_faults() -> dict:
    """Migrations whose instance cannot be loaded (InstanceNotFound)."""
    return {
        "instance record soft-deleted": lambda w: rec.InstanceDeleted(
            w, "vm1"),
        "migration points at a never-created instance": lambda w:
            rec.MigrationField(w, "vm1", instance_uuid=(
                "00000000-0000-4000-8000-000000000000")),
    }


def _paired(run, faults: dict, moves=RECORD_MOVES):
    for move in moves:
        run.paired(move, MOVES[move], faults)


# The families of trials (each run once per process, shared by the
# scenarios that decide from it: see harness.verdicts.judge.Families).
def record_trials(run):
    _paired(run, migration_record_corruptions())


def flavor_trials(run):
    _paired(run, flavor_faults())


def instance_lookup_trials(run):
    _paired(run, instance_lookup_faults())


def stashed_flavor(o) -> bool:
    """A variant whose instance's stashed flavor disagrees with its
    migration row (absent or altered), the API DB untouched (the controls
    are record_trials')."""
    return o.trial.partition(" / ")[2].startswith("embedded ")


def monitor_faults() -> dict:
    """Monitors that fail (every exception class the handler catches alike)
    or report nonsense, on the node that holds the move's usage."""
    f = {}
    for host in ("src", "dst"):
        f["monitor on %s raises RuntimeError" % host] = (
            lambda w, h=host: drv.MonitorRaises(w, h))
        f["monitor on %s raises KeyError" % host] = (
            lambda w, h=host: drv.MonitorRaises(w, h, KeyError("cpu")))
        f["monitor on %s reports nonsense" % host] = (
            lambda w, h=host: drv.MonitorBogus(w, h))
    return f


def monitor_trials(run):
    _paired(run, monitor_faults(),
            moves=("resize-incoming", "resize-finished", "live-running"))


ROW_VS_INSTANCE = ("each migration row of a move in progress or finished "
                   "made to disagree with its instance (or its instance's "
                   "stashed flavor with the row); every host audited as "
                   "the tracker and as the compute service does")
FLAVORS = ("flavors deleted from the API DB or the instance's stashed "
           "flavors absent or altered, during each move")


# Harm the nearby finding F-01 explains (the incoming branch reading a
# missing stashed flavor) lies inside 000-1 (its trigger and mechanism are
# the claim's: see harness.verdicts.causation.finding_outside), so there it
# confirms the claim and names F-01; elsewhere it is F-01's.
BY_FINDINGS = {"F-01": "incoming-flavor-checked"}
TRACKED_USAGE = ("usage_matches_ledger", "usage_in_bounds")


@pytest.mark.claims("000-1")
def test_corrupted_migration_record_misaccounts(judge):
    """While a migration record is wrong, usage stays right."""
    judge.observe(record_trials)
    judge.observe(flavor_trials, keep=stashed_flavor)
    judge.decide(
        hypothesis="A migration record that disagrees with its instance "
                   "makes the tracker count usage on the wrong node, not "
                   "at all, or twice, or stop tracking the node (its audit "
                   "raises on the record), while the disagreement is "
                   "present.",
        stages=("under_fault",),
        invariants=TRACKED_USAGE + ("audit_completed",),
        explained_by=BY_FINDINGS, fault_space=ROW_VS_INSTANCE)


@pytest.mark.claims("000-1")
def test_corrupted_migration_record_leaves_lasting_damage(judge):
    """After the record is repaired, one audit restores every invariant."""
    judge.observe(record_trials)
    judge.observe(flavor_trials, keep=stashed_flavor)
    judge.decide(
        hypothesis="Damage done while a migration record disagreed with "
                   "its instance outlives the repair: after the record is "
                   "restored and one more audit runs, some invariant is "
                   "still broken.",
        stages=("after_clear",), invariants=None,
        explained_by=BY_FINDINGS, fault_space=ROW_VS_INSTANCE)


@pytest.mark.finding("F-02")
def test_corrupted_migration_record_breaks_audit(judge):
    """A migration record the audit cannot load must not stop the audit."""
    judge.observe(record_trials)
    judge.decide(
        hypothesis="A migration record Nova cannot interpret makes the "
                   "periodic audit raise (directly, or swallowed and logged "
                   "by the compute service), leaving the compute node row "
                   "un-refreshed.",
        stages=("under_fault",), invariants=("audit_completed",),
        explained_by=BY_FINDINGS, fault_space=ROW_VS_INSTANCE)


@pytest.mark.finding("F-01")
def test_missing_stashed_flavor_stops_the_node_audit(judge):
    """Bug: the incoming-migration branch of
    ``_update_usage_from_migration`` logs ``itype.flavorid`` before it
    checks that there is a flavor.  A resize whose instance lost its
    stashed ``new_flavor`` (or a live migration whose row says ``resize``)
    raises AttributeError there, and the exception ends the audit of the
    whole node, not just that migration; the compute service logs it and
    keeps the node's stale numbers.  The what-if ``incoming-flavor-checked``
    (skip the migration when the flavor is missing) shows the cause."""
    judge.observe(flavor_trials)
    judge.observe(record_trials)
    judge.decide(
        hypothesis="A move whose stashed flavor is missing stops the "
                   "node's audit instead of being skipped.",
        stages=("under_fault",), invariants=("audit_completed",),
        fault_space=FLAVORS + "; " + ROW_VS_INSTANCE)


@pytest.mark.claims("000-2")
def test_swallowed_flavor_or_instance_errors_misaccount(judge):
    """Where the migration accounting logs and skips (flavor or instance not
    found), the accounting must still be right."""
    judge.observe(flavor_trials)
    judge.observe(instance_lookup_trials)
    judge.decide(
        hypothesis="When a migration's flavor or instance cannot be found, "
                   "the tracker logs, skips the migration and carries on, "
                   "and the skipped usage leaves the accounting wrong.",
        stages=("under_fault", "after_clear"), invariants=ACCOUNTING,
        counterfactual="migration-handlers-reraise",
        explained_by=BY_FINDINGS,
        fault_space=FLAVORS + "; the instance soft-deleted or "
                              "never created")
    # Which handler each variant reached (traced): reported, not judged.
    variants = [o for o in judge.observations if not o.control]
    judge.outcome.stats["variants reaching the FlavorNotFound handler"] = \
        sum(1 for o in variants if o.paths.get("migration-flavor-handler"))
    judge.outcome.stats["variants reaching the InstanceNotFound handler"] = \
        sum(1 for o in variants if o.paths.get("migration-instance-handler"))


@pytest.mark.claims("001-2")
def test_missing_flavor_only_warned_and_skipped(judge):
    """A migration whose flavor cannot be found is warned about and skipped:
    its usage must not silently go missing."""
    judge.observe(flavor_trials)
    judge.decide(
        hypothesis="A flavor missing from the API DB or from the instance's "
                   "stashed flavors makes the migration accounting warn and "
                   "skip the migration, so its usage is missing.",
        stages=("under_fault", "after_clear"), invariants=ACCOUNTING,
        explained_by=BY_FINDINGS, fault_space=FLAVORS)
    variants = [o for o in judge.observations if not o.control]
    judge.outcome.stats["variants reaching the FlavorNotFound handler"] = \
        sum(1 for o in variants if o.paths.get("migration-flavor-handler"))


@pytest.mark.claims("000-2")
def test_failing_monitor_is_harmless_to_accounting(judge):
    """A monitor that fails is logged and ignored: accounting must not
    suffer for it."""
    judge.observe(monitor_trials)
    judge.decide(
        hypothesis="When a metrics monitor raises, the tracker logs a "
                   "warning and carries on, and that leaves usage, "
                   "placement or the audit itself wrong.",
        stages=("under_fault", "after_clear"),
        invariants=ACCOUNTING + ("audit_completed",),
        counterfactual="metrics-handler-reraises",
        fault_space="monitors raising RuntimeError or KeyError, or "
                    "reporting nonsense, on the source or destination")
