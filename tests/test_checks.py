"""Self-tests for harness.oracle.checks, Trial.checks / Trial.condition, the
World's node-name option and the assigned-resources fault."""
from __future__ import annotations

import pytest

from harness.oracle import checks
from harness.faults import assigned as asg
from harness.oracle.invariants import Violation
from harness.verdicts.judge import Trial, run_trial
from harness.oracle.snapshot import NodeView, Snapshot

from conftest import SMALL, build_world


def _row_update(world, host, **values):
    from nova.db.main import models
    from harness.faults.records import _main_db
    with _main_db(world) as session:
        session.query(models.ComputeNode).filter_by(
            host=host, deleted=0).update(values, synchronize_session=False)


# -- scheduler view -----------------------------------------------------------
def test_scheduler_view_is_clean_then_catches_impossible_rows(booted):
    w = booted
    assert checks.scheduler_view_possible(w) == []
    _row_update(w, "src", free_ram_mb=10 ** 6, vcpus_used=-3,
                local_gb_used=10 ** 6)
    found = {v.subject[len("scheduler view of src "):]: v
             for v in checks.scheduler_view_possible(w)}
    assert "free_ram_mb" in found and "vcpus_used" in found
    assert "disk_mb_used" in found
    assert all(v.invariant == "scheduler_view_possible"
               for v in found.values())


# -- database -----------------------------------------------------------------
def test_database_intact_notices_a_new_table_and_missing_rows(booted):
    w = booted
    checks.remember_schema(w)
    assert checks.database_intact(w) == []
    from nova.db.main import api as main_db_api
    from sqlalchemy import text
    ctx = w.ctx.elevated()
    with main_db_api.context_manager.writer.using(ctx):
        ctx.session.execute(text("CREATE TABLE harness_probe (x INT)"))
    _row_update(w, "dst", deleted=1)
    found = checks.database_intact(w)
    subjects = {v.subject for v in found}
    assert "main DB schema" in subjects
    assert "live compute_nodes rows" in subjects
    schema = next(v for v in found if v.subject == "main DB schema")
    assert ("table", "harness_probe", "harness_probe") in \
        schema.actual["added"]


# -- node names ---------------------------------------------------------------
def test_world_nodenames_option_names_the_node_not_the_host():
    w = build_world(hosts=("src", "dst"), nodenames={"src": "node 'x'"})
    try:
        assert w.hosts["src"].nodename == "node 'x'"
        assert w.hosts["dst"].nodename == "dst"
        assert w.hosts["src"].compute_node.hypervisor_hostname == "node 'x'"
        w.create_flavor("small", **SMALL)
        w.boot("vm1", "small", "src")
        assert w.instance("vm1").node == "node 'x'"
        snap = w.snapshot()
        # providers are keyed by host, as the ledger is
        assert set(snap.usages) == {"src", "dst"}
        assert snap.nodes["src"].db["vcpus_used"] == 1
        assert checks.node_names_round_trip(w) == []
    finally:
        w.cleanUp()


def test_node_names_round_trip_reports_a_renamed_row(booted):
    w = booted
    _row_update(w, "src", hypervisor_hostname="SRC")
    found = checks.node_names_round_trip(w)
    assert any("by host+node" in v.subject and
               v.detail == "not found by the name the driver reports"
               for v in found)


# -- disk rounding ------------------------------------------------------------
class _Ledger:
    def __init__(self, gb):
        self.nodes = {"src": None}
        self.gb = gb

    def expected_usage(self, node):
        class U:
            local_gb_used = self.gb
        return U()


class _W:
    def __init__(self, gb):
        self.ledger = _Ledger(gb)


def _snap(tracker_gb):
    row = {"local_gb_used": tracker_gb}
    return Snapshot({"src": NodeView(row, dict(row), None)}, {}, {}, {}, {})


@pytest.mark.parametrize("want,got,ok", [
    (10.5, 10, True), (10.5, 11, True), (10.0, 10, True),
    (10.0, 9, False), (5.86, 4, False), (2.0, 1, False)])
def test_disk_usage_within_rounding(want, got, ok):
    found = checks.disk_usage_within_rounding(_W(want), _snap(got))
    assert (found == []) is ok
    if not ok:
        assert {v.subject for v in found} == {"tracker src local_gb_used",
                                              "db src local_gb_used"}


# -- workload steps -----------------------------------------------------------
def test_attempt_records_failures_once():
    w = _W(0)
    w.trace = type("T", (), {"step": lambda *a, **k: None})()
    assert checks.attempt(w, "fine", lambda: None)
    assert not checks.attempt(w, "boom", lambda: 1 / 0)
    assert not checks.attempt_as(w, "other_invariant", "again",
                                 lambda: {}["k"])
    found = checks.workload_steps_completed(w)
    assert [(v.invariant, v.subject) for v in found] == [
        ("workload_completed", "boom"), ("other_invariant", "again")]
    assert "ZeroDivisionError" in found[0].actual
    assert checks.workload_steps_completed(w) == []


# -- Trial.checks and Trial.condition -----------------------------------------
def test_extra_checks_run_at_every_stage_and_condition_has_no_before():
    seen = []

    def check(world, snap):
        seen.append(snap.label)
        return [Violation("probe", "stage %s" % snap.label, 0, 1)]

    obs = run_trial(Trial("t", lambda w: None, checks=(check,),
                          condition="built in from the start",
                          world_kwargs={"hosts": ("src",)},
                          audit_via=("tracker",)))
    assert obs.error is None, obs.error
    assert not obs.control and obs.fault == "built in from the start"
    assert obs.violations["before"] == []
    assert [v.subject for v in obs.violations["under_fault"]] == [
        "stage before fault", "stage under fault"]
    assert [v.subject for v in obs.violations["after_clear"]] == [
        "stage after clear"]


def test_control_runs_extra_checks_before_the_fault():
    obs = run_trial(Trial("c", lambda w: None, checks=(
        lambda world, snap: [],), world_kwargs={"hosts": ("src",)},
        audit_via=("tracker",)))
    assert obs.control and obs.clean


# -- the assigned-resources fault ---------------------------------------------
def test_instance_resources_fault_rewrites_and_restores(booted):
    from nova import objects
    w = booted
    inst = w.instance("vm1")
    inst.resources = objects.ResourceList(objects=[objects.Resource(
        provider_uuid=w.hosts["src"].rp_uuid, resource_class="CUSTOM_X",
        identifier="dev0")])
    inst.save()
    before = asg.assigned(w, "vm1")
    assert [r[2] for r in before] == ["dev0"]
    for kwargs, expect in (
            (dict(mode="absent"), []),
            (dict(mode="empty"), []),
            (dict(mode="identifier", value="dev9"), ["dev9"]),
            (dict(mode="duplicated"), ["dev0", "dev0"])):
        fault = asg.InstanceResources(w, "vm1", **kwargs)
        fault.setUp()
        try:
            assert [r[2] for r in asg.assigned(w, "vm1")] == expect, kwargs
        finally:
            fault.cleanUp()
        assert asg.assigned(w, "vm1") == before
    fault = asg.InstanceResources(w, "vm1", mode="malformed")
    fault.setUp()
    try:
        with pytest.raises(Exception):
            asg.assigned(w, "vm1")
        assert "not JSON" not in fault.describe()
        assert "'{not json'" in fault.describe()
    finally:
        fault.cleanUp()
    assert asg.assigned(w, "vm1") == before
    with pytest.raises(ValueError):
        asg.InstanceResources(w, "vm1", mode="bogus")


def test_row_usage_check_reads_the_row_only(booted):
    """It fails when the compute_nodes row is wrong, and ignores a wrong
    tracker memory."""
    from harness.oracle import checks as chk
    world = booted
    world.audit()
    assert chk.row_usage_matches_ledger(world, world.snapshot("ok")) == []
    cn = world.hosts["src"].rt.compute_nodes["src"]
    cn.vcpus_used = 99                      # memory only
    assert chk.row_usage_matches_ledger(world, world.snapshot("mem")) == []
    cn.save()                               # now the row
    out = chk.row_usage_matches_ledger(world, world.snapshot("row"))
    assert [v.subject for v in out] == ["db src vcpus_used"]


# -- devices, instance statistics, a concurrent phase -------------------------
def test_devices_not_shared_catches_a_device_handed_twice(booted):
    w = booted
    w.boot("vm2", "small", "src")
    w.devices_held = {"vm1": ["ns_0"], "vm2": ["ns_1"]}
    assert checks.devices_not_shared(w) == []
    w.devices_held = {"vm1": ["ns_0"], "vm2": ["ns_0", "ns_1"]}
    found = {v.subject for v in checks.devices_not_shared(w)}
    assert found == {"devices handed to vm2", "device ns_0"}


def test_stats_match_ledger_catches_a_wrong_instance_count(booted):
    import json
    w = booted
    w.audit()
    assert checks.stats_match_ledger(w) == []
    _row_update(w, "src", stats=json.dumps({"num_instances": "3"}))
    found = checks.stats_match_ledger(w)
    assert [(v.subject, v.expected, v.actual) for v in found] == [
        ("stats of src num_instances", 1, 3),
        ("stats of src num_proj_%s" % w.ctx.project_id, 1, 0)]


class _Load:
    def __init__(self, world, **kw):
        self.host = world.hosts["src"]
        self.trait, self.trait_wanted = "CUSTOM_HARNESS_PROBE", None
        self.claim_errors, self.errors, self.audit_errors = [], [], []
        self.__dict__.update(kw)


def test_after_concurrent_phase_reports_what_did_not_complete(booted):
    w = booted
    w.audit()
    snap = w.snapshot("probe")
    assert checks.after_concurrent_phase(w, snap, _Load(w)) == []
    load = _Load(w, claim_errors=[("vm9", "NoRoom: full")],
                 errors=[("builder-0", "ValueError: x")],
                 audit_errors=["RuntimeError: y"])
    found = checks.after_concurrent_phase(w, snap, load)
    assert [(v.invariant, v.subject) for v in found] == [
        ("claim_completed", "vm9"), ("workload_completed", "builder-0"),
        ("concurrent_audit_completed",
         "audit of src during the concurrent phase")]


def test_operator_trait_kept_catches_an_undone_trait(booted):
    w = booted
    assert checks.operator_trait_kept(w) == []     # no concurrent phase
    w.load = _Load(w, trait_wanted=True)
    found = checks.operator_trait_kept(w)
    assert [(v.subject, v.expected, v.actual) for v in found] == [
        ("trait CUSTOM_HARNESS_PROBE on src's provider", "present",
         "absent")]
    w.load.trait_wanted = False
    assert checks.operator_trait_kept(w) == []
