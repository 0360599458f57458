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
import functools
import gc
import logging
import os
import pickle
import time
import traceback
from typing import Callable, Iterable

from harness.oracle import invariants as inv
from harness.oracle.logs import LogCapture, relevant
from harness.world.trace import Trace
from harness.verdicts import causation as causation_mod
from harness.verdicts import names
from harness.verdicts import snapshots
from harness.verdicts.timelimit import (  # noqa: F401 - the judge's names
    ScenarioTimeout, thread_stacks, time_limit)
from harness.verdicts.verdict import Evidence, Outcome, Verdict

STAGES = names.STAGES


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
    # A condition's data-authority class and who can produce it (see
    # harness.faults.base); faults declare their own.
    condition_authority: str = "none"
    condition_reach: str = ""
    # A counterfactual trial: ``whatif()`` returns the WhatIf fixture
    # (harness.verdicts.counterfactual) active for the whole trial.
    whatif: Callable | None = None
    # The hosts audited at each stage (None: all); the snapshots always
    # cover every host.
    audit_hosts: tuple | None = None

    def __post_init__(self):
        names.check_fault_class(self.condition_authority,
                                "trial %r, condition_authority" % self.name)

    # Why this kind of trial always runs on a fresh world, never from a
    # forked snapshot (harness.verdicts.snapshots); None: it can fork.
    fresh_world_only = None
    # Whether the mechanisms hit by the audits after the fault is cleared
    # count in the observation's ``paths`` (else: only while it is in place).
    paths_after_clear = True

    @property
    def is_control(self) -> bool:
        return self.fault is None and self.condition is None

    # -- the workload's hooks, in the order :class:`TrialRun` calls them.
    # This class is the ordinary workload (the tracker's audits); a
    # workload with other steps (harness.verdicts.conductor.ConductorTrial)
    # overrides them.
    def log_capture(self) -> LogCapture:
        """What keeps the trial's log records."""
        return LogCapture()

    def build_world(self, trace: Trace):
        """The world (not set up yet)."""
        from harness.world.deployment import World
        return World(trace=trace, **self.world_kwargs)

    def populate(self, run: "TrialRun", world) -> None:
        """Drive the workload up to the point of interest (after the
        what-if is applied)."""
        self.setup(world)
        run.words = [i.uuid for i in world.instances.values()]
        run.words += [m.uuid for m in world.migrations.values()]

    def check_before(self, run: "TrialRun", world) -> list:
        """The first stage's violations (``before``, or ``under_fault``
        for a condition)."""
        audits = _audit(world, ("tracker",), self.audit_hosts)
        snap = world.snapshot("before fault")
        return (inv.check_all(snap, world.ledger)
                + inv.audit_completed(audits, snap)
                + _extra(self, world, snap))

    def under_fault(self, run: "TrialRun", world, fault) -> None:
        """With the fault in place: the ``under_fault`` and ``during``
        stages."""
        run.violations["under_fault"] += _audit_and_check(
            world, run.capture, self.audit_via, "under fault", self)
        if self.during is None:
            return
        try:
            self.during(world)
        except Exception as exc:  # noqa: BLE001 - observed
            run.during_error = "%s: %s" % (type(exc).__name__, exc)
            run.trace.step("note", "workload raised",
                           error=run.during_error)
        run.violations["during"] = _audit_and_check(
            world, run.capture, ("tracker",), "during", self)
        if run.during_error:
            run.violations["during"].insert(0, inv.Violation(
                "workload_completed", self.name, "no exception",
                run.during_error))

    def after_fault(self, run: "TrialRun", world) -> None:
        """Once the fault is cleared, before the last audits."""

    def check_after(self, run: "TrialRun", world) -> list:
        """The ``after_clear`` stage's violations."""
        return _audit_and_check(world, run.capture, ("tracker",),
                                "after clear", self)

    def end(self, run: "TrialRun", world) -> None:
        """Last look at the world before it is cleaned up."""

    def observed(self, run: "TrialRun") -> dict:
        """More fields of the observation (also when the trial failed)."""
        return {}


class BetweenAudits(Trial):
    """A trial whose first stage is judged right after its workload, before
    any audit (for harm that the next audit repairs), by the step checker's
    invariants (:mod:`harness.oracle.stepchecks`): what Nova reconciles
    only at the next audit is a gap there, not a violation; usage out of
    bounds always is one."""

    def check_before(self, run: "TrialRun", world) -> list:
        from harness.oracle import stepchecks
        snap = stepchecks.observe(world, "after the workload")
        out, _gaps = stepchecks.accounting(snap, world.ledger)
        return out + _extra(self, world, snap)


@dataclasses.dataclass
class OperationDetail:
    """What an operation's workload (the conductor's,
    :class:`harness.verdicts.conductor.ConductorTrial`) saw besides the
    invariants: its placement calls (the middleware's log, ``(n, method,
    path, status, fault)``) and those a fault fired on, the caller's
    result, the state the allocations reached (``achieved``), the
    prep_resize attempts, reschedules, scheduler calls, retry back-off (s),
    counts, every log line ``(levelno, levelname, logger, text)`` (for the
    secret scan), the identifiers a log line may name, and
    ``max_attempts``.  The workload fills ``TrialRun.details`` (and its
    ``observed()``) with these keys; any other key is a harness error."""
    calls: list = dataclasses.field(default_factory=list)
    fired: list = dataclasses.field(default_factory=list)
    result: dict = dataclasses.field(default_factory=dict)
    achieved: str = ""
    attempts: list = dataclasses.field(default_factory=list)
    reschedules: list = dataclasses.field(default_factory=list)
    scheduler: list = dataclasses.field(default_factory=list)
    backoff: float = 0.0
    lines: list = dataclasses.field(default_factory=list)
    identifiers: dict = dataclasses.field(default_factory=dict)
    counts: dict = dataclasses.field(default_factory=dict)
    max_attempts: int = 0


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
    # The fault's (or condition's) data-authority class and who can
    # produce it; the mechanisms (harness.oracle.paths) that ran while the
    # fault or condition was present, with their hit counts.
    authority: str | None = None
    reach: str | None = None
    paths: dict = dataclasses.field(default_factory=dict)
    whatif: str | None = None          # label of a counterfactual trial
    rep: int = 0                       # repetition, for timing results
    # An operation's workload (the conductor's): what else it saw.
    detail: OperationDetail | None = None
    # Re-runs this trial with a what-if (a WhatIf factory) applied:
    # ``replay(whatif) -> Observation``.  Not part of the record.
    replay: Callable | None = dataclasses.field(
        default=None, repr=False, compare=False)
    # The replays made so far, by what-if name (see :func:`replay`): the
    # scenarios sharing this observation share them.  Not in the record.
    replays: dict = dataclasses.field(default_factory=dict, repr=False,
                                      compare=False)

    @property
    def calls(self) -> list:
        """The operation's placement calls (``detail.calls``); read by
        :func:`harness.verdicts.conductor_workloads.shape_variants`."""
        return self.detail.calls if self.detail is not None else []

    def logged(self, prefix: str) -> int:
        """How many records whose message template starts with ``prefix``."""
        return sum(n for t, n in self.messages.items()
                   if t.startswith(prefix))

    @property
    def clean(self) -> bool:
        return self.error is None and not any(self.violations.values())


def run_trial(trial: Trial, trace: Trace | None = None) -> Observation:
    """Build a world for ``trial``, run it through every stage, observe.

    The one trial runner: every kind of trial (the tracker's workloads,
    the conductor's operations) runs through it; what differs is the
    trial's hooks (:class:`Trial`)."""
    trace = trace or Trace()
    run = TrialRun(trial, trace)
    try:
        world = trial.build_world(trace)
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
        run.finish()
    return run.observation()


def prepare_shared(trial: Trial, trace: Trace) -> tuple:
    """What a group mode (trials from snapshots, a sweep) shares: the run
    of its first trial, whose world is built and driven to the point of
    interest (:meth:`TrialRun.prepare`).  Returns ``(run, world)``; a
    failure is the run's ``error`` (every trial of the group reports it),
    and the caller cleans the world up (None: it was not built).  Only an
    interruption (time limit, Ctrl-C) escapes, with the world cleaned
    up."""
    base = TrialRun(trial, trace)
    world = None
    try:
        world = trial.build_world(trace)
        world.setUp()
        base.prepare(world)
    except Exception:  # noqa: BLE001 - every trial reports it
        base.error = traceback.format_exc()
    except BaseException:
        release_shared(base, world)
        raise
    return base, world


def release_shared(base: "TrialRun", world) -> None:
    """Undo :func:`prepare_shared`: the world cleaned up (if it was built),
    the run's tracing and log capture stopped."""
    try:
        if world is not None:
            world.cleanUp()
    finally:
        base.finish()


class TrialRun:
    """One trial's stages, split where a snapshot can be taken.

    :meth:`prepare` applies the trial's what-if, runs the workload
    (``populate``) and the first checks (``before``);
    :meth:`inject_and_observe` injects the fault, runs the remaining
    stages and clears it.  :func:`run_trial` runs both on a fresh world;
    :mod:`harness.verdicts.snapshots` runs ``prepare`` once and
    ``inject_and_observe`` in a copy of the process per trial (after
    :meth:`retarget` to that trial); :mod:`harness.verdicts.sweep` runs
    ``prepare`` once and each trial's ``inject_and_observe`` one after
    another in the same world (:meth:`successor`).  The trial's hooks say
    what each stage does in its workload.
    """

    def __init__(self, trial: Trial, trace: Trace, capture=None):
        from harness.oracle.paths import PathTracer
        from harness.verdicts.causation import watched_mechanisms
        self.trace = trace
        # a sweep's trials share the first one's log capture, each keeping
        # the records from its start on
        self._owns_capture = capture is None
        self.capture = capture if capture is not None \
            else trial.log_capture()
        if self._owns_capture:
            self.capture.setUp()
        self.records_from = len(self.capture.records)
        self.violations = {stage: [] for stage in STAGES}
        self.error = None
        self.during_error = None
        self.calls = 0
        self.skipped = None
        self.skip_kind = None
        self.coerced = None
        self.words: list[str] = []
        self.tracer = PathTracer(watched_mechanisms())
        self.whatif = None
        # the workload's own state (the operation it ran, what it saw)
        self.op = None
        self.details: dict = {}
        self.retarget(trial)

    def retarget(self, trial: Trial) -> None:
        """Make this (prepared) run the run of ``trial``, one of the trials
        sharing its workload."""
        self.trial = trial
        self.started = time.monotonic()
        self.fault_desc = trial.condition
        self.authority = trial.condition_authority if trial.condition \
            else None
        self.reach = (trial.condition_reach or None) if trial.condition \
            else None

    def prepare(self, world) -> None:
        trial, trace = self.trial, self.trace
        if trial.whatif is not None:
            self.whatif = trial.whatif()
            world.useFixture(self.whatif)
            trace.step("note", "counterfactual applied",
                       whatif=self.whatif.describe())
        if trial.condition:
            self.tracer.setUp()
        trial.populate(self, world)
        first = "under_fault" if trial.condition else "before"
        self.violations[first] = trial.check_before(self, world)

    def inject_and_observe(self, world) -> None:
        trial = self.trial
        fault = trial.fault(world) if trial.fault else None
        # the placement calls from here on are the operation's
        self.mark = len(world.placement.calls)
        if fault is not None:
            self.fault_desc = fault.describe()
            self.authority, self.reach = fault.authority_class(), fault.who()
            self.tracer.setUp()
            try:
                fault.setUp()
            except Exception as exc:  # noqa: BLE001 - classified
                why = _not_applicable(exc)
                if why is None:
                    raise
                raise _Skip(str(why), why.kind) from None
            self.coerced = "; ".join(fault.coercions()) or None
            fault.learn(world.ledger)
        try:
            trial.under_fault(self, world, fault)
        finally:
            if fault is not None:
                fault.cleanUp()
                if not trial.paths_after_clear:
                    self.tracer.stop()
                world.ledger.forget_learned()
        trial.after_fault(self, world)
        self.violations["after_clear"] = trial.check_after(self, world)
        trial.end(self, world)
        self.calls = len(world.placement.calls)

    def successor(self, trial: Trial, before: list) -> "TrialRun":
        """The run of ``trial`` in this run's world, after this one: a
        sweep's next trial.  Its ``before`` is what the world showed last
        (``before``); its log records, traced paths and details are its
        own; its steps go to the same trace (the sweep cuts them out)."""
        nxt = TrialRun(trial, self.trace, capture=self.capture)
        nxt.words = list(self.words)
        nxt.violations["before"] = list(before)
        return nxt

    def skip(self, skip: Exception) -> None:
        self.skipped, self.skip_kind = skip.args
        self.trace.step("note", "variant %s" % self.skip_kind,
                        reason=self.skipped)

    def finish(self) -> None:
        """Stop tracing and capturing (the fresh path; a copy just exits).
        Once; later calls do nothing."""
        self.tracer.stop()
        if self._owns_capture:
            self._owns_capture = False
            self.capture.cleanUp()

    def observation(self) -> Observation:
        records = self.capture.records[self.records_from:]
        seen = dict(self.details, **self.trial.observed(self))
        return Observation(
            trial=self.trial.name, control=self.trial.is_control,
            fault=self.fault_desc, violations=self.violations,
            logs=relevant(records, self.words),
            messages=_message_counts(records),
            error=self.error, during_error=self.during_error,
            placement_calls=self.calls, skipped=self.skipped,
            skip_kind=self.skip_kind, coerced=self.coerced,
            trace=self.trace, duration=time.monotonic() - self.started,
            authority=self.authority, reach=self.reach,
            paths=dict(self.tracer.hits),
            whatif=self.whatif.label if self.whatif is not None else None,
            replay=functools.partial(_replay, self.trial),
            detail=OperationDetail(**seen) if seen else None)


def _replay(trial: Trial, whatif: Callable) -> Observation:
    """``trial`` again, in a world where ``whatif()`` is applied."""
    label = whatif().label
    return run_trial(dataclasses.replace(
        trial, name="%s [counterfactual: %s]" % (trial.name, label),
        whatif=whatif))


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


def _count(n: int, what: str) -> str:
    return "%d %s%s" % (n, what, "" if n == 1 else "s")


def _names(names: list[str], shown: int = 6) -> str:
    """Up to ``shown`` names, ``|``-separated (a name may hold commas)."""
    head = " | ".join(names[:shown])
    return head + (" | ... %d more" % (len(names) - shown)
                   if len(names) > shown else "")


def describe_space(observations) -> str:
    """The fault space of ``observations``, from the faults themselves:
    how many variants, their faults by name (``workload / fault`` trial
    names: faults x workloads), their data-authority classes, and how
    many did not apply.  One repetition's worth (the others repeat it)."""
    first = min((o.rep for o in observations), default=0)
    variants = [o for o in observations if not o.control and o.rep == first]
    if not variants:
        return "no variant"
    by_workload: dict[str, list[str]] = {}
    for o in variants:
        workload, sep, fault = o.trial.partition(" / ")
        if not sep:
            workload, fault = "", o.trial
        by_workload.setdefault(workload, []).append(fault)
    lists = list(by_workload.values())
    workloads = [w for w in by_workload if w]
    if len(lists) > 1 and all(f == lists[0] for f in lists):
        text = "%s (%s) x %s (%s)" % (
            _count(len(lists[0]), "fault"), _names(lists[0]),
            _count(len(workloads), "workload"), _names(workloads))
    else:
        text = "; ".join(
            "%s%s (%s)" % ("%s: " % w if w else "",
                           _count(len(f), "fault" if w else "condition"),
                           _names(f))
            for w, f in by_workload.items())
    classes: dict[str, int] = {}
    for o in variants:
        key = o.authority or "none"
        classes[key] = classes.get(key, 0) + 1
    kinds: dict[str, int] = {}
    for o in variants:
        if o.skipped:
            kinds[o.skip_kind or "skipped"] = kinds.get(
                o.skip_kind or "skipped", 0) + 1
    reps = len({o.rep for o in observations})
    return "%s: %s; fault classes: %s%s%s" % (
        _count(len(variants), "variant"), text, ", ".join(
            "%s %d" % kv for kv in sorted(classes.items())),
        "".join("; %d %s" % (n, k) for k, n in sorted(kinds.items())),
        "; each in %d repetitions" % reps if reps > 1 else "")


def space_label(o: Observation) -> str:
    """How a variant appears in a verdict's fault space."""
    if o.skipped:
        return "%s (%s: %s)" % (o.trial, o.skip_kind or "skipped", o.skipped)
    if o.coerced:
        return "%s (%s)" % (o.trial, o.coerced)
    return o.trial


def _audit(world, via, hosts=None) -> list:
    """Audit ``hosts`` (None: every host) each way in ``via``."""
    audits = []
    for how in via:
        for host in hosts or [None]:
            audits.extend(world.audit(host, via=how))
    return audits


def _audit_and_check(world, capture, via, label, trial=None):
    mark = capture.mark()
    audits = _audit(world, via, getattr(trial, "audit_hosts", None))
    service_records = capture.since(mark) if "service" in via else []
    snap = world.snapshot(label)
    return (inv.check_all(snap, world.ledger)
            + inv.audit_completed(audits, snap)
            + inv.service_logged_errors(service_records)
            + (_extra(trial, world, snap) if trial is not None else []))


class Families:
    """Observations shared by the scenarios of one process: each *family*
    (a function ``family(run, *args)`` that runs trials through ``run``,
    a :class:`Judge`) runs once per process, the first time a scenario
    asks for it, and every scenario asking later gets the same
    observations (and their replays, kept on each observation).  The
    pytest plugin keeps one for the session; a :class:`Judge` made
    without one has its own."""

    def __init__(self):
        self._done: dict = {}
        self.computed_by: dict = {}

    @staticmethod
    def key(family, args) -> tuple:
        return (family.__module__, family.__qualname__, tuple(args))

    def get(self, judge: "Judge", family, args) -> tuple:
        key = self.key(family, args)
        if key not in self._done:
            run = judge.runner()
            family(run, *args)
            self._done[key] = (tuple(run.observations), dict(run.traces))
            self.computed_by[key] = judge.scenario
        return self._done[key]


def _known_findings():
    """The catalogue's finding ids (the plugin refuses a bad catalogue
    before any scenario runs)."""
    from harness.verdicts import catalogue
    try:
        return catalogue.load().findings
    except catalogue.CatalogueError:
        return None


class Judge:
    """Collects a scenario's trials and decides its verdict.

    ``families``: the process's shared observations (:class:`Families`);
    ``guard()``: called before any trial runs, raises when this process
    must not run trials (the plugin's tainted-process guard);
    ``sources``: files whose checks name invariants too (the scenario's
    module; see :mod:`harness.verdicts.names`)."""

    def __init__(self, scenario: str, claims: Iterable[str],
                 trace_echo=None, proposition: dict | None = None,
                 families: Families | None = None,
                 guard: Callable | None = None, sources=()):
        self.scenario = scenario
        # None: the catalogue's proposition for the first id
        self.proposition = proposition
        self.claims = list(claims)
        self.observations: list[Observation] = []
        self.outcome: Outcome | None = None
        self.trace_echo = trace_echo
        self.started = time.monotonic()
        self.seed: int | None = None
        self.traces: dict[str, Trace] = {}
        self.families = families if families is not None else Families()
        self.guard = guard
        self.sources = tuple(sources)
        # (observation, what-if name, replayed observation) for every
        # replay a decision of this judge used
        self.replayed: list[tuple] = []
        # set by the plugin when the scenario named something unknown
        self.usage_error: str | None = None

    def runner(self) -> "Judge":
        """A judge that runs trials for this one (a family's), with its
        step printer, guard and shared observations."""
        run = Judge("%s (trials)" % self.scenario, self.claims,
                    trace_echo=self.trace_echo, families=self.families,
                    guard=self.guard, sources=self.sources)
        run.seed = self.seed
        return run

    def _may_run(self) -> None:
        if self.guard is not None:
            self.guard()

    # -- running ---------------------------------------------------------
    def trial(self, trial: Trial, rep: int = 0) -> Observation:
        self._may_run()
        echo = self.trace_echo
        if echo is not None and hasattr(echo, "trial_started"):
            echo.trial_started(trial)
        trace = Trace(echo=echo)
        obs = run_trial(trial, trace)
        obs.rep = rep
        if echo is not None and hasattr(echo, "trial_finished"):
            echo.trial_finished(trial, obs)
        self.traces[trial.name if not rep else "%s #%d" % (trial.name, rep)
                    ] = trace
        self.observations.append(obs)
        return obs

    @staticmethod
    def repetitions(default: int = 20) -> range:
        """How often a timing-dependent observation is repeated:
        ``HARNESS_REPETITIONS`` or ``default``."""
        import os
        raw = os.environ.get("HARNESS_REPETITIONS", "")
        n = int(raw) if raw.strip().isdigit() and int(raw) > 0 else default
        return range(n)

    def trials(self, trials: Iterable[Trial]) -> list[Observation]:
        """Run several trials; consecutive ones over the same workload start
        from one snapshot of it (:mod:`harness.verdicts.snapshots`), the
        others (and all of them with ``HARNESS_SNAPSHOTS=0``) from fresh
        worlds through :meth:`trial`.  Same observations either way."""
        self._may_run()
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
                                  run_group(group, traces, fresh)):
                if t.name not in fresh_names:
                    self._observed_elsewhere(t, tr, obs)
                out.append(obs)
        return out

    def sweep(self, name: str, setup: Callable, faults: dict,
              world_kwargs=None, audit_via=("tracker",), checks: tuple = (),
              audit_hosts=None) -> list[Observation]:
        """A control for ``setup`` and one variant per fault, all in ONE
        world, one after another (:mod:`harness.verdicts.sweep`): for
        fault spaces too large for a world, or a copy of one, per trial.
        Each trial is a :class:`Trial` run by the same hooks as any other:
        fault class, traced paths and replay are set as for any trial."""
        self._may_run()
        kw = dict(world_kwargs or {})
        trials = [Trial(name + " [control]", setup, world_kwargs=kw,
                        audit_via=tuple(audit_via), checks=checks,
                        audit_hosts=audit_hosts)] + [
            Trial("%s / %s" % (name, fname), setup, factory, world_kwargs=kw,
                  audit_via=tuple(audit_via), checks=checks,
                  audit_hosts=audit_hosts)
            for fname, factory in faults.items()]
        traces = [Trace() for _ in trials]
        out = run_sweep_group(trials, traces)
        for t, tr, obs in zip(trials, traces, out):
            self._observed_elsewhere(t, tr, obs)
        return out

    def _observed_elsewhere(self, trial, trace, obs):
        """Record (and, with a step printer, print) a trial observed away
        from :meth:`trial` (in a copy of the process, or in a sweep's
        shared world), as :meth:`trial` does for one run here."""
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

    # -- observations shared between scenarios ---------------------------
    def shared(self, family: Callable, *args) -> tuple:
        """(observations, traces by trial) of ``family(run, *args)``,
        computed once per process (:class:`Families`)."""
        key = Families.key(family, args)
        fresh = key not in self.families._done
        out = self.families.get(self, family, args)
        echo = self.trace_echo
        if not fresh and echo is not None and hasattr(echo, "shared"):
            echo.shared(family.__name__, len(out[0]),
                        self.families.computed_by.get(key))
        return out

    def observe(self, family: Callable, *args,
                keep: Callable | None = None) -> list[Observation]:
        """Decide from ``family``'s observations (those ``keep`` accepts,
        controls included): they and their traces join this judge's."""
        observations, traces = self.shared(family, *args)
        chosen = [o for o in observations if keep is None or keep(o)]
        names = {o.trial for o in chosen}
        self.observations.extend(chosen)
        self.traces.update({k: v for k, v in traces.items() if k in names})
        return chosen

    def replays(self, whatif: str) -> list[tuple]:
        """(observation, its replay) for every replay under ``whatif``
        the decisions of this judge used."""
        return [(o, r) for o, name, r in self.replayed if name == whatif]

    # -- deciding --------------------------------------------------------
    def decide(self, hypothesis: str, stages: Iterable[str] = STAGES[1:],
               invariants: Iterable[str] | None = None,
               fault_space: str = "", max_evidence: int = 12,
               predicts: dict | None = None,
               where: Callable | None = None,
               where_label: str = "",
               proposition: dict | None = None,
               counterfactual: str | None = None,
               explained_by: dict | None = None,
               require_path: bool = True,
               max_replays: int = 8) -> Outcome:
        """Decide from the observations.

        ``stages`` and ``invariants`` say which violations the claim predicts
        (``invariants=None``: any invariant).  ``predicts`` maps stage ->
        invariants (or None) when the prediction differs per stage.
        ``where(observation)`` restricts the evidence to variants in which
        a condition the claim is about actually arose (``where_label``
        says what it is); the other variants are still listed in the fault
        space.

        The proposition (the catalogue's, for the scenario's first id,
        unless given) says what else a harm needs to confirm
        (:mod:`harness.verdicts.causation`): a fault of a class its trigger
        covers, the blamed mechanism traced in that trial, no nearby
        finding's what-if (``explained_by``: finding id -> what-if name)
        removing it, and the claim's counterfactual (``counterfactual``,
        default the proposition's first) removing it.  At most
        ``max_replays`` harmful variants are replayed per what-if.
        Observations from several repetitions (``rep``) are decided one
        repetition at a time; the headline needs the same verdict in all.
        """
        where_ = "scenario %s, decide()" % self.scenario
        names.check_stages(list(stages) + list(predicts or {}), where_)
        names.check_invariants(invariants, where_, self.sources)
        for inv_names in (predicts or {}).values():
            names.check_invariants(inv_names, where_, self.sources)
        names.check_whatif(counterfactual, where_)
        for fid, whatif in (explained_by or {}).items():
            names.check_finding(fid, _known_findings(),
                                where_ + ", explained_by")
            names.check_whatif(whatif, where_ + ", explained_by")
        reps = sorted({o.rep for o in self.observations})
        if len(reps) > 1:
            return self._decide_repeated(reps, dict(
                hypothesis=hypothesis, stages=stages, invariants=invariants,
                fault_space=fault_space, max_evidence=max_evidence,
                predicts=predicts, where=where, where_label=where_label,
                proposition=proposition, counterfactual=counterfactual,
                explained_by=explained_by, require_path=require_path,
                max_replays=max_replays))
        if predicts is None:
            wanted_of = {st: (set(invariants) if invariants is not None
                              else None) for st in stages}
        else:
            wanted_of = {st: (set(v) if v is not None else None)
                         for st, v in predicts.items()}
        stages = tuple(wanted_of)
        prop = self._proposition() if proposition is None else proposition
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
        scope = describe_space(self.observations) + (
            "; %s" % fault_space if fault_space else "")
        common = dict(scenario=self.scenario, claims=self.claims,
                      hypothesis=hypothesis, fault_space=space,
                      trials=len(self.observations),
                      controls=len(controls), seed=self.seed,
                      stats=self._stats(),
                      proposition=prop.get("statement", ""))
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

        def harm_of(o) -> list[Evidence]:
            return [self._evidence(o, st, v) for st in stages
                    for v in o.violations.get(st, [])
                    if wanted_of[st] is None or v.invariant in wanted_of[st]]

        harmful = [(o, ev) for o in arose for ev in [harm_of(o)] if ev]
        sift = _Sift(prop, harm_of, require_path, max_replays,
                     counterfactual, explained_by or {}, controls,
                     self._replay, self._findings_of(
                         prop, proposition is None, explained_by or {},
                         None if None in wanted_of.values() else set().union(
                             *wanted_of.values())))
        confirmed = sift.run(harmful)
        causation = sift.causation(harmful)
        if sift.invalid:
            return self._finish(Outcome(
                verdict=Verdict.INCONCLUSIVE,
                summary="the counterfactual breaks a fault-free world, so "
                        "it cannot show cause: %s" % sift.invalid,
                causation=causation, excluded=sift.excluded_rows(),
                **common))
        if confirmed:
            for o, ev in confirmed:
                note = sift.mechanism_note(o)
                for e in ev if note else ():
                    e.detail = "%s; %s" % (e.detail, note) if e.detail \
                        else note
            evidence = [e for _, ev in confirmed for e in ev]
            hit = [o.trial for o, _ in confirmed]
            reach = causation_mod.reachability(confirmed)
            classes: dict[str, int] = {}
            for o, _ in confirmed:
                key = o.authority or "none"
                classes[key] = classes.get(key, 0) + 1
            return self._finish(Outcome(
                verdict=Verdict.CONFIRMED,
                summary="%d of %d variants%s broke %s through the blamed "
                        "mechanism%s; first: %s" % (
                            len(hit), len(arose),
                            (" in which %s" % where_label) if where else "",
                            ", ".join(sorted({e.invariant
                                              for e in evidence})),
                            sift.cause_note(), evidence[0].line()),
                evidence=_spread(evidence, max_evidence),
                causation=causation, fault_classes=classes,
                confirming=[dict({"variant": o.trial,
                                  "authority": o.authority or "none",
                                  "reach": o.reach or ""},
                                 **({"through": sift.mechanism_note(o)}
                                    if sift.mechanism_note(o) else {}))
                            for o, _ in confirmed],
                excluded=sift.excluded_rows(),
                reachability=reach,
                severity=causation_mod.severity(reach), **common))
        seen = ""
        if harmful:
            seen = ("; harm was seen in %d variant(s) but not caused by the "
                    "claim's mechanism (%s)" % (
                        len(harmful), sift.exclusion_summary()))
        return self._finish(Outcome(
            verdict=Verdict.REFUTED,
            summary="no variant showed the claimed harm through the blamed "
                    "mechanism%s; fault space: %s; %s; stages checked: "
                    "%s%s" % (
                        (" (counted: the %d of %d variants in which %s)"
                         % (len(arose), len(variants), where_label))
                        if where else "", scope,
                        _count(len(controls), "clean control"),
                        ", ".join(stages), seen),
            causation=causation, excluded=sift.excluded_rows(),
            scope=scope, **common))

    def _replay(self, obs: Observation, whatif_name: str):
        """:func:`replay`, recorded as used by this judge's decision."""
        r = replay(obs, whatif_name)
        if r is not None:
            self.replayed.append((obs, whatif_name, r))
        return r

    def _findings_of(self, prop: dict, from_catalogue: bool,
                     explained_by: dict, predicted) -> dict:
        """For each finding of ``explained_by``: ``outside`` (None if it
        lies inside the claim, else why it lies outside), ``where`` its
        mechanism is and its ``harm`` (invariants), from the catalogue
        (:func:`causation.finding_outside`);
        ``predicted``: the invariants this decision counts as harm (None:
        any)."""
        from harness.verdicts import catalogue
        if not explained_by:
            return {}
        try:
            cat = catalogue.load()
        except catalogue.CatalogueError:
            return {}
        functions = {m.function for m in prop.get("mechanism", [])}
        if from_catalogue and self.claims and self.claims[0] in cat.claims:
            functions |= cat.claims[self.claims[0]].functions()
        out = {}
        for fid in explained_by:
            finding = cat.findings[fid].proposition
            out[fid] = {
                "outside": causation_mod.finding_outside(
                    functions, prop.get("trigger_classes") or [], finding,
                    predicted),
                "where": [m.where() for m in finding.get("mechanism", [])],
                "harm": set(finding.get("harm_invariants") or [])}
        return out

    def _proposition(self) -> dict:
        if self.proposition is not None:
            return dict(self.proposition)
        from harness.verdicts import catalogue
        try:
            cat = catalogue.load()
            return dict(cat.entry(self.claims[0]).proposition)
        except (catalogue.CatalogueError, catalogue.UnknownClaim,
                IndexError):
            return {}

    def _decide_repeated(self, reps, kwargs) -> Outcome:
        """One decision per repetition; the headline only when all agree."""
        everything = self.observations
        per: dict[int, Outcome] = {}
        for rep in reps:
            sub = Judge(self.scenario, self.claims,
                        proposition=self.proposition, sources=self.sources)
            sub.seed = self.seed
            sub.observations = [o for o in everything if o.rep == rep]
            per[rep] = sub.decide(**kwargs)
            self.replayed.extend(sub.replayed)
        counts: dict[str, int] = {}
        for out in per.values():
            counts[out.verdict.value] = counts.get(out.verdict.value, 0) + 1
        n = len(reps)
        confirmed = counts.get("CONFIRMED", 0)
        repetitions = {"runs": n, "outcomes": counts,
                       "rate": round(confirmed / n, 3)}
        first = per[reps[0]]
        if len(counts) == 1:
            out = dataclasses.replace(first)
            out.trials = len(everything)
            out.summary = "in all %d repetitions: %s" % (n, first.summary)
        else:
            pick = next((o for o in per.values()
                         if o.verdict is Verdict.CONFIRMED), first)
            out = dataclasses.replace(
                pick, verdict=Verdict.INCONCLUSIVE,
                summary="the outcome depends on timing: %s in %d of %d "
                        "repetitions (rate %.2f); e.g. %s" % (
                            "CONFIRMED", confirmed, n, confirmed / n,
                            pick.summary))
            out.trials = len(everything)
        out.repetitions = repetitions
        self.observations = everything
        return self._finish(out)

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


# ---------------------------------------------------------------------------
# from harm seen to harm caused (see harness.verdicts.causation)
# ---------------------------------------------------------------------------
def replay(obs: Observation, whatif_name: str) -> Observation | None:
    """``obs``'s trial again under the named what-if, once (kept on the
    observation: scenarios that share observations share their replays
    too)."""
    from harness.verdicts.counterfactual import WHAT_IFS
    if obs.replay is None:
        return None
    if whatif_name not in obs.replays:
        obs.replays[whatif_name] = obs.replay(WHAT_IFS[whatif_name])
    return obs.replays[whatif_name]


def _by_distinct_fault(pairs):
    """Interleave so the first items cover as many faults as possible."""
    seen, first, rest = set(), [], []
    for pair in pairs:
        key = (pair[0].fault or "").split(" + ")[0]
        (rest if key in seen else first).append(pair)
        seen.add(key)
    return first + rest


class _Sift:
    """Sorts harmful variants into confirmed and excluded, with reasons."""

    def __init__(self, prop, harm_of, require_path, max_replays,
                 counterfactual, explained_by, controls, replay_of,
                 findings=None):
        self.prop = prop
        self.replay = replay_of
        # finding id -> its relation to the claim: None when it lies
        # inside the claim (it details it), else why it lies outside
        # (causation.finding_outside), where its mechanism is, its harm
        self.findings = findings or {}
        self.harm_of = harm_of
        self.labels = [m.label for m in prop.get("mechanism", [])]
        self.mechanisms = [m.where() for m in prop.get("mechanism", [])]
        self.classes = set(prop.get("trigger_classes") or [])
        self.require_path = require_path
        self.max_replays = max_replays
        self.cf = counterfactual or next(iter(prop.get("counterfactual")
                                              or []), None)
        self.why_none = prop.get("no_counterfactual", "")
        self.explained_by = explained_by
        self.controls = controls
        self.excluded: list[tuple[Observation, str]] = []
        self.invalid: str | None = None
        self.through_path = 0
        self.replayed = self.removed = self.kept = self.unreplayed = 0
        self.by_finding: dict[str, int] = {}
        self.detailed: dict[str, int] = {}
        self.through: dict[str, str] = {}      # variant -> finding id
        self.confirmed_count = 0

    def inside(self, fid) -> bool:
        return fid in self.findings and self.findings[fid]["outside"] is None

    def _removes_own_harm(self, fid, ev, replayed) -> bool:
        """Whether the trial showed the harm the (inside) finding names and
        its what-if's replay does not (the replay may keep other harm: a
        what-if that skips the migration instead of failing on it leaves
        that migration uncounted)."""
        own = self.findings[fid]["harm"]
        if not own:        # it names none: all of the harm must go
            return not self.harm_of(replayed)
        return any(e.invariant in own for e in ev) and not any(
            e.invariant in own for e in self.harm_of(replayed))

    def _order(self, kept) -> list:
        """The order variants are replayed in: those showing the harm of a
        finding inside the claim first (its what-if can show the claim's
        mechanism at work there), each part covering distinct faults
        first."""
        harm = set().union(*[f["harm"] for fid, f in self.findings.items()
                             if self.inside(fid)])
        ordered = _by_distinct_fault(kept)
        first = [p for p in ordered
                 if any(e.invariant in harm for e in p[1])]
        taken = {id(p[0]) for p in first}
        return first + [p for p in ordered if id(p[0]) not in taken]

    def _exclude(self, o, why):
        self.excluded.append((o, why))

    def run(self, harmful):
        kept = []
        for o, ev in harmful:
            cls = o.authority or "none"
            if self.classes and cls not in self.classes:
                self._exclude(o, "outside the claim's trigger: a fault of "
                                 "class %s" % cls)
                continue
            traced = [lb for lb in self.labels if lb in o.paths]
            if self.require_path and traced and \
                    not any(o.paths[lb] for lb in traced):
                self._exclude(o, "the blamed path (%s) did not run"
                              % ", ".join(traced))
                continue
            self.through_path += 1
            kept.append((o, ev))
        if self.cf and self.controls and kept:
            r = self.replay(self.controls[0], self.cf)
            if r is not None and not r.clean:
                self.invalid = "%s: %s" % (self.cf, r.error or "; ".join(
                    "%s %s" % (st, v.invariant)
                    for st, vs in r.violations.items() for v in vs))
                return []
        # Replays cost a trial each: the variants are taken in an order
        # that covers distinct faults first, and at most ``max_replays``
        # are replayed under the claim's counterfactual (and at most three
        # times as many under the findings' what-ifs).
        confirmed, budget = [], 3 * self.max_replays
        for o, ev in self._order(kept):
            if self.replayed >= self.max_replays or (
                    self.explained_by and budget <= 0):
                self.unreplayed += 1
                self._exclude(o, "not replayed (at most %d variants are; "
                                 "the first cover distinct faults)"
                              % self.max_replays)
                continue
            explained = detailed = None
            for fid, name in self.explained_by.items():
                budget -= 1
                r = self.replay(o, name)
                if r is None or r.error is not None:
                    continue
                if self.inside(fid) and self._removes_own_harm(fid, ev, r):
                    detailed = fid
                    break
                if not self.inside(fid) and not self.harm_of(r):
                    explained = (fid, name)
                    break
            if detailed is not None:
                # The finding lies inside the claim: its what-if changes a
                # line of a function the claim names, and the harm the
                # finding names (the claim predicts it) is gone under it:
                # the claim's own trigger caused the claim's harm through
                # the claim's code, as the finding details.
                self.detailed[detailed] = self.detailed.get(detailed, 0) + 1
                self.through[o.trial] = detailed
                own = self.findings[detailed]["harm"]
                confirmed.append((o, sorted(
                    ev, key=lambda e: e.invariant not in own)))
                continue
            if explained:
                fid, name = explained
                self.by_finding[fid] = self.by_finding.get(fid, 0) + 1
                self._exclude(o, "explained by finding %s: the harm is "
                                 "gone under its what-if (%s)" % (fid, name))
                continue
            if not self.cf:
                confirmed.append((o, ev))
                continue
            r = self.replay(o, self.cf)
            if r is None or r.error is not None:
                self._exclude(o, "the counterfactual could not be replayed"
                              + ("" if r is None else ": %s"
                                 % r.error.strip().splitlines()[-1]))
                continue
            self.replayed += 1
            if self.harm_of(r):
                self.kept += 1
                self._exclude(o, "the harm remains when only the blamed "
                                 "mechanism is changed (%s): not caused by "
                                 "it" % self.cf)
            else:
                self.removed += 1
                confirmed.append((o, ev))
        self.confirmed_count = len(confirmed)
        return confirmed

    def causation(self, harmful) -> dict:
        out = {"mechanism": self.mechanisms,
               "path": {"harmful_variants": len(harmful),
                        "through_the_mechanism": self.through_path}}
        if self.cf:
            from harness.verdicts.counterfactual import WHAT_IFS
            out["counterfactual"] = {
                "name": self.cf, "what": WHAT_IFS[self.cf]().what,
                "replayed": self.replayed, "harm_removed": self.removed,
                "harm_remained": self.kept,
                "not_replayed": self.unreplayed}
        else:
            out["counterfactual"] = {"name": None,
                                     "why_none": self.why_none}
        if self.by_finding:
            out["explained_by_findings"] = dict(self.by_finding)
        if self.detailed:
            out["detailed_by_findings"] = {
                fid: {"variants": n, "whatif": self.explained_by[fid],
                      "mechanism": self.findings[fid]["where"]}
                for fid, n in self.detailed.items()}
        if self.findings:
            out["findings"] = {
                fid: "inside the claim: its trigger classes are the "
                     "claim's and its mechanism is in a function the "
                     "claim names, so harm it explains confirms the claim"
                if f["outside"] is None
                else "outside the claim: %s" % f["outside"]
                for fid, f in self.findings.items()}
        return out

    def mechanism_note(self, o) -> str:
        """The concrete mechanism a confirmed variant went through, and
        the finding that details it ("" when none)."""
        fid = self.through.get(o.trial)
        if fid is None:
            return ""
        return "through %s, detailed by finding %s" % (
            "; ".join(self.findings[fid]["where"]) or "its mechanism", fid)

    def cause_note(self) -> str:
        parts = []
        if self.detailed:
            parts.append("; ".join(
                "%d through the mechanism finding %s details (%s): the "
                "harm it names (%s) gone under its what-if %s" % (
                    n, fid, "; ".join(self.findings[fid]["where"]),
                    ", ".join(sorted(self.findings[fid]["harm"]))
                    or "all of it", self.explained_by[fid])
                for fid, n in self.detailed.items()))
        if self.cf:
            if self.replayed or not self.detailed:
                parts.append("the counterfactual %s removed it in %d of %d "
                             "replayed" % (self.cf, self.removed,
                                           self.replayed))
        elif len(self.through) < self.confirmed_count:
            parts.append("no counterfactual: %s"
                         % (self.why_none or "none given"))
        return " (%s)" % "; ".join(parts) if parts else ""

    def exclusion_summary(self) -> str:
        reasons: dict[str, int] = {}
        for _, why in self.excluded:
            key = why.split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        return "; ".join("%d %s" % (n, k) for k, n in reasons.items())

    def excluded_rows(self) -> list[dict]:
        return [{"variant": o.trial, "authority": o.authority or "none",
                 "why": why} for o, why in self.excluded]


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


# ---------------------------------------------------------------------------
# Trials from a snapshot: one world driven once, a copy of the process per
# trial (the copies: harness.verdicts.snapshots)
# ---------------------------------------------------------------------------
def run_group(trials, traces, fresh) -> list:
    """Observations of ``trials`` (one group of
    :func:`harness.verdicts.snapshots.groups`), each from a copy of one
    world driven to the point of interest.

    ``traces[i]`` receives trial i's steps (the shared workload's, then its
    own).  ``fresh(trial, trace)`` runs one trial on a fresh world; it is
    used for every trial when the group cannot fork (see
    :mod:`harness.verdicts.snapshots`).
    """
    from harness.world import novaenv

    reason = snapshots.static_reason(trials[0])
    if reason is not None:
        snapshots.LAST_FALLBACK = reason
        return [fresh(t, tr) for t, tr in zip(trials, traces)]
    shared = Trace()
    base, world = prepare_shared(trials[0], shared)
    try:
        if base.error is None:
            # Nova's pools keep idle workers for a second; Nova shuts them
            # down before it forks its own workers, and so does this.
            novaenv.quiesce_thread_pools()
            reason = snapshots.thread_reason()
        if reason is not None:
            snapshots.LAST_FALLBACK = reason
            release_shared(base, world)
            world = None
            out = []
            for i, (t, tr) in enumerate(zip(trials, traces)):
                if i == 0:
                    tr.step("note", "snapshot not used, fresh worlds",
                            reason=reason)
                out.append(fresh(t, tr))
            return out
        snapshots.LAST_FALLBACK = None
        out = []
        gc.collect()
        gc.freeze()     # children then leave the shared objects' pages alone
        try:
            if base.error is not None:
                out = [_copy_error(base, t, tr)
                       for t, tr in zip(trials, traces)]
            else:
                out = _forked_all(base, world, trials, traces,
                                  snapshots.parallel())
        finally:
            gc.unfreeze()
        return out
    finally:
        release_shared(base, world)


def _copy_error(base, trial, trace):
    """The workload failed before any fault: every trial says so."""
    trace.steps = list(base.trace.steps)
    base.retarget(trial)
    obs = base.observation()
    obs.trace = trace
    return obs


def _forked(base, world, trial, trace):
    return _forked_all(base, world, [trial], [trace], 1)[0]


def _forked_all(base, world, trials, traces, jobs):
    """Every trial in its own copy of the process
    (:func:`harness.verdicts.snapshots.run_in_copies`); the observations in
    the trials' order."""
    return snapshots.run_in_copies(
        [functools.partial(_trial_in_copy, base, world, t) for t in trials],
        jobs, lambda i, payload, status, started: _received(
            trials[i], traces[i], payload, status, started))


def _trial_in_copy(run, world, trial, left) -> bytes:
    run.retarget(trial)
    limit = time_limit(snapshots.child_limit(left), grace=0)
    try:
        with limit:
            try:
                run.inject_and_observe(world)
                world._check_thread_guard()
            except _Skip as skip:
                run.skip(skip)
            except Exception:  # noqa: BLE001 - INCONCLUSIVE
                run.error = traceback.format_exc()
    except ScenarioTimeout as exc:
        run.error = "trial (from a snapshot) %s" % exc.report()
    return _pack(run.observation())


def _pack(obs) -> bytes:
    steps = obs.trace.steps if obs.trace is not None else []
    obs.trace = None
    obs.replay = None      # a closure over the trial; the parent sets it
    try:
        return pickle.dumps((obs, steps), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - something unpicklable: keep its repr
        for vs in obs.violations.values():
            for v in vs:
                v.expected = snapshots.plain(v.expected)
                v.actual = snapshots.plain(v.actual)
        for s in steps:
            s.data = {k: snapshots.plain(v) for k, v in s.data.items()}
        return pickle.dumps((obs, steps), protocol=pickle.HIGHEST_PROTOCOL)


def _received(trial, trace, payload, status, started):
    why = None
    if status is not None and os.WIFSIGNALED(status):
        why = "was killed by signal %d" % os.WTERMSIG(status)
    elif status is not None and os.WEXITSTATUS(status) != 0:
        why = "exited with status %d" % os.WEXITSTATUS(status)
    obs = steps = None
    if payload:
        try:
            obs, steps = pickle.loads(payload)
        except Exception as exc:  # noqa: BLE001
            why = (why or "") + " (its report was unreadable: %s)" % exc
    if obs is None:
        obs = Observation(
            trial=trial.name, control=trial.is_control, fault=None,
            violations={st: [] for st in STAGES}, logs=[],
            error="the trial's process (forked from the snapshot) %s "
                  "before reporting; see its stderr" % (why or "ended"),
            duration=time.monotonic() - started)
        steps = []
    trace.steps = list(steps)
    if trace.echo is not None:
        for s in trace.steps:
            trace.echo(s)
    obs.trace = trace
    obs.duration = time.monotonic() - started
    obs.replay = functools.partial(_replay, trial)
    return obs


logging.getLogger(__name__)


def run_sweep_group(trials, traces) -> list:
    """A sweep (:mod:`harness.verdicts.sweep`): the observations of
    ``trials`` (the control first), one after another in one world.  ``traces[i]`` receives trial i's steps: the
    control's include the world's and the workload's, every other trial's
    only its own part (a record of N faults stores the shared steps once,
    not N times)."""
    shared = Trace()
    base, world = prepare_shared(trials[0], shared)
    out: list = []
    try:
        run, start, failed = base, 0, None
        for i, trial in enumerate(trials):
            if i:
                run = run.successor(trial, run.violations["after_clear"]
                                    if run.skipped is None
                                    else run.violations["before"])
                start = len(shared.steps)
            if base.error is not None:
                run.error = base.error
            elif failed is not None:
                run.error = ("not run: trial %r failed before it in the "
                             "sweep's shared world, whose state is then "
                             "unknown" % failed)
            else:
                _observe_shared(run, world)
                if run.error is not None:
                    failed = trial.name
            run.tracer.stop()
            obs = run.observation()
            traces[i].steps = list(shared.steps[start:])
            obs.trace = traces[i]
            out.append(obs)
    finally:
        release_shared(base, world)
    return out


def _observe_shared(run, world) -> None:
    """One trial's own part, in the shared world."""
    try:
        run.inject_and_observe(world)
    except _Skip as skip:
        # Nothing was written (the fixture cleaned up what it had): the
        # world is as the previous trial left it.
        run.skip(skip)
    except Exception:  # noqa: BLE001 - INCONCLUSIVE, never hidden
        run.error = traceback.format_exc()
