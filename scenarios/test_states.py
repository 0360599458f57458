"""State-dependent control flow in the migration accounting: claim 000-6.

The tracker picks its path from the migration's status and type and from
the instance's ``vm_state``/``task_state``.  Each trial puts ``vm1`` mid-move
and then forces a state the code may not expect, on the migration record or
on the instance record (or removes what the code expects to find: the
migration context, the stashed flavors).  Garbage states are allowed to be
counted oddly while present; what the claim predicts is worse: an audit that
fails, usage out of bounds, or damage that outlives the repair.
"""
from __future__ import annotations

import functools

import pytest

from harness.faults import records as rec
from harness.verdicts.judge import Judge
from harness.world.workloads import MOVES

STATE_MOVES = ("resize-incoming", "resize-finished", "live-running")

MIGRATION_STATUSES = (
    "accepted", "pre-migrating", "migrating", "post-migrating", "finished",
    "confirming", "confirmed", "reverting", "reverted", "preparing",
    "running", "queued", "completed", "failed", "error", "cancelled",
    "done")
VM_STATES = ("active", "stopped", "paused", "suspended", "resized", "error",
             "building", "shelved_offloaded", "deleted", "soft-delete")
TASK_STATES = (None, "resize_prep", "resize_migrating", "resize_migrated",
               "resize_finish", "resize_reverting", "resize_confirming",
               "migrating", "deleting", "rebuilding", "spawning")


def state_faults() -> dict:
    f = {}
    for status in MIGRATION_STATUSES:
        f["migration status=%s" % status] = (
            lambda w, s=status: rec.MigrationField(w, "vm1", status=s))
    for vm_state in VM_STATES:
        f["instance vm_state=%s" % vm_state] = (
            lambda w, v=vm_state: rec.InstanceField(w, "vm1", vm_state=v))
    for task_state in TASK_STATES:
        f["instance task_state=%s" % task_state] = (
            lambda w, t=task_state: rec.InstanceField(w, "vm1",
                                                      task_state=t))
    f["migration context missing"] = lambda w: rec.MigrationContextFault(
        w, "vm1")
    f["stashed old_flavor missing"] = lambda w: rec.EmbeddedFlavor(
        w, "vm1", which="old")
    f["stashed new_flavor missing"] = lambda w: rec.EmbeddedFlavor(
        w, "vm1", which="new")
    return f


@functools.lru_cache(maxsize=None)
def state_observations():
    judge = Judge("observations", ["-"])
    faults = state_faults()
    for move in STATE_MOVES:
        judge.paired(move, MOVES[move], faults)
    return tuple(judge.observations)


@pytest.mark.claims("000-6")
def test_unexpected_migration_states_misaccount(judge):
    """Unexpected states must not break the audit, push usage out of
    bounds, or leave damage once the state is repaired."""
    judge.observations.extend(state_observations())
    judge.decide(
        hypothesis="An unexpected migration status, instance vm/task state, "
                   "or a missing migration context or stashed flavor sends "
                   "the audit down a path that fails, pushes usage out of "
                   "bounds, or leaves damage after the state is repaired.",
        predicts={"under_fault": ("audit_completed", "usage_in_bounds"),
                  "after_clear": None},
        explained_by={"F-01": "incoming-flavor-checked"},
        fault_space="%d migration statuses, %d vm_states, %d task_states, "
                    "missing context and stashed flavors x moves %s"
                    % (len(MIGRATION_STATUSES), len(VM_STATES),
                       len(TASK_STATES), ", ".join(STATE_MOVES)))
