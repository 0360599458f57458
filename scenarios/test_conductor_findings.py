"""Findings near the conductor claims (report 002): F-05, F-06, F-07.

One finding, one scenario, each with a docstring that tells the bug in
plain words, as Nova's own ``test_bug_*`` regression tests do.  F-05 and
F-07 read the allocation fault space the 002-1/002-2 scenarios share
(``allocation_trials`` of ``test_conductor_allocations.py``); F-06 reads
the reschedule trials of claim 002-3 (``retry_trials`` of
``test_conductor_retries.py``).  Every trial is a request to the REST API
carried out by Nova's own services.  Verdicts are computed from what the
trials observed; counterfactual replays (``[counterfactual: ...]``) only
say whether a harm goes away.
"""
from __future__ import annotations

import pytest

from harness.verdicts import conductor_workloads as cw

from test_conductor_allocations import allocation_trials, caller_saw
from test_conductor_retries import MAX_ATTEMPTS, PLAN, REFUSING, retry_trials

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
    allocations, a timeout, a racing writer), the exception raised inside
    rollback escapes instead of NoValidHost: the conductor raises a
    placement error, which becomes the instance fault and the error of the
    server's "migrate" action, and the allocation stays on the migration in
    error.  (Through the REST API: an operator migrates the server while
    the only other host is disabled.)

    The what-if ``rollback-errors-contained`` logs the rollback's own
    exception instead: the caller sees NoValidHost again, and the
    allocation is still left on the migration, so that part is the failed
    placement call's, not this finding's.
    """
    judge.observe(allocation_trials, keep=lambda o: o.trial.startswith(
        "migration, no valid host"))
    judge.decide(
        hypothesis="After the scheduler raised NoValidHost, a placement "
                   "failure at a call of the rollback's revert makes the "
                   "caller of the migration task see another exception "
                   "than NoValidHost.",
        predicts={"under_fault": ("cause_reported",)},
        fault_space="the 'migration, no valid host' shape of the "
                    "allocation fault space: one placement answer at each "
                    "call after the swap (the scheduler's candidates and "
                    "the rollback's reads and POST)")
    judge.outcome.stats["caused_part"] = _caused_part(
        judge, "rollback-errors-contained")


# ----------------------------------------------------------------------
# F-06
# ----------------------------------------------------------------------
def _every_destination_refuses(o) -> bool:
    return o.control or o.trial.endswith(REFUSING)


@pytest.mark.finding("F-06")
def test_reschedule_counter_restarts(judge):
    """Each time a destination refuses a cold migration it asks the
    conductor to reschedule, and the conductor builds a new
    MigrationTask whose populate_retry counts the attempt as the first
    again.  So the counter never reaches [scheduler] max_attempts: the
    only bound is the list of alternates the scheduler handed out, which
    Nova's scheduler caps at max_attempts - 1.

    Is there harm?  With every destination refusing (each one's claim in
    prep_resize cannot report to placement, so it reverts and asks for a
    reschedule), the attempts stay within max_attempts: the real
    scheduler hands out max_attempts - 1 alternates.  More attempts would
    need a scheduler that ignores the option, which Nova's services cannot
    be made to be.
    """
    observations = judge.observe(retry_trials,
                                 keep=_every_destination_refuses)
    judge.decide(
        hypothesis="Because the retry counter restarts on each reschedule, "
                   "repeatedly refusing destinations make a cold migration "
                   "run more prep_resize attempts than [scheduler] "
                   "max_attempts.",
        predicts={"under_fault": ("attempts_bounded",)},
        fault_space="max_attempts %s, the scheduler preferring %s (the "
                    "destination, then the alternates); every destination "
                    "refuses (its claim in prep_resize cannot report to "
                    "placement), with the alternates Nova's "
                    "scheduler hands out (max_attempts - 1)"
                    % (list(MAX_ATTEMPTS), list(PLAN)))
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
    other 409, such as placement refusing the allocation for its
    inventory's limits, returns False at once.
    replace_allocation_with_migration turns False into NoValidHost, but
    revert_allocation_for_migration only logs it.  So when the rollback's
    move back is refused, the conductor raises a generation conflict,
    yet a limits refusal (max_unit lowered on the source while the
    migration was being scheduled) leaves the instance without its
    allocation and nobody is told: the server's action shows only the
    scheduler's NoValidHost.

    Placement 16 admits an allocation that raises no usage, so a pure
    capacity refusal cannot answer a move between two consumers; a limits
    refusal can.  The what-if ``capacity-409-raised`` makes any 409 that
    is not a generation conflict raise, as a consumer-generation conflict
    does.
    """
    chosen = judge.observe(allocation_trials, keep=lambda o: (
        o.control or _conflict_kind(o) is not None))
    judge.decide(
        hypothesis="A 409 answer to the swap's or the revert's POST "
                   "/allocations that is not a consumer-generation "
                   "conflict leaves the caller untold that the move did "
                   "not happen, while a consumer-generation conflict at "
                   "the same call is raised.",
        predicts={"under_fault": ("failure_reported",)},
        fault_space="the swap (in a resize) and the rollback's revert (in a "
                    "migration with no valid host), through the REST API, "
                    "one 409 at their POST /allocations: %s" % ", ".join(
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
