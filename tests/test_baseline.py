"""The baseline file: loading, one-line errors, atomic merge."""
from __future__ import annotations

import json
import os

import pytest
from scenario_files import verdict_scenarios

from harness.verdicts import baseline
from harness.verdicts.baseline import BaselineError


def _write(tmp_path, text) -> str:
    path = tmp_path / "baseline.json"
    path.write_text(text if isinstance(text, str) else json.dumps(text))
    return str(path)


def _error(path) -> str:
    with pytest.raises(BaselineError) as err:
        baseline.load(path)
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg


def test_the_checked_in_baseline_records_every_scenario():
    """The baseline the runs compare with holds a verdict for every
    scenario pytest collects under scenarios/ and for nothing else: an
    empty or partial baseline would make every unrecorded scenario drift
    (or, read as a default, pass unchecked), and an entry for a scenario
    that no longer exists compares with nothing."""
    recorded = baseline.load()
    scenarios = set(verdict_scenarios())
    assert scenarios, "no scenario collected under scenarios/"
    missing = sorted(scenarios - set(recorded))
    assert not missing, "%d scenario(s) without a recorded verdict in %s: " \
        "%s; record them with 'python -m harness run --record-baseline'" % (
            len(missing), baseline.DEFAULT_PATH, ", ".join(missing))
    stale = sorted(set(recorded) - scenarios)
    assert not stale, "the baseline records scenarios that do not exist: " \
        "%s" % ", ".join(stale)


def test_missing_file_is_empty(tmp_path):
    assert baseline.load(str(tmp_path / "nope.json")) == {}


def test_good_file(tmp_path):
    path = _write(tmp_path, {"schema": 1, "verdicts": {
        "test_a": "CONFIRMED", "test_b": "REFUTED"}})
    assert baseline.load(path) == {"test_a": "CONFIRMED",
                                   "test_b": "REFUTED"}


@pytest.mark.parametrize("text", ["{", "", "not json", '{"schema": 1,}',
                                  "\x00\x01"])
def test_corrupt_json(tmp_path, text):
    msg = _error(_write(tmp_path, text))
    assert "not valid JSON" in msg and "--record-baseline" in msg


@pytest.mark.parametrize("doc", [
    [], "\"x\"", 3, {}, {"verdicts": {}}, {"schema": 2, "verdicts": {}},
    {"schema": "1", "verdicts": {}}, {"schema": 1},
    {"schema": 1, "verdicts": []}])
def test_wrong_schema(tmp_path, doc):
    assert "lacks schema 1" in _error(_write(tmp_path, doc))


@pytest.mark.parametrize("verdict", ["confirmed", "PASSED", None, 1])
def test_unknown_verdict(tmp_path, verdict):
    path = _write(tmp_path, {"schema": 1, "verdicts": {
        "test_ok": "REFUTED", "test_bad": verdict}})
    msg = _error(path)
    assert "test_bad" in msg and "unknown verdict" in msg


def test_record_merges(tmp_path):
    path = _write(tmp_path, {"schema": 1, "verdicts": {
        "test_b": "REFUTED", "test_a": "CONFIRMED"}})
    baseline.record(path, {"test_b": "CONFIRMED", "test_c": "NOT_TESTABLE"})
    doc = json.loads(open(path).read())
    assert doc == {"schema": 1, "verdicts": {
        "test_a": "CONFIRMED", "test_b": "CONFIRMED",
        "test_c": "NOT_TESTABLE"}}
    assert list(doc["verdicts"]) == sorted(doc["verdicts"])


def test_record_creates_and_replaces_a_corrupt_file(tmp_path):
    path = str(tmp_path / "sub" / "baseline.json")
    baseline.record(path, {"test_a": "REFUTED"})
    assert baseline.load(path) == {"test_a": "REFUTED"}
    with open(path, "w") as f:
        f.write("{corrupt")
    baseline.record(path, {"test_b": "INCONCLUSIVE"})
    assert baseline.load(path) == {"test_b": "INCONCLUSIVE"}


def test_record_is_atomic(tmp_path, monkeypatch):
    path = _write(tmp_path, {"schema": 1, "verdicts": {"test_a": "REFUTED"}})
    before = open(path).read()

    def fail(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        baseline.record(path, {"test_b": "CONFIRMED"})
    # the old file is intact and no temporary file is left behind
    assert open(path).read() == before
    assert sorted(os.listdir(tmp_path)) == ["baseline.json"]
