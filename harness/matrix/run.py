"""Run the scenarios against several Nova releases and compare verdicts.

For each release: build (or reuse) its environment, run the normal
``python -m harness run`` with that environment's Python (so each release
gets an ordinary run record), run the explorer when the harness has one,
then put the verdicts side by side and explain every flip between
neighbouring releases (:mod:`harness.matrix.flips`).
"""
from __future__ import annotations

import dataclasses
import glob
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

from harness.matrix import calls, envs, flips, releases, report
from harness.report import runrecord, tables
from harness.verdicts import catalogue

EXIT_OK, EXIT_ERROR, EXIT_INCONCLUSIVE = 0, 2, 3
DOC = "matrix.json"


@dataclasses.dataclass
class Options:
    claims: list[str]
    scenarios: list[str]
    seed: int = 0
    workers: str | None = None
    explore_budget: int = 50
    out_dir: str = ""
    nice: int = 10
    db: str | None = None      # --db of every release's run (None: sqlite)


def order_key(rel: releases.Release):
    """Releases in Nova's order; a source tree after the releases of its
    series."""
    if rel.version:
        return (rel.series.major, 0, tuple(int(x) for x in
                                           rel.version.split(".")))
    return (rel.series.major, 1, ())


def run_release(rel, env, opts: Options, log) -> dict:
    entry = {"label": rel.label, "key": rel.key, "series": rel.series.major,
             "cycle": rel.series.cycle, "version": rel.version,
             "source_tree": rel.source_tree,
             "placement": rel.series.placement,
             "constraints": os.path.relpath(rel.series.constraints,
                                            releases.ROOT),
             "claims": {}, "scenarios": {}, "findings": {},
             "build_seconds": 0.0, "built_now": False, "run_seconds": None}
    # a cached environment: the time its build took back then
    entry["build_seconds"] = round(env.seconds if env.built_now else
                                   env.meta.get("build_seconds", 0.0), 1)
    entry["built_now"] = env.built_now
    entry["env"] = os.path.relpath(env.path, releases.ROOT)
    entry["sdist"] = env.sdist
    entry["nova"] = env.meta.get("nova")
    runs_dir = os.path.join(opts.out_dir, "runs", rel.key)
    os.makedirs(runs_dir, exist_ok=True)
    cmd = ["nice", "-n", str(opts.nice), env.python, "-m", "harness", "run",
           "--runs-dir", runs_dir, "--seed", str(opts.seed)]
    if opts.claims:
        cmd += ["--claims", ",".join(opts.claims)]
    if opts.scenarios:
        cmd += ["--scenarios", ",".join(opts.scenarios)]
    if opts.workers:
        cmd += ["-n", str(opts.workers)]
    if opts.db:
        # the engine's server, when there is one, was started once for the
        # whole matrix: HARNESS_DB_URL (inherited) names it to every run
        cmd += ["--db", opts.db]
    penv = dict(os.environ, PYTHONPATH=releases.ROOT,
                OS_NOVA_DISABLE_EVENTLET_PATCHING="1", PYTHONUNBUFFERED="1")
    penv.pop("VIRTUAL_ENV", None)
    console = os.path.join(runs_dir, "matrix-console.log")
    started = time.monotonic()
    with open(console, "w", encoding="utf-8") as out:
        proc = subprocess.run(cmd, cwd=releases.ROOT, env=penv, stdout=out,
                              stderr=subprocess.STDOUT)
    entry["run_seconds"] = round(time.monotonic() - started, 1)
    entry["exit_code"] = proc.returncode
    latest = os.path.join(runs_dir, "latest")
    run_dir = os.path.realpath(latest) if os.path.exists(latest) else None
    entry["run_dir"] = os.path.relpath(run_dir, releases.ROOT) \
        if run_dir else None
    verdicts = os.path.join(run_dir, "verdicts.json") if run_dir else None
    # Every test of a complete run that is not a verdict (a lifecycle
    # sequence, a corpus replay): its outcome, whatever the run's exit code
    # (a run that drifted, exit 1, fails its lifecycle tests as well).
    # Exit 2 with a complete verdicts.json and a failing one: every
    # scenario was judged and the release's verdicts stand; the failing
    # test is a behaviour that differs between releases, not a harness
    # error.
    outcomes = test_outcomes(run_dir, verdicts) if verdicts else {}
    failed = {name: why for name, (outcome, why) in outcomes.items()
              if outcome == "failed"}
    if (proc.returncode not in (0, 1, 3) and not failed) or not verdicts \
            or not os.path.exists(verdicts):
        with open(console, encoding="utf-8", errors="replace") as f:
            tail = [ln.strip() for ln in f if ln.strip()]
        why = next((ln for ln in reversed(tail) if ln.startswith("error:")),
                   tail[-1] if tail else "no output")
        entry["error"] = "harness run exited %d: %s" % (proc.returncode,
                                                        why[:300])
        log("  Nova %s: %s (console: %s)" % (rel.label, entry["error"],
                                              os.path.relpath(console)))
        return entry
    with open(verdicts, encoding="utf-8") as f:
        doc = json.load(f)
    entry["db"] = _engine_of(run_dir, opts.db)
    entry["claims"] = {c["claim"]: c["verdict"] for c in doc["claims"]
                       if c["verdict"] != "NOT_JUDGED"}
    entry["scenarios"] = {s["scenario"]: s["verdict"]
                          for s in doc["scenarios"]}
    for f in doc.get("findings") or []:
        # catalogued findings (issue 9) carry their own verdict
        if isinstance(f, dict) and f.get("verdict"):
            if f["verdict"] != "NOT_JUDGED":
                entry["findings"][finding_key(f)] = f["verdict"]
        else:
            entry["findings"][finding_key(f)] = "present"
    entry["tests"] = failed
    entry["test_outcomes"] = {name: outcome for name, (outcome, _) in
                              outcomes.items()}
    if failed:
        log("  Nova %s: %d test(s) that are not verdicts failed: %s" % (
            rel.label, len(failed), ", ".join(failed)))
    entry["explore"] = explore(env, rel, opts, entry, log)
    log("  Nova %s: judged in %.0f s (exit %d), record %s" % (
        rel.label, entry["run_seconds"], proc.returncode, entry["run_dir"]))
    return entry


def test_outcomes(run_dir: str, verdicts: str) -> dict[str, tuple]:
    """Each test of a complete run that is not a scenario (from its
    junit.xml): test name -> (``passed``, ``failed`` or ``skipped``, the
    first 300 characters of its failure).  Empty when the run is
    incomplete or a scenario raised: then the release was not judged."""
    try:
        with open(verdicts, encoding="utf-8") as f:
            doc = json.load(f)
        tests = runrecord.junit_outcomes(os.path.join(run_dir,
                                                      runrecord.JUNIT))
    except (OSError, TypeError, ValueError, ET.ParseError):
        return {}
    if not doc.get("complete") or any(s.get("traceback")
                                      for s in doc["scenarios"]):
        return {}
    skipped = doc.get("skipped") or []      # scenarios that could not run
    scenarios = {s["scenario"] for s in doc["scenarios"]} | set(
        skipped if isinstance(skipped, dict) else
        [s["scenario"] for s in skipped if isinstance(s, dict)])
    return {name: (outcome, why[:300])
            for name, (outcome, why) in tests.items()
            if name not in scenarios}


def _engine_of(run_dir: str, requested: str | None) -> str:
    """The database engine (and server version) a release's run record
    says its worlds ran on."""
    try:
        with open(os.path.join(run_dir, "run.json"), encoding="utf-8") as f:
            nova = json.load(f).get("nova") or {}
    except (OSError, ValueError):
        nova = {}
    return str(nova.get("db_server") or nova.get("db") or requested or
               "sqlite")


def finding_key(f) -> str:
    if isinstance(f, str):
        return f
    for key in ("id", "finding", "name", "title", "summary"):
        if f.get(key):
            return str(f[key])
    return json.dumps(f, sort_keys=True)[:80]


def explore(env, rel, opts: Options, entry: dict, log) -> str | None:
    """The explorer's corpus and a bounded exploration, when the harness
    has an explorer (``harness.explore``; imported lazily, in the release's
    own environment).  Its contract with the matrix:
    ``harness.explore.run_for_matrix(out_dir, budget, seed)`` returns a
    list of findings (dicts with an ``id``)."""
    if importlib.util.find_spec("harness.explore") is None:
        return None
    out = os.path.join(opts.out_dir, "explore", rel.key)
    os.makedirs(out, exist_ok=True)
    code = ("import json,sys\nimport harness.explore as e\n"
            "f=getattr(e,'run_for_matrix',None)\n"
            "if f is None: print(json.dumps({'missing': True})); sys.exit()\n"
            "from harness.world import novaenv; novaenv.load()\n"
            "print(json.dumps({'findings': f(%r, %d, %d)}, default=str))"
            % (out, opts.explore_budget, opts.seed))
    penv = dict(os.environ, PYTHONPATH=releases.ROOT,
                OS_NOVA_DISABLE_EVENTLET_PATCHING="1")
    proc = subprocess.run(["nice", "-n", str(opts.nice), env.python, "-c",
                           code], cwd=releases.ROOT, env=penv,
                          capture_output=True, text=True)
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return "explorer failed (exit %d): %s" % (
            proc.returncode, (proc.stderr.strip().splitlines() or ["?"])[-1])
    if result.get("missing"):
        return ("harness.explore has no run_for_matrix(out_dir, budget, "
                "seed); explorer skipped")
    for f in result.get("findings") or []:
        entry["findings"][finding_key(f)] = "present"
    return "%d finding(s), budget %d" % (len(result.get("findings") or []),
                                          opts.explore_budget)


def catalogue_functions() -> dict[str, list[str]]:
    """The Nova functions each claim (``nova_functions``) and each finding
    (its proposition's mechanism) is about, and each scenario: those of
    the claims and findings it decides."""
    cat = catalogue.load()
    out = {cid: list(c.nova_functions) for cid, c in cat.claims.items()}
    for fid, f in getattr(cat, "findings", {}).items():
        funcs = [m.function for m in (f.proposition or {}).get(
            "mechanism", []) if getattr(m, "function", None)]
        out[fid] = list(dict.fromkeys(funcs))
    decides: dict[str, list[str]] = {}
    for listed in (cat.scenario_claims(), cat.scenario_findings()):
        for name, ids in listed.items():
            decides.setdefault(name, []).extend(ids)
    for name, ids in decides.items():
        out[name] = list(dict.fromkeys(f for i in ids for f in out[i]))
    return out


def _source_of(entry: dict):
    if entry.get("source_tree"):
        return flips.Source(entry["source_tree"])
    path = entry.get("sdist")
    if path and not os.path.isabs(path):
        path = os.path.join(releases.ROOT, path)
    if not path or not os.path.exists(path):
        path = fetch_sdist(entry["version"])
    return flips.Source(path)


def fetch_sdist(version: str) -> str:
    """The nova sdist of a release (for a merged matrix whose environments
    were built elsewhere): from the cache, else the package index."""
    dest = os.path.join(envs.CACHE, "sdists")
    found = glob.glob(os.path.join(dest, "nova-%s.tar.gz" % version))
    if found:
        return found[0]
    os.makedirs(dest, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                    "--no-binary", "nova", "--quiet", "--dest", dest,
                    "nova==%s" % version], check=True, capture_output=True)
    return glob.glob(os.path.join(dest, "nova-%s.tar.gz" % version))[0]


def explain_flips(doc: dict, functions: dict[str, list[str]],
                  out_dir: str | None = None, log=print) -> list[dict]:
    """Every verdict (of a claim, a finding or a scenario) that differs
    between neighbouring judged releases, with the Nova change behind it;
    then every test that is not a verdict and whose outcome differs
    (:func:`explain_test_flips`).  Whatever the runs' exit codes: a
    release is judged when its run recorded every verdict."""
    out = []
    judged = [r for r in doc["releases"] if not r.get("error")]
    sources = {}
    explained = {}      # (functions, older, newer) -> its explanation
    for older, newer in zip(judged, judged[1:]):
        for kind in ("claims", "findings", "scenarios"):
            for row, new in newer[kind].items():
                old = older[kind].get(row)
                if old is None or old == new:
                    continue
                funcs = functions.get(row, [])
                key = (tuple(funcs), older["label"], newer["label"])
                if funcs and key in explained:
                    expl = explained[key]
                elif funcs:
                    for e in (older, newer):
                        if e["label"] not in sources:
                            sources[e["label"]] = _source_of(e)
                    expl = explained[key] = flips.explain(
                        funcs, sources[older["label"]],
                        sources[newer["label"]], older["label"],
                        newer["label"])
                else:
                    expl = flips.Explanation(older["label"], newer["label"],
                                             [], [], [], [])
                d = expl.as_dict()
                d["summary"] = expl.summary()
                between = [m for m in releases.SERIES
                           if older["series"] < m < newer["series"]]
                out.append({"kind": kind[:-1], "row": row, "old": old,
                            "new": new, "older": older["label"],
                            "newer": newer["label"], "explanation": d,
                            "series_not_judged": between})
    return out + explain_test_flips(judged, sources, out_dir, log)


def explain_test_flips(judged: list[dict], sources: dict,
                       out_dir: str | None, log=print) -> list[dict]:
    """Each test that is not a verdict and fails in one of two
    neighbouring releases and passes in the other: the Nova functions it
    ran in each (recorded by running it again in both environments,
    :mod:`harness.matrix.calls`), and the change behind the flip among
    those whose code differs.  Without the environments (a merged nightly
    matrix) the flip is listed with the reason it is not explained."""
    def source(entry):
        if entry["label"] not in sources:
            sources[entry["label"]] = _source_of(entry)
        return sources[entry["label"]]
    out = []
    for older, newer in zip(judged, judged[1:]):
        for row, new in (newer.get("other_tests") or {}).items():
            old = (older.get("other_tests") or {}).get(row)
            if old is None or old == new:
                continue
            got = calls.explain_test_flip(row, older, newer, releases.ROOT,
                                          source, out_dir, log=log)
            if got.get("unexplained"):
                expl = flips.Explanation(older["label"], newer["label"], [],
                                         [], [], [])
                d = dict(expl.as_dict(), summary="not explained: %s" %
                         got["unexplained"])
            else:
                d = got["explanation"]
            out.append({"kind": "test", "row": row, "old": old, "new": new,
                        "older": older["label"], "newer": newer["label"],
                        "explanation": d,
                        "unexplained": got.get("unexplained"),
                        "ranking": got.get("ranking") or [],
                        "recorded": got.get("recorded") or {},
                        "series_not_judged": [
                            m for m in releases.SERIES
                            if older["series"] < m < newer["series"]]})
    return out


def _outcome(release: dict, test: str) -> str | None:
    """``test``'s outcome in ``release`` (None: it did not run there)."""
    if test in (release.get("tests") or {}):
        return "failed"
    if release.get("test_outcomes") is not None:
        return release["test_outcomes"].get(test)
    return "passed"     # a matrix.json that kept only the failures


def other_tests(doc: dict) -> None:
    """``other_tests`` of every judged release: each test that is not a
    scenario and whose outcome differs between releases, or that failed in
    one: its outcome ("passed", "failed" or "skipped") in each release
    that ran it."""
    judged = [r for r in doc["releases"] if not r.get("error")]
    names = sorted({t for r in judged for t in
                    list(r.get("test_outcomes") or {}) + list(
                        r.get("tests") or {})})
    shown = []
    for t in names:
        seen = {_outcome(r, t) for r in judged} - {None}
        if "failed" in seen or len(seen) > 1:
            shown.append(t)
    for r in judged:
        r["other_tests"] = {t: _outcome(r, t) for t in shown
                            if _outcome(r, t) is not None}


def finish(doc: dict, out_dir: str, log) -> int:
    other_tests(doc)
    doc["flips"] = explain_flips(doc, catalogue_functions(), out_dir, log)
    if not any(r["findings"] for r in doc["releases"]):
        explored = [r.get("explore") for r in doc["releases"]
                    if r.get("explore")]
        doc.setdefault("notes", {})["findings"] = (
            " (no finding was judged by the selected scenarios, and %s)" % (
                "the explorer found none: " + "; ".join(
                    "%s %s" % (r["label"], r["explore"])
                    for r in doc["releases"] if r.get("explore"))
                if explored else "the explorer did not run"))
    doc["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    tables.write_json_atomic(os.path.join(out_dir, DOC), doc)
    runrecord.write_text_atomic(os.path.join(out_dir, "matrix.md"),
                                report.markdown(doc))
    runrecord.write_text_atomic(os.path.join(out_dir, "matrix.html"),
                                report.render_html(doc))
    log("")
    log(report.terminal(doc, color=sys.stdout.isatty()))
    log("matrix report: %s (%s, %s)" % (
        os.path.relpath(os.path.join(out_dir, "matrix.md")),
        os.path.relpath(os.path.join(out_dir, "matrix.html")),
        os.path.relpath(os.path.join(out_dir, DOC))))
    if any(r.get("error") for r in doc["releases"]):
        return EXIT_ERROR
    if any(v == "INCONCLUSIVE" for r in doc["releases"]
           for v in r["scenarios"].values()):
        return EXIT_INCONCLUSIVE
    return EXIT_OK


def default_out(runs_dir: str) -> str:
    """``runs/matrix/<UTC timestamp>`` (not created here: a matrix whose
    environments cannot be built leaves nothing behind)."""
    base = os.path.join(os.path.abspath(runs_dir), "matrix")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path, n = os.path.join(base, stamp), 0
    while os.path.exists(path):
        n += 1
        path = os.path.join(base, "%s-%d" % (stamp, n))
    return path


def new_doc(rels, opts: Options, out_dir: str) -> dict:
    return {"schema": 1, "id": os.path.basename(out_dir),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "selection": {"claims": opts.claims,
                          "scenarios": opts.scenarios},
            "db": opts.db or "sqlite",
            "seed": opts.seed, "requested": [r.label for r in rels],
            "releases": []}


def build_all(rels, log=print, nice: int = 10) -> dict:
    """Every environment first: a release that cannot be built stops the
    matrix (:class:`envs.EnvError`) before any scenario has run."""
    built = {}
    for rel in sorted(rels, key=order_key):
        started = time.monotonic()
        env = envs.build(rel, log=log, nice=nice)
        env.seconds = time.monotonic() - started if env.built_now else 0.0
        log("Nova %s (%s %s): environment %s (%s)" % (
            rel.label, rel.series.cycle, rel.series.name,
            os.path.relpath(env.path, releases.ROOT),
            "built in %.0f s" % env.seconds if env.built_now else "cached"))
        built[rel.key] = env
    return built


def run(rels, opts: Options, log=print, built: dict | None = None) -> int:
    """Judge every release (``built``: their environments, when
    :func:`build_all` has already run)."""
    rels = sorted(rels, key=order_key)
    if built is None:
        built = build_all(rels, log, opts.nice)
    os.makedirs(opts.out_dir, exist_ok=True)
    doc = new_doc(rels, opts, opts.out_dir)
    for rel in rels:
        log("Nova %s: running the scenarios" % rel.label)
        doc["releases"].append(run_release(rel, built[rel.key], opts, log))
    return finish(doc, opts.out_dir, log)


def merge(dirs: list[str], out_dir: str, log=print) -> int:
    """One matrix from several (one nightly job per release)."""
    parts = []
    for d in dirs:
        path = d if d.endswith(".json") else os.path.join(d, DOC)
        with open(path, encoding="utf-8") as f:
            parts.append(json.load(f))
    entries = {}
    for p in parts:
        for r in p["releases"]:
            entries[r["key"]] = r

    def key(r):
        if r.get("version"):
            return (r["series"], 0, tuple(int(x) for x in
                                          r["version"].split(".")))
        return (r["series"], 1, ())
    doc = dict(parts[0])
    doc["id"] = os.path.basename(os.path.abspath(out_dir))
    doc["releases"] = sorted(entries.values(), key=key)
    doc["requested"] = [r["label"] for r in doc["releases"]]
    doc["merged_from"] = [os.path.abspath(d) for d in dirs]
    os.makedirs(out_dir, exist_ok=True)
    return finish(doc, out_dir, log)
