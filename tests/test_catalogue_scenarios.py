"""The catalogue and the scenario files agree.

Every scenario function is listed under the claims its marker names, and
every listed scenario exists: a verdict can never be attributed to a claim
the scenario does not judge, and no claim points at a missing scenario.
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
                        and getattr(dec.func, "attr", "") == "claims"):
                    claims = [a.value for a in dec.args]
            found[node.name] = claims
    return found


def test_every_scenario_is_catalogued_under_its_marked_claims():
    cat = catalogue.load()
    listed = cat.scenario_claims()
    for name, claims in _scenarios().items():
        assert claims, "%s has no claims marker" % name
        assert sorted(listed.get(name, [])) == sorted(claims), (
            "%s is marked %s but catalogued under %s"
            % (name, claims, listed.get(name)))


def test_every_catalogued_scenario_exists():
    defined = set(_scenarios())
    for claim in catalogue.load().claims.values():
        for name in claim.scenarios:
            assert name in defined, "%s lists missing scenario %s" % (
                claim.id, name)
