"""Lifecycle steps beyond boot, move and delete, in the real shape.

Like :mod:`harness.world.moves`, each function performs what Nova's compute
manager and conductor do for one lifecycle step, calling the real code at
every accounting step (``ResourceTracker.instance_claim`` and its abort,
``rebuild_claim``, ``finish_evacuation``,
``delete_allocation_for_shelve_offloaded_instance``, ``update_usage``, the
report client's allocation calls, the compute manager's own
``_destroy_evacuated_instances`` and ``update_available_resource``) and
writing the record changes the manager makes.  The sequences follow
``nova/compute/manager.py`` (``_do_build_and_run_instance``,
``_shelve_offload_instance``, ``_unshelve_instance``, ``rebuild_instance``,
``_rollback_live_migration``, ``init_host``).  Each records its documented
effect in the world's ledger (``harness.oracle.ledger``).
"""
from __future__ import annotations


class InjectedFailure(Exception):
    """The hypervisor step (spawn, rebuild) failed after the claim."""


def _nil_out_host_and_node(inst):
    """``ComputeManager._nil_out_instance_obj_host_and_node`` (no save)."""
    inst.host = None
    inst.node = None
    inst.compute_id = None
    inst.launched_on = None


def _host_of(world, name):
    return world.hosts[world.instance(name).host]


# ---------------------------------------------------------------------------
# build failures and reschedules
# ---------------------------------------------------------------------------
BUILD_FAIL_UNTIL = ("aborted", "cleaned")


def build_fail(world, name, flavor, host, alternate=None, from_volume=False,
               until="cleaned"):
    """A build that fails on ``host`` after its claim (the claim aborts).

    With ``alternate`` the build is rescheduled there (the compute deletes
    the allocation, the conductor claims on the alternate host, whose
    compute claims and spawns); without, the instance ends in ERROR with no
    host and no allocation (``_do_build_and_run_instance`` then
    ``_locked_do_build_and_run_instance``'s clean-up).

    ``until='aborted'`` (no ``alternate``) stops right after the claim
    aborted, before ``_do_build_and_run_instance``'s clean-up
    (``_cleanup_allocated_networks``, ``_cleanup_volumes``, the instance
    fault, then ``_nil_out_instance_obj_host_and_node`` and the ERROR
    state): network and volume calls during which the service's periodic
    audit may run.  ``abort_instance_claim`` has untagged the instance
    under the tracker's lock (``_unset_instance_host_and_node``: "so the
    resource claim will not be lost if the audit process starts"); the
    scheduler's allocation is still held.  :func:`finish_build_fail`
    completes the clean-up.
    """
    if until not in BUILD_FAIL_UNTIL:
        raise ValueError("until=%r: expected one of %s"
                         % (until, BUILD_FAIL_UNTIL))
    if until == "aborted" and alternate is not None:
        raise ValueError("until='aborted' stops a build that is not "
                         "rescheduled (no alternate)")
    from nova.compute import task_states, vm_states
    ctx = world.ctx
    inst = world.new_instance(name, flavor, from_volume=from_volume)
    flv = world.flavors[flavor]
    world.schedule(inst, flv, host)
    target = world.hosts[host]
    inst.vm_state = vm_states.BUILDING
    inst.task_state = None
    inst.save()
    allocs = target.reportclient.get_allocations_for_consumer(ctx, inst.uuid)
    try:
        with target.rt.instance_claim(ctx, inst, target.nodename, allocs):
            raise InjectedFailure("spawn failed on %s" % host)
    except InjectedFailure:
        pass
    if alternate is None:
        world.ledger.boot(name, inst.uuid, flavor, None,
                          volume_backed=from_volume)
        # until the clean-up deletes it, the scheduler's allocation stays
        world.ledger.extra_consumers[inst.uuid] = {
            host: world.ledger.spec(name, flavor).placement_resources()}
        world.failed_builds[name] = host
        if until == "aborted":
            world.trace.step("world", "build claim aborted", instance=name,
                             host=host)
            return inst
        return finish_build_fail(world, name)
    _nil_out_host_and_node(inst)
    inst.task_state = task_states.SCHEDULING
    inst.save()
    target.reportclient.delete_allocation_for_instance(
        ctx, inst.uuid, force=True)
    # Conductor build_instances with the alternate host: claim there.
    allocations = world.schedule(inst, flv, alternate)
    alt = world.hosts[alternate]
    inst.vm_state = vm_states.BUILDING
    inst.task_state = None
    inst.save()
    alt.rt.instance_claim(ctx, inst, alt.nodename, allocations)
    inst.vm_state = vm_states.ACTIVE
    inst.task_state = None
    inst.save()
    world.ledger.boot(name, inst.uuid, flavor, alternate,
                      volume_backed=from_volume)
    world.trace.step("world", "rescheduled", instance=name, failed=host,
                     host=alternate)
    return inst


def finish_build_fail(world, name):
    """The rest of a failed build that is not rescheduled
    (``_do_build_and_run_instance``'s clean-up after the claim aborted):
    host and node nilled out, ERROR, and the allocation deleted."""
    from nova.compute import vm_states
    from harness.world.ops import Refused
    host = world.failed_builds.pop(name, None)
    if host is None:
        raise Refused("%s is not a failed build awaiting its clean-up"
                      % name)
    inst = world.instance(name)
    target = world.hosts[host]
    _nil_out_host_and_node(inst)
    inst.vm_state = vm_states.ERROR
    inst.task_state = None
    inst.save()
    target.reportclient.delete_allocation_for_instance(
        world.ctx, inst.uuid, force=True)
    world.ledger.extra_consumers.pop(inst.uuid, None)
    world.trace.step("world", "build failed", instance=name, host=host)
    return inst


# ---------------------------------------------------------------------------
# shelve, offload, unshelve
# ---------------------------------------------------------------------------
def shelve(world, name):
    """``_shelve_instance``: powered off and snapshotted, still on its host
    (it keeps its resources until offloaded)."""
    from nova.compute import task_states, vm_states
    inst = world.instance(name)
    inst.task_state = task_states.SHELVING
    inst.save()
    inst.power_state = 4  # power_state.SHUTDOWN
    inst.vm_state = vm_states.SHELVED
    inst.task_state = None
    inst.save()
    world.trace.step("world", "shelve", instance=name)


def shelve_offload(world, name):
    """``_shelve_offload_instance``: allocation deleted, tracker usage
    dropped, host and node cleared."""
    from nova.compute import task_states, vm_states
    ctx = world.ctx
    inst = world.instance(name)
    host = world.hosts[inst.host]
    inst.task_state = task_states.SHELVING_OFFLOADING
    inst.save()
    host.rt.delete_allocation_for_shelve_offloaded_instance(ctx, inst)
    inst.vm_state = vm_states.SHELVED_OFFLOADED
    inst.task_state = None
    inst.save()
    # _update_resource_tracker
    host.rt.update_usage(ctx, inst, inst.node)
    _nil_out_host_and_node(inst)
    inst.save()
    world.ledger.unplace(name)
    world.trace.step("world", "shelve_offload", instance=name,
                     host=host.name)


def unshelve(world, name, host, until="active", fail=False):
    """Unshelve an offloaded instance onto ``host``.

    The conductor schedules (placement claim); the compute
    (``_unshelve_instance``) sets ``spawning``, claims on the node, spawns.
    ``until='spawning'`` stops inside the spawn (claim held, task state
    ``spawning``), where a periodic audit may run; :func:`finish_unshelve`
    completes it.  ``fail``: the spawn fails, the claim aborts, the
    allocation is deleted and the instance stays offloaded.
    """
    from nova.compute import task_states, vm_states
    ctx = world.ctx
    inst = world.instance(name)
    flv = inst.flavor
    inst.task_state = task_states.UNSHELVING
    inst.save()
    world.schedule(inst, flv, host)
    target = world.hosts[host]
    inst.task_state = task_states.SPAWNING
    inst.save()
    allocs = target.reportclient.get_allocations_for_consumer(ctx, inst.uuid)
    if fail:
        try:
            with target.rt.instance_claim(ctx, inst, target.nodename,
                                          allocs):
                raise InjectedFailure("spawn failed on %s" % host)
        except InjectedFailure:
            target.reportclient.delete_allocation_for_instance(
                ctx, inst.uuid, force=True)
            _nil_out_host_and_node(inst)
            inst.vm_state = vm_states.SHELVED_OFFLOADED
            inst.task_state = None
            inst.save()
        world.trace.step("world", "unshelve failed", instance=name,
                         host=host)
        return inst
    target.rt.instance_claim(ctx, inst, target.nodename, allocs)
    world.ledger.place(name, host)
    world.trace.step("world", "unshelve spawning", instance=name, host=host)
    if until == "spawning":
        return inst
    return finish_unshelve(world, name)


def finish_unshelve(world, name):
    """The spawn returned: ``_update_instance_after_spawn``."""
    from nova.compute import vm_states
    inst = world.instance(name)
    inst.power_state = 1  # power_state.RUNNING
    inst.vm_state = vm_states.ACTIVE
    inst.task_state = None
    inst.save()
    world.trace.step("world", "unshelved", instance=name)
    return inst


# ---------------------------------------------------------------------------
# compute service down / restart, node availability
# ---------------------------------------------------------------------------
def service_down(world, host):
    """The compute service on ``host`` stops (the API sees it forced down);
    its tracker is gone with the process."""
    h = world.hosts[host]
    h.service.forced_down = True
    h.service.save()
    world.ledger.service_down(host)
    world.trace.step("world", "service down", host=host)


def restart(world, host):
    """The compute service on ``host`` restarts: a new driver, report
    client, tracker and manager; ``init_host``'s accounting steps run:
    ``_destroy_evacuated_instances`` then the start-up audit
    (``update_available_resource(startup=True)``)."""
    from nova import objects
    from nova.compute import resource_tracker
    from nova.scheduler.client import report
    from nova.virt import fake

    ctx = world.ctx
    h = world.hosts[host]
    available = h.nodename in h.driver.get_available_nodes()
    driver = fake.FakeDriver(fake.FakeVirtAPI())
    driver.init_host(host)
    driver._set_nodes([h.nodename] if available else [])
    h.driver = driver
    h.set_inventory(h.inventory)
    h.reportclient = report.SchedulerReportClient()
    h.rt = resource_tracker.ResourceTracker(host, driver,
                                            reportclient=h.reportclient)
    # (Nova 28 on; the adapter bridges the releases before it)
    from harness.world import nova_releases
    nova_releases.set_service_ref(h.rt, h.service)
    h._manager = None
    mgr = h.manager
    node_cache = {cn.uuid: cn for cn in
                  objects.ComputeNodeList.get_all_by_host(ctx, host)}
    mgr._destroy_evacuated_instances(ctx, node_cache)
    mgr.update_available_resource(ctx, startup=True)
    h.service.forced_down = False
    h.service.save()
    world.ledger.service_restarted(host, audited=available)
    world.trace.step("world", "restart", host=host)


def node_unavailable(world, host):
    """The host's driver stops reporting its node (``get_available_nodes``
    returns nothing); the compute manager then skips it in its audit and,
    as the driver says the node is not deleted, keeps its records."""
    world.hosts[host].driver._set_nodes([])
    world.ledger.node_reported(host, False)
    world.trace.step("world", "node unavailable", host=host)


def node_available(world, host):
    h = world.hosts[host]
    h.driver._set_nodes([h.nodename])
    world.ledger.node_reported(host)
    world.trace.step("world", "node available", host=host)


# ---------------------------------------------------------------------------
# evacuate
# ---------------------------------------------------------------------------
def evacuate(world, name, dest, fail=False):
    """Evacuate ``name`` from its (down) host to ``dest``.

    The API creates an ``evacuation`` migration (``accepted``); the
    scheduler claims ``dest`` for the instance consumer, which then holds
    both nodes (``claim_resources`` merges); the destination's
    ``rebuild_instance`` takes a ``rebuild_claim`` and on success
    ``finish_evacuation`` (migration ``done``).  ``fail``: the rebuild
    fails inside the claim: the claim aborts, the migration is ``failed``,
    the destination's part of the allocation is removed
    (``delete_allocation_for_evacuated_instance``) and the instance errors
    on its source.
    """
    from nova import objects
    from nova.compute import task_states, vm_states
    from oslo_utils import uuidutils

    ctx = world.ctx
    inst = world.instance(name)
    source = inst.host
    if source not in world.ledger.down:
        raise ValueError("evacuate %s: its host %s is up" % (name, source))
    flavor = inst.flavor
    inst.task_state = task_states.REBUILDING
    inst.save()
    migration = objects.Migration(
        context=ctx.elevated(), uuid=uuidutils.generate_uuid(),
        instance_uuid=inst.uuid, status="accepted",
        migration_type="evacuation", source_compute=source,
        source_node=inst.node, old_instance_type_id=flavor.id,
        new_instance_type_id=flavor.id)
    migration.create()
    world.migrations[name] = migration
    fname = world.ledger.instances[name].flavor
    world.ledger.start_move(name, "evacuation", source, dest, fname,
                            migration.uuid, "accepted")
    world.schedule(inst, flavor, dest)
    target = world.hosts[dest]
    migration.dest_compute = dest
    migration.dest_node = target.nodename
    migration.save()
    allocs = target.reportclient.get_allocations_for_consumer(ctx, inst.uuid)
    inst = world.instance(name)
    instance_state = inst.vm_state
    claim = target.rt.rebuild_claim(ctx, inst, target.nodename, allocs,
                                    migration=migration)
    if fail:
        try:
            with claim:
                raise InjectedFailure("rebuild failed on %s" % dest)
        except InjectedFailure:
            migration.status = "failed"
            migration.save()
            target.rt.delete_allocation_for_evacuated_instance(
                ctx, inst, target.nodename, node_type="destination")
            inst = world.instance(name)
            inst.vm_state = vm_states.ERROR
            inst.task_state = None
            inst.save()
        world.ledger.set_move_status(name, "failed")
        world.trace.step("world", "evacuate failed", instance=name,
                         dest=dest)
        return migration
    with claim:
        inst.vm_state = instance_state
        inst.task_state = None
    target.rt.finish_evacuation(inst, target.nodename, migration)
    world.ledger.set_move_status(name, "done")
    world.ledger.evacuated(name, source, dest)
    world.trace.step("world", "evacuated", instance=name, source=source,
                     dest=dest)
    return migration


# ---------------------------------------------------------------------------
# live migration rollback
# ---------------------------------------------------------------------------
def live_rollback(world, name, status="failed"):
    """``_rollback_live_migration`` of a live migration in progress: the
    source's allocation goes back from the migration to the instance
    (``_revert_allocation``), the migration context is dropped, the
    migration ends ``failed`` (``error`` when pre-live-migration failed).
    The destination's move claim is dropped only for NUMA-aware live
    migrations (``drop_move_claim_at_destination``), so here it stays in the
    destination tracker until its next audit (recorded by the ledger as a
    gap)."""
    ctx = world.ctx
    inst = world.instance(name)
    migration = world.migration(name)
    source = world.hosts[migration.source_compute]
    if source.reportclient.get_allocations_for_consumer(ctx, migration.uuid):
        source.reportclient.move_allocations(ctx, migration.uuid, inst.uuid)
    inst.task_state = None
    inst.progress = 0
    inst.drop_migration_context()
    inst.save()
    migration.status = status
    migration.save()
    move = world.ledger.moves[name]
    world.ledger.set_move_status(name, status)
    if world.ledger.claim_counted(move.dest, name):
        world.ledger.hold_until_audit(
            move.dest, "move claim of the rolled-back live migration of %s"
            % name, move.new_flavor, name)
    world.trace.step("world", "live rollback", instance=name, status=status)
    return migration


# ---------------------------------------------------------------------------
# a stopped move, one phase on
# ---------------------------------------------------------------------------
def advance(world, name):
    """Take the instance's stopped move one phase on, as the next service
    step does (cold: ``migrating``, ``post-migrating``, ``finished``; live:
    ``running``, ``completed``).  Returns the new status."""
    from nova.compute import task_states
    from harness.world import moves
    move = world.ledger.moves[name]
    migration = world.migration(name)
    host = world.hosts[move.dest]
    if move.kind == "live-migration":
        if move.status in ("accepted", "preparing"):
            migration.status = "running"
            migration.save()
            world.ledger.set_move_status(name, "running")
        else:
            moves.complete_live(world, name, migration, host)
        return world.migration(name).status
    inst = world.instance(name)
    if move.status == "pre-migrating":
        status, task = "migrating", task_states.RESIZE_MIGRATING
    elif move.status == "migrating":
        status, task = "post-migrating", task_states.RESIZE_MIGRATED
    else:
        moves.finish_resize(world, name, migration, host,
                            world.flavors[move.new_flavor])
        return "finished"
    migration.status = status
    migration.save()
    inst.task_state = task
    inst.save()
    world.ledger.set_move_status(name, status)
    return status
