"""Right for the right reason: self-tests of issue 9's rules.

* a harm that does not pass through the blamed path does not confirm;
* a harm outside the claim's trigger classes does not confirm;
* a consistent forgery does not confirm (the ledger learns the record);
* where a counterfactual is defined, CONFIRMED needs one that removes the
  harm, and a counterfactual that breaks a fault-free world decides
  nothing;
* a harm a nearby finding's what-if removes is the finding's, not the
  claim's;
* a timing-dependent result is judged over repetitions;
* reach and severity follow from the confirming variants;
* the tracer and the what-ifs really reach Nova, and undo themselves.
"""
from __future__ import annotations

import contextlib
import inspect

import pytest

from harness.faults import base as fault_base
from harness.faults import records as rec
from harness.oracle.invariants import Violation
from harness.oracle.paths import Mechanism, PathTracer
from harness.verdicts import causation, counterfactual as cf
from harness.verdicts import judge as judge_mod
from harness.verdicts.judge import STAGES, Judge, Observation, Trial
from harness.verdicts.verdict import Verdict

PROP = {"statement": "s", "trigger": "t", "harm": "h",
        "mechanism": [Mechanism("blamed", "nova.x.f")],
        "trigger_classes": ["inconsistent"],
        "counterfactual": ["migrations-cross-checked"]}


def obs(trial, control=False, authority="inconsistent", paths=None,
        under=(), rep=0, replay=None):
    found = {st: [] for st in STAGES}
    found["under_fault"] = [Violation(i, "node", 1, 2, "") for i in under]
    return Observation(trial=trial, control=control,
                       fault=None if control else "fault " + trial,
                       violations=found, logs=[], authority=None
                       if control else authority,
                       paths=dict(paths if paths is not None
                                  else {"blamed": 1}),
                       rep=rep, replay=replay)


def replaying(harm_after: bool):
    """A replay that yields an observation with or without the harm."""
    def replay(whatif):
        return obs("replayed", under=("usage_matches_ledger",)
                   if harm_after else ())
    return replay


def decide(*observations, prop=PROP, **kw):
    j = Judge("s", ["000-1"], proposition=prop)
    j.observations.extend(observations)
    return j.decide("h", stages=("under_fault",),
                    invariants=("usage_matches_ledger",), **kw)


CONTROL = obs("c [control]", control=True, replay=replaying(False))


def test_harm_removed_by_the_counterfactual_confirms():
    out = decide(CONTROL, obs("v", under=("usage_matches_ledger",),
                              replay=replaying(False)))
    assert out.verdict is Verdict.CONFIRMED
    assert out.causation["counterfactual"]["harm_removed"] == 1
    assert out.fault_classes == {"inconsistent": 1}
    assert out.confirming[0]["variant"] == "v"


def test_harm_kept_under_the_counterfactual_does_not_confirm():
    out = decide(CONTROL, obs("v", under=("usage_matches_ledger",),
                              replay=replaying(True)))
    assert out.verdict is Verdict.REFUTED
    assert "not caused by it" in out.excluded[0]["why"]
    assert "harm was seen in 1 variant" in out.summary


def test_harm_that_cannot_be_replayed_does_not_confirm():
    out = decide(CONTROL, obs("v", under=("usage_matches_ledger",)))
    assert out.verdict is Verdict.REFUTED
    assert "could not be replayed" in out.excluded[0]["why"]


def test_harm_not_through_the_blamed_path_does_not_confirm():
    out = decide(CONTROL, obs("v", under=("usage_matches_ledger",),
                              paths={"blamed": 0}, replay=replaying(False)))
    assert out.verdict is Verdict.REFUTED
    assert "did not run" in out.excluded[0]["why"]
    assert out.causation["path"] == {"harmful_variants": 1,
                                     "through_the_mechanism": 0}


def test_harm_outside_the_trigger_classes_does_not_confirm():
    out = decide(CONTROL, obs("v", authority="infrastructure",
                              under=("usage_matches_ledger",),
                              replay=replaying(False)))
    assert out.verdict is Verdict.REFUTED
    assert "outside the claim's trigger" in out.excluded[0]["why"]


def test_a_counterfactual_that_breaks_a_clean_world_decides_nothing():
    control = obs("c [control]", control=True, replay=replaying(True))
    out = decide(control, obs("v", under=("usage_matches_ledger",),
                              replay=replaying(False)))
    assert out.verdict is Verdict.INCONCLUSIVE
    assert "breaks a fault-free world" in out.summary


def test_harm_a_findings_whatif_removes_is_the_findings():
    calls = []

    def replay(whatif):
        calls.append(whatif)
        return obs("r")          # every what-if removes the harm
    out = decide(CONTROL, obs("v", under=("usage_matches_ledger",),
                              replay=replay),
                 explained_by={"F-01": "incoming-flavor-checked"})
    assert out.verdict is Verdict.REFUTED
    assert "explained by finding F-01" in out.excluded[0]["why"]
    assert out.causation["explained_by_findings"] == {"F-01": 1}


def test_without_a_counterfactual_the_reason_is_stated():
    prop = dict(PROP, counterfactual=[], no_counterfactual="none fits")
    out = decide(CONTROL, obs("v", under=("usage_matches_ledger",)),
                 prop=prop)
    assert out.verdict is Verdict.CONFIRMED
    assert out.causation["counterfactual"] == {"name": None,
                                               "why_none": "none fits"}
    assert "no counterfactual: none fits" in out.summary


def test_timing_results_are_judged_over_repetitions():
    prop = dict(PROP, counterfactual=[], no_counterfactual="n",
                trigger_classes=["timing"])
    runs = []
    for rep in range(4):
        runs.append(obs("c [control]", control=True, rep=rep))
        runs.append(obs("v", authority="timing", rep=rep,
                        under=("usage_matches_ledger",) if rep % 2 else ()))
    out = decide(*runs, prop=prop)
    assert out.verdict is Verdict.INCONCLUSIVE
    assert out.repetitions == {"runs": 4, "outcomes": {"REFUTED": 2,
                                                       "CONFIRMED": 2},
                               "rate": 0.5}
    assert "depends on timing" in out.summary


def test_a_result_in_every_repetition_is_a_headline():
    prop = dict(PROP, counterfactual=[], no_counterfactual="n",
                trigger_classes=["timing"])
    runs = []
    for rep in range(3):
        runs.append(obs("c [control]", control=True, rep=rep))
        runs.append(obs("v", authority="timing", rep=rep,
                        under=("usage_matches_ledger",)))
    out = decide(*runs, prop=prop)
    assert out.verdict is Verdict.CONFIRMED
    assert out.repetitions["rate"] == 1.0
    assert out.summary.startswith("in all 3 repetitions")


def test_repetitions_default_and_override(monkeypatch):
    monkeypatch.delenv("HARNESS_REPETITIONS", raising=False)
    assert len(Judge.repetitions()) == 20
    monkeypatch.setenv("HARNESS_REPETITIONS", "3")
    assert len(Judge.repetitions()) == 3


def test_reach_and_severity_follow_the_evidence():
    from harness.verdicts.verdict import Evidence

    def ev(stage, invariant):
        return Evidence("v", stage, invariant, "s", 1, 2)
    db = obs("v", authority="inconsistent")
    reach = causation.reachability([(db, [ev("under_fault",
                                             "usage_matches_ledger")])])
    assert reach["who"] == ["someone with database write access"]
    assert reach["lasts"] == "until the record is repaired"
    assert causation.severity(reach) == "low"
    api = obs("v", authority="none")
    reach = causation.reachability([(api, [ev("after_clear",
                                              "allocations_match_ledger")])])
    assert reach["lasts"].startswith("for good")
    assert reach["touches"] == ["placement allocations"]
    assert causation.severity(reach) == "high"
    race = obs("v", authority="timing")
    reach = causation.reachability([(race, [ev("under_fault",
                                               "audit_completed")])])
    assert reach["audit_stops"] and reach["who"] == ["a race"]
    assert causation.severity(reach) == "medium"


def test_every_fault_declares_its_data_authority():
    import harness.faults.assigned  # noqa: F401 - register subclasses
    import harness.faults.driver  # noqa: F401
    import harness.faults.placement  # noqa: F401
    import harness.faults.conductor  # noqa: F401
    import harness.faults.replacement  # noqa: F401

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)
    missing = [c.__qualname__ for c in subclasses(fault_base.Fault)
               if not c.__module__.startswith(("tests.", "test_"))
               and not c.__name__.startswith("_")
               and c.authority not in fault_base.AUTHORITY_CLASSES
               and c.authority_class is fault_base.Fault.authority_class]
    assert missing == []


def test_a_consistent_forgery_does_not_confirm(resized):
    """vm1's stashed old flavor (the source's revert room) rewritten to
    another valid size: the tracker follows the record, the ledger learns
    it, and nothing counts as harm; the same numbers against the unlearned
    ledger would have."""
    from harness.oracle import invariants as inv
    world = resized
    fault = rec.EmbeddedFlavor(world, "vm1", which="old", mode="altered",
                               vcpus=3, memory_mb=4096)
    assert fault.authority_class() == fault_base.FORGERY
    fault.setUp()
    try:
        world.audit()
        snap = world.snapshot("forged")
        truth = inv.check_all(snap, world.ledger)
        fault.learn(world.ledger)
        learned = inv.check_all(snap, world.ledger)
    finally:
        fault.cleanUp()
        world.ledger.forget_learned()
    usage = {"usage_matches_ledger"}
    assert usage & {v.invariant for v in truth}
    assert not usage & {v.invariant for v in learned}


def test_forgery_classes_follow_the_values():
    w = object()
    assert rec.EmbeddedFlavor(w, "vm1", mode="altered",
                              vcpus=-8).authority_class() == "inadmissible"
    assert rec.EmbeddedFlavor(w, "vm1").authority_class() == "inconsistent"
    assert rec.MigrationField(w, "vm1", migration_type="teleport"
                              ).authority_class() == "inadmissible"
    assert rec.MigrationField(w, "vm1", status="error"
                              ).authority_class() == "inconsistent"


def test_the_tracer_sees_a_handler_run_only_when_it_runs(booted):
    """The FlavorNotFound handler of the migration accounting never runs
    in a clean audit; the function around it does."""
    fn = ("nova.compute.resource_tracker.ResourceTracker."
          "_update_usage_from_migrations")
    tracer = PathTracer([Mechanism("fn", fn),
                         Mechanism("handler", fn, handler="FlavorNotFound"),
                         Mechanism("nowhere", fn + "_nope")])
    with tracer:
        booted.audit()
    assert tracer.hits["fn"] > 0
    assert tracer.hits["handler"] == 0
    assert "nowhere" in tracer.unresolved


def test_the_tracer_counts_a_line_that_runs(resized):
    tracer = PathTracer([Mechanism(
        "incoming", "nova.compute.resource_tracker.ResourceTracker."
        "_update_usage_from_migration", line="itype.flavorid")])
    with tracer:
        resized.audit()
    assert tracer.hits["incoming"] > 0


def test_a_whatif_patches_nova_and_undoes_itself():
    from harness.world import novaenv
    novaenv.load()
    from nova.compute import resource_tracker as rt
    real = rt.ResourceTracker._update_usage_from_migration
    with cf.incoming_flavor_checked():
        patched = rt.ResourceTracker._update_usage_from_migration
        assert patched is not real
        src = inspect.getsource(real)
        assert "itype.flavorid" in src
    assert rt.ResourceTracker._update_usage_from_migration is real


def test_reraise_transform_changes_only_the_named_handler():
    import ast
    src = ("def f(xs):\n"
           "    for x in xs:\n"
           "        try:\n            g(x)\n"
           "        except KeyError:\n            log()\n            continue\n"
           "        except ValueError:\n            continue\n")
    fdef = ast.parse(src).body[0]
    cf.reraise("KeyError")(fdef)
    text = ast.unparse(fdef)
    assert "except KeyError:\n            log()\n            raise" in text
    assert "except ValueError:\n            continue" in text


def test_a_counterfactual_trial_is_labelled_and_runs_with_the_patch():
    from harness.world import novaenv
    novaenv.load()
    from nova.compute import resource_tracker as rt
    real = rt.ResourceTracker._update_usage_from_migration
    seen = []

    def setup(world):
        seen.append(rt.ResourceTracker._update_usage_from_migration)

    o = judge_mod.run_trial(Trial("t [control]", setup,
                                  world_kwargs={"hosts": ("src",)}))
    assert o.error is None and o.whatif is None
    r = o.replay(cf.WHAT_IFS["incoming-flavor-checked"])
    assert r.error is None
    assert r.trial == "t [control] [counterfactual: incoming-flavor-checked]"
    assert r.whatif == "incoming-flavor-checked"
    assert seen[0] is real and seen[1] is not real
    assert rt.ResourceTracker._update_usage_from_migration is real


def test_orphan_node_kept_keeps_the_record_a_deleting_driver_loses():
    """F-12's what-if, on any release: with a driver that says its
    unreported node is deleted (the path Nova 27/28 take for every
    driver), the compute manager's audit destroys the node's record; under
    ``orphan-node-kept`` it keeps it, and the patch is undone after."""
    from harness.faults import driver as dfaults
    from harness.world.deployment import World
    from nova import objects
    from nova.compute import manager

    def nodes(w):
        return sorted(c.hypervisor_hostname for c in
                      objects.ComputeNodeList.get_all(w.ctx))

    real = manager.ComputeManager.update_available_resource
    for whatif, expected in ((None, ["src"]), (cf.orphan_node_kept(),
                                               ["dst", "src"])):
        w = World(hosts=("src", "dst"))
        w.setUp()
        try:
            w.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
            w.boot("vm1", "small", "dst")
            w.hosts["dst"].driver.is_node_deleted = lambda nodename: True
            if whatif is not None:
                w.useFixture(whatif)
            with dfaults.NodeUnreported(w, "dst"):
                w.audit("dst", via="service")
            assert nodes(w) == expected
        finally:
            w.cleanUp()
    assert manager.ComputeManager.update_available_resource is real


@contextlib.contextmanager
def _two_hosts(whatif, big):
    """A world of src and dst under ``whatif`` (None: none), flavors small
    and big (``big`` vCPUs), vm1 (small) on src."""
    from harness.world.deployment import World
    w = World(hosts=("src", "dst"))
    w.setUp()
    try:
        if whatif is not None:
            w.useFixture(whatif)
        w.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        w.create_flavor("big", vcpus=big, memory_mb=512 * big,
                        root_gb=20)
        w.boot("vm1", "small", "src")
        yield w
    finally:
        w.cleanUp()


def test_migration_context_preferred_counts_the_move_a_tie_drops():
    """F-13's what-if: a resize saved in the same second as the instance's
    errored live migration (one frozen clock) is not counted on its
    destination by the audit; under ``migration-context-preferred`` it is,
    and the patch is undone after."""
    from harness.faults import driver as dfaults
    from harness.world import lifecycle
    from nova.compute import resource_tracker as rt

    real = rt.ResourceTracker._update_usage_from_migrations
    used = {}
    for whatif in (None, cf.migration_context_preferred()):
        with _two_hosts(whatif, big=2) as w:
            with dfaults.ClockSkew(w, 0):
                # a move that ended in error (the source hypervisor failed
                # the disk copy), then the resize in the same second
                w.resize("vm1", "big", "dst", fail="disk")
                w.resize("vm1", "big", "dst", until="pre-migrating")
            w.audit("dst")
            used[whatif is None] = w.hosts["dst"].rt.compute_nodes[
                "dst"].vcpus_used
    assert used == {True: 0, False: 2}
    assert rt.ResourceTracker._update_usage_from_migrations is real


def test_stale_tracking_ignored_changes_nothing_on_nova_s_services():
    """F-14's what-if (``stale-tracking-ignored``) counted a resize claim
    back onto the host an instance had just live-migrated from while that
    host's tracker still tracked it.  On Nova's services the source
    re-audits as the live migration completes
    (``ComputeManager._post_live_migration``), so nothing stale is left:
    the large claim is counted on the source with and without the what-if,
    which is why F-14 is withdrawn.  The patch is undone after."""
    from nova.compute import resource_tracker as rt

    real = rt.ResourceTracker._update_usage_from_migration
    seen = {}
    for whatif in (None, cf.stale_tracking_ignored()):
        with _two_hosts(whatif, big=4) as w:
            w.live_migrate("vm1", "dst", until="completed")
            w.resize("vm1", "big", "src", until="pre-migrating")
            seen[whatif is None] = w.hosts["src"].rt.compute_nodes[
                "src"].vcpus_used
    # the large claim alone, both ways (the small left with the instance)
    assert seen == {True: 4, False: 4}
    assert rt.ResourceTracker._update_usage_from_migration is real


# ---------------------------------------------------------------------------
# a finding inside the claim details it; one outside takes its harm away
# ---------------------------------------------------------------------------
RT = "nova.compute.resource_tracker.ResourceTracker."
INSIDE = dict(PROP, mechanism=[Mechanism(
    "migration-row-used", RT + "_update_usage_from_migration")],
    trigger_classes=["inconsistent", "inadmissible"])


def test_harm_a_finding_inside_the_claim_explains_confirms_and_names_it():
    """F-01 lies inside this claim: its trigger classes are the claim's,
    its mechanism (itype.flavorid in _update_usage_from_migration) is in a
    function the claim names, its harm (audit_completed) is harm the claim
    predicts.  Its what-if removing the harm shows the claim's own trigger
    producing the claim's harm through the claim's code: CONFIRMED, and
    the evidence names the mechanism and the finding."""
    def replay(whatif):
        return obs("r")          # every what-if removes the harm
    j = Judge("s", ["000-1"], proposition=INSIDE)
    j.observations.extend([CONTROL, obs(
        "v", under=("audit_completed",), replay=replay,
        paths={"migration-row-used": 1})])
    out = j.decide("h", stages=("under_fault",),
                   invariants=("usage_matches_ledger", "audit_completed"),
                   explained_by={"F-01": "incoming-flavor-checked"})
    assert out.verdict is Verdict.CONFIRMED, out.summary
    detailed = out.causation["detailed_by_findings"]["F-01"]
    assert detailed["variants"] == 1
    assert detailed["whatif"] == "incoming-flavor-checked"
    assert "itype.flavorid" in detailed["mechanism"][0]
    assert out.causation["findings"]["F-01"].startswith("inside the claim")
    assert "detailed by finding F-01" in out.evidence[0].detail
    assert "detailed by finding F-01" in out.confirming[0]["through"]
    assert "finding F-01 details" in out.summary
    assert [name for _o, name, _r in j.replayed] == [
        "migrations-cross-checked", "incoming-flavor-checked"]


def test_the_inside_findings_own_harm_is_what_its_whatif_must_remove():
    """F-01's what-if skips the migration instead of failing on it: the
    audit completes (the harm F-01 names is gone) while the skipped move
    stays uncounted.  The audit stopping was the claim's harm through the
    claim's code: CONFIRMED through F-01; a what-if that leaves the audit
    failing details nothing."""
    def decide_with_replay_keeping(*kept):
        j = Judge("s", ["000-1"], proposition=dict(
            INSIDE, counterfactual=[], no_counterfactual="n"))
        j.observations.extend([CONTROL, obs(
            "v", under=("usage_matches_ledger", "audit_completed"),
            replay=lambda whatif: obs("r", under=kept),
            paths={"migration-row-used": 1})])
        return j.decide("h", stages=("under_fault",),
                        invariants=("usage_matches_ledger",
                                    "audit_completed"),
                        explained_by={"F-01": "incoming-flavor-checked"})
    out = decide_with_replay_keeping("usage_matches_ledger")
    assert out.verdict is Verdict.CONFIRMED
    assert out.evidence[0].invariant == "audit_completed"   # its own first
    assert "detailed by finding F-01" in out.confirming[0]["through"]
    out = decide_with_replay_keeping("audit_completed")
    assert "detailed_by_findings" not in out.causation
    assert out.confirming[0].get("through") is None   # confirmed, plainly


def test_the_same_harm_is_the_findings_when_the_claim_predicts_other_harm():
    """Same finding, same variant, but the claim predicts only usage
    harm: F-01's harm (the audit stopping) lies outside it."""
    def replay(whatif):
        return obs("r")
    out = decide(CONTROL, obs("v", under=("usage_matches_ledger",),
                              replay=replay,
                              paths={"migration-row-used": 1}),
                 prop=INSIDE, explained_by={"F-01": "incoming-flavor-checked"})
    assert out.verdict is Verdict.REFUTED
    assert "explained by finding F-01" in out.excluded[0]["why"]
    assert "its harm (audit_completed) is not harm the claim predicts" in \
        out.causation["findings"]["F-01"]


ACCOUNTING = ("usage_matches_ledger", "usage_in_bounds",
              "allocations_match_ledger", "placement_usage_matches_ledger",
              "inventory_matches_driver")


# The rule applied to every claim with a finding near it (and to 000-6,
# whose states reach F-01's mechanism): the harm each claim's scenarios
# predict, and whether the finding lies inside (None) or why not.
@pytest.mark.parametrize("claim, finding, predicted, outside", [
    ("000-1", "F-01", ("usage_matches_ledger", "usage_in_bounds",
                       "audit_completed"), None),
    ("000-1", "F-02", ("usage_matches_ledger", "usage_in_bounds",
                       "audit_completed"), "names none"),
    ("000-6", "F-01", None, None),
    ("000-2", "F-01", ACCOUNTING, "is not harm the claim predicts"),
    ("001-2", "F-01", ACCOUNTING, "class(es) inadmissible"),
    ("000-4", "F-08", ("database_intact", "node_names_round_trip"),
     "is not harm the claim predicts"),
    ("001-3", "F-10", ("usage_matches_ledger", "usage_in_bounds",
                       "allocations_match_ledger",
                       "placement_usage_matches_ledger",
                       "stats_match_ledger"),
     "is not harm the claim predicts"),
    ("001-3", "F-04", ("usage_matches_ledger",), "class(es) inadmissible"),
    ("000-8", "F-09", ("usage_in_bounds", "scheduler_view_possible",
                       "operator_trait_kept", "usage_matches_ledger",
                       "allocations_match_ledger",
                       "placement_usage_matches_ledger", "audit_completed"),
     "is not harm the claim predicts"),
    ("002-2", "F-05", ("failure_reported",), "is not harm the claim"),
    ("002-2", "F-07", ("failure_reported",),
     "SchedulerReportClient.move_allocations, which the claim does not"),
    ("002-3", "F-06", ("attempts_bounded", "one_destination_at_a_time"),
     "populate_retry, which the claim does not name"),
])
def test_findings_inside_or_outside_the_claims(claim, finding, predicted,
                                               outside):
    from harness.verdicts import catalogue
    cat = catalogue.load()
    entry = cat.claims[claim]
    why = causation.finding_outside(
        entry.functions(), entry.proposition.get("trigger_classes") or [],
        cat.findings[finding].proposition, predicted)
    if outside is None:
        assert why is None
    else:
        assert why is not None and outside in why, why
