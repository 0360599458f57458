"""Each lifecycle operation reaches Nova and leaves the documented state.

Every test drives one operation of :mod:`harness.world.ops` on a real world,
shows that the Nova code the service runs for it was reached (the tracker or
manager method is wrapped, never replaced: the real one runs), and reads the
DB rows, placement allocations and tracker memory it left, against what the
compute manager's own path documents.  The step checker must agree
(no violation) where Nova's state is consistent.
"""
from __future__ import annotations

import functools

import pytest

from harness.oracle.stepchecks import StepChecker, observe
from harness.world import lifecycle
from harness.world.ops import Client, Op, Refused

SMALL = dict(vcpus=1, memory_mb=512, root_gb=10)
EPH = dict(vcpus=2, memory_mb=1024, root_gb=10, ephemeral_gb=5, swap=1024)


@pytest.fixture
def client(world):
    world.create_flavor("small", **SMALL)
    world.create_flavor("eph", **EPH)
    c = Client(world)
    c.checker = StepChecker()
    yield c
    c.close()


def do(client, f, **args):
    """Perform an operation and check every invariant after it (the step
    checker expects to see every operation)."""
    done = client.perform(Op(f, args))
    assert done.type == "ok", done
    client.result = client.checker.check(client.world, done, client)
    return done


def clean(client, done=None):
    """The step checker's result after the last operation (or after
    ``done``, an operation performed without :func:`do`)."""
    if done is not None and done is not client.history[-1]:
        raise AssertionError("check right after the operation")
    if done is not None and done.type != "ok":
        return client.checker.check(client.world, done, client)
    return client.result


def spy(monkeypatch, obj, name):
    """Count calls of ``obj.name`` while the real method runs."""
    calls = []
    real = getattr(obj, name)

    @functools.wraps(real)
    def wrapper(*a, **kw):
        calls.append((a, kw))
        return real(*a, **kw)
    monkeypatch.setattr(obj, name, wrapper)
    return calls


def used(world, host):
    cn = world.hosts[host].rt.compute_nodes[world.hosts[host].nodename]
    return cn.vcpus_used, cn.memory_mb_used, cn.local_gb_used


def allocs(world, name):
    return observe(world).allocations.get(world.instances[name].uuid)


def test_boot_from_volume_holds_no_root_disk(client):
    world = client.world
    do(client, "boot", name="v", flavor="eph", host="src", from_volume=True)
    from nova.compute import utils as compute_utils
    inst = world.instance("v")
    assert compute_utils.is_volume_backed_instance(world.ctx, inst)
    # ephemeral 5 + swap 1 GiB, no root: tracker and placement
    assert used(world, "src") == (2, 512 + 1024, 6)
    assert allocs(world, "v") == {"src": {"VCPU": 2, "MEMORY_MB": 1024,
                                          "DISK_GB": 6}}
    assert clean(client).violations == []


def test_build_failure_aborts_the_claim(client, monkeypatch):
    world = client.world
    aborts = spy(monkeypatch, world.hosts["src"].rt, "abort_instance_claim")
    before = used(world, "src")
    do(client, "build_fail", name="b", flavor="small", host="src")
    assert len(aborts) == 1
    inst = world.instance("b")
    assert (inst.vm_state, inst.host, inst.node) == ("error", None, None)
    assert used(world, "src") == before
    assert allocs(world, "b") is None
    assert inst.uuid not in world.hosts["src"].rt.tracked_instances
    assert clean(client).violations == []


def test_build_failure_stopped_before_its_clean_up(client, monkeypatch):
    """``until='aborted'``: the claim aborted (``abort_instance_claim``
    untagged the instance and removed its usage), the manager's clean-up
    not yet run: the allocation is still held; an audit then counts
    nothing for it; ``finish_build_fail`` leaves what a whole
    ``build_fail`` leaves."""
    world = client.world
    aborts = spy(monkeypatch, world.hosts["src"].rt, "abort_instance_claim")
    before = used(world, "src")
    do(client, "build_fail", name="c", flavor="small", host="src",
       until="aborted")
    assert len(aborts) == 1
    inst = world.instance("c")
    assert (inst.vm_state, inst.host, inst.node) == ("building", None, None)
    assert used(world, "src") == before
    assert allocs(world, "c") == {"src": {"VCPU": 1, "MEMORY_MB": 512,
                                          "DISK_GB": 10}}
    assert clean(client).violations == []
    do(client, "audit", host="src")
    assert used(world, "src") == before
    assert clean(client).violations == []
    do(client, "finish_build_fail", name="c")
    inst = world.instance("c")
    assert (inst.vm_state, inst.host, inst.node) == ("error", None, None)
    assert allocs(world, "c") is None
    assert inst.uuid not in world.hosts["src"].rt.tracked_instances
    assert clean(client).violations == []
    again = client.perform(Op("finish_build_fail", {"name": "c"}))
    assert again.type == "fail"


def test_resize_on_its_own_host(client, monkeypatch):
    """A same-host resize (``allow_resize_to_same_host``): the node holds
    both flavors from the claim on (the instance's old one, the move's
    new one), placement the old under the migration consumer and the new
    under the instance consumer, both on that node; the migration context
    names the migration; confirm leaves the new flavor alone."""
    world = client.world
    do(client, "boot", name="h", flavor="small", host="src")
    base = used(world, "src")
    claims = spy(monkeypatch, world.hosts["src"].rt, "resize_claim")
    drops = spy(monkeypatch, world.hosts["src"].rt,
                "drop_move_claim_at_source")
    do(client, "move", name="h", dest="src", flavor="eph",
       until="pre-migrating")
    assert len(claims) == 1
    mig = world.migration("h")
    assert (mig.source_compute, mig.dest_compute, mig.dest_node) == (
        "src", "src", world.hosts["src"].nodename)
    assert world.instance("h").migration_context.migration_id == mig.id
    assert used(world, "src") == (base[0] + 2, base[1] + 1024, base[2] + 16)
    assert allocs(world, "h") == {"src": {"VCPU": 2, "MEMORY_MB": 1024,
                                          "DISK_GB": 16}}
    assert observe(world).allocations[mig.uuid] == {
        "src": {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 10}}
    assert clean(client).violations == []
    for _ in range(3):
        do(client, "advance", name="h")
    assert clean(client).violations == []
    do(client, "confirm", name="h")
    assert len(drops) == 1
    assert used(world, "src") == (base[0] + 1, base[1] + 512, base[2] + 6)
    assert world.instance("h").migration_context is None
    assert clean(client).violations == []


def test_reschedule_lands_on_the_alternate(client, monkeypatch):
    world = client.world
    aborts = spy(monkeypatch, world.hosts["src"].rt, "abort_instance_claim")
    claims = spy(monkeypatch, world.hosts["dst"].rt, "instance_claim")
    do(client, "build_fail", name="r", flavor="small", host="src",
       alternate="dst")
    assert (len(aborts), len(claims)) == (1, 1)
    inst = world.instance("r")
    assert (inst.vm_state, inst.host) == ("active", "dst")
    assert list(allocs(world, "r")) == ["dst"]
    assert used(world, "src")[0] == 0 and used(world, "dst")[0] == 1
    assert clean(client).violations == []


def test_shelve_offload_unshelve_with_an_audit_while_spawning(client,
                                                              monkeypatch):
    world = client.world
    do(client, "boot", name="s", flavor="small", host="src")
    do(client, "shelve", name="s")
    assert world.instance("s").vm_state == "shelved"
    assert used(world, "src")[0] == 1          # still holds its resources
    deletes = spy(monkeypatch, world.hosts["src"].rt,
                  "delete_allocation_for_shelve_offloaded_instance")
    do(client, "shelve_offload", name="s")
    assert len(deletes) == 1
    inst = world.instance("s")
    assert (inst.vm_state, inst.host, inst.node) == (
        "shelved_offloaded", None, None)
    assert used(world, "src")[0] == 0 and allocs(world, "s") is None
    assert clean(client).violations == []
    do(client, "unshelve", name="s", host="dst", until="spawning")
    inst = world.instance("s")
    assert (inst.vm_state, inst.task_state, inst.host) == (
        "shelved_offloaded", "spawning", "dst")
    assert used(world, "dst")[0] == 1 and list(allocs(world, "s")) == ["dst"]
    # the periodic audit while it spawns keeps counting it
    result = clean(client, do(client, "audit", host="dst"))
    assert result.violations == [] and used(world, "dst")[0] == 1
    do(client, "finish_unshelve", name="s")
    assert world.instance("s").vm_state == "active"
    assert clean(client).violations == []


def test_unshelve_failure_frees_everything(client):
    world = client.world
    do(client, "boot", name="s", flavor="small", host="src")
    do(client, "shelve", name="s")
    do(client, "shelve_offload", name="s")
    do(client, "unshelve", name="s", host="dst", fail=True)
    inst = world.instance("s")
    assert (inst.vm_state, inst.host) == ("shelved_offloaded", None)
    assert used(world, "dst")[0] == 0 and allocs(world, "s") is None
    assert clean(client).violations == []


def test_evacuate_then_source_restart(client, monkeypatch):
    world = client.world
    do(client, "boot", name="e", flavor="small", host="src")
    do(client, "service_down", host="src")
    claims = spy(monkeypatch, world.hosts["dst"].rt, "rebuild_claim")
    do(client, "evacuate", name="e", dest="dst")
    assert len(claims) == 1
    mig = world.migration("e")
    assert (mig.migration_type, mig.status) == ("evacuation", "done")
    assert world.instance("e").host == "dst"
    # the instance consumer holds both nodes until the source restarts
    assert sorted(allocs(world, "e")) == ["dst", "src"]
    assert clean(client).violations == []
    do(client, "restart", host="src")
    assert world.migration("e").status == "completed"
    assert list(allocs(world, "e")) == ["dst"]
    assert used(world, "src")[0] == 0 and used(world, "dst")[0] == 1
    assert clean(client).violations == []


def test_evacuate_to_a_failing_destination(client):
    world = client.world
    do(client, "boot", name="e", flavor="small", host="src")
    do(client, "service_down", host="src")
    do(client, "evacuate", name="e", dest="dst", fail=True)
    assert world.migration("e").status == "failed"
    inst = world.instance("e")
    assert (inst.vm_state, inst.host) == ("error", "src")
    assert list(allocs(world, "e")) == ["src"]
    assert used(world, "dst")[0] == 0
    assert clean(client).violations == []


def test_evacuate_refuses_an_up_host(client):
    do(client, "boot", name="e", flavor="small", host="src")
    done = client.perform(Op("evacuate", {"name": "e", "dest": "dst"}))
    assert done.type == "fail" and "is up" in done.value


def test_restart_builds_a_new_tracker(client):
    world = client.world
    do(client, "boot", name="a", flavor="small", host="src")
    old = world.hosts["src"].rt
    do(client, "restart", host="src")
    assert world.hosts["src"].rt is not old
    assert used(world, "src") == (1, 512 + 512, 10)
    assert clean(client).violations == []


def test_node_unavailable_is_skipped_by_the_audit_and_comes_back(client):
    world = client.world
    do(client, "boot", name="a", flavor="small", host="src")
    do(client, "node_unavailable", host="src")
    audits = []
    host = world.hosts["src"]
    real = host.rt.update_available_resource
    host.rt.update_available_resource = lambda *a, **k: (
        audits.append(a), real(*a, **k))[1]
    do(client, "audit", host="src")
    assert audits == []                       # the manager skipped the node
    assert "src" in host.rt.compute_nodes     # and kept its record
    do(client, "node_available", host="src")
    do(client, "audit", host="src")
    assert len(audits) == 1
    assert clean(client).violations == []


def test_live_rollback_returns_the_allocation_and_claims_nothing(client):
    """The hypervisor rolls a running live migration back (it calls Nova's
    recover method): the allocation goes back to the instance on src.  A
    live migration that is not NUMA-aware made no claim on the
    destination, whose tracker never counted it (it was not audited while
    the migration ran)."""
    world = client.world
    do(client, "boot", name="l", flavor="small", host="src")
    do(client, "live_migrate", name="l", dest="dst", until="running")
    assert used(world, "dst")[0] == 0            # no claim while it runs
    assert any("no move claim" in g.detail for g in clean(client).gaps)
    do(client, "live_rollback", name="l")
    assert world.migration("l").status == "failed"
    assert list(allocs(world, "l")) == ["src"]
    assert used(world, "dst")[0] == 0
    result = clean(client)
    assert result.violations == [] and result.gaps == []


def test_live_rollback_after_an_audit_leaves_the_count_until_the_next(client):
    """Audited while the live migration ran, the destination counts it;
    rolled back, it keeps that count until its next audit (Nova sends
    drop_move_claim_at_destination only for NUMA-aware live migrations):
    a gap the checker names, gone after the audit."""
    world = client.world
    do(client, "boot", name="l", flavor="small", host="src")
    do(client, "live_migrate", name="l", dest="dst", until="running")
    do(client, "audit", host="dst")
    assert used(world, "dst")[0] == 1
    do(client, "live_rollback", name="l")
    result = clean(client)
    assert result.violations == []
    assert any("live migration of l, counted at an audit" in g.detail
               for g in result.gaps)
    result = clean(client, do(client, "audit", host="dst"))
    assert result.violations == [] and result.gaps == []
    assert used(world, "dst")[0] == 0


def test_advance_walks_a_stopped_move_to_its_end(client):
    world = client.world
    do(client, "boot", name="m", flavor="small", host="src")
    do(client, "move", name="m", dest="dst", flavor="eph",
       until="pre-migrating")
    seen = [do(client, "advance", name="m").value for _ in range(3)]
    assert seen == ["migrating", "post-migrating", "finished"]
    assert world.migration("m").status == "finished"
    do(client, "revert", name="m")
    assert world.migration("m").status == "reverted"
    assert clean(client).violations == []
    do(client, "live_migrate", name="m", dest="dst", until="preparing")
    assert [do(client, "advance", name="m").value for _ in range(2)] == [
        "running", "completed"]
    assert world.instance("m").host == "dst"


def test_migrate_back_beside_an_errored_move(client):
    world = client.world
    do(client, "boot", name="m", flavor="small", host="src")
    # the source hypervisor fails the disk copy: the move ends in error
    do(client, "move", name="m", dest="dst", flavor="eph", fail="disk")
    first = world.migration("m")
    do(client, "move", name="m", dest="dst")
    do(client, "confirm", name="m")
    do(client, "move", name="m", dest="src")     # back to the former host
    do(client, "confirm", name="m")
    from nova import objects
    statuses = sorted(m.status for m in objects.MigrationList.get_by_filters(
        world.ctx, {"instance_uuid": world.instances["m"].uuid}))
    assert statuses == ["confirmed", "confirmed", "error"]
    assert first.uuid != world.migration("m").uuid
    do(client, "audit")
    assert clean(client).violations == []


def test_ops_are_data_and_report_their_outcome(client):
    op = Op("boot", {"name": "x", "flavor": "small", "host": "src"})
    assert Op.from_dict(op.as_dict()) == op
    with pytest.raises(ValueError):
        Op.from_dict({"args": {}})
    with pytest.raises(ValueError):
        client.perform(Op("no-such-op"))
    assert client.perform(op).type == "ok"
    # the API refuses a boot onto an unknown host: the operation failed
    # (it definitely did not happen)
    done = client.perform(Op("boot", {"name": "y", "flavor": "small",
                                      "host": "nowhere"}))
    assert done.type == "fail" and "nowhere" in done.value
    assert clean(client, done).violations == []
    # an operation that raises with no fault active is indeterminate
    # (info), and the step check reports it
    done = client.perform(Op("confirm", {"name": "ghost"}))
    assert done.type == "info" and "ghost" in done.value
    assert clean(client, done).violations[0].invariant == (
        "operation_completed")
    assert [o.type for o in client.history] == [
        "invoke", "ok", "invoke", "fail", "invoke", "info"]


def test_refused_is_a_fail(client, monkeypatch):
    from harness.world import ops

    def refuse(world, name):
        raise Refused("%s is not shelved" % name)
    monkeypatch.setitem(ops.CLIENT, "shelve_offload", refuse)
    done = client.perform(Op("shelve_offload", {"name": "x"}))
    assert (done.type, done.value) == ("fail", "x is not shelved")


def test_nemesis_starts_and_stops_a_fault(client):
    world = client.world
    done = client.perform(Op("start", {"kind": "driver_raises",
                                       "host": "src"}, process="nemesis"))
    assert done.type == "ok" and client.fault is not None
    again = client.perform(Op("start", {"kind": "driver_raises",
                                        "host": "src"}, process="nemesis"))
    assert again.type == "fail"
    # the fault reaches Nova: the tracker's audit raises
    results = world.audit("src", via="tracker")
    assert results[0].error is not None
    # nothing is asserted while a fault is active
    assert client.checker.check(world, again, client).checked is False
    assert client.perform(Op("stop", {}, process="nemesis")).type == "ok"
    assert client.fault is None
    assert world.audit("src", via="tracker")[0].error is None
    with pytest.raises(ValueError):
        client.perform(Op("start", {"kind": "bogus"}, process="nemesis"))


def test_lifecycle_module_refuses_unknown_hosts(client):
    with pytest.raises(KeyError):
        lifecycle.node_unavailable(client.world, "nowhere")


def test_wait_lets_time_pass_between_two_records(client):
    """``wait`` is time passing and nothing else: the next record Nova
    saves is stamped at least that much later, and every invariant still
    holds."""
    import time
    from nova import objects
    do(client, "boot", name="w", flavor="small", host="src")
    first = objects.Instance.get_by_uuid(client.world.ctx,
                                         client.world.instance("w").uuid)
    started = time.monotonic()
    done = do(client, "wait", seconds=0.3)
    assert done.value == 0.3 and time.monotonic() - started >= 0.3
    assert clean(client).violations == []
    before = first.updated_at or first.created_at
    first.display_name = "w2"
    first.save()
    first.refresh()
    assert (first.updated_at - before).total_seconds() >= 0.3


def test_a_compute_that_dies_mid_spawn_runs_none_of_its_clean_up(client):
    """A compute restarted while an unshelve spawns: its process died in
    the driver's ``spawn``, so none of the code after it runs, neither
    Nova's ``except`` handlers nor the claim's ``with`` exit (which would
    abort the claim and clear the instance's host).  The new service's
    ``init_host`` finds the instance on its host mid-spawn and puts it in
    ERROR there; it keeps its allocation and the tracker counts it
    (the explorer's seed 0 shrank this sequence when the dying thread's
    unwinding still wrote to the database: host None, allocation kept)."""
    world = client.world
    do(client, "boot", name="s", flavor="small", host="src")
    do(client, "shelve", name="s")
    do(client, "shelve_offload", name="s")
    do(client, "unshelve", name="s", host="dst", until="spawning")
    do(client, "restart", host="dst")
    inst = world.instance("s")
    assert (inst.vm_state, inst.host, inst.node) == ("error", "dst", "dst")
    assert list(allocs(world, "s")) == ["dst"]
    assert used(world, "dst")[0] == 1
    assert clean(client).violations == []
