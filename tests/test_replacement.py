"""Self-tests for harness.verdicts.replacement: loading a proposed method from a file
and judging it against the real one."""
from __future__ import annotations

import inspect
import textwrap

import pytest

from harness.faults.replacement import ReplaceMethod
from harness.verdicts import replacement as rp
from harness.verdicts.judge import Judge
from harness.world.trace import Trace
from harness.verdicts.verdict import Verdict

METHOD = "_update_usage_from_migration"


def _real_source() -> str:
    from harness.world import novaenv
    novaenv.load()
    from nova.compute import resource_tracker
    return textwrap.dedent(inspect.getsource(
        resource_tracker.ResourceTracker._update_usage_from_migration))


# -- extracting code ----------------------------------------------------------
def test_pure_python_file_is_used_whole():
    code, origin = rp.extract_code("def f(self):\n    return 1\n", "f")
    assert origin == "python file" and "return 1" in code


def test_fenced_block_defining_the_method_is_chosen():
    text = ("Some prose.\n\n```python\nx = 1\n```\n\nMore:\n\n"
            "```python\n    def f(self, a):\n        return a\n```\n")
    code, origin = rp.extract_code(text, "f")
    assert origin == "fenced code block 2 of 2"
    assert code.startswith("def f(self, a):")


def test_def_is_cut_out_of_prose_without_fences():
    text = ("Here is my idea:\ndef f(self):\n    y = 2\n    return y\n"
            "That should work.\n")
    code, origin = rp.extract_code(text, "f")
    assert origin == "def cut from the text"
    assert code.splitlines() == ["def f(self):", "    y = 2",
                                 "    return y"]


def test_no_definition_is_reported_plainly():
    with pytest.raises(rp.CandidateUnavailable) as err:
        rp.extract_code("```python\nx = 1\n```", "f")
    assert "no definition of f()" in str(err.value)


def test_missing_file_and_invalid_python(tmp_path):
    with pytest.raises(rp.CandidateUnavailable) as err:
        rp.load_candidate(str(tmp_path / "absent.txt"), METHOD)
    assert "does not exist" in str(err.value)
    bad = tmp_path / "bad.md"
    bad.write_text("```python\ndef %s(self:\n    pass\n```\n" % METHOD)
    with pytest.raises(rp.CandidateUnavailable) as err:
        rp.load_candidate(str(bad), METHOD)
    assert "not valid Python" in str(err.value)


def test_static_findings_name_what_does_not_exist(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("```\ndef %s(self, context, instance, migration, "
                 "nodename):\n    if not _no_such_helper(migration):\n"
                 "        return\n    LOG.info('x')\n"
                 "    self._no_such_method(instance)\n"
                 "    self.compute_nodes[nodename]\n```\n" % METHOD)
    cand = rp.load_candidate(str(f), METHOD)
    assert cand.undefined_names == ["_no_such_helper"]      # LOG resolves
    assert cand.missing_self_attributes == ["_no_such_method"]
    cand = rp.load_candidate(str(f), METHOD,
                             extra_globals={"_no_such_helper": bool},
                             extra_attributes={"_no_such_method": 1})
    assert cand.undefined_names == [] and cand.missing_self_attributes == []
    assert "supplied to it" in cand.findings()[0]


def test_candidate_runs_with_the_tracker_modules_globals(tmp_path):
    f = tmp_path / "c.py"
    f.write_text("def %s(self, *a):\n    return (LOG.name, objects)\n"
                 % METHOD)
    cand = rp.load_candidate(str(f), METHOD)
    name, objects = cand.function(None)
    assert name == "nova.compute.resource_tracker"
    assert objects.__name__ == "nova.objects"


# -- swapping it in -----------------------------------------------------------
class _World:
    trace = Trace()


def test_replace_method_swaps_at_the_class_and_restores(tmp_path):
    f = tmp_path / "c.py"
    f.write_text("def %s(self, *a):\n    return 'candidate'\n" % METHOD)
    cand = rp.load_candidate(str(f), METHOD, extra_attributes={
        "_harness_extra": 7})
    from nova.compute import resource_tracker
    cls = resource_tracker.ResourceTracker
    real = cls.__dict__[METHOD]
    fault = ReplaceMethod(_World(), cand)
    fault.setUp()
    try:
        assert getattr(cls, METHOD) is cand.function
        assert cls._harness_extra == 7
        assert "replaced by the candidate" in fault.describe()
    finally:
        fault.cleanUp()
    assert cls.__dict__[METHOD] is real
    assert not hasattr(cls, "_harness_extra")


def test_regressions_subtract_what_the_real_method_also_broke():
    from harness.oracle.invariants import Violation
    from harness.verdicts.judge import Observation

    def obs(*vs):
        return Observation("t", False, "f", {"under_fault": list(vs)}, [])
    both = Violation("usage_matches_ledger", "tracker src vcpus_used", 1, 2)
    mine = Violation("audit_completed", "tracker audit of src", "-", "x")
    derived = rp.regressions(obs(both, mine), obs(both))
    assert derived.violations["under_fault"] == [mine]


# -- judging ------------------------------------------------------------------
def test_missing_proposal_is_inconclusive_and_says_why(tmp_path):
    out = rp.evaluate(str(tmp_path / "001_absent.txt"), METHOD,
                      moves=["resize-incoming"], faults={})
    assert out.verdict is Verdict.INCONCLUSIVE
    assert "does not exist" in out.summary and out.traceback is None


def test_a_copy_of_the_real_method_is_refuted(tmp_path):
    f = tmp_path / "same.py"
    f.write_text(_real_source())
    out = rp.evaluate(str(f), METHOD, moves=["same-node-finished"],
                      faults={})
    assert out.verdict is Verdict.REFUTED, out.summary
    assert out.trials == 2 and out.controls == 1


def test_a_method_that_does_nothing_is_confirmed_with_evidence(tmp_path):
    f = tmp_path / "noop.md"
    f.write_text("Proposal:\n\n```python\ndef %s(self, context, instance, "
                 "migration, nodename):\n    return None\n```\n" % METHOD)
    judge = Judge("noop", ["001-code"])
    out = rp.evaluate(str(f), METHOD, moves=["resize-incoming"],
                      faults={}, judge=judge)
    assert out.verdict is Verdict.CONFIRMED, out.summary
    assert {e.invariant for e in out.evidence} >= {"usage_matches_ledger"}
    assert all(e.variant == "resize-incoming / candidate"
               for e in out.evidence)
    assert "the real method broke 0" in out.rationale
