"""The release matrix: release names, the adapter's decisions, flip
explanations, the report's flip marks, and bad input leaving nothing behind.

These run everywhere (no network, no release environment).  The worlds
built under the oldest and the newest series are in
``tests/test_nova_releases.py``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import textwrap

import pytest

from harness.matrix import envs, flips, releases, report
from harness.matrix import run as matrix_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------------
# release names
# ----------------------------------------------------------------------
def test_series_names_the_newest_release_and_its_placement():
    rel = releases.parse("27")
    assert rel.version == releases.SERIES[27].newest
    assert rel.series.placement == "9.0.0"
    assert releases.parse("27.2.0").version == "27.2.0"
    assert releases.parse("34.0").version == "34.0.0"
    assert os.path.isfile(rel.series.constraints)


def test_every_series_has_a_checked_in_constraints_file():
    for series in releases.SERIES.values():
        with open(series.constraints, encoding="utf-8") as f:
            text = f.read()
        assert "openstack-placement==%s" % series.placement in text
        assert not any(line.lower().startswith("nova==")
                       for line in text.splitlines())


@pytest.mark.parametrize("spec, words", [
    ("26.3.0", "outside the matrix"),
    ("35", "outside the matrix"),
    ("banana", "is not a Nova release"),
    ("/nonexistent/nova", "is not a Nova source tree"),
])
def test_unknown_releases_are_refused_with_the_remedy(spec, words):
    with pytest.raises(releases.UnknownRelease) as exc:
        releases.parse(spec)
    assert words in str(exc.value)
    assert "\n" not in str(exc.value)


def test_default_list_is_every_series_once():
    rels = releases.parse_list("")
    assert [r.series.major for r in rels] == sorted(releases.SERIES)
    assert len(releases.parse_list("27,27.5.1,34")) == 2


def test_source_tree_with_a_named_series(tmp_path):
    (tmp_path / "nova").mkdir()
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = nova\n")
    rel = releases.parse("%s@29" % tmp_path)
    assert rel.source_tree == str(tmp_path)
    assert rel.series.major == 29 and rel.version is None
    assert rel.nova_requirement == str(tmp_path)


def test_releases_are_ordered_as_nova_releases_them():
    rels = [releases.parse(x) for x in ("34", "27.10.0", "27.2.0", "28")]
    ordered = sorted(rels, key=matrix_run.order_key)
    assert [r.label for r in ordered] == ["27.2.0", "27.10.0",
                                          releases.SERIES[28].newest,
                                          releases.SERIES[34].newest]


# ----------------------------------------------------------------------
# the adapter's logic (the installed Nova aside)
# ----------------------------------------------------------------------
ERA_EVENTLET = textwrap.dedent("""\
    import os
    def _monkey_patch():
        import eventlet
        eventlet.monkey_patch()
    if os.environ.get('OS_NOVA_DISABLE_EVENTLET_PATCHING', '') != '1':
        _monkey_patch()
    """)
ERA_THREADING = textwrap.dedent("""\
    import os
    def is_patched():
        return False
    def patch(backend='eventlet'):
        pass
    """)


def test_adapter_tells_the_concurrency_era_from_the_source():
    from harness.world import nova_releases
    assert nova_releases.concurrency_era(ERA_EVENTLET) == "eventlet"
    assert nova_releases.concurrency_era(ERA_THREADING) == "threading"
    # the Nova this process runs is one of the two
    assert nova_releases.concurrency_era() in ("eventlet", "threading")


def test_adapter_runs_nova_32_compute_on_eventlet():
    """Nova 32 has the start-up choice (patch()) but its compute's
    ProviderTree cannot be deep-copied under native threads (no
    __getstate__ until 33; 'cannot pickle _thread.lock' on every update to
    placement), so the adapter runs it on eventlet, as it ran then."""
    from harness.world import nova_releases
    old = ("class ProviderTree(object):\n    def __init__(self):\n"
           "        pass\n")
    new = old + "\n    def __getstate__(self):\n        return {}\n"
    assert nova_releases.compute_runs_natively(old) is False
    assert nova_releases.compute_runs_natively(new) is True
    if nova_releases.concurrency_era() == "threading":   # 34 here
        assert nova_releases.compute_runs_natively() is True


def test_adapter_bridges_the_service_ref(monkeypatch):
    """Nova 28 added ResourceTracker.set_service_ref; before, the tracker
    found its service itself.  The adapter calls it when it exists."""
    from harness.world import nova_releases

    class Old:
        pass

    class New:
        def set_service_ref(self, ref):
            self.service_ref = ref

    old, new = Old(), New()
    nova_releases.set_service_ref(old, "svc")
    nova_releases.set_service_ref(new, "svc")
    assert not hasattr(old, "service_ref")
    assert new.service_ref == "svc"


# ----------------------------------------------------------------------
# flips: which functions changed and which note/commit says why
# ----------------------------------------------------------------------
RT_OLD = textwrap.dedent('''\
    class ResourceTracker:
        def _update_usage_from_migrations(self, context, migrations):
            for m in migrations:
                self._update_usage_from_migration(context, m)

        def other(self):
            return 1
    ''')
RT_NEW = textwrap.dedent('''\
    class ResourceTracker:
        def _update_usage_from_migrations(self, context, migrations):
            for m in migrations:
                if m.instance_uuid not in self.tracked_instances:
                    continue   # skip_orphan_migration
                self._update_usage_from_migration(context, m)

        def other(self):
            return 1
    ''')


def _sdist(tmp_path, version, rt, notes, changelog):
    top = tmp_path / ("nova-%s" % version)
    (top / "nova" / "compute").mkdir(parents=True)
    (top / "nova" / "compute" / "resource_tracker.py").write_text(rt)
    (top / "releasenotes" / "notes").mkdir(parents=True)
    for name, text in notes.items():
        (top / "releasenotes" / "notes" / name).write_text(text)
    (top / "ChangeLog").write_text("CHANGES\n=======\n\n%s\n------\n\n%s\n"
                                   % (version, "\n".join(
                                       "* " + c for c in changelog)))
    path = tmp_path / ("nova-%s.tar.gz" % version)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    return str(path)


def test_flip_names_the_changed_function_and_the_note_behind_it(tmp_path):
    old = _sdist(tmp_path, "27.5.1", RT_OLD, {"a.yaml": "fixes: [x]\n"},
                 ["Old change"])
    note = ("fixes:\n  - |\n    The resource tracker now skips a migration "
            "whose instance is not in its tracked_instances.\n")
    new = _sdist(tmp_path, "28.3.1", RT_NEW,
                 {"a.yaml": "fixes: [x]\n", "b.yaml": note,
                  "c.yaml": "features:\n  - unrelated libvirt thing\n"},
                 ["Old change", "Skip orphan migrations in "
                  "_update_usage_from_migrations", "Bump libvirt"])
    fn = "nova.compute.resource_tracker.ResourceTracker"
    e = flips.explain([fn + "._update_usage_from_migrations", fn + ".other"],
                      flips.Source(old), flips.Source(new), "27.5.1",
                      "28.3.1")
    assert [c.function for c in e.changes] == [
        fn + "._update_usage_from_migrations"]
    assert "tracked_instances" in e.changes[0].identifiers
    assert [m.ref for m in e.notes] == ["b.yaml"]
    assert e.commits[0].ref.startswith("Skip orphan migrations")
    assert "Bump libvirt" not in [m.ref for m in e.commits]
    assert "_update_usage_from_migrations (changed)" in e.summary()


def test_no_change_is_said_as_such(tmp_path):
    a = _sdist(tmp_path, "33.0.2", RT_OLD, {}, [])
    b = _sdist(tmp_path, "34.0.0", RT_OLD, {}, [])
    fn = "nova.compute.resource_tracker.ResourceTracker.other"
    e = flips.explain([fn], flips.Source(a), flips.Source(b), "33", "34")
    assert e.changes == [] and e.notes == [] and e.commits == []
    assert "the code of none of ResourceTracker.other changed" in \
        e.summary()


def test_a_docstring_or_comment_change_is_no_code_change(tmp_path):
    doc_old = RT_OLD.replace("def other(self):\n",
                             "def other(self):\n        \"\"\"Teh one.\"\"\"\n")
    doc_new = RT_OLD.replace("def other(self):\n",
                             "def other(self):\n        \"\"\"The one.\"\"\"\n"
                             "        # NOTE(x): a comment\n")
    a = _sdist(tmp_path, "33.0.2", doc_old, {}, [])
    b = _sdist(tmp_path, "34.0.0", doc_new, {}, ["Fix typo in other"])
    fn = "nova.compute.resource_tracker.ResourceTracker.other"
    e = flips.explain([fn], flips.Source(a), flips.Source(b), "33", "34")
    assert [c.status for c in e.changes] == ["docstring/comments only"]
    assert e.changes[0].identifiers == []
    assert "the code of none of ResourceTracker.other changed" in \
        e.summary()


# ----------------------------------------------------------------------
# the report marks every flip
# ----------------------------------------------------------------------
def _doc():
    def rel(label, claims, findings=None):
        return {"label": label, "key": label, "claims": claims,
                "series": int(label.split(".")[0]), "version": label,
                "findings": findings or {}, "scenarios": {},
                "build_seconds": 1.0, "built_now": False,
                "run_seconds": 2.0, "exit_code": 0, "run_dir": "r"}
    return {"id": "m", "seed": 0, "selection": {}, "releases": [
        rel("27.5.1", {"X-1": "CONFIRMED", "X-2": "REFUTED"}),
        rel("28.3.1", {"X-1": "REFUTED", "X-2": "REFUTED"},
            {"F1": "present"}),
        rel("29.4.0", {"X-1": "REFUTED", "X-2": "CONFIRMED"})],
        "flips": []}


def test_report_highlights_each_flip_and_only_flips():
    doc = _doc()
    assert report.flipped(doc, "claims") == {("X-1", "28.3.1"),
                                             ("X-2", "29.4.0")}
    text = report.text_table(doc, "claims", "claim")
    assert text.count(report.FLIP) == 2
    md = report.markdown(doc)
    assert "**%s REFUTED**" % report.FLIP in md
    assert "**%s CONFIRMED**" % report.FLIP in md
    html = report.render_html(doc)
    assert html.count('flip"') == 2


# ----------------------------------------------------------------------
# bad input: nothing half-built
# ----------------------------------------------------------------------
def _failing_at(step, output, steps=None):
    """A stand-in for the build's steps (venv, pip, import) that fails at
    ``step`` after the earlier steps have written into the build dir."""
    def fake_run(cmd, log, what, **kw):
        if steps is not None:
            steps.append(what)
        build = os.path.dirname(log)
        os.makedirs(os.path.join(build, "venv", "bin"), exist_ok=True)
        if what == step:
            raise envs._StepFailed(what, output)
        if what == "downloading the nova sdist":
            os.makedirs(os.path.join(build, "sdist"))
            open(os.path.join(build, "sdist", "nova-27.5.1.tar.gz"),
                 "w").close()
        return ""
    return fake_run


def test_failed_build_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(envs, "CACHE", str(tmp_path))
    steps = []

    monkeypatch.setattr(envs, "_run", _failing_at(
        "installing nova and its dependencies", "ERROR: Could not build "
        "wheels for greenlet\nerror: failed\n", steps))
    with pytest.raises(envs.EnvError) as exc:
        envs.build(releases.parse("27"), log=lambda *a: None)
    msg = str(exc.value)
    assert "does not install on Python 3.11" in msg and "\n" not in msg
    assert "pick another release of series 27" in msg
    assert os.listdir(tmp_path) == []
    assert steps[-1] == "installing nova and its dependencies"


@pytest.mark.parametrize("step, words", [
    ("downloading the nova sdist", "is not on the package index"),
    ("importing nova", "installs but does not import"),
])
def test_each_failed_step_says_what_to_do(tmp_path, monkeypatch, step,
                                          words):
    monkeypatch.setattr(envs, "CACHE", str(tmp_path))

    monkeypatch.setattr(envs, "_run", _failing_at(
        step, "ERROR: No matching distribution found for nova==27.99.0\n"))
    with pytest.raises(envs.EnvError) as exc:
        envs.build(releases.parse("27.99.0"), log=lambda *a: None)
    assert words in str(exc.value)
    assert os.listdir(tmp_path) == []


def _cli(*args):
    env = dict(os.environ, HARNESS_MATRIX_CACHE="/nonexistent-cache")
    return subprocess.run([sys.executable, "-m", "harness", "matrix"] +
                          list(args), cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=120)


@pytest.mark.parametrize("args", [["--nova", "26"], ["--nova", "27,x.y"],
                                  ["--nova", "/no/such/tree"],
                                  ["--merge", "/no/such/dir"]])
def test_cli_bad_input_is_one_line_and_exit_2(args, tmp_path):
    proc = _cli(*args, "--runs-dir", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("error: ")
    assert os.listdir(tmp_path) == []


def test_merge_renders_one_matrix_from_per_release_outputs(tmp_path):
    doc = _doc()
    parts = []
    for i, rel in enumerate(doc["releases"]):
        d = tmp_path / ("job%d" % i)
        d.mkdir()
        part = dict(doc, releases=[rel])
        (d / "matrix.json").write_text(json.dumps(part))
        parts.append(str(d))
    out = tmp_path / "merged"
    # claims outside the catalogue name no Nova function: no sdist needed
    proc = _cli("--merge", *reversed(parts), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    merged = json.loads((out / "matrix.json").read_text())
    assert [r["label"] for r in merged["releases"]] == [
        "27.5.1", "28.3.1", "29.4.0"]
    assert (out / "matrix.md").exists() and (out / "matrix.html").exists()
    assert report.FLIP in proc.stdout


def test_merge_explains_a_catalogued_flip_from_the_release_sdists(tmp_path):
    """A nightly merge of two jobs' outputs: claim 001-3 flips, and the
    explainer reads the two sdists the jobs recorded (no environment, no
    network) and names the changed function and the commit behind it."""
    fn = "nova.compute.resource_tracker.ResourceTracker"
    old_rt = RT_OLD.replace("_update_usage_from_migrations",
                            "_populate_assigned_resources")
    new_rt = RT_NEW.replace("_update_usage_from_migrations",
                            "_populate_assigned_resources")
    sdists = [_sdist(tmp_path, "30.3.0", old_rt, {}, ["Old change"]),
              _sdist(tmp_path, "31.3.1", new_rt, {},
                     ["Old change", "Check tracked_instances in "
                      "_populate_assigned_resources", "Bump hacking"])]
    parts = []
    for version, sdist, verdict in zip(("30.3.0", "31.3.1"), sdists,
                                       ("CONFIRMED", "REFUTED")):
        d = tmp_path / ("job-%s" % version)
        d.mkdir()
        rel = {"label": version, "key": version, "version": version,
               "series": int(version.split(".")[0]), "sdist": sdist,
               "claims": {"001-3": verdict}, "findings": {},
               "scenarios": {}, "build_seconds": 1.0, "built_now": False,
               "run_seconds": 2.0, "exit_code": 0, "run_dir": "r"}
        (d / "matrix.json").write_text(json.dumps(
            {"id": d.name, "seed": 0, "selection": {}, "releases": [rel]}))
        parts.append(str(d))
    out = tmp_path / "merged"
    assert matrix_run.merge(parts, str(out), log=lambda *a: None) == 0
    flip, = json.loads((out / "matrix.json").read_text())["flips"]
    assert (flip["row"], flip["old"], flip["new"]) == ("001-3", "CONFIRMED",
                                                      "REFUTED")
    e = flip["explanation"]
    assert [c["function"] for c in e["changes"]] == [
        fn + "._populate_assigned_resources"]
    assert [m["ref"] for m in e["commits"]] == [
        "Check tracked_instances in _populate_assigned_resources"]
    assert "_populate_assigned_resources (changed)" in flip["explanation"][
        "summary"]
    assert "Check tracked_instances" in (out / "matrix.md").read_text()


# ----------------------------------------------------------------------
# --db: one server for the matrix, the engine on every release's run
# ----------------------------------------------------------------------
class _FakeEnv:
    def __init__(self, rel, root):
        self.release, self.path = rel, str(root / rel.key)
        self.meta, self.built_now, self.seconds = {}, False, 0.0
        self.sdist = None
        self.python = "/fake/%s/bin/python" % rel.key


def test_db_reaches_every_release_run_and_one_server_serves_them(
        tmp_path, monkeypatch):
    import contextlib
    from harness import cli
    from harness.cli import matrix as matrix_cmd
    events, commands = [], []

    def fake_build_all(rels, log=print, nice=10):
        events.append("build")
        return {r.key: _FakeEnv(r, tmp_path) for r in rels}

    @contextlib.contextmanager
    def fake_server(args):
        events.append("server up %s" % args.db)
        yield args.db
        events.append("server down")

    def fake_run(cmd, **kw):
        if "-c" in cmd:              # the explorer's probe
            return subprocess.CompletedProcess(cmd, 0, '{"missing": 1}\n',
                                               "")
        commands.append(cmd)
        events.append("run %s" % cmd[3])
        runs_dir = cmd[cmd.index("--runs-dir") + 1]
        rec = os.path.join(runs_dir, "r1")
        os.makedirs(rec)
        with open(os.path.join(rec, "verdicts.json"), "w") as f:
            json.dump({"claims": [{"claim": "001-3", "verdict": "REFUTED"}],
                       "scenarios": [], "findings": []}, f)
        with open(os.path.join(rec, "run.json"), "w") as f:
            json.dump({"nova": {"db": "mysql",
                                "db_server": "MariaDB 10.11.6"}}, f)
        os.symlink(rec, os.path.join(runs_dir, "latest"))
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(matrix_run, "build_all", fake_build_all)
    monkeypatch.setattr(matrix_cmd, "db_server", fake_server)
    monkeypatch.setattr(matrix_run.subprocess, "run", fake_run)
    out = tmp_path / "out"
    code = cli.main(["matrix", "--nova", "27,34", "--db", "mariadb", "-n",
                     "1", "--claims", "001-3", "--out", str(out)])
    assert code == 0
    # the alias is resolved once; every release's run gets it
    assert [c[c.index("--db") + 1] for c in commands] == ["mysql", "mysql"]
    assert events[0] == "build" and events[1] == "server up mariadb"
    assert events[-1] == "server down" and \
        sum(e.startswith("server up") for e in events) == 1
    doc = json.loads((out / "matrix.json").read_text())
    assert doc["db"] == "mysql"
    assert [r["db"] for r in doc["releases"]] == ["MariaDB 10.11.6"] * 2
    assert "MariaDB 10.11.6" in (out / "matrix.md").read_text()


def test_unknown_db_engine_is_one_line_and_nothing_is_built(tmp_path):
    cache, runs = tmp_path / "cache", tmp_path / "runs"
    env = dict(os.environ, HARNESS_MATRIX_CACHE=str(cache))
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "matrix", "--nova", "27", "--db",
         "oracle", "--runs-dir", str(runs)], cwd=ROOT, env=env, text=True,
        capture_output=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("error: unknown database engine 'oracle'")
    assert not cache.exists() and not runs.exists()


PT_OLD = textwrap.dedent('''\
    class ResourceTracker:
        def _update_to_placement(self, context, compute_node):
            prov_tree = self.reportclient.get_provider_tree_and_ensure_root(
                context, compute_node.uuid)
            return prov_tree
    ''')


def test_flip_found_from_a_renamed_word_told_in_prose(tmp_path):
    """Nova 34 moved _update_to_placement to
    get_provider_subtree_and_ensure_root; the commit names no function
    ('eliminate ProviderTree deepcopy at startup') and its note says
    'sub-tree'.  The renamed word finds the note, and the note's title
    finds its commit, ahead of a note that shares only common words."""
    new_rt = PT_OLD.replace("get_provider_tree_", "get_provider_subtree_")
    deep = ("bug-2162924-avoid-n-squared-provider-tree-deepcopy-at-startup-"
            "f61fb37cd840dd64.yaml")
    notes = {deep: "fixes:\n  - |\n    Fixes a provider tree deep-copy; now "
                   "a provider sub-tree is used.\n",
             "owner-trait-5895fdabd90e404e.yaml":
                 "features:\n  - |\n    Nova reports a trait on the root "
                 "provider it ensures exists.\n"}
    old = _sdist(tmp_path, "33.0.2", PT_OLD, {}, ["Old change"])
    new = _sdist(tmp_path, "34.0.0", new_rt, notes,
                 ["Old change", "Report OWNER_NOVA trait on providers",
                  "perf(ironic): eliminate O(N^2) ProviderTree deepcopy at "
                  "startup", "Bump hacking"])
    e = flips.explain(["nova.compute.resource_tracker.ResourceTracker."
                       "_update_to_placement"], flips.Source(old),
                      flips.Source(new), "33.0.2", "34.0.0")
    assert e.changes[0].renamed == ["subtree"]
    assert e.notes[0].ref == deep
    assert e.commits[0].ref.startswith("perf(ironic): eliminate")
    assert "Bump hacking" not in [m.ref for m in e.commits]
    assert "commit: perf(ironic)" in e.summary()


def test_a_flip_outside_the_claims_functions_names_the_module_changes(
        tmp_path):
    """None of the claim's functions changed, but another method of the
    same class did: the explanation says so and matches notes and commits
    against that change (``nearby``), and the report lists it."""
    old = _sdist(tmp_path, "31.3.1", RT_OLD, {}, ["Old change"])
    new_rt = RT_OLD.replace("return 1", "return self.compute_id_of_node")
    new = _sdist(tmp_path, "32.2.1", new_rt, {},
                 ["Old change", "Use compute_id_of_node in other",
                  "Bump hacking"])
    fn = "nova.compute.resource_tracker.ResourceTracker"
    e = flips.explain([fn + "._update_usage_from_migrations"],
                      flips.Source(old), flips.Source(new), "31.3.1",
                      "32.2.1")
    assert e.changes == []
    assert [c.function for c in e.nearby] == [fn + ".other"]
    assert [m.ref for m in e.commits] == ["Use compute_id_of_node in other"]
    assert "in the same module: ResourceTracker.other (changed)" in \
        e.summary()
    doc = _doc()
    doc["flips"] = [{"kind": "claim", "row": "X-1", "old": "CONFIRMED",
                     "new": "REFUTED", "older": "27.5.1",
                     "newer": "28.3.1", "explanation": dict(
                         e.as_dict(), summary=e.summary())}]
    assert "`ResourceTracker.other` (changed)" in report.markdown(doc)
    assert "ResourceTracker.other</code> changed" in report.render_html(doc)


def test_release_differences_are_called_through_the_adapter_only():
    """A bridged method called directly breaks the releases without it
    (``h.rt.set_service_ref(...)`` in the lifecycle restart failed on Nova
    27): outside the adapter, only ``nova_releases.<bridge>(...)``."""
    import re
    bridged = ("set_service_ref", "_do_prep_resize", "context.reset_globals",
               "_configure_placement")
    offenders = []
    for top in ("harness", "scenarios"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                path = os.path.join(dirpath, name)
                if not name.endswith(".py") or path.endswith(
                        os.path.join("world", "nova_releases.py")):
                    continue
                with open(path, encoding="utf-8") as f:
                    for n, line in enumerate(f, 1):
                        for m in bridged:
                            if re.search(r"(?<!nova_releases)\.%s\(" %
                                         re.escape(m), line) and \
                                    "def " not in line:
                                offenders.append("%s:%d: %s" % (
                                    os.path.relpath(path, ROOT), n,
                                    line.strip()))
    assert offenders == []


def test_a_release_whose_only_failures_are_not_verdicts_is_judged(
        tmp_path, monkeypatch):
    """Exit 2 from a release's run with a complete verdicts.json and a
    failing lifecycle test (Nova 27 deletes a node its driver stops
    reporting): the verdicts stand and the failing test is a row of its
    own, "failed" there and "passed" in a release where it passes."""
    junit = ('<testsuites><testsuite><testcase name="test_a"/>'
             '<testcase name="test_lifecycle[node goes away]"><failure '
             'message="AssertionError: got None (no compute node)">x'
             '</failure></testcase></testsuite></testsuites>')

    def fake_run(cmd, **kw):
        if "-c" in cmd:
            return subprocess.CompletedProcess(cmd, 0, '{"missing": 1}\n',
                                               "")
        runs_dir = cmd[cmd.index("--runs-dir") + 1]
        rec = os.path.join(runs_dir, "r1")
        os.makedirs(rec)
        old = "27." in runs_dir
        with open(os.path.join(rec, "verdicts.json"), "w") as f:
            json.dump({"complete": True, "claims": [
                {"claim": "000-3", "verdict": "CONFIRMED"}],
                "scenarios": [{"scenario": "test_a", "verdict": "CONFIRMED",
                               "traceback": None}], "findings": []}, f)
        with open(os.path.join(rec, "junit.xml"), "w") as f:
            f.write(junit if old else junit.replace(
                "<failure", "<x").replace("</failure>", "</x>"))
        os.symlink(rec, os.path.join(runs_dir, "latest"))
        return subprocess.CompletedProcess(cmd, 2 if old else 0)

    monkeypatch.setattr(matrix_run.subprocess, "run", fake_run)
    # no environment to record the flipping test's functions in (not even
    # this machine's cache): the flip is listed, not explained
    monkeypatch.setattr(envs, "CACHE", str(tmp_path / "no-cache"))
    rels = [releases.parse("27"), releases.parse("29")]
    opts = matrix_run.Options(claims=["000-3"], scenarios=[],
                              out_dir=str(tmp_path))
    built = {r.key: _FakeEnv(r, tmp_path) for r in rels}
    code = matrix_run.run(rels, opts, log=lambda *a: None, built=built)
    assert code == 0
    doc = json.loads((tmp_path / "matrix.json").read_text())
    r27, r29 = doc["releases"]
    assert "error" not in r27 and r27["claims"] == {"000-3": "CONFIRMED"}
    assert r27["tests"] == {"test_lifecycle[node goes away]":
                            "AssertionError: got None (no compute node)"}
    assert r27["other_tests"] == {"test_lifecycle[node goes away]":
                                  "failed"}
    assert r29["other_tests"] == {"test_lifecycle[node goes away]":
                                  "passed"}
    assert report.flipped(doc, "other_tests") == {
        ("test_lifecycle[node goes away]", r29["label"])}
    assert "no compute node" in (tmp_path / "matrix.md").read_text()
    flip, = doc["flips"]
    assert flip["kind"] == "test" and "not on this machine" in flip[
        "unexplained"]


# ----------------------------------------------------------------------
# every outcome that differs, whatever the runs' exit codes
# ----------------------------------------------------------------------
LIFECYCLE = "test_lifecycle_every_invariant_after_every_op[node goes away]"
CORPUS = "test_corpus_entry_replays_as_recorded"


def _record(runs_dir, series):
    """The run record a release's ``harness run`` leaves: Nova 27 and 28
    drift (exit 1: the finding's scenario CONFIRMED against a REFUTED
    baseline) and fail the lifecycle sequence; 29 passes it.  The claim's
    verdict is the same everywhere (another scenario confirms it); the
    corpus replay is skipped in 27 only."""
    old = series < 29
    rec = os.path.join(runs_dir, "r1")
    os.makedirs(rec)
    with open(os.path.join(rec, "verdicts.json"), "w") as f:
        json.dump({"complete": True, "claims": [
            {"claim": "000-3", "verdict": "CONFIRMED"}], "scenarios": [
            {"scenario": "test_a", "verdict": "CONFIRMED",
             "traceback": None},
            {"scenario": "test_b", "verdict": "CONFIRMED" if old
             else "REFUTED", "traceback": None}], "findings": []}, f)
    cases = ['<testcase name="test_a"/>', '<testcase name="test_b"/>',
             '<testcase name="%s">%s</testcase>' % (
                 LIFECYCLE, '<failure message="AssertionError: got None (no '
                 'compute node)">x</failure>' if old else ""),
             '<testcase name="%s">%s</testcase>' % (
                 CORPUS, '<skipped message="the corpus is empty"/>'
                 if series == 27 else "")]
    with open(os.path.join(rec, "junit.xml"), "w") as f:
        f.write("<testsuites><testsuite>%s</testsuite></testsuites>"
                % "".join(cases))
    os.symlink(rec, os.path.join(runs_dir, "latest"))
    return 1 if old else 0


def test_a_release_that_drifted_shows_every_outcome_that_differs(
        tmp_path, monkeypatch):
    """A release whose run drifted (exit 1) once got no failing-tests
    table, and the flips said "no verdict flips": the lifecycle sequence
    failing in 28 and passing in 29 was invisible, and so was a scenario
    whose verdict flips under a claim that does not.  All three outputs
    show both, and the corpus replay skipped in 27 only."""
    def fake_run(cmd, **kw):
        if "-c" in cmd:                  # the explorer's probe
            return subprocess.CompletedProcess(cmd, 0, '{"missing": 1}\n',
                                               "")
        runs_dir = cmd[cmd.index("--runs-dir") + 1]
        series = int(os.path.basename(runs_dir).split(".")[0])
        return subprocess.CompletedProcess(cmd, _record(runs_dir, series))

    monkeypatch.setattr(matrix_run.subprocess, "run", fake_run)
    monkeypatch.setattr(envs, "CACHE", str(tmp_path / "no-cache"))
    rels = [releases.parse(s) for s in ("27", "28", "29")]
    opts = matrix_run.Options(claims=["000-3"], scenarios=[],
                              out_dir=str(tmp_path))
    built = {r.key: _FakeEnv(r, tmp_path) for r in rels}
    assert matrix_run.run(rels, opts, log=lambda *a: None,
                          built=built) == 0
    doc = json.loads((tmp_path / "matrix.json").read_text())
    r27, r28, r29 = doc["releases"]
    assert [r["exit_code"] for r in doc["releases"]] == [1, 1, 0]
    assert [r["other_tests"] for r in doc["releases"]] == [
        {LIFECYCLE: "failed", CORPUS: "skipped"},
        {LIFECYCLE: "failed", CORPUS: "passed"},
        {LIFECYCLE: "passed", CORPUS: "passed"}]
    assert r28["tests"] == {LIFECYCLE: "AssertionError: got None (no "
                                       "compute node)"}
    flips_ = {(f["kind"], f["row"], f["older"], f["newer"]): (f["old"],
                                                              f["new"])
              for f in doc["flips"]}
    assert flips_ == {
        ("scenario", "test_b", r28["label"], r29["label"]):
            ("CONFIRMED", "REFUTED"),
        ("test", LIFECYCLE, r28["label"], r29["label"]):
            ("failed", "passed"),
        ("test", CORPUS, r27["label"], r28["label"]): ("skipped", "passed")}
    assert all(f["explanation"]["summary"] for f in doc["flips"])
    md = (tmp_path / "matrix.md").read_text()
    assert "## Tests that are not verdicts, whose outcome differs" in md
    assert "## Scenarios whose verdict differs between releases" in md
    assert "| test_b | CONFIRMED | CONFIRMED | **%s REFUTED** |" % (
        report.FLIP) in md
    assert "| test_a |" not in md            # no flip: not listed
    assert "### %s: failed (%s) -> passed (%s)" % (
        LIFECYCLE, r28["label"], r29["label"]) in md
    assert "### test_b: CONFIRMED (%s) -> REFUTED (%s)" % (
        r28["label"], r29["label"]) in md
    assert "### %s: skipped (%s) -> passed (%s)" % (
        CORPUS, r27["label"], r28["label"]) in md
    assert "no compute node" in md and "Nothing differs" not in md
    page = (tmp_path / "matrix.html").read_text()
    assert page.count('flip"') == 3
    assert "%s: failed (%s)" % (LIFECYCLE, r28["label"]) in page
    assert "test_b: CONFIRMED (%s)" % r28["label"] in page
    text = report.terminal(doc)
    assert "%s: failed in %s -> passed in %s" % (
        LIFECYCLE, r28["label"], r29["label"]) in text
