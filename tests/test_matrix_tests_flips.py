"""Flips of tests that are not verdicts (lifecycle sequences, corpus
replays): the Nova functions they ran, recorded; the changed ones where
the two releases' runs fork, first; the flip rendered and, without the
environments, listed with the reason it is not explained."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tarfile
import textwrap

from harness.matrix import calls, envs, flips, report
from harness.matrix import run as matrix_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _package(tmp_path, name, files):
    for rel, text in files.items():
        path = tmp_path / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    (tmp_path / name / "__init__.py").touch()
    return str(tmp_path / name)


def test_recorder_records_what_ran_and_not_what_did_not(tmp_path,
                                                          monkeypatch):
    pkg = _package(tmp_path, "fakenova_rec", {"mod.py": '''\
        class Tracker:
            def audit(self):
                return helper()

            def never(self):
                return 0

        def helper():
            return [x for x in (1, 2)]        # a comprehension: helper's

        def not_called():
            return 0
        '''})
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("fakenova_rec.mod")
    rec = calls.Recorder(pkg, package="fakenova_rec")
    rec.start()
    try:
        mod.Tracker().audit()
    finally:
        rec.stop()
    got = rec.as_dict()
    assert got["functions"] == {"fakenova_rec.mod": ["Tracker.audit",
                                                     "helper"]}
    assert got["edges"] == [["fakenova_rec.mod:Tracker.audit",
                             "fakenova_rec.mod:helper"]]
    assert sys.getprofile() is None


def test_recorder_plugin_records_a_test_run_by_pytest(tmp_path):
    """``-p harness.matrix.calls --record-calls``: the Nova functions one
    test ran, and its outcome."""
    (tmp_path / "test_one.py").write_text(textwrap.dedent('''\
        from nova import utils

        def test_it():
            assert utils.is_none_string("None")
        '''))
    out = tmp_path / "calls.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "harness.matrix.calls", "--record-calls", str(out),
         str(tmp_path / "test_one.py")], cwd=str(tmp_path), text=True,
        capture_output=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    test, = json.loads(out.read_text())["tests"].values()
    assert test["outcome"] == "passed"
    assert "is_none_string" in test["functions"]["nova.utils"]
    assert "last_bytes" not in test["functions"].get("nova.utils", [])


OLD = '''\
    class Manager:
        def audit(self, nodes):
            for n in nodes:
                self.destroy(n)

        def destroy(self, n):
            return n

        def report(self):
            return 1

        def steady(self):
            return 2
    '''
NEW = '''\
    class Manager:
        def audit(self, nodes):
            for n in nodes:
                if not self.is_gone(n):
                    continue   # keep it, the rebalance may bring it back
                self.destroy(n)

        def destroy(self, n):
            return n

        def is_gone(self, n):
            """Safe to delete?"""
            return False

        def report(self):
            return 1 + 1

        def steady(self):
            return 2
    '''


def _tree(tmp_path, version, text, changelog):
    top = tmp_path / version
    (top / "nova").mkdir(parents=True)
    (top / "nova" / "manager.py").write_text(textwrap.dedent(text))
    (top / "ChangeLog").write_text("\n".join("* " + c for c in changelog))
    return flips.Source(str(top))


M = "nova.manager:Manager."
OLD_RUN = {"functions": {"nova.manager": ["Manager.audit", "Manager.destroy",
                                          "Manager.report",
                                          "Manager.steady"]},
           "edges": [[M + "audit", M + "destroy"]]}
NEW_RUN = {"functions": {"nova.manager": ["Manager.audit", "Manager.is_gone",
                                          "Manager.report",
                                          "Manager.steady"]},
           "edges": [[M + "audit", M + "is_gone"]]}


def test_ranking_puts_the_changed_function_where_the_runs_fork_first(
        tmp_path):
    """``audit`` changed and, in the old release only, called ``destroy``
    (which both releases have): the fork.  ``is_gone`` (added, run in the
    new release only) next; ``report`` (changed, ran in both) last;
    ``steady`` (unchanged) not at all."""
    old = _tree(tmp_path, "27.5.1", OLD, ["Base"])
    new = _tree(tmp_path, "28.3.1", NEW, ["Base", "Bump hacking",
                                         "Make node rebalance safer",
                                         "Fix the docs build"])
    ranking = calls.rank(OLD_RUN, NEW_RUN, old, new, "27.5.1", "28.3.1")
    assert [(r["function"].split(".")[-1], r["tier"], r["forks"])
            for r in ranking] == [("audit", 0, 1), ("is_gone", 1, 0),
                                  ("report", 2, 0)]
    assert ranking[0]["calls_one_release_only"] == [
        "nova.manager.Manager.destroy", "nova.manager.Manager.is_gone"]
    focus = calls.focus_of(ranking)
    assert focus == ["nova.manager.Manager.audit",
                     "nova.manager.Manager.is_gone"]
    # the one matcher: no note or subject names the code, so a subject
    # told in the changed functions' own words is the change
    expl = flips.explain(focus, old, new, "27.5.1", "28.3.1")
    assert [m.ref for m in expl.commits] == ["Make node rebalance safer"]


def _doc_with_test_flip(flip_extra):
    test = "test_lifecycle[a node goes away]"
    rels = []
    for label, outcome in (("28.3.1", "failed"), ("29.4.0", "passed")):
        rels.append({"label": label, "key": label, "version": label,
                     "series": int(label.split(".")[0]), "claims": {},
                     "findings": {}, "scenarios": {}, "build_seconds": 1.0,
                     "built_now": False, "run_seconds": 2.0, "exit_code": 0,
                     "run_dir": "r", "env": "nowhere/" + label,
                     "tests": {test: "got None"} if outcome == "failed"
                     else {}, "other_tests": {test: outcome}})
    flip = dict({"kind": "test", "row": test, "old": "failed",
                 "new": "passed", "older": "28.3.1", "newer": "29.4.0",
                 "series_not_judged": []}, **flip_extra)
    return {"id": "m", "seed": 0, "selection": {}, "releases": rels,
            "flips": [flip]}


def test_a_test_flip_renders_with_what_the_test_ran():
    expl = flips.Explanation(
        "28.3.1", "29.4.0", ["nova.compute.manager.ComputeManager.update"],
        [flips.FunctionChange("nova.compute.manager.ComputeManager.update",
                              "changed", ["+x"], ["is_node_deleted"])], [],
        [flips.Match("commit", "Make compute node rebalance safer",
                     "Make compute node rebalance safer", 8, ["words"])])
    doc = _doc_with_test_flip({
        "explanation": dict(expl.as_dict(), summary=expl.summary()),
        "ranking": [{"function": "nova.compute.manager.ComputeManager."
                     "update", "status": "changed",
                     "ran_in": ["28.3.1", "29.4.0"], "forks": 1, "tier": 0,
                     "calls_one_release_only": [
                         "nova.objects.compute_node.ComputeNode.destroy"]}],
        "recorded": {"28.3.1": {"outcome": "failed", "functions": 500},
                     "29.4.0": {"outcome": "passed", "functions": 501}}})
    md = report.markdown(doc)
    assert "### test_lifecycle[a node goes away]: failed (28.3.1) -> " \
        "passed (29.4.0)" in md
    assert "run again in both releases with the call recorder" in md
    assert "calls ComputeNode.destroy run in one release only" in md
    assert "commit `Make compute node rebalance safer`" in md
    page = report.render_html(doc)
    assert "Make compute node rebalance safer" in page
    assert "ComputeNode.destroy" in page
    text = report.terminal(doc)
    assert "change: ComputeManager.update (changed)" in text


def test_merge_without_environments_says_why_a_test_flip_is_unexplained(
        tmp_path, monkeypatch):
    monkeypatch.setattr(envs, "CACHE", str(tmp_path / "no-cache"))
    doc = _doc_with_test_flip({})
    parts = []
    for rel in doc["releases"]:
        d = tmp_path / ("job-" + rel["label"])
        d.mkdir()
        (d / "matrix.json").write_text(json.dumps(dict(
            doc, releases=[rel], flips=[])))
        parts.append(str(d))
    out = tmp_path / "merged"
    assert matrix_run.merge(parts, str(out), log=lambda *a: None) == 0
    flip, = json.loads((out / "matrix.json").read_text())["flips"]
    assert flip["kind"] == "test"
    assert "Nova 28.3.1's environment is not on this machine" in flip[
        "unexplained"]
    assert flip["explanation"]["summary"].startswith("not explained: ")
    assert "Not explained: Nova 28.3.1's environment" in (
        out / "matrix.md").read_text()
