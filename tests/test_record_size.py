"""Compact run records: traces in full only where they matter, gzip, and
a budget a run's record must stay within."""
from __future__ import annotations

import os
import types

import pytest

from harness.oracle import invariants as inv
from harness.world.trace import Trace
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
    ({"record": 3 << 20, "html": (5 << 20) + 1}, 1)])
def test_budget(sizes, problems, monkeypatch):
    monkeypatch.delenv(runrecord.BUDGET_ENV, raising=False)
    assert len(runrecord.over_budget(sizes)) == problems


def test_record_sizes(tmp_path):
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "a.json.gz").write_bytes(b"x" * 1000)
    (tmp_path / "report.html").write_bytes(b"y" * 500)
    (tmp_path / runrecord.HTML_DETAIL).mkdir()
    (tmp_path / runrecord.HTML_DETAIL / "a.js").write_bytes(b"z" * 200)
    sizes = runrecord.record_sizes(str(tmp_path))
    # the page's trial detail counts toward the record's budget
    assert sizes == {"record": 1700, "html": 500, "traces": 1000,
                     "html_detail": 200}


# ---------------------------------------------------------------------------
# report.html: what it draws first inline, every other trial's detail in
# report.trials/ beside it
# ---------------------------------------------------------------------------
def _page_inputs(n=300):
    """A verdicts document and traces for one scenario of ``n`` trials,
    each with 20 long log lines (the bulk of a real record's page)."""
    from harness.report import runrecord as rr
    j = _judge(n)
    for i, obs in enumerate(j.observations):
        obs.logs = ["DEBUG nova.x: request %d line %d %s" % (i, k, "x" * 250)
                    for k in range(20)]
    trials = [rr.trial_record(obs) for obs in j.observations]
    scenario = {"scenario": "test_sized", "claims": ["000-1"],
                "verdict": "CONFIRMED", "baseline": "CONFIRMED",
                "summary": "s", "evidence": [{
                    "variant": "move / fault 9", "stage": "under_fault",
                    "invariant": "usage_matches_ledger", "subject": "src",
                    "expected": 1, "actual": 2}],
                "trials": n, "controls": 1, "duration": 1.0}
    doc = {"schema": 1, "generated": "2026-01-01T00:00:00Z",
           "claims": [{"claim": "000-1", "verdict": "CONFIRMED",
                       "title": "t", "scenarios": ["test_sized"]}],
           "scenarios": [scenario]}
    return doc, {"test_sized": {"trials": trials}}


def _embedded_data(page: str) -> dict:
    import json
    import re
    m = re.search(r"<script type='application/json' id='data'>(.*?)"
                  r"</script>", page, re.S)
    return json.loads(m.group(1))


def _detail_file(text: str) -> tuple[int, dict]:
    """The file number and trials of a detail file, as its HARNESS_TRIALS
    call gives them (text unpacked as the page's script does)."""
    import json
    call = text[text.index("HARNESS_TRIALS("):].strip()
    assert call.endswith(");")
    args = call[len("HARNESS_TRIALS("):-2]
    dec = json.JSONDecoder()
    f, end = dec.raw_decode(args)
    strings, end = dec.raw_decode(args, end + 1)
    trials, end = dec.raw_decode(args, end + 1)
    assert end == len(args)
    for t in trials.values():
        t["logs"] = [strings[i] for i in t["logs"]]
        t["steps"] = [r[:4] + [strings[r[4]]] for r in t["steps"]]
    return f, trials


def test_trial_detail_is_in_the_record_and_named_by_the_page(tmp_path):
    from harness.report import html as html_report
    doc, traces = _page_inputs()
    run_dir = tmp_path / "run"
    page_path = run_dir / runrecord.HTML
    html_report.write(str(page_path), doc, {"id": "r1", "complete": True},
                      traces, {"scenarios": [], "claims": []})
    assert html_report.detail_dir(runrecord.HTML) == runrecord.HTML_DETAIL
    page = page_path.read_text()
    data = _embedded_data(page)
    scen = data["scenarios"][0]
    shown = scen["trials"][scen["default"]]
    assert data["heads"][shown]["name"] == "move / fault 9"   # the evidence
    assert data["heads"][shown]["f"] == -1                    # embedded
    # a trial not shown first: its head in the page, its detail in a file
    # of the record that the page names
    other = next(i for i in scen["trials"]
                 if data["heads"][i]["name"] == "move / fault 7")
    head = data["heads"][other]
    assert head["nv"] == 1 and head["f"] >= 0
    assert data["dir"] == runrecord.HTML_DETAIL
    rel = "%s/%s" % (data["dir"], data["files"][head["f"]])
    path = run_dir / rel
    assert path.is_file()
    f, trials = _detail_file(path.read_text())
    assert f == head["f"]
    detail = trials[str(other)]
    assert len(detail["steps"]) == 63 and detail["points"]
    assert detail["vlist"] and detail["violations"] == {
        "before": 0, "under_fault": 1, "during": 0, "after_clear": 0}
    assert detail["logs"][-1].startswith("DEBUG nova.x: request 7 line 19")
    # the page does not carry it, and its script loads from that folder
    assert "request 7 line 19" not in page
    assert "D.dir+'/'+D.files[f]" in page and "HARNESS_TRIALS" in page
    sizes = runrecord.record_sizes(str(run_dir))
    assert sizes["html_detail"] == path.stat().st_size
    assert sizes["record"] >= sizes["html"] + sizes["html_detail"]


def test_page_size_does_not_grow_with_the_trials_detail(tmp_path):
    """The page carries a head per trial; the detail (steps, logs) is in
    the files.  Inline (one file on stdout) it carries everything."""
    from harness.report import html as html_report
    doc, traces = _page_inputs(300)
    drift = {"scenarios": [], "claims": []}
    sizes = html_report.write(str(tmp_path / "report.html"), doc, {},
                              traces, drift)
    inline = html_report.render(doc, {}, traces, drift)
    assert sizes["html"] < 150_000, sizes
    assert sizes["detail"] > 3 * sizes["html"], sizes
    assert len(inline.encode()) > sizes["html"] + sizes["detail"] // 2
    assert "request 7 line 19" in inline
    # a second write replaces the files, and leaves none of the first
    doc["scenarios"][0]["scenario"] = "test_renamed"
    doc["claims"][0]["scenarios"] = ["test_renamed"]
    html_report.write(str(tmp_path / "report.html"), doc, {},
                      {"test_renamed": traces["test_sized"]}, drift)
    assert os.listdir(tmp_path / "report.trials") == ["test_renamed.js"]


def test_a_triager_opens_a_trial_from_disk_in_headless_chromium(tmp_path):
    """End to end, from file://: the page draws, and selecting a trial that
    is not embedded loads its detail (steps table) from report.trials/."""
    import importlib.util
    import shutil
    from harness.report import html as html_report
    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser",
                                          "google-chrome")
                if shutil.which(n)), None)
    if exe is None:
        why = "no headless Chromium on this machine"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false",
                                                            "no"):
            # CI must run it: .ci/run installs Debian's chromium
            pytest.fail("%s, in CI (CI=%s): .ci/run installs Debian's "
                        "chromium (apt-get install chromium, as root)"
                        % (why, os.environ["CI"]))
        pytest.skip(why)
    spec = importlib.util.spec_from_file_location(
        "page_open_time", os.path.join(os.path.dirname(__file__), "..",
                                       "scripts", "page_open_time.py"))
    timer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(timer)
    doc, traces = _page_inputs(20)
    page = tmp_path / "report.html"
    html_report.write(str(page), doc, {"id": "r1"}, traces,
                      {"scenarios": [], "claims": []})
    result = timer.one_load(exe, "file://%s" % page, click=True)
    assert result["exceptions"] == 0, result.get("first_exception")
    assert result["click"]["opened"] == 1 and not result["click"]["failed"]
    # without the folder beside it the page says where the detail is
    shutil.rmtree(tmp_path / "report.trials")
    result = timer.one_load(exe, "file://%s" % page, click=True)
    assert result["exceptions"] == 0
    assert result["click"] == {"opened": 0, "failed": 1}
