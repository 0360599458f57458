"""Every per-operation invariant can fail (and passes a correct state).

Pure checks are fed hand-built states; the migration-record checks and the
fast state read run on a real world whose records are then corrupted at the
DB (never by mocking Nova).
"""
from __future__ import annotations

import pytest

from harness.oracle import stepchecks as sc
from harness.oracle.ledger import FlavorSpec, Ledger
from harness.oracle.snapshot import NodeView, Snapshot
from harness.world.deployment import Reserved
from harness.world.ops import Client, Op

RATIOS = {"cpu": 4.0, "ram": 1.0, "disk": 1.0}


def ledger_with_one():
    ledger = Ledger(reserved=Reserved(cpus=0, memory_mb=512, disk_mb=0))
    ledger.add_node("src", 16, 32768, 400, RATIOS)
    ledger.add_flavor(FlavorSpec("small", 1, 512, 10, 0, 0))
    ledger.boot("vm1", "uuid-vm1", "small", "src")
    return ledger


def snap_of(ledger, **override):
    use = ledger.expected_tracker_usage("src").as_dict()
    use.update(override)
    row = dict(use, vcpus=16, memory_mb=32768, local_gb=400,
               free_ram_mb=32768 - use["memory_mb_used"],
               free_disk_gb=400 - use["local_gb_used"])
    return Snapshot({"src": NodeView(dict(row), dict(row), None)}, {}, {},
                    {}, {})


def test_usage_agrees_passes_and_fails():
    ledger = ledger_with_one()
    assert sc.usage_agrees(snap_of(ledger), ledger) == ([], [])
    bad, gaps = sc.usage_agrees(snap_of(ledger, vcpus_used=3), ledger)
    assert {v.subject for v in bad} == {"tracker src vcpus_used",
                                        "db src vcpus_used"}
    assert gaps == []


def test_a_documented_gap_is_reported_not_hidden_nor_failed():
    ledger = ledger_with_one()
    ledger.hold_until_audit("src", "a claim kept until the audit", "small")
    # the tracker holds the extra claim: a gap, no violation
    bad, gaps = sc.usage_agrees(snap_of(ledger), ledger)
    assert bad == [] and gaps
    assert all(g.invariant == "usage_gap_until_audit" for g in gaps)
    # once audited the gap is gone; the same memory is now a violation
    held = snap_of(ledger)
    ledger.audited("src")
    bad, gaps = sc.usage_agrees(held, ledger)
    assert bad and gaps == []


def test_running_vms_is_a_gap_between_audits_and_a_violation_after():
    ledger = ledger_with_one()
    snap = snap_of(ledger, running_vms=0)
    bad, gaps = sc.usage_agrees(snap, ledger)
    assert bad == [] and {g.subject for g in gaps} == {
        "tracker src running_vms", "db src running_vms"}
    bad, gaps = sc.usage_agrees(snap, ledger, audited=["src"])
    assert {v.subject for v in bad} == {"tracker src running_vms",
                                        "db src running_vms"}


def test_a_down_service_is_not_judged_on_its_tracker():
    ledger = ledger_with_one()
    ledger.service_down("src")
    assert sc.usage_agrees(snap_of(ledger, vcpus_used=7), ledger) == ([],
                                                                      [])


def test_audit_changes_nothing_can_fail():
    ledger = ledger_with_one()
    a = sc.state_key(snap_of(ledger), ledger)
    assert sc.audit_changed(a, a) == []
    b = sc.state_key(snap_of(ledger, memory_mb_used=1536), ledger)
    found = sc.audit_changed(a, b)
    assert [v.invariant for v in found] == ["audit_changes_nothing"]


@pytest.fixture
def moved(world):
    world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
    client = Client(world)
    checker = sc.StepChecker()
    for op in (Op("boot", {"name": "vm1", "flavor": "small",
                           "host": "src"}),
               Op("move", {"name": "vm1", "dest": "dst"}),
               Op("revert", {"name": "vm1"})):
        done = client.perform(op)
        assert checker(world, done, client) == []
    yield world, client, checker
    client.close()


def _set_status(world, name, status):
    mig = world.migration(name)
    mig.status = status
    mig.save()


def test_observe_reads_what_the_placement_api_shows(moved):
    world, _, _ = moved
    fast = sc.observe(world)
    from harness.oracle.snapshot import take
    slow = take(world)
    assert fast.allocations == slow.allocations
    assert fast.usages == slow.usages
    assert {n: p["uuid"] for n, p in fast.providers.items()} == {
        n: p["uuid"] for n, p in slow.providers.items()}


def test_an_ended_migration_must_not_change(moved):
    world, client, checker = moved
    _set_status(world, "vm1", "finished")
    found = sc.migration_lifecycle(world, checker.statuses)
    assert any(v.detail == "an ended migration changed" for v in found)
    # the ledger recorded 'reverted': a reverted move must end reverted
    assert any(v.detail == "the ledger recorded another status"
               for v in found)


def test_a_status_must_not_go_back(world):
    world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
    world.boot("vm1", "small", "src")
    world.resize("vm1", "small", "dst", until="post-migrating")
    statuses = {}
    assert sc.migration_lifecycle(world, statuses) == []
    _set_status(world, "vm1", "pre-migrating")
    found = sc.migration_lifecycle(world, statuses)
    assert [v.detail for v in found] == [
        "status went back", "the ledger recorded another status"]


def test_no_migration_in_progress_for_an_instance_not_moving(moved):
    world, _, checker = moved
    from nova import objects
    objects.Migration(
        context=world.ctx, uuid="4f2a1d1c-0c6a-4e1f-9d2e-2b4a3c5d6e7f",
        instance_uuid=world.instances["vm1"].uuid, status="migrating",
        migration_type="migration", source_compute="src",
        source_node="src", dest_compute="dst", dest_node="dst",
        dest_compute_id=world.hosts["dst"].compute_node.id).create()
    found = sc.migration_lifecycle(world, checker.statuses)
    assert [v.detail for v in found] == ["instance vm1 is not moving"]


def test_the_step_checker_fails_on_a_leaked_claim(moved):
    """A claim the ledger does not know of (made on the tracker directly,
    as a defective path would leave it) fails the very next check."""
    world, client, checker = moved
    host = world.hosts["dst"]
    inst = world.instance("vm1")
    host.rt.compute_nodes[host.nodename].vcpus_used += 2
    done = client.perform(Op("node_available", {"host": "dst"}))
    found = checker(world, done, client)
    assert {v.subject for v in found} == {"tracker dst vcpus_used"}
    assert inst.uuid


def test_an_instance_must_be_where_the_ledger_places_it(moved):
    """A record that says the instance is on another host (or still on the
    host after its claim aborted) fails the check."""
    world, _, _ = moved
    assert sc.instance_records(world) == []
    inst = world.instance("vm1")
    inst.host, inst.node = "dst", world.hosts["dst"].nodename
    inst.compute_id = world.hosts["dst"].compute_node.id
    inst.save()
    found = sc.instance_records(world)
    assert [(v.subject, v.expected, v.actual) for v in found] == [
        ("instance vm1 host/node", "src/%s" % world.hosts["src"].nodename,
         "dst/%s" % world.hosts["dst"].nodename)]


def test_a_failed_build_must_hold_no_host(world):
    world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
    client = Client(world)
    done = client.perform(Op("build_fail", {"name": "f", "flavor": "small",
                                            "host": "src",
                                            "until": "aborted"}))
    assert done.type == "ok" and sc.instance_records(world) == []
    inst = world.instance("f")
    inst.host, inst.node = "src", world.hosts["src"].nodename
    inst.compute_id = world.hosts["src"].compute_node.id
    inst.save()
    assert [v.subject for v in sc.instance_records(world)] == [
        "instance f host/node"]


def test_a_move_in_progress_keeps_its_migration_context(world):
    world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
    world.create_flavor("big", vcpus=2, memory_mb=1024, root_gb=20)
    world.boot("vm1", "small", "src")
    world.resize("vm1", "big", "dst", until="pre-migrating")
    assert sc.instance_records(world) == []
    inst = world.instance("vm1")
    inst.migration_context = None
    inst.save()
    found = sc.instance_records(world)
    assert [(v.subject, v.actual) for v in found] == [
        ("instance vm1 migration_context", None)]


# What the explorer taught the ledger, each checked against Nova's
# services: the sequence keeps every invariant, and the difference Nova
# keeps until the next audit is reported as a gap naming why.
TAUGHT = {
    # (a completed live migration audits its source at once, so a resize
    # back onto it is counted: F-14 of the hand-written model does not
    # happen in Nova)
    "a resize back onto the host a server live-migrated from": (
        [("boot", dict(name="i1", flavor="small", host="src")),
         ("live_migrate", dict(name="i1", dest="dst", until="completed")),
         ("move", dict(name="i1", dest="src", flavor="big",
                       until="pre-migrating")),
         ("advance", dict(name="i1")), ("advance", dict(name="i1")),
         ("advance", dict(name="i1")), ("revert", dict(name="i1"))],
        "no move claim"),
    # (an evacuated server is stopped on its destination since
    # microversion 2.95: it moves on by cold migration)
    "an evacuation leftover moves with the migration consumer": (
        [("boot", dict(name="i1", flavor="small", host="src")),
         ("service_down", dict(host="src")),
         ("evacuate", dict(name="i1", dest="dst", fail=False)),
         ("move", dict(name="i1", dest="bystander",
                       until="pre-migrating"))],
        None),
    "live migrations on before the destination's audit": (
        [("boot", dict(name="i1", flavor="small", host="dst")),
         ("live_migrate", dict(name="i1", dest="bystander",
                               until="completed")),
         ("live_migrate", dict(name="i1", dest="src", until="completed")),
         ("live_migrate", dict(name="i1", dest="bystander",
                               until="preparing"))],
        "no move claim"),
    "update_usage on an unreported node": (
        [("boot", dict(name="i1", flavor="small", host="bystander")),
         ("node_unavailable", dict(host="bystander")),
         ("shelve", dict(name="i1")),
         ("shelve_offload", dict(name="i1"))],
        "while the driver did not report its node"),
}


@pytest.mark.parametrize("title", sorted(TAUGHT))
def test_what_the_explorer_taught_holds_on_real_nova(title):
    from harness.world.deployment import World
    ops, gap = TAUGHT[title]
    world = World()
    world.setUp()
    try:
        client, checker = Client(world), sc.StepChecker()
        world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        world.create_flavor("big", vcpus=2, memory_mb=1024, root_gb=20)
        reasons = []
        for f, args in ops:
            done = client.perform(Op(f, args))
            assert done.type == "ok", done
            result = checker.check(world, done, client)
            assert result.violations == [], (f, result.violations)
            reasons += [g.detail for g in result.gaps]
        assert gap is None or any(gap in r for r in reasons), reasons
    finally:
        world.cleanUp()


def test_the_row_of_a_restarted_unaudited_node_is_a_gap_until_its_audit():
    """A compute restarted while its driver did not report the node writes
    nothing to the row until an audit reaches it: a differing row is a gap
    then, a violation once the node is audited."""
    ledger = ledger_with_one()
    ledger.restarted_unaudited.add("src")
    stale = snap_of(ledger, vcpus_used=3)
    stale.nodes["src"] = NodeView(None, stale.nodes["src"].db, None)
    bad, gaps = sc.usage_agrees(stale, ledger)
    assert bad == [] and {g.subject for g in gaps} == {"tracker src",
                                                       "db src"}
    ledger.audited("src")
    bad, _ = sc.usage_agrees(snap_of(ledger, vcpus_used=3), ledger)
    assert "db src vcpus_used" in {v.subject for v in bad}
