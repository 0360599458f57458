"""Migrations of instances whose disk a sharing provider holds: claim 002-4.

Two compute hosts in one aggregate with a sharing resource provider
``shared-disk`` (trait ``MISC_SHARES_VIA_AGGREGATE``, DISK_GB inventory),
built as an operator would with the placement CLI.  In the variants the
hosts report too little local disk for the flavor, so Placement can only
place the instances' disk on the sharing provider: ``vm1`` on the source
and ``vm2`` on the destination each hold 10 GB there.  Each control is the
same trial with local disks and no sharing provider.

An operator cold-migrates ``vm1`` through the REST API with no host named
(the scheduler prefers the destination; Nova's conductor swaps the source
allocation, shared disk included, to the migration consumer; the real
scheduler then claims the destination for the instance, asking placement
for candidates that take the disk from the sharing provider); the move is
held where the destination casts ``resize_instance``, then:

* finished (the source and the destination carry on) and confirmed;
* finished and reverted;
* rolled back by the conductor: the operator disabled the destination's
  compute service first, so the scheduler finds no host and
  ``MigrationTask.rollback`` runs ``revert_allocation_for_migration`` (the
  old model made the ``prep_resize`` cast fail; a cast through the bus
  cannot fail, and a host the scheduler cannot choose is how an operator
  meets this rollback);
* with the sharing provider's capacity tight (25 GB for two 10 GB disks).

The sharing provider's usage is compared with what the living instances
on it occupy, each counted once (a migration between hosts sharing the
storage moves no disk): while the move is in progress, once the instance
has arrived, and after confirm, revert or rollback and every tracker's
audit.  For the tight case, a refusal is checked against the room the
move needs: the destination's own free resources and no new disk.
"""
from __future__ import annotations

import pytest

from harness.faults import conductor as cf
from harness.oracle import conductor_invariants as ci
from harness.oracle.conductor_checks import ShareAwareLedger
from harness.verdicts import conductor as vc
from harness.verdicts import conductor_workloads as cw
from harness.world import conductor as wc
from harness.world.deployment import Inventory

SHARE = "shared-disk"
AMPLE, TIGHT = 100, 25
LOCAL, NO_LOCAL = Inventory(local_gb=400), Inventory(local_gb=5)


def _population(shared: bool, total: int, disabled: bool = False):
    def setup(world):
        world.create_flavor("small", **cw.SMALL)
        if shared:
            wc.add_sharing_provider(world, SHARE, total)
            world.ledger.shared_disk.update(vm1=SHARE, vm2=SHARE)
        world.boot("vm1", "small", cw.SRC)
        world.boot("vm2", "small", cw.DST)
        if disabled:
            wc.disable_compute(world, cw.DST)
    return setup


def _sharing_usage(world) -> dict:
    if not getattr(world, "sharing", None):
        return {}
    out = {}
    for name, uuid in world.sharing.items():
        out[name] = world.placement.read(
            "/resource_providers/%s/usages" % uuid)["usages"].get(
                "DISK_GB", 0)
    return out


def _sharing_checks(world, label) -> list:
    if not getattr(world, "sharing", None):
        return []
    ledger = world.ledger
    expected = {}
    for name in world.sharing:
        held = [(rec.name, ledger.flavors[rec.flavor].placement_resources()
                 .get("DISK_GB", 0)) for rec in ledger.live_instances()
                if ledger.shared_disk.get(rec.name) == name]
        expected[name] = (sum(d for _n, d in held), "%s: %s" % (
            label, " + ".join("%s %d GB" % h for h in held)))
    usage = _sharing_usage(world)
    vc.counts(world).setdefault("sharing usage", []).append(
        (label, usage))
    return ci.sharing_usage_matches_instances(usage, expected)


def _refusal_checks(world, op) -> list:
    refused = op.result.error_type == "NoValidHost"
    if not refused or not getattr(world, "sharing", None):
        return []
    p = world.placement
    dst = world.hosts[cw.DST].rp_uuid
    inv = p.read("/resource_providers/%s/inventories" % dst)["inventories"]
    used = p.read("/resource_providers/%s/usages" % dst)["usages"]
    free = {rc: int((i["total"] - i["reserved"]) * i["allocation_ratio"])
            - used.get(rc, 0) for rc, i in inv.items()}
    flavor = world.ledger.flavors["small"].placement_resources()
    need = {rc: a for rc, a in flavor.items() if rc != "DISK_GB"}
    share = world.sharing[SHARE]
    sinv = p.read("/resource_providers/%s/inventories"
                  % share)["inventories"]["DISK_GB"]
    sused = p.read("/resource_providers/%s/usages" % share)["usages"].get(
        "DISK_GB", 0)
    shared_free = int((sinv["total"] - sinv["reserved"])
                      * sinv["allocation_ratio"]) - sused
    return ci.move_not_refused_for_held_disk(
        refused, {rc: free.get(rc, 0) for rc in need}, need, shared_free,
        flavor.get("DISK_GB", 0), "cold migration of vm1 to %s" % cw.DST)


def _extra(world, op, stage):
    label = {"under_fault": "move in progress",
             "after_clear": "after the move ended and the audits"}[stage]
    out = _sharing_checks(world, label)
    if stage == "under_fault":
        out += _refusal_checks(world, op)
    return out


def _moved(op):
    return not op.result.raised and op.result.migration_status == \
        "pre-migrating"


def _then(finish_with):
    def then(world, op):
        if not _moved(op) or finish_with is None:
            return []
        wc.finish_move(world, "vm1")
        out = _sharing_checks(world, "instance arrived, awaiting %s"
                              % finish_with)
        (world.confirm if finish_with == "confirm" else world.revert)("vm1")
        return out
    return then


def _migrate_op(world):
    return vc.op_move(world, "vm1", prefer=(cw.DST,), hosts=(cw.DST,))


SHAPES = {
    "migrate then confirm": (_then("confirm"), AMPLE, False),
    "migrate then revert": (_then("revert"), AMPLE, False),
    "migrate, no valid host, conductor rollback": (None, AMPLE, True),
    "migrate with tight shared capacity": (_then("confirm"), TIGHT, False),
}


def _trial(name, shape, shared):
    then, total, disabled = SHAPES[shape]
    fault = None
    if shared:
        text = ("instance disks on sharing provider %s (DISK_GB total %d, "
                "aggregate with %s and %s; hosts report %d GB local disk)"
                % (SHARE, total, cw.SRC, cw.DST, NO_LOCAL.local_gb))
        fault = (lambda w, t=text: cf.Condition(w, t))
    return vc.ConductorTrial(
        name, _population(shared, total, disabled), operation=_migrate_op,
        fault=fault, then=then, extra=_extra, ledger=ShareAwareLedger,
        world_kwargs=dict(hosts=(cw.SRC, cw.DST),
                          inventory=NO_LOCAL if shared else LOCAL))


def sharing_trials(run):
    for shape in SHAPES:
        run.trial(_trial("%s, local disk [control]" % shape, shape, False))
        run.trial(_trial("%s / disk on sharing provider" % shape, shape,
                         True))


SPACE = "each move shape with the disks on a sharing provider vs local"


@pytest.mark.claims("002-4")
def test_conductor_sharing_provider_disk_doubled(judge):
    """Moving an instance whose disk is on a sharing provider counts that
    disk once, during and after the move."""
    observations = judge.observe(sharing_trials)
    judge.decide(
        hypothesis="During a cold migration of an instance whose disk a "
                   "sharing provider holds, the allocation helpers leave "
                   "that disk allocated twice on the sharing provider "
                   "(the migration consumer's copy and the instance's), "
                   "so its usage exceeds what the living instances "
                   "occupy; or a duplicate survives confirm, revert or the "
                   "conductor's rollback.",
        predicts={"under_fault": ("sharing_usage_matches_instances",),
                  "during": ("sharing_usage_matches_instances",),
                  "after_clear": ("sharing_usage_matches_instances",
                                  "allocations_match_ledger")},
        fault_space=SPACE)
    judge.outcome.stats["sharing_usage"] = {
        o.trial: o.detail.counts.get("sharing usage") if o.detail else None
        for o in observations}


@pytest.mark.claims("002-4")
def test_conductor_sharing_provider_refuses_move(judge):
    """A move that needs no new shared disk is not refused for lack of it."""
    observations = judge.observe(sharing_trials)
    judge.decide(
        hypothesis="Because the swap keeps the instance's shared disk on "
                   "the migration consumer while the scheduler asks for it "
                   "again, a cold migration between two hosts that share "
                   "the instance's storage is refused (no valid host) when "
                   "the sharing provider has less free space than the "
                   "instance's disk, although the destination has room and "
                   "the move needs no new disk.",
        predicts={"under_fault": ("move_not_refused_for_held_disk",)},
        fault_space=SPACE)
    judge.outcome.stats["outcomes"] = {
        o.trial: o.detail.result.get("caller_saw") if o.detail else None
        for o in observations}
