"""Moves in the real shape: the steps conductor and compute manager take.

Each function below performs, in order, what Nova's services do for a move,
calling the real code at every accounting step (the conductor's
``replace_allocation_with_migration``, the scheduler's placement claim, the
destination tracker's ``resize_claim``/``live_migration_claim``, the
tracker's ``drop_move_claim_at_source``/``drop_move_claim_at_dest``, the
report client's allocation moves and deletes) and writing the record changes
the manager makes (migration status, task and vm states, host and node,
flavors).  RPC, the hypervisor and networking are left out: they hold no
accounting.
"""
from __future__ import annotations

COLD_PHASES = ("pre-migrating", "migrating", "post-migrating", "finished")
LIVE_PHASES = ("preparing", "running", "completed")


def _phase_index(phases, until):
    if until not in phases:
        raise ValueError("until=%r: expected one of %s" % (until, phases))
    return phases.index(until)


def cold_move(world, name, flavor, dest, until="finished"):
    """Resize or cold-migrate; returns the Migration object."""
    from nova import objects
    from nova.compute import task_states
    from nova.conductor.tasks import migrate as conductor_migrate
    from oslo_utils import uuidutils

    stop = _phase_index(COLD_PHASES, until)
    ctx = world.ctx
    inst = world.instance(name)
    new_flavor = world.flavors[flavor]
    old_flavor = inst.flavor
    source = inst.host
    kind = "resize" if old_flavor.id != new_flavor.id else "migration"

    # API: the instance enters resize_prep.
    inst.task_state = task_states.RESIZE_PREP
    inst.save()

    # Conductor (MigrationTask._preallocate_migration): the migration record
    # and the move of the source allocation to the migration consumer.
    migration = objects.Migration(
        context=ctx.elevated(), uuid=uuidutils.generate_uuid(),
        instance_uuid=inst.uuid, status="pre-migrating",
        migration_type=kind, source_compute=source,
        source_node=inst.node, old_instance_type_id=old_flavor.id,
        new_instance_type_id=new_flavor.id)
    migration.create()
    world.migrations[name] = migration
    conductor_migrate.replace_allocation_with_migration(ctx, inst, migration)
    world.ledger.start_move(name, kind, source, dest, flavor,
                            migration.uuid, "pre-migrating")
    world.trace.step("world", "start_" + kind, instance=name,
                     source=source, dest=dest, old_flavor=old_flavor.name,
                     new_flavor=flavor, migration=migration.uuid)

    # Scheduler: claim the new flavor on the destination for the instance.
    allocations = world.schedule(inst, new_flavor, dest)

    # Destination compute (prep_resize): the move claim.
    inst.old_flavor = old_flavor
    inst.new_flavor = new_flavor
    inst.save()
    host = world.hosts[dest]
    host.rt.resize_claim(ctx, inst, new_flavor, host.nodename, migration,
                         allocations)
    world.trace.step("world", "resize_claim", instance=name, host=dest)
    if stop == 0:
        return migration

    # Source compute (resize_instance).
    inst = world.instance(name)
    migration.status = "migrating"
    migration.save()
    inst.task_state = task_states.RESIZE_MIGRATING
    inst.save()
    world.ledger.set_move_status(name, "migrating")
    if stop == 1:
        return migration
    migration.status = "post-migrating"
    migration.save()
    inst.task_state = task_states.RESIZE_MIGRATED
    inst.save()
    world.ledger.set_move_status(name, "post-migrating")
    if stop == 2:
        return migration

    return finish_resize(world, name, migration, host, new_flavor)


def finish_resize(world, name, migration, host, new_flavor):
    """Destination compute (``finish_resize``): the instance arrives on
    ``host`` with ``new_flavor`` and the migration is ``finished``."""
    from nova.compute import vm_states
    inst = world.instance(name)
    inst.apply_migration_context()
    inst.host = host.name
    inst.node = host.nodename
    inst.compute_id = host.compute_node.id
    inst.flavor = new_flavor
    inst.instance_type_id = new_flavor.id
    inst.vm_state = vm_states.RESIZED
    inst.task_state = None
    migration.status = "finished"
    migration.save()
    inst.save()
    world.ledger.set_move_status(name, "finished")
    world.trace.step("world", "finish_resize", instance=name,
                     host=host.name)
    return migration


def confirm(world, name):
    """Confirm a finished cold move (ComputeManager._confirm_resize)."""
    from nova.compute import vm_states
    ctx = world.ctx
    inst = world.instance(name)
    migration = world.migration(name)
    source = world.hosts[migration.source_compute]
    source.rt.drop_move_claim_at_source(ctx, inst, migration)
    # _delete_allocation_after_move
    source.reportclient.delete_allocation_for_instance(
        ctx, migration.uuid, consumer_type="migration", force=False)
    inst.old_flavor = None
    inst.new_flavor = None
    inst.vm_state = vm_states.ACTIVE
    inst.task_state = None
    inst.save()
    world.ledger.set_move_status(name, "confirmed")
    world.trace.step("world", "confirm", instance=name)


def revert(world, name):
    """Revert a finished cold move (revert_resize + finish_revert_resize)."""
    from nova.compute import task_states, vm_states
    ctx = world.ctx
    inst = world.instance(name)
    migration = world.migration(name)
    dest = world.hosts[migration.dest_compute]
    source = world.hosts[migration.source_compute]
    inst.task_state = task_states.RESIZE_REVERTING
    inst.save()
    # Destination: drop the claim for the new flavor.
    dest.rt.drop_move_claim_at_dest(ctx, inst, migration)
    # Source: finish_revert_resize.
    inst = world.instance(name)
    old_flavor = inst.old_flavor
    inst.flavor = old_flavor
    inst.instance_type_id = old_flavor.id
    inst.host = source.name
    inst.node = source.nodename
    inst.compute_id = source.compute_node.id
    inst.old_flavor = None
    inst.new_flavor = None
    inst.vm_state = vm_states.ACTIVE
    inst.task_state = None
    inst.drop_migration_context()
    inst.save()
    # _revert_allocation: the migration's source allocation back to the
    # instance consumer.
    source.reportclient.move_allocations(ctx, migration.uuid, inst.uuid)
    world.ledger.set_move_status(name, "reverted")
    world.trace.step("world", "revert", instance=name)


def live_move(world, name, dest, until="running"):
    """Live-migrate; returns the Migration object."""
    from nova import objects
    from nova.compute import task_states
    from nova.conductor.tasks import migrate as conductor_migrate
    from oslo_utils import uuidutils

    stop = _phase_index(LIVE_PHASES, until)
    ctx = world.ctx
    inst = world.instance(name)
    source = inst.host
    flavor = inst.flavor

    # Conductor (LiveMigrationTask): record, then allocation moved to the
    # migration consumer.
    inst.task_state = task_states.MIGRATING
    inst.save()
    migration = objects.Migration(
        context=ctx.elevated(), uuid=uuidutils.generate_uuid(),
        instance_uuid=inst.uuid, status="accepted",
        migration_type="live-migration", source_compute=source,
        source_node=inst.node, dest_compute=dest,
        dest_node=world.hosts[dest].nodename,
        dest_compute_id=world.hosts[dest].compute_node.id,
        old_instance_type_id=flavor.id, new_instance_type_id=flavor.id)
    migration.create()
    world.migrations[name] = migration
    conductor_migrate.replace_allocation_with_migration(ctx, inst, migration)
    world.ledger.start_move(name, "live-migration", source, dest,
                            world.ledger.instances[name].flavor,
                            migration.uuid, "accepted")
    world.trace.step("world", "start_live-migration", instance=name,
                     source=source, dest=dest, migration=migration.uuid)
    allocations = world.schedule(inst, flavor, dest)

    # Destination (check_can_live_migrate_destination): the move claim.
    host = world.hosts[dest]
    host.rt.live_migration_claim(ctx, inst, host.nodename, migration,
                                 None, allocations)
    migration.status = "preparing"
    migration.save()
    world.ledger.set_move_status(name, "preparing")
    if stop == 0:
        return migration
    migration.status = "running"
    migration.save()
    world.ledger.set_move_status(name, "running")
    if stop == 1:
        return migration

    return complete_live(world, name, migration, host)


def complete_live(world, name, migration, host):
    """post_live_migration_at_destination + _post_live_migration: the
    instance is on ``host``, the source's migration allocation deleted."""
    ctx = world.ctx
    source = migration.source_compute
    dest = host.name
    inst = world.instance(name)
    inst.apply_migration_context()
    inst.host = dest
    inst.node = host.nodename
    inst.compute_id = host.compute_node.id
    inst.task_state = None
    inst.drop_migration_context()
    inst.save()
    migration.status = "completed"
    migration.save()
    world.hosts[source].reportclient.delete_allocation_for_instance(
        ctx, migration.uuid, consumer_type="migration", force=False)
    if source != dest:
        # _post_live_migration tells the source tracker nothing: it still
        # counts the instance until its next audit (as what it counted it
        # by before this move: the ledger reads that first)
        world.ledger.left_by_live_migration(source, name)
    world.ledger.set_move_status(name, "completed")
    world.trace.step("world", "live-migration completed", instance=name)
    return migration
