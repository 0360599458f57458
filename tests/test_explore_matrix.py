"""``harness.explore.run_for_matrix``: the release matrix's contract with
the explorer (:func:`harness.matrix.run.explore`): replay the corpus,
explore for the rest of the budget, write a summary, return findings with
an ``id``; and the explorer's own throughput bookkeeping."""
from __future__ import annotations

import json
import os
import sys
import types

import pytest

from harness.explore import run_for_matrix, runner

FLAVOR = {"f": "create_flavor", "args": {"name": "small", "vcpus": 1,
                                         "memory_mb": 512, "root_gb": 10}}


def _entry(directory, name, ops, invariants):
    doc = {"version": 1, "seed": 0, "batch": 0, "exclude": [],
           "failed_after": "", "invariants": invariants, "violations": [],
           "program": "", "ops": ops}
    path = os.path.join(directory, name)
    with open(path, "w") as fh:
        json.dump(doc, fh)
    return path


@pytest.fixture
def broken_abort(monkeypatch):
    """A deliberate defect: aborting an instance claim frees nothing (a
    failed build keeps its usage on the host)."""
    from harness.world import novaenv
    novaenv.load()
    from nova.compute import resource_tracker
    monkeypatch.setattr(resource_tracker.ResourceTracker,
                        "abort_instance_claim",
                        lambda self, context, instance, nodename: None)


@pytest.fixture
def corpus(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    # fails usage_agrees while the defect is in, clean without it
    _entry(str(d), "usage_agrees-failedbuild.json",
           [FLAVOR, {"f": "build_fail", "args": {
               "name": "i1", "flavor": "small", "host": "src",
               "alternate": None}}], ["usage_agrees"])
    # recorded as failing, but nothing in it fails (a fixed defect)
    _entry(str(d), "usage_agrees-fixed.json",
           [FLAVOR, {"f": "boot", "args": {"name": "i1", "flavor": "small",
                                           "host": "dst"}}],
           ["usage_agrees"])
    return str(d)


def _summary(out):
    with open(os.path.join(out, "explore.json")) as fh:
        return json.load(fh)


def test_run_for_matrix_reports_a_reproduced_entry(broken_abort, corpus,
                                                   tmp_path):
    out = str(tmp_path / "out")
    findings = run_for_matrix(out, 1, 3, corpus=corpus, examples=1,
                              steps=4)
    summary = _summary(out)
    results = {r["entry"]: r["result"] for r in summary["corpus"]}
    assert results == {"usage_agrees-failedbuild.json": "reproduces",
                       "usage_agrees-fixed.json": "no longer fails"}
    ids = [f["id"] for f in findings]
    assert "explore:usage_agrees-failedbuild" in ids
    assert "explore:usage_agrees-fixed" not in ids
    assert summary["findings"] == json.loads(json.dumps(findings))
    ex = summary["exploration"]
    assert ex["seed"] == 3 and ex["ops"] > 0 and ex["runs"] > 0
    assert ex["ops_per_second"] > 0 and ex["ops_per_cpu_second"] > 0
    # a failure the exploration found comes with a reproducer that fails
    # as reported when replayed
    for f in findings:
        if f["kind"] == "exploration":
            assert runner.replay_entry(f["reproducer"]).invariants == \
                f["invariants"]


def test_run_for_matrix_without_the_defect_finds_nothing(corpus, tmp_path):
    out = str(tmp_path / "out")
    findings = run_for_matrix(out, 1, 3, corpus=corpus, examples=1,
                              steps=4)
    assert findings == []
    summary = _summary(out)
    assert {r["result"] for r in summary["corpus"]} == {"no longer fails"}
    assert summary["exploration"]["failure"] is None


def test_the_matrix_gets_findings_through_its_own_call(tmp_path):
    """The exact ``python -c`` call of :func:`harness.matrix.run.explore`,
    in a child process of this environment's Python."""
    from harness.matrix import run
    env = types.SimpleNamespace(python=sys.executable)
    rel = types.SimpleNamespace(key="here")
    opts = run.Options(claims=[], scenarios=[], seed=4, explore_budget=1,
                       out_dir=str(tmp_path), nice=0)
    entry = {"findings": {}}
    said = run.explore(env, rel, opts, entry, log=print)
    assert said == "0 finding(s), budget 1", said
    summary = _summary(str(tmp_path / "explore" / "here"))
    assert summary["seed"] == 4 and summary["exploration"]["ops"] > 0


def test_a_parallel_exploration_runs_the_batches_of_a_serial_one():
    """Two processes run batches 0 and 1 exactly as one process does."""
    one = runner.explore(600, seed=9, exclude=("faults",), examples=1,
                         steps=4, max_batches=2, jobs=1)
    two = runner.explore(600, seed=9, exclude=("faults",), examples=1,
                         steps=4, max_batches=2, jobs=2)
    assert one.failure is None and two.failure is None
    assert (two.ops, two.runs, two.batches) == (one.ops, one.runs,
                                                one.batches)
    assert two.jobs == 2 and one.jobs == 1
    assert two.cpu > 0     # the processes' CPU counts (children included)
