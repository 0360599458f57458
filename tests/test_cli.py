"""The command line: bad input, run records, reports, drift and exit codes.

Every case runs ``python -m harness`` in a subprocess with this venv's
Python.  Bad input must give exit 2, ONE line on stderr naming the problem
and the fix, and nothing written.  The runs use the synthetic scenarios in
``tests/data/cli_scenarios*.py`` (fabricated observations, no Nova world),
with ``HARNESS_CATALOGUE`` pointing at ``tests/data/cli_catalogue.yaml``, so
they take seconds; the real scenarios are never run here.
"""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
CATALOGUE = os.path.join(DATA, "cli_catalogue.yaml")
SCENARIOS = os.path.join(DATA, "cli_scenarios.py")
EXTRA = os.path.join(DATA, "cli_scenarios_extra.py")
SCHEMA = os.path.join(ROOT, "docs", "verdicts.schema.json")
SYNTH = "test_cli_synthetic_violation"


def _env(extra=None):
    env = dict(os.environ)
    for key in ("HARNESS_CATALOGUE", "HARNESS_RUNS_DIR", "HARNESS_SEED",
                "HARNESS_DEBUG", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER"):
        env.pop(key, None)
    env.update(extra or {})
    return env


def cli(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "harness", *args],
                          cwd=ROOT, env=_env(env), capture_output=True,
                          text=True, timeout=timeout)


def tiny(*args, env=None, **kw):
    """The CLI against the synthetic catalogue."""
    return cli(*args, env=dict(env or {}, HARNESS_CATALOGUE=CATALOGUE), **kw)


def one_line_error(proc, *needles):
    """Exit 2 and exactly one stderr line containing every needle."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def nothing_in(path):
    return not os.path.exists(path) or not os.listdir(path)


# ---------------------------------------------------------------------------
# help and usage
# ---------------------------------------------------------------------------
def test_help_documents_exit_codes():
    proc = cli("--help")
    assert proc.returncode == 0
    for text in ("exit codes:", "0  every verdict matches the baseline",
                 "1  drift", "2  bad input or harness error",
                 "3  a scenario was INCONCLUSIVE", "list", "run",
                 "reproduce", "report", "diff"):
        assert text in proc.stdout, text
    for command in ("list", "run", "reproduce", "report", "diff"):
        sub = cli(command, "--help")
        assert sub.returncode == 0
        assert "exit codes:" in sub.stdout, command


@pytest.mark.parametrize("argv, needle", [
    ((), "required: COMMAND"),
    (("frobnicate",), "invalid choice: 'frobnicate'"),
    (("run", "--no-such-option"), "unrecognized arguments"),
    (("run", "-n", "-1"), "not a worker count"),
    (("list", "--verdict", "MAYBE"), "invalid choice: 'MAYBE'"),
])
def test_usage_errors_are_one_line(argv, needle):
    one_line_error(cli(*argv), needle, "--help")


# ---------------------------------------------------------------------------
# bad input: unknown claim id
# ---------------------------------------------------------------------------
def test_unknown_claim_id_in_run(tmp_path):
    runs = tmp_path / "runs"
    line = one_line_error(cli("run", "--claims", "000-1,999-9",
                              "--runs-dir", str(runs)),
                          "unknown claim or finding id '999-9'", "known ids:",
                          "list claims")
    assert "000-1," in line
    assert nothing_in(runs)


def test_unknown_claim_id_in_list():
    one_line_error(cli("list", "claims", "--claim", "003-1"),
                   "unknown claim or finding id '003-1' in --claim")


def test_reproduce_unknown_target(tmp_path):
    one_line_error(tiny("reproduce", "no-such-thing", "--scenario-dir",
                        SCENARIOS, "--runs-dir", str(tmp_path / "r")),
                   "unknown claim id or scenario 'no-such-thing'",
                   "python -m harness list")
    assert nothing_in(tmp_path / "r")


def test_reproduce_claim_without_scenario(tmp_path):
    one_line_error(tiny("reproduce", "000-4", "--scenario-dir", SCENARIOS,
                        "--runs-dir", str(tmp_path / "r")),
                   "000-4 has no scenario yet", "NOT_JUDGED")
    assert nothing_in(tmp_path / "r")


def test_run_claim_without_scenario(tmp_path):
    one_line_error(tiny("run", "--claims", "000-4", "--scenario-dir",
                        SCENARIOS, "--runs-dir", str(tmp_path / "r")),
                   "no scenario judges claim(s) 000-4 yet")
    assert nothing_in(tmp_path / "r")


def test_unknown_scenario_in_run(tmp_path):
    one_line_error(tiny("run", "--scenario-dir", SCENARIOS, "--scenarios",
                        "test_nope", "--runs-dir", str(tmp_path / "r")),
                   "unknown scenario 'test_nope'", "list scenarios")
    assert nothing_in(tmp_path / "r")


def test_missing_scenario_dir(tmp_path):
    one_line_error(cli("run", "--scenario-dir", str(tmp_path / "none"),
                       "--runs-dir", str(tmp_path / "r")),
                   "does not exist")
    assert nothing_in(tmp_path / "r")


# ---------------------------------------------------------------------------
# bad input: corrupt baseline
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("content, needle", [
    ('{"schema": 1, "verdicts": {', "is not valid JSON"),
    ('{"schema": 9, "verdicts": {}}', "lacks schema 1"),
    ('{"schema": 1, "verdicts": {"test_x": "MAYBE"}}',
     "unknown verdict 'MAYBE'"),
])
def test_corrupt_baseline(tmp_path, content, needle):
    bad = tmp_path / "baseline.json"
    bad.write_text(content)
    runs = tmp_path / "runs"
    line = one_line_error(cli("run", "--baseline", str(bad), "--runs-dir",
                              str(runs)), needle)
    assert "restore it" in line or "use one of" in line
    assert nothing_in(runs)
    assert bad.read_text() == content        # untouched


def test_corrupt_baseline_in_diff(tmp_path):
    run = _fake_record(tmp_path / "runs", "a", {SYNTH: "CONFIRMED"})
    bad = tmp_path / "baseline.json"
    bad.write_text("not json")
    one_line_error(cli("diff", run, "--baseline", str(bad)),
                   "is not valid JSON", "--record-baseline")


# ---------------------------------------------------------------------------
# bad input: unreadable catalogue (HARNESS_CATALOGUE)
# ---------------------------------------------------------------------------
def test_catalogue_not_found(tmp_path):
    runs = tmp_path / "runs"
    one_line_error(cli("run", "--runs-dir", str(runs), env={
        "HARNESS_CATALOGUE": str(tmp_path / "missing.yaml")}),
        "missing.yaml not found", "git checkout")
    assert nothing_in(runs)


def test_catalogue_invalid_yaml(tmp_path):
    bad = tmp_path / "catalogue.yaml"
    bad.write_text("claims:\n  - id: [unclosed\n")
    one_line_error(cli("list", env={"HARNESS_CATALOGUE": str(bad)}),
                   "is not valid YAML at line", "fix the syntax")


def test_catalogue_without_claims(tmp_path):
    bad = tmp_path / "catalogue.yaml"
    bad.write_text("reports: {}\n")
    runs = tmp_path / "runs"
    one_line_error(cli("run", "--runs-dir", str(runs),
                       env={"HARNESS_CATALOGUE": str(bad)}),
                   "has no 'claims' list")
    assert nothing_in(runs)


def test_catalogue_unreadable(tmp_path):
    one_line_error(cli("run", "--runs-dir", str(tmp_path / "r"),
                       env={"HARNESS_CATALOGUE": str(tmp_path)}),
                   "cannot be read", "HARNESS_CATALOGUE")
    assert nothing_in(tmp_path / "r")


# ---------------------------------------------------------------------------
# bad input: Nova that fails to import
# ---------------------------------------------------------------------------
def test_nova_fails_to_import(tmp_path):
    fake = tmp_path / "shadow" / "nova"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ImportError('this nova is broken on purpose')\n")
    runs = tmp_path / "runs"
    env = {"PYTHONPATH": str(tmp_path / "shadow"),
           "HARNESS_CATALOGUE": CATALOGUE}
    line = one_line_error(
        cli("run", "--scenario-dir", SCENARIOS, "--runs-dir", str(runs),
            env=env),
        "nova could not be imported", "broken on purpose", "pip install")
    assert "tox" in line
    assert nothing_in(runs)
    one_line_error(cli("reproduce", SYNTH, "--scenario-dir", SCENARIOS,
                       "--runs-dir", str(runs), env=env),
                   "nova could not be imported")
    assert nothing_in(runs)


# ---------------------------------------------------------------------------
# bad input: corrupt or incomplete run records
# ---------------------------------------------------------------------------
def _doc(verdicts: dict, complete=True) -> dict:
    """A minimal verdicts document (the shape of docs/verdicts.schema.json)
    for scenario -> verdict; the verdicts are test data, not judgements."""
    return {
        "schema": 1, "generated": "2026-01-01T00:00:00Z",
        "complete": complete,
        "nova": {"nova": "34.0.0", "nova_path": "/x/nova",
                 "nova_source": "release", "placement": "16.0.0",
                 "python": "3.11"},
        "claims": [{"claim": "000-1", "title": "t", "cwe": None,
                    "paraphrase": "p", "report": "r", "number": 1,
                    "verdict": v, "scenarios": [n], "summary": "s"}
                   for n, v in list(verdicts.items())[:1]],
        "scenarios": [{"scenario": n, "claims": ["000-1"], "verdict": v,
                       "baseline": v, "summary": "s", "hypothesis": "h",
                       "fault_space": [], "evidence": [], "rationale": "",
                       "trials": 0, "controls": 0, "seed": 0,
                       "duration": 0.0, "traceback": None, "stats": {}}
                      for n, v in verdicts.items()]}


def _fake_record(runs, name, verdicts, complete=True, manifest=None):
    path = os.path.join(str(runs), name)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "verdicts.json"), "w") as f:
        json.dump(_doc(verdicts, complete), f)
    with open(os.path.join(path, "run.json"), "w") as f:
        json.dump(manifest or {"id": name, "complete": complete,
                               "status": "complete" if complete
                               else "interrupted"}, f)
    return path


def test_report_of_missing_record(tmp_path):
    one_line_error(cli("report", str(tmp_path / "nope")),
                   "run record", "not found", "python -m harness run")


@pytest.mark.parametrize("which, content, needle", [
    ("verdicts.json", '{"schema": 1, "claims": [', "verdicts.json is corrupt"),
    ("run.json", "\x00\x01garbage", "run.json is corrupt"),
    ("verdicts.json", '{"schema": 2, "claims": [], "scenarios": []}',
     "is not a verdicts document"),
    ("verdicts.json", '{"schema": 1, "claims": [], "scenarios": [{}]}',
     "lacks scenario/claims/verdict"),
])
def test_corrupt_record(tmp_path, which, content, needle):
    run = _fake_record(tmp_path, "r1", {SYNTH: "CONFIRMED"})
    with open(os.path.join(run, which), "w") as f:
        f.write(content)
    before = sorted(os.listdir(run))
    line = one_line_error(cli("report", run), needle)
    assert "re-run" in line
    one_line_error(cli("diff", run, run), needle)
    assert sorted(os.listdir(run)) == before


def test_record_without_verdicts(tmp_path):
    run = tmp_path / "r1"
    run.mkdir()
    (run / "run.json").write_text(json.dumps(
        {"id": "r1", "complete": False, "status": "running"}))
    one_line_error(cli("report", str(run)), "is incomplete", "re-run")
    one_line_error(cli("diff", str(run)), "is incomplete")


def test_interrupted_record_renders_but_does_not_diff(tmp_path):
    run = _fake_record(tmp_path, "r1", {SYNTH: "CONFIRMED"}, complete=False)
    proc = cli("report", run)
    assert proc.returncode == 0, proc.stderr
    assert "INCOMPLETE (interrupted)" in proc.stdout
    html = cli("report", run, "--format", "html")
    assert html.returncode == 0 and "INCOMPLETE" in html.stdout
    one_line_error(cli("diff", run), "is incomplete (status: interrupted)")


# ---------------------------------------------------------------------------
# report and diff of stored records (no run)
# ---------------------------------------------------------------------------
def test_report_formats(tmp_path):
    run = _fake_record(tmp_path, "r1", {SYNTH: "CONFIRMED",
                                        "test_other": "REFUTED"})
    text = cli("report", run)
    assert text.returncode == 0
    assert SYNTH in text.stdout and "CONFIRMED" in text.stdout
    md = cli("report", run, "--format", "markdown")
    assert md.returncode == 0 and "| claim | verdict |" in md.stdout
    out = tmp_path / "page.html"
    html = cli("report", run, "--format", "html", "-o", str(out))
    assert html.returncode == 0 and out.exists()
    js = cli("report", run, "--format", "json")
    assert json.loads(js.stdout)["schema"] == 1
    # resolved by name under --runs-dir too
    by_name = cli("report", "r1", "--runs-dir", str(tmp_path))
    assert by_name.returncode == 0


def test_diff_two_runs(tmp_path):
    a = _fake_record(tmp_path, "a", {SYNTH: "REFUTED", "test_o": "REFUTED",
                                     "test_gone": "REFUTED"})
    b = _fake_record(tmp_path, "b", {SYNTH: "CONFIRMED", "test_o": "REFUTED",
                                     "test_new": "NOT_TESTABLE"})
    proc = cli("diff", a, b)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert ("DRIFT scenario %s (claims 000-1): a REFUTED -> b CONFIRMED"
            % SYNTH) in proc.stdout
    assert "DRIFT claim 000-1: a REFUTED -> b CONFIRMED" in proc.stdout
    assert "only in a: test_gone (REFUTED)" in proc.stdout
    assert "only in b: test_new (NOT_TESTABLE)" in proc.stdout
    assert "test_o" not in proc.stdout.split("only in")[0]
    same = cli("diff", a, a)
    assert same.returncode == 0 and "no drift" in same.stdout


def test_diff_against_baseline(tmp_path):
    a = _fake_record(tmp_path, "a", {SYNTH: "CONFIRMED"})
    base = tmp_path / "baseline.json"
    base.write_text(json.dumps({"schema": 1, "verdicts": {SYNTH: "REFUTED"}}))
    proc = cli("diff", a, "--baseline", str(base))
    assert proc.returncode == 1
    assert "baseline REFUTED -> a CONFIRMED" in proc.stdout
    base.write_text(json.dumps({"schema": 1,
                                "verdicts": {SYNTH: "CONFIRMED"}}))
    assert cli("diff", a, "--baseline", str(base)).returncode == 0


def test_list_sections():
    faults = cli("list", "faults")
    assert faults.returncode == 0
    assert "records.MigrationField" in faults.stdout
    proc = tiny("list", "--scenario-dir", SCENARIOS, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert {c["claim"] for c in doc["claims"]} == {"000-1", "000-2",
                                                   "000-3", "000-4"}
    names = {s["scenario"]: s for s in doc["scenarios"]}
    assert names[SYNTH]["claims"] == ["000-1"] and names[SYNTH]["written"]
    assert not names["test_cli_synthetic_slow"]["written"]
    only = tiny("list", "scenarios", "--claim", "000-2", "--scenario-dir",
                SCENARIOS)
    assert "test_cli_synthetic_not_testable" in only.stdout
    assert SYNTH not in only.stdout


def test_list_shows_the_finding_a_scenario_decides():
    """A finding's scenario carries a ``finding`` marker, not ``claims``:
    ``list`` names its finding id (it once showed an empty claims list)."""
    proc = cli("list", "scenarios", "--claim", "F-08", "--json")
    assert proc.returncode == 0, proc.stderr
    row, = json.loads(proc.stdout)["scenarios"]
    assert row["scenario"] == "test_unvalidated_node_names_break_tracking"
    assert row["findings"] == ["F-08"] and row["claims"] == []
    text = cli("list", "scenarios").stdout
    line, = [ln for ln in text.splitlines()
             if "test_unvalidated_node_names_break_tracking" in ln]
    assert line.rstrip().endswith("finding F-08"), line


# ---------------------------------------------------------------------------
# real runs of the synthetic scenarios
# ---------------------------------------------------------------------------
def _run(tmp_path, *args, env=None):
    return tiny("run", "--scenario-dir", SCENARIOS, "--baseline",
                str(tmp_path / "baseline.json"), "--runs-dir",
                str(tmp_path / "runs"), *args, env=env)


def _latest(tmp_path):
    return os.path.realpath(str(tmp_path / "runs" / "latest"))


def _manifest(run):
    with open(os.path.join(run, "run.json")) as f:
        return json.load(f)


def test_run_record_drift_and_restore(tmp_path):
    base = tmp_path / "baseline.json"
    # 1. record what the synthetic scenarios decide
    first = _run(tmp_path, "--record-baseline")
    assert first.returncode == 0, first.stdout + first.stderr
    recorded = json.loads(base.read_text())["verdicts"]
    assert set(recorded) == {SYNTH, "test_cli_synthetic_not_testable"}

    # 2. compare with it: exit 0, and a full record
    ok = _run(tmp_path, "--seed", "7")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    run_ok = _latest(tmp_path)
    m = _manifest(run_ok)
    assert m["complete"] is True and m["status"] == "complete"
    assert m["exit_code"] == 0 and m["seed"] == 7
    assert m["nova"]["nova"] and m["nova"]["nova_source"] in (
        "release", "source tree")
    files = set(os.listdir(run_ok))
    assert {"run.json", "verdicts.json", "junit.xml", "traces", "logs",
            "console.log", "report.md", "report.html"} <= files
    assert not [f for f in files if f.startswith(".tmp-")]
    with open(os.path.join(run_ok, "verdicts.json")) as f:
        doc = json.load(f)
    assert doc["complete"] is True
    jsonschema = pytest.importorskip("jsonschema")
    with open(SCHEMA) as f:
        jsonschema.validate(doc, json.load(f))
    suite = ET.parse(os.path.join(run_ok, "junit.xml")).getroot()
    assert "testsuite" in suite.tag or suite.find("testsuite") is not None
    from harness.report import runrecord
    trace = runrecord.read_json_maybe_gz(
        os.path.join(run_ok, "traces", SYNTH + ".json.gz"))
    by_name = {s["scenario"]: s for s in doc["scenarios"]}
    assert trace["seed"] == 7
    assert trace["verdict"] == by_name[SYNTH]["verdict"]
    kinds = {s["kind"] for t in trace["trials"] for s in t["steps"]}
    assert {"world", "fault", "snapshot", "audit"} <= kinds
    assert os.path.exists(os.path.join(run_ok, "logs", SYNTH + ".log"))
    with open(os.path.join(run_ok, "report.html")) as f:
        page = f.read()
    assert "<svg" in page or "createElementNS" in page
    for external in ("<link", "src=\"http", "src='http", "@import",
                     "url(http"):
        assert external not in page, external
    # the trials not shown first: their detail in report.trials/, counted
    detail = os.listdir(os.path.join(run_ok, "report.trials"))
    assert detail and all(n.endswith(".js") for n in detail)
    assert m["sizes"]["html_detail"] > 0
    assert m["sizes"]["record"] > m["sizes"]["html"] + m["sizes"][
        "html_detail"]
    with open(os.path.join(run_ok, "report.md")) as f:
        assert "No drift" in f.read()

    # 3. change the baseline for one scenario: drift, exit 1, named
    changed = dict(recorded)
    old = changed[SYNTH]
    changed[SYNTH] = "REFUTED" if old != "REFUTED" else "CONFIRMED"
    base.write_text(json.dumps({"schema": 1, "verdicts": changed}))
    drift = _run(tmp_path)
    assert drift.returncode == 1, drift.stdout + drift.stderr
    expected = ("DRIFT scenario %s (claims 000-1): baseline %s -> observed "
                "%s" % (SYNTH, changed[SYNTH], old))
    assert expected in drift.stdout
    assert SYNTH in drift.stderr and "exit 1" in drift.stdout
    run_drift = _latest(tmp_path)
    assert run_drift != run_ok
    m = _manifest(run_drift)
    assert m["exit_code"] == 1 and m["complete"] is True
    assert [d["scenario"] for d in m["drift"]["scenarios"]] == [SYNTH]
    with open(os.path.join(run_drift, "report.md")) as f:
        assert "Drift from the baseline" in f.read()
    # the same observations: the two runs do not differ; the drifted run
    # differs from the changed baseline
    assert cli("diff", run_ok, run_drift).returncode == 0
    d = cli("diff", run_drift, "--baseline", str(base))
    assert d.returncode == 1 and SYNTH in d.stdout

    # 4. restore: exit 0 again
    base.write_text(json.dumps({"schema": 1, "verdicts": recorded}))
    again = _run(tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr


def test_inconclusive_exits_3_and_reproduce_prints_verdict(tmp_path):
    proc = tiny("run", "--scenario-dir", EXTRA, "--scenarios",
                "test_cli_synthetic_undecided", "--record-baseline",
                "--baseline", str(tmp_path / "b.json"),
                "--runs-dir", str(tmp_path / "runs"))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "INCONCLUSIVE test_cli_synthetic_undecided" in proc.stdout
    rep = tiny("reproduce", "test_cli_synthetic_undecided", "--scenario-dir",
               EXTRA, "--baseline", str(tmp_path / "b.json"),
               "--runs-dir", str(tmp_path / "runs"))
    assert rep.returncode == 3, rep.stdout + rep.stderr
    assert "VERDICT test_cli_synthetic_undecided: INCONCLUSIVE" in rep.stdout
    assert "trace: " in rep.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_is_marked_incomplete(tmp_path, sig):
    started = tmp_path / "started"
    runs = tmp_path / "runs"
    env = _env({"HARNESS_CATALOGUE": CATALOGUE,
                "HARNESS_CLI_TEST_STARTED": str(started),
                "HARNESS_CLI_TEST_SLEEP": "120"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--scenario-dir", EXTRA,
         "--scenarios", "test_cli_synthetic_slow", "--record-baseline",
         "--baseline", str(tmp_path / "b.json"), "--runs-dir", str(runs)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    deadline = time.monotonic() + 120
    while not started.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the scenario never started"
        time.sleep(0.1)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0], err
    run = os.path.realpath(str(runs / "latest"))
    m = _manifest(run)
    assert m["complete"] is False and m["status"] == "interrupted"
    vpath = os.path.join(run, "verdicts.json")
    if os.path.exists(vpath):                 # parseable, and says so
        with open(vpath) as f:
            assert json.load(f)["complete"] is False
    assert not os.path.exists(tmp_path / "b.json")   # nothing recorded
    one_line_error(cli("diff", run), "is incomplete")


# ---------------------------------------------------------------------------
# what reproduce prints (in process: the formatter over a synthetic trial)
# ---------------------------------------------------------------------------
def test_trace_printer_shows_faults_usage_invariants_and_logs():
    import importlib.util
    from harness.oracle import invariants as inv
    from harness.report import tracefmt
    from harness.verdicts.judge import Trial
    from harness.world.trace import Trace
    spec = importlib.util.spec_from_file_location("cli_scenarios", SCENARIOS)
    synthetic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synthetic)
    lines = []
    printer = tracefmt.StepPrinter(write=lines.append)
    trial = Trial("synthetic / bogus vcpus", setup=None, fault=lambda w: 0)
    printer.trial_started(trial)
    obs = synthetic._observation("synthetic / bogus vcpus", "bogus vcpus")
    replay = Trace(echo=printer)
    for st in obs.trace.steps:
        replay.step(st.kind, st.what, **st.data)
    obs.logs = ["DEBUG nova.x: vm1 claimed", "WARNING nova.y: odd"]
    printer.trial_finished(trial, obs)
    text = "\n".join(lines)
    assert "TRIAL synthetic / bogus vcpus  [variant]" in text
    assert ">>> FAULT INJECTED: bogus vcpus" in text
    assert "<<< fault cleared: bogus vcpus" in text
    assert "snapshot 'under fault' -> stage under_fault" in text
    # tracker 3 vs ledger 1 is marked; placement (1 VCPU + 0 reserved) is not
    row = next(ln for ln in lines if "tracker" in ln and "3!" in ln)
    assert row.split()[0] == "src" or "tracker" in row
    assert "placement+rsv" in text
    assert "usage_matches_ledger FAIL(1)" in text
    assert "usage_in_bounds ok" in text
    assert "! usage_matches_ledger: tracker src vcpus_used" in text
    assert "WARNING nova.y: odd" in text
    assert [n.__name__ for n in inv.ACCOUNTING][0] in text


def test_html_page_shares_trials_and_charts_the_evidence():
    import importlib.util
    from harness.report import html as html_report, runrecord
    spec = importlib.util.spec_from_file_location("cli_scenarios", SCENARIOS)
    synthetic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synthetic)
    trials = [runrecord.trial_record(synthetic._observation(n, f))
              for n, f in (("c [control]", None), ("v / bogus", "bogus"))]
    doc = _doc({"test_a": "CONFIRMED", "test_b": "CONFIRMED"})
    for s in doc["scenarios"]:
        s["evidence"] = [{"variant": "v / bogus", "stage": "under_fault",
                          "invariant": "usage_matches_ledger",
                          "subject": "tracker src vcpus_used",
                          "expected": 1, "actual": 3, "detail": "",
                          "logs": [], "faults": ["bogus"]}]
    traces = {n: {"trials": trials} for n in ("test_a", "test_b")}
    data = html_report.page_data(doc, {}, traces, {"scenarios": [],
                                                   "claims": []})
    assert len(data["pool"]) == 2                 # shared, not duplicated
    a = data["scenarios"][0]
    assert a["default"] == 1 and a["ev"] == [0, 1]
    variant = data["pool"][a["trials"][1]]
    assert [e["kind"] for e in variant["events"]] == ["inject", "clear"]
    assert variant["vnodes"] == {"under_fault": {"src": 1}}
    under = [p for p in variant["points"] if p["stage"] == "under_fault"][0]
    # tracker, db, placement (+reserved), ledger: vcpus_used first
    assert [under["v"]["src"][s][0] for s in html_report.SOURCES] == [
        3, 3, 1, 1]
    page = html_report.render(doc, {"id": "r1", "complete": True}, traces)
    assert page.startswith("<!DOCTYPE html>") and "</html>" in page
    assert "<script type='application/json' id='data'>" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")


# ---------------------------------------------------------------------------
# workers and shards
# ---------------------------------------------------------------------------
def test_workers_default_to_xdist_loadfile():
    from harness import cli as cli_mod
    from harness.cli import run as run_cmd
    assert run_cmd.workers_options(2) == ["-n", "2", "--dist", "loadfile",
                                          "--no-loadscope-reorder"]
    assert run_cmd.workers_options(1) == ["-p", "no:xdist"]
    assert run_cmd.workers_options(0) == ["-p", "no:xdist"]
    args = cli_mod.build_parser().parse_args(["run"])
    assert args.workers == "auto"
    assert cli_mod.build_parser().parse_args(
        ["run", "--jobs", "1"]).workers == 1


def test_scenario_files_go_out_longest_first(tmp_path):
    """The plugin orders whole files by scenarios/durations.json, longest
    first (unknown files last, in their own order), and keeps each file's
    scenarios in their order: what xdist's loadfile hands out."""
    import json
    import types
    from harness import plugin
    (tmp_path / "sub").mkdir()
    (tmp_path / "durations.json").write_text(json.dumps({"seconds": {
        "test_short.py": 5, "sub/test_long.py": 900}}))

    def item(rel, name):
        return types.SimpleNamespace(path=tmp_path / rel, name=name)
    items = [item("test_a.py", "a1"), item("test_short.py", "s1"),
             item("test_short.py", "s2"), item("test_b.py", "b1"),
             item("sub/test_long.py", "l1"), item("sub/test_long.py", "l2"),
             item("test_a.py", "a2")]
    ordered = [i.name for i in plugin._longest_first(items, None)]
    assert ordered == ["l1", "l2", "s1", "s2", "a1", "a2", "b1"]
    # the committed tables name files that exist
    root = pathlib.Path(plugin.__file__).parent.parent
    for top in ("scenarios", "tests"):
        table = json.loads((root / top / "durations.json").read_text())
        missing = [f for f in table["seconds"]
                   if not (root / top / f).is_file()]
        assert not missing, (top, missing)


def _scen(name, file):
    return {"name": name, "nodeid": "%s::%s" % (file, name), "file": file,
            "claims": ["000-1"]}


def test_shards_split_whole_files_the_same_way_everywhere():
    from harness.cli import run as cli_mod
    scen = ([_scen("a%d" % i, "/s/a.py") for i in range(5)]
            + [_scen("b%d" % i, "/s/b.py") for i in range(3)]
            + [_scen("c%d" % i, "/s/c.py") for i in range(2)]
            + [_scen("d0", "/s/d.py")])
    one = cli_mod.shard_of(scen, 1, 2)
    two = cli_mod.shard_of(scen, 2, 2)
    assert sorted(s["name"] for s in one + two) == sorted(
        s["name"] for s in scen)                     # all, none twice
    assert not {s["file"] for s in one} & {s["file"] for s in two}
    assert {s["file"] for s in one} == {"/s/a.py", "/s/d.py"}
    # the same split whatever order the scenarios were collected in
    assert cli_mod.shard_of(list(reversed(scen)), 1, 2) == list(
        reversed(one))
    assert cli_mod.shard_of(scen, 1, 1) == scen


@pytest.mark.parametrize("shard", ["0/2", "3/2", "x", "1/0"])
def test_bad_shard_is_one_line(shard):
    proc = cli("run", "--shard", shard)
    assert proc.returncode == 2
    assert "is not a shard" in proc.stderr


def test_report_and_diff_merge_shards(tmp_path):
    a1 = _fake_record(tmp_path, "a1", {SYNTH: "REFUTED"})
    a2 = _fake_record(tmp_path, "a2", {"test_o": "REFUTED"})
    b = _fake_record(tmp_path, "b", {SYNTH: "CONFIRMED",
                                     "test_o": "REFUTED"})
    proc = cli("report", a1, a2, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [s["scenario"] for s in doc["scenarios"]] == sorted(
        [SYNTH, "test_o"])
    assert doc["shards"] == ["a1", "a2"]
    assert cli("report", "%s,%s" % (a1, a2)).returncode == 0
    d = cli("diff", "%s,%s" % (a1, a2), b)
    assert d.returncode == 1, d.stdout + d.stderr
    assert "a1+a2 REFUTED -> b CONFIRMED" in d.stdout
    assert "only in" not in d.stdout
    # the same scenario in two "shards": not shards of one run
    one_line_error(cli("report", a1, a1), "both ran scenario", "shards")


# ---------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------
class _Out:
    def __init__(self, tty=False):
        import io
        self.buffer = io.BytesIO()
        self.tty = tty

    def isatty(self):
        return self.tty

    def flush(self):
        pass


def test_progress_is_plain_lines_in_ci_and_one_live_line_on_a_terminal(
        monkeypatch):
    from harness.cli import execution as cli_mod
    feed = [b"..harness: progress 1/3 scenarios, 5 trials, 2.0 trials/s,",
            b" 2s elapsed, ETA 4s\nharness: pro", b"gress 2/3 scenarios\n",
            b"verdicts\n"]
    monkeypatch.setenv("CI", "true")
    out = _Out(tty=True)
    echo = cli_mod.ProgressEcho(out)
    assert not echo.live                    # CI: plain, even on a tty
    for chunk in feed:
        echo.feed(chunk)
    echo.close()
    assert out.buffer.getvalue() == b"".join(feed)
    monkeypatch.delenv("CI")
    assert not cli_mod.ProgressEcho(_Out(tty=False)).live     # a pipe
    out = _Out(tty=True)
    echo = cli_mod.ProgressEcho(out)
    assert echo.live
    for chunk in feed:
        echo.feed(chunk)
    echo.close()
    text = out.buffer.getvalue().decode()
    assert "harness: progress" not in text
    assert "\r\x1b[Kprogress: 1/3 scenarios, 5 trials" in text
    assert text.startswith("\r\x1b[K..\n")
    assert "\r\x1b[Kverdicts\n" in text      # output clears the line
    assert "progress: 2/3 scenarios" in text
    assert text.endswith("\r\x1b[K")         # and the end clears it


def test_progress_line_counts_and_eta():
    from harness import plugin
    p = plugin.Progress(config=None)
    p.started = 100.0
    assert p.line(now=101.0).endswith("ETA ?")
    p.total, p.done, p.trials = 4, 1, 30
    line = p.line(now=110.0)
    assert line == ("harness: progress 1/4 scenarios, 30 trials, "
                    "3.0 trials/s, 10s elapsed, ETA 30s")
    p.done = 2
    assert p.line(now=220.0).endswith("2m00s elapsed, ETA 2m00s")
