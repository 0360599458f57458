"""Command line: ``python -m harness`` (also ``nova-harness``).

    list       claims, scenarios and fault kinds (filters: --claim, --verdict)
    run        run scenarios, write a run record under runs/<id>/
    reproduce  run one scenario in the foreground, printing its trace
    report     re-render a stored run (text, Markdown, HTML, JSON)
    diff       compare two runs, or a run with the baseline
    explore    random lifecycle sequences, every invariant after every op
    mutate     the harness's own mutation score (docs/mutation.md)
    matrix     judge several Nova releases, compare verdicts, explain flips

Exit codes (docs/cli.md): 0 every verdict matches the baseline; 1 drift (a
verdict changed; the output names the claim/scenario, old and new); 2 bad
input or harness error (one line on stderr names the problem and the fix);
3 a scenario was INCONCLUSIVE.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile

from harness.verdicts import baseline as baseline_mod
from harness.report import tables as report_mod
from harness.report import runrecord
from harness.verdicts.verdict import Verdict, combine

EXIT_OK, EXIT_DRIFT, EXIT_ERROR, EXIT_INCONCLUSIVE = 0, 1, 2, 3
EXIT_MEANING = {EXIT_OK: "verdicts match the baseline",
                EXIT_DRIFT: "drift: a verdict differs from the baseline",
                EXIT_ERROR: "bad input or harness error",
                EXIT_INCONCLUSIVE: "a scenario was INCONCLUSIVE"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SCENARIOS = os.path.join(ROOT, "scenarios")
DEFAULT_RUNS = os.path.join(ROOT, "runs")
EPILOG = """\
exit codes:
  0  every verdict matches the baseline
  1  drift: a verdict differs from the baseline (the output names the
     scenario and claim, the old and the new verdict)
  2  bad input or harness error (one line on stderr says what and how to fix)
  3  a scenario was INCONCLUSIVE (the harness could not decide)

environment: HARNESS_CATALOGUE (an alternative catalogue.yaml),
HARNESS_RUNS_DIR (where run records go), HARNESS_SEED (default seed),
HARNESS_DB (default --db), HARNESS_DB_URL (use this database server instead
of starting one), HARNESS_DB_PORT (the started server listens on
127.0.0.1:PORT instead of a Unix socket).  See docs/cli.md and
docs/engines.md."""


class InputError(Exception):
    """Bad input: one line, naming the problem and the fix (exit 2)."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# ---------------------------------------------------------------------------
# checks shared by the commands (all before anything is written)
# ---------------------------------------------------------------------------
def load_catalogue():
    from harness.verdicts import catalogue as catalogue_mod
    try:
        return catalogue_mod.load()
    except catalogue_mod.CatalogueError as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        path = os.environ.get("HARNESS_CATALOGUE") or catalogue_mod.\
            DEFAULT_PATH
        raise InputError(
            "catalogue %s cannot be read (%s); point HARNESS_CATALOGUE at a "
            "readable catalogue.yaml or unset it"
            % (os.path.relpath(path), exc.strerror or exc)) from None


def check_claim_ids(ids, catalogue, option="--claims"):
    known = catalogue.ids() if hasattr(catalogue, "ids") \
        else list(catalogue.claims)
    for cid in ids:
        if cid not in known:
            raise InputError(
                "unknown claim or finding id %r in %s; known ids: %s (see "
                "'python -m harness list claims')" % (cid, option,
                                                      ", ".join(known)))


def load_baseline(path):
    if os.path.isdir(path):
        raise InputError("baseline %s is a directory; give the baseline "
                         "JSON file (default scenarios/baseline.json)"
                         % os.path.relpath(path))
    try:
        return baseline_mod.load(path)
    except baseline_mod.BaselineError as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        raise InputError("baseline %s cannot be read (%s); restore it with "
                         "'git checkout -- %s'" % (
                             os.path.relpath(path), exc.strerror or exc,
                             os.path.relpath(path))) from None


def nova_version() -> dict:
    from harness.world import novaenv
    try:
        return novaenv.version_info()
    except novaenv.NovaUnavailable as exc:
        raise InputError(str(exc)) from None


def add_db_option(parser):
    """``--db``: the database engine every world runs on.  For any command
    that runs worlds (run, reproduce, matrix; explore as it comes)."""
    parser.add_argument(
        "--db", default=None, metavar="ENGINE",
        help="database engine of every world: sqlite (default, fast), "
             "mysql (MariaDB) or postgresql; a real server is installed "
             "and started for the run and removed after it (default: "
             "$HARNESS_DB or sqlite; see docs/engines.md)")


def db_engine(args) -> str:
    """The engine ``--db`` (or HARNESS_DB) names, checked; an unknown one
    is an :class:`InputError` (one line, exit 2)."""
    from harness.world import engines
    try:
        return engines.db_kind(getattr(args, "db", None))
    except engines.EngineError as exc:
        raise InputError(str(exc)) from None


@contextlib.contextmanager
def db_server(args):
    """The database server for ``args.db`` for the duration of the block
    (nothing for sqlite).  Sets HARNESS_DB/HARNESS_DB_URL/HARNESS_DB_SERVER
    so the pytest subprocess and its workers use it.  Bad input (unknown
    engine, missing client library, a server that will not start, a port
    in use) is an :class:`InputError`: one line, exit 2."""
    from harness.world import engines
    try:
        kind = engines.db_kind(getattr(args, "db", None))
        preset = kind != "sqlite" and engines.configured_url(kind)
        cm = engines.server(kind)
        url = cm.__enter__()
    except engines.EngineError as exc:
        raise InputError(str(exc)) from None
    try:
        if url is not None:
            print("database: %s, %s" % (
                os.environ.get("HARNESS_DB_SERVER", kind),
                "the server HARNESS_DB_URL names" if preset else
                "a server started for this run (removed when it ends)"),
                flush=True)
        yield kind
    finally:
        cm.__exit__(None, None, None)


def check_scenario_dir(path):
    if not os.path.exists(path):
        raise InputError("scenario path %s does not exist; give a directory "
                         "of scenario files (default scenarios/)" % path)


def _split(text):
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def _env():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if env.get("HARNESS_CATALOGUE"):
        env["HARNESS_CATALOGUE"] = os.path.abspath(env["HARNESS_CATALOGUE"])
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                  if p])
    return env


def _pytest_base(scenario_dir):
    # --show-capture=no: a failing scenario (drift) would otherwise dump
    # every DEBUG record Nova logged; the evidence logs are in logs/.
    return ["-p", "harness.plugin", "--rootdir", ROOT, "--show-capture=no",
            "-c", os.path.join(ROOT, "pyproject.toml"),
            "-p", "no:cacheprovider", "-o", "console_output_style=classic",
            "-W", "ignore::DeprecationWarning"]


def collect(scenario_dir, claims=None) -> list[dict]:
    """The scenarios pytest collects, with their claims (a subprocess,
    so a broken scenario file is reported, not raised)."""
    fd, out = tempfile.mkstemp(prefix="harness-collect-", suffix=".json")
    os.close(fd)
    os.unlink(out)
    cmd = [sys.executable, "-m", "pytest", scenario_dir, "--collect-only",
           "-q", "--collect-json", out, "--record-baseline",
           ] + _pytest_base(scenario_dir)
    if claims:
        cmd += ["--claims", ",".join(claims)]
    env = _env()
    # Collecting needs only the harness's plugin; other installed plugins
    # (xdist, hypothesis, benchmark...) would triple the time it takes.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True,
                              capture_output=True)
        if proc.returncode not in (0, 5) or not os.path.exists(out):
            if proc.returncode == 5:
                return []
            raise InputError("collecting scenarios in %s failed (%s); run "
                             "'python -m pytest --collect-only %s' to see "
                             "why" % (os.path.relpath(scenario_dir),
                                      _why(proc.stdout + proc.stderr),
                                      os.path.relpath(scenario_dir)))
        with open(out, encoding="utf-8") as f:
            return json.load(f)["scenarios"]
    finally:
        if os.path.exists(out):
            os.unlink(out)


def _why(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for prefix in ("ERROR:", "E   ", "ERROR "):
        hits = [ln for ln in lines if ln.startswith(prefix)]
        if hits:
            return _one_line(hits[-1])[:300]
    return _one_line(lines[-1])[:300] if lines else "no output"


# ---------------------------------------------------------------------------
# running pytest, tee-ing its output into the record
# ---------------------------------------------------------------------------
class _Terminated(Exception):
    pass


def _run_pytest(argv, run_dir, echo=True):
    """Run pytest in a subprocess; returns (returncode, interrupted, tail)."""
    cmd = [sys.executable, "-m", "pytest"] + argv
    console = open(os.path.join(run_dir, runrecord.CONSOLE), "wb")
    tail = bytearray()

    def on_term(signum, frame):
        raise _Terminated()
    old = signal.signal(signal.SIGTERM, on_term)
    interrupted = False
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    shown = ProgressEcho(sys.stdout)
    try:
        fd = proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except (KeyboardInterrupt, _Terminated):
                if interrupted:
                    proc.kill()
                else:
                    interrupted = True
                    try:
                        proc.send_signal(signal.SIGINT)
                    except OSError:
                        pass
                continue
            if not chunk:
                break
            console.write(chunk)
            tail.extend(chunk)
            del tail[:-20000]
            if echo:
                shown.feed(chunk)
        while True:
            try:
                rc = proc.wait()
                break
            except (KeyboardInterrupt, _Terminated):
                interrupted = True
                proc.kill()
    finally:
        signal.signal(signal.SIGTERM, old)
        console.close()
        if echo:
            shown.close()
    return rc, interrupted, tail.decode("utf-8", "replace")


def live_terminal(stream) -> bool:
    """A live (redrawn) progress line: only on a terminal, never in CI."""
    ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false",
                                                          "no")
    try:
        return stream.isatty() and not ci
    except (AttributeError, ValueError):
        return False


class ProgressEcho:
    """Echoes a run's output; the plugin's progress lines
    (``harness: progress ...``) become one line redrawn in place on a
    terminal, and stay plain lines elsewhere (CI, a pipe, a file)."""

    def __init__(self, stream, live: bool | None = None):
        self.stream = stream          # text stream; bytes go to its buffer
        self.live = live_terminal(stream) if live is None else live
        self.pending = b""
        self.status = b""            # the live line now shown

    def _write(self, data: bytes):
        raw = getattr(self.stream, "buffer", None)
        if raw is not None:
            raw.write(data)
            raw.flush()
        else:
            self.stream.write(data.decode("utf-8", "replace"))
            self.stream.flush()

    def feed(self, chunk: bytes):
        from harness.plugin import PROGRESS_PREFIX
        prefix = PROGRESS_PREFIX.encode()
        if not self.live:
            self._write(chunk)
            return
        data = self.pending + chunk
        lines = data.split(b"\n")
        self.pending = lines.pop()
        out = b""
        for line in lines:
            at = line.find(prefix)
            if at >= 0:
                if line[:at].strip():
                    out += line[:at] + b"\n"      # e.g. pytest's dots
                self.status = line[at + len(prefix):].rstrip(b"\r")
                continue
            out += line + b"\n"
        # Show an unfinished line now, except what may be (the start of) a
        # progress line: that waits for its end.
        if prefix in self.pending:
            keep = len(self.pending)
        else:
            keep = next((k for k in range(min(len(prefix), len(
                self.pending)), 0, -1) if self.pending.endswith(
                    prefix[:k])), 0)
        cut = len(self.pending) - keep
        partial, self.pending = self.pending[:cut], self.pending[cut:]
        clear = b"\r\x1b[K"
        if out or partial:
            self._write(clear + out + partial)
        if self.status and not partial:
            self._write(clear + b"progress: " + self.status)

    def close(self):
        if self.live:
            tail = self.pending
            self.pending = b""
            self._write(b"\r\x1b[K" + tail + (b"\n" if tail else b""))


def _manifest(run_dir, command, args, seed, nova, selection, extra=None):
    m = {"schema": runrecord.RECORD_SCHEMA,
         "id": os.path.basename(run_dir), "command": command,
         "argv": sys.argv[1:], "started": runrecord.now_iso(),
         "finished": None, "complete": False, "status": "running",
         "exit_code": None, "exit_meaning": None, "message": None,
         "seed": seed, "workers": getattr(args, "workers", None),
         "baseline": os.path.abspath(args.baseline),
         "record_baseline": bool(getattr(args, "record_baseline", False)),
         "selection": selection, "nova": nova,
         "files": {"verdicts": runrecord.VERDICTS,
                   "junit": runrecord.JUNIT, "traces": runrecord.TRACES + "/",
                   "logs": runrecord.LOGS + "/",
                   "console": runrecord.CONSOLE,
                   "markdown": runrecord.MARKDOWN, "html": runrecord.HTML,
                   "html_detail": runrecord.HTML_DETAIL + "/"},
         "drift": None}
    m.update(extra or {})
    runrecord.write_manifest(run_dir, m)
    return m


def _finish(run_dir, manifest, status, code, message=None, complete=False,
            drift=None):
    manifest.update(finished=runrecord.now_iso(), status=status,
                    exit_code=code, exit_meaning=EXIT_MEANING[code],
                    message=message, complete=complete, drift=drift)
    runrecord.write_manifest(run_dir, manifest)


def exit_code(doc: dict, record: bool = False) -> int:
    scenarios = doc["scenarios"]
    if any(s.get("traceback") for s in scenarios):
        return EXIT_ERROR
    if not record and any(s["baseline"] != s["verdict"] for s in scenarios):
        return EXIT_DRIFT
    if any(s["verdict"] == "INCONCLUSIVE" for s in scenarios):
        return EXIT_INCONCLUSIVE
    return EXIT_OK


def _execute(args, command, targets, extra_pytest, selection, echo=True,
             point_latest=True, nova=None):
    """Shared by run and reproduce: record, run, judge the exit code."""
    runs_dir = os.path.abspath(args.runs_dir)
    run_dir = runrecord.new_run_dir(runs_dir)
    shown = os.path.relpath(run_dir)
    manifest = _manifest(run_dir, command, args, args.seed, nova, selection)
    if point_latest:
        runrecord.point_latest(runs_dir, run_dir)
    verdicts = os.path.join(run_dir, runrecord.VERDICTS)
    argv = targets + _pytest_base(args.scenario_dir) + [
        "--verdicts-json", verdicts, "--baseline",
        os.path.abspath(args.baseline),
        "--junitxml", os.path.join(run_dir, runrecord.JUNIT),
        "--run-dir", run_dir, "--harness-seed", str(args.seed)] + extra_pytest
    if getattr(args, "record_baseline", False):
        argv.append("--record-baseline")
    rc, interrupted, tail = _run_pytest(argv, run_dir, echo=echo)

    def fail(status, message, code=EXIT_ERROR):
        _finish(run_dir, manifest, status, code, message)
        print("run record: %s (incomplete: %s)" % (shown, status))
        raise InputError(message)

    if interrupted or rc == 2 and "KeyboardInterrupt" in tail:
        fail("interrupted", "the run was interrupted; its record %s is "
             "marked incomplete - run it again" % shown)
    if not os.path.exists(verdicts):
        if rc == 5:
            fail("error", "no scenario ran (%s collected nothing for %s); "
                 "check the selection with 'python -m harness list "
                 "scenarios'" % (os.path.relpath(args.scenario_dir),
                                 json.dumps(selection)))
        if rc == 4:
            fail("error", "pytest refused the run: %s; fix the scenario or "
                 "the option it names" % _why(tail))
        if "ERROR collecting" in tail or "error during collection" in tail:
            fail("error", "a scenario file failed to import (%s); run "
                 "'python -m pytest --collect-only %s' to see the "
                 "traceback" % (_why(tail), os.path.relpath(
                     args.scenario_dir)))
        fail("error", "pytest ended (exit %d) without verdicts: %s; see %s"
             % (rc, _why(tail), os.path.join(shown, runrecord.CONSOLE)))
    try:
        record = runrecord.load(run_dir)
    except runrecord.RecordError as exc:
        fail("error", str(exc))
    doc = record.verdicts
    if doc.get("report_error"):
        fail("error", "the verdict writer failed (%s); every verdict is "
             "recorded as INCONCLUSIVE with its traceback in %s"
             % (_why(doc["report_error"]), os.path.join(
                 shown, runrecord.VERDICTS)))
    if not doc.get("complete", True):
        fail("interrupted", "the run was interrupted; its record %s is "
             "marked incomplete - run it again" % shown)
    record_mode = bool(getattr(args, "record_baseline", False))
    code = exit_code(doc, record=record_mode)
    message = None
    if code == EXIT_OK and rc not in (0,) and not record_mode:
        code = EXIT_ERROR
        message = ("pytest reported a failure that is not a verdict (exit "
                   "%d: %s); see %s" % (rc, _why(tail), os.path.join(
                       shown, runrecord.CONSOLE)))
    drift = report_mod.drift_against_baseline(doc)
    if record_mode:
        drift = {"against": "baseline", "scenarios": [], "claims": [],
                 "only_a": [], "only_b": []}
    manifest.update(exit_code=code, exit_meaning=EXIT_MEANING[code],
                    drift=drift, status="complete",
                    finished=runrecord.now_iso())
    traces = record.traces()
    final = dict(manifest, complete=True)   # as run.json will say
    runrecord.write_text_atomic(os.path.join(run_dir, runrecord.MARKDOWN),
                                report_mod.markdown(doc, final, drift))
    from harness.report import html as html_report
    html_report.write(os.path.join(run_dir, runrecord.HTML), doc, final,
                      traces, drift)
    sizes = runrecord.record_sizes(run_dir)
    manifest["sizes"] = sizes
    full_run = command == "run" and not any(selection.values())
    too_big = runrecord.over_budget(sizes) if full_run else []
    if too_big and message is None:
        code = EXIT_ERROR
        message = ("%s; see docs/performance.md (run records) for what a "
                   "record keeps" % "; ".join(too_big))
    _finish(run_dir, manifest, "complete", code, message, complete=True,
            drift=drift)
    lines = report_mod.drift_lines(drift)
    print("")
    for line in lines:
        print(line)
    for s in doc["scenarios"]:
        if s.get("traceback"):
            print("HARNESS ERROR in %s: %s" % (s["scenario"], s["summary"]))
        elif s["verdict"] == "INCONCLUSIVE":
            print("INCONCLUSIVE %s: %s" % (s["scenario"], s["summary"]))
    print("run record: %s, %.1f MB  (report: %s, %.1f MB)" % (
        shown, sizes["record"] / (1 << 20),
        os.path.join(shown, runrecord.HTML), sizes["html"] / (1 << 20)))
    print("exit %d: %s" % (code, EXIT_MEANING[code]))
    if message:
        print("error: %s" % _one_line(message), file=sys.stderr)
    elif code == EXIT_DRIFT:
        print("drift: %s" % "; ".join(
            "%s %s -> %s" % (d["scenario"], d["old"] or "(none)", d["new"])
            for d in drift["scenarios"]), file=sys.stderr)
    return code, run_dir


# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------
def cmd_run(args) -> int:
    catalogue = load_catalogue()
    claims = _split(args.claims)
    check_claim_ids(claims, catalogue)
    if not args.record_baseline:
        load_baseline(args.baseline)
    check_scenario_dir(args.scenario_dir)
    targets = [os.path.abspath(args.scenario_dir)]
    names = _split(args.scenarios)
    extra = []
    if names:
        found = {s["name"]: s for s in collect(args.scenario_dir)}
        unknown = [n for n in names if n not in found]
        if unknown:
            raise InputError(
                "unknown scenario %r in --scenarios; see 'python -m harness "
                "list scenarios' for the names" % unknown[0])
        targets = [_nodeid_path(found[n]) for n in names]
    if claims:
        if not names and not collect(args.scenario_dir, claims):
            raise InputError(
                "no scenario judges claim(s) %s yet (NOT_JUDGED), so there "
                "is nothing to run; see 'python -m harness list scenarios'"
                % ", ".join(claims))
        extra += ["--claims", ",".join(claims)]
    selection = {"claims": claims, "scenarios": names}
    if args.shard:
        index, count = args.shard
        scenarios = collect(args.scenario_dir, claims or None)
        if names:
            scenarios = [s for s in scenarios if s["name"] in names]
        mine = shard_of(scenarios, index, count)
        if not mine:
            raise InputError(
                "shard %d/%d has no scenarios: the selection has %d scenario "
                "file(s), and a file is never split; use at most that many "
                "shards" % (index, count, len({s["file"] for s in scenarios})))
        targets = [_nodeid_path(s) for s in mine]
        selection["shard"] = "%d/%d" % (index, count)
        selection["shard_scenarios"] = [s["name"] for s in mine]
    files = None       # the scenario files to run, when known
    if os.path.isfile(args.scenario_dir):
        files = {args.scenario_dir}
    elif names or args.shard:
        files = {t.split("::")[0] for t in targets}
    workers = args.workers
    if files is not None and len(files) <= 1:
        workers = 1     # one file: a worker would only add its start-up
    extra += workers_options(workers)
    extra += ["--keep-traces", args.keep_traces, "--progress", "-q"]
    with db_server(args):
        nova = nova_version()
        code, _ = _execute(args, "run", targets, extra, selection, nova=nova)
    return code


def workers_options(workers) -> list[str]:
    """pytest options for ``--workers``: xdist with ``--dist loadfile`` (a
    scenario file's scenarios share observations computed once per
    process, so they stay in one worker), or none for one process.

    (Not ``loadgroup``: pytest-xdist 3.8 marks a group by rewriting
    ``item._nodeid``, which pytest 9 no longer reads, so groups are ignored
    and every scenario is scheduled on its own.)"""
    if workers in (None, "auto"):
        workers = os.cpu_count() or 1
    if int(workers) <= 1:
        return ["-p", "no:xdist"] if _has_xdist() else []
    if not _has_xdist():
        raise InputError("--workers %s needs pytest-xdist, which is not "
                         "installed; install it (pip install -c "
                         "constraints.txt pytest-xdist) or use --workers 1"
                         % workers)
    return ["-n", str(workers), "--dist", "loadfile"]


def _has_xdist() -> bool:
    import importlib.util
    return importlib.util.find_spec("xdist") is not None


def shard_of(scenarios: list[dict], index: int, count: int) -> list[dict]:
    """Shard ``index`` (1-based) of ``count``: whole scenario files, the
    largest first, each to the shard with the fewest scenarios so far (ties:
    the lowest shard).  Depends only on the collected scenarios, so every
    machine of a CI matrix computes the same split."""
    files: dict[str, list[dict]] = {}
    for s in scenarios:
        files.setdefault(s.get("file") or s["nodeid"].split("::")[0],
                         []).append(s)
    load = [0] * count
    owner = {}
    for name in sorted(files, key=lambda f: (-len(files[f]), f)):
        k = min(range(count), key=lambda i: (load[i], i))
        owner[name] = k
        load[k] += len(files[name])
    return [s for s in scenarios
            if owner[s.get("file") or s["nodeid"].split("::")[0]]
            == index - 1]


def _nodeid_path(scenario: dict) -> str:
    """A nodeid usable from ROOT (pytest's nodeids are rootdir-relative)."""
    nodeid = scenario["nodeid"]
    path, sep, rest = nodeid.partition("::")
    if scenario.get("file"):      # absolute: right even outside the rootdir
        path = scenario["file"]
    elif not os.path.isabs(path):
        path = os.path.join(ROOT, path)
    return path + sep + rest


def _workers(value: str):
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(
            "%r is not a worker count (use a number >= 0 or 'auto'; 0 or 1 "
            "runs in one process)" % value)
    return n


def _shard(value: str):
    try:
        index, count = (int(x) for x in value.split("/"))
    except ValueError:
        index = count = 0
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(
            "%r is not a shard: use I/N with 1 <= I <= N, e.g. 1/2" % value)
    return index, count


def _pick_scenario(target: str, scenarios: list[dict], catalogue,
                   baseline: dict):
    """The scenario to reproduce for a claim id or a scenario name."""
    by_name = {s["name"]: s for s in scenarios}
    if target in by_name:
        return by_name[target], []
    if target in catalogue.claims or target in getattr(catalogue,
                                                       "findings", {}):
        mine = [s for s in scenarios if target in s["claims"]]
        if not mine:
            raise InputError(
                "%s has no scenario yet (it is NOT_JUDGED); the "
                "catalogue lists %s - nothing to reproduce"
                % (target, ", ".join(catalogue.entry(target).scenarios)
                   or "none"))
        recorded = {s["name"]: baseline.get(s["name"]) for s in mine}
        claim_v = combine([Verdict(v) for v in recorded.values() if v])
        chosen = next((s for s in mine if recorded[s["name"]] ==
                       claim_v.value), mine[0])
        return chosen, [s["name"] for s in mine if s is not chosen]
    partial = [s for s in scenarios if target in s["name"]]
    if len(partial) == 1:
        return partial[0], []
    if len(partial) > 1:
        raise InputError("%r matches %d scenarios (%s); give the full name"
                         % (target, len(partial), ", ".join(
                             s["name"] for s in partial[:6])))
    raise InputError("unknown claim id or scenario %r; see 'python -m "
                     "harness list' for claims and scenarios" % target)


def cmd_reproduce(args) -> int:
    catalogue = load_catalogue()
    baseline = load_baseline(args.baseline)
    check_scenario_dir(args.scenario_dir)
    scenarios = collect(args.scenario_dir)
    scenario, others = _pick_scenario(args.target, scenarios, catalogue,
                                      baseline)
    with db_server(args):
        nova = nova_version()
        print("reproducing %s (claims %s; baseline %s) against Nova %s (%s)"
              " on %s" % (scenario["name"], ", ".join(scenario["claims"]),
                          baseline.get(scenario["name"], "none"),
                          nova.get("nova"), nova.get("nova_source"),
                          nova.get("db_server") or nova.get("db")))
        if others:
            print("claim %s has other scenarios too: %s (reproduce one by "
                  "name)" % (args.target, ", ".join(others)))
        extra = ["-s", "-q", "--trace-steps", "-p", "no:xdist",
                 "--keep-traces", "all"]
        if args.trial:
            extra += ["--trace-trials", args.trial]
        code, run_dir = _execute(
            args, "reproduce", [_nodeid_path(scenario)], extra,
            {"claims": [], "scenarios": [scenario["name"]]},
            point_latest=False, nova=nova)
    print("trace: %s" % os.path.relpath(runrecord.trace_path(
        run_dir, scenario["name"])))
    return code


def _load_record(path, runs_dir, require_complete=False):
    """A run record; ``A,B`` (or a list) reads the shards of one run
    (``run --shard``) as one record."""
    try:
        return runrecord.load_many(path if isinstance(path, list)
                                   else [path], runs_dir, require_complete)
    except runrecord.RecordError as exc:
        raise InputError(str(exc)) from None


def cmd_report(args) -> int:
    record = _load_record(args.run, args.runs_dir)
    doc, manifest = record.verdicts, dict(record.manifest)
    manifest.setdefault("id", record.id)
    # the drift the run itself found (none when it recorded the baseline)
    drift = manifest.get("drift") or report_mod.drift_against_baseline(doc)
    if args.format == "json":
        text = json.dumps(doc, indent=2) + "\n"
    elif args.format == "markdown":
        text = report_mod.markdown(doc, manifest, drift)
    elif args.format == "html":
        from harness.report import html as html_report
        if args.output and args.output != "-":
            # the page, and its trials' detail in <page>.trials/ beside it
            sizes = html_report.write(args.output, doc, manifest,
                                      record.traces(), drift)
            print("wrote %s%s" % (args.output, " (trial detail in %s)" % (
                os.path.join(os.path.dirname(args.output),
                             html_report.detail_dir(os.path.basename(
                                 args.output)))) if sizes["detail"] else ""))
            return EXIT_OK
        # one file on stdout: every trial's detail inline
        text = html_report.render(doc, manifest, record.traces(), drift)
    else:
        nova = doc.get("nova") or {}
        head = ["run %s: %s%s" % (
            record.id, "complete" if record.complete else
            "INCOMPLETE (%s)" % manifest.get("status", "interrupted"),
            ", exit %s (%s)" % (manifest["exit_code"],
                                manifest.get("exit_meaning"))
            if manifest.get("exit_code") is not None else ""),
            "nova %s (%s) at %s, placement %s; database %s; seed %s; "
            "generated %s" % (
                nova.get("nova"), nova.get("nova_source"),
                nova.get("nova_path"), nova.get("placement"),
                nova.get("db_server") or nova.get("db") or "sqlite",
                manifest.get("seed"), doc.get("generated")), ""]
        text = "\n".join(head) + report_mod.table_from_doc(doc) + "\n"
        lines = report_mod.drift_lines(drift)
        text += "\n" + ("\n".join(lines) if lines else
                        "no drift from the baseline the run compared "
                        "with") + "\n"
    if args.output and args.output != "-":
        runrecord.write_text_atomic(args.output, text)
        print("wrote %s" % args.output)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_diff(args) -> int:
    a = _load_record(args.run_a, args.runs_dir, require_complete=True)
    if args.run_b:
        b = _load_record(args.run_b, args.runs_dir, require_complete=True)
        from harness.report import engines as engine_report
        if engine_report.engine_of(a.verdicts) != \
                engine_report.engine_of(b.verdicts):
            return _diff_engines(a, b, engine_report)
        drift = report_mod.diff_docs(a.verdicts, b.verdicts)
        old_label, new_label = a.id, b.id
        print("comparing run %s with run %s" % (a.id, b.id))
    else:
        baseline = load_baseline(args.baseline)
        drift = report_mod.drift_against_baseline(a.verdicts, baseline)
        old_label, new_label = "baseline", a.id
        print("comparing run %s with the baseline %s" % (
            a.id, os.path.relpath(args.baseline)))
    lines = report_mod.drift_lines(drift, old_label, new_label)
    for line in lines:
        print(line)
    for d in drift["only_a"]:
        print("only in %s: %s (%s)" % (old_label, d["scenario"],
                                       d["verdict"]))
    for d in drift["only_b"]:
        print("only in %s: %s (%s)" % (new_label, d["scenario"],
                                       d["verdict"]))
    if lines:
        print("drift: %d scenario(s), %d claim(s) changed" % (
            len(drift["scenarios"]), len(drift["claims"])))
        return EXIT_DRIFT
    print("no drift: every verdict the two share is the same")
    return EXIT_OK


def _diff_engines(a, b, engine_report) -> int:
    """Two runs on different database engines: a verdict that differs is
    drift unless the engines explain it (harness.report.engines)."""
    rows = engine_report.compare(a.verdicts, b.verdicts)
    print("comparing run %s (%s) with run %s (%s): %d scenarios both ran"
          % (a.id, engine_report.engine_of(a.verdicts), b.id,
             engine_report.engine_of(b.verdicts), len(rows)))
    for line in engine_report.lines(rows):
        print(line)
    unexplained = [r for r in rows if r["status"] == "unexplained"]
    explained = [r for r in rows if r["status"] == "explained"]
    print("%d same, %d explained by the engines, %d unexplained; %d "
          "variants refused and %d coerced by %s" % (
              len(rows) - len(unexplained) - len(explained), len(explained),
              len(unexplained), sum(r["refused_by_b"] for r in rows),
              sum(r["coerced_by_b"] for r in rows),
              engine_report.engine_of(b.verdicts)))
    return EXIT_DRIFT if unexplained else EXIT_OK


def cmd_matrix(args) -> int:
    """Build (or reuse) one environment per Nova release, run the scenarios
    in each, and compare (harness/matrix, docs/matrix.md)."""
    from harness.matrix import envs, releases, run as matrix_run
    if args.merge:
        for d in args.merge:
            path = d if d.endswith(".json") else os.path.join(
                d, matrix_run.DOC)
            if not os.path.isfile(path):
                raise InputError(
                    "%s has no %s; give the output directories of matrix "
                    "runs (their --out)" % (d, matrix_run.DOC))
        return matrix_run.merge(args.merge, args.out or
                                matrix_run.default_out(args.runs_dir))
    try:
        rels = releases.parse_list(args.nova)
    except releases.UnknownRelease as exc:
        raise InputError(str(exc)) from None
    claims = _split(args.claims)
    if claims:
        check_claim_ids(claims, load_catalogue())
    kind = db_engine(args)     # a bad engine stops before any build
    try:
        built = matrix_run.build_all(rels, nice=args.nice)
        if args.build_only:
            return EXIT_OK
        out = args.out or matrix_run.default_out(args.runs_dir)
        opts = matrix_run.Options(
            claims=claims, scenarios=_split(args.scenarios), seed=args.seed,
            workers=args.workers, explore_budget=args.explore_budget,
            out_dir=os.path.abspath(out), nice=args.nice, db=kind)
        # One server for every release (started after the builds, before
        # the output directory exists: a server that will not start leaves
        # nothing behind); each release's run reaches it by HARNESS_DB_URL.
        with db_server(args):
            return matrix_run.run(rels, opts, built=built)
    except envs.EnvError as exc:
        raise InputError(str(exc)) from None


def fault_kinds() -> list[dict]:
    """Every fault class in harness.faults.*, and placement rule actions."""
    import importlib
    import inspect
    import pkgutil
    from harness import faults
    from harness.faults.base import Fault
    out, seen = [], set()
    for mod in sorted(m.name for m in pkgutil.iter_modules(faults.__path__)):
        module = importlib.import_module("harness.faults." + mod)
        for name, obj in sorted(vars(module).items()):
            if not (inspect.isclass(obj) and issubclass(obj, Fault)) or \
                    obj is Fault or name.startswith("_") or obj in seen or \
                    obj.__module__ != module.__name__:
                continue
            seen.add(obj)
            try:
                params = [p for p in inspect.signature(obj).parameters
                          if p not in ("self", "world")]
            except (TypeError, ValueError):  # pragma: no cover
                params = []
            doc = (inspect.getdoc(obj) or "").split("\n\n")[0]
            out.append({"kind": "%s.%s" % (mod, name),
                        "boundary": mod, "params": params,
                        "doc": _one_line(doc)})
    return out


def cmd_list(args) -> int:
    what = args.what
    catalogue = load_catalogue() if what in ("all", "claims",
                                            "scenarios") else None
    if args.claim and catalogue is not None:
        check_claim_ids([args.claim], catalogue, "--claim")
    verdict_filter = args.verdict.upper() if args.verdict else None
    result: dict = {}
    if what in ("all", "claims", "scenarios"):
        check_scenario_dir(args.scenario_dir)
        if args.run:
            record = _load_record(args.run, args.runs_dir)
            run_scen = {s["scenario"]: s["verdict"]
                        for s in record.verdicts["scenarios"]}
            run_claims = {c["claim"]: c["verdict"]
                          for c in record.verdicts["claims"]}
            source = "run %s" % record.id
        else:
            baseline = load_baseline(args.baseline)
            run_scen, run_claims = baseline, None
            source = "baseline %s" % os.path.relpath(args.baseline)
        collected = collect(args.scenario_dir)
        scen_rows = []
        for s in collected:
            scen_rows.append({"scenario": s["name"], "claims": s["claims"],
                              "verdict": run_scen.get(s["name"]),
                              "file": os.path.relpath(s["file"], ROOT)
                              if s["file"] else "", "written": True})
        names = {s["name"] for s in collected}
        for name, cids in catalogue.scenario_claims().items():
            if name not in names:
                scen_rows.append({"scenario": name, "claims": cids,
                                  "verdict": None, "file": "",
                                  "written": False})
        claim_rows = []
        for cid, claim in catalogue.claims.items():
            mine = [r for r in scen_rows if cid in r["claims"] and
                    r["written"]]
            if run_claims is not None:
                v = run_claims.get(cid, "NOT_JUDGED")
            else:
                v = combine([Verdict(r["verdict"]) for r in mine
                             if r["verdict"]]).value
            claim_rows.append({"claim": cid, "verdict": v,
                               "title": claim.title, "cwe": claim.cwe,
                               "scenarios": [r["scenario"] for r in mine]})
        if args.claim:
            claim_rows = [c for c in claim_rows if c["claim"] == args.claim]
            scen_rows = [s for s in scen_rows if args.claim in s["claims"]]
        if verdict_filter:
            claim_rows = [c for c in claim_rows
                          if c["verdict"] == verdict_filter]
            scen_rows = [s for s in scen_rows
                         if (s["verdict"] or "NOT_JUDGED") == verdict_filter]
        if what in ("all", "claims"):
            result["claims"] = claim_rows
        if what in ("all", "scenarios"):
            result["scenarios"] = scen_rows
        result["verdicts_from"] = source
    if what in ("all", "faults"):
        result["faults"] = fault_kinds()
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    if "claims" in result:
        print("claims (verdicts from the %s)" % result["verdicts_from"])
        for c in result["claims"]:
            print("  %-9s %-13s %s%s" % (
                c["claim"], c["verdict"], c["title"],
                "  [%s]" % ", ".join(c["scenarios"]) if c["scenarios"]
                else "  [no scenario yet]"))
        print("")
    if "scenarios" in result:
        print("scenarios (verdicts from the %s)" % result["verdicts_from"])
        for s in result["scenarios"]:
            print("  %-58s %-13s claims %s%s" % (
                s["scenario"], s["verdict"] or "-",
                ",".join(s["claims"]),
                "" if s["written"] else "  (listed in the catalogue, not "
                "written yet)"))
        print("")
    if "faults" in result:
        print("fault kinds")
        for f in result["faults"]:
            print("  %-40s %s" % (f["kind"], f["doc"][:100]))
            if f["params"]:
                print("  %-40s params: %s" % ("", ", ".join(f["params"])))
    return EXIT_OK


# ---------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2."""

    def error(self, message):
        print("error: %s; see '%s --help'" % (_one_line(message), self.prog),
              file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(
        prog="python -m harness",
        description="Runtime fault-injection harness for Nova's resource "
                    "accounting: judge review claims against real Nova.",
        epilog=EPILOG, formatter_class=fmt)
    sub = p.add_subparsers(dest="command", metavar="COMMAND",
                           parser_class=_Parser)
    sub.required = True
    runs_default = os.environ.get("HARNESS_RUNS_DIR") or DEFAULT_RUNS
    seed_default = int(os.environ.get("HARNESS_SEED") or 0)

    def common(sp, runs=True, baseline=True, scen=True):
        if baseline:
            sp.add_argument("--baseline", default=baseline_mod.DEFAULT_PATH,
                            help="recorded verdicts (default: "
                                 "scenarios/baseline.json)")
        if runs:
            sp.add_argument("--runs-dir", default=runs_default,
                            help="where run records live (default: runs/, "
                                 "or $HARNESS_RUNS_DIR)")
        if scen:
            sp.add_argument("--scenario-dir", default=DEFAULT_SCENARIOS,
                            help="scenario files (default: scenarios/)")

    ls = sub.add_parser("list", help="list claims, scenarios, fault kinds",
                        epilog=EPILOG, formatter_class=fmt)
    ls.add_argument("what", nargs="?", default="all",
                    choices=("all", "claims", "scenarios", "faults"))
    ls.add_argument("--claim", help="only this claim and its scenarios")
    ls.add_argument("--verdict", type=lambda v: v.upper(),
                    choices=[v.value for v in Verdict],
                    help="only claims/scenarios with this verdict")
    ls.add_argument("--run", metavar="RUN_DIR",
                    help="take verdicts from this run record (default: the "
                         "baseline)")
    ls.add_argument("--json", action="store_true", help="print JSON")
    common(ls)
    ls.set_defaults(func=cmd_list)

    run = sub.add_parser(
        "run", help="run scenarios and write a run record",
        description="Run every scenario (or a selection), print the verdict "
                    "table and write runs/<id>/ (verdicts.json, junit.xml, "
                    "traces/, logs/, report.md, report.html and "
                    "report.trials/, run.json); runs/latest points at it.",
        epilog=EPILOG, formatter_class=fmt)
    run.add_argument("--claims", help="only scenarios of these claim ids "
                                      "(comma separated)")
    run.add_argument("--scenarios", help="only these scenarios (comma "
                                         "separated names)")
    run.add_argument("--seed", type=int, default=seed_default,
                     help="seed for the scenarios' randomness (default 0 "
                          "or $HARNESS_SEED); recorded in the run")
    run.add_argument("-n", "--workers", "--jobs", type=_workers,
                     default=os.environ.get("HARNESS_WORKERS") or "auto",
                     help="run scenarios in N processes (pytest-xdist, "
                          "--dist loadfile; default 'auto' = one per CPU, "
                          "or $HARNESS_WORKERS; 0 or 1: one process)")
    run.add_argument("--keep-traces", choices=("deciding", "all"),
                     default="deciding",
                     help="keep every step of the trials that decide a "
                          "verdict, broke an invariant or failed (and the "
                          "first control), summarising the others "
                          "('deciding', default); or of all trials ('all')")
    run.add_argument("--shard", type=_shard, metavar="I/N",
                     help="run only shard I of N: whole scenario files, "
                          "split the same way on every machine; merge the "
                          "shards' records with 'report A,B' or 'diff A,B'")
    run.add_argument("--record-baseline", action="store_true",
                     help="store the observed verdicts as the new baseline")
    add_db_option(run)
    common(run)
    run.set_defaults(func=cmd_run)

    rep = sub.add_parser(
        "reproduce", help="run one scenario in the foreground with its "
                          "step-by-step trace",
        description="Run one scenario (by name, or the deciding scenario of "
                    "a claim) and print every step: each action, each fault "
                    "and when it fired, usage per node from the tracker, "
                    "the DB and placement against the ledger at each "
                    "snapshot, each invariant's result per stage and the "
                    "log lines kept as evidence.",
        epilog=EPILOG, formatter_class=fmt)
    rep.add_argument("target", metavar="CLAIM|SCENARIO")
    rep.add_argument("--trial", metavar="REGEX",
                     help="print the steps of matching trials only")
    rep.add_argument("--seed", type=int, default=seed_default)
    add_db_option(rep)
    common(rep)
    rep.set_defaults(func=cmd_reproduce)

    rp = sub.add_parser("report", help="re-render a stored run",
                        epilog=EPILOG, formatter_class=fmt)
    rp.add_argument("run", metavar="RUN_DIR", nargs="+",
                    help="a run directory, or a name under runs/ such as "
                         "'latest'; several (or A,B) are the shards of one "
                         "run (run --shard), merged")
    rp.add_argument("--format", choices=("text", "markdown", "html",
                                         "json"), default="text")
    rp.add_argument("-o", "--output", help="write to this file (default: "
                                           "stdout)")
    common(rp, baseline=False, scen=False)
    rp.set_defaults(func=cmd_report)

    df = sub.add_parser(
        "diff", help="compare two runs, or a run with the baseline",
        description="Name every scenario and claim whose verdict differs "
                    "(old -> new). With one run, compare it with the "
                    "baseline. Exit 1 when anything differs.",
        epilog=EPILOG, formatter_class=fmt)
    df.add_argument("run_a", metavar="RUN_A",
                    help="a run record; A1,A2 merges the shards of a run")
    df.add_argument("run_b", metavar="RUN_B", nargs="?",
                    help="another (B1,B2 for shards)")
    common(df, scen=False)
    df.set_defaults(func=cmd_diff)

    from harness.explore import cli as explore_cli
    explore_cli.add_parser(sub, epilog=None, seed_default=seed_default)
    mu = sub.add_parser(
        "mutate", help="the harness's own mutation score: plant defects in "
                       "a copy of Nova, see what catches them",
        description="Apply small defects, one at a time, to temporary "
                    "copies of the installed resource_tracker.py and "
                    "conductor/tasks/migrate.py (never the installed "
                    "files), run the catchers (the scenarios against a "
                    "pristine run; the explorer's corpus and a bounded "
                    "exploration when harness.explore exists) and report "
                    "which defects were caught and by what: "
                    "runs/mutate-<time>/ (mutation.json, mutation.md, each "
                    "mutant's diff). See docs/mutation.md.",
        epilog="exit codes: 0 the analysis ran (survivors are reported, "
               "not failures); 2 bad input or harness error.",
        formatter_class=fmt)
    mu.add_argument("--list", action="store_true",
                    help="list the defects (and the sites this Nova lacks) "
                         "and exit")
    mu.add_argument("--defects", help="only these defect ids (comma "
                                      "separated, e.g. C01,M05)")
    mu.add_argument("--paths", help="only defects on these paths (claim, "
                                    "move_claim, drop, abort, "
                                    "audit_instances, audit_migrations, "
                                    "placement, conductor, equivalent)")
    mu.add_argument("--patch", metavar="FILE",
                    help="a reviewer's own defect: a unified diff against "
                         "the installed Nova (replaces the defect list)")
    mu.add_argument("--budget", type=_positive, default=900,
                    help="seconds per mutant across its catchers "
                         "(default 900); what did not run is reported")
    mu.add_argument("--jobs", "-j", type=_positive, default=1,
                    help="mutants run side by side (and pytest-xdist "
                         "workers for the pristine run); default 1")
    mu.add_argument("--scenarios", help="only these scenarios as catchers "
                                        "(comma separated names)")
    mu.add_argument("--lifecycle", metavar="EXPR",
                    help="only the lifecycle sequences matching this "
                         "pytest -k expression (default: all)")
    mu.add_argument("--reuse", metavar="RUN_DIR",
                    help="take the pristine run from this earlier mutate "
                         "run (refused if Nova, the scenarios or the "
                         "harness changed)")
    mu.add_argument("--explore-seconds", type=_positive, default=60,
                    help="budget of the bounded exploration per mutant "
                         "(default 60)")
    mu.add_argument("--seed", type=int, default=seed_default,
                    help="seed of the bounded exploration")
    mu.add_argument("--all-catchers", action="store_true",
                    help="run every catcher on every mutant instead of "
                         "stopping at the first that catches it")
    mu.add_argument("--merge", nargs="+", metavar="RUN_DIR",
                    help="merge earlier mutate runs (parts of the defect "
                         "list, or reruns of survivors) into one record "
                         "and score; runs nothing")
    mu.add_argument("--keep", action="store_true",
                    help="keep the temporary mutant files (printed path)")
    common(mu, baseline=False)
    mu.set_defaults(func=cmd_mutate)


    mx = sub.add_parser(
        "matrix", help="judge several Nova releases and compare them",
        description="Build (once, cached under .matrix/) one environment "
                    "per Nova release, run the scenarios in each with "
                    "'python -m harness run', and print claims x releases "
                    "and findings x releases with every flip between "
                    "neighbouring releases highlighted and explained by "
                    "the Nova change behind it.  Writes a run record per "
                    "release and matrix.md/.html/.json.  Exit 0 every "
                    "release judged, 2 bad input or a release that cannot "
                    "be built or run, 3 a scenario was INCONCLUSIVE.",
        epilog=EPILOG, formatter_class=fmt)
    mx.add_argument("--nova", metavar="RELEASES",
                    help="comma separated: a series (27 = newest 27.x), a "
                         "release (27.2.0) or a Nova source tree "
                         "(path[@series]); default: every series 27..34")
    mx.add_argument("--claims", help="only scenarios of these claim or "
                                     "finding ids (000-3,F-08)")
    mx.add_argument("--scenarios", help="only these scenarios (comma "
                                        "separated names)")
    mx.add_argument("--seed", type=int, default=seed_default)
    mx.add_argument("-n", "--workers", type=_workers, default=None,
                    help="pytest-xdist workers per release run")
    mx.add_argument("--explore-budget", type=int, default=50,
                    help="seconds of the explorer's corpus replay and "
                         "bounded exploration in each release (default 50)")
    mx.add_argument("--out", help="matrix output directory (default: "
                                  "runs/matrix/<id>/)")
    mx.add_argument("--build-only", action="store_true",
                    help="build the environments, run nothing")
    mx.add_argument("--merge", nargs="+", metavar="DIR",
                    help="merge matrix outputs (one per CI job) into one "
                         "report; runs nothing")
    mx.add_argument("--nice", type=int, default=10,
                    help="niceness of builds and runs (default 10)")
    add_db_option(mx)
    common(mx, baseline=False, scen=False)
    mx.set_defaults(func=cmd_matrix)
    return p


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    if value < 1:
        raise argparse.ArgumentTypeError("%r must be at least 1" % text)
    return value


def cmd_mutate(args) -> int:
    from harness.mutate import runner
    if args.list:
        return _list_defects()
    if args.merge:
        try:
            runner.merge(args.merge, args.runs_dir,
                         out=lambda line: print(line, flush=True))
        except runner.MutateInputError as exc:
            raise InputError(str(exc)) from None
        return EXIT_OK
    if args.patch and (args.defects or args.paths):
        raise InputError("--patch replaces the defect list; drop --defects/"
                         "--paths or --patch")
    check_scenario_dir(args.scenario_dir)
    opts = runner.Options(
        defects=_split(args.defects) or None,
        paths=_split(args.paths) or None, patch=args.patch,
        budget=args.budget, jobs=args.jobs,
        scenarios=_split(args.scenarios) or None,
        lifecycle=args.lifecycle or None, reuse=args.reuse,
        runs_dir=os.path.abspath(args.runs_dir),
        scenario_dir=os.path.abspath(args.scenario_dir),
        explore_seconds=args.explore_seconds, seed=args.seed,
        all_catchers=args.all_catchers, keep=args.keep)
    try:
        runner.run(opts, out=lambda line: print(line, flush=True))
    except runner.MutateInputError as exc:
        raise InputError(str(exc)) from None
    return EXIT_OK


def _list_defects() -> int:
    from harness.mutate import defects
    try:
        sources = defects.installed_sources()
    except FileNotFoundError as exc:
        raise InputError("%s; install Nova (run through tox)" % exc) \
            from None
    mutants, missing = defects.materialise(sources)
    print("%d defects apply to the installed Nova, %d sites missing"
          % (len(mutants), len(missing)))
    for m in mutants:
        d = m.defect
        print("  %-4s %-17s %-45s %-16s %s" % (
            d.id, d.path, d.function, d.operator, m.change))
    for d, why in missing:
        print("  %-4s MISSING %s: %s" % (d.id, d.qualname, why))
    return EXIT_OK


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print("error: %s" % _one_line(exc), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted; nothing was judged - run the command "
              "again", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - a harness bug: exit 2
        if os.environ.get("HARNESS_DEBUG"):
            raise
        print("error: harness error %s: %s; rerun with HARNESS_DEBUG=1 for "
              "the traceback" % (type(exc).__name__, _one_line(exc)),
              file=sys.stderr)
        return EXIT_ERROR
