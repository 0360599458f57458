"""Worlds are hermetic, and every move's control trial is clean."""
from __future__ import annotations

import pytest

from harness.oracle import invariants as inv
from harness.world import novaenv
from harness.verdicts.judge import STAGES, Trial, run_trial
from harness.world.deployment import NoRoom, World

SMALL = dict(vcpus=1, memory_mb=512, root_gb=10)
BIG = dict(vcpus=2, memory_mb=1024, root_gb=20)


def build_world(**kwargs) -> World:
    w = World(**kwargs)
    w.setUp()
    return w


def test_two_worlds_share_nothing():
    # Nova must be loaded the harness's way before anything imports it
    # (native threading is chosen before eventlet can be imported).
    novaenv.load()
    from nova import exception, objects
    from nova.scheduler.client import report

    first = build_world()
    try:
        first.create_flavor("small", **SMALL)
        inst = first.boot("vm1", "small", "src")
        first_uuid = inst.uuid
        first_rps = {h.rp_uuid for h in first.hosts.values()}
        first_singleton = first.reportclient
        assert report.PLACEMENTCLIENT is first_singleton
        first_hosts_rc = {h.reportclient for h in first.hosts.values()}
        first_provider = first.placement.fixture
        first_generation = first.snapshot().providers["src"]["generation"]
    finally:
        first.cleanUp()
    # cleanUp resets Nova's module-level report client
    assert report.PLACEMENTCLIENT is None

    second = build_world()
    try:
        ctx = second.ctx
        assert objects.InstanceList.get_all(ctx).objects == []
        with pytest.raises(exception.InstanceNotFound):
            objects.Instance.get_by_uuid(ctx, first_uuid)
        with pytest.raises(exception.FlavorNotFound):
            objects.Flavor.get_by_flavor_id(ctx, "small")
        # The fake driver names node uuids after the node name through the
        # process-wide uuidsentinel, so the providers have the same uuids;
        # but they are new records: placement and the DB start from nothing
        # (fresh generations, no usage, no compute-node rows but this
        # world's).
        second_rps = {h.rp_uuid for h in second.hosts.values()}
        assert second_rps == first_rps
        nodes = objects.ComputeNodeList.get_all(ctx)
        assert sorted(cn.uuid for cn in nodes) == sorted(second_rps)
        assert [cn.id for cn in nodes] == [1, 2, 3]
        listed = second.placement.read("/resource_providers")
        assert {rp["uuid"] for rp in listed["resource_providers"]} == \
            second_rps
        src_uuid = second.hosts["src"].rp_uuid
        assert listed["resource_providers"][0]["generation"] <= \
            first_generation
        usages = second.placement.read(
            "/resource_providers/%s/usages" % src_uuid)["usages"]
        assert not any(usages.values())
        assert second.placement.read("/allocations/%s" % first_uuid)[
            "allocations"] == {}
        # a fresh report client singleton (the conductor's and scheduler's)
        # and per-host clients
        assert second.reportclient is not first_singleton
        assert not {h.reportclient for h in second.hosts.values()} & \
            first_hosts_rc
        assert second.placement.fixture is not first_provider
        # the fault log starts empty apart from this world's own start-up
        assert all(c.fault is None for c in second.placement.calls)
        assert second.ledger.instances == {}
        assert inv.check_all(second.snapshot(), second.ledger) == []
    finally:
        second.cleanUp()


def test_world_config_applies_and_is_undone():
    novaenv.load()
    from nova import conf
    CONF = conf.CONF
    w = build_world(hosts=("only",),
                    config={"reserved_host_cpus": 3})
    try:
        assert CONF.reserved_host_cpus == 3
        inv_ = w.snapshot().inventories["only"]
        assert inv_["VCPU"]["reserved"] == 3
    finally:
        w.cleanUp()
    assert CONF.reserved_host_cpus == 0


def test_no_room_is_reported(flavored):
    flavored.create_flavor("huge", vcpus=1, memory_mb=10 ** 6, root_gb=1)
    with pytest.raises(NoRoom):
        flavored.boot("vm1", "huge", "src")


def test_sub_gib_swap_is_truncated_by_nova(flavored):
    """A Nova behaviour scenarios must know about: ComputeNode.local_gb_used
    is an IntegerField, so the tracker's ``swap / 1024`` GiB is truncated
    when it is added (10 + 0.5 -> 10).  The ledger counts 10.5, so a flavor
    whose swap is not a whole GiB makes a control dirty; the harness's
    flavors use whole-GiB swap or none."""
    w = flavored
    w.create_flavor("swappy", vcpus=1, memory_mb=256, root_gb=10, swap=512)
    w.boot("vm1", "swappy", "src")
    w.audit("src")
    snap = w.snapshot()
    assert snap.nodes["src"].tracker["local_gb_used"] == 10
    assert snap.nodes["src"].db["local_gb_used"] == 10
    # placement rounds the same swap up, as the ledger expects
    assert snap.allocations[w.instances["vm1"].uuid]["src"]["DISK_GB"] == 11


# -- control trials: every move type, no fault, every stage clean -------------
def _flavors(w):
    w.create_flavor("small", **SMALL)
    w.create_flavor("big", **BIG)
    w.create_flavor("swap1g", vcpus=1, memory_mb=256, root_gb=5, swap=1024)


def _boot(w):
    _flavors(w)
    w.boot("vm1", "small", "src")
    w.boot("vm2", "swap1g", "dst")


def _then(*steps):
    def setup(w):
        _boot(w)
        for step in steps:
            step(w)
    return setup


CONTROLS = {
    "boot": (_then(), None),
    "delete": (_then(lambda w: w.delete("vm2")), None),
    "resize pre-migrating": (_then(
        lambda w: w.resize("vm1", "big", "dst", until="pre-migrating")),
        None),
    "resize migrating": (_then(
        lambda w: w.resize("vm1", "big", "dst", until="migrating")), None),
    # (an audit while a resize is post-migrating is finding F-15's window:
    # scenarios/test_lifecycle_findings.py)
    "resize finished, confirm": (_then(
        lambda w: w.resize("vm1", "big", "dst")),
        lambda w: w.confirm("vm1")),
    "resize finished, revert": (_then(
        lambda w: w.resize("vm1", "big", "dst")),
        lambda w: w.revert("vm1")),
    "same-node resize, confirm": (_then(
        lambda w: w.resize("vm1", "big", "src")),
        lambda w: w.confirm("vm1")),
    "same-node resize pre-migrating": (_then(
        lambda w: w.resize("vm2", "big", "dst", until="pre-migrating")),
        None),
    "cold migration, revert": (_then(
        lambda w: w.migrate("vm2", "src")), lambda w: w.revert("vm2")),
    "live migration preparing": (_then(
        lambda w: w.live_migrate("vm1", "dst", until="preparing")), None),
    "live migration running": (_then(
        lambda w: w.live_migrate("vm2", "bystander")), None),
    "live migration completed, then resize": (_then(
        lambda w: w.live_migrate("vm1", "dst", until="completed")),
        lambda w: w.resize("vm1", "big", "bystander")),
    "delete during resize": (_then(
        lambda w: w.resize("vm1", "big", "dst")),
        lambda w: w.delete("vm1")),
}


@pytest.mark.parametrize("name", list(CONTROLS))
def test_control_trial_is_clean(name):
    setup, during = CONTROLS[name]
    obs = run_trial(Trial("control: " + name, setup, None, during))
    assert obs.error is None, obs.error
    assert obs.during_error is None, obs.during_error
    assert obs.control and obs.fault is None
    for stage in STAGES:
        assert obs.violations[stage] == [], (stage, [
            str(v) for v in obs.violations[stage]])
    assert obs.clean
    assert obs.placement_calls > 0
    assert obs.trace.of_kind("audit")


def test_variant_trial_observes_its_fault():
    """The trial machinery end to end: a fault is described, injected,
    observed under fault, and cleared before the last stage."""
    from harness.faults.records import MigrationField

    def setup(w):
        _flavors(w)
        w.boot("vm1", "small", "src")
        w.resize("vm1", "big", "dst")

    obs = run_trial(Trial("variant", setup,
                          lambda w: MigrationField(w, "vm1",
                                                   status="confirmed")))
    assert obs.error is None, obs.error
    assert obs.fault == "migration of vm1: status='confirmed'"
    assert obs.violations["before"] == []
    assert "usage_matches_ledger" in {
        v.invariant for v in obs.violations["under_fault"]}
    assert obs.violations["after_clear"] == []
    faults = [s.what for s in obs.trace.of_kind("fault")]
    assert faults == ["inject", "clear"]


def test_harness_failure_is_an_error_not_a_violation():
    def setup(w):
        raise RuntimeError("scenario bug")
    obs = run_trial(Trial("broken", setup))
    assert obs.error and "scenario bug" in obs.error
    assert not obs.clean


def test_a_node_its_restarted_tracker_has_not_met_keeps_its_record():
    """A compute restarted while its driver did not report the node has no
    tracker entry for it until an audit reaches it; the host's record (what
    the scheduler and conductor read: id, provider uuid) is the database's
    meanwhile, the same one."""
    from harness.world import lifecycle
    from harness.world.ops import Client, Op
    world = World(hosts=("src", "dst"))
    world.setUp()
    try:
        before = (world.hosts["dst"].compute_node.id,
                  world.hosts["dst"].rp_uuid)
        lifecycle.node_unavailable(world, "dst")
        Client(world).perform(Op("restart", {"host": "dst"}))
        lifecycle.node_available(world, "dst")
        assert (world.hosts["dst"].compute_node.id,
                world.hosts["dst"].rp_uuid) == before
        assert "dst" in world.ledger.restarted_unaudited
    finally:
        world.cleanUp()


def test_a_between_audits_trial_sees_what_the_audit_would_repair():
    """BetweenAudits judges before any audit: a tracker number the audit
    would rewrite (here, written wrong in memory and in the row by hand)
    is a violation there, while the standard trial's audit hides it."""
    from harness.verdicts.judge import BetweenAudits

    def setup(world):
        world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        world.boot("vm1", "small", "src")
        cn = world.hosts["src"].compute_node
        cn.vcpus_used = -5
        cn.save()

    kinds = {}
    for cls in (Trial, BetweenAudits):
        obs = run_trial(cls("t", setup, audit_via=("tracker",)))
        kinds[cls.__name__] = {v.invariant for v in obs.violations["before"]}
    assert "usage_in_bounds" in kinds["BetweenAudits"]
    assert "usage_in_bounds" not in kinds["Trial"]
