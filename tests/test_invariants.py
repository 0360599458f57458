"""Every invariant catches a hand-built bad state and passes a good one.

No Nova here: a :class:`~harness.oracle.ledger.Ledger` is filled by hand and a
:class:`~harness.oracle.snapshot.Snapshot` that agrees with it is derived from it;
each test then breaks one thing and shows the right invariant names it.
"""
from __future__ import annotations

import copy
import logging
import math

import pytest

from harness.oracle import invariants as inv
from harness.oracle.ledger import FlavorSpec, Ledger
from harness.oracle.snapshot import NodeView, Snapshot
from harness.world.deployment import AuditResult, Reserved

RATIOS = {"cpu": 4.0, "ram": 1.0, "disk": 1.0}
NODES = ("src", "dst")


def make_ledger(move: bool = True) -> Ledger:
    ledger = Ledger(reserved=Reserved(cpus=0, memory_mb=512, disk_mb=0))
    for name in NODES:
        ledger.add_node(name, vcpus=16, memory_mb=32768, local_gb=400,
                        ratios=RATIOS)
    ledger.add_flavor(FlavorSpec("small", 1, 512, 10, 0, 0))
    ledger.add_flavor(FlavorSpec("big", 2, 1024, 20, 0, 0))
    ledger.boot("vm1", "uuid-vm1", "small", "src")
    ledger.boot("vm2", "uuid-vm2", "small", "dst")
    if move:
        ledger.start_move("vm1", "resize", "src", "dst", "big", "uuid-mig1",
                          "pre-migrating")
        ledger.set_move_status("vm1", "finished")
    return ledger


def node_row(ledger: Ledger, node: str) -> dict:
    spec = ledger.nodes[node]
    use = ledger.expected_usage(node)
    return {"vcpus": spec.vcpus, "memory_mb": spec.memory_mb,
            "local_gb": spec.local_gb, "vcpus_used": use.vcpus_used,
            "memory_mb_used": use.memory_mb_used,
            "local_gb_used": use.local_gb_used,
            "free_ram_mb": spec.memory_mb - use.memory_mb_used,
            "free_disk_gb": spec.local_gb - use.local_gb_used,
            "running_vms": use.running_vms}


def good_snapshot(ledger: Ledger) -> Snapshot:
    """A snapshot in which every accounting record agrees with ``ledger``."""
    nodes, providers, inventories, usages = {}, {}, {}, {}
    for i, node in enumerate(ledger.nodes):
        row = node_row(ledger, node)
        nodes[node] = NodeView(tracker=dict(row), db=dict(row),
                               db_updated_at="2026-01-01 00:00:00")
        providers[node] = {"uuid": "rp-%s" % node, "generation": i + 1,
                           "parent": None}
        inventories[node] = {
            rc: dict(want, min_unit=1, max_unit=want["total"], step_size=1)
            for rc, want in ledger.expected_inventory(node).items()}
        usages[node] = dict({"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0},
                            **ledger.expected_placement_usage(node))
    allocations = copy.deepcopy(ledger.expected_allocations())
    return Snapshot(nodes, providers, inventories, usages, allocations,
                    "hand-built")


def names(violations):
    return sorted({v.invariant for v in violations})


@pytest.fixture
def ledger():
    return make_ledger()


@pytest.fixture
def snap(ledger):
    return good_snapshot(ledger)


# -- the known-good state ---------------------------------------------------
def test_good_state_has_no_violation(ledger, snap):
    assert inv.check_all(snap, ledger) == []
    audits = [AuditResult(h, "tracker", None) for h in NODES]
    assert inv.audit_completed(audits, snap) == []
    assert inv.service_logged_errors([]) == []


def test_good_state_without_move_has_no_violation():
    ledger = make_ledger(move=False)
    assert inv.check_all(good_snapshot(ledger), ledger) == []


def test_good_state_is_what_the_ledger_says(ledger, snap):
    # Guard against a vacuous good state: the move is really in it.
    assert snap.allocations["uuid-mig1"] == {"src": {
        "VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 10}}
    assert snap.nodes["dst"].tracker["vcpus_used"] == 1 + 2


# -- usage_matches_ledger ---------------------------------------------------
@pytest.mark.parametrize("where", ["tracker", "db"])
@pytest.mark.parametrize("key", inv.USAGE_KEYS)
def test_usage_mismatch_is_caught(ledger, snap, where, key):
    getattr(snap.nodes["src"], where)[key] += 1
    out = inv.usage_matches_ledger(snap, ledger)
    assert len(out) == 1
    v = out[0]
    assert v.invariant == "usage_matches_ledger"
    assert v.subject == "%s src %s" % (where, key)
    assert v.actual == v.expected + 1
    assert "outgoing resize of vm1" in v.detail


def test_missing_compute_node_is_caught(ledger, snap):
    snap.nodes["dst"].db = None
    del snap.nodes["src"]
    out = inv.usage_matches_ledger(snap, ledger)
    subjects = sorted(v.subject for v in out)
    assert subjects == ["db dst", "db src", "tracker src"]
    assert all(v.detail == "no compute node" and v.actual is None
               for v in out)


def test_usage_float_tolerance(ledger, snap):
    snap.nodes["src"].tracker["local_gb_used"] += 1e-12
    assert inv.usage_matches_ledger(snap, ledger) == []
    snap.nodes["src"].tracker["local_gb_used"] += 0.5
    assert names(inv.usage_matches_ledger(snap, ledger)) == [
        "usage_matches_ledger"]


# -- usage_in_bounds ----------------------------------------------------------
@pytest.mark.parametrize("where", ["tracker", "db"])
def test_negative_node_usage_is_caught(snap, where):
    getattr(snap.nodes["dst"], where)["memory_mb_used"] = -512
    out = inv.usage_in_bounds(snap)
    assert [(v.invariant, v.subject, v.actual) for v in out] == [
        ("usage_in_bounds", "%s dst memory_mb_used" % where, -512)]


@pytest.mark.parametrize("free,total", [("free_ram_mb", "memory_mb"),
                                        ("free_disk_gb", "local_gb")])
def test_free_above_total_is_caught(snap, free, total):
    row = snap.nodes["src"].db
    row[free] = row[total] + 1
    out = inv.usage_in_bounds(snap)
    assert len(out) == 1 and out[0].subject == "db src %s" % free
    assert out[0].detail == "free above total"


def test_negative_placement_usage_is_caught(snap):
    snap.usages["src"]["VCPU"] = -1
    out = inv.usage_in_bounds(snap)
    assert [(v.subject, v.actual) for v in out] == [("placement src VCPU",
                                                     -1)]


def test_placement_usage_above_capacity_is_caught(snap):
    inv_rec = snap.inventories["dst"]["MEMORY_MB"]
    cap = (inv_rec["total"] - inv_rec["reserved"]) * inv_rec[
        "allocation_ratio"]
    snap.usages["dst"]["MEMORY_MB"] = cap
    assert inv.usage_in_bounds(snap) == []      # full is allowed
    snap.usages["dst"]["MEMORY_MB"] = cap + 1
    out = inv.usage_in_bounds(snap)
    assert len(out) == 1 and out[0].detail == "usage above capacity"


def test_none_fields_are_not_in_bounds_violations(snap):
    snap.nodes["src"].tracker["free_ram_mb"] = None
    snap.nodes["src"].db["vcpus_used"] = None
    snap.nodes["dst"].db = None
    assert inv.usage_in_bounds(snap) == []


# -- allocations_match_ledger -------------------------------------------------
def test_missing_allocation_is_caught(ledger, snap):
    del snap.allocations["uuid-mig1"]
    out = inv.allocations_match_ledger(snap, ledger)
    assert len(out) == 1
    assert out[0].detail == "missing allocation"
    assert out[0].subject.startswith("migration of vm1 (resize)")


def test_duplicated_allocation_is_caught(ledger, snap):
    snap.allocations["uuid-vm2"]["src"] = {"VCPU": 1}
    out = inv.allocations_match_ledger(snap, ledger)
    assert len(out) == 1
    assert out[0].detail == "duplicated on src"
    assert out[0].actual == ["dst", "src"]


def test_wrong_amounts_are_caught(ledger, snap):
    snap.allocations["uuid-vm1"]["dst"]["MEMORY_MB"] = 512
    out = inv.allocations_match_ledger(snap, ledger)
    assert len(out) == 1
    assert out[0].subject == "instance vm1 on dst"
    assert out[0].detail == "wrong amounts"
    assert out[0].expected["MEMORY_MB"] == 1024


def test_allocation_on_wrong_node_is_caught(ledger, snap):
    # The migration consumer holds on dst instead of src.
    snap.allocations["uuid-mig1"] = {"dst": {"VCPU": 1, "MEMORY_MB": 512,
                                             "DISK_GB": 10}}
    out = inv.allocations_match_ledger(snap, ledger)
    details = sorted(v.detail for v in out)
    assert details == ["duplicated on dst", "missing on node"]


def test_orphaned_allocation_is_caught(ledger, snap):
    snap.allocations["uuid-stranger"] = {"dst": {"VCPU": 4}}
    out = inv.allocations_match_ledger(snap, ledger)
    assert len(out) == 1
    assert out[0].detail == "orphaned allocation"
    assert out[0].expected is None


def test_deleted_instance_allocation_is_orphaned(ledger, snap):
    ledger.delete("vm2")
    out = inv.allocations_match_ledger(snap, ledger)
    assert [(v.subject, v.detail) for v in out] == [
        ("instance vm2 uuid-vm2", "orphaned allocation")]


def test_extra_consumer_is_expected(ledger, snap):
    snap.allocations["uuid-outside"] = {"dst": {"VCPU": 4}}
    ledger.extra_consumers["uuid-outside"] = {"dst": {"VCPU": 4}}
    assert inv.allocations_match_ledger(snap, ledger) == []


# -- placement_usage_matches_ledger -------------------------------------------
def test_placement_usage_mismatch_is_caught(ledger, snap):
    snap.usages["src"]["DISK_GB"] += 10
    out = inv.placement_usage_matches_ledger(snap, ledger)
    assert len(out) == 1
    assert out[0].subject == "placement src"
    # src holds only the migration consumer's old flavor (revert room).
    assert out[0].expected == {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 10}
    assert out[0].actual["DISK_GB"] == 20


def test_placement_usage_missing_provider_is_caught(ledger, snap):
    del snap.usages["dst"]
    out = inv.placement_usage_matches_ledger(snap, ledger)
    assert len(out) == 1 and out[0].actual == {}


def test_placement_zero_usage_is_ignored(ledger, snap):
    snap.usages["src"]["CUSTOM_THING"] = 0
    assert inv.placement_usage_matches_ledger(snap, ledger) == []


# -- inventory_matches_driver -------------------------------------------------
def test_missing_provider_is_caught(ledger, snap):
    del snap.inventories["src"]
    out = inv.inventory_matches_driver(snap, ledger)
    assert [(v.subject, v.detail) for v in out] == [
        ("placement src", "no resource provider")]


def test_missing_inventory_class_is_caught(ledger, snap):
    del snap.inventories["dst"]["DISK_GB"]
    out = inv.inventory_matches_driver(snap, ledger)
    assert [(v.subject, v.detail) for v in out] == [
        ("placement dst DISK_GB", "inventory missing")]


@pytest.mark.parametrize("rc,key,value", [
    ("VCPU", "total", 8), ("MEMORY_MB", "reserved", 0),
    ("DISK_GB", "allocation_ratio", 2.0)])
def test_wrong_inventory_is_caught(ledger, snap, rc, key, value):
    snap.inventories["src"][rc][key] = value
    out = inv.inventory_matches_driver(snap, ledger)
    assert [(v.subject, v.actual) for v in out] == [
        ("placement src %s %s" % (rc, key), value)]


@pytest.mark.parametrize("key", ["vcpus", "memory_mb", "local_gb"])
def test_wrong_db_totals_are_caught(ledger, snap, key):
    snap.nodes["dst"].db[key] = 1
    out = inv.inventory_matches_driver(snap, ledger)
    assert [(v.subject, v.expected, v.actual) for v in out] == [
        ("db dst %s" % key, getattr(ledger.nodes["dst"], key), 1)]


def test_reserved_disk_rounds_up_in_inventory():
    ledger = Ledger(reserved=Reserved(cpus=2, memory_mb=0, disk_mb=1025))
    ledger.add_node("n", 4, 4096, 100, RATIOS)
    snap = good_snapshot(ledger)
    assert snap.inventories["n"]["DISK_GB"]["reserved"] == 2
    assert inv.inventory_matches_driver(snap, ledger) == []
    snap.inventories["n"]["DISK_GB"]["reserved"] = 1  # rounded down: wrong
    assert names(inv.inventory_matches_driver(snap, ledger)) == [
        "inventory_matches_driver"]


# -- audit_completed ----------------------------------------------------------
def test_audit_exception_is_caught():
    audits = [AuditResult("src", "tracker", None),
              AuditResult("dst", "service", ValueError("boom"))]
    out = inv.audit_completed(audits)
    assert len(out) == 1
    assert out[0].invariant == "audit_completed"
    assert out[0].subject == "service audit of dst"
    assert out[0].actual == "ValueError: boom"


def test_stale_db_row_after_audit_is_caught(snap):
    snap.nodes["src"].db["vcpus_used"] = 99
    audits = [AuditResult("src", "tracker", None)]
    out = inv.audit_completed(audits, snap)
    assert [(v.subject, v.expected, v.actual) for v in out] == [
        ("compute_nodes row of src vcpus_used",
         snap.nodes["src"].tracker["vcpus_used"], 99)]
    assert out[0].detail == "row not refreshed with the audited value"


def test_stale_row_of_unaudited_host_is_not_blamed(snap):
    snap.nodes["dst"].db["vcpus_used"] = 99
    assert inv.audit_completed([AuditResult("src", "tracker", None)],
                               snap) == []


def test_audit_with_missing_views_is_tolerated(snap):
    snap.nodes["src"].tracker = None
    audits = [AuditResult("src", "tracker", None),
              AuditResult("ghost", "tracker", None)]
    assert inv.audit_completed(audits, snap) == []


# -- service_logged_errors ----------------------------------------------------
def _record(name, level, msg="Error updating resources for node %s.",
            args=("src",)):
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_service_error_log_is_caught():
    records = [_record("nova.compute.manager", logging.ERROR),
               _record("nova.compute.manager", logging.CRITICAL, "x", ())]
    out = inv.service_logged_errors(records)
    assert len(out) == 2
    assert out[0].invariant == "audit_completed"
    assert out[0].actual == "Error updating resources for node src."
    assert out[0].detail == "exception swallowed by the service"


def test_service_warnings_and_other_loggers_are_ignored():
    records = [_record("nova.compute.manager", logging.WARNING),
               _record("nova.compute.resource_tracker", logging.ERROR),
               _record("nova.compute.managerial", logging.INFO)]
    assert inv.service_logged_errors(records) == []


def test_service_error_message_is_truncated():
    rec = _record("nova.compute.manager", logging.ERROR, "x" * 1000, ())
    assert len(inv.service_logged_errors([rec])[0].actual) == 300


# -- check_all and Violation --------------------------------------------------
def test_check_all_runs_every_accounting_invariant(ledger, snap):
    snap.nodes["src"].tracker["vcpus_used"] = -1       # two invariants
    snap.allocations["uuid-x"] = {"src": {"VCPU": 1}}  # allocations
    snap.usages["dst"]["VCPU"] = 0                     # placement usage
    snap.inventories["dst"]["VCPU"]["total"] = 1       # inventory
    assert names(inv.check_all(snap, ledger)) == sorted(
        f.__name__ for f in inv.ACCOUNTING)


def test_violation_renders_expected_and_actual():
    v = inv.Violation("usage_matches_ledger", "db src vcpus_used", 3, 2,
                      "ledger holds: instance vm1")
    assert str(v) == ("usage_matches_ledger: db src vcpus_used: expected 3,"
                      " got 2 (ledger holds: instance vm1)")
    assert v.as_dict()["expected"] == 3
    assert math.isclose(float(inv._num_equal(1, 1.0)), 1.0)
    assert inv._num_equal("a", "a") and not inv._num_equal("a", "b")
