"""The conductor's allocation swap and its revert: claim 002-2.

``replace_allocation_with_migration`` moves an instance's source allocation
to a migration consumer before scheduling; ``revert_allocation_for_migration``
moves it back when the migration task fails.  Both call Placement several
times (reads of each consumer, one ``POST /allocations``).  Each trial runs
one of four shapes with one placement answer at one of the calls the
shape's control made (see :mod:`harness.world.conductor_workloads`):

* ``swap``: the swap on its own, as ``MigrationTask._preallocate_migration``
  calls it;
* ``revert``: the revert on its own, as ``MigrationTask.rollback`` calls it
  (migration set to error first);
* ``migration task``: a whole cold migration through the real
  ``ComputeTaskManager._cold_migrate`` (MigrationTask execute, rollback on
  failure, the destination's prep_resize and its own clean-up);
* ``failing migration task``: the same with no host available, so the task
  fails and rolls back; the faults hit the rollback's calls.

After the operation (fault still in place) and again after the fault is
cleared and every compute's tracker audited, each trial checks, per
consumer, that allocations are the before or the intended after state and
never a mixture; that no living instance is left holding nothing; that no
migration in error holds anything; whether the caller was told of a failure
(an exception, or the migration set to error); and, for the task shapes,
the accounting invariants against the ledger (told what the participants
reported).  Evidence names the fault's route, the call it fired on (its
number in the middleware's log and within the operation) and the answer.

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

from harness.world import conductor_workloads as cw

SWAP = ("allocations_before_or_after", "instances_hold_allocations")
UNHEALED = ("errored_migrations_hold_nothing", "instances_hold_allocations",
            "allocations_before_or_after", "allocations_match_ledger",
            "placement_usage_matches_ledger")


WHATIF = "revert-failure-raised"
# every harmful variant is replayed under the what-if (the replays are
# shared by the three scenarios), so no exclusion says "not replayed"
MAX_REPLAYS = 24


def allocation_trials(run):
    """Every trial of the allocation-swap fault space, shared by the 002-1
    and 002-2 scenarios and the findings near them: per shape of
    :mod:`harness.world.conductor_workloads`, its control, then one
    variant per placement answer at each call position of the control's
    call log."""
    # (the shapes and their trials are conductor_workloads' own; it has no
    # public name for them yet)
    for sname, shape in cw._shapes().items():
        control = run.trial(cw._trial(shape, "%s [control]" % sname))
        if control.error:
            continue
        for vname, factory in cw.shape_variants(shape, control).items():
            run.trial(cw._trial(shape, "%s / %s" % (sname, vname), factory))


def caller_saw(o):
    """What the caller of the operation saw (None: no operation ran)."""
    return o.detail.result.get("caller_saw") if o.detail else None


SPACE = ("each a placement answer at one call position of the control's "
         "call log (error status, generation conflict once or persistent, "
         "capacity refusal, disconnect, client timeout, response lost after "
         "placement committed, racing writer, latency), or the source node "
         "record missing")


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
                   "conflict, broken connection, timeout, lost response, "
                   "racing writer) at any call the allocation swap or its "
                   "revert makes, alone or inside a migration task that "
                   "fails, leaves the instance or migration consumer in "
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
        hypothesis="Under a placement failure the caller of the swap, the "
                   "revert or the migration task is not told the truth: "
                   "the operation did not take effect and nothing was "
                   "raised (nor the migration set to error), or it took "
                   "effect and a failure was raised. Caused by the "
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
