"""The catalogue and the scenario files agree.

Every scenario function is listed under the claims (or findings) its
markers name, and every listed scenario exists: a verdict can never be
attributed to a claim the scenario does not judge, a finding's verdict
never reaches a claim, and no entry points at a missing scenario.
"""
import ast
import glob
import os

from harness.verdicts import catalogue
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _scenarios():
    found = {}
    for path in glob.glob(os.path.join(ROOT, "scenarios", "test_*.py")):
        tree = ast.parse(open(path, encoding="utf-8").read())
        for node in tree.body:
            if not (isinstance(node, ast.FunctionDef)
                    and node.name.startswith("test_")):
                continue
            claims = []
            for dec in node.decorator_list:
                if (isinstance(dec, ast.Call)
                        and getattr(dec.func, "attr", "") in ("claims",
                                                              "finding")):
                    claims += [a.value for a in dec.args]
            found[node.name] = claims
    return found


def test_every_scenario_is_catalogued_under_its_marked_claims():
    cat = catalogue.load()
    listed = cat.scenario_claims()
    for name, ids in cat.scenario_findings().items():
        listed.setdefault(name, []).extend(ids)
    for name, claims in _scenarios().items():
        assert claims, "%s has no claims marker" % name
        assert sorted(listed.get(name, [])) == sorted(claims), (
            "%s is marked %s but catalogued under %s"
            % (name, claims, listed.get(name)))


def test_every_catalogued_scenario_exists():
    defined = set(_scenarios())
    cat = catalogue.load()
    for claim in list(cat.claims.values()) + list(cat.findings.values()):
        for name in claim.scenarios:
            assert name in defined, "%s lists missing scenario %s" % (
                claim.id, name)


def test_no_scenario_decides_a_claim_and_a_finding_at_once():
    """A finding's verdict can never become a claim's headline: no scenario
    carries both kinds of id."""
    cat = catalogue.load()
    for name, ids in _scenarios().items():
        kinds = {"finding" if i in cat.findings else "claim" for i in ids}
        assert len(kinds) == 1, "%s decides %s" % (name, ids)
