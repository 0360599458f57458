"""pytest plugin for mutation runs: what each scenario observed, in a form
two runs can be compared by.

Loaded with ``-p harness.mutate.probe``; active only when
``HARNESS_MUTATE_PROBE`` holds JSON ``{"out": DIR, "reference": FILE|null,
"stop": bool}``.  After each scenario it appends one JSON line to
``DIR/<pid>.jsonl``::

    {"scenario", "nodeid", "verdict", "signature", "functions", "duration",
     "error", "served"}

``signature`` is the scenario's verdict plus, per trial, the invariant
violations at each stage (invariant, subject, expected, actual; UUIDs and
addresses normalised), harness errors and the workload's exception type.
``functions`` are the Nova functions the scenario called (recorded when the
mutant spec asks for coverage, i.e. on the pristine run).

With a ``reference`` (the pristine run's records) a scenario whose signature
differs is a *catch*; with ``"stop": true`` the session stops there (one
catch kills a mutant).
"""
from __future__ import annotations

import json
import os
import re
import time

import pytest

from harness.mutate import loader

ENV = "HARNESS_MUTATE_PROBE"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                   r"[0-9a-f]{12}", re.I)
_ADDR = re.compile(r"0x[0-9a-f]{6,}", re.I)
_HEX32 = re.compile(r"\b[0-9a-f]{32}\b", re.I)


def norm(value) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = _UUID.sub("<uuid>", text)
    text = _HEX32.sub("<hex>", text)
    return _ADDR.sub("<addr>", text)


def _last_line(text):
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return norm(lines[-1].strip()) if lines else ""


def signature(judge) -> dict:
    """What a scenario observed, comparable across runs."""
    trials = []
    for obs in getattr(judge, "observations", []):
        trials.append({
            "trial": norm(obs.trial),
            "error": _last_line(obs.error) if obs.error else None,
            "skipped": bool(obs.skipped),
            "during_error": norm(obs.during_error.split(":")[0])
            if obs.during_error else None,
            "violations": {
                stage: sorted("%s|%s|%s|%s" % (v.invariant, norm(v.subject),
                                               norm(v.expected),
                                               norm(v.actual))
                              for v in vs)
                for stage, vs in sorted(obs.violations.items()) if vs}})
    outcome = getattr(judge, "outcome", None)
    return {"verdict": outcome.verdict.value if outcome else None,
            "harness_error": bool(outcome is not None and outcome.traceback),
            "trials": trials}


def difference(ref: dict, got: dict, verdict_only=False) -> str | None:
    """How a scenario's record differs from the pristine one (None: same).
    ``verdict_only``: for a scenario whose trials are not reproducible in
    detail (threads), only the verdict and errors count."""
    if got.get("error") and got.get("error") != ref.get("error"):
        return "scenario error: %s" % got["error"]
    a, b = ref.get("signature") or {}, got.get("signature") or {}
    detail = None if verdict_only else _trials_difference(a, b)
    if a.get("verdict") != b.get("verdict"):
        return "verdict %s -> %s%s" % (a.get("verdict"), b.get("verdict"),
                                       "; " + detail if detail else "")
    if b.get("harness_error") and not a.get("harness_error"):
        return "harness error (INCONCLUSIVE with a traceback)"
    return detail


def _violation(text: str) -> str:
    """'invariant|subject|expected|actual' as a phrase."""
    invariant, rest = (text.split("|", 1) + [""])[:2]
    parts = rest.rsplit("|", 2)
    if len(parts) != 3:
        return invariant
    return "%s (%s: expected %s, got %s)" % (invariant, *parts)


def _trials_difference(a: dict, b: dict) -> str | None:
    ta, tb = a.get("trials", []), b.get("trials", [])
    if [t["trial"] for t in ta] != [t["trial"] for t in tb]:
        return "trials differ: %d pristine, %d mutant" % (len(ta), len(tb))
    for x, y in zip(ta, tb):
        if x == y:
            continue
        if x["error"] != y["error"]:
            return "trial %r: harness error %s" % (y["trial"], y["error"])
        if x["during_error"] != y["during_error"]:
            return "trial %r: workload raised %s (pristine: %s)" % (
                y["trial"], y["during_error"], x["during_error"])
        for stage in sorted(set(x["violations"]) | set(y["violations"])):
            va = set(x["violations"].get(stage, []))
            vb = set(y["violations"].get(stage, []))
            if va != vb:
                new = sorted(vb - va)
                gone = sorted(va - vb)
                what = "new violation %s" % _violation(new[0]) if new \
                    else "violation gone: %s" % _violation(gone[0])
                return "trial %r @ %s: %s" % (y["trial"], stage, what)
        return "trial %r differs" % y["trial"]
    return None


class _Probe:
    def __init__(self, cfg):
        self.out = cfg["out"]
        os.makedirs(self.out, exist_ok=True)
        self.stop = bool(cfg.get("stop"))
        self.reference = {}
        if cfg.get("reference"):
            with open(cfg["reference"], encoding="utf-8") as f:
                self.reference = json.load(f)
        self.verdict_only = set(cfg.get("verdict_only") or ())
        self.path = os.path.join(self.out, "%d.jsonl" % os.getpid())
        self.current: dict = {}
        self.session = None

    def write(self, record):
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=str) + "\n")


def pytest_configure(config):
    text = os.environ.get(ENV)
    config._mutate_probe = _Probe(json.loads(text)) if text else None


def pytest_sessionstart(session):
    probe = getattr(session.config, "_mutate_probe", None)
    if probe is not None:
        probe.session = session


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    probe = getattr(item.config, "_mutate_probe", None)
    if probe is not None:
        loader.CALLED.clear()
        probe.current = {"scenario": item.name, "nodeid": item.nodeid,
                         "started": time.monotonic(), "error": None}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    result = yield
    probe = getattr(item.config, "_mutate_probe", None)
    if probe is None or not probe.current:
        return
    rep = result.get_result()
    cur = probe.current
    judge = getattr(item, "_harness_judge", None)
    if call.excinfo is not None and call.when in ("setup", "teardown") \
            and cur["error"] is None:
        cur["error"] = "%s: %s" % (call.excinfo.typename,
                                   _last_line(str(call.excinfo.value)))
    if call.when == "call" and judge is None and call.excinfo is not None:
        cur["error"] = "%s: %s" % (call.excinfo.typename,
                                   _last_line(str(call.excinfo.value)))
    if call.when != "teardown":
        return
    sig = signature(judge) if judge is not None else None
    record = {"scenario": cur["scenario"], "nodeid": cur["nodeid"],
              "verdict": sig["verdict"] if sig else None, "signature": sig,
              "functions": sorted(loader.CALLED),
              "duration": round(time.monotonic() - cur["started"], 3),
              "error": cur["error"], "skipped": bool(rep.skipped) or None,
              "served": dict(loader.SERVED)}
    ref = probe.reference.get(record["scenario"])
    if ref is not None:
        record["caught"] = difference(
            ref, record, record["scenario"] in probe.verdict_only)
        if record["caught"] and probe.stop and probe.session is not None:
            probe.session.shouldstop = "mutant caught by %s: %s" % (
                record["scenario"], record["caught"])
    probe.write(record)
    probe.current = {}


def read_records(folder: str) -> list[dict]:
    """Every record the probe wrote under ``folder`` (all processes)."""
    out = []
    if not os.path.isdir(folder):
        return out
    for name in sorted(os.listdir(folder)):
        if name.endswith(".jsonl"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                out.extend(json.loads(ln) for ln in f if ln.strip())
    return out
