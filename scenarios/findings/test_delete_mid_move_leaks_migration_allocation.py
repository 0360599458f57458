"""Finding F-11, withdrawn: deleting a server mid-resize leaves nothing in
placement.

F-11 said that a server deleted while its resize or cold migration is
``pre-migrating``, ``migrating`` or ``post-migrating`` loses its own
allocation while the source's share, held by the *migration* consumer,
stays in placement for good.  That came from the harness's former
hand-written model of the compute manager, which deleted the server and
then never ran the rest of the move.  In Nova the step of the move already
sent to a compute still arrives after the delete: it meets a deleted
server (``InstanceNotFound``) and its error handling cleans up
(``ComputeManager.resize_instance`` reverts the migration's allocation,
``_revert_allocation``, and the source's audit removes what a deleted
instance held, ``_remove_deleted_instances_allocations``; in
``finish_resize``, ``_delete_allocation_after_move``).  Here the world
stops the move at each phase (the next message held on the bus, or the
source hypervisor's disk copy stopped), the server is deleted through the
API, the move's step then goes on, and after the periodic audits
placement holds nothing for the server or its migration.

This file now guards that behaviour (the catalogue keeps F-11 with its
``withdrawn`` note; its scenario judges it REFUTED).
"""
from __future__ import annotations

import pytest

from harness.oracle import invariants as inv
from harness.world.deployment import World


# (a plain test, not a verdict: F-11's verdict is decided by
# scenarios/test_lifecycle_findings.py, which the catalogue lists)
@pytest.mark.parametrize("until", ("pre-migrating", "migrating",
                                   "post-migrating"))
def test_delete_mid_move_leaves_nothing_in_placement(until):
    world = World()
    world.setUp()
    try:
        world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        world.create_flavor("large", vcpus=2, memory_mb=1024, root_gb=20)
        world.boot("vm1", "small", "src")
        migration = world.resize("vm1", "large", "dst", until=until)
        world.delete("vm1")
        world.audit(via="service")
        snap = world.snapshot("after delete and audit")
        assert migration.uuid not in snap.allocations
        assert world.instances["vm1"].uuid not in snap.allocations
        assert inv.allocations_match_ledger(snap, world.ledger) == []
        assert inv.placement_usage_matches_ledger(snap, world.ledger) == []
        assert inv.usage_matches_ledger(snap, world.ledger) == []
    finally:
        world.cleanUp()
