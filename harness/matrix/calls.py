"""Which Nova functions a test ran, and the change behind a test's flip.

A test that is not a verdict (a lifecycle sequence, a corpus replay) names
no Nova function, so when it fails in one release and passes in the next
the functions to diff are recorded, not typed in: the test is run again,
by its pytest node id, in each of the two releases' environments with
:class:`Recorder` active (``-p harness.matrix.calls --record-calls PATH``),
which notes every function of the ``nova`` package that was called
(module + ``co_qualname``; a nested function or comprehension counts as
the function it is in) and the Nova caller of each (``sys.setprofile`` and
``threading.setprofile``: nothing of Nova is wrapped, and a ``settrace``
of :mod:`harness.oracle.paths` is left alone).

:func:`rank` orders the functions whose code differs between the two
sources and that ran in at least one release: first those that call a
function run in one release only (where the two runs' paths fork), then
those that ran in one release only, then the rest.  The first few are
handed to :func:`harness.matrix.flips.explain`, the one matcher of notes
and commits.
"""
from __future__ import annotations

import glob
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
import threading

import pytest

from harness.matrix import envs, flips
from harness.report import launch

OPTION = "--record-calls"
_MISSING = object()


class Recorder:
    """Records the functions of the package at ``package_dir`` that are
    called while it is active, and their callers in that package."""

    def __init__(self, package_dir: str, package: str = "nova",
                 skip: tuple = ("tests",)):
        self.root = os.path.dirname(os.path.abspath(package_dir))
        self.prefix = os.path.join(self.root, package) + os.sep
        self.skip = tuple(os.path.join(self.root, package, s) + os.sep
                          for s in skip)
        self.functions: dict[str, set[str]] = {}     # module -> qualnames
        self.edges: set[tuple[str, str]] = set()     # (caller, callee)
        self._names: dict = {}
        self._previous = None

    def name(self, code) -> str | None:
        """``nova.compute.manager:ComputeManager.update_available_resource``
        for a code object of the package, None for any other."""
        key = self._names.get(code, _MISSING)
        if key is not _MISSING:
            return key
        key = None
        path = code.co_filename
        # a function's code, not a module's or a class body's (which have
        # no CO_OPTIMIZED: they run at import)
        if code.co_flags & inspect.CO_OPTIMIZED and \
                path.startswith(self.prefix) and path.endswith(".py") and \
                not path.startswith(self.skip):
            module = path[len(self.root) + 1:-3].replace(os.sep, ".")
            module = re.sub(r"\.__init__$", "", module)
            qual = getattr(code, "co_qualname", code.co_name)
            qual = qual.split(".<locals>", 1)[0]
            if not qual.startswith("<"):
                key = "%s:%s" % (module, qual)
        self._names[code] = key
        return key

    def _profile(self, frame, event, arg):
        if event != "call":
            return
        key = self.name(frame.f_code)
        if key is None:
            return
        module, qual = key.split(":", 1)
        self.functions.setdefault(module, set()).add(qual)
        caller, depth = frame.f_back, 0
        while caller is not None and depth < 8:
            ckey = self.name(caller.f_code)
            if ckey is not None:
                if ckey != key:
                    self.edges.add((ckey, key))
                return
            caller, depth = caller.f_back, depth + 1

    def start(self):
        self._previous = (sys.getprofile(), threading.getprofile())
        sys.setprofile(self._profile)
        threading.setprofile(self._profile)

    def stop(self):
        if self._previous is not None:
            sys.setprofile(self._previous[0])
            threading.setprofile(self._previous[1])
            self._previous = None

    def as_dict(self) -> dict:
        return {"functions": {m: sorted(q) for m, q in
                              sorted(self.functions.items())},
                "edges": sorted([a, b] for a, b in self.edges)}


def dotted(key: str) -> str:
    return key.replace(":", ".", 1)


# ---------------------------------------------------------------------------
# the pytest plugin (-p harness.matrix.calls --record-calls PATH)
# ---------------------------------------------------------------------------
def pytest_addoption(parser):
    parser.getgroup("harness").addoption(
        OPTION, metavar="PATH", default=None,
        help="write the Nova functions each test ran (and their callers) "
             "to PATH as JSON")


def pytest_configure(config):
    if config.getoption("record_calls"):
        config.pluginmanager.register(_Plugin(config.getoption(
            "record_calls")), "harness-record-calls")


class _Plugin:
    def __init__(self, path):
        self.path = path
        self.tests = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        import nova
        rec = Recorder(os.path.dirname(nova.__file__))
        outcome = {"outcome": "passed"}
        self.tests[item.nodeid] = outcome
        rec.start()
        try:
            yield
        finally:
            rec.stop()
            outcome.update(rec.as_dict())

    def pytest_runtest_logreport(self, report):
        test = self.tests.get(report.nodeid)
        if test is not None and report.outcome != "passed" and \
                test["outcome"] == "passed":
            test["outcome"] = report.outcome

    def pytest_sessionfinish(self, session):
        try:
            from importlib import metadata
            version = metadata.version("nova")
        except Exception:       # a source tree on the path
            version = None
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump({"nova": version, "tests": self.tests}, f)


# ---------------------------------------------------------------------------
# at explanation time: a test's node id, its recording in a release
# ---------------------------------------------------------------------------
def node_id(name: str, root: str, run_dir: str | None = None) -> str | None:
    """The pytest node id of test ``name`` (as JUnit names it): from the
    run record's junit.xml (its classname) when there is one, else the
    scenario file that defines it."""
    if run_dir:
        import xml.etree.ElementTree as ET
        try:
            cases = ET.parse(os.path.join(run_dir, "junit.xml")).getroot()
            for case in cases.iter("testcase"):
                if case.get("name") == name:
                    parts = (case.get("classname") or "").split(".")
                    for cut in range(len(parts), 0, -1):
                        path = "/".join(parts[:cut]) + ".py"
                        if os.path.isfile(os.path.join(root, path)):
                            return "::".join([path] + parts[cut:] + [name])
        except (OSError, ET.ParseError):
            pass
    base = name.split("[", 1)[0]
    found = [p for p in glob.glob(os.path.join(root, "scenarios", "**",
                                               "test_*.py"), recursive=True)
             if re.search(r"^def %s\(" % re.escape(base), open(
                 p, encoding="utf-8").read(), re.M)]
    if len(found) != 1:
        return None
    return "%s::%s" % (os.path.relpath(found[0], root), name)


def record(python: str, nodeid: str, root: str,
           nice: int = 10, timeout: int = 1800) -> dict:
    """Run test ``nodeid`` with ``python`` (a release's environment) and
    the recorder; its recording (``outcome``, ``functions``, ``edges``),
    or ``{"error": why}``."""
    env = dict(os.environ, PYTHONPATH=root,
               OS_NOVA_DISABLE_EVENTLET_PATCHING="1", PYTHONUNBUFFERED="1")
    env.pop("VIRTUAL_ENV", None)
    with tempfile.TemporaryDirectory(prefix="harness-calls-") as tmp:
        path = os.path.join(tmp, "calls.json")
        cmd = ["nice", "-n", str(nice), python, "-m", "pytest", nodeid,
               "-q", "-p", "harness.matrix.calls", OPTION, path,
               "--run-dir", tmp] + launch.pytest_options()
        try:
            proc = subprocess.run(cmd, cwd=root, env=env, text=True,
                                  capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": "the test ran over %d s" % timeout}
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError):
            tail = [ln for ln in (proc.stdout + proc.stderr).splitlines()
                    if ln.strip()]
            return {"error": "pytest exited %d without a recording: %s" % (
                proc.returncode, tail[-1][:200] if tail else "no output")}
    test = doc["tests"].get(nodeid) or next(iter(doc["tests"].values()),
                                            None)
    if test is None:
        return {"error": "pytest collected no test %s" % nodeid}
    return dict(test, nova=doc.get("nova"))


# ---------------------------------------------------------------------------
# ranking: where the two runs' paths fork, in code that changed
# ---------------------------------------------------------------------------
def _module_path(source: flips.Source, module: str) -> str | None:
    base = module.replace(".", "/")
    for path in (base + ".py", base + "/__init__.py"):
        if source.read(path) is not None:
            return path
    return None


def _functions_of(source: flips.Source, module: str) -> dict[str, str]:
    """qualname -> source of every function of ``module`` in ``source``."""
    path = _module_path(source, module)
    if path is None:
        return {}
    prefix = path[:-3].replace("/", ".") + "."
    return {k[len(prefix):]: v for k, v in
            source.module_functions(path).items()}


def rank(older_run: dict, newer_run: dict, older: flips.Source,
         newer: flips.Source, older_label: str, newer_label: str
         ) -> list[dict]:
    """The functions that ran in either release and whose code differs
    between the two sources, most telling first (see the module's doc)."""
    ran = {}
    for label, run in ((older_label, older_run), (newer_label, newer_run)):
        for module, quals in (run.get("functions") or {}).items():
            for q in quals:
                ran.setdefault("%s:%s" % (module, q), set()).add(label)
    only = {k for k, where in ran.items() if len(where) == 1}
    callees = {}
    for run in (older_run, newer_run):
        for a, b in run.get("edges") or []:
            callees.setdefault(a, set()).add(b)
    out = []
    modules = sorted({k.split(":", 1)[0] for k in ran})
    for module in modules:
        a, b = _functions_of(older, module), _functions_of(newer, module)
        for key in sorted(k for k in ran if k.startswith(module + ":")):
            qual = key.split(":", 1)[1]
            change = flips._change(dotted(key), a.get(qual), b.get(qual),
                                   older_label, newer_label)
            if change is None or change.status == "docstring/comments only":
                continue
            forks = sorted(c for c in callees.get(key, ()) if c in only)
            # a callee both releases have, run by one only: the path
            # forked here (not merely new code run)
            both = [c for c in forks if _in_both(c, older, newer)]
            out.append({"function": dotted(key), "status": change.status,
                        "ran_in": sorted(ran[key], key=[
                            older_label, newer_label].index),
                        "calls_one_release_only": [dotted(c) for c in forks],
                        "forks": len(both),
                        "tier": 0 if forks else 1 if key in only else 2})
    out.sort(key=lambda r: (r["tier"], -r["forks"],
                            -len(r["calls_one_release_only"]), r["function"]))
    return out


def focus_of(ranking: list[dict], limit: int = 6) -> list[str]:
    """The functions to explain the flip with: where the two runs' paths
    forked (a changed function calling one that both releases have and
    only one ran) and the changed functions they called in one release
    only; without a fork, the first ``limit`` of the ranking."""
    forks = [r for r in ranking if r["forks"]]
    if not forks:
        return [r["function"] for r in ranking[:limit]]
    changed = {r["function"] for r in ranking}
    out = []
    for r in forks:
        out += [r["function"]] + [c for c in r["calls_one_release_only"]
                                  if c in changed]
    return list(dict.fromkeys(out))[:limit]


def _in_both(key: str, older: flips.Source, newer: flips.Source) -> bool:
    module, qual = key.split(":", 1)
    return qual in _functions_of(older, module) and \
        qual in _functions_of(newer, module)


TIERS = {0: "calls a function run in one release only",
         1: "ran in one release only", 2: "ran in both"}


def python_of(entry: dict, root: str) -> str | None:
    """The Python of a release's environment on this machine: the one its
    matrix entry names (relative to the harness that ran it), else this
    machine's cached environment of that release."""
    candidates = [os.path.join(root, entry["env"])] if entry.get("env") \
        else []
    if entry.get("version"):
        candidates.append(os.path.join(envs.CACHE, entry["key"]))
    for path in candidates:
        python = os.path.join(path, "venv", "bin", "python")
        if os.path.exists(python):
            return python
    return None


def explain_test_flip(name: str, older: dict, newer: dict, root: str,
                      source_of, out_dir: str | None = None,
                      focus: int = 6, log=print) -> dict:
    """The explanation of test ``name`` flipping between the matrix
    entries ``older`` and ``newer``: ``{"explanation": ..., "ranking":
    ..., "recorded": ...}`` or ``{"unexplained": why}`` when a release's
    environment or the test cannot be run here."""
    runs = {}
    for entry in (older, newer):
        python = python_of(entry, root)
        if python is None:
            return {"unexplained": "Nova %s's environment is not on this "
                    "machine (neither %s nor the cache %s has it), so the "
                    "functions the test ran could not be recorded; build it "
                    "('python -m harness matrix --nova %s') and merge "
                    "again to explain this flip" % (
                        entry["label"], entry.get("env") or
                        "a recorded environment", os.path.join(
                            envs.CACHE, entry["key"]), entry["label"])}
        run_dir = entry.get("run_dir")
        run_dir = os.path.join(root, run_dir) if run_dir else None
        nodeid = node_id(name, root, run_dir)
        if nodeid is None:
            return {"unexplained": "no scenario file defines %s, so it "
                    "cannot be run again to record its functions" % name}
        cache = os.path.join(out_dir, "calls", entry["key"], re.sub(
            r"[^A-Za-z0-9_.-]+", "_", name)[:150] + ".json") \
            if out_dir else None
        if cache and os.path.exists(cache):
            with open(cache, encoding="utf-8") as f:
                runs[entry["label"]] = json.load(f)
            continue
        log("  recording the Nova functions %s runs in %s" % (
            name, entry["label"]))
        got = record(python, nodeid, root)
        if got.get("error"):
            return {"unexplained": "recording %s in Nova %s failed: %s" % (
                name, entry["label"], got["error"])}
        if cache:
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            with open(cache, "w", encoding="utf-8") as f:
                json.dump(got, f)
        runs[entry["label"]] = got
    a, b = source_of(older), source_of(newer)
    ranking = rank(runs[older["label"]], runs[newer["label"]], a, b,
                   older["label"], newer["label"])
    expl = flips.explain(focus_of(ranking, focus), a, b, older["label"],
                         newer["label"])
    d = expl.as_dict()
    d["summary"] = expl.summary()
    return {"explanation": d, "ranking": ranking[:20],
            "recorded": {label: {"outcome": r.get("outcome"),
                                 "functions": sum(map(len, (r.get(
                                     "functions") or {}).values()))}
                         for label, r in runs.items()}}
