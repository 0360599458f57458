"""The conductor's allocation swap and its revert: claim 002-2.

``replace_allocation_with_migration`` moves an instance's source allocation
to a migration consumer before scheduling; ``revert_allocation_for_migration``
moves it back when the migration task fails.  Both call Placement several
times (reads of each consumer, one ``POST /allocations``).  Each trial is a
request to the REST API carried out by Nova's own services (see
:mod:`harness.verdicts.conductor_workloads`), with one placement answer at
one of the calls the shape's control made:

* ``resize``: a user resizes vm1; the conductor's MigrationTask swaps the
  allocation, the scheduler claims the destination (the source is its
  alternate), the destination's ``prep_resize`` claims, and the move is
  held where the destination casts ``resize_instance``.  Faults hit the
  swap's calls (every answer) and the first call of each later route;
* ``migration, no valid host``: an operator cold-migrates vm1 while the
  only other host is disabled; the scheduler raises NoValidHost and
  ``MigrationTask.rollback`` reverts the swap.  Faults hit the calls after
  the swap: the scheduler's and the revert's.  This shape is judged as the
  rollback's revert: it intends the instance to hold its allocation again,
  and its caller (the rollback, and through it the conductor, whose
  exception becomes the instance fault) is told it failed only if an
  exception escapes it.

After the request (fault still in place) and again after the fault is
cleared and every compute's tracker audited, each trial checks, per
consumer, that allocations are the before or an intended after state and
never a mixture; that no living instance is left holding nothing; that no
migration in error holds anything; whether the caller was told of a failure
(for the move: the conductor raised or the migration ended in error; for
the revert: an exception escaped the rollback); and the accounting
invariants against the ledger (told where the move stands).  Evidence names
the fault's route, the call it fired on (its number in the middleware's
log and within the operation) and the answer.

Cause (see the claim's proposition): a harm counts only if the blamed path
ran in that trial (the revert's log-only failure branch, or the swap
helper; traced) and it goes away when the same trial is replayed with the
revert raising instead (``revert-failure-raised``).  Each scenario's stats
say, per replayed variant, what the caller saw and which allocation-loss
invariants broke with and without that what-if: the silent failure is the
handling's; the lost allocation stays either way.
"""
from __future__ import annotations

import pytest

from harness.verdicts import conductor_workloads as cw

SWAP = ("allocations_before_or_after", "instances_hold_allocations")
UNHEALED = ("errored_migrations_hold_nothing", "instances_hold_allocations",
            "allocations_before_or_after", "allocations_match_ledger",
            "placement_usage_matches_ledger")


WHATIF = "revert-failure-raised"
# every harmful variant is replayed under the what-if (the replays are
# shared by the three scenarios), so no exclusion says "not replayed"
MAX_REPLAYS = 24


def allocation_trials(run):
    """Every trial of the allocation fault space, shared by the 002-1 and
    002-2 scenarios and the findings near them (see
    :func:`harness.verdicts.conductor_workloads.allocation_trials`)."""
    cw.allocation_trials(run)


def caller_saw(o):
    """What the caller of the operation saw (None: no operation ran)."""
    return o.detail.result.get("caller_saw") if o.detail else None


SPACE = ("each a placement answer at one call position of the control's "
         "call log (error status, generation conflict once or persistent, "
         "refusal for the inventory's limits, disconnect, client timeout, "
         "response lost after placement committed, racing writer, latency), "
         "or the source node record missing; every request through the "
         "REST API, carried out by Nova's conductor, scheduler and computes")


def _split(judge):
    """Per variant replayed under the what-if: the caller's view and the
    allocation-loss invariants, in the verdict trial and in its replay."""
    lost = ("instances_hold_allocations", "errored_migrations_hold_nothing",
            "allocations_before_or_after")

    def broke(o):
        return sorted({"%s %s" % (st, v.invariant)
                       for st, vs in o.violations.items() for v in vs
                       if v.invariant in lost + ("failure_reported",)})
    judge.outcome.stats["with_and_without_%s" % WHATIF] = {
        o.trial: {"caller saw": caller_saw(o), "broke": broke(o),
                  "under the what-if: caller saw": caller_saw(r),
                  "under the what-if: broke": broke(r)}
        for o, r in judge.replays(WHATIF)}


@pytest.mark.claims("002-2")
def test_conductor_swap_leaves_mixed_or_lost_allocations(judge):
    """A placement failure in the swap or its revert leaves each consumer
    in its before or intended after state, and no instance without
    allocations."""
    judge.observe(allocation_trials)
    judge.decide(
        hypothesis="A placement failure (error status, generation "
                   "conflict, limits refusal, broken connection, timeout, "
                   "lost response, racing writer) at any call a resize or "
                   "a cold migration makes through Nova's services (the "
                   "allocation swap, the scheduler's claim, the "
                   "destination's, or the rollback's revert), leaves the instance or migration consumer in "
                   "neither its before nor its intended after allocation, "
                   "a mixture of the two, or a living instance holding "
                   "nothing; checked right after the operation and again "
                   "after the fault is cleared and the trackers audited.",
        predicts={"under_fault": SWAP, "after_clear": SWAP},
        fault_space=SPACE, max_replays=MAX_REPLAYS)
    _split(judge)


@pytest.mark.claims("002-2")
def test_conductor_swap_failures_unreported(judge):
    """When the swap or revert did not happen, the caller is told; when it
    happened, the caller is not told it failed."""
    judge.observe(allocation_trials)
    judge.decide(
        hypothesis="Under a placement failure the caller of the move, or "
                   "of the rollback's revert, is not told the truth: the "
                   "operation did not take effect and nothing was raised "
                   "(for the move: nor the migration set to error), or it "
                   "took effect and a failure was raised. Caused by the "
                   "handling only where the revert raising instead "
                   "(revert-failure-raised) tells the caller.",
        predicts={"under_fault": ("failure_reported",)},
        fault_space=SPACE, max_replays=MAX_REPLAYS)
    _split(judge)


@pytest.mark.claims("002-2")
def test_conductor_failed_swap_damage_not_healed(judge):
    """What a failed swap or revert leaves behind is repaired by the time
    the fault is gone and every tracker has audited."""
    judge.observe(allocation_trials)
    judge.decide(
        hypothesis="Allocations a failed swap or revert leaves wrong (held "
                   "by a migration in error, missing from a living "
                   "instance, or not what the ledger expects) stay wrong "
                   "after the fault is cleared and every compute's "
                   "resource tracker has run its periodic audit.",
        predicts={"after_clear": UNHEALED},
        fault_space=SPACE, max_replays=MAX_REPLAYS)
    _split(judge)
