"""Run records: what one ``python -m harness run`` leaves behind.

A run writes ``runs/<id>/`` (``<id>`` is a UTC timestamp) and points
``runs/latest`` at it::

    run.json          manifest: status, complete, seed, Nova, argv, exit code
    verdicts.json     the verdicts (docs/verdicts-schema.md)
    junit.xml         pytest's JUnit XML
    traces/<s>.json.gz  per scenario (gzip JSON): every trial's violations
                      and logs; the steps of the trials that decided the
                      verdict, broke an invariant or failed, and of the
                      first control (every trial's with --keep-traces all);
                      the others summarised (step counts, faults, notes)
    logs/<s>.log      per scenario: the log lines kept as evidence
    console.log       everything the run printed
    report.md         Markdown summary (CI comments)
    report.html       one page: tables, evidence, charts (no external asset)
    report.trials/<s>.js  per scenario: the detail of its trials (chart
                      points, steps, violations, logs) that report.html
                      loads when a trial is opened

Every JSON file is written to a temporary file and renamed, so a reader
never sees half of one.  ``run.json`` is written first with
``"complete": false`` and rewritten with ``"complete": true`` only when the
run has finished and every other file is in place; an interrupted or
crashed run therefore stays marked incomplete.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time

from harness.files import (  # noqa: F401 - callers' names
    write_bytes_atomic, write_text_atomic)
from harness.report import tables as report_mod
from harness.verdicts import catalogue as catalogue_mod
from harness.verdicts.verdict import Outcome

MANIFEST = "run.json"
VERDICTS = "verdicts.json"
JUNIT = "junit.xml"
TRACES = "traces"
LOGS = "logs"
CONSOLE = "console.log"
HTML = "report.html"
HTML_DETAIL = "report.trials"     # the page's trial detail, loaded on demand
MARKDOWN = "report.md"
LATEST = "latest"
RECORD_SCHEMA = 1
TRACE_SCHEMA = 1
VERDICT_SCHEMA = report_mod.JSON_SCHEMA_VERSION


class RecordError(ValueError):
    """A run record cannot be read; the message says what to do."""


# ---------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------
def safe_name(name: str) -> str:
    """A file name for a scenario (parametrised names carry ``[...]``)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "scenario"
    if safe != name or len(safe) > 120:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
        safe = "%s-%s" % (safe[:110], digest)
    return safe


def trace_path(run_dir: str, scenario: str) -> str:
    """Where a scenario's trials are stored: gzip-compressed JSON (records
    written before compression have a plain ``.json``; readers take
    either)."""
    return os.path.join(run_dir, TRACES, safe_name(scenario) + ".json.gz")


def write_json_gz_atomic(path: str, doc) -> None:
    """``doc`` as gzip-compressed JSON, atomically (see
    :func:`write_bytes_atomic`)."""
    import gzip
    # mtime=0: the same trials give the same bytes
    write_bytes_atomic(path, gzip.compress(
        json.dumps(doc, default=str, separators=(",", ":")).encode("utf-8"),
        compresslevel=6, mtime=0))


def read_json_maybe_gz(path: str):
    """A JSON file, gzip-compressed or not (raises OSError / ValueError)."""
    import gzip
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=f) as g:
                return json.loads(g.read().decode("utf-8"))
        return json.loads(f.read().decode("utf-8"))


def log_path(run_dir: str, scenario: str) -> str:
    return os.path.join(run_dir, LOGS, safe_name(scenario) + ".log")


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------
def new_run_dir(runs_dir: str) -> str:
    """Create ``runs_dir/<UTC timestamp>`` (suffixed if taken)."""
    os.makedirs(runs_dir, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for n in range(1000):
        name = stamp if n == 0 else "%s-%d" % (stamp, n)
        path = os.path.join(runs_dir, name)
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
    raise RecordError("cannot create a run directory in %s" % runs_dir)


def point_latest(runs_dir: str, run_dir: str) -> None:
    """Atomically make ``runs_dir/latest`` a symlink to ``run_dir``."""
    link = os.path.join(runs_dir, LATEST)
    tmp = os.path.join(runs_dir, ".latest-%d" % os.getpid())
    try:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.path.basename(run_dir), tmp)
        os.replace(tmp, link)
    except OSError:  # pragma: no cover - e.g. no symlinks on this FS
        if os.path.lexists(tmp):
            os.unlink(tmp)


def write_manifest(run_dir: str, manifest: dict) -> None:
    report_mod.write_json_atomic(os.path.join(run_dir, MANIFEST), manifest)


KEEP_TRACES = ("deciding", "all")


def trial_record(obs=None, name: str | None = None, trace=None) -> dict:
    """One trial as stored in ``traces/<scenario>.json.gz``."""
    if obs is not None:
        trace = obs.trace if obs.trace is not None else trace
        return {
            "name": obs.trial, "control": obs.control, "fault": obs.fault,
            "error": obs.error, "during_error": obs.during_error,
            "duration": round(obs.duration, 3),
            "placement_calls": obs.placement_calls,
            "violations": {stage: [v.as_dict() for v in vs]
                           for stage, vs in obs.violations.items()},
            "logs": list(obs.logs),
            "steps": trace.as_list() if trace is not None else [],
        }
    return {"name": name, "control": None, "fault": None, "error": None,
            "during_error": None, "duration": None, "placement_calls": None,
            "violations": {}, "logs": [],
            "steps": trace.as_list() if trace is not None else []}


# Steps kept when a trial's trace is summarised: what was injected, and
# notes (skips, the workload raising) - a few lines per trial.
SUMMARY_KINDS = ("fault", "note")


def summarise(record: dict) -> dict:
    """The trial without its full step list: step counts per kind, and only
    its fault and note steps."""
    steps = record.get("steps") or []
    kinds: dict[str, int] = {}
    for st in steps:
        kinds[st.get("kind")] = kinds.get(st.get("kind"), 0) + 1
    out = dict(record)
    out["steps"] = [st for st in steps if st.get("kind") in SUMMARY_KINDS]
    out["summary"] = {"steps": len(steps), "kinds": kinds}
    return out


def deciding_trials(judge) -> set[str]:
    """The trials whose traces are kept in full by default: those the
    verdict's evidence names, those that broke an invariant or failed, and
    the first control (what a clean run of the workload looks like)."""
    keep = set()
    outcome = judge.outcome
    for e in (outcome.evidence if outcome is not None else []) or []:
        keep.add(e.variant)
    first_control = None
    for obs in judge.observations:
        if obs.error or obs.during_error or any(obs.violations.values()):
            keep.add(obs.trial)
        if obs.control and first_control is None:
            first_control = obs.trial
    if first_control is not None:
        keep.add(first_control)
    return keep


def export_judge(run_dir: str, judge, nodeid: str = "",
                 keep: str = "deciding") -> str:
    """Write a scenario's trials (``judge.observations`` and
    ``judge.traces``) to ``traces/<scenario>.json.gz`` and its evidence log
    lines to ``logs/<scenario>.log``.  Safe from xdist workers: each
    scenario writes only its own files, atomically.

    ``keep="deciding"`` (default) keeps the full steps of the
    :func:`deciding_trials` only and :func:`summarise`\ s the others;
    ``keep="all"`` keeps every step of every trial."""
    if keep not in KEEP_TRACES:
        raise ValueError("keep=%r: expected one of %s"
                         % (keep, ", ".join(KEEP_TRACES)))
    full = None if keep == "all" else deciding_trials(judge)
    trials = []
    seen = set()
    for obs in judge.observations:
        rec = trial_record(obs, trace=judge.traces.get(obs.trial))
        if full is not None and obs.trial not in full:
            rec = summarise(rec)
        trials.append(rec)
        seen.add(obs.trial)
    for name, trace in judge.traces.items():
        if name not in seen:
            rec = trial_record(name=name, trace=trace)
            trials.append(rec if full is None else summarise(rec))
    outcome = judge.outcome
    doc = {
        "schema": TRACE_SCHEMA,
        "scenario": judge.scenario,
        "nodeid": nodeid,
        "claims": list(judge.claims),
        "seed": judge.seed,
        "verdict": outcome.verdict.value if outcome else None,
        "summary": outcome.summary if outcome else None,
        "written": now_iso(),
        "keep_traces": keep,
        "trials": trials,
    }
    path = trace_path(run_dir, judge.scenario)
    write_json_gz_atomic(path, doc)
    lines = ["# %s (claims %s)" % (judge.scenario, ", ".join(judge.claims))]
    for t in trials:
        lines.append("")
        control = t["control"] and "control" not in t["name"]
        lines.append("## %s%s" % (t["name"], " [control]" if control
                                  else ""))
        if t["fault"]:
            lines.append("fault: %s" % t["fault"])
        lines.extend(t["logs"] or ["(no relevant log lines)"])
        if t["error"]:
            lines.append("harness error:")
            lines.extend(t["error"].rstrip().splitlines())
    write_text_atomic(log_path(run_dir, judge.scenario),
                      "\n".join(lines) + "\n")
    return path


def write_collection(path: str, items) -> None:
    """``--collect-json``: every collected test, with the claim ids
    (``claims`` marker) and finding ids (``finding`` marker) it decides
    and whether it asks for a verdict (the ``judge`` fixture); a test
    that does neither is not a verdict (a lifecycle sequence)."""
    def ids(item, name):
        marker = item.get_closest_marker(name)
        return [str(a) for a in marker.args] if marker else []
    scenarios = []
    for item in items:
        scenarios.append({
            "name": item.name, "nodeid": item.nodeid,
            "file": str(getattr(item, "path", getattr(item, "fspath", ""))),
            "claims": ids(item, "claims"), "findings": ids(item, "finding"),
            "judged": "judge" in getattr(item, "fixturenames", ())})
    report_mod.write_json_atomic(path, {"scenarios": scenarios})


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
def resolve(path: str, runs_dir: str | None = None) -> str:
    """A run directory from what the user typed: a directory, a
    ``verdicts.json`` in one, or a name (``latest``, an id) in runs_dir."""
    candidates = [path]
    if runs_dir and not os.path.isabs(path):
        candidates.append(os.path.join(runs_dir, path))
    for c in candidates:
        if os.path.isfile(c) and os.path.basename(c) in (VERDICTS, MANIFEST):
            return os.path.dirname(os.path.abspath(c))
        if os.path.isdir(c):
            return os.path.abspath(c)
    raise RecordError(
        "run record %s not found; give a directory under runs/ (or "
        "'latest') written by 'python -m harness run'" % path)


def _load_json(path: str, what: str, run_dir: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise RecordError("run record %s has no %s; it was not written by a "
                          "finished run - re-run 'python -m harness run'"
                          % (run_dir, what)) from None
    except (OSError, ValueError) as exc:
        raise RecordError(
            "run record %s: %s is corrupt (%s); re-run 'python -m harness "
            "run' to get a new record" % (run_dir, what,
                                          str(exc).split("\n")[0])) from None


def check_verdicts(doc, where: str) -> dict:
    """Structural check of a verdicts document (see the JSON Schema)."""
    problem = None
    if not isinstance(doc, dict):
        problem = "not a JSON object"
    elif doc.get("schema") != VERDICT_SCHEMA:
        problem = "schema %r, expected %d" % (doc.get("schema"),
                                               VERDICT_SCHEMA)
    elif not isinstance(doc.get("claims"), list) or \
            not isinstance(doc.get("scenarios"), list):
        problem = "no 'claims' and 'scenarios' lists"
    else:
        for s in doc["scenarios"]:
            if not isinstance(s, dict) or not {"scenario", "claims",
                                               "verdict"} <= set(s):
                problem = "a scenario entry lacks scenario/claims/verdict"
                break
        for c in doc["claims"]:
            if not isinstance(c, dict) or not {"claim", "verdict"} <= set(c):
                problem = "a claim entry lacks claim/verdict"
                break
    if problem:
        raise RecordError("%s is not a verdicts document (%s); re-run "
                          "'python -m harness run' to get a new record"
                          % (where, problem))
    return doc


class Record:
    """A run record read back from disk."""

    def __init__(self, path: str, manifest: dict, verdicts: dict | None):
        self.path = path
        self.manifest = manifest
        self.verdicts = verdicts

    @property
    def id(self) -> str:
        return self.manifest.get("id") or os.path.basename(self.path)

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete")) and bool(
            self.verdicts) and self.verdicts.get("complete", True) is True

    def trace(self, scenario: str) -> dict | None:
        path = trace_path(self.path, scenario)
        if not os.path.exists(path):
            path = path[:-len(".gz")]     # a record from before compression
        try:
            doc = read_json_maybe_gz(path)
        except (OSError, ValueError, EOFError):
            return None
        return doc if isinstance(doc, dict) else None

    def traces(self) -> dict[str, dict]:
        out = {}
        for s in (self.verdicts or {}).get("scenarios", []):
            t = self.trace(s["scenario"])
            if t is not None:
                out[s["scenario"]] = t
        return out


def load(path: str, runs_dir: str | None = None,
         require_complete: bool = False) -> Record:
    run_dir = resolve(path, runs_dir)
    shown = os.path.relpath(run_dir)
    manifest_path = os.path.join(run_dir, MANIFEST)
    if os.path.exists(manifest_path):
        manifest = _load_json(manifest_path, MANIFEST, shown)
        if not isinstance(manifest, dict) or "complete" not in manifest:
            raise RecordError("run record %s: %s lacks 'complete'; re-run "
                              "'python -m harness run'" % (shown, MANIFEST))
    else:
        manifest = {"id": os.path.basename(run_dir), "complete": True,
                    "status": "complete (no run.json)"}
    verdicts = None
    vpath = os.path.join(run_dir, VERDICTS)
    if os.path.exists(vpath) or manifest.get("complete"):
        verdicts = check_verdicts(_load_json(vpath, VERDICTS, shown),
                                  "run record %s: %s" % (shown, VERDICTS))
    record = Record(run_dir, manifest, verdicts)
    if require_complete and not record.complete:
        raise RecordError(
            "run record %s is incomplete (status: %s); it was interrupted or "
            "failed - re-run 'python -m harness run'"
            % (shown, manifest.get("status", "unknown")))
    if verdicts is None:
        raise RecordError(
            "run record %s is incomplete (status: %s) and has no verdicts; "
            "re-run 'python -m harness run'" % (shown,
                                                manifest.get("status",
                                                             "unknown")))
    return record


# ---------------------------------------------------------------------------
# several records as one (the shards of a run: ``run --shard I/N``)
# ---------------------------------------------------------------------------
class MergedRecord(Record):
    """The shards of one run read as a single record: verdicts merged (the
    claims' verdicts recomputed over every shard's scenarios), traces read
    from whichever shard ran the scenario."""

    def __init__(self, records: list[Record], verdicts: dict,
                 manifest: dict):
        super().__init__(records[0].path, manifest, verdicts)
        self.records = records
        self._where = {s["scenario"]: r for r in records
                       for s in r.verdicts.get("scenarios", [])}

    def trace(self, scenario: str) -> dict | None:
        record = self._where.get(scenario)
        return record.trace(scenario) if record is not None else None


def merge(records: list[Record]) -> Record:
    """One record from several (a single one is returned as it is).

    Two shards that both ran a scenario are not shards of one run: that is
    refused with what to do instead."""
    if len(records) == 1:
        return records[0]
    import dataclasses
    fields = {f.name for f in dataclasses.fields(Outcome)}
    outcomes, skipped, seen = {}, {}, {}
    for r in records:
        for s in r.verdicts.get("scenarios", []):
            if s["scenario"] in seen:
                raise RecordError(
                    "run records %s and %s both ran scenario %s, so they "
                    "are not shards of one run; give each shard's record "
                    "once (e.g. 'report A,B' for 'run --shard 1/2' and "
                    "'--shard 2/2')" % (seen[s["scenario"]], r.id,
                                        s["scenario"]))
            seen[s["scenario"]] = r.id
            outcomes[s["scenario"]] = (
                Outcome.from_dict({k: v for k, v in s.items()
                                   if k in fields}), s)
        for info in r.verdicts.get("skipped", []) or []:
            skipped[info["scenario"]] = info
    try:
        catalogue = catalogue_mod.load()
    except catalogue_mod.CatalogueError as exc:
        raise RecordError(str(exc)) from None
    first = records[0].verdicts
    verdicts = {
        "schema": first.get("schema"),
        "generated": max(r.verdicts.get("generated") or ""
                         for r in records),
        "complete": all(r.verdicts.get("complete", True) for r in records),
        "nova": first.get("nova"),
        "claims": report_mod.claim_rows(
            catalogue, {n: o for n, (o, _) in outcomes.items()}, skipped),
        "scenarios": [dict(entry)
                      for _, (_, entry) in sorted(outcomes.items())],
        "skipped": [dict(i) for _, i in sorted(skipped.items())],
        "shards": [r.id for r in records],
    }
    codes = [r.manifest.get("exit_code") for r in records]
    manifest = dict(records[0].manifest)
    manifest.update(
        id="+".join(r.id for r in records),
        complete=all(r.complete for r in records),
        status="complete" if all(r.complete for r in records)
        else "incomplete shard(s)",
        exit_code=None if None in codes else max(codes),
        exit_meaning=None, drift=None,
        shards=[{"id": r.id, "path": r.path,
                 "shard": (r.manifest.get("selection") or {}).get("shard")}
                for r in records])
    return MergedRecord(records, verdicts, manifest)


def load_many(paths, runs_dir: str | None = None,
              require_complete: bool = False) -> Record:
    """``paths``: run records (each may be ``A,B,...``), merged as shards."""
    names = [p for arg in paths for p in str(arg).split(",") if p.strip()]
    if not names:
        raise RecordError("no run record given; name a directory under "
                          "runs/ (or 'latest')")
    return merge([load(p, runs_dir, require_complete) for p in names])


# ---------------------------------------------------------------------------
# size budget of a full run's record (issue 11)
# ---------------------------------------------------------------------------
# The page embeds what it draws at first view; every other trial's detail
# is in report.trials/ beside it, which counts toward the record's budget.
BUDGET = {"record": 20 << 20, "html": 5 << 20}
BUDGET_ENV = "HARNESS_RECORD_BUDGET_MB"      # "record,html", e.g. "20,5"


def record_sizes(run_dir: str) -> dict:
    """Bytes on disk: the whole record (the page's trial detail included),
    its ``report.html``, its traces and the page's trial detail
    (``report.trials/``)."""
    total = traces = detail = 0
    for folder, _, files in os.walk(run_dir):
        for name in files:
            n = os.path.getsize(os.path.join(folder, name))
            total += n
            if os.path.basename(folder) == TRACES:
                traces += n
            elif os.path.basename(folder) == HTML_DETAIL:
                detail += n
    html = os.path.join(run_dir, HTML)
    return {"record": total, "traces": traces,
            "html": os.path.getsize(html) if os.path.exists(html) else 0,
            "html_detail": detail}


def budget() -> dict:
    raw = os.environ.get(BUDGET_ENV)
    if not raw:
        return dict(BUDGET)
    try:
        record, html = (float(x) for x in raw.split(","))
    except ValueError:
        raise RecordError("%s=%r: expected two sizes in MB, e.g. '20,5'"
                          % (BUDGET_ENV, raw)) from None
    return {"record": int(record * (1 << 20)), "html": int(html * (1 << 20))}


def over_budget(sizes: dict, limits: dict | None = None) -> list[str]:
    """What in ``sizes`` exceeds its budget, as readable lines."""
    limits = limits or budget()
    out = []
    for key, what in (("record", "the run record"), ("html", HTML)):
        if sizes.get(key, 0) > limits[key]:
            out.append("%s is %.1f MB, over its budget of %.1f MB"
                       % (what, sizes[key] / (1 << 20),
                          limits[key] / (1 << 20)))
    return out


def junit_outcomes(path: str) -> dict[str, tuple[str, str]]:
    """Each test of pytest's JUnit XML at ``path``: name -> (``passed``,
    ``failed`` or ``skipped``, its failure or error message with the
    whitespace collapsed, "" when it passed).  Raises OSError or
    ``xml.etree.ElementTree.ParseError`` for a missing or broken file."""
    import xml.etree.ElementTree as ET
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            text = " ".join((bad.get("message") or bad.text or "").split())
            out[case.get("name")] = ("failed", text or "failed")
        elif case.find("skipped") is not None:
            out[case.get("name")] = ("skipped", "")
        else:
            out[case.get("name")] = ("passed", "")
    return out
