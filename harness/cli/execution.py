"""Running pytest into a run record (``run`` and ``reproduce``): the
child's output echoed (its progress lines as one live line on a
terminal), the manifest written before and after, the exit code judged
from the verdicts, and the reports rendered."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from harness.cli.common import (EXIT_DRIFT, EXIT_ERROR, EXIT_INCONCLUSIVE,
                                EXIT_MEANING, EXIT_OK, ROOT, InputError,
                                one_line, why)
from harness.plugin import PROGRESS_PREFIX
from harness.report import html as html_report
from harness.report import launch, runrecord
from harness.report import tables as report_mod


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
    proc = subprocess.Popen(cmd, cwd=ROOT, env=launch.child_env(),
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
        self.prefix = PROGRESS_PREFIX.encode()
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
        prefix = self.prefix
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


def execute(args, command, targets, extra_pytest, selection, echo=True,
            point_latest=True, nova=None):
    """Shared by run and reproduce: record, run, judge the exit code."""
    runs_dir = os.path.abspath(args.runs_dir)
    run_dir = runrecord.new_run_dir(runs_dir)
    shown = os.path.relpath(run_dir)
    manifest = _manifest(run_dir, command, args, args.seed, nova, selection)
    if point_latest:
        runrecord.point_latest(runs_dir, run_dir)
    verdicts = os.path.join(run_dir, runrecord.VERDICTS)
    argv = targets + launch.pytest_options() + [
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
                 "the option it names" % why(tail))
        if "ERROR collecting" in tail or "error during collection" in tail:
            fail("error", "a scenario file failed to import (%s); run "
                 "'python -m pytest --collect-only %s' to see the "
                 "traceback" % (why(tail), os.path.relpath(
                     args.scenario_dir)))
        fail("error", "pytest ended (exit %d) without verdicts: %s; see %s"
             % (rc, why(tail), os.path.join(shown, runrecord.CONSOLE)))
    try:
        record = runrecord.load(run_dir)
    except runrecord.RecordError as exc:
        fail("error", str(exc))
    doc = record.verdicts
    if doc.get("report_error"):
        fail("error", "the verdict writer failed (%s); every verdict is "
             "recorded as INCONCLUSIVE with its traceback in %s"
             % (why(doc["report_error"]), os.path.join(
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
                   "%d: %s); see %s" % (rc, why(tail), os.path.join(
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
        print("error: %s" % one_line(message), file=sys.stderr)
    elif code == EXIT_DRIFT:
        print("drift: %s" % "; ".join(
            "%s %s -> %s" % (d["scenario"], d["old"] or "(none)", d["new"])
            for d in drift["scenarios"]), file=sys.stderr)
    return code, run_dir
