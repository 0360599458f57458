"""Judge.decide on synthetic observations, and verdict.combine."""
from __future__ import annotations

import pytest

from harness.oracle.invariants import Violation
from harness.verdicts.judge import STAGES, Judge, Observation, Trial
from harness.verdicts.verdict import Evidence, Outcome, Verdict, combine


def obs(trial, control=False, error=None, fault="some fault", logs=(),
        **violations):
    """An observation; ``violations`` maps stage -> list of invariant
    names (each becomes a Violation)."""
    found = {st: [] for st in STAGES}
    for stage, invs in violations.items():
        assert stage in STAGES, stage
        found[stage] = [Violation(i, "subject %s" % i, 1, 2, "why")
                        for i in invs]
    return Observation(trial=trial, control=control,
                       fault=None if control else fault,
                       violations=found, logs=list(logs), error=error,
                       placement_calls=10, duration=0.5)


def judge_with(*observations) -> Judge:
    # the mechanics of deciding, without a claim's proposition (the
    # proposition's own rules are tested in tests/test_causation.py)
    j = Judge("test_scenario", ["000-1"], proposition={})
    j.observations.extend(observations)
    return j


CONTROL = obs("t [control]", control=True)


def test_harness_error_is_inconclusive():
    j = judge_with(CONTROL, obs("t / f1", under_fault=["usage_in_bounds"]),
                   obs("t / f2", error="Traceback: boom"))
    out = j.decide("h")
    assert out.verdict is Verdict.INCONCLUSIVE
    assert "t / f2" in out.summary
    assert out.traceback == "Traceback: boom"
    assert j.outcome is out


def test_harness_error_in_control_is_inconclusive():
    j = judge_with(obs("c", control=True, error="tb"), obs("v"))
    assert j.decide("h").verdict is Verdict.INCONCLUSIVE


def test_no_control_is_inconclusive():
    out = judge_with(obs("v", under_fault=["x"])).decide("h")
    assert out.verdict is Verdict.INCONCLUSIVE
    assert out.summary == "no control trial was run"


@pytest.mark.parametrize("stage", STAGES)
def test_dirty_control_is_inconclusive(stage):
    dirty = obs("t [control]", control=True, **{stage: [
        "usage_matches_ledger"]})
    out = judge_with(dirty, obs("t / f", under_fault=["x"])).decide("h")
    assert out.verdict is Verdict.INCONCLUSIVE
    assert "control 't [control]'" in out.summary
    assert [(e.variant, e.stage, e.invariant) for e in out.evidence] == [
        ("t [control]", stage, "usage_matches_ledger")]


def test_variant_dirty_before_fault_is_inconclusive():
    out = judge_with(CONTROL, obs("t / f", before=["usage_in_bounds"],
                                  under_fault=["usage_in_bounds"])
                     ).decide("h")
    assert out.verdict is Verdict.INCONCLUSIVE
    assert "t / f" in out.summary


def test_violation_in_counted_stage_confirms_with_evidence():
    v1 = obs("t / f1", fault="migration of vm1: status='bogus'",
             logs=["WARNING nova: x"], under_fault=["usage_matches_ledger"])
    v2 = obs("t / f2")
    out = judge_with(CONTROL, v1, v2).decide(
        "the tracker miscounts", stages=("under_fault",))
    assert out.verdict is Verdict.CONFIRMED
    assert out.summary.startswith("1 of 2 variants broke "
                                  "usage_matches_ledger")
    (ev,) = out.evidence
    assert ev.variant == "t / f1" and ev.stage == "under_fault"
    assert ev.invariant == "usage_matches_ledger"
    assert (ev.expected, ev.actual, ev.detail) == (1, 2, "why")
    assert ev.faults == ["migration of vm1: status='bogus'"]
    assert ev.logs == ["WARNING nova: x"]
    assert out.hypothesis == "the tracker miscounts"
    assert out.fault_space == ["t / f1", "t / f2"]
    assert out.trials == 3 and out.controls == 1
    assert out.stats == {"placement_calls": 30, "trial_seconds": 1.5}


def test_violation_in_uncounted_stage_refutes():
    v = obs("t / f", after_clear=["usage_matches_ledger"])
    out = judge_with(CONTROL, v).decide("h", stages=("under_fault",
                                                     "during"))
    assert out.verdict is Verdict.REFUTED


def test_default_stages_count_every_stage_after_injection():
    for stage in STAGES[1:]:
        v = obs("t / f", **{stage: ["x"]})
        assert judge_with(CONTROL, v).decide("h").verdict is \
            Verdict.CONFIRMED, stage


def test_unpredicted_invariant_refutes():
    v = obs("t / f", under_fault=["audit_completed"])
    j = judge_with(CONTROL, v)
    out = j.decide("h", invariants=["usage_matches_ledger"])
    assert out.verdict is Verdict.REFUTED
    out = j.decide("h", invariants=["audit_completed"])
    assert out.verdict is Verdict.CONFIRMED


def test_no_violation_refutes_listing_fault_space():
    variants = [obs("t / f%d" % i) for i in range(3)]
    out = judge_with(CONTROL, *variants).decide(
        "h", fault_space="3 migration statuses")
    assert out.verdict is Verdict.REFUTED
    assert out.fault_space == ["t / f0", "t / f1", "t / f2"]
    assert "no variant showed the claimed harm through the blamed " \
        "mechanism; fault space: 3 variants: t: 3 faults (f0 | f1 | f2); " \
        "fault classes: none 3; 3 migration statuses; 1 clean control;" \
        in out.summary
    assert out.scope.startswith("3 variants: t: 3 faults (f0 | f1 | f2)")
    assert "under_fault, during, after_clear" in out.summary
    assert out.evidence == []


def test_fault_space_is_computed_from_the_faults():
    """Names, counts and classes come from the variants themselves; the
    scenario's prose (``fault_space``) only follows them."""
    out = judge_with(CONTROL, obs("t / f")).decide("h")
    assert "fault space: 1 variant: t: 1 fault (f); fault classes: none 1;" \
        in out.summary


def test_describe_space_names_faults_workloads_classes_and_skips():
    from harness.verdicts.judge import describe_space

    def v(name, authority="inconsistent", skipped=None, rep=0):
        o = obs(name)
        o.authority, o.rep = authority, rep
        o.skipped, o.skip_kind = skipped, "refused by engine" \
            if skipped else None
        return o
    same = [v("%s / %s" % (w, f)) for w in ("a", "b")
            for f in ("x", "y", "z")]
    same[-1].authority = "inadmissible"
    same[-1].skipped, same[-1].skip_kind = "no", "refused by engine"
    assert describe_space([CONTROL] + same) == (
        "6 variants: 3 faults (x | y | z) x 2 workloads (a | b); fault "
        "classes: inadmissible 1, inconsistent 5; 1 refused by engine")
    differ = [v("a / x"), v("a / y"), v("b / x")]
    assert describe_space(differ) == (
        "3 variants: a: 2 faults (x | y); b: 1 fault (x); fault classes: "
        "inconsistent 3")
    conditions = [v("name %d" % i, "none") for i in range(8)]
    assert describe_space(conditions) == (
        "8 variants: 8 conditions (name 0 | name 1 | name 2 | name 3 | "
        "name 4 | name 5 | ... 2 more); fault classes: none 8")
    reps = [v("t / f", "timing", rep=r) for r in range(3)]
    assert describe_space(reps) == (
        "1 variant: t: 1 fault (f); fault classes: timing 1; each in 3 "
        "repetitions")
    assert describe_space([CONTROL]) == "no variant"


def test_evidence_is_spread_over_variants_and_capped():
    variants = [obs("t / f%d" % i, under_fault=["a", "b", "c"])
                for i in range(5)]
    out = judge_with(CONTROL, *variants).decide("h", max_evidence=7)
    assert len(out.evidence) == 7
    # one per variant first
    assert [e.variant for e in out.evidence[:5]] == [
        "t / f%d" % i for i in range(5)]
    assert out.summary.startswith("5 of 5 variants broke a, b, c")


def test_not_testable_requires_rationale():
    j = judge_with()
    with pytest.raises(ValueError):
        j.not_testable("   ")
    out = j.not_testable("no runtime path exists\nsecond line")
    assert out.verdict is Verdict.NOT_TESTABLE
    assert out.summary == "no runtime path exists"
    assert out.rationale.endswith("second line")


def test_inconclusive_helper():
    out = judge_with().inconclusive("scenario raised X", "tb")
    assert out.verdict is Verdict.INCONCLUSIVE and out.traceback == "tb"


def test_non_json_values_in_evidence_are_rendered():
    v = obs("t / f")
    v.violations["under_fault"] = [Violation("x", "s", {1, 2}, object())]
    out = judge_with(CONTROL, v).decide("h")
    ev = out.evidence[0]
    assert isinstance(ev.expected, str) and isinstance(ev.actual, str)


def test_observation_clean():
    assert CONTROL.clean
    assert not obs("x", error="tb").clean
    assert not obs("x", during=["y"]).clean


def test_outcome_round_trip():
    out = judge_with(CONTROL, obs("t / f", under_fault=["x"])).decide("h")
    again = Outcome.from_dict(out.as_dict())
    assert again.verdict is Verdict.CONFIRMED
    assert isinstance(again.evidence[0], Evidence)
    assert again.as_dict() == out.as_dict()
    assert out.as_dict()["verdict"] == "CONFIRMED"


# -- combine ------------------------------------------------------------------
C, R, I, N, J = (Verdict.CONFIRMED, Verdict.REFUTED, Verdict.INCONCLUSIVE,
                 Verdict.NOT_TESTABLE, Verdict.NOT_JUDGED)


@pytest.mark.parametrize("verdicts,expected", [
    ([], J), ([J, J], J),
    ([C], C), ([R, C, I], C), ([C, J], C),
    ([R, I], I), ([I, N], I),
    ([R], R), ([R, R, J], R), ([R, N], R),
    ([N], N), ([N, N, J], N),
])
def test_combine(verdicts, expected):
    assert combine(verdicts) is expected


def test_verdict_str():
    assert str(Verdict.REFUTED) == "REFUTED"
    assert Verdict("CONFIRMED") is C


def test_where_counts_only_variants_in_which_the_condition_arose():
    ran = obs("t / handler ran", under_fault=["usage_matches_ledger"])
    ran.messages = {"Flavor could not be found, skipping migration.": 1}
    silent = obs("t / handler silent", under_fault=["usage_matches_ledger"])
    j = judge_with(CONTROL, silent)
    out = j.decide("h", stages=("under_fault",),
                   where=lambda o: o.logged("Flavor could not be found"),
                   where_label="the handler ran")
    # The only broken variant never reached the handler: not evidence.
    assert out.verdict is Verdict.REFUTED
    assert any("not counted" in v for v in out.fault_space)
    j = judge_with(CONTROL, silent, ran)
    out = j.decide("h", stages=("under_fault",),
                   where=lambda o: o.logged("Flavor could not be found"),
                   where_label="the handler ran")
    assert out.verdict is Verdict.CONFIRMED
    assert {e.variant for e in out.evidence} == {"t / handler ran"}


def test_skipped_variants_are_listed_not_judged():
    skipped = obs("t / cannot apply", under_fault=["usage_in_bounds"])
    skipped.skipped = "no embedded new flavor to alter"
    out = judge_with(CONTROL, skipped).decide("h")
    assert out.verdict is Verdict.REFUTED
    assert any("skipped" in v for v in out.fault_space)


# ---------------------------------------------------------------------------
# families: observations shared between scenarios, owned by the session
# ---------------------------------------------------------------------------
class _StubWorld:
    """Just enough world for a trial whose hooks check nothing."""

    class placement:
        calls: list = []

    def setUp(self):
        pass

    def cleanUp(self):
        pass


class _StubTrial(Trial):
    def build_world(self, trace):
        trace.step("world", "built", hosts=["src"])
        return _StubWorld()

    def populate(self, run, world):
        pass

    def check_before(self, run, world):
        return []

    def under_fault(self, run, world, fault):
        pass

    def check_after(self, run, world):
        return []


RUNS = []


def _family(run, label):
    RUNS.append(label)
    run.trial(_StubTrial("%s [control]" % label, setup=None))


def test_a_family_runs_once_per_process_and_is_shared():
    from harness.verdicts.judge import Families
    families, RUNS[:] = Families(), []
    first = Judge("s1", ["000-1"], families=families)
    second = Judge("s2", ["000-1"], families=families)
    a = first.observe(_family, "x")
    b = second.observe(_family, "x")
    assert RUNS == ["x"] and a[0] is b[0]
    assert set(second.traces) == {"x [control]"}
    second.observe(_family, "y")             # other arguments: another one
    assert RUNS == ["x", "y"]
    alone = Judge("s3", ["000-1"])            # no session: its own
    alone.observe(_family, "x")
    assert RUNS == ["x", "y", "x"]


def test_a_family_runs_under_the_guard():
    from harness.verdicts.judge import Families

    def guard():
        raise RuntimeError("tainted")
    families, RUNS[:] = Families(), []
    with pytest.raises(RuntimeError, match="tainted"):
        Judge("s", ["000-1"], families=families, guard=guard).observe(
            _family, "x")
    assert families._done == {}               # nothing half-computed kept


def test_a_family_is_printed_as_it_runs_and_named_when_shared():
    from harness.report.tracefmt import StepPrinter
    from harness.verdicts.judge import Families
    families, lines = Families(), []
    printer = StepPrinter(write=lines.append)
    Judge("s1", ["000-1"], trace_echo=printer,
          families=families).observe(_family, "x")
    text = "\n".join(lines)
    assert "TRIAL x [control]  [control (no fault)]" in text
    assert "world    built" in text and "trial clean" in text
    lines[:] = []
    Judge("s2", ["000-1"], trace_echo=printer,
          families=families).observe(_family, "x")
    assert lines[-1] == ("(1 trials of _family: shared, run and printed "
                         "earlier by s1)")
