"""Findings near the conductor claims (report 002): F-05, F-06, F-07.

One finding, one scenario, each with a docstring that tells the bug in
plain words, as Nova's own ``test_bug_*`` regression tests do.  F-05 and
F-07 read the allocation-swap fault space the 002-1/002-2 scenarios share
(``allocation_trials`` of ``test_conductor_allocations.py``);
F-06 runs its own reschedule trials.  Verdicts are computed from what the
trials observed; counterfactual replays (``[counterfactual: ...]``) only
say whether a harm goes away.
"""
from __future__ import annotations

import pytest

from harness.faults import Combined
from harness.oracle import conductor_invariants as ci
from harness.faults import conductor as cf
from harness.world import conductor as hc
from harness.world import conductor_workloads as cw

from test_conductor_allocations import allocation_trials, caller_saw

LOST = ("instances_hold_allocations", "errored_migrations_hold_nothing")


def _lost(o) -> list[str]:
    """The allocation-loss invariants ``o`` broke (any stage)."""
    return sorted({v.invariant for vs in o.violations.values() for v in vs
                   if v.invariant in LOST})


def _caused_part(judge, whatif: str) -> dict:
    """For each variant the verdict replayed under ``whatif``: what the
    caller saw and which allocation-loss invariants broke, with and
    without it (the decision's own replays: this runs nothing new)."""
    return {o.trial: {
        "caller saw": caller_saw(o),
        "allocation left wrong": _lost(o),
        "under %s: caller saw" % whatif: caller_saw(r),
        "under %s: allocation left wrong" % whatif: _lost(r)}
        for o, r in judge.replays(whatif) if not o.control}


# ----------------------------------------------------------------------
# F-05
# ----------------------------------------------------------------------
@pytest.mark.finding("F-05")
def test_rollback_error_replaces_no_valid_host(judge):
    """A cold migration that finds no valid host fails with NoValidHost.
    MigrationTask.rollback then sets the migration to error and moves the
    source allocation back from the migration consumer to the instance.
    When placement fails during that move (a 500 reading a consumer's
    allocations, a dropped connection, a racing writer), the exception
    raised inside rollback escapes instead of NoValidHost: the caller and
    the instance fault show a placement error, and the allocation stays
    on the migration in error.

    The what-if ``rollback-errors-contained`` logs the rollback's own
    exception instead: the caller sees NoValidHost again, and the
    allocation is still left on the migration, so that part is the failed
    placement call's, not this finding's.
    """
    judge.observe(allocation_trials, keep=lambda o: o.trial.startswith(
        "failing migration task"))
    judge.decide(
        hypothesis="After the scheduler raised NoValidHost, a placement "
                   "failure at a call of the rollback's revert makes the "
                   "caller of the migration task see another exception "
                   "than NoValidHost.",
        predicts={"under_fault": ("cause_reported",)},
        fault_space="the 'failing migration task' shape of the allocation "
                    "fault space: one placement answer at each call after "
                    "the swap (the scheduler's candidates and the "
                    "rollback's reads and POST)")
    judge.outcome.stats["caused_part"] = _caused_part(
        judge, "rollback-errors-contained")


# ----------------------------------------------------------------------
# F-06
# ----------------------------------------------------------------------
HOSTS = (cw.SRC, cw.DST) + cw.ALTS
PLAN = (cw.DST,) + cw.ALTS
MAX_ATTEMPTS = 3


def _bounded(world, conductor, op, stage):
    if stage != "under_fault":
        return []
    m = world.CONF.scheduler.max_attempts
    attempts = len(conductor.compute.prep_resizes)
    counters = [(p.retry or {}).get("num_attempts")
                for p in conductor.compute.prep_resizes]
    out = ci.attempts_bounded({"prep_resize attempts": attempts},
                              {"prep_resize attempts": m})
    for v in out:
        v.detail = "%s; retry counter seen by each attempt: %s" % (
            v.detail, counters)
    return out


def _f06_faults():
    every = PLAN
    return {
        "every destination refuses":
            lambda w: cf.ClaimRefused(w, every),
        "every destination refuses, the scheduler returns %d alternates"
        % len(cw.ALTS):
            lambda w: Combined(w, cf.ClaimRefused(w, every),
                               cf.LongAlternates(w, len(cw.ALTS))),
    }


def _f06_trial(name, fault=None):
    return hc.ConductorTrial(
        name, cw.population,
        operation=lambda w, c: hc.op_migrate(w, c, "vm1"), fault=fault,
        plan=PLAN, extra=_bounded,
        world_kwargs=dict(hosts=HOSTS, config={
            "scheduler.max_attempts": MAX_ATTEMPTS}))


def reschedule_counter_trials(run):
    run.trial(_f06_trial("max_attempts=%d [control]" % MAX_ATTEMPTS))
    for name, factory in _f06_faults().items():
        run.trial(_f06_trial("max_attempts=%d / %s" % (MAX_ATTEMPTS, name),
                             factory))


@pytest.mark.finding("F-06")
def test_reschedule_counter_restarts(judge):
    """Each time a destination refuses a cold migration it asks the
    conductor to reschedule, and the conductor builds a new
    MigrationTask whose populate_retry counts the attempt as the first
    again.  So the counter never reaches [scheduler] max_attempts: the
    only bound is the list of alternates the scheduler handed out, which
    Nova's scheduler caps at max_attempts - 1.

    Is there harm?  With every destination refusing, the attempts stay
    within max_attempts.  Only a scheduler that returns more alternates
    than Nova's ever does (outside the trigger) gets more attempts: that
    shows what bounds the loop, and is no harm a user or operator can
    produce.
    """
    observations = judge.observe(reschedule_counter_trials)
    judge.decide(
        hypothesis="Because the retry counter restarts on each reschedule, "
                   "repeatedly refusing destinations make a cold migration "
                   "run more prep_resize attempts than [scheduler] "
                   "max_attempts.",
        predicts={"under_fault": ("attempts_bounded",)},
        fault_space="max_attempts=%d, plan %s (the destination, then "
                    "the alternates); every destination refuses, with "
                    "Nova's alternates (max_attempts - 1) and with more"
                    % (MAX_ATTEMPTS, list(PLAN)))
    judge.outcome.stats["retry_counter_by_attempt"] = {
        o.trial: [((a.get("retry") or {}).get("num_attempts"), a["host"],
                   a["outcome"]) for a in (o.detail.attempts
                                           if o.detail else [])]
        for o in observations}
    judge.outcome.stats["retry_counter_line_ran"] = {
        o.trial: o.paths.get("retry-counter", 0) for o in observations}


# ----------------------------------------------------------------------
# F-07
# ----------------------------------------------------------------------
def _conflict_kind(o) -> str | None:
    tail = o.trial.split(": ", 1)[-1] if " / POST " in o.trial else ""
    return cw.CONFLICT_KINDS.get(tail)


@pytest.mark.finding("F-07")
def test_placement_409_kinds_handled_differently(judge):
    """move_allocations reads a refused POST /allocations by its text.  A
    consumer-generation conflict raises AllocationMoveFailed; a
    provider-generation conflict is retried, then returns False; any
    other 409, such as placement refusing for capacity, returns False at
    once.  replace_allocation_with_migration turns False into NoValidHost,
    but revert_allocation_for_migration only logs it.  So when the move
    back is refused, the caller hears of a generation conflict, yet a
    capacity refusal leaves the instance without its allocation and
    nobody is told.

    The what-if ``capacity-409-raised`` makes a capacity 409 raise as a
    consumer-generation conflict does.
    """
    chosen = judge.observe(allocation_trials, keep=lambda o: (
        o.control and o.trial.split(" [")[0] in ("swap", "revert"))
        or (o.trial.split(" / ")[0] in ("swap", "revert")
            and _conflict_kind(o) is not None))
    judge.decide(
        hypothesis="A 409 answer to the swap's or the revert's POST "
                   "/allocations that is not a consumer-generation "
                   "conflict leaves the caller untold that the move did "
                   "not happen, while a consumer-generation conflict at "
                   "the same call is raised.",
        predicts={"under_fault": ("failure_reported",)},
        fault_space="swap and revert on their own, one 409 at their POST "
                    "/allocations: %s" % ", ".join(
                        sorted(set(cw.CONFLICT_KINDS.values()))))
    judge.outcome.stats["by_kind"] = {
        o.trial: {"kind": _conflict_kind(o),
                  "caller saw": caller_saw(o),
                  "state": o.detail.achieved if o.detail else None,
                  "refusal sorted (traced)": o.paths.get(
                      "move-refusal-sorted", 0)}
        for o in chosen if not o.control}
    judge.outcome.stats["caused_part"] = _caused_part(
        judge, "capacity-409-raised")
