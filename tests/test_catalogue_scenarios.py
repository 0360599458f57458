"""The catalogue and the scenario files agree.

Every scenario is listed under the claims (or findings) its markers name,
and every listed scenario exists: a verdict can never be attributed to a
claim the scenario does not judge, a finding's verdict never reaches a
claim, and no entry points at a missing scenario.  "Every scenario" is
every test pytest collects under ``scenarios/``, in every directory
(``findings/``, ``lifecycle/``, ...), the way ``python -m harness run``
collects them: a test there that decides a claim is held to the catalogue
like any other, and a test that carries no claim or finding marker must
not ask for a verdict.
"""
import os

from scenario_files import (collected, function_name, scenario_files,
                            verdict_scenarios)

from harness.verdicts import catalogue


def test_every_scenario_file_is_collected_and_checked():
    """The agreement below covers every test_*.py under scenarios/, in
    subdirectories too (it once read scenarios/test_*.py only)."""
    files = {os.path.realpath(t["file"]) for t in collected()}
    assert scenario_files() - files == set()
    assert any(os.sep + "findings" + os.sep in f for f in files)
    assert any(os.sep + "lifecycle" + os.sep in f for f in files)


def test_every_scenario_is_catalogued_under_its_marked_claims():
    cat = catalogue.load()
    listed = cat.scenario_claims()
    for name, ids in cat.scenario_findings().items():
        listed.setdefault(name, []).extend(ids)
    for name, test in verdict_scenarios().items():
        marked = test["claims"] + test["findings"]
        assert marked, "%s (%s) asks for a verdict but has no claims or " \
                       "finding marker" % (name, test["nodeid"])
        assert sorted(listed.get(name, [])) == sorted(marked), (
            "%s (%s) is marked %s but catalogued under %s"
            % (name, test["nodeid"], marked, listed.get(name)))


def test_a_test_without_a_verdict_is_catalogued_nowhere():
    """Lifecycle sequences and reproducers decide no claim: the catalogue
    must not attribute a verdict to one."""
    cat = catalogue.load()
    listed = set(cat.scenario_claims()) | set(cat.scenario_findings())
    plain = {function_name(t) for t in collected()
             if t["name"] not in verdict_scenarios()}
    assert plain and not plain & listed, plain & listed


def test_every_catalogued_scenario_exists():
    defined = set(verdict_scenarios())
    cat = catalogue.load()
    for claim in list(cat.claims.values()) + list(cat.findings.values()):
        for name in claim.scenarios:
            assert name in defined, "%s lists missing scenario %s" % (
                claim.id, name)


def test_no_scenario_decides_a_claim_and_a_finding_at_once():
    """A finding's verdict can never become a claim's headline: no scenario
    carries both kinds of id."""
    cat = catalogue.load()
    for name, test in verdict_scenarios().items():
        ids = test["claims"] + test["findings"]
        kinds = {"finding" if i in cat.findings else "claim" for i in ids}
        assert len(kinds) == 1, "%s decides %s" % (name, ids)
