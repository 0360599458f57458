"""Compact run records: traces in full only where they matter, gzip, and
a budget a run's record must stay within."""
from __future__ import annotations

import os
import types

import pytest

from harness.oracle import invariants as inv
from harness.oracle.trace import Trace
from harness.report import runrecord
from harness.verdicts.judge import Judge, Observation
from harness.verdicts.verdict import Verdict


def _trace(n_snapshots=30):
    t = Trace()
    t.step("world", "built", hosts=["src", "dst"], reserved={"memory_mb": 512})
    for i in range(n_snapshots):
        t.step("audit", "tracker", host="src", error=None)
        t.step("snapshot", "under fault", usage={
            "src": {"tracker": {"vcpus_used": i, "memory_mb_used": 512 * i},
                    "db": {"vcpus_used": i, "memory_mb_used": 512 * i}}})
    t.step("fault", "inject", fault="status=error")
    t.step("fault", "clear", fault="status=error")
    return t


def _judge(n=300, broken=(7,)):
    j = Judge("test_sized", ["000-1"])
    for i in range(n):
        name = "move [control]" if i == 0 else "move / fault %d" % i
        trace = _trace()
        vs = {st: [] for st in ("before", "under_fault", "during",
                                "after_clear")}
        if i in broken:
            vs["under_fault"].append(inv.Violation(
                "usage_matches_ledger", "tracker src vcpus_used", 1, 2))
        obs = Observation(trial=name, control=i == 0,
                          fault=None if i == 0 else "fault %d" % i,
                          violations=vs, logs=["WARNING x: y"], trace=trace)
        j.observations.append(obs)
        j.traces[name] = trace
    # what the verdict cites (decide() itself is tested elsewhere): one
    # clean variant is evidence too, e.g. of a where() condition
    j.outcome = types.SimpleNamespace(
        verdict=Verdict.CONFIRMED, summary="s",
        evidence=[types.SimpleNamespace(variant="move / fault 9")])
    return j


def test_only_deciding_trials_keep_their_steps(tmp_path):
    j = _judge()
    path = runrecord.export_judge(str(tmp_path), j)
    assert path.endswith(".json.gz")
    doc = runrecord.read_json_maybe_gz(path)
    assert doc["keep_traces"] == "deciding"
    by = {t["name"]: t for t in doc["trials"]}
    assert len(by) == 300
    full = {n for n, t in by.items() if "summary" not in t}
    assert full == {"move [control]", "move / fault 7", "move / fault 9"}
    other = by["move / fault 3"]
    assert other["summary"] == {"steps": 63, "kinds": {
        "world": 1, "audit": 30, "snapshot": 30, "fault": 2}}
    assert [s["kind"] for s in other["steps"]] == ["fault", "fault"]
    # the violations and logs of every trial are kept
    assert by["move / fault 7"]["violations"]["under_fault"]
    assert other["logs"] == ["WARNING x: y"]
    assert len(by["move / fault 7"]["steps"]) == 63


def test_keep_all_and_the_size_it_saves(tmp_path):
    j = _judge()
    small = os.path.getsize(runrecord.export_judge(str(tmp_path / "a"), j))
    big_path = runrecord.export_judge(str(tmp_path / "b"), j, keep="all")
    doc = runrecord.read_json_maybe_gz(big_path)
    assert all("summary" not in t for t in doc["trials"])
    assert all(len(t["steps"]) == 63 for t in doc["trials"])
    assert small * 5 < os.path.getsize(big_path)
    with pytest.raises(ValueError):
        runrecord.export_judge(str(tmp_path / "c"), j, keep="some")


def test_readers_take_old_plain_json_records(tmp_path):
    import json
    os.makedirs(tmp_path / "traces")
    (tmp_path / "traces" / "test_old.json").write_text(json.dumps(
        {"scenario": "test_old", "trials": []}))
    rec = runrecord.Record(str(tmp_path), {"complete": True},
                           {"scenarios": [{"scenario": "test_old"}]})
    assert rec.trace("test_old") == {"scenario": "test_old", "trials": []}
    assert rec.trace("test_missing") is None


def test_sweep_observations_carry_their_own_steps():
    """A sweep shares one world; each fault's observation keeps only its
    own steps (the record then stores the shared ones once)."""
    from harness.verdicts.sweep import run_sweep
    from harness.faults import records as rec

    def setup(w):
        w.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        w.boot("vm1", "small", "src")
    faults = {s: (lambda w, s=s: rec.InstanceField(w, "vm1", vm_state=s))
              for s in ("stopped", "error")}
    obs = run_sweep("boot", setup, faults,
                    world_kwargs={"hosts": ("src",)})
    control, first, second = obs
    assert any(s.what == "boot" for s in control.trace.steps)
    for o in (first, second):
        assert not any(s.what == "boot" for s in o.trace.steps)
        assert [s.what for s in o.trace.steps if s.kind == "fault"] == [
            "inject", "clear"]
    assert first.trace is not second.trace


@pytest.mark.parametrize("sizes, problems", [
    ({"record": 3 << 20, "html": 1 << 20}, 0),
    ({"record": 21 << 20, "html": 1 << 20}, 1),
    ({"record": 3 << 20, "html": 9 << 20}, 1)])
def test_budget(sizes, problems):
    assert len(runrecord.over_budget(sizes)) == problems


def test_record_sizes(tmp_path):
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "a.json.gz").write_bytes(b"x" * 1000)
    (tmp_path / "report.html").write_bytes(b"y" * 500)
    sizes = runrecord.record_sizes(str(tmp_path))
    assert sizes == {"record": 1500, "html": 500, "traces": 1000}
