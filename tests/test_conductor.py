"""The conductor support: invariants that can fail, and the boundary fakes.

The invariant tests build known-good and known-bad inputs by hand (no
Nova).  The world tests drive the real conductor code in a small world and
check the harness pieces do what their docstrings say: the fake scheduler
hands out ``max_attempts - 1`` alternates, the destination runs the real
prep_resize, faults behind the middleware reach the client as the
failures they stand for, the sharing provider gets the instances' disk,
canaries are planted and the log scan finds a secret that is logged.
"""
from __future__ import annotations

import logging

import pytest

from harness.faults import conductor as cf
from harness.verdicts.judge import run_trial
from harness.world import conductor as hc
from harness.oracle import conductor_invariants as ci
from harness.world import conductor_workloads as cw
from harness.world.placement import Schedule
from harness.world.deployment import Inventory, World

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
    ledger = hc.share_aware_ledger(Reserved())
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
    secrets = hc.canary_secrets()
    assert secrets["database.connection"] in \
        hc.LATE_CANARIES["database.connection"]
    assert secrets["context.auth_token"] == hc.CANARY_TOKEN
    assert len(set(secrets.values())) == len(secrets)


# ----------------------------------------------------------------------
# with a world
# ----------------------------------------------------------------------
def _population(world, conductor):
    cw.population(world, conductor)


def test_control_migration_is_clean_and_moves_to_the_plan():
    obs = run_trial(hc.ConductorTrial(
        "control", _population,
        operation=lambda w, c: hc.op_migrate(w, c, "vm1"),
        plan=(cw.DST,), world_kwargs=dict(cw.TWO_HOSTS)))
    assert obs.error is None, obs.error
    assert obs.clean, obs.violations
    assert obs.detail.achieved == "after on %s" % cw.DST
    assert [a["outcome"] for a in obs.detail.attempts] == ["claimed"]
    assert obs.detail.result["caller_saw"].startswith("returned")
    # the canaries were planted and every record kept
    assert obs.detail.lines
    assert obs.detail.identifiers["host"] == sorted(cw.TWO_HOSTS["hosts"])


@pytest.fixture
def conductor_world():
    hc.register_canary_options()
    w = World(hosts=(cw.SRC, cw.DST) + cw.ALTS[:1],
              config={"scheduler.max_attempts": 2})
    w.setUp()
    c = hc.Conductor(w, plan=(cw.DST,) + cw.ALTS[:1])
    c.setUp()
    cw.population(w, c)
    yield w, c
    c.cleanUp()
    w.cleanUp()


def test_scheduler_alternates_follow_max_attempts_and_refusal_reschedules(
        conductor_world):
    w, c = conductor_world
    refused = cf.ClaimRefused(w, (cw.DST,))
    refused.setUp()
    try:
        result = c.migrate("vm1")
    finally:
        refused.cleanUp()
    assert not result.raised
    call = c.scheduler.calls[0]
    assert call.selected == cw.DST and call.alternates == [cw.ALTS[0]]
    assert refused.refused == [cw.DST]
    assert [(p.host, p.outcome) for p in c.compute.prep_resizes] == [
        (cw.DST, "rescheduled"), (cw.ALTS[0], "claimed")]
    assert c.reschedules == [[cw.ALTS[0]]]
    held = hc.consumer_allocations(w, [w.instances["vm1"].uuid])
    assert list(held[w.instances["vm1"].uuid]) == [cw.ALTS[0]]


@pytest.mark.parametrize("action,error", [
    ("timeout", "ConnectTimeout"),
    ("racing_write", "AllocationMoveFailed"),
    ("lost_response", "NoValidHost"),
])
def test_inner_faults_reach_the_client_as_they_claim(conductor_world,
                                                     action, error):
    w, c = conductor_world
    fault = cf.InnerFault(w, "POST", r"^/allocations$", action,
                          Schedule(calls=(1,)))
    fault.setUp()
    try:
        result = c.replace("vm1")
    finally:
        fault.cleanUp()
    assert result.error_type == error
    assert len(fault.fired_calls) == 1
    logged = [x for x in w.placement.calls if x.n == fault.fired_calls[0]]
    assert logged[0].fault == fault.describe()
    inst = w.instances["vm1"].uuid
    held = hc.consumer_allocations(w, [inst, result.migration_uuid])
    if action == "lost_response":   # placement committed the move
        assert held[inst] == {} and held[result.migration_uuid]
    else:                           # nothing moved
        assert held[inst] and held[result.migration_uuid] == {}


def test_sharing_provider_takes_the_disk():
    w = World(hosts=(cw.SRC, cw.DST), inventory=Inventory(local_gb=5))
    w.ledger = hc.share_aware_ledger(w.reserved)
    w.setUp()
    try:
        w.create_flavor("small", **cw.SMALL)
        uuid = hc.add_sharing_provider(w, "shared", 50)
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
    cap = hc.scan_capture()
    cap.setUp()
    try:
        logging.getLogger("nova.test.harness").warning(
            "oops %s", hc.CANARIES["placement.password"])
        try:
            raise ValueError("inner " + hc.CANARY_TOKEN)
        except ValueError:
            logging.getLogger("nova.test.harness").exception("failed")
    finally:
        cap.cleanUp()
    lines = [(ln, lg, t) for _lv, ln, lg, t in cap.handler.lines]
    out = ci.secrets_absent(lines, hc.canary_secrets())
    assert sorted(v.actual for v in out) == [
        "secret of context.auth_token", "secret of placement.password"]


# ----------------------------------------------------------------------
# a conductor trial is a Trial of the one runner: it observes what any
# trial observes
# ----------------------------------------------------------------------
def _revert_under_post_500(whatif=None):
    from harness.faults import placement as pf
    return hc.ConductorTrial(
        "revert / POST /allocations #1: 500", cw.population_swapped,
        operation=lambda w, c: hc.op_revert(w, c, "vm1"),
        fault=lambda w: pf.PlacementError(w, "POST", r"^/allocations$", 500,
                                          Schedule(calls=(1,))),
        world_kwargs=dict(cw.TWO_HOSTS), ledger_before=False, whatif=whatif)


def test_conductor_observation_carries_authority_paths_and_replay():
    """The fault's class and reach, the traced mechanisms (the revert's
    log-only failure branch ran, the swap helper did not: the set-up's
    swap ran before the fault), and a replay under a what-if that really
    runs the patched helper: the same fault now raises."""
    from harness.verdicts.counterfactual import WHAT_IFS
    obs = run_trial(_revert_under_post_500())
    assert obs.error is None, obs.error
    assert obs.authority == "infrastructure"
    assert obs.reach == "an infrastructure fault"
    assert obs.paths["revert-failure-logged"] >= 1
    assert obs.paths["swap-helper"] == 0
    assert obs.detail.result["error_type"] is None   # the helper only logged
    assert obs.whatif is None and obs.rep == 0
    replayed = obs.replay(WHAT_IFS["revert-failure-raised"])
    assert replayed.error is None, replayed.error
    assert replayed.whatif == "revert-failure-raised"
    assert replayed.trial.endswith("[counterfactual: revert-failure-raised]")
    assert replayed.detail.result["error_type"] == "AllocationMoveFailed"
    assert "harness counterfactual" in replayed.detail.result["error"]
    # the patched copy ran, not Nova's own code object
    assert replayed.paths["revert-failure-logged"] == 0


def test_conductor_control_is_traced_nowhere_and_has_no_authority():
    obs = run_trial(hc.ConductorTrial(
        "control", cw.population,
        operation=lambda w, c: hc.op_replace(w, c, "vm1"),
        world_kwargs=dict(cw.TWO_HOSTS)))
    assert obs.error is None, obs.error
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
def _failing_task(fault, extra=cw.cause_checks):
    return hc.ConductorTrial(
        "failing migration task / rollback GET #4: 500", cw.population,
        operation=lambda w, c: hc.op_migrate(w, c, "vm1"), fault=fault,
        plan=(),
        extra=extra, world_kwargs=dict(cw.TWO_HOSTS))


def test_rollback_error_replaces_novalidhost_and_what_if_restores_it():
    """F-05's trigger and what-if: a 500 on the rollback's first read of a
    consumer (the 4th GET /allocations: the swap made three) makes the
    caller see ConsumerAllocationRetrievalFailed (the
    cause check catches it); under rollback-errors-contained the same
    trial shows NoValidHost again and the check passes."""
    from harness.faults import placement as pf
    from harness.verdicts.counterfactual import WHAT_IFS
    route = r"^/allocations/[0-9a-f-]{36}$"
    obs = run_trial(_failing_task(
        lambda w: pf.PlacementError(w, "GET", route, 500,
                                    Schedule(calls=(4,)))))
    assert obs.error is None, obs.error
    assert obs.detail.result["error_type"] == \
        "ConsumerAllocationRetrievalFailed"
    assert "cause_reported" in names(obs.violations["under_fault"])
    assert obs.paths["rollback-revert"] >= 1
    again = obs.replay(WHAT_IFS["rollback-errors-contained"])
    assert again.error is None, again.error
    assert again.detail.result["error_type"] == "NoValidHost"
    assert "cause_reported" not in names(again.violations["under_fault"])


def test_capacity_409_what_if_makes_the_revert_raise():
    """F-07's what-if: a capacity 409 on the revert's POST is only logged
    by Nova (the caller sees nothing), and raised under
    capacity-409-raised; a consumer-generation conflict raises either
    way."""
    from harness.faults import placement as pf
    from harness.verdicts.counterfactual import WHAT_IFS
    trial = hc.ConductorTrial(
        "revert / POST /allocations #1: 409 capacity", cw.population_swapped,
        operation=lambda w, c: hc.op_revert(w, c, "vm1"),
        fault=lambda w: pf.PlacementError(w, "POST", r"^/allocations$", 409,
                                          Schedule(calls=(1,))),
        world_kwargs=dict(cw.TWO_HOSTS), ledger_before=False)
    obs = run_trial(trial)
    assert obs.error is None, obs.error
    assert obs.detail.result["error_type"] is None
    assert "failure_reported" in names(obs.violations["under_fault"])
    assert obs.paths["move-refusal-sorted"] >= 1
    again = obs.replay(WHAT_IFS["capacity-409-raised"])
    assert again.error is None, again.error
    assert again.detail.result["error_type"] == "AllocationMoveFailed"
    assert "failure_reported" not in names(again.violations["under_fault"])


def test_long_alternates_reach_the_conductor(conductor_world):
    """LongAlternates overrides how many alternates the scheduler hands
    out (this small world has room for no more than Nova's one, so it
    forces none) and the conductor follows that list: the refused
    destination is not rescheduled.  The scenario F-06 uses more."""
    w, c = conductor_world
    refused = cf.ClaimRefused(w, (cw.DST, cw.ALTS[0]))
    c.scheduler.plan = [cw.DST, cw.ALTS[0]]
    # max_attempts=2: Nova's scheduler gives 1 alternate; 0 forced here
    short = cf.LongAlternates(w, 0)
    assert short.authority_class() == "inadmissible"
    for fault in (refused, short):
        fault.setUp()
    try:
        c.migrate("vm1")
    finally:
        short.cleanUp()
        refused.cleanUp()
    assert c.scheduler.calls[0].alternates == []
    assert [p.host for p in c.compute.prep_resizes] == [cw.DST]


def test_consumed_after_selection_leaves_the_alternate_no_room(
        conductor_world):
    """ConsumedAfterSelection fills the alternate's room through Placement
    once the scheduler has chosen: the destination refuses, and the
    reschedule to the alternate cannot claim it.  Cleared, the scheduler
    hook is restored."""
    w, c = conductor_world
    previous = c.scheduler.after_select
    refused = cf.ClaimRefused(w, (cw.DST,))
    taken = cf.ConsumedAfterSelection(w, (cw.ALTS[0],))
    for fault in (refused, taken):
        fault.setUp()
    try:
        result = c.migrate("vm1")
    finally:
        taken.cleanUp()
        refused.cleanUp()
    assert c.scheduler.after_select is previous
    assert list(taken.consumers.values()) == [cw.ALTS[0]]
    consumer = next(iter(taken.consumers))
    assert consumer in w.ledger.extra_consumers
    held = hc.consumer_allocations(w, [consumer, w.instances["vm1"].uuid])
    assert list(held[consumer]) == [cw.ALTS[0]]
    assert cw.ALTS[0] not in held[w.instances["vm1"].uuid]
    assert not any(p.host == cw.ALTS[0] and p.outcome == "claimed"
                   for p in c.compute.prep_resizes), result


def test_source_node_missing_fails_the_swap(conductor_world):
    """SourceNodeMissing points vm1's node at a compute node with no
    record: the real ``replace_allocation_with_migration`` cannot look up
    the source node and fails; cleared, the node is restored."""
    w, c = conductor_world
    node = w.instance("vm1").node
    fault = cf.SourceNodeMissing(w, "vm1")
    assert fault.authority_class() == "inconsistent"
    fault.setUp()
    try:
        assert w.instance("vm1").node == "ghost-node-99"
        result = c.replace("vm1")
    finally:
        fault.cleanUp()
    assert result.raised and result.error_type == "ComputeHostNotFound"
    assert w.instance("vm1").node == node


def test_condition_only_states_the_condition(conductor_world):
    """Condition injects nothing: it names a condition the world was
    built with, for the evidence."""
    w, c = conductor_world
    before = hc.consumer_allocations(w, [w.instances["vm1"].uuid])
    cond = cf.Condition(w, "disk on a sharing provider")
    assert cond.describe() == "disk on a sharing provider"
    assert cond.authority_class() == "none"
    cond.setUp()
    cond.cleanUp()
    assert hc.consumer_allocations(w, [w.instances["vm1"].uuid]) == before


# ----------------------------------------------------------------------
# the conductor's operations are operations of the one model
# ----------------------------------------------------------------------
def test_conductor_operations_are_ops_of_the_model(conductor_world):
    """replace, revert and migrate through ``harness.world.ops``: each is
    data, runs the real helper (the allocation really moves in Placement)
    and is recorded in the conductor client's history."""
    from harness.world.ops import Op
    w, c = conductor_world
    inst = w.instances["vm1"].uuid
    done = c.client.perform(Op("preallocate_migration", {"name": "vm1"}))
    assert done.type == "ok" and done.value == w.migrations["vm1"].uuid
    mig = done.value
    done = c.client.perform(Op.from_dict(
        {"f": "conductor_replace", "args": {"name": "vm1"}}))
    assert done.type == "ok" and not done.value.raised
    assert done.value.operation == "replace_allocation_with_migration"
    held = hc.consumer_allocations(w, [inst, mig])
    assert held[inst] == {} and list(held[mig]) == [cw.SRC]
    done = c.client.perform(Op("conductor_revert", {"name": "vm1"}))
    assert done.type == "ok" and not done.value.raised
    held = hc.consumer_allocations(w, [inst, mig])
    assert list(held[inst]) == [cw.SRC] and held[mig] == {}
    done = c.client.perform(Op("conductor_migrate", {
        "name": "vm1", "plan": [cw.DST]}))
    assert done.type == "ok" and done.value.operation == "cold_migrate"
    assert [(p.host, p.outcome) for p in c.compute.prep_resizes] == [
        (cw.DST, "claimed")]
    assert [op.f for op in c.client.history.completions()] == [
        "preallocate_migration", "conductor_replace", "conductor_revert",
        "conductor_migrate"]


def test_conductor_operations_need_a_conductor():
    """Without a Conductor fixture the operations are refused (``fail``:
    nothing happened), not run half-way."""
    from harness.world.ops import Client, Op
    w = World(hosts=(cw.SRC,))
    w.setUp()
    try:
        w.create_flavor("small", **cw.SMALL)
        w.boot("vm1", "small", cw.SRC)
        done = Client(w).perform(Op("conductor_migrate", {"name": "vm1"}))
    finally:
        w.cleanUp()
    assert done.type == "fail" and "no conductor" in done.value


def test_conductor_trials_run_through_the_judge_on_fresh_worlds():
    """Judge.trial runs a conductor trial as it runs any trial (its
    observation and trace recorded under the repetition's name); the
    snapshot path never forks one."""
    from harness.verdicts import snapshots
    from harness.verdicts.judge import Judge, Trial
    trial = hc.ConductorTrial(
        "swap [control]", cw.population,
        operation=lambda w, c: hc.op_replace(w, c, "vm1"),
        world_kwargs=dict(cw.TWO_HOSTS))
    assert isinstance(trial, Trial)
    assert "conductor trial" in snapshots.static_reason(trial)
    judge = Judge("probe", ["-"])
    obs = judge.trial(trial, rep=1)
    assert obs.error is None, obs.error
    assert obs.clean and obs.detail.achieved == "after" and obs.rep == 1
    assert judge.observations == [obs]
    assert list(judge.traces) == ["swap [control] #1"]
    assert [c[1] for c in obs.calls][:1] == ["GET"]
