"""Every fault reaches Nova, and every fault undoes itself.

Each test injects one fault into a real world, shows Nova's own code (object
layer, report client, tracker, compute manager) sees it, clears it and shows
Nova sees the original again.
"""
from __future__ import annotations

import datetime
import logging
import time
import types

import pytest

from harness.oracle import invariants as inv
from harness.faults import Combined
from harness.faults.base import NotApplicable
from harness.faults import driver as dfaults
from harness.faults import placement as pfaults
from harness.faults import records
from harness.world.placement import Schedule


def _stub_world():
    """Enough of a world to construct and describe faults (no Nova)."""
    return types.SimpleNamespace(hosts={}, host_names=["src", "dst"])


def _setup_error(fault):
    """The exception a fault's setUp raised (fixtures wraps it)."""
    from testtools import MultipleExceptions
    try:
        fault.setUp()
    except MultipleExceptions as exc:
        return exc.args[0][1]
    fault.cleanUp()
    raise AssertionError("%r set up without error" % fault)


def _names(violations):
    return sorted({v.invariant for v in violations})


def _check(world):
    return inv.check_all(world.snapshot(), world.ledger)


def _audit_ok(world, host=None):
    results = world.audit(host)
    assert all(r.ok for r in results), results
    return results


# ===========================================================================
# DB record faults
# ===========================================================================
def test_migration_field_reaches_nova_and_restores(resized):
    from nova import objects
    w = resized
    mig_id = w.migrations["vm1"].id
    fault = records.MigrationField(w, "vm1", status="confirmed",
                                   dest_node="nowhere")
    assert fault.describe() == ("migration of vm1: dest_node='nowhere', "
                                "status='confirmed'")
    fault.setUp()
    try:
        mig = objects.Migration.get_by_id(w.ctx, mig_id)
        assert (mig.status, mig.dest_node) == ("confirmed", "nowhere")
        assert fault.original == {"status": "finished", "dest_node": "dst"}
    finally:
        fault.cleanUp()
    mig = objects.Migration.get_by_id(w.ctx, mig_id)
    assert (mig.status, mig.dest_node) == ("finished", "dst")


def test_migration_field_reaches_the_tracker(resized):
    w = resized
    _audit_ok(w)
    assert _check(w) == []
    with records.MigrationField(w, "vm1", status="confirmed"):
        _audit_ok(w)
        bad = _check(w)
        # the source's revert room is no longer counted
        assert any(v.subject == "tracker src vcpus_used" for v in bad), bad
    _audit_ok(w)
    assert _check(w) == []


def test_instance_field_reaches_nova_and_restores(booted):
    from nova import objects
    w = booted
    uuid = w.instances["vm1"].uuid
    with records.InstanceField(w, "vm1", vm_state="error",
                               memory_mb=-1) as fault:
        inst = objects.Instance.get_by_uuid(w.ctx, uuid)
        assert (inst.vm_state, inst.memory_mb) == ("error", -1)
        assert "vm_state='error'" in fault.describe()
    inst = objects.Instance.get_by_uuid(w.ctx, uuid)
    assert (inst.vm_state, inst.memory_mb) == ("active", 512)


def test_instance_deleted_reaches_nova_and_restores(booted):
    from nova import exception, objects
    w = booted
    uuid = w.instances["vm1"].uuid
    with records.InstanceDeleted(w, "vm1"):
        with pytest.raises(exception.InstanceNotFound):
            objects.Instance.get_by_uuid(w.ctx, uuid)
        gone = objects.Instance.get_by_uuid(
            w.ctx.elevated(read_deleted="yes"), uuid)
        assert gone.deleted
        # the tracker no longer counts it
        _audit_ok(w, "src")
        assert w.hosts["src"].compute_node.running_vms == 0
    assert not objects.Instance.get_by_uuid(w.ctx, uuid).deleted
    _audit_ok(w, "src")
    assert w.hosts["src"].compute_node.running_vms == 1


@pytest.mark.parametrize("mode", ["missing", "stale"])
def test_migration_context_fault_reaches_nova_and_restores(resized, mode):
    w = resized
    real_id = w.migrations["vm1"].id
    assert w.instance("vm1").migration_context.migration_id == real_id
    with records.MigrationContextFault(w, "vm1", mode=mode,
                                       migration_id=4242) as fault:
        ctx = w.instance("vm1").migration_context
        if mode == "missing":
            assert ctx is None
            assert fault.describe() == "migration context of vm1 missing"
        else:
            assert ctx.migration_id == 4242
            assert "stale (migration_id=4242)" in fault.describe()
    assert w.instance("vm1").migration_context.migration_id == real_id


def test_migration_context_fault_rejects_bad_mode():
    with pytest.raises(ValueError):
        records.MigrationContextFault(_stub_world(), "vm1", mode="weird")


def test_embedded_flavor_absent_reaches_nova_and_restores(resized):
    from nova import objects
    w = resized
    uuid = w.instances["vm1"].uuid

    def read():
        return objects.Instance.get_by_uuid(w.ctx, uuid,
                                            expected_attrs=["flavor"])
    assert read().new_flavor.name == "big"
    with records.EmbeddedFlavor(w, "vm1", which="new", mode="absent"):
        inst = read()
        assert inst.new_flavor is None
        assert inst.old_flavor.name == "small"
    assert read().new_flavor.name == "big"


def test_embedded_flavor_altered_reaches_the_tracker(booted):
    w = booted
    _audit_ok(w, "src")
    with records.EmbeddedFlavor(w, "vm1", which="cur", mode="altered",
                                memory_mb=4096) as fault:
        assert w.instance("vm1").flavor.memory_mb == 4096
        assert "memory_mb=4096" in fault.describe()
        _audit_ok(w, "src")
        bad = _check(w)
        assert any(v.subject == "tracker src memory_mb_used"
                   and v.actual == 512 + 4096 for v in bad), bad
    assert w.instance("vm1").flavor.memory_mb == 512
    _audit_ok(w, "src")
    assert _check(w) == []


def test_embedded_flavor_argument_checks(booted):
    with pytest.raises(ValueError):
        records.EmbeddedFlavor(booted, "vm1", which="newest")
    with pytest.raises(ValueError):
        records.EmbeddedFlavor(booted, "vm1", mode="gone")
    # no new flavor to alter on an instance that never moved
    fault = records.EmbeddedFlavor(booted, "vm1", which="new",
                                   mode="altered", vcpus=3)
    assert isinstance(_setup_error(fault), NotApplicable)
    inst = booted.instance("vm1")      # nothing was written
    assert inst.flavor.name == "small" and inst.new_flavor is None


def test_flavor_deleted_reaches_nova_and_restores(flavored):
    from nova import exception, objects
    w = flavored
    w.create_flavor("special", vcpus=1, memory_mb=128, root_gb=1,
                    extra_specs={"hw:cpu_policy": "shared"})
    flavor_id = w.flavors["special"].id
    with records.FlavorDeleted(w, "special") as fault:
        assert fault.describe() == "flavor special deleted from the API DB"
        with pytest.raises(exception.FlavorNotFound):
            objects.Flavor.get_by_id(w.ctx, flavor_id)
    back = objects.Flavor.get_by_id(w.ctx, flavor_id)
    assert (back.name, back.memory_mb) == ("special", 128)
    assert back.extra_specs == {"hw:cpu_policy": "shared"}


def test_duplicate_migration_reaches_nova_and_restores(resized):
    from nova import objects
    w = resized
    uuid = w.instances["vm1"].uuid

    def migrations():
        return objects.MigrationList.get_by_filters(
            w.ctx, {"instance_uuid": uuid})
    assert len(migrations()) == 1
    with records.DuplicateMigration(w, "vm1", status="migrating") as fault:
        migs = migrations()
        assert len(migs) == 2
        dup = [m for m in migs if m.id == fault.row_id][0]
        assert dup.status == "migrating"
        assert dup.uuid != w.migrations["vm1"].uuid
        in_progress = objects.MigrationList.get_in_progress_and_error(
            w.ctx, "dst", "dst")
        assert fault.row_id in [m.id for m in in_progress]
    assert [m.id for m in migrations()] == [w.migrations["vm1"].id]


@pytest.mark.parametrize("mode", ["absent", "deleted"])
def test_orphan_migration_reaches_nova_and_restores(booted, mode):
    from nova import exception, objects
    w = booted

    def in_progress():
        return objects.MigrationList.get_in_progress_and_error(
            w.ctx, "src", "src")
    assert len(in_progress()) == 0
    with records.OrphanMigration(w, "src", "dst", mode=mode,
                                 status="migrating") as fault:
        (mig,) = in_progress()
        assert (mig.source_compute, mig.dest_compute) == ("src", "dst")
        assert mode in fault.describe()
        with pytest.raises(exception.InstanceNotFound):
            objects.Instance.get_by_uuid(w.ctx, mig.instance_uuid)
        # the tracker's audit meets it and copes (it is not judged here)
        w.audit("src")
    assert len(in_progress()) == 0


def test_orphan_migration_rejects_bad_mode():
    with pytest.raises(ValueError):
        records.OrphanMigration(_stub_world(), "src", "dst", mode="both")


def test_combined_injects_in_order_and_clears_in_reverse(resized):
    from nova import objects
    w = resized
    mig_id = w.migrations["vm1"].id
    a = records.MigrationField(w, "vm1", status="migrating")
    b = records.MigrationField(w, "vm1", status="post-migrating")
    both = Combined(w, a, b)
    assert both.describe() == a.describe() + " + " + b.describe()
    with both:
        # b was applied last
        assert objects.Migration.get_by_id(w.ctx, mig_id).status == \
            "post-migrating"
        assert b.original == {"status": "migrating"}
    # b restored 'migrating', then a restored 'finished'
    assert objects.Migration.get_by_id(w.ctx, mig_id).status == "finished"
    steps = [(s.what, s.data["fault"]) for s in w.trace.of_kind("fault")]
    assert steps[-2:] == [("clear", b.describe()), ("clear", a.describe())]


# ===========================================================================
# Placement faults
# ===========================================================================
def test_placement_error_fails_the_report_client(world):
    from nova import exception
    host = world.hosts["src"]
    fault = pfaults.PlacementError(world, "GET", "^/resource_providers",
                                   status=503)
    desc = fault.describe()
    assert desc == "placement GET ^/resource_providers: answer 503, always"
    n = len(world.placement.calls)
    with fault:
        with pytest.raises(exception.ResourceProviderRetrievalFailed):
            host.reportclient.get_providers_in_tree(world.ctx, host.rp_uuid)
    (call,) = world.placement.calls[n:]
    assert (call.method, call.status) == ("GET", 503)
    assert call.path.startswith("/resource_providers?in_tree=")
    assert call.fault == fault.rule.describe()
    assert fault.fired == fault.matched == 1
    assert fault.calls() == [call]
    assert fault.rule not in world.placement.middleware.rules
    # cleared: the same call succeeds
    tree = host.reportclient.get_providers_in_tree(world.ctx, host.rp_uuid)
    assert [rp["uuid"] for rp in tree] == [host.rp_uuid]
    assert world.placement.calls[-1].status == 200
    assert fault.fired == 1


def test_placement_error_fails_the_audit(booted):
    w = booted
    fault = pfaults.PlacementError(w, "*", "/allocations", status=500,
                                   code="placement.harness")
    assert "answer 500 placement.harness" in fault.describe()
    with fault:
        (res,) = w.audit("src")
    # The first GET .../allocations (cleanup of deleted instances'
    # allocations) is caught and skipped by Nova; the second (the provider
    # tree update) escapes the audit.
    assert type(res.error).__name__ == \
        "ResourceProviderAllocationRetrievalFailed"
    assert fault.fired == 2
    assert [(c.method, c.status) for c in fault.calls()] == [
        ("GET", 500), ("GET", 500)]
    assert all(c.path.endswith("/allocations") for c in fault.calls())
    _audit_ok(w, "src")


def test_placement_error_schedule(booted):
    from nova import exception
    w = booted
    host = w.hosts["src"]
    fault = pfaults.PlacementError(w, "GET", "in_tree=",
                                   schedule=Schedule(calls=(2,)))
    assert fault.describe().endswith("answer 500, calls [2]")
    with fault:
        host.reportclient.get_providers_in_tree(w.ctx, host.rp_uuid)
        with pytest.raises(exception.ResourceProviderRetrievalFailed):
            host.reportclient.get_providers_in_tree(w.ctx, host.rp_uuid)
        host.reportclient.get_providers_in_tree(w.ctx, host.rp_uuid)
    assert (fault.matched, fault.fired) == (3, 1)
    assert [c.status for c in w.placement.calls_matching("GET", "in_tree=")
            ][-3:] == [200, 500, 200]


def test_placement_error_argument_checks():
    world = _stub_world()
    with pytest.raises(ValueError):
        pfaults.PlacementError(world, "GET", ".*", status=200)
    with pytest.raises(ValueError):
        pfaults.PlacementError(world, "FETCH", ".*")
    assert pfaults.PlacementError(world, "get", "x").method == "GET"


def test_generation_conflict_is_retried_by_the_claim(flavored):
    w = flavored
    fault = pfaults.GenerationConflict(w, "PUT", "^/allocations/",
                                       Schedule(first=1))
    assert fault.describe() == ("placement PUT ^/allocations/: answer 409 "
                                "placement.concurrent_update, first 1")
    with fault:
        w.boot("vm1", "small", "src")
    assert (fault.matched, fault.fired) == (2, 1)
    assert [c.status for c in w.placement.calls_matching(
        "PUT", "^/allocations/")] == [409, 204]
    _audit_ok(w)
    assert _check(w) == []


def test_generation_conflict_fails_an_inventory_update(world):
    w = world
    with pfaults.GenerationConflict(w, "PUT", "/inventories$") as conflict, \
            dfaults.BogusInventory(w, "dst", vcpus=7):
        (res,) = w.audit("dst")
    assert type(res.error).__name__ == "ResourceProviderUpdateConflict"
    assert conflict.fired >= 1
    assert all(c.status == 409 for c in conflict.calls())


def test_latency_delays_but_serves(world):
    host = world.hosts["src"]
    fault = pfaults.PlacementLatency(world, "GET", "in_tree=", delay=0.2)
    assert fault.describe() == ("placement GET in_tree=: delay 0.200s then "
                                "serve, always")
    with fault:
        t0 = time.monotonic()
        tree = host.reportclient.get_providers_in_tree(world.ctx,
                                                       host.rp_uuid)
        elapsed = time.monotonic() - t0
    assert elapsed >= 0.2
    assert [rp["uuid"] for rp in tree] == [host.rp_uuid]
    assert fault.fired == 1
    assert fault.calls()[0].status == 200
    with pytest.raises(ValueError):
        pfaults.PlacementLatency(world, "GET", "x", delay=-1)


def test_disconnect_is_a_keystoneauth_connection_failure(world):
    from keystoneauth1 import exceptions as ks_exc
    host = world.hosts["src"]
    fault = pfaults.PlacementDisconnect(world, "GET", "^/resource_providers")
    assert fault.describe() == ("placement GET ^/resource_providers: break "
                                "the connection, always")
    with fault:
        with pytest.raises(ks_exc.ConnectFailure):
            host.reportclient.get_providers_in_tree(world.ctx, host.rp_uuid)
        # Nova's own handling of a connection failure runs: the audit's
        # cleanup of deleted instances' allocations catches it and skips.
        (res,) = world.audit("src")
    assert fault.fired >= 2
    assert all(c.status is None for c in fault.calls())
    assert isinstance(res.error, ks_exc.ConnectFailure)
    _audit_ok(world, "src")


def test_placement_faults_never_touch_observer_reads(world):
    with pfaults.PlacementError(world, "*", ".*", status=500) as fault:
        snap = world.snapshot()
    assert set(snap.providers) == set(world.hosts)
    assert fault.matched == 0


# ===========================================================================
# Driver, monitor and clock faults
# ===========================================================================
def test_driver_raises_from_get_available_resource(world):
    w = world
    host, other = w.hosts["src"], w.hosts["dst"]
    fault = dfaults.DriverRaises(w, "src", "get_available_resource",
                                 exc=lambda: OSError("hypervisor gone"))
    assert fault.describe() == ("driver of src: get_available_resource "
                                "raises OSError('hypervisor gone')")
    with fault:
        with pytest.raises(OSError, match="hypervisor gone"):
            host.rt.update_available_resource(w.ctx, host.nodename)
        # only that host's driver is patched
        other.rt.update_available_resource(w.ctx, other.nodename)
        assert "get_available_resource" in vars(host.driver)
        assert "get_available_resource" not in vars(other.driver)
    assert fault.fired == 1
    assert "get_available_resource" not in vars(host.driver)
    host.rt.update_available_resource(w.ctx, host.nodename)


def test_node_unreported_reaches_the_compute_manager_and_restores(world,
                                                                 logs):
    w = world
    host, other = w.hosts["dst"], w.hosts["src"]
    fault = dfaults.NodeUnreported(w, "dst")
    assert fault.describe() == "driver of dst does not report its node dst"
    with fault:
        assert host.nodename not in host.driver.get_available_nodes()
        assert host.nodename not in host.driver.get_nodenames_by_uuid(
        ).values()
        # only that host's driver is patched
        assert other.nodename in other.driver.get_available_nodes()
        mark = logs.mark()
        w.audit("dst", via="service")
        seen = [r.getMessage() for r in logs.since(mark)]
    # the compute manager met the node's record with no node to match it
    # (every release logs it: Nova 27/28 delete it, 29 on keep it)
    assert any("orphan compute node" in m and host.nodename in m
               for m in seen), seen
    assert fault.fired >= 1
    assert "get_available_nodes" not in vars(host.driver)
    assert host.driver.get_available_nodes() == [host.nodename]


def test_driver_raises_is_swallowed_by_the_service_audit(world, logs):
    w = world
    with dfaults.DriverRaises(w, "src", exc=RuntimeError):
        mark = logs.mark()
        (res,) = w.audit("src", via="service")
        service_records = logs.since(mark)
    # the compute manager catches it: no exception reaches the caller ...
    assert res.ok
    # ... but it logs the error, which the invariant reports
    found = inv.service_logged_errors(service_records)
    assert found and found[0].invariant == "audit_completed"
    assert "src" in found[0].actual


def test_driver_raises_from_update_provider_tree(world):
    w = world
    host = w.hosts["dst"]
    with dfaults.DriverRaises(w, "dst", "update_provider_tree",
                              exc=ValueError("bad tree")) as fault:
        (res,) = w.audit("dst")
    assert isinstance(res.error, ValueError)
    assert fault.fired == 1
    assert inv.audit_completed([res])[0].actual == "ValueError: bad tree"
    host.rt.update_available_resource(w.ctx, host.nodename)


def test_an_audit_is_the_periodic_task_and_reads_what_the_tracker_raised(
        world, monkeypatch):
    """Both readings of an audit run the compute service's periodic task,
    never the tracker on its own: 'tracker' returns what the tracker raised
    (the exception of the service's 'Error updating resources' record),
    'service' only what escaped the periodic task, which swallowed it."""
    from nova.compute import manager
    w = world
    periodic = manager.ComputeManager.update_available_resource
    ran = []

    def counted(self, *a, **k):
        ran.append(self.host)
        return periodic(self, *a, **k)
    monkeypatch.setattr(manager.ComputeManager, "update_available_resource",
                        counted)
    with dfaults.DriverRaises(w, "dst", "update_provider_tree",
                              exc=ValueError("bad tree")) as fault:
        (tracker,) = w.audit("dst", via="tracker")
        (service,) = w.audit("dst", via="service")
    assert ran == ["dst", "dst"] and fault.fired == 2
    assert isinstance(tracker.error, ValueError), tracker
    assert service.error is None, service


def test_driver_raises_on_schedule(world):
    w = world
    with dfaults.DriverRaises(w, "src", exc=KeyError("k"),
                              schedule=Schedule(every=2)) as fault:
        results = [w.audit("src")[0] for _ in range(4)]
    assert [r.ok for r in results] == [True, False, True, False]
    assert (fault.calls, fault.fired) == (4, 2)
    assert fault.describe().endswith("every 2th")


def test_driver_raises_argument_checks(world):
    assert isinstance(_setup_error(
        dfaults.DriverRaises(world, "src", "no_such_method")), AttributeError)
    with pytest.raises(TypeError):
        dfaults.DriverRaises(world, "src", exc=42)
    with pytest.raises(ValueError):
        dfaults.DriverRaises(world, "nohost")
    instance_exc = RuntimeError("same")
    f = dfaults.DriverRaises(world, "src", exc=instance_exc)
    assert f.exc_factory() is instance_exc


def test_bogus_inventory_reaches_placement_and_restores(world):
    w = world
    host = w.hosts["src"]
    fault = dfaults.BogusInventory(w, "src", vcpus=3, local_gb=7)
    assert fault.describe() == "driver of src reports local_gb=7, vcpus=3"
    with fault:
        assert host.driver.get_available_resource("src")["vcpus"] == 3
        _audit_ok(w, "src")
        bad = inv.inventory_matches_driver(w.snapshot(), w.ledger)
        subjects = {v.subject: v.actual for v in bad}
        assert subjects["placement src VCPU total"] == 3
        assert subjects["placement src DISK_GB total"] == 7
        assert subjects["db src vcpus"] == 3
        assert w.ledger.nodes["src"].vcpus == 16   # the ledger keeps truth
    assert (host.driver.vcpus, host.driver.local_gb) == (16, 400)
    assert host.driver.resources.vcpus == 16
    _audit_ok(w, "src")
    assert _check(w) == []
    with pytest.raises(ValueError):
        dfaults.BogusInventory(w, "src")


def test_monitor_raises_is_logged_and_removed(world, logs):
    w = world
    rt = w.hosts["src"].rt
    fault = dfaults.MonitorRaises(w, "src", exc=ZeroDivisionError("div"))
    assert fault.describe() == ("monitor on src raises ZeroDivisionError("
                                "'div') from populate_metrics")
    with fault:
        assert fault.monitor in rt.monitors
        mark = logs.mark()
        _audit_ok(w, "src")
        warnings = [r for r in logs.since(mark)
                    if r.name == "nova.compute.resource_tracker"
                    and r.levelno == logging.WARNING
                    and "Cannot get the metrics" in r.getMessage()]
    assert len(warnings) == 1
    assert "harness.MonitorRaises" in warnings[0].getMessage()
    assert "div" in warnings[0].getMessage()
    assert fault.fired == 1
    assert rt.monitors == []
    mark = logs.mark()
    _audit_ok(w, "src")
    assert not any("Cannot get the metrics" in r.getMessage()
                   for r in logs.since(mark))


def test_monitor_bogus_metrics_reach_the_compute_node(world):
    import json
    from nova import objects
    w = world
    fault = dfaults.MonitorBogus(w, "src", {"cpu.frequency": -7,
                                            "cpu.percent": 25000})
    assert fault.describe() == ("monitor on src reports cpu.frequency=-7, "
                                "cpu.percent=25000")
    with fault:
        _audit_ok(w, "src")
        cn = objects.ComputeNode.get_by_host_and_nodename(w.ctx, "src",
                                                          "src")
        metrics = {m["name"]: m["value"] for m in json.loads(cn.metrics)}
        assert metrics == {"cpu.frequency": -7, "cpu.percent": 250.0}
        # nonsense metrics leave the accounting alone
        assert _check(w) == []
    assert fault.fired == 1
    assert w.hosts["src"].rt.monitors == []


def test_clock_skew_moves_novas_clock(world):
    from oslo_utils import timeutils
    offset = datetime.timedelta(days=-3)
    fault = dfaults.ClockSkew(world, offset)
    assert fault.describe() == "clock skewed by -259200s (frozen)"
    before = timeutils.utcnow()
    with fault:
        skewed = timeutils.utcnow()
        assert abs((skewed - before) - offset) < datetime.timedelta(
            seconds=5)
        assert isinstance(_setup_error(dfaults.ClockSkew(world, 10)),
                          RuntimeError)
        _audit_ok(world, "src")
    assert not dfaults._time_overridden()
    assert abs(timeutils.utcnow() - before) < datetime.timedelta(seconds=5)
    assert dfaults.ClockSkew(world, 90).describe() == \
        "clock skewed by +90s (frozen)"


def test_clock_skew_stamps_novas_migration_records(booted):
    """F-13's conditions reach Nova's records: under a frozen clock every
    save of a migration row is stamped with one time (what MariaDB's
    whole-second DATETIME does to saves within a second), and a skew
    stamps it that far ahead."""
    from harness.world import lifecycle
    w = booted
    with dfaults.ClockSkew(w, 60) as fault:
        # the source hypervisor fails the disk copy: the move ends in error
        frozen = w.resize("vm1", "big", "dst", fail="disk")
        stamped = w.migration("vm1").updated_at
    assert fault.fired == 1
    moved = w.resize("vm1", "big", "dst", until="pre-migrating")
    assert frozen.id != moved.id
    ahead = (stamped - w.migration("vm1").updated_at).total_seconds()
    assert 50 < ahead <= 60
    with dfaults.ClockSkew(w, 0):
        lifecycle.advance(w, "vm1")
        first = w.migration("vm1").updated_at
        lifecycle.advance(w, "vm1")
        assert w.migration("vm1").updated_at == first
    assert not dfaults._time_overridden()


def test_every_fault_describes_itself_before_setup():
    """The judge records describe() before injecting: it must not need the
    fault to be set up (nor Nova), and must say what a reader needs to
    replay it."""
    w = _stub_world()
    faults = [
        records.MigrationField(w, "vm1", status="error"),
        records.InstanceField(w, "vm1", host="dst"),
        records.InstanceDeleted(w, "vm1"),
        records.MigrationContextFault(w, "vm1"),
        records.EmbeddedFlavor(w, "vm1"),
        records.FlavorDeleted(w, "small"),
        records.DuplicateMigration(w, "vm1"),
        records.OrphanMigration(w, "src", "dst"),
        pfaults.PlacementError(w, "PUT", "/allocations/", 502,
                               Schedule(every=3)),
        pfaults.GenerationConflict(w, "POST", "/allocations$"),
        pfaults.PlacementLatency(w, "GET", "/usages", 0.5,
                                 Schedule(probability=0.5, seed=7)),
        pfaults.PlacementDisconnect(w, "DELETE", "/allocations/"),
        dfaults.DriverRaises(w, "src"),
        dfaults.BogusInventory(w, "dst", memory_mb=1),
        dfaults.MonitorRaises(w, "src"),
        dfaults.MonitorBogus(w, "src"),
        dfaults.ClockSkew(w, 60),
    ]
    for f in faults:
        text = f.describe()
        assert text and "\n" not in text, f
        assert repr(f).startswith("<%s " % type(f).__name__)
    assert "PUT /allocations/: answer 502, every 3th" in faults[8].describe()
    assert "p=0.500 seed=7" in faults[10].describe()
