"""Every combination of states: claim 000-6, beyond ``test_states.py``.

``test_states.py`` changes one field at a time.  The tracker's branches
depend on pairs: whether a migration is followed depends on the
instance's ``vm_state`` *and* ``task_state`` together, and how it is
counted on the migration's status *and* type together.  Here every pair is
forced, each in turn on one shared world (a sweep, :meth:`Judge.sweep
<harness.verdicts.judge.Judge.sweep>`):

* every ``vm_state`` x every ``task_state`` on the instance of a finished
  resize (counted on both the source, for a revert, and the destination);
* every migration status x every migration type on a resize claimed on the
  destination (incoming).

As in ``test_states.py``, garbage states may be counted oddly while
present; the claim predicts worse: a failing audit or usage out of bounds
while the state is present, or damage that outlives its repair.
"""
from __future__ import annotations

import pytest

from harness.faults import records as rec
from harness.world.workloads import MOVES

VM_STATES = ("active", "building", "paused", "suspended", "stopped",
             "rescued", "resized", "soft-delete", "deleted", "error",
             "shelved", "shelved_offloaded")
TASK_STATES = (None, "scheduling", "spawning", "resize_prep",
               "resize_migrating", "resize_migrated", "resize_finish",
               "resize_reverting", "resize_confirming", "migrating",
               "rebuilding", "rebuild_spawning", "deleting", "shelving",
               "unshelving", "powering-off")
STATUSES = ("accepted", "pre-migrating", "migrating", "post-migrating",
            "finished", "confirming", "confirmed", "reverting", "reverted",
            "preparing", "running", "queued", "completed", "failed",
            "error", "cancelled", "done")
TYPES = ("resize", "migration", "live-migration", "evacuation")

STATE_MOVE = "resize-finished"
MIGRATION_MOVE = "resize-incoming"


def instance_state_pairs() -> dict:
    return {"vm_state=%s task_state=%s" % (v, t):
            (lambda w, v=v, t=t: rec.InstanceField(w, "vm1", vm_state=v,
                                                   task_state=t))
            for v in VM_STATES for t in TASK_STATES}


def migration_pairs() -> dict:
    return {"status=%s type=%s" % (s, t):
            (lambda w, s=s, t=t: rec.MigrationField(w, "vm1", status=s,
                                                    migration_type=t))
            for s in STATUSES for t in TYPES}


def combination_trials(run):
    # vm1 moves between src and dst; the bystander's vm2 is untouched by
    # these faults (its host is still in every snapshot)
    hosts = ("src", "dst")
    run.sweep(STATE_MOVE, MOVES[STATE_MOVE], instance_state_pairs(),
              audit_hosts=hosts)
    run.sweep(MIGRATION_MOVE, MOVES[MIGRATION_MOVE], migration_pairs(),
              audit_hosts=hosts)


@pytest.mark.claims("000-6")
def test_state_combinations_misaccount(judge):
    """No pair of states breaks the audit, pushes usage out of bounds, or
    leaves damage once repaired."""
    judge.observe(combination_trials)
    judge.decide(
        hypothesis="Some combination of instance vm_state and task_state, "
                   "or of migration status and type, sends the tracker "
                   "down a path that fails the audit or pushes usage out "
                   "of bounds while present, or leaves damage after the "
                   "states are repaired.",
        predicts={"under_fault": ("audit_completed", "usage_in_bounds"),
                  "after_clear": None},
        explained_by={"F-01": "incoming-flavor-checked"},
        fault_space="every vm_state x task_state pair on vm1, every "
                    "migration status x type pair on its migration; one "
                    "world per family, one pair at a time")
