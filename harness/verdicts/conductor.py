"""Conductor trials: a move through Nova's real services, judged.

A :class:`ConductorTrial` is a :class:`~harness.verdicts.judge.Trial` of
the one runner whose operation is a move a user or operator asks the REST
API for (:func:`harness.world.conductor.request_move`), so Nova's own
conductor (MigrationTask, its allocation swap, rollback and reschedule),
scheduler and computes run it.  Each operation is judged as a
:class:`JudgedOp`: which consumers it touches, which allocation states it
may leave them in, which of those mean it did what was asked, and whether
its caller was told otherwise.  Two operations:

* :func:`op_move`: the move itself (a resize, or a cold migration the
  scheduler places).  Its caller is told of a failure when the conductor
  raised (the exception that ends the MigrationTask is the instance fault
  and the action's error) or the migration ended in error;
* :func:`op_rollback`: a cold migration for which the scheduler finds no
  host, judged as the rollback's revert of the allocation swap
  (``MigrationTask.rollback`` -> ``revert_allocation_for_migration``).
  The revert's caller is told it failed only if an exception escapes the
  rollback: the conductor then raises something other than what the
  scheduler raised (``rollback_wrapper`` re-raises the task's own error
  otherwise).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from harness.oracle import conductor_invariants as ci
from harness.oracle import invariants as inv
from harness.oracle.conductor_checks import (
    conductor_checks, consumer_allocations, migration_status, scan_capture)
from harness.verdicts.judge import Trial
from harness.world import conductor as wc


@dataclasses.dataclass
class JudgedOp:
    """One operation as the trial runner judges it.

    ``states``: label -> {consumer: allocations} the operation may leave
    (the state before it and the state(s) it intends); ``success``: the
    labels meaning it did what was asked; ``reported``: whether its caller
    learnt of a failure; ``migrations``: uuid -> (label, status) of the
    migrations involved, read after the operation; ``covering``: instance
    uuid -> its migration still under way (which may hold its allocation).
    """
    result: wc.MoveResult
    names: dict
    states: dict
    success: tuple
    instances: dict
    reported: bool
    subject: str
    covering: dict = dataclasses.field(default_factory=dict)
    migrations: dict = dataclasses.field(default_factory=dict)
    ledger_checks: bool = True

    @property
    def caller_saw(self) -> str:
        r = self.result
        if r.refused:
            bits = ["the API refused: %s" % r.refused[:120]]
        elif r.error_type:
            bits = ["the conductor raised %s" % r.error_type]
        else:
            bits = ["the conductor raised nothing"]
        if r.cause:
            bits.append("the scheduler raised %s" % r.cause)
        for _uuid, (label, status) in self.migrations.items():
            bits.append("%s status %s" % (label, status))
        return ", ".join(bits)


def watch(world) -> wc.MoveWatch:
    """The trial's bus watcher (set up by :class:`ConductorTrial`)."""
    return world.move_watch


def backoff(world) -> wc.BackoffClock:
    """The trial's virtual clock of the report client's back-off."""
    return world.backoff_clock


def _resources(world, flavor_name) -> dict:
    return world.ledger.flavors[flavor_name].placement_resources()


def _claimed(world, name, host, resources) -> dict:
    """The allocation a claim of ``resources`` on ``host`` gives instance
    ``name`` (its disk on the sharing provider that holds it, if any)."""
    dest = {host: dict(resources)}
    shared = getattr(world.ledger, "shared_disk", {}).get(name)
    if shared and "DISK_GB" in resources:
        dest[host].pop("DISK_GB")
        dest[shared] = {"DISK_GB": resources["DISK_GB"]}
    return dest


def _names(inst_uuid, mig_uuid, name) -> dict:
    names = {inst_uuid: "instance %s" % name}
    if mig_uuid:
        names[mig_uuid] = "migration of %s" % name
    return names


def op_move(world, name, flavor=None, prefer=(), hosts=None) -> JudgedOp:
    """Resize ``name`` to ``flavor`` (or cold-migrate it, without one), the
    scheduler preferring ``prefer``; it may land on any of ``hosts``
    (default: every host)."""
    inst = world.instances[name]
    rec = world.ledger.instances[name]
    before_inst = consumer_allocations(world, [inst.uuid])[inst.uuid]
    result = wc.request_move(world, name, flavor, prefer)
    mig = result.migration_uuid
    names = _names(inst.uuid, mig, name)
    states = {"before": dict({inst.uuid: before_inst},
                             **({mig: {}} if mig else {}))}
    new_res = _resources(world, flavor or rec.flavor)
    for host in hosts or world.hosts:
        if mig:
            states["after on %s" % host] = {
                inst.uuid: _claimed(world, name, host, new_res),
                mig: before_inst}
    status = migration_status(world, mig)
    return JudgedOp(
        result, names, states,
        tuple(k for k in states if k.startswith("after")),
        instances={inst.uuid: name},
        reported=result.raised or status in ci.ERRORED,
        subject="%s of %s" % (result.operation.replace("_", " "), name),
        covering={inst.uuid: mig} if mig and status not in ci.ENDED
        else {},
        migrations={mig: (names[mig], status)} if mig else {})


def op_rollback(world, name, prefer=()) -> JudgedOp:
    """Cold-migrate ``name`` where the scheduler finds no host; judge the
    rollback's revert of the allocation swap: it intends the instance to
    hold its allocation again and the migration nothing ("reverted"), from
    the swapped state ("swapped"), and tells its caller it failed only by
    raising."""
    inst = world.instances[name]
    before_inst = consumer_allocations(world, [inst.uuid])[inst.uuid]
    result = wc.request_move(world, name, None, prefer)
    mig = result.migration_uuid
    names = _names(inst.uuid, mig, name)
    states = {"reverted": dict({inst.uuid: before_inst},
                               **({mig: {}} if mig else {}))}
    if mig:
        states["swapped"] = {inst.uuid: {}, mig: before_inst}
    status = migration_status(world, mig)
    return JudgedOp(
        result, names, states, ("reverted",),
        instances={inst.uuid: name},
        reported=result.refused is not None or (
            result.error_type is not None
            and result.error_type != result.cause),
        subject="the rollback's revert of %s's migration" % name,
        migrations={mig: (names[mig], status)} if mig else {})


@dataclasses.dataclass
class ConductorTrial(Trial):
    """One world, one move through the API, at most one fault: a
    :class:`~harness.verdicts.judge.Trial` driven by the one runner
    (:func:`harness.verdicts.judge.run_trial`, :meth:`Judge.trial`).

    ``setup(world)`` builds the population; ``operation(world)`` makes the
    request under the fault and returns a :class:`JudgedOp`;
    ``then(world, op)`` (optional) continues the workload once the fault is
    cleared and returns the violations of the ``during`` stage;
    ``extra(world, op, stage)`` (optional) returns more violations at a
    stage.  ``world_kwargs`` go to the
    :class:`~harness.world.deployment.World` (the canary secrets are added
    to its ``config``); ``ledger`` builds the world's ledger;
    ``ledger_before``: check the accounting invariants before the fault.
    ``whatif()`` (a counterfactual trial) is applied for the whole trial,
    from before the population is built.

    Conductor trials run on fresh worlds only: the canaries, the bus
    watcher and the log scan are set up per world.
    """
    operation: Callable | None = None
    then: Callable | None = None
    extra: Callable | None = None
    ledger: Callable | None = None
    audit_via: tuple = ("tracker",)
    ledger_before: bool = True

    fresh_world_only = ("a conductor trial (canary secrets, the bus "
                        "watcher and the log scan are per world)")
    # the mechanisms count while the fault is in place, not in the audits
    # after it is cleared
    paths_after_clear = False

    def log_capture(self):
        wc.register_canary_options()
        return scan_capture()

    def build_world(self, trace):
        from harness.world.deployment import World
        kw = dict(self.world_kwargs)
        config = dict(wc.CANARIES)
        config.update(kw.pop("config", {}) or {})
        world = World(trace=trace, config=config, **kw)
        if self.ledger is not None:
            world.ledger = self.ledger(world.reserved)
        return world

    def populate(self, run, world):
        wc.plant_late_canaries(world)
        wc.check_canaries(world)
        wc.plant_token(world)
        world.move_watch = world.useFixture(wc.MoveWatch(world))
        world.backoff_clock = world.useFixture(wc.BackoffClock())
        run.details["max_attempts"] = world.CONF.scheduler.max_attempts
        run.details["identifiers"] = {
            "host": sorted(world.hosts),
            "node": sorted(h.nodename for h in world.hosts.values())}
        self.setup(world)

    def check_before(self, run, world):
        if not self.ledger_before:
            return []
        return inv.check_all(world.snapshot("before"), world.ledger)

    def under_fault(self, run, world, fault):
        watch(world).begin()
        op = run.op = self.operation(world)
        details = run.details
        details["identifiers"].update({
            "instance uuid": sorted(u for u, n in op.names.items()
                                    if n.startswith("instance")),
            "migration uuid": sorted(u for u, n in op.names.items()
                                     if n.startswith("migration")),
            "provider uuid": sorted(h.rp_uuid for h in
                                    world.hosts.values())})
        if getattr(fault, "harness_error", None):
            raise RuntimeError("the fault itself failed: %s"
                               % fault.harness_error)
        window = world.placement.calls[run.mark:]
        run.words = list(op.names)
        details["calls"] = [(c.n, c.method, c.path, c.status, c.fault)
                            for c in window]
        details["fired"] = [
            "call #%d %s %s (call %d of the operation) -> %s: %s"
            % (c.n, c.method, c.path, i + 1,
               c.status if c.status is not None else "no answer", c.fault)
            for i, c in enumerate(window) if c.fault]
        if run.fault_desc:
            run.fault_desc += "; placement faults fired on: " + (
                "; ".join(details["fired"]) or "no call")
        actual = consumer_allocations(world, list(op.names))
        details["achieved"] = ci.classify(actual, op.states)
        r = op.result
        details["result"] = dict(
            operation=r.operation, error_type=r.error_type,
            error=str(r.error)[:300] if r.error else None,
            refused=r.refused, cause=r.cause, failures=r.failures,
            events=r.events, caller_saw=op.caller_saw)
        found = conductor_checks(world, op, "under_fault")
        if self.extra is not None:
            found += self.extra(world, op, "under_fault")
        if r.raised or details["achieved"] not in op.success:
            for v in found:
                v.detail = "%s [caller: %s]" % (v.detail, op.caller_saw)
        run.violations["under_fault"] = found

    def after_fault(self, run, world):
        if self.then is not None:
            run.violations["during"] = list(
                self.then(world, run.op) or [])

    def check_after(self, run, world):
        op = run.op
        mark = run.capture.mark()
        audits = []
        for how in self.audit_via:
            audits.extend(world.audit(via=how))
        snap = world.snapshot("after clear")
        out = conductor_checks(world, op, "after_clear",
                               states=self.then is None)
        if op.ledger_checks:
            out += inv.check_all(snap, world.ledger)
        out += inv.audit_completed(audits, snap)
        out += inv.service_logged_errors(
            run.capture.since(mark) if "service" in self.audit_via else [])
        if self.extra is not None:
            out += self.extra(world, op, "after_clear")
        return out

    def end(self, run, world):
        w = watch(world)
        run.details.update(
            attempts=[dataclasses.asdict(a) for a in w.attempts()],
            reschedules=w.reschedules(),
            scheduler=[dataclasses.asdict(s) for s in w.scheduler_calls()],
            backoff=round(sum(backoff(world).slept), 3),
            counts=dict(getattr(world, "conductor_counts", {})))

    def observed(self, run):
        return {"lines": run.capture.handler.lines}


def counts(world) -> dict:
    """What a scenario counts in a trial (kept in the observation)."""
    if not hasattr(world, "conductor_counts"):
        world.conductor_counts = {}
    return world.conductor_counts
