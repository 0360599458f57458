"""The conductor support: invariants that can fail, and faults that reach
Nova's real services.

The invariant tests build known-good and known-bad inputs by hand (no
Nova).  The world tests make moves through the REST API in a small world,
so Nova's own conductor, scheduler and computes carry them out, and check
the harness pieces do what their docstrings say: the real scheduler hands
out ``max_attempts - 1`` alternates and a destination that fails is
rescheduled onto them; each fault reaches Nova as the failure it stands for
(a placement answer behind the middleware, a destination's placement request,
an inventory change, room taken after selection, a bad record); the bus
observations the trials read are what was delivered; the sharing provider
gets the instances' disk; canaries are planted, the token reaches the
services' contexts, and the log scan finds a secret that is logged.
"""
from __future__ import annotations

import logging
import time

import pytest

from harness.faults import conductor as cf
from harness.faults import placement as pf
from harness.oracle import conductor_invariants as ci
from harness.oracle.conductor_checks import (
    ShareAwareLedger, consumer_allocations, scan_capture)
from harness.verdicts import conductor as vc
from harness.verdicts import conductor_workloads as cw
from harness.verdicts.judge import run_trial
from harness.world import conductor as wc
from harness.world.deployment import Inventory, World
from harness.world.placement import Schedule

INST, MIG = "uuid-inst", "uuid-mig"
SRC_ALLOC = {"src": {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 10}}
DST_ALLOC = {"dst": {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 10}}
BEFORE = {INST: SRC_ALLOC, MIG: {}}
AFTER = {INST: {}, MIG: SRC_ALLOC}
STATES = {"before": BEFORE, "after": AFTER}


def names(violations):
    return sorted({v.invariant for v in violations})


# ----------------------------------------------------------------------
# invariants (pure)
# ----------------------------------------------------------------------
class TestBeforeOrAfter:
    def test_before_and_after_pass(self):
        assert ci.allocations_before_or_after(BEFORE, STATES) == []
        assert ci.allocations_before_or_after(AFTER, STATES) == []

    def test_lost_allocation_caught(self):
        out = ci.allocations_before_or_after({INST: {}, MIG: {}}, STATES)
        # the instance's {} is its "after"; the migration's {} its
        # "before": each is allowed alone, together a mixture
        assert names(out) == ["allocations_before_or_after"]
        assert "mixture" in out[0].detail

    def test_foreign_allocation_caught(self):
        out = ci.allocations_before_or_after(
            {INST: DST_ALLOC, MIG: {}}, STATES, {INST: "instance vm1"})
        assert names(out) == ["allocations_before_or_after"]
        assert "neither" in out[0].detail
        assert "instance vm1" in out[0].subject

    def test_both_hold_is_a_mixture(self):
        out = ci.allocations_before_or_after(
            {INST: SRC_ALLOC, MIG: SRC_ALLOC}, STATES)
        assert [v.detail.startswith("mixture") for v in out] == [True]

    def test_missing_consumer_reads_as_empty(self):
        assert ci.allocations_before_or_after({INST: SRC_ALLOC},
                                              STATES) == []
        assert ci.classify({INST: SRC_ALLOC}, STATES) == "before"
        assert ci.classify({INST: {}, MIG: {}}, STATES) == "mixed"


class TestInstancesHoldAllocations:
    def test_holding_passes(self):
        assert ci.instances_hold_allocations(BEFORE, {INST: "vm1"}) == []

    def test_covered_by_active_migration_passes(self):
        assert ci.instances_hold_allocations(AFTER, {INST: "vm1"},
                                             {INST: MIG}) == []

    def test_empty_instance_caught(self):
        out = ci.instances_hold_allocations(AFTER, {INST: "vm1"})
        assert names(out) == ["instances_hold_allocations"]

    def test_cover_that_holds_nothing_caught(self):
        out = ci.instances_hold_allocations({INST: {}, MIG: {}},
                                            {INST: "vm1"}, {INST: MIG})
        assert names(out) == ["instances_hold_allocations"]
        assert "holds nothing either" in out[0].detail


class TestErroredMigrations:
    def test_errored_holding_caught(self):
        out = ci.errored_migrations_hold_nothing(
            AFTER, {MIG: ("migration of vm1", "error")})
        assert names(out) == ["errored_migrations_hold_nothing"]

    def test_errored_empty_and_active_holding_pass(self):
        assert ci.errored_migrations_hold_nothing(
            BEFORE, {MIG: ("m", "error")}) == []
        assert ci.errored_migrations_hold_nothing(
            AFTER, {MIG: ("m", "pre-migrating")}) == []


class TestFailureReported:
    def test_truthful_outcomes_pass(self):
        assert ci.failure_reported("after", ["after"], False) == []
        assert ci.failure_reported("before", ["after"], True) == []

    def test_silent_failure_caught(self):
        out = ci.failure_reported("before", ["after"], False, "returned")
        assert names(out) == ["failure_reported"]
        assert "silent" in out[0].detail

    def test_spurious_failure_caught(self):
        out = ci.failure_reported("after", ["after"], True, "raised X")
        assert "though the change was made" in out[0].detail

    def test_mixed_unreported_caught(self):
        assert ci.failure_reported("mixed", ["after"], False)


class TestBounds:
    def test_within_bounds_pass(self):
        assert ci.attempts_bounded({"a": 3}, {"a": 3}) == []

    def test_above_bound_caught(self):
        out = ci.attempts_bounded({"a": 4, "b": 1}, {"a": 3, "b": 2})
        assert [v.subject for v in out] == ["a"]

    def test_one_destination(self):
        nodes = ("dst", "alt")
        assert ci.one_destination_at_a_time(
            [DST_ALLOC, {"alt": {"VCPU": 1}, "shared": {"DISK_GB": 1}}],
            nodes) == []
        out = ci.one_destination_at_a_time(
            [dict(DST_ALLOC, alt={"VCPU": 1})], nodes)
        assert names(out) == ["one_destination_at_a_time"]


class TestSharing:
    def test_usage_once_passes(self):
        assert ci.sharing_usage_matches_instances(
            {"shared": 20}, {"shared": (20, "vm1 + vm2")}) == []

    def test_usage_twice_caught(self):
        out = ci.sharing_usage_matches_instances(
            {"shared": 30}, {"shared": (20, "vm1 + vm2")})
        assert names(out) == ["sharing_usage_matches_instances"]
        assert out[0].detail.startswith("held twice")

    def test_refusal_for_held_disk_caught(self):
        out = ci.move_not_refused_for_held_disk(
            True, {"VCPU": 8, "MEMORY_MB": 4096},
            {"VCPU": 1, "MEMORY_MB": 512}, shared_free=5, disk=10)
        assert names(out) == ["move_not_refused_for_held_disk"]

    def test_refusals_with_a_reason_pass(self):
        need = {"VCPU": 1, "MEMORY_MB": 512}
        # not refused; destination full; shared provider has room anyway
        assert ci.move_not_refused_for_held_disk(
            False, {"VCPU": 8, "MEMORY_MB": 4096}, need, 0, 10) == []
        assert ci.move_not_refused_for_held_disk(
            True, {"VCPU": 0, "MEMORY_MB": 4096}, need, 0, 10) == []
        assert ci.move_not_refused_for_held_disk(
            True, {"VCPU": 8, "MEMORY_MB": 4096}, need, 50, 10) == []


class TestLogScans:
    SECRET = {"placement.password": "cAnArY-x-1"}

    def test_secret_caught_anywhere(self):
        lines = [("DEBUG", "a", "nothing here"),
                 ("INFO", "b", "auth with cAnArY-x-1 ok")]
        out = ci.secrets_absent(lines, self.SECRET)
        assert [v.subject for v in out] == ["INFO b"]

    def test_clean_lines_pass(self):
        assert ci.secrets_absent([("INFO", "b", "fine")], self.SECRET) == []

    @pytest.mark.parametrize("text", [
        "connecting with password=hunter22",
        "url mysql+pymysql://nova:s3cret@db/nova",
        "headers {'X-Auth-Token': 'gAAAAABkTOKEN123'}",
    ])
    def test_credential_shapes_caught(self, text):
        assert ci.credentials_absent([("DEBUG", "x", text)])

    @pytest.mark.parametrize("text", [
        "password=***", "mysql+pymysql://nova:***@db/nova",
        "X-Auth-Token: {SHA256}abcdef0123456789", "no credentials",
        "http://placement.example/allocations/abc",
    ])
    def test_masked_or_absent_credentials_pass(self, text):
        assert ci.credentials_absent([("DEBUG", "x", text)]) == []

    def test_error_names_host_caught_only_as_a_word(self):
        ids = {"host": ["src-cmp-01"], "node": ["src-cmp-01"]}
        lines = [
            (40, "ERROR", "nova.conductor.tasks.migrate",
             "Unable to replace claim on host src-cmp-01 node src-cmp-01"),
            (40, "ERROR", "nova.conductor.tasks.migrate",
             "no host here: xsrc-cmp-012"),
            (30, "WARNING", "nova.conductor.tasks.migrate", "src-cmp-01"),
            (40, "ERROR", "nova.compute.manager", "src-cmp-01"),
        ]
        out = ci.error_logs_name_hosts(lines, ids,
                                       ("nova.conductor.tasks.migrate",))
        assert len(out) == 1
        assert out[0].actual == ["host src-cmp-01", "node src-cmp-01"]
        inv = ci.identifier_inventory(lines, ids)
        assert inv["ERROR nova.compute.manager"] == {"host": 1, "node": 1}
        assert "ERROR nova.conductor.tasks.migrate" in inv

    def test_decoys_never_match(self):
        assert ci.secrets_absent([("INFO", "b", "cAnArY-x-1")],
                                 {"decoy": "dEcOy-0-never-planted"}) == []


# ----------------------------------------------------------------------
# pieces that need no Nova
# ----------------------------------------------------------------------
def test_positions_group_calls_by_route():
    calls = [(1, "GET", "/allocations/%s" % ("a" * 36), 200, None),
             (2, "GET", "/allocations/%s" % ("b" * 36), 200, None),
             (3, "POST", "/allocations", 204, None),
             (4, "GET", "/allocation_candidates?limit=1", 200, None),
             (5, "GET", "/traits?name=in:X", 200, None)]
    pos = cw.positions(calls)
    assert [(m, label, k) for m, _r, label, k in pos] == [
        ("GET", "GET /allocations/{consumer}", 1),
        ("GET", "GET /allocations/{consumer}", 2),
        ("POST", "POST /allocations", 1),
        ("GET", "GET /allocation_candidates", 1),
        ("GET", "GET /traits", 1)]
    import re
    assert re.search(pos[4][1], "/traits?name=in:Y")


def test_share_aware_ledger_moves_disk_to_the_sharing_provider():
    from harness.oracle.ledger import FlavorSpec
    from harness.world.deployment import Reserved
    ledger = ShareAwareLedger(Reserved())
    ledger.add_flavor(FlavorSpec("small", 1, 512, 10, 0, 0))
    ledger.boot("vm1", "u1", "small", "src")
    ledger.boot("vm2", "u2", "small", "src")
    ledger.shared_disk["vm1"] = "share"
    ledger.start_move("vm1", "migration", "src", "dst", "small", "m1",
                      "pre-migrating")
    allocs = ledger.expected_allocations()
    assert allocs["u1"] == {"dst": {"VCPU": 1, "MEMORY_MB": 512},
                            "share": {"DISK_GB": 10}}
    assert allocs["m1"] == {"src": {"VCPU": 1, "MEMORY_MB": 512},
                            "share": {"DISK_GB": 10}}
    assert allocs["u2"]["src"]["DISK_GB"] == 10


def test_canary_secrets_are_the_planted_values():
    secrets = wc.canary_secrets()
    assert secrets["database.connection"] in \
        wc.LATE_CANARIES["database.connection"]
    assert secrets["context.auth_token"] == wc.CANARY_TOKEN
    assert len(set(secrets.values())) == len(secrets)


def test_shape_variants_cover_the_swap_and_the_rollback():
    """The discovered fault space: every answer at the swap's calls (up to
    its POST) of a resize, the first call of each later route; for the
    migration with no valid host, the calls after the swap only."""
    calls = [(1, "GET", "/allocations/%s" % ("a" * 36), 200, None),
             (2, "GET", "/allocations/%s" % ("a" * 36), 200, None),
             (3, "POST", "/allocations", 204, None),
             (4, "GET", "/allocation_candidates?x", 200, None),
             (5, "GET", "/allocations/%s" % ("a" * 36), 200, None),
             (6, "PUT", "/allocations/%s" % ("a" * 36), 204, None),
             (7, "POST", "/allocations", 204, None)]

    class Control:
        pass
    control = Control()
    control.calls = calls
    resize = cw.shape_variants(cw.shapes()["resize"], control)
    assert "GET /allocations/{consumer} #2: disconnect" in resize
    assert "POST /allocations #1: 409 limits" in resize
    assert "GET /allocations/{consumer} #3: 500" not in resize
    assert "PUT /allocations/{consumer} #1: lost response" in resize
    assert "POST /allocations #2: lost response" in resize
    assert "POST /allocations #2: racing writer" not in resize
    assert "source node record missing" in resize
    rollback = cw.shape_variants(cw.shapes()["migration, no valid host"],
                                 control)
    assert not any("#1" in v and "POST" in v for v in rollback)
    assert "GET /allocations/{consumer} #3: 500" in rollback
    assert "POST /allocations #2: 409 limits" in rollback


# ----------------------------------------------------------------------
# with a world: moves through the API
# ----------------------------------------------------------------------
HOSTS3 = (cw.SRC, cw.DST, cw.ALTS[0])


@pytest.fixture
def conductor_world():
    """Three hosts, max_attempts=2 (one alternate), vm1 on the source; the
    bus watched and the back-off clock virtual, as a conductor trial has
    them."""
    wc.register_canary_options()
    w = World(hosts=HOSTS3, config={"scheduler.max_attempts": 2})
    w.setUp()
    try:
        w.move_watch = w.useFixture(wc.MoveWatch(w))
        w.backoff_clock = w.useFixture(wc.BackoffClock())
        cw.population(w)
        w.move_watch.begin()
        yield w
    finally:
        w.cleanUp()


def _held(w, name="vm1"):
    uuid = w.instances[name].uuid
    return consumer_allocations(w, [uuid])[uuid]


def test_control_resize_is_clean_and_lands_where_the_scheduler_chose():
    obs = run_trial(cw.trial(cw.shapes()["resize"], "resize [control]"))
    assert obs.error is None, obs.error
    assert obs.clean, obs.violations
    assert obs.detail.achieved == "after on %s" % cw.DST
    assert [(a["host"], a["outcome"]) for a in obs.detail.attempts] == [
        (cw.DST, "claimed")]
    # the real scheduler chose, with the source as the resize's alternate
    calls = [s for s in obs.detail.scheduler if s["selected"]]
    assert calls[-1]["selected"] == cw.DST
    assert calls[-1]["alternates"] == [cw.SRC]
    assert obs.detail.result["caller_saw"].startswith(
        "the conductor raised nothing")
    events = [e for e, r, _d in obs.detail.result["events"] if r == "Success"]
    assert "cold_migrate" in events and "compute_prep_resize" in events
    # the canaries were planted and every record kept
    assert obs.detail.lines
    assert obs.detail.identifiers["host"] == sorted(cw.TWO_HOSTS["hosts"])


def test_the_request_runs_through_nova_services(conductor_world):
    """request_move enters at the API; the bus then carries the API's cast
    to the conductor, the conductor's call to the scheduler, the
    prep_resize cast to the destination, which casts resize_instance to
    the source: held, so the move stands at pre-migrating, the ledger
    knows it and the move goes on with moves.advance."""
    w = conductor_world
    result = wc.request_move(w, "vm1", prefer=(cw.DST,))
    assert not result.raised and result.migration_status == "pre-migrating"
    assert result.dest == cw.DST
    sent = [(m.method, m.server) for what, m in w.bus.log
            if what == "sent" and m.seq >= w.move_watch.since]
    assert sent[:4] == [("migrate_server", None),
                        ("select_destinations", None),
                        ("prep_resize", cw.DST),
                        ("resize_instance", cw.SRC)]
    # the conductor's cast came from the API (no parent); the scheduler
    # call from the conductor's delivery
    first = w.bus.sent("migrate_server")[-1]
    assert first.parent is None
    assert w.bus.sent("select_destinations")[-1].parent is first
    assert [m.method for m in w.bus.held] == ["resize_instance"]
    move = w.ledger.moves["vm1"]
    assert (move.source, move.dest, move.status) == (
        cw.SRC, cw.DST, "pre-migrating")
    # the destination claimed: the instance holds it, the migration the
    # source
    assert list(_held(w)) == [cw.DST]
    assert wc.finish_move(w, "vm1") == "finished"
    w.confirm("vm1")
    w.audit()
    from harness.oracle import invariants as inv
    assert inv.check_all(w.snapshot("confirmed"), w.ledger) == []


def test_scheduler_alternates_follow_max_attempts_and_refusal_reschedules(
        conductor_world):
    """max_attempts=2: the real scheduler hands out one alternate; the
    destination whose claim cannot report to placement reverts and asks
    the conductor to reschedule there, where the move is claimed."""
    w = conductor_world
    refused = cf.DestinationRefuses(w, (cw.DST,))
    assert refused.authority_class() == "infrastructure"
    refused.setUp()
    try:
        result = wc.request_move(w, "vm1", prefer=(cw.DST, cw.ALTS[0]))
    finally:
        refused.cleanUp()
    assert not result.raised, result
    call = [s for s in w.move_watch.scheduler_calls() if s.selected][0]
    assert call.selected == cw.DST and call.alternates == [cw.ALTS[0]]
    assert refused.refused == [cw.DST]
    uuid = w.instances["vm1"].uuid
    attempts = w.move_watch.attempts(uuid)
    assert [(a.host, a.outcome) for a in attempts] == [
        (cw.DST, "rescheduled"), (cw.ALTS[0], "claimed")]
    assert [a.retry["num_attempts"] for a in attempts] == [1, 1]
    assert w.move_watch.reschedules(uuid) == [[cw.ALTS[0]]]
    assert list(_held(w)) == [cw.ALTS[0]]
    # the refused read is in the middleware's log with the fault's name
    fired = [c for c in w.placement.calls if c.fault == refused.describe()]
    assert len(fired) == 1 and fired[0].status == 500
    assert fired[0].path == "/resource_providers/%s/allocations" % (
        w.hosts[cw.DST].rp_uuid)


def test_without_alternates_the_refused_destination_is_not_rescheduled():
    """max_attempts=1: the scheduler hands out no alternate, so the
    destination that gives the move up is not rescheduled: one attempt,
    the migration in error, the instance back on its source allocation."""
    wc.register_canary_options()
    w = World(hosts=HOSTS3, config={"scheduler.max_attempts": 1})
    w.setUp()
    try:
        w.move_watch = w.useFixture(wc.MoveWatch(w))
        cw.population(w)
        w.move_watch.begin()
        with cf.DestinationRefuses(w, (cw.DST, cw.ALTS[0])):
            result = wc.request_move(w, "vm1", prefer=(cw.DST, cw.ALTS[0]))
        uuid = w.instances["vm1"].uuid
        assert [(a.host, a.outcome, a.alternates)
                for a in w.move_watch.attempts(uuid)] == [
            (cw.DST, "failed", [])]
        assert result.migration_status == "error"
        assert list(_held(w)) == [cw.SRC]
    finally:
        w.cleanUp()


@pytest.mark.parametrize("action,error", [
    ("timeout", "ConnectTimeout"),
    ("racing_write", "AllocationMoveFailed"),
    ("lost_response", "NoValidHost"),
])
def test_inner_faults_reach_the_conductor_as_they_claim(conductor_world,
                                                        action, error):
    """At the swap's POST /allocations of a resize: a read timeout, a
    racing writer (a real consumer-generation conflict) and a response
    lost after placement committed each end the MigrationTask as Nova
    handles that failure."""
    w = conductor_world
    fault = cf.InnerFault(w, "POST", r"^/allocations$", action,
                          Schedule(calls=(1,)))
    fault.setUp()
    try:
        result = wc.request_move(w, "vm1", "medium", prefer=(cw.DST,))
    finally:
        fault.cleanUp()
    assert result.error_type == error
    assert result.migration_status == "error"
    assert len(fault.fired_calls) == 1
    logged = [x for x in w.placement.calls if x.n == fault.fired_calls[0]]
    assert logged[0].fault == fault.describe()
    inst = w.instances["vm1"].uuid
    held = consumer_allocations(w, [inst, result.migration_uuid])
    if action == "lost_response":   # placement committed the move
        assert held[inst] == {} and held[result.migration_uuid]
    else:                           # nothing moved
        assert held[inst] and held[result.migration_uuid] == {}


def test_faults_behind_the_middleware_leave_the_harness_reads_alone(
        conductor_world):
    """The harness's own reads go straight to the app behind the middleware
    (never logged): a fault there neither counts nor answers them; Nova's
    next request is the one it fires on."""
    w = conductor_world
    uuid = w.instances["vm1"].uuid
    with cf.InnerFault(w, "GET", ROUTE, "timeout",
                       Schedule(calls=(1,))) as fault:
        for _ in range(3):
            assert w.placement.read("/allocations/%s" % uuid)["allocations"]
        assert fault.matched == 0
        from keystoneauth1 import exceptions as ks_exc
        with pytest.raises(ks_exc.ConnectTimeout):
            w.hosts[cw.SRC].reportclient.get_allocs_for_consumer(w.ctx, uuid)
    assert fault.matched == 1 and len(fault.fired_calls) == 1


def test_sharing_provider_takes_the_disk():
    w = World(hosts=(cw.SRC, cw.DST), inventory=Inventory(local_gb=5))
    w.ledger = ShareAwareLedger(w.reserved)
    w.setUp()
    try:
        w.create_flavor("small", **cw.SMALL)
        uuid = wc.add_sharing_provider(w, "shared", 50)
        w.ledger.shared_disk["vm1"] = "shared"
        w.boot("vm1", "small", cw.SRC)
        from harness.oracle import invariants as inv
        snap = w.snapshot()
        assert snap.usages["shared"]["DISK_GB"] == 10
        assert inv.check_all(snap, w.ledger) == []
        traits = w.placement.read("/resource_providers/%s/traits" % uuid)
        assert "MISC_SHARES_VIA_AGGREGATE" in traits["traits"]
    finally:
        w.cleanUp()


def test_scan_capture_keeps_formatted_text_and_finds_a_logged_secret():
    cap = scan_capture()
    cap.setUp()
    try:
        logging.getLogger("nova.test.harness").warning(
            "oops %s", wc.CANARIES["placement.password"])
        try:
            raise ValueError("inner " + wc.CANARY_TOKEN)
        except ValueError:
            logging.getLogger("nova.test.harness").exception("failed")
    finally:
        cap.cleanUp()
    lines = [(ln, lg, t) for _lv, ln, lg, t in cap.handler.lines]
    out = ci.secrets_absent(lines, wc.canary_secrets())
    assert sorted(v.actual for v in out) == [
        "secret of context.auth_token", "secret of placement.password"]


def test_the_canary_token_reaches_every_service_context(conductor_world):
    """plant_token: the API's request context carries the canary token, so
    every message the request leads to carries it to the conductor, the
    scheduler and the computes."""
    w = conductor_world
    wc.plant_token(w)
    wc.request_move(w, "vm1", prefer=(cw.DST,))
    msgs = [m for what, m in w.bus.log
            if what == "sent" and m.seq >= w.move_watch.since]
    assert msgs and all(m.ctxt.get("auth_token") == wc.CANARY_TOKEN
                        for m in msgs)


def test_backoff_is_recorded_not_slept(conductor_world):
    """Persistent generation conflicts on the scheduler's claims: the
    report client retries each four times, its back-off on the virtual
    clock (recorded, not waited)."""
    w = conductor_world
    started = time.monotonic()
    with pf.GenerationConflict(w, "PUT", r"^/allocations/[0-9a-f-]{36}$",
                               Schedule(first=50)):
        result = wc.request_move(w, "vm1", prefer=(cw.DST,))
    elapsed = time.monotonic() - started
    assert result.error_type == "NoValidHost"
    from nova.scheduler.client import report
    assert report.time.sleep == w.backoff_clock.slept.append
    assert len(w.backoff_clock.slept) >= 4
    slept = sum(w.backoff_clock.slept)
    assert slept < 1 or elapsed < slept, (elapsed, slept)


def test_bus_observations_change_nothing_and_see_failures(conductor_world):
    """What the trials read off the bus: the delivery a thread is inside
    (none outside deliveries), what a server raised (the scheduler's
    NoValidHost and the conductor's), and watchers that can be stopped."""
    w = conductor_world
    seen = []
    stop = w.bus.watch(lambda event, msg: seen.append(
        (event, msg.method, w.bus.delivering() and
         w.bus.delivering().method)))
    wc.disable_compute(w, cw.DST)
    wc.disable_compute(w, cw.ALTS[0])
    result = wc.request_move(w, "vm1", prefer=(cw.DST,))
    stop()
    assert w.bus.delivering() is None
    assert result.cause == "NoValidHost"
    assert result.error_type == "NoValidHost"
    assert [m.method for m, _f in w.bus.raised()][-2:] == [
        "select_destinations", "migrate_server"]
    # the scheduler's delivery began inside the conductor's
    assert ("delivered", "select_destinations", "migrate_server") in seen
    n = len(seen)
    wc.request_move(w, "vm1", prefer=(cw.DST,))
    assert len(seen) == n


# ----------------------------------------------------------------------
# a conductor trial is a Trial of the one runner: it observes what any
# trial observes
# ----------------------------------------------------------------------
ROLLBACK = cw.shapes()["migration, no valid host"]
ROUTE = r"^/allocations/[0-9a-f-]{36}$"


def _rollback_trial(name, fault):
    return cw.trial(ROLLBACK, "migration, no valid host / " + name, fault)


def test_conductor_observation_carries_authority_paths_and_replay():
    """The fault's class and reach, the traced mechanisms (the revert's
    log-only failure branch ran inside the rollback), and a replay under
    a what-if that really runs the patched helper: the same fault now
    raises out of the rollback."""
    from harness.verdicts.counterfactual import WHAT_IFS
    obs = run_trial(_rollback_trial(
        "POST /allocations #2: 500",
        lambda w: pf.PlacementError(w, "POST", r"^/allocations$", 500,
                                    Schedule(calls=(2,)))))
    assert obs.error is None, obs.error
    assert obs.authority == "infrastructure"
    assert obs.reach == "an infrastructure fault"
    assert obs.paths["revert-failure-logged"] >= 1
    assert obs.paths["rollback-revert"] >= 1
    # the helper only logged: the conductor raised the scheduler's error
    assert obs.detail.result["error_type"] == "NoValidHost"
    assert obs.detail.achieved == "swapped"
    assert "failure_reported" in names(obs.violations["under_fault"])
    assert obs.whatif is None and obs.rep == 0
    replayed = obs.replay(WHAT_IFS["revert-failure-raised"])
    assert replayed.error is None, replayed.error
    assert replayed.whatif == "revert-failure-raised"
    assert replayed.trial.endswith("[counterfactual: revert-failure-raised]")
    assert replayed.detail.result["error_type"] == "AllocationMoveFailed"
    assert "harness counterfactual" in replayed.detail.result["error"]
    assert "failure_reported" not in names(
        replayed.violations["under_fault"])
    # the patched copy ran, not Nova's own code object
    assert replayed.paths["revert-failure-logged"] == 0


def test_conductor_control_is_traced_nowhere_and_has_no_authority():
    obs = run_trial(cw.trial(ROLLBACK, "migration, no valid host [control]"))
    assert obs.error is None, obs.error
    assert obs.clean, obs.violations
    assert obs.detail.achieved == "reverted"
    assert obs.authority is None and obs.reach is None
    # the tracer only runs while a fault is in place
    assert not any(obs.paths.values())


class TestErrorLogsRevealNothingNew:
    IDS = {"host": ["src-cmp-01"], "node": ["src-cmp-01"]}
    ERROR = (40, "ERROR", "nova.conductor.tasks.migrate",
             "Unable to replace resource claim on source host src-cmp-01 "
             "node src-cmp-01 for instance")

    def test_name_only_error_lines_carry_is_caught(self):
        lines = [self.ERROR,
                 (10, "DEBUG", "placement.requestlog", "src-cmp-01 seen"),
                 (30, "WARNING", "nova.compute", "src-cmp-01 warned")]
        out = ci.error_logs_reveal_nothing_new(
            lines, self.IDS, ("nova.conductor.tasks.migrate",))
        assert names(out) == ["error_logs_reveal_nothing_new"]
        assert out[0].actual == ["host src-cmp-01", "node src-cmp-01"]
        assert "{'src-cmp-01': 0}" in out[0].detail

    def test_name_ordinary_lines_show_passes_and_is_counted(self):
        lines = [self.ERROR,
                 (20, "INFO", "nova.compute.resource_tracker",
                  "Compute node record created for src-cmp-01:src-cmp-01"),
                 (10, "DEBUG", "nova.compute.manager",
                  "xsrc-cmp-01 is not a word match")]
        assert ci.error_logs_reveal_nothing_new(
            lines, self.IDS, ("nova.conductor.tasks.migrate",)) == []
        assert ci.ordinary_lines_naming(lines, ["src-cmp-01"]) == {
            "src-cmp-01": 1}


class TestCauseReported:
    def test_same_cause_and_no_cause_pass(self):
        assert ci.cause_reported("NoValidHost", "NoValidHost") == []
        assert ci.cause_reported(None, "AllocationMoveFailed") == []

    def test_replaced_cause_caught(self):
        out = ci.cause_reported("NoValidHost",
                                "ConsumerAllocationRetrievalFailed",
                                recorded="Failed to retrieve allocations")
        assert names(out) == ["cause_reported"]
        assert "replaced" in out[0].detail and "retrieve" in out[0].detail

    def test_swallowed_cause_caught(self):
        assert names(ci.cause_reported("NoValidHost", None)) == [
            "cause_reported"]


# ----------------------------------------------------------------------
# the findings' faults and what-ifs reach Nova
# ----------------------------------------------------------------------
def test_rollback_error_replaces_novalidhost_and_what_if_restores_it():
    """F-05's trigger and what-if: a 500 on the rollback's first read of a
    consumer (the 4th GET /allocations: the swap made three) makes the
    conductor raise ConsumerAllocationRetrievalFailed, which the server's
    action shows (the cause check catches it); under
    rollback-errors-contained the same trial shows NoValidHost again and
    the check passes."""
    from harness.verdicts.counterfactual import WHAT_IFS
    obs = run_trial(_rollback_trial(
        "GET /allocations/{consumer} #4: 500",
        lambda w: pf.PlacementError(w, "GET", ROUTE, 500,
                                    Schedule(calls=(4,)))))
    assert obs.error is None, obs.error
    result = obs.detail.result
    assert result["error_type"] == "ConsumerAllocationRetrievalFailed"
    assert result["cause"] == "NoValidHost"
    assert any(r == "Error" and "Failed to retrieve allocations" in (d or "")
               for _e, r, d in result["events"])
    assert "cause_reported" in names(obs.violations["under_fault"])
    assert obs.paths["rollback-revert"] >= 1
    again = obs.replay(WHAT_IFS["rollback-errors-contained"])
    assert again.error is None, again.error
    assert again.detail.result["error_type"] == "NoValidHost"
    assert "cause_reported" not in names(again.violations["under_fault"])


def test_limits_409_is_real_and_the_what_if_makes_the_revert_raise():
    """F-07's trigger and what-if: max_unit lowered on the source just
    before the rollback's POST makes Placement itself refuse the move back
    (409, generic code); Nova only logs it (the conductor raises the
    scheduler's NoValidHost), and raises under capacity-409-raised."""
    from harness.verdicts.counterfactual import WHAT_IFS
    made = []

    def fault(w):
        made.append(cf.LimitLowered(w, cw.SRC, "POST", r"^/allocations$",
                                    "MEMORY_MB", 256, Schedule(calls=(2,))))
        return made[-1]
    obs = run_trial(_rollback_trial("POST /allocations #2: 409 limits",
                                    fault))
    assert obs.error is None, obs.error
    assert made[0].authority_class() == "timing"
    assert made[0].lowered_from > 256
    fired = [c for c in obs.detail.calls if c[4]]
    assert [(c[1], c[3]) for c in fired] == [("POST", 409)]
    assert obs.detail.result["error_type"] == "NoValidHost"
    assert "failure_reported" in names(obs.violations["under_fault"])
    assert obs.paths["move-refusal-sorted"] >= 1
    again = obs.replay(WHAT_IFS["capacity-409-raised"])
    assert again.error is None, again.error
    assert again.detail.result["error_type"] == "AllocationMoveFailed"
    assert "failure_reported" not in names(again.violations["under_fault"])


def test_limit_lowered_is_put_back(conductor_world):
    w = conductor_world
    rp = w.hosts[cw.SRC].rp_uuid

    def max_unit():
        return w.placement.read("/resource_providers/%s/inventories"
                                % rp)["inventories"]["MEMORY_MB"]["max_unit"]
    before = max_unit()
    with cf.LimitLowered(w, cw.SRC, "POST", r"^/allocations$",
                         "MEMORY_MB", 256, Schedule(calls=(1,))) as fault:
        result = wc.request_move(w, "vm1", "medium", prefer=(cw.DST,))
        assert max_unit() == 256
    assert fault.fired_calls and result.error_type == "NoValidHost"
    assert max_unit() == before


def test_consumed_after_selection_leaves_the_alternate_no_room(
        conductor_world):
    """ConsumedAfterSelection fills the alternate's room through Placement
    when the first prep_resize reaches its destination (the scheduler has
    chosen): the destination refuses, and the reschedule to the alternate
    cannot claim it.  Cleared, it takes no more room."""
    w = conductor_world
    refused = cf.DestinationRefuses(w, (cw.DST,))
    taken = cf.ConsumedAfterSelection(w, (cw.ALTS[0],))
    assert taken.authority_class() == "timing"
    for fault in (refused, taken):
        fault.setUp()
    try:
        result = wc.request_move(w, "vm1", prefer=(cw.DST, cw.ALTS[0]))
    finally:
        taken.cleanUp()
        refused.cleanUp()
    assert list(taken.consumers.values()) == [cw.ALTS[0]]
    consumer = next(iter(taken.consumers))
    assert consumer in w.ledger.extra_consumers
    held = consumer_allocations(w, [consumer, w.instances["vm1"].uuid])
    assert list(held[consumer]) == [cw.ALTS[0]]
    assert cw.ALTS[0] not in held[w.instances["vm1"].uuid]
    attempts = w.move_watch.attempts(w.instances["vm1"].uuid)
    assert not any(a.host == cw.ALTS[0] for a in attempts), attempts
    assert result.migration_status == "error"
    # cleared: a later move takes no more room
    w.boot("vm2", "small", cw.SRC)
    wc.request_move(w, "vm2", prefer=(cw.DST,))
    assert len(taken.consumers) == 1


def test_source_node_missing_fails_the_swap(conductor_world):
    """SourceNodeMissing points vm1's node at a compute node with no
    record: the resize's swap (replace_allocation_with_migration) cannot
    look up the source node, and the conductor raises that; cleared, the
    node is restored."""
    w = conductor_world
    node = w.instance("vm1").node
    fault = cf.SourceNodeMissing(w, "vm1")
    assert fault.authority_class() == "inconsistent"
    fault.setUp()
    try:
        assert w.instance("vm1").node == "ghost-node-99"
        result = wc.request_move(w, "vm1", "medium", prefer=(cw.DST,))
    finally:
        fault.cleanUp()
    assert result.error_type == "ComputeHostNotFound"
    assert result.migration_status == "error"
    assert w.instance("vm1").node == node


def test_condition_only_states_the_condition(conductor_world):
    """Condition injects nothing: it names a condition the world was
    built with, for the evidence."""
    w = conductor_world
    before = consumer_allocations(w, [w.instances["vm1"].uuid])
    cond = cf.Condition(w, "disk on a sharing provider")
    assert cond.describe() == "disk on a sharing provider"
    assert cond.authority_class() == "none"
    cond.setUp()
    cond.cleanUp()
    assert consumer_allocations(w, [w.instances["vm1"].uuid]) == before


# ----------------------------------------------------------------------
# the conductor's moves are operations of the one model
# ----------------------------------------------------------------------
def test_a_scheduled_move_is_an_op_of_the_model(conductor_world):
    """request_move through ``harness.world.ops``: data, run through
    Nova's services (the allocation really moves in Placement), recorded
    in the client's history; a request the API refuses is ``fail``
    (nothing happened), not run half-way."""
    from harness.world.ops import Client, Op
    w = conductor_world
    client = Client(w)
    done = client.perform(Op.from_dict(
        {"f": "request_move", "args": {"name": "vm1", "flavor": "medium",
                                       "prefer": [cw.DST]}}))
    assert done.type == "ok" and done.value == "pre-migrating"
    assert list(_held(w)) == [cw.DST]
    # a second resize while the first stands at pre-migrating: refused
    done = client.perform(Op("request_move", {"name": "vm1",
                                              "flavor": "small"}))
    assert done.type == "fail" and "409" in done.value
    assert [op.f for op in client.history.completions()] == [
        "request_move", "request_move"]
    assert list(_held(w)) == [cw.DST]


def test_conductor_trials_run_through_the_judge_on_fresh_worlds():
    """Judge.trial runs a conductor trial as it runs any trial (its
    observation and trace recorded under the repetition's name); the
    snapshot path never forks one."""
    from harness.verdicts import snapshots
    from harness.verdicts.judge import Judge, Trial
    trial = cw.trial(cw.shapes()["resize"], "resize [control]")
    assert isinstance(trial, Trial)
    assert isinstance(trial, vc.ConductorTrial)
    assert "conductor trial" in snapshots.static_reason(trial)
    judge = Judge("probe", ["-"])
    obs = judge.trial(trial, rep=1)
    assert obs.error is None, obs.error
    assert obs.clean and obs.detail.achieved == "after on %s" % cw.DST
    assert obs.rep == 1
    assert judge.observations == [obs]
    assert list(judge.traces) == ["resize [control] #1"]
    assert [c[1] for c in obs.calls][:1] == ["GET"]


# ----------------------------------------------------------------------
# no second implementation of the conductor's path
# ----------------------------------------------------------------------
# What Nova's services run for a cold move, and the harness must never call
# itself: the conductor's task and its allocation helpers, the scheduler's
# selection and claims, the destination's prep_resize and claim.
NOVA_MOVE_PATH = {
    "replace_allocation_with_migration", "revert_allocation_for_migration",
    "MigrationTask", "_cold_migrate", "migrate_server", "_reschedule",
    "select_destinations", "claim_resources", "move_allocations",
    "prep_resize", "_do_prep_resize", "_prep_resize", "resize_claim",
    "_move_claim",
}


def test_the_harness_calls_nothing_of_the_move_path():
    """No module of the harness calls a function of the conductor's move
    path itself (the old driver called ``_cold_migrate``, performed
    ``prep_resize`` by hand and replaced the scheduler): a move enters at
    the API and Nova's services run it.  The what-ifs name such functions
    as text, never call them."""
    import ast
    import os
    root = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "harness")
    calls = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                fn = node.func
                called = fn.attr if isinstance(fn, ast.Attribute) \
                    else getattr(fn, "id", "")
                if called in NOVA_MOVE_PATH:
                    calls.append("%s:%d %s" % (os.path.relpath(path, root),
                                               node.lineno, called))
    assert calls == []
