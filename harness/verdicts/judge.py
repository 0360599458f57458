"""Running trials and deciding a verdict from what they observed.

A scenario is a set of *trials*.  Each trial builds a fresh world, runs a
workload, audits, then (for a variant) injects one fault, audits the way the
tracker and the compute service do, clears the fault, audits once more, and
checks every invariant at each stage.  A *control* is the same trial with no
fault; every variant is paired with one.

:meth:`Judge.decide` turns the observations into a verdict:

* any harness error, or any violation in a control (or before a variant's
  fault was injected) -> INCONCLUSIVE;
* a variant violating an invariant the scenario says the claim predicts,
  at a stage it names -> CONFIRMED, with that evidence;
* otherwise REFUTED, naming the whole fault space tried.

Nothing in a scenario writes a verdict: it states the hypothesis, the fault
space and which invariants count, and the observations decide.
"""
from __future__ import annotations

import dataclasses
import logging
import time
import traceback
from typing import Callable, Iterable

from harness.oracle import invariants as inv
from harness.oracle.logs import LogCapture, relevant
from harness.oracle.trace import Trace
from harness.verdicts.verdict import Evidence, Outcome, Verdict

STAGES = ("before", "under_fault", "during", "after_clear")


@dataclasses.dataclass
class Trial:
    """One world, one workload, at most one fault.

    ``setup(world)`` drives the workload up to the point of interest.
    ``fault(world)`` returns the fault fixture (None for a control).
    ``during(world)`` (optional) continues the workload while the fault is
    active (e.g. confirm or revert); an exception it raises is observed.
    ``world_kwargs`` are passed to :class:`~harness.world.deployment.World`.
    ``checks``: extra invariants, ``check(world, snap) -> [Violation]``, run
    at every stage after the standard ones.
    ``condition``: for a variant whose abnormal input is built into the world
    from the start (a ``world_kwargs`` option, or what ``setup`` creates)
    rather than injected later: it describes that input, makes the trial a
    variant, and, as no fault-free stage exists, what the first audit sees
    is recorded under ``under_fault`` (``before`` stays empty).
    """
    name: str
    setup: Callable
    fault: Callable | None = None
    during: Callable | None = None
    world_kwargs: dict = dataclasses.field(default_factory=dict)
    audit_via: tuple = ("tracker", "service")
    checks: tuple = ()
    condition: str | None = None

    @property
    def is_control(self) -> bool:
        return self.fault is None and self.condition is None


@dataclasses.dataclass
class Observation:
    trial: str
    control: bool
    fault: str | None
    violations: dict[str, list[inv.Violation]]
    logs: list[str]
    error: str | None = None           # harness failure (traceback)
    during_error: str | None = None    # exception the workload saw
    placement_calls: int = 0
    trace: Trace | None = None
    duration: float = 0.0
    skipped: str | None = None         # the fault could not apply here
    # How often each log message template was emitted (all levels), so a
    # scenario can ask whether a given code path (a handler that logs and
    # carries on) ran in this trial.
    messages: dict = dataclasses.field(default_factory=dict)

    def logged(self, prefix: str) -> int:
        """How many records whose message template starts with ``prefix``."""
        return sum(n for t, n in self.messages.items()
                   if t.startswith(prefix))

    @property
    def clean(self) -> bool:
        return self.error is None and not any(self.violations.values())


def run_trial(trial: Trial, trace: Trace | None = None) -> Observation:
    """Build a world for ``trial``, run it through every stage, observe."""
    from harness.world.deployment import World

    trace = trace or Trace()
    run = TrialRun(trial, trace)
    try:
        world = World(trace=trace, **trial.world_kwargs)
        world.setUp()
        try:
            run.prepare(world)
            run.inject_and_observe(world)
        finally:
            world.cleanUp()
    except _Skip as skip:
        run.skip(skip)
    except Exception:  # noqa: BLE001 - becomes INCONCLUSIVE, never hidden
        run.error = traceback.format_exc()
    finally:
        run.capture.cleanUp()
    return run.observation()


class TrialRun:
    """One trial's stages, split where a snapshot can be taken.

    :meth:`prepare` runs the workload (``setup``) and the first audit and
    checks (``before``); :meth:`inject_and_observe` injects the fault and
    runs the remaining stages.  :func:`run_trial` runs both on a fresh
    world; :mod:`harness.verdicts.snapshots` runs ``prepare`` once and
    ``inject_and_observe`` in a copy of the process per trial.
    """

    def __init__(self, trial: Trial, trace: Trace):
        self.trial = trial
        self.trace = trace
        self.started = time.monotonic()
        self.capture = LogCapture()
        self.capture.setUp()
        self.violations = {stage: [] for stage in STAGES}
        self.fault_desc = None
        self.error = None
        self.during_error = None
        self.calls = 0
        self.skipped = None
        self.words: list[str] = []

    def prepare(self, world) -> None:
        trial = self.trial
        trial.setup(world)
        self.words = [i.uuid for i in world.instances.values()]
        self.words += [m.uuid for m in world.migrations.values()]
        audits = world.audit()
        snap = world.snapshot("before fault")
        first = "under_fault" if trial.condition else "before"
        self.fault_desc = trial.condition
        self.violations[first] = (inv.check_all(snap, world.ledger)
                                  + inv.audit_completed(audits, snap)
                                  + _extra(trial, world, snap))

    def inject_and_observe(self, world) -> None:
        trial, trace, capture = self.trial, self.trace, self.capture
        violations = self.violations
        fault = trial.fault(world) if trial.fault else None
        if fault is not None:
            self.fault_desc = fault.describe()
            try:
                fault.setUp()
            except Exception as exc:  # noqa: BLE001 - classified
                reason = _not_applicable(exc)
                if reason is None:
                    raise
                raise _Skip(reason) from None
        try:
            violations["under_fault"] += _audit_and_check(
                world, capture, trial.audit_via, "under fault", trial)
            if trial.during is not None:
                try:
                    trial.during(world)
                except Exception as exc:  # noqa: BLE001 - observed
                    self.during_error = "%s: %s" % (type(exc).__name__, exc)
                    trace.step("note", "workload raised",
                               error=self.during_error)
                violations["during"] = _audit_and_check(
                    world, capture, ("tracker",), "during", trial)
                if self.during_error:
                    violations["during"].insert(0, inv.Violation(
                        "workload_completed", trial.name,
                        "no exception", self.during_error))
        finally:
            if fault is not None:
                fault.cleanUp()
        violations["after_clear"] = _audit_and_check(
            world, capture, ("tracker",), "after clear", trial)
        self.calls = len(world.placement.calls)

    def skip(self, skip: Exception) -> None:
        self.skipped = str(skip)
        self.trace.step("note", "variant skipped", reason=self.skipped)

    def observation(self) -> Observation:
        records = self.capture.records
        return Observation(
            trial=self.trial.name, control=self.trial.is_control,
            fault=self.fault_desc, violations=self.violations,
            logs=relevant(records, self.words),
            messages=_message_counts(records),
            error=self.error, during_error=self.during_error,
            placement_calls=self.calls, skipped=self.skipped,
            trace=self.trace, duration=time.monotonic() - self.started)


def _extra(trial, world, snap):
    out = []
    for check in trial.checks:
        out.extend(check(world, snap))
    return out


def _message_counts(records) -> dict:
    counts: dict[str, int] = {}
    for rec in records:
        key = str(rec.msg)[:300]
        counts[key] = counts.get(key, 0) + 1
    return counts


class _Skip(Exception):
    """A variant's fault does not apply to its world."""


def _not_applicable(exc) -> str | None:
    """The NotApplicable reason inside ``exc`` (fixtures wrap setUp errors
    in MultipleExceptions), or None."""
    from harness.faults.base import NotApplicable
    if isinstance(exc, NotApplicable):
        return str(exc)
    for item in getattr(exc, "args", ()):
        if isinstance(item, tuple) and len(item) == 3 and \
                isinstance(item[1], NotApplicable):
            return str(item[1])
    return None


def _audit_and_check(world, capture, via, label, trial=None):
    audits = []
    mark = capture.mark()
    for how in via:
        audits.extend(world.audit(via=how))
    service_records = capture.since(mark) if "service" in via else []
    snap = world.snapshot(label)
    return (inv.check_all(snap, world.ledger)
            + inv.audit_completed(audits, snap)
            + inv.service_logged_errors(service_records)
            + (_extra(trial, world, snap) if trial is not None else []))


class Judge:
    """Collects a scenario's trials and decides its verdict."""

    def __init__(self, scenario: str, claims: Iterable[str],
                 trace_echo=None):
        self.scenario = scenario
        self.claims = list(claims)
        self.observations: list[Observation] = []
        self.outcome: Outcome | None = None
        self.trace_echo = trace_echo
        self.started = time.monotonic()
        self.seed: int | None = None
        self.traces: dict[str, Trace] = {}

    # -- running ---------------------------------------------------------
    def trial(self, trial: Trial) -> Observation:
        trace = Trace(echo=self.trace_echo)
        obs = run_trial(trial, trace)
        self.traces[trial.name] = trace
        self.observations.append(obs)
        return obs

    def trials(self, trials: Iterable[Trial]) -> list[Observation]:
        """Run several trials; consecutive ones over the same workload start
        from one snapshot of it (:mod:`harness.verdicts.snapshots`), the
        others (and all of them with ``HARNESS_SNAPSHOTS=0``) from fresh
        worlds through :meth:`trial`.  Same observations either way."""
        from harness.verdicts import snapshots
        out = []
        for group in snapshots.groups(list(trials)):
            if len(group) == 1 or snapshots.static_reason(group[0]):
                out.extend(self.trial(t) for t in group)
                continue
            traces = [Trace() for _ in group]
            fresh_names = set()

            def fresh(t, tr):
                fresh_names.add(t.name)
                obs = self.trial(t)
                # (self.trial traced it live; keep the note said up front)
                obs.trace.steps[:0] = tr.steps
                return obs
            for t, tr, obs in zip(group, traces,
                                  snapshots.run_group(group, traces, fresh)):
                if t.name not in fresh_names:
                    self._snapshot_observed(t, tr, obs)
                out.append(obs)
        return out

    def _snapshot_observed(self, trial, trace, obs):
        """Record (and, with a step printer, print) a trial observed in a
        copy of the process, as :meth:`trial` does for one run here."""
        echo = self.trace_echo
        trace.echo = echo
        if echo is not None and hasattr(echo, "trial_started"):
            echo.trial_started(trial)
        if echo is not None:
            for step in trace.steps:
                echo(step)
        if echo is not None and hasattr(echo, "trial_finished"):
            echo.trial_finished(trial, obs)
        self.traces[trial.name] = trace
        self.observations.append(obs)

    def paired(self, name: str, setup: Callable, faults: dict,
               during: Callable | None = None, world_kwargs=None,
               checks: tuple = ()):
        """A control for ``setup`` and one variant per fault in ``faults``
        (variant name -> fault factory), all from one snapshot of the world
        after ``setup`` (see :meth:`trials`)."""
        kw = dict(world_kwargs or {})
        self.trials(
            [Trial(name + " [control]", setup, None, during, kw,
                   checks=checks)]
            + [Trial("%s / %s" % (name, fname), setup, factory, during, kw,
                     checks=checks)
               for fname, factory in faults.items()])

    # -- deciding --------------------------------------------------------
    def decide(self, hypothesis: str, stages: Iterable[str] = STAGES[1:],
               invariants: Iterable[str] | None = None,
               fault_space: str = "", max_evidence: int = 12,
               predicts: dict | None = None,
               where: Callable | None = None,
               where_label: str = "") -> Outcome:
        """Decide from the observations.

        ``stages`` and ``invariants`` say which violations the claim predicts
        (``invariants=None``: any invariant).  ``predicts`` maps stage ->
        invariants (or None) when the prediction differs per stage.
        ``where(observation)`` restricts the evidence to variants in which
        the condition the claim is about actually arose (``where_label``
        says what it is, e.g. "the FlavorNotFound handler ran"); the other
        variants are still listed in the fault space.
        """
        if predicts is None:
            wanted_of = {st: (set(invariants) if invariants is not None
                              else None) for st in stages}
        else:
            wanted_of = {st: (set(v) if v is not None else None)
                         for st, v in predicts.items()}
        stages = tuple(wanted_of)
        controls = [o for o in self.observations if o.control]
        skipped = [o for o in self.observations if o.skipped]
        variants = [o for o in self.observations
                    if not o.control and not o.skipped]
        space = [o.trial for o in variants] + [
            "%s (skipped: %s)" % (o.trial, o.skipped) for o in skipped]
        if where is not None:
            arose = [o for o in variants if where(o)]
            space = ["%s (%s)" % (o.trial, where_label or "condition arose")
                     for o in arose] + [
                "%s (not counted: %s did not happen)" % (
                    o.trial, where_label or "condition")
                for o in variants if o not in arose] + space[len(variants):]
        else:
            arose = variants
        common = dict(scenario=self.scenario, claims=self.claims,
                      hypothesis=hypothesis, fault_space=space,
                      trials=len(self.observations),
                      controls=len(controls), seed=self.seed,
                      stats=self._stats())
        broken = [o for o in self.observations if o.error]
        if broken:
            o = broken[0]
            return self._finish(Outcome(
                verdict=Verdict.INCONCLUSIVE,
                summary="harness failure in trial %r" % o.trial,
                traceback=o.error, **common))
        if not controls:
            return self._finish(Outcome(
                verdict=Verdict.INCONCLUSIVE,
                summary="no control trial was run", **common))
        dirty = [o for o in controls if not o.clean]
        dirty += [o for o in variants if o.violations["before"]]
        if dirty:
            o = dirty[0]
            ev = [self._evidence(o, st, v) for st, vs in o.violations.items()
                  for v in vs][:max_evidence]
            return self._finish(Outcome(
                verdict=Verdict.INCONCLUSIVE,
                summary="control %r broke an invariant without any fault"
                % o.trial, evidence=ev, **common))
        evidence = []
        for o in arose:
            for st in stages:
                wanted = wanted_of[st]
                for v in o.violations.get(st, []):
                    if wanted is None or v.invariant in wanted:
                        evidence.append(self._evidence(o, st, v))
        if evidence:
            hit = sorted({e.variant for e in evidence})
            return self._finish(Outcome(
                verdict=Verdict.CONFIRMED,
                summary="%d of %d variants%s broke %s; first: %s" % (
                    len(hit), len(arose),
                    (" in which %s" % where_label) if where else "",
                    ", ".join(sorted({e.invariant for e in evidence})),
                    evidence[0].line()),
                evidence=_spread(evidence, max_evidence), **common))
        return self._finish(Outcome(
            verdict=Verdict.REFUTED,
            summary="no invariant broke in %d variants%s (%s) with %d "
                    "clean controls; stages checked: %s" % (
                        len(arose), (" in which %s, of %d tried"
                                     % (where_label, len(variants)))
                        if where else "", fault_space or "see fault space",
                        len(controls), ", ".join(stages)),
            **common))

    def not_testable(self, rationale: str, evidence: list[Evidence] = ()):
        if not rationale.strip():
            raise ValueError("NOT_TESTABLE needs a rationale")
        return self._finish(Outcome(
            scenario=self.scenario, claims=self.claims,
            verdict=Verdict.NOT_TESTABLE, summary=rationale.split("\n")[0],
            rationale=rationale, evidence=list(evidence),
            trials=len(self.observations), stats=self._stats()))

    def inconclusive(self, summary: str, tb: str | None = None):
        return self._finish(Outcome(
            scenario=self.scenario, claims=self.claims,
            verdict=Verdict.INCONCLUSIVE, summary=summary, traceback=tb,
            trials=len(self.observations), stats=self._stats()))

    def _evidence(self, o: Observation, stage: str, v) -> Evidence:
        return Evidence(variant=o.trial, stage=stage, invariant=v.invariant,
                        subject=v.subject, expected=_jsonable(v.expected),
                        actual=_jsonable(v.actual), detail=v.detail,
                        logs=o.logs[-8:], faults=[o.fault] if o.fault else [])

    def _stats(self) -> dict:
        return {"placement_calls": sum(o.placement_calls
                                       for o in self.observations),
                "trial_seconds": round(sum(o.duration
                                           for o in self.observations), 3)}

    def _finish(self, outcome: Outcome) -> Outcome:
        outcome.duration = round(time.monotonic() - self.started, 3)
        self.outcome = outcome
        return outcome


def _spread(evidence: list[Evidence], n: int) -> list[Evidence]:
    """Up to ``n`` items, one per variant first, so evidence shows breadth."""
    seen, first, rest = set(), [], []
    for e in evidence:
        (rest if e.variant in seen else first).append(e)
        seen.add(e.variant)
    return (first + rest)[:n]


def _jsonable(value):
    import json
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


logging.getLogger(__name__)


# ---------------------------------------------------------------------------
# Time limits: a scenario that hangs becomes INCONCLUSIVE, with its stack
# ---------------------------------------------------------------------------
class ScenarioTimeout(BaseException):
    """A scenario ran past its time limit.

    A ``BaseException``, so code under test that catches ``Exception``
    (Nova's periodic task wrapper does) cannot swallow it; the trial's
    ``finally`` clauses still clean its world up on the way out.
    """

    def __init__(self, limit: float, stacks: str, where: str,
                 in_cleanup: bool = False):
        super().__init__("scenario exceeded its time limit of %gs%s; "
                         "stopped in %s"
                         % (limit, " (and its clean-up hung too)"
                            if in_cleanup else "", where))
        self.limit = limit
        self.stacks = stacks
        self.where = where
        self.in_cleanup = in_cleanup

    def report(self) -> str:
        """The stacks of every thread when the limit struck."""
        return "%s\n\n%s" % (self.args[0], self.stacks)


def thread_stacks(main_frame=None) -> str:
    """Every thread's stack, the interrupted (main) thread first."""
    import sys
    import threading
    names = {t.ident: t.name for t in threading.enumerate()}
    main = threading.main_thread().ident
    frames = sys._current_frames()
    if main_frame is not None:
        frames[main] = main_frame
    out = []
    for ident in sorted(frames, key=lambda i: (i != main, names.get(i, ""))):
        out.append("Thread %s (%s)%s:\n%s" % (
            names.get(ident, "?"), ident,
            " - where the limit struck" if ident == main else "",
            "".join(traceback.format_stack(frames[ident]))))
    return "\n".join(out)


def _in_cleanup(frame) -> bool:
    """Whether ``frame`` is inside a fixture's clean-up: interrupting it
    leaves patches in place, so what runs next in this process is not
    trusted."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "cleanUp" or \
                code.co_filename.endswith("fixtures/callmany.py"):
            return True
        frame = frame.f_back
    return False


def _where(frame) -> str:
    """The innermost frame, and the innermost one outside libraries (the
    harness's or the scenario's own line) when that is another."""
    import sysconfig
    if frame is None:
        return "?"

    def fmt(f):
        return "%s:%d in %s" % (f.f_code.co_filename, f.f_lineno,
                                f.f_code.co_name)
    libs = {sysconfig.get_paths()[k] for k in ("stdlib", "purelib",
                                                "platlib")}
    own = frame
    while own is not None and (
            own.f_code.co_filename.startswith(tuple(libs))
            or own.f_code.co_filename.startswith("<")):
        own = own.f_back
    if own is None or own is frame:
        return fmt(frame)
    return "%s (from %s)" % (fmt(frame), fmt(own))


class time_limit:
    """Raise :class:`ScenarioTimeout` in the main thread after ``seconds``.

    SIGALRM, so it also interrupts sleeps and lock waits.  Once it has
    fired it re-arms for ``grace`` seconds: if cleaning up after the
    interrupted trial hangs as well, that is interrupted too (and says so).
    Without SIGALRM, off the main thread, or with no limit, it does nothing.
    """

    def __init__(self, seconds: float | None, grace: float = 30.0):
        self.seconds = seconds
        self.grace = grace
        self.fired = 0
        self._old = None

    def _handler(self, signum, frame):
        import signal
        self.fired += 1
        stacks = thread_stacks(frame)
        where = _where(frame)
        if self.fired == 1 and self.grace:
            signal.setitimer(signal.ITIMER_REAL, self.grace)
        raise ScenarioTimeout(self.seconds, stacks, where,
                              in_cleanup=self.fired > 1
                              or _in_cleanup(frame))

    def _armed(self) -> bool:
        import signal
        import threading
        return bool(self.seconds and self.seconds > 0
                    and hasattr(signal, "SIGALRM")
                    and threading.current_thread()
                    is threading.main_thread())

    def __enter__(self):
        if self._armed():
            import signal
            self._old = signal.signal(signal.SIGALRM, self._handler)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            import signal
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)
            self._old = None
        return False
