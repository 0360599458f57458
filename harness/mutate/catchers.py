"""Catchers: what runs against a mutant and says whether it noticed.

A catcher has a ``name``, says why it cannot run here (:meth:`unavailable`),
records what it observes on the pristine Nova once (:meth:`prepare`), and
then, for each mutant, runs against it and returns a :class:`Catch`: caught
or not, and by what.  Every catcher runs in child processes whose
``HARNESS_MUTANT`` names the files to serve (see
:mod:`harness.mutate.loader`); the pristine run goes through the same
loader with unmodified copies, so the only difference between the two runs
is the defect.

* :class:`ScenarioCatcher` (``scenarios``): the scenario suite.  The pristine
  run records each scenario's outcome signature and the Nova functions it
  called; a mutant runs only the scenarios that call the mutated function
  (or name it in the catalogue's ``nova_functions``), cheapest first, and is
  caught by the first whose verdict or invariant outcomes differ from the
  pristine run, or that errors.
* :class:`LifecycleCatcher` (``lifecycle``): the fixed lifecycle
  sequences with every invariant checked after every operation; caught when
  a sequence that passes on the pristine Nova fails.
* ``corpus``: the explorer's reproducer corpus (``scenarios/corpus/``),
  judged the same way, when ``harness.explore`` and the corpus exist.
* :class:`ExploreCatcher` (``explore``): a bounded ``python -m harness
  explore`` with a fixed seed; caught when its exit status differs from the
  pristine exploration's, when ``harness.explore`` exists.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time

from harness.mutate import loader, probe
from harness.report import launch, runrecord

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


@dataclasses.dataclass
class Catch:
    catcher: str
    status: str                 # caught | survived | budget | not_reached
                                # | unavailable | error
    by: list = dataclasses.field(default_factory=list)   # [(what, why)]
    ran: list = dataclasses.field(default_factory=list)
    not_run: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    detail: str = ""

    @property
    def caught(self) -> bool:
        return self.status == "caught"

    def as_dict(self):
        return dataclasses.asdict(self)


def mutant_env(files: dict, coverage=False, ident="") -> dict:
    """The child environment serving ``files`` (module -> path)."""
    env = launch.child_env()
    env[loader.ENV] = json.dumps({"id": ident, "modules": files,
                                  "coverage": coverage})
    # Same set and dict-of-set orders in the pristine run and every mutant:
    # Nova hands out assigned resources with set.pop(), so under a random
    # hash seed which device an instance gets differs from process to
    # process, and a device invariant would "catch" a mutant that changed
    # nothing (tox sets the same seed for the scenarios).
    env["PYTHONHASHSEED"] = "0"
    env.pop(probe.ENV, None)
    return env


def _run(cmd, env, log, timeout, cwd=ROOT):
    """Run a child in its own process group; (returncode|None, seconds).
    None: killed at the time limit."""
    started = time.monotonic()
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            rc = None
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    return rc, time.monotonic() - started


def _tail(path, n=1):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [ln.strip() for ln in f if ln.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])[:300]


class Catcher:
    name = ""

    def unavailable(self) -> str | None:
        return None

    def prepare(self, pristine_files, work, jobs, progress) -> dict:
        raise NotImplementedError

    def run(self, mutant, files, work, budget, progress) -> Catch:
        raise NotImplementedError


class ScenarioCatcher(Catcher):
    """Scenarios against the pristine run (see the module docstring)."""

    name = "scenarios"

    def __init__(self, directory, only=None, nova_functions=None,
                 name=None, stop_at_first=True):
        self.directory = directory
        self.only = list(only or [])
        self.nova_functions = nova_functions or {}   # scenario -> [qualname]
        self.reference: dict = {}
        self.reference_path = None
        if name:
            self.name = name
        self.stop_at_first = stop_at_first
        self.pristine_files: dict = {}
        # scenarios whose catch was reproduced against the pristine copy
        # (confirmed) or not (flaky in detail: compared by verdict only)
        self.confirmed: set = set()
        self.flaky: set = set()
        self._lock = threading.Lock()

    def unavailable(self):
        if not os.path.exists(self.directory):
            return "no %s" % os.path.relpath(self.directory, ROOT)
        return None

    def _pytest(self, targets, out_dir, extra=()):
        return [sys.executable, "-m", "pytest", *targets,
                *launch.pytest_options(), "-p",
                "harness.mutate.probe", "-q", "--no-header", *extra]

    # -- pristine -----------------------------------------------------------
    def prepare(self, pristine_files, work, jobs, progress):
        self.pristine_files = dict(pristine_files)
        out = os.path.join(work, "records")
        os.makedirs(out, exist_ok=True)
        env = mutant_env(pristine_files, coverage=True, ident="pristine")
        env[probe.ENV] = json.dumps({"out": out, "reference": None,
                                     "stop": False})
        targets = [self.directory]
        extra = []
        if self.only:
            extra += ["-k", " or ".join(self.only)]
        if jobs > 1:
            extra += ["-n", str(jobs)]
        log = os.path.join(work, "pytest.log")
        cmd = self._pytest(targets, out, extra)
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env,
                                stdout=open(log, "ab"),
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
        seen: set = set()

        def report():
            records = probe.read_records(out)
            for r in records:
                if r["scenario"] not in seen:
                    seen.add(r["scenario"])
                    progress("pristine %s: %-60s %-12s %6.1f s" % (
                        self.name, r["scenario"], r["verdict"] or
                        ("error" if r["error"] else "skipped"),
                        r["duration"]))
            return records
        try:
            while proc.poll() is None:
                time.sleep(2)
                report()
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        records = report()
        if not records:
            raise RuntimeError(
                "the pristine %s run produced no records (pytest exit %s: "
                "%s); see %s" % (self.name, proc.returncode, _tail(log),
                                 log))
        self.reference = {r["scenario"]: r for r in records}
        return self.save(work)

    def save(self, work):
        self.reference_path = os.path.join(work, "reference.json")
        with open(self.reference_path, "w", encoding="utf-8") as f:
            json.dump(self.reference, f, indent=1, sort_keys=True)
        return {"scenarios": len(self.reference),
                "reference": os.path.relpath(self.reference_path, work),
                "seconds": round(sum(r["duration"] for r in
                                     self.reference.values()), 1)}

    def load(self, work, pristine_files):
        with open(os.path.join(work, "reference.json"),
                  encoding="utf-8") as f:
            self.reference = json.load(f)
        self.reference_path = os.path.join(work, "reference.json")
        self.pristine_files = dict(pristine_files)

    def _borrowed(self, rec) -> bool:
        """A scenario that judged trials without calling Nova itself: it
        took cached observations another scenario had computed in the same
        process (several families share one set of trials), so what it
        reaches and what it costs alone are unknown."""
        return not rec.get("functions") and bool(
            (rec.get("signature") or {}).get("trials"))

    def coverage(self) -> dict:
        """scenario -> the Nova functions it called on the pristine run
        (``["*"]``: unknown, see :meth:`_borrowed`)."""
        return {name: ["*"] if self._borrowed(rec) else
                rec.get("functions", [])
                for name, rec in self.reference.items()}

    def cost(self, name) -> float:
        """Seconds the scenario took on the pristine run; a borrowing
        scenario is put after every measured one (its cost alone is that
        of the trials it borrowed)."""
        rec = self.reference[name]
        if self._borrowed(rec):
            return 1e6 + max(r["duration"] for r in self.reference.values())
        return rec["duration"]

    def relevant(self, functions) -> list[str]:
        """Scenarios that reach any of ``functions`` (``module.Class.m``),
        cheapest first; scenarios whose reach is unknown come last."""
        short = {_strip_module(f) for f in functions}
        coverage = self.coverage()
        out = []
        for name, rec in self.reference.items():
            if rec.get("skipped") or rec.get("error"):
                continue
            called = set(coverage[name])
            named = {_strip_module(f) for f in
                     self.nova_functions.get(name, [])}
            if short & called or short & named or "*" in short or \
                    "*" in called:
                out.append(name)
        return sorted(out, key=lambda s: (self.cost(s), s))

    # -- a mutant -------------------------------------------------------------
    def run(self, mutant, files, work, budget, progress):
        """Run the relevant scenarios against the mutant; a catch by a
        scenario not yet shown reproducible is checked by running that
        scenario once more on the pristine copy (a difference there too
        makes it verdict-only, and the mutant is run again)."""
        started = time.monotonic()
        chosen = self.relevant(mutant.functions)
        if not chosen:
            return Catch(self.name, "not_reached", detail="no scenario "
                         "calls %s on the pristine run"
                         % ", ".join(mutant.functions))
        for attempt in range(3):
            left = budget - (time.monotonic() - started)
            catch = self._attempt(mutant, files, os.path.join(
                work, "attempt%d" % attempt), chosen, max(5, int(left)))
            catch.seconds = time.monotonic() - started
            if not catch.caught or not catch.ran:
                return catch
            scenario = catch.by[0][0]
            with self._lock:
                known = scenario in self.confirmed or scenario in self.flaky
            if known or not self.pristine_files:
                return catch
            again = self._attempt(None, self.pristine_files, os.path.join(
                work, "confirm-%s" % scenario), [scenario],
                max(60, int(4 * self.cost(scenario)) + 60))
            with self._lock:
                if again.ran and not again.by:
                    self.confirmed.add(scenario)
                    return catch
                self.flaky.add(scenario)
            catch.detail = "%s differs on the pristine copy too: compared " \
                           "by verdict only from now on" % scenario
        return catch

    def _attempt(self, mutant, files, work, chosen, budget):
        out = os.path.join(work, "records")
        env = mutant_env(files, ident=mutant.id if mutant else "pristine")
        with self._lock:
            flaky = sorted(self.flaky)
        env[probe.ENV] = json.dumps({"out": out,
                                     "reference": self.reference_path,
                                     "stop": self.stop_at_first,
                                     "verdict_only": flaky})
        nodeids = [os.path.join(ROOT, self.reference[s]["nodeid"])
                   for s in chosen]
        slowest = max(min(self.cost(s), max(
            r["duration"] for r in self.reference.values())) for s in chosen)
        extra = ["-o", "timeout=%d" % max(120, int(4 * slowest) + 60),
                 "-p", "no:xdist"]
        log = os.path.join(work, "pytest.log")
        os.makedirs(work, exist_ok=True)
        started = time.monotonic()
        rc, _ = _run(self._pytest(nodeids, out, extra), env, log,
                     timeout=budget)
        records = {r["scenario"]: r for r in probe.read_records(out)}
        seconds = time.monotonic() - started
        ran = [s for s in chosen if s in records]
        not_run = [s for s in chosen if s not in records]
        by = [(s, records[s]["caught"]) for s in ran
              if records[s].get("caught")]
        wrong = [s for s in ran if mutant is not None and
                 mutant.defect is not None and
                 not _served_mutant(records[s], files)]
        if wrong:
            return Catch(self.name, "error", ran=ran, not_run=not_run,
                         seconds=seconds, detail="the mutant was not loaded "
                         "in %s (served: %s)" % (
                             wrong[0], records[wrong[0]].get("served")))
        if by:
            return Catch(self.name, "caught", by=by, ran=ran,
                         not_run=not_run, seconds=seconds)
        if not ran:
            # nothing ran: collection or start-up failed under the mutant
            # (a mutant that breaks importing Nova is a catch), or the
            # budget ran out before the first scenario finished
            if rc is None:
                return Catch(self.name, "budget", not_run=not_run,
                             seconds=seconds, detail="budget of %d s spent "
                             "before the first scenario finished" % budget)
            return Catch(self.name, "caught", by=[(
                "pytest", "no scenario could run under the mutant (exit "
                "%s): %s" % (rc, _tail(log)))], not_run=not_run,
                seconds=seconds)
        status = "budget" if not_run else "survived"
        return Catch(self.name, status, ran=ran, not_run=not_run,
                     seconds=seconds,
                     detail="budget of %d s spent" % budget if not_run
                     else "")


def _strip_module(qualname: str) -> str:
    """'nova.compute.resource_tracker.ResourceTracker.x' -> 'ResourceTracker.x'
    (the names the coverage records use)."""
    for module in ("nova.compute.resource_tracker.",
                   "nova.conductor.tasks.migrate."):
        if qualname.startswith(module):
            return qualname[len(module):]
    return qualname


def _served_mutant(record, files) -> bool:
    """Did the scenario's process serve the mutant's files (those of them
    it imported)?"""
    served = record.get("served") or {}
    return all(served.get(m, path) == path for m, path in files.items()) \
        and any(m in served for m in files)


def explore_available() -> str | None:
    try:
        found = importlib.util.find_spec("harness.explore")
    except (ImportError, ValueError):
        found = None
    mine = os.path.join(ROOT, "harness", "explore")
    if found is None or not (found.origin or "").startswith(mine):
        # (an editable install may find another checkout's explorer; the
        # children run this tree's harness)
        return "harness.explore is not in this tree (%s)" % mine
    return None


class LifecycleCatcher(Catcher):
    """The fixed lifecycle sequences (``scenarios/lifecycle/
    test_lifecycle.py``): every invariant after every operation, so a
    defect that the next periodic audit repairs (a broken drop or abort)
    is still seen.  Caught when a sequence that passes on the pristine Nova
    fails on the mutant; ``by`` names the sequence and its first failing
    check."""

    name = "lifecycle"

    def __init__(self, path=None, select=None):
        self.path = path or os.path.join(ROOT, "scenarios", "lifecycle",
                                         "test_lifecycle.py")
        self.select = select            # a pytest -k expression
        self.pristine: dict = {}

    def unavailable(self):
        if not os.path.exists(self.path):
            return "no %s" % os.path.relpath(self.path, ROOT)
        return None

    def _outcomes(self, files, work, timeout, ident):
        """{test id: (passed, the start of its failure message)}, or None
        when the run did not end in ``timeout``."""
        os.makedirs(work, exist_ok=True)
        xml = os.path.join(work, "lifecycle.xml")
        if os.path.exists(xml):
            os.unlink(xml)
        cmd = [sys.executable, "-m", "pytest", self.path, "-q",
               "--no-header", "-p", "no:randomly", "-p", "no:cacheprovider",
               "-n", "0", "--junitxml", xml] + (
                   ["-k", self.select] if self.select else [])
        rc, secs = _run(cmd, mutant_env(files, ident=ident),
                        os.path.join(work, "lifecycle.log"), timeout)
        if rc is None or not os.path.exists(xml):
            return None, secs
        out = {name: (outcome == "passed", why[:240])
               for name, (outcome, why)
               in runrecord.junit_outcomes(xml).items()}
        return out, secs

    def prepare(self, pristine_files, work, jobs, progress):
        found, secs = self._outcomes(pristine_files, work, 1800, "pristine")
        if found is None:
            raise RuntimeError("the lifecycle sequences did not finish on "
                               "the pristine Nova; see %s" % work)
        self.pristine = {k: ok for k, (ok, _w) in found.items()}
        with open(os.path.join(work, "reference.json"), "w") as f:
            json.dump(self.pristine, f)
        progress("pristine lifecycle: %d of %d sequences pass (%.0f s)" % (
            sum(self.pristine.values()), len(self.pristine), secs))
        return {"sequences": len(self.pristine),
                "passing": sum(self.pristine.values()),
                "seconds": round(secs, 1)}

    def load(self, work, pristine_files=None):
        with open(os.path.join(work, "reference.json")) as f:
            self.pristine = json.load(f)

    def run(self, mutant, files, work, budget, progress):
        found, secs = self._outcomes(files, work, max(int(budget), 10),
                                     mutant.id)
        if found is None:
            return Catch(self.name, "budget", seconds=secs,
                         detail="the sequences did not end in the budget")
        by = [(name, why) for name, (ok, why) in sorted(found.items())
              if self.pristine.get(name) and not ok]
        ran = sorted(found)
        if by:
            return Catch(self.name, "caught", by=by[:1], ran=ran,
                         seconds=secs)
        return Catch(self.name, "survived", ran=ran, seconds=secs)


class CorpusCatcher(Catcher):
    """The explorer's reproducer corpus (``scenarios/corpus/*.json``): each
    entry replayed with ``python -m harness explore --replay ENTRY``;
    caught when an entry's exit status differs from its pristine replay."""

    name = "corpus"

    def __init__(self, directory, name=None):
        self.directory = directory
        self.pristine: dict = {}

    def entries(self):
        if not os.path.isdir(self.directory):
            return []
        return sorted(os.path.join(self.directory, n)
                      for n in os.listdir(self.directory)
                      if n.endswith(".json"))

    def unavailable(self):
        why = explore_available()
        if why:
            return why
        if not self.entries():
            return "no corpus entries in %s" % os.path.relpath(
                self.directory, ROOT)
        return None

    def _replay(self, files, entry, log, timeout, ident):
        cmd = [sys.executable, "-m", "harness", "explore", "--replay",
               entry]
        return _run(cmd, mutant_env(files, ident=ident), log, timeout)

    def prepare(self, pristine_files, work, jobs, progress):
        os.makedirs(work, exist_ok=True)
        for entry in self.entries():
            rc, secs = self._replay(pristine_files, entry, os.path.join(
                work, "replay.log"), 600, "pristine")
            self.pristine[os.path.basename(entry)] = rc
            progress("pristine corpus: %s exit %s (%.0f s)" % (
                os.path.basename(entry), rc, secs))
        with open(os.path.join(work, "reference.json"), "w") as f:
            json.dump(self.pristine, f)
        return {"entries": len(self.pristine)}

    def load(self, work, pristine_files=None):
        with open(os.path.join(work, "reference.json")) as f:
            self.pristine = json.load(f)

    def run(self, mutant, files, work, budget, progress):
        os.makedirs(work, exist_ok=True)
        started = time.monotonic()
        ran, not_run = [], []
        for entry in self.entries():
            name = os.path.basename(entry)
            left = budget - (time.monotonic() - started)
            if left < 10 or name not in self.pristine:
                not_run.append(name)
                continue
            log = os.path.join(work, name + ".log")
            rc, _ = self._replay(files, entry, log, int(left), mutant.id)
            if rc is None:
                not_run.append(name)
                continue
            ran.append(name)
            if rc != self.pristine[name]:
                return Catch(self.name, "caught", by=[(
                    name, "replay exit %s (pristine %s): %s" % (
                        rc, self.pristine[name], _tail(log)))], ran=ran,
                    seconds=time.monotonic() - started)
        return Catch(self.name, "budget" if not_run else "survived",
                     ran=ran, not_run=not_run,
                     seconds=time.monotonic() - started)


class ExploreCatcher(Catcher):
    """A bounded exploration with a fixed seed."""

    name = "explore"

    def __init__(self, seconds=60, seed=0):
        self.seconds = seconds
        self.seed = seed
        self.pristine_rc = None

    def unavailable(self):
        return explore_available()

    def _cmd(self):
        # --no-save: what a mutant makes the explorer find must never land
        # in the real corpus; --exclude: the pristine release's recorded
        # finding F-11 (delete mid-move) would end every exploration alike
        return [sys.executable, "-m", "harness", "explore", "--budget",
                "%ds" % self.seconds, "--seed", str(self.seed), "--no-save",
                "--exclude", "delete_mid_move"]

    def prepare(self, pristine_files, work, jobs, progress):
        os.makedirs(work, exist_ok=True)
        log = os.path.join(work, "explore.log")
        rc, secs = _run(self._cmd(), mutant_env(pristine_files), log,
                        timeout=self.seconds * 3 + 120)
        self.pristine_rc = rc
        progress("pristine explore: exit %s in %.0f s" % (rc, secs))
        with open(os.path.join(work, "reference.json"), "w") as f:
            json.dump({"exit": rc}, f)
        return {"exit": rc, "seconds": round(secs, 1)}

    def load(self, work, pristine_files=None):
        with open(os.path.join(work, "reference.json")) as f:
            self.pristine_rc = json.load(f)["exit"]

    def run(self, mutant, files, work, budget, progress):
        os.makedirs(work, exist_ok=True)
        log = os.path.join(work, "explore.log")
        rc, secs = _run(self._cmd(), mutant_env(files, ident=mutant.id), log,
                        timeout=min(budget, self.seconds * 3 + 120))
        if rc is None:
            return Catch(self.name, "budget", seconds=secs,
                         detail="exploration did not end in its budget")
        if rc != self.pristine_rc:
            return Catch(self.name, "caught", by=[(
                "explore --seed %d" % self.seed, "exit %s (pristine %s): %s"
                % (rc, self.pristine_rc, _tail(log)))], seconds=secs,
                ran=["explore"])
        return Catch(self.name, "survived", ran=["explore"], seconds=secs)
