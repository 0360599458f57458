"""State-dependent control flow in the migration accounting: claim 000-6.

The tracker picks its path from the migration's status and type and from
the instance's ``vm_state``/``task_state``.  Each trial puts ``vm1``
mid-move and then forces a state the code may not expect, one field at a
time: the migration's status or type, the instance's vm_state or
task_state.  (What the code expects to find besides states, the migration
context and the stashed flavors, is a migration row disagreeing with its
instance: claim 000-1's family, ``test_migration_records.py``.)  Garbage
states are allowed to be counted oddly while present; what the claim
predicts is worse: an audit that fails, usage out of bounds, or damage
that outlives the repair.
"""
from __future__ import annotations

import pytest

from harness.faults import records as rec
from harness.world.workloads import MOVES

STATE_MOVES = ("resize-incoming", "resize-finished", "live-running")

MIGRATION_STATUSES = (
    "accepted", "pre-migrating", "migrating", "post-migrating", "finished",
    "confirming", "confirmed", "reverting", "reverted", "preparing",
    "running", "queued", "completed", "failed", "error", "cancelled",
    "done")
# the types Nova writes (a type outside them is a value the object layer
# refuses, finding F-02's trigger)
MIGRATION_TYPES = ("resize", "migration", "live-migration", "evacuation")
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
    for mtype in MIGRATION_TYPES:
        f["migration type=%s" % mtype] = (
            lambda w, t=mtype: rec.MigrationField(w, "vm1",
                                                  migration_type=t))
    for vm_state in VM_STATES:
        f["instance vm_state=%s" % vm_state] = (
            lambda w, v=vm_state: rec.InstanceField(w, "vm1", vm_state=v))
    for task_state in TASK_STATES:
        f["instance task_state=%s" % task_state] = (
            lambda w, t=task_state: rec.InstanceField(w, "vm1",
                                                      task_state=t))
    return f


def state_trials(run):
    faults = state_faults()
    for move in STATE_MOVES:
        run.paired(move, MOVES[move], faults)


@pytest.mark.claims("000-6")
def test_unexpected_migration_states_misaccount(judge):
    """Unexpected states must not break the audit, push usage out of
    bounds, or leave damage once the state is repaired."""
    judge.observe(state_trials)
    judge.decide(
        hypothesis="An unexpected migration status or type, or instance "
                   "vm/task state, sends the audit down a path that fails, "
                   "pushes usage out of bounds, or leaves damage after the "
                   "state is repaired.",
        predicts={"under_fault": ("audit_completed", "usage_in_bounds"),
                  "after_clear": None},
        explained_by={"F-01": "incoming-flavor-checked"},
        fault_space="one state field forced at a time on vm1's migration "
                    "or on vm1, mid-move")
