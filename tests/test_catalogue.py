"""The catalogue: its 17 claims, their code checks, and malformed files."""
from __future__ import annotations

import copy

import pytest
import yaml

from harness.verdicts import catalogue as cat_mod
from harness.verdicts.catalogue import CatalogueError, UnknownClaim

IDS = (["000-%d" % i for i in range(1, 10)]
       + ["001-1", "001-2", "001-3", "001-code"]
       + ["002-%d" % i for i in range(1, 5)])
RT = "nova.compute.resource_tracker.ResourceTracker"


@pytest.fixture(scope="module")
def catalogue():
    return cat_mod.load()


def test_catalogue_has_exactly_the_17_claims(catalogue):
    assert list(catalogue.claims) == IDS
    assert len(catalogue.claims) == 17


def test_claims_cite_their_reports(catalogue):
    for claim in catalogue.claims.values():
        assert claim.id.startswith(claim.report + "-")
        assert claim.report_file.startswith(claim.report + "_")
        assert claim.title and claim.paraphrase and claim.nova_functions
        assert "\n" not in claim.paraphrase
        assert claim.code, "%s has no code check" % claim.id
        assert claim.as_dict()["id"] == claim.id


def test_get_and_unknown_claim(catalogue):
    assert catalogue.get("001-code").number == "code"
    with pytest.raises(UnknownClaim) as err:
        catalogue.get("003-1")
    assert "unknown claim id '003-1'" in str(err.value)
    assert "\n" not in str(err.value)


def test_scenario_claims_inverts_the_mapping(catalogue):
    mapping = catalogue.scenario_claims()
    for scenario, ids in mapping.items():
        for cid in ids:
            assert scenario in catalogue.claims[cid].scenarios


@pytest.mark.parametrize("claim_id", IDS)
def test_code_checks_hold_against_installed_nova(catalogue, claim_id):
    status = cat_mod.code_status(catalogue.claims[claim_id])
    assert status["exists_as_described"] is True, status
    assert len(status["checks"]) == len(catalogue.claims[claim_id].code)
    for result in status["checks"]:
        assert result["holds"] is True, result


def test_function_check_names_novas_file_not_the_decorators():
    # instance_claim is wrapped by lockutils.synchronized
    r = cat_mod.run_check({"kind": "function",
                           "target": RT + ".instance_claim"})
    assert r["holds"] and "nova/compute/resource_tracker.py" in r["detail"]


# -- checks that must fail ----------------------------------------------------
@pytest.mark.parametrize("check", [
    {"kind": "function", "target": RT + "._no_such_method"},
    {"kind": "function", "target": "nova.compute.no_such_module.f"},
    {"kind": "function", "target": "no_such_package_xyz.f"},
    {"kind": "catches", "target": RT + "._update_usage_from_migrations",
     "exception": "NoSuchException"},
    {"kind": "catches", "target": RT + "._no_such_method",
     "exception": "FlavorNotFound"},
    {"kind": "swallows", "target": RT + "._update_usage_from_migrations",
     "exception": "NoSuchException"},
    {"kind": "calls", "target": RT + "._update_usage_from_migrations",
     "name": "no_such_call"},
    {"kind": "attribute_used", "target": RT + "._update_usage_from_instance",
     "name": "no_such_attribute"},
    {"kind": "comment", "target": "nova.conductor.tasks.migrate",
     "text": "no such comment text anywhere"},
    {"kind": "comment", "target": "nova.no_such_module", "text": "x"},
], ids=lambda c: "%s-%s" % (c["kind"], c["target"].rsplit(".", 1)[-1]))
def test_check_on_something_absent_does_not_hold(check):
    r = cat_mod.run_check(check)
    assert r["holds"] is False, r


def test_swallows_is_false_for_a_handler_that_reraises():
    # harness.verdicts.catalogue.load catches FileNotFoundError and raises
    # CatalogueError: caught, not swallowed.
    target = "harness.verdicts.catalogue.load"
    assert cat_mod.run_check({"kind": "catches", "target": target,
                              "exception": "FileNotFoundError"})["holds"]
    r = cat_mod.run_check({"kind": "swallows", "target": target,
                           "exception": "FileNotFoundError"})
    assert r["holds"] is False and r["detail"] == \
        "0 of 1 handler(s) log and continue"


def test_swallows_is_false_for_a_handler_that_does_not_log():
    # harness.oracle.logs.render catches Exception and goes on without logging.
    r = cat_mod.run_check({"kind": "swallows", "target":
                           "harness.oracle.logs.render", "exception": "Exception"})
    assert r["holds"] is False


def test_code_status_is_false_when_any_check_fails():
    claim = cat_mod.Claim(
        id="000-1", report="000", number=1, cwe=None, title="t",
        paraphrase="p", nova_functions=[], scenarios=[],
        code=[{"kind": "function", "target": RT},
              {"kind": "function", "target": RT + ".nope"}])
    status = cat_mod.code_status(claim)
    assert status["exists_as_described"] is False
    assert [c["holds"] for c in status["checks"]] == [True, False]
    claim.code = []
    assert cat_mod.code_status(claim)["exists_as_described"] is None


# -- malformed catalogues -----------------------------------------------------
@pytest.fixture(scope="module")
def raw():
    with open(cat_mod.DEFAULT_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _write(tmp_path, doc) -> str:
    path = tmp_path / "catalogue.yaml"
    if isinstance(doc, str):
        path.write_text(doc)
    else:
        path.write_text(yaml.safe_dump(doc))
    return str(path)


def _error(path) -> str:
    with pytest.raises(CatalogueError) as err:
        cat_mod.load(path)
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg


def test_missing_file(tmp_path):
    assert "not found" in _error(str(tmp_path / "nope.yaml"))


def test_corrupt_yaml(tmp_path):
    msg = _error(_write(tmp_path, "claims:\n  - id: [unclosed\n"))
    assert "not valid YAML" in msg and "line" in msg


@pytest.mark.parametrize("doc", ["just a string\n", "claims: 3\n", "[]\n",
                                 "reports: {}\n"])
def test_no_claims_list(tmp_path, doc):
    assert "no 'claims' list" in _error(_write(tmp_path, doc))


def test_entry_not_a_mapping(tmp_path, raw):
    doc = copy.deepcopy(raw)
    doc["claims"].append("000-1")
    assert "is not a mapping" in _error(_write(tmp_path, doc))


@pytest.mark.parametrize("field", cat_mod.REQUIRED)
def test_missing_field(tmp_path, raw, field):
    doc = copy.deepcopy(raw)
    del doc["claims"][3][field]
    msg = _error(_write(tmp_path, doc))
    assert "lacks %s" % field in msg


@pytest.mark.parametrize("bad_id", ["000-10", "003-1", "001-4", "x",
                                    "002-0"])
def test_unknown_claim_id(tmp_path, raw, bad_id):
    doc = copy.deepcopy(raw)
    doc["claims"][0]["id"] = bad_id
    assert "is not a claim id" in _error(_write(tmp_path, doc))


def test_duplicate_claim_id(tmp_path, raw):
    doc = copy.deepcopy(raw)
    doc["claims"][1]["id"] = doc["claims"][0]["id"]
    assert "appears twice" in _error(_write(tmp_path, doc))


def test_unknown_check_kind(tmp_path, raw):
    doc = copy.deepcopy(raw)
    doc["claims"][0]["code"].append({"kind": "vibes", "target": "x"})
    assert "unknown kind 'vibes'" in _error(_write(tmp_path, doc))


def test_valid_copy_loads_and_env_override(tmp_path, raw, monkeypatch):
    path = _write(tmp_path, raw)
    assert list(cat_mod.load(path).claims) == IDS
    monkeypatch.setenv("HARNESS_CATALOGUE", path)
    assert cat_mod.load().path == path
