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
    # how: "skipped" (not applicable) or "refused by engine" (the database
    # engine refused the fault's write; see harness.faults.records)
    skip_kind: str | None = None
    # what the engine stored differently from what the fault wrote
    # ("coerced by MariaDB 10.11: ..."); the variant is judged on it
    coerced: str | None = None
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
    started = time.monotonic()
    capture = LogCapture()
    capture.setUp()
    violations = {stage: [] for stage in STAGES}
    fault_desc, error, during_error, calls = None, None, None, 0
    skipped = skip_kind = coerced = None
    words = []
    try:
        world = World(trace=trace, **trial.world_kwargs)
        world.setUp()
        try:
            trial.setup(world)
            words = [i.uuid for i in world.instances.values()]
            words += [m.uuid for m in world.migrations.values()]
            audits = world.audit()
            snap = world.snapshot("before fault")
            first = "under_fault" if trial.condition else "before"
            fault_desc = trial.condition
            violations[first] = (inv.check_all(snap, world.ledger)
                                 + inv.audit_completed(audits, snap)
                                 + _extra(trial, world, snap))
            fault = trial.fault(world) if trial.fault else None
            if fault is not None:
                fault_desc = fault.describe()
                try:
                    fault.setUp()
                except Exception as exc:  # noqa: BLE001 - classified
                    why = _not_applicable(exc)
                    if why is None:
                        raise
                    raise _Skip(str(why), why.kind) from None
                coerced = "; ".join(fault.coercions()) or None
            try:
                violations["under_fault"] += _audit_and_check(
                    world, capture, trial.audit_via, "under fault", trial)
                if trial.during is not None:
                    try:
                        trial.during(world)
                    except Exception as exc:  # noqa: BLE001 - observed
                        during_error = "%s: %s" % (type(exc).__name__, exc)
                        trace.step("note", "workload raised",
                                   error=during_error)
                    violations["during"] = _audit_and_check(
                        world, capture, ("tracker",), "during", trial)
                    if during_error:
                        violations["during"].insert(0, inv.Violation(
                            "workload_completed", trial.name,
                            "no exception", during_error))
            finally:
                if fault is not None:
                    fault.cleanUp()
            violations["after_clear"] = _audit_and_check(
                world, capture, ("tracker",), "after clear", trial)
            calls = len(world.placement.calls)
        finally:
            world.cleanUp()
    except _Skip as skip:
        skipped, skip_kind = skip.args
        trace.step("note", "variant %s" % skip_kind, reason=skipped)
    except Exception:  # noqa: BLE001 - becomes INCONCLUSIVE, never hidden
        error = traceback.format_exc()
    finally:
        capture.cleanUp()
    return Observation(
        trial=trial.name, control=trial.is_control, fault=fault_desc,
        violations=violations, logs=relevant(capture.records, words),
        messages=_message_counts(capture.records),
        error=error, during_error=during_error, placement_calls=calls,
        skipped=skipped, skip_kind=skip_kind, coerced=coerced,
        trace=trace, duration=time.monotonic() - started)


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


def _not_applicable(exc):
    """The NotApplicable (or EngineRefused) inside ``exc`` (fixtures wrap
    setUp errors in MultipleExceptions, nested for nested fixtures), or
    None."""
    from harness.faults.base import NotApplicable
    if isinstance(exc, NotApplicable):
        return exc
    for item in getattr(exc, "args", ()):
        if isinstance(item, tuple) and len(item) == 3 and \
                isinstance(item[1], BaseException):
            found = _not_applicable(item[1])
            if found is not None:
                return found
    return None


def space_label(o: Observation) -> str:
    """How a variant appears in a verdict's fault space."""
    if o.skipped:
        return "%s (%s: %s)" % (o.trial, o.skip_kind or "skipped", o.skipped)
    if o.coerced:
        return "%s (%s)" % (o.trial, o.coerced)
    return o.trial


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

    def paired(self, name: str, setup: Callable, faults: dict,
               during: Callable | None = None, world_kwargs=None):
        """A control for ``setup`` and one variant per fault in ``faults``
        (variant name -> fault factory)."""
        kw = dict(world_kwargs or {})
        self.trial(Trial(name + " [control]", setup, None, during, kw))
        for fname, factory in faults.items():
            self.trial(Trial("%s / %s" % (name, fname), setup, factory,
                             during, kw))

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
        space = [space_label(o) for o in variants + skipped]
        if where is not None:
            arose = [o for o in variants if where(o)]
            space = ["%s (%s)" % (space_label(o), where_label
                                  or "condition arose")
                     for o in arose] + [
                "%s (not counted: %s did not happen)" % (
                    space_label(o), where_label or "condition")
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
        stats = {"placement_calls": sum(o.placement_calls
                                        for o in self.observations),
                 "trial_seconds": round(sum(o.duration
                                            for o in self.observations), 3)}
        refused = sum(1 for o in self.observations
                      if o.skip_kind == "refused by engine")
        coerced = sum(1 for o in self.observations
                      if o.coerced and not o.skipped)
        if refused or coerced:
            stats["variants refused by engine"] = refused
            stats["variants coerced by engine"] = coerced
        return stats

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
