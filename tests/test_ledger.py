"""The oracle's arithmetic, worked by hand for every kind of holding."""
from __future__ import annotations

import pytest

from harness.oracle.ledger import (ENDED, IN_PROGRESS_COLD, IN_PROGRESS_LIVE,
                            FlavorSpec, Ledger, Usage)
from harness.world.deployment import Reserved

RATIOS = {"cpu": 4.0, "ram": 1.5, "disk": 1.0}
SMALL = FlavorSpec("small", vcpus=1, memory_mb=512, root_gb=10,
                   ephemeral_gb=0, swap=0)
BIG = FlavorSpec("big", vcpus=2, memory_mb=2048, root_gb=20,
                 ephemeral_gb=5, swap=0)
SWAPPY = FlavorSpec("swappy", vcpus=1, memory_mb=256, root_gb=1,
                    ephemeral_gb=0, swap=512)


def make(reserved=Reserved(cpus=0, memory_mb=0, disk_mb=0)) -> Ledger:
    ledger = Ledger(reserved=reserved)
    for name in ("src", "dst"):
        ledger.add_node(name, vcpus=8, memory_mb=8192, local_gb=100,
                        ratios=RATIOS)
    for spec in (SMALL, BIG, SWAPPY):
        ledger.add_flavor(spec)
    return ledger


def usage(ledger, node):
    u = ledger.expected_usage(node)
    return (u.vcpus_used, u.memory_mb_used, u.local_gb_used, u.running_vms)


EMPTY = (0, 0, 0, 0)
U_SMALL = (1, 512, 10, 1)          # small, as the instance on a node
U_BIG = (2, 2048, 25, 1)
P_SMALL = {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 10}
P_BIG = {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 25}


def held(u, vms=0):
    """A flavor held without an instance counted in running_vms."""
    return u[:3] + (vms,)


def add(a, b):
    return tuple(x + y for x, y in zip(a, b))


# -- reserved and inventory ---------------------------------------------------
def test_reserved_counts_as_usage():
    ledger = make(Reserved(cpus=2, memory_mb=512, disk_mb=1536))
    assert ledger.expected_usage("src") == Usage(2, 512, 1.5, 0)
    assert ledger.expected_usage("src").as_dict() == {
        "vcpus_used": 2, "memory_mb_used": 512, "local_gb_used": 1.5,
        "running_vms": 0}


def test_inventory_uses_driver_totals_reserved_and_ratios():
    ledger = make(Reserved(cpus=2, memory_mb=512, disk_mb=1536))
    assert ledger.expected_inventory("src") == {
        "VCPU": {"total": 8, "reserved": 2, "allocation_ratio": 4.0},
        "MEMORY_MB": {"total": 8192, "reserved": 512,
                      "allocation_ratio": 1.5},
        # reserved disk in MiB rounds *up* to whole GiB in placement
        "DISK_GB": {"total": 100, "reserved": 2, "allocation_ratio": 1.0}}


@pytest.mark.parametrize("disk_mb,gb", [(0, 0), (1, 1), (1024, 1),
                                        (1025, 2), (2048, 2)])
def test_reserved_disk_rounding(disk_mb, gb):
    ledger = make(Reserved(cpus=0, memory_mb=0, disk_mb=disk_mb))
    assert ledger.expected_inventory("dst")["DISK_GB"]["reserved"] == gb
    assert ledger.expected_usage("dst").local_gb_used == disk_mb / 1024


def test_set_inventory_changes_expectation():
    ledger = make()
    ledger.set_inventory("src", 4, 1024, 50)
    inv = ledger.expected_inventory("src")
    assert [inv[rc]["total"] for rc in ("VCPU", "MEMORY_MB", "DISK_GB")] \
        == [4, 1024, 50]
    assert ledger.nodes["dst"].vcpus == 8


# -- flavors ------------------------------------------------------------------
def test_swap_counts_as_fraction_in_usage_and_rounds_up_in_placement():
    assert SWAPPY.disk_gb == 1.5
    assert SWAPPY.placement_resources() == {"VCPU": 1, "MEMORY_MB": 256,
                                            "DISK_GB": 2}
    whole = FlavorSpec("w", 1, 1, 0, 0, 2048)
    assert whole.disk_gb == 2 and whole.placement_resources()["DISK_GB"] == 2
    odd = FlavorSpec("o", 1, 1, 3, 4, 1)
    assert odd.disk_gb == 7 + 1 / 1024
    assert odd.placement_resources()["DISK_GB"] == 8


def test_zero_amounts_are_omitted_in_placement():
    diskless = FlavorSpec("diskless", vcpus=1, memory_mb=64, root_gb=0,
                          ephemeral_gb=0, swap=0)
    assert diskless.placement_resources() == {"VCPU": 1, "MEMORY_MB": 64}
    nothing = FlavorSpec("nothing", 0, 0, 0, 0, 0)
    assert nothing.placement_resources() == {}


def test_ephemeral_counts_with_root():
    assert BIG.disk_gb == 25
    assert BIG.placement_resources()["DISK_GB"] == 25


# -- instances ----------------------------------------------------------------
def test_instances_add_their_flavor_on_their_node():
    ledger = make(Reserved(cpus=1, memory_mb=100, disk_mb=0))
    ledger.boot("a", "ua", "small", "src")
    ledger.boot("b", "ub", "big", "src")
    ledger.boot("c", "uc", "swappy", "dst")
    assert usage(ledger, "src") == (1 + 1 + 2, 100 + 512 + 2048, 35, 2)
    assert usage(ledger, "dst") == (1 + 1, 100 + 256, 1.5, 1)
    assert ledger.expected_allocations() == {
        "ua": {"src": P_SMALL}, "ub": {"src": P_BIG},
        "uc": {"dst": {"VCPU": 1, "MEMORY_MB": 256, "DISK_GB": 2}}}
    assert ledger.expected_placement_usage("src") == {
        "VCPU": 3, "MEMORY_MB": 2560, "DISK_GB": 35}
    assert ledger.expected_placement_usage("dst")["DISK_GB"] == 2


def test_deleted_instance_holds_nothing():
    ledger = make()
    ledger.boot("a", "ua", "small", "src")
    ledger.delete("a")
    assert usage(ledger, "src") == EMPTY
    assert ledger.expected_allocations() == {}
    assert ledger.live_instances() == []
    # still named, for evidence about an orphaned allocation
    assert ledger.consumer_names() == {"ua": "instance a"}


def test_delete_during_a_move_drops_the_move():
    ledger = make()
    ledger.boot("a", "ua", "small", "src")
    ledger.start_move("a", "resize", "src", "dst", "big", "um", "migrating")
    ledger.delete("a")
    assert ledger.moves == {}
    assert usage(ledger, "src") == EMPTY and usage(ledger, "dst") == EMPTY
    assert ledger.expected_allocations() == {}


# -- cold moves ---------------------------------------------------------------
def _resize(kind="resize", new="big", source="src", dest="dst",
            status="pre-migrating"):
    ledger = make()
    ledger.boot("a", "ua", "small", source)
    ledger.start_move("a", kind, source, dest, new, "um", "pre-migrating")
    if status != "pre-migrating":
        ledger.set_move_status("a", status)
    return ledger


@pytest.mark.parametrize("status", ["pre-migrating", "migrating",
                                    "post-migrating"])
def test_resize_before_arrival(status):
    ledger = _resize(status=status)
    # The instance is still on the source with its old flavor; the
    # destination holds the new flavor for the incoming resize.  Once the
    # source sent it on (post-migrating) the record names the destination,
    # which then counts it in running_vms.
    moved = status == "post-migrating"
    assert usage(ledger, "src") == held(U_SMALL, vms=0 if moved else 1)
    assert usage(ledger, "dst") == held(U_BIG, vms=1 if moved else 0)
    assert [r for r, _ in ledger.holdings("dst")] == ["incoming resize of a"]
    assert ledger.expected_allocations() == {"ua": {"dst": P_BIG},
                                             "um": {"src": P_SMALL}}
    assert ledger.instances["a"].host == "src"
    assert ledger.instances["a"].flavor == "small"


def test_resize_finished():
    ledger = _resize(status="finished")
    # The instance is on the destination with the new flavor; the source
    # keeps the old flavor as revert room.
    assert usage(ledger, "dst") == U_BIG
    assert usage(ledger, "src") == held(U_SMALL)
    assert [r for r, _ in ledger.holdings("src")] == [
        "outgoing resize of a (revert room)"]
    assert ledger.instances["a"].host == "dst"
    assert ledger.instances["a"].flavor == "big"
    assert ledger.expected_allocations() == {"ua": {"dst": P_BIG},
                                             "um": {"src": P_SMALL}}


def test_resize_confirmed():
    ledger = _resize(status="finished")
    ledger.set_move_status("a", "confirmed")
    assert ledger.moves == {}
    assert usage(ledger, "src") == EMPTY
    assert usage(ledger, "dst") == U_BIG
    assert ledger.expected_allocations() == {"ua": {"dst": P_BIG}}
    assert ledger.history[0].status == "confirmed"


def test_resize_reverted():
    ledger = _resize(status="finished")
    ledger.set_move_status("a", "reverted")
    assert ledger.moves == {}
    assert usage(ledger, "src") == U_SMALL
    assert usage(ledger, "dst") == EMPTY
    assert ledger.instances["a"].flavor == "small"
    assert ledger.expected_allocations() == {"ua": {"src": P_SMALL}}


def test_resize_confirmed_without_finish_lands_on_dest():
    # The ledger's 'confirmed' puts the instance on the destination with the
    # new flavor even if 'finished' was never recorded.
    ledger = _resize(status="migrating")
    ledger.set_move_status("a", "confirmed")
    assert usage(ledger, "dst") == U_BIG and usage(ledger, "src") == EMPTY


@pytest.mark.parametrize("status", ["error", "failed", "cancelled", "done"])
def test_move_ending_otherwise_releases_the_claim(status):
    ledger = _resize(status="migrating")
    ledger.set_move_status("a", status)
    assert ledger.moves == {}
    assert usage(ledger, "src") == U_SMALL
    assert usage(ledger, "dst") == EMPTY


@pytest.mark.parametrize("status,extra", [("pre-migrating", BIG),
                                          ("migrating", BIG),
                                          ("post-migrating", BIG),
                                          ("finished", SMALL)])
def test_same_node_resize(status, extra):
    ledger = _resize(dest="src", status=status)
    inst = SMALL if status != "finished" else BIG
    u = ledger.expected_usage("src")
    assert (u.vcpus_used, u.memory_mb_used, u.local_gb_used) == (
        inst.vcpus + extra.vcpus, inst.memory_mb + extra.memory_mb,
        inst.disk_gb + extra.disk_gb)
    assert u.running_vms == 1
    assert [r for r, _ in ledger.holdings("src")] == [
        "instance a", "same-node resize of a"]
    # placement: the instance holds the new flavor, the migration the old,
    # both on the one provider
    assert ledger.expected_allocations() == {"ua": {"src": P_BIG},
                                             "um": {"src": P_SMALL}}
    assert ledger.expected_placement_usage("src") == {
        "VCPU": 3, "MEMORY_MB": 2560, "DISK_GB": 35}


def test_same_node_resize_confirm_and_revert():
    confirmed = _resize(dest="src", status="finished")
    confirmed.set_move_status("a", "confirmed")
    assert usage(confirmed, "src") == U_BIG
    reverted = _resize(dest="src", status="finished")
    reverted.set_move_status("a", "reverted")
    assert usage(reverted, "src") == U_SMALL


@pytest.mark.parametrize("status", IN_PROGRESS_COLD)
def test_cold_migration_holds_same_flavor(status):
    ledger = _resize(kind="migration", new="small", status=status)
    arrived = status == "finished"
    moved = status in ("finished", "post-migrating")   # the record's host
    assert usage(ledger, "dst") == held(U_SMALL, vms=int(moved))
    assert usage(ledger, "src") == held(U_SMALL, vms=int(not moved))
    assert ledger.record_host("a") == ("dst" if moved else "src")
    assert ledger.instances["a"].host == ("dst" if arrived else "src")
    reasons = [r for n in ("src", "dst") for r, _ in ledger.holdings(n)]
    assert any("migration of a" in r for r in reasons)
    assert ledger.expected_allocations() == {"ua": {"dst": P_SMALL},
                                             "um": {"src": P_SMALL}}
    assert ledger.consumer_names()["um"] == "migration of a (migration)"


# -- live migration -----------------------------------------------------------
@pytest.mark.parametrize("status", IN_PROGRESS_LIVE)
def test_live_migration_in_progress(status):
    ledger = make()
    ledger.boot("a", "ua", "small", "src")
    ledger.start_move("a", "live-migration", "src", "dst", "small", "um",
                      "accepted")
    ledger.set_move_status("a", status)
    assert usage(ledger, "src") == U_SMALL
    assert usage(ledger, "dst") == held(U_SMALL)
    assert [r for r, _ in ledger.holdings("dst")] == [
        "incoming live migration of a"]
    assert ledger.expected_allocations() == {"ua": {"dst": P_SMALL},
                                             "um": {"src": P_SMALL}}


def test_live_migration_completed():
    ledger = make()
    ledger.boot("a", "ua", "small", "src")
    ledger.start_move("a", "live-migration", "src", "dst", "small", "um",
                      "running")
    ledger.set_move_status("a", "completed")
    assert ledger.moves == {}
    assert ledger.instances["a"].host == "dst"
    assert usage(ledger, "src") == EMPTY
    assert usage(ledger, "dst") == U_SMALL
    assert ledger.expected_allocations() == {"ua": {"dst": P_SMALL}}


def test_live_migration_same_node_holds_nothing_extra():
    ledger = make()
    ledger.boot("a", "ua", "small", "src")
    ledger.start_move("a", "live-migration", "src", "src", "small", "um",
                      "running")
    assert usage(ledger, "src") == U_SMALL


# -- bookkeeping --------------------------------------------------------------
def test_move_record_flags():
    ledger = _resize(status="migrating")
    move = ledger.moves["a"]
    assert move.in_progress and not move.arrived
    ledger.set_move_status("a", "finished")
    assert move.arrived and move.in_progress
    ledger.set_move_status("a", "confirmed")
    assert not move.in_progress
    assert set(ENDED) & set(IN_PROGRESS_COLD + IN_PROGRESS_LIVE) == set()


def test_extra_consumers_count_in_placement():
    ledger = make()
    ledger.extra_consumers["ux"] = {"dst": {"VCPU": 3}}
    assert ledger.expected_allocations() == {"ux": {"dst": {"VCPU": 3}}}
    assert ledger.expected_placement_usage("dst") == {"VCPU": 3}
    assert usage(ledger, "dst") == EMPTY   # not the tracker's business


def test_several_moves_and_instances_add_up():
    ledger = make()
    ledger.boot("a", "ua", "small", "src")
    ledger.boot("b", "ub", "small", "dst")
    ledger.boot("c", "uc", "small", "src")
    ledger.start_move("a", "resize", "src", "dst", "big", "ma",
                      "pre-migrating")
    ledger.set_move_status("a", "finished")
    ledger.start_move("b", "live-migration", "dst", "src", "small", "mb",
                      "running")
    # src: c (instance) + b incoming + a's revert room
    assert usage(ledger, "src") == (3, 1536, 30, 1)
    # dst: a (big, arrived) + b (instance)
    assert usage(ledger, "dst") == (3, 2560, 35, 2)
    # placement src: c, a's migration consumer, b's instance consumer (its
    # destination allocation); dst: a's instance, b's migration consumer
    assert ledger.expected_placement_usage("src") == {
        "VCPU": 3, "MEMORY_MB": 1536, "DISK_GB": 30}
    assert ledger.expected_placement_usage("dst") == {
        "VCPU": 3, "MEMORY_MB": 2560, "DISK_GB": 35}
    assert len(ledger.history) == 2


def tracked(ledger, node):
    u = ledger.expected_tracker_usage(node)
    return (u.vcpus_used, u.memory_mb_used, u.local_gb_used)


def _live_migrated(ledger, audit_dest=False):
    ledger.boot("a", "ua", "small", "src")
    ledger.start_move("a", "live-migration", "src", "dst", "small", "um",
                      "running")
    if audit_dest:
        ledger.audited("dst")
    ledger.set_move_status("a", "completed")


def test_a_live_migration_is_not_counted_on_its_destination_until_audited():
    """No move claim for a live migration that is not NUMA-aware: the
    destination's tracker lacks it until its next audit (a gap)."""
    ledger = make()
    ledger.boot("a", "ua", "small", "src")
    ledger.start_move("a", "live-migration", "src", "dst", "small", "um",
                      "running")
    assert usage(ledger, "dst")[:3] == U_SMALL[:3]      # once audited
    assert tracked(ledger, "dst") == (0, 0, 0)
    assert any("no move claim" in r for r, _ in ledger.gaps("dst"))
    ledger.audited("dst")
    assert tracked(ledger, "dst") == U_SMALL[:3]
    assert ledger.gaps("dst") == []


def test_a_completed_live_migration_audits_its_source():
    """_post_live_migration runs the source's audit: nothing stays there;
    the destination counts the instance from its own next audit."""
    ledger = make()
    ledger.boot("b", "ub", "small", "src")
    ledger.hold_until_audit("src", "something pending", "small", "b")
    _live_migrated(ledger)
    assert tracked(ledger, "src") == U_SMALL[:3]        # b only: audited
    assert ledger.gaps("src") == []
    assert usage(ledger, "dst")[:3] == U_SMALL[:3]
    assert tracked(ledger, "dst") == (0, 0, 0)
    ledger.audited("dst")
    assert tracked(ledger, "dst") == U_SMALL[:3]


def test_a_live_migration_audited_on_its_destination_arrives_counted():
    ledger = make()
    _live_migrated(ledger, audit_dest=True)
    assert tracked(ledger, "dst") == U_SMALL[:3]
    assert ledger.gaps("dst") == []
    assert ledger.arrived_by_move.get("a") == "dst"


@pytest.mark.parametrize("audited", (False, True))
def test_a_rolled_back_live_migration_leaves_what_an_audit_counted(audited):
    """Rolled back (``failed``), a live migration the destination never
    audited leaves nothing there; one it counted at an audit stays
    counted until its next audit."""
    ledger = make()
    ledger.boot("a", "ua", "small", "src")
    ledger.start_move("a", "live-migration", "src", "dst", "small", "um",
                      "running")
    if audited:
        ledger.audited("dst")
    ledger.set_move_status("a", "failed")
    assert usage(ledger, "dst")[:3] == (0, 0, 0)
    assert tracked(ledger, "dst") == (U_SMALL[:3] if audited
                                      else (0, 0, 0))
    ledger.audited("dst")
    assert tracked(ledger, "dst") == (0, 0, 0)
    assert ledger.expected_allocations() == {"ua": {"src": P_SMALL}}


def test_a_live_migration_too_late_to_roll_back_keeps_its_allocations():
    """The hypervisor failed it and Nova put it in ERROR: the allocations
    stay as while it ran, until the server is deleted."""
    ledger = make()
    ledger.boot("a", "ua", "small", "src")
    ledger.start_move("a", "live-migration", "src", "dst", "small", "um",
                      "running")
    ledger.set_move_status("a", "error")
    ledger.too_late_to_roll_back("a")
    assert ledger.instances["a"].host == "src"
    assert ledger.expected_allocations() == {"ua": {"dst": P_SMALL},
                                             "um": {"src": P_SMALL}}
    ledger.delete("a")
    assert ledger.expected_allocations() == {}


@pytest.mark.parametrize("leave", ("delete", "offload"))
def test_update_usage_on_an_unreported_node_changes_nothing(leave):
    """A tracker is disabled on a node its driver does not report:
    deleting or offloading an instance there leaves its usage until an
    audit reaches the node (the ledger holds it as a gap)."""
    ledger = make()
    ledger.boot("a", "ua", "small", "src")
    ledger.node_reported("src", False)
    ledger.delete("a") if leave == "delete" else ledger.unplace("a")
    assert usage(ledger, "src")[:3] == (0, 0, 0)
    assert tracked(ledger, "src") == U_SMALL[:3]
    ledger.node_reported("src")
    assert tracked(ledger, "src") == U_SMALL[:3]     # until the audit
    ledger.audited("src")
    assert tracked(ledger, "src") == (0, 0, 0)
