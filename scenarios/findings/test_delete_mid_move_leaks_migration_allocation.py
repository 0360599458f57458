"""Finding: deleting an instance in the middle of a cold move leaks the
source allocation its migration holds.

During a resize or cold migration the conductor moves the instance's source
allocation to the *migration* consumer
(``replace_allocation_with_migration``) and the scheduler claims the
destination for the *instance* consumer.  A delete before the move finishes
(migration ``pre-migrating``, ``migrating`` or ``post-migrating``) runs on
the instance's host (the source): ``ComputeManager._complete_deletion``
deletes the allocation of the instance consumer only.  The API confirms an
unconfirmed resize first (``_confirm_resize_on_deleting``), but only for a
migration already ``finished``/``confirming``; the instance's destroy
soft-deletes its migration records.  Nothing then removes the migration
consumer's allocation: the source provider keeps the old flavor's usage
after every later audit (the tracker's ``_remove_deleted_instances_
allocations`` does not heal a consumer that is a deleted migration), so
placement reports capacity that no instance uses.

The same family is Nova's open bug 1848343 (``nova/tests/functional/
regressions/test_bug_1848343.py`` asserts, under a FIXME, that a rollback
after a delete mid-move leaves the source allocation).  Here the move's
remaining steps never run (the harness deletes between two steps of the
move): the leak needs no rollback at all.  Reachability: any user can
delete a server while it resizes; severity: placement capacity leaks on the
source until an operator runs ``nova-manage placement audit --delete``.

Found by driving the lifecycle operations with every invariant checked
after every operation (``scenarios/lifecycle/test_lifecycle.py``,
``python -m harness explore``) on the pristine release.  This reproducer asserts the broken
behaviour, as Nova's regression tests land first: a fix flips it.
"""
from __future__ import annotations

import pytest

from harness.oracle import invariants as inv
from harness.world.deployment import World


@pytest.mark.parametrize("until", ("pre-migrating", "migrating",
                                   "post-migrating"))
def test_delete_mid_move_leaves_the_migration_allocation(until):
    world = World()
    world.setUp()
    try:
        world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        world.create_flavor("large", vcpus=2, memory_mb=1024, root_gb=20)
        world.boot("vm1", "small", "src")
        migration = world.resize("vm1", "large", "dst", until=until)
        world.delete("vm1")
        world.audit()
        snap = world.snapshot("after delete and audit")
        orphaned = [v for v in inv.allocations_match_ledger(
            snap, world.ledger) if v.detail == "orphaned allocation"]
        # the broken behaviour: the migration consumer still holds the
        # source's share, after the audit
        assert [v.subject.split()[-1] for v in orphaned] == [migration.uuid]
        assert list(orphaned[0].actual) == ["src"]
        # and the trackers are clean after the audit: only placement leaks
        assert inv.usage_matches_ledger(snap, world.ledger) == []
    finally:
        world.cleanUp()
