"""Many faults, one after another, in one world: a sweep.

A full cross product of states (every ``vm_state`` with every
``task_state``, every migration status with every type) is hundreds of
faults; a world per fault would take minutes.  :func:`run_sweep` builds one
world, runs the workload, and then, for each fault in turn: takes as its
``before`` what the world showed last (anything a previous fault left
behind shows here), injects it, audits and checks (``under_fault``), clears
it, audits and checks (``after_clear``).  Each fault gives one
:class:`~harness.verdicts.judge.Observation`, so a judge decides from a sweep as
from separate trials; the first observation is the control (the world
after the workload, before any fault).

The price of sharing a world: a fault whose damage outlives its repair
dirties the ``before`` of the next one, which the judge then treats as
INCONCLUSIVE rather than blaming the next fault; the evidence names the
fault that did it (its ``after_clear``).
"""
from __future__ import annotations

import time
import traceback
from typing import Callable

from harness.oracle import invariants as inv
from harness.verdicts.judge import Observation, _not_applicable
from harness.oracle.logs import LogCapture, relevant
from harness.oracle.trace import Trace


def _check(world, via, label, checks, hosts=None):
    audits = []
    for how in via:
        for host in hosts or [None]:
            audits.extend(world.audit(host, via=how))
    snap = world.snapshot(label)
    out = inv.check_all(snap, world.ledger) + inv.audit_completed(audits,
                                                                  snap)
    for check in checks:
        out.extend(check(world, snap))
    return out


def _part(trace: Trace, start: int) -> Trace:
    """The steps of ``trace`` from ``start`` on, as a trace of their own: a
    fault's observation carries its own steps (the world, the workload and
    the control's are the control observation's), so a record of N faults
    stores the shared steps once, not N times."""
    part = Trace()
    part.steps = list(trace.steps[start:])
    part._t0 = trace._t0
    return part


def run_sweep(name: str, setup: Callable, faults: dict,
              world_kwargs: dict | None = None, audit_via=("tracker",),
              checks=(), trace: Trace | None = None,
              audit_hosts=None) -> list[Observation]:
    """A control observation, then one observation per fault (name ->
    factory(world)), all from one world.

    ``audit_hosts``: the hosts audited after each injection and clearing
    (default: all); the snapshots always cover every host.  A fault's
    ``before`` is what the previous fault's ``after_clear`` (or the
    control) saw: nothing happens to the world in between.
    """
    from harness.world.deployment import World

    trace = trace or Trace()
    capture = LogCapture()
    capture.setUp()
    out: list[Observation] = []
    started = time.monotonic()
    try:
        world = World(trace=trace, **(world_kwargs or {}))
        world.setUp()
        try:
            setup(world)
            words = [i.uuid for i in world.instances.values()]
            words += [m.uuid for m in world.migrations.values()]
            control = _check(world, audit_via, "control", checks,
                             audit_hosts)
            previous = control
            out.append(Observation(
                trial="%s [control]" % name, control=True, fault=None,
                violations={"before": control, "under_fault": [],
                            "during": [], "after_clear": []},
                logs=relevant(capture.records, words),
                trace=_part(trace, 0),
                duration=time.monotonic() - started))
            for fname, factory in faults.items():
                t0 = time.monotonic()
                mark = capture.mark()
                first_step = len(trace.steps)
                violations = {"before": [], "under_fault": [],
                              "during": [], "after_clear": []}
                desc, error = None, None
                skipped = skip_kind = coerced = None
                try:
                    violations["before"] = list(previous)
                    fault = factory(world)
                    desc = fault.describe()
                    try:
                        fault.setUp()
                    except Exception as exc:  # noqa: BLE001 - classified
                        why = _not_applicable(exc)
                        if why is None:
                            raise
                        # Nothing was written (the fixture cleaned up what
                        # it had): the world is as the previous fault
                        # left it.
                        skipped, skip_kind = str(why), why.kind
                        trace.step("note", "variant %s" % skip_kind,
                                   reason=skipped)
                        out.append(Observation(
                            trial="%s / %s" % (name, fname), control=False,
                            fault=desc, violations=violations, logs=[],
                            skipped=skipped, skip_kind=skip_kind,
                            trace=trace, duration=time.monotonic() - t0))
                        continue
                    coerced = "; ".join(fault.coercions()) or None
                    try:
                        violations["under_fault"] = _check(
                            world, audit_via, "under %s" % fname, checks,
                            audit_hosts)
                    finally:
                        fault.cleanUp()
                    violations["after_clear"] = _check(
                        world, audit_via, "after %s" % fname, checks,
                        audit_hosts)
                    previous = violations["after_clear"]
                except Exception:  # noqa: BLE001 - INCONCLUSIVE, not hidden
                    error = traceback.format_exc()
                out.append(Observation(
                    trial="%s / %s" % (name, fname), control=False,
                    fault=desc, violations=violations,
                    logs=relevant(capture.since(mark), words), error=error,
                    coerced=coerced, trace=_part(trace, first_step),
                    duration=time.monotonic() - t0))
                if error:
                    break        # the shared world is in an unknown state
        finally:
            world.cleanUp()
    except Exception:  # noqa: BLE001 - becomes INCONCLUSIVE, never hidden
        out.append(Observation(
            trial="%s [world]" % name, control=True, fault=None,
            violations={"before": [], "under_fault": [], "during": [],
                        "after_clear": []}, logs=[],
            error=traceback.format_exc(), trace=trace,
            duration=time.monotonic() - started))
    finally:
        capture.cleanUp()
    return out
