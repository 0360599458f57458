"""Names checked at the boundary (harness.verdicts.names).

A scenario that names an invariant, what-if, fault class or finding the
harness does not know would otherwise decide silently (a misspelt
invariant matches no violation: REFUTED).  Each of the four is shown
caught twice: where it is named (an UnknownName with one line saying what
is wrong and how to mend it), and through ``python -m harness run``,
which must exit 2 with that one line and write no verdict.
"""
from __future__ import annotations

import os
import textwrap

import pytest

from harness.verdicts import names
from harness.verdicts.judge import Judge, Trial

from test_cli import one_line_error, tiny


def test_the_known_invariants_are_read_from_the_checks():
    known = names.known_invariants()
    for name in ("usage_matches_ledger", "audit_completed",
                 "workload_completed", "devices_not_shared",
                 "failure_reported"):
        assert name in known, name
    assert "usage_matches_ledgr" not in known
    # a scenario's own (test_instance_resources reports the restart's
    # start-up check under a name of its own)
    scenario = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "scenarios", "test_instance_resources.py")
    assert "startup_check_completed" not in known
    assert "startup_check_completed" in names.known_invariants([scenario])
    assert names.invariants_in(
        "Violation('a', 1)\ninv.Violation(invariant='b')\n"
        "checks.attempt_as(world, 'c', 'label', f)\nViolation(x)\n") == {
        "a", "b", "c"}


def test_a_scenario_module_may_define_its_own(tmp_path):
    mod = tmp_path / "test_mine.py"
    mod.write_text("from harness.oracle.invariants import Violation\n"
                   "def check(w, s):\n"
                   "    return [Violation('my_own_check', 's', 1, 2)]\n")
    names.check_invariants(["my_own_check"], sources=[str(mod)])
    with pytest.raises(names.UnknownName):
        names.check_invariants(["my_own_check"])


def _decide(**kw):
    j = Judge("test_x", ["000-1"], proposition={})
    return j.decide("h", **kw)


@pytest.mark.parametrize("kw, needles", [
    ({"invariants": ("usage_matches_ledgr",)},
     ("unknown invariant 'usage_matches_ledgr'",
      "did you mean 'usage_matches_ledger'?")),
    ({"predicts": {"under_fault": ("audit_complete",)}},
     ("unknown invariant 'audit_complete'",
      "did you mean 'audit_completed'?")),
    ({"invariants": "usage_matches_ledger"}, ("is one string",)),
    ({"stages": ("under-fault",)},
     ("unknown stage 'under-fault'", "did you mean 'under_fault'?")),
    ({"counterfactual": "incoming-flavour-checked"},
     ("unknown what-if 'incoming-flavour-checked'",
      "did you mean 'incoming-flavor-checked'?", "WHAT_IFS")),
    ({"explained_by": {"F-1": "incoming-flavor-checked"}},
     ("explained_by: unknown finding id 'F-1'",
      "scenarios/catalogue.yaml")),
    ({"explained_by": {"F-01": "incoming-flavor-check"}},
     ("explained_by: unknown what-if 'incoming-flavor-check'",)),
])
def test_decide_refuses_unknown_names(kw, needles):
    with pytest.raises(names.UnknownName) as info:
        _decide(**kw)
    line = str(info.value)
    assert "\n" not in line and line.startswith("scenario test_x")
    for needle in needles:
        assert needle in line, (needle, line)


def test_a_trial_refuses_an_unknown_fault_class():
    with pytest.raises(names.UnknownName) as info:
        Trial("t", lambda w: None, condition="c", condition_authority="timng")
    assert "unknown fault class 'timng'; did you mean 'timing'?" \
        in str(info.value)
    Trial("t", lambda w: None, condition="c", condition_authority="timing")


# ---------------------------------------------------------------------------
# through `python -m harness run`: exit 2, one line, no verdict
# ---------------------------------------------------------------------------
SCENARIO = textwrap.dedent('''
    import pytest
    from harness.oracle import invariants as inv
    from harness.verdicts.judge import Observation, STAGES, Trial


    def _obs(name, control):
        v = {st: [] for st in STAGES}
        if not control:
            v["under_fault"] = [inv.Violation(
                "usage_matches_ledger", "tracker src vcpus_used", 1, 3)]
        return Observation(trial=name, control=control,
                           fault=None if control else "bogus", violations=v,
                           logs=[], authority=None if control
                           else "inconsistent")


    @pytest.mark.claims("000-1")
    def test_bad_name(judge):
        judge.observations += [_obs("s [control]", True),
                               _obs("s / bogus", False)]
        %s
''')

CASES = {
    "invariant": (
        'judge.decide("h", invariants=("usage_matches_ledgr",))',
        ("unknown invariant 'usage_matches_ledgr'",
         "did you mean 'usage_matches_ledger'?")),
    "what-if": (
        'judge.decide("h", invariants=("usage_matches_ledger",), '
        'counterfactual="migrations-cross-check")',
        ("unknown what-if 'migrations-cross-check'",
         "did you mean 'migrations-cross-checked'?")),
    "fault class": (
        'Trial("t", lambda w: None, condition="c", '
        'condition_authority="inconsistant")',
        ("unknown fault class 'inconsistant'",
         "did you mean 'inconsistent'?")),
    "finding id": (
        'judge.decide("h", invariants=("usage_matches_ledger",), '
        'explained_by={"F-99": "incoming-flavor-checked"})',
        ("unknown finding id 'F-99'",)),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_run_exits_2_with_one_line_and_no_verdict(kind, tmp_path):
    body, needles = CASES[kind]
    path = tmp_path / "bad_names.py"
    path.write_text(SCENARIO % body)
    runs = tmp_path / "runs"
    proc = tiny("run", "--scenario-dir", str(path), "--runs-dir", str(runs),
                "-n", "1")
    line = one_line_error(proc, "test_bad_name", *needles)
    assert "VERDICT" not in proc.stdout and "REFUTED" not in proc.stdout
    (record,) = [p for p in runs.iterdir() if p.name != "latest"]
    assert not os.path.exists(record / "verdicts.json"), line
