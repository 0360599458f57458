"""Moves through the REST API, stopped at any phase.

A resize or a cold migration (``POST /servers/{id}/action``) runs through
Nova's conductor, scheduler and both compute services.  Its phases, as the
migration record's status shows them, and how the world stops there:

* ``pre-migrating``: the destination has claimed (``prep_resize``); the
  world holds the ``resize_instance`` message to the source on the bus;
* ``migrating``: the source is moving the disk; the world stops the
  source hypervisor's ``migrate_disk_and_power_off`` at a gate;
* ``post-migrating``: the source is done and the instance record already
  names the destination; the world holds the ``finish_resize`` message;
* ``finished``: the destination finished; the server awaits confirm or
  revert.

A live migration (``os-migrateLive``) likewise: ``preparing`` (the
destination hypervisor's ``pre_live_migration`` stopped at a gate),
``running`` (the source hypervisor's ``live_migration`` stopped), and
``completed``.

:func:`advance` takes a stopped move one phase on, as the next service
step does when the message or the hypervisor call goes on.  What each
phase came to is read from the migration record and the server, and the
ledger learns that.
"""
from __future__ import annotations

from harness.world import scheduling

COLD_PHASES = ("pre-migrating", "migrating", "post-migrating", "finished")
LIVE_PHASES = ("preparing", "running", "completed")


def _phase_index(phases, until):
    if until not in phases:
        raise ValueError("until=%r: expected one of %s" % (until, phases))
    return phases.index(until)


def _failed(world, name, what):
    from harness.world.errors import NoRoom, OperationFailed
    fault = world._fault_message(name)
    inst = world.instance(name)
    msg = "%s: the server is %s/%s on %s%s" % (
        what, inst.vm_state, inst.task_state, inst.host,
        " (%s)" % fault if fault else "")
    if "No valid host" in fault or "NoValidHost" in fault:
        return NoRoom(msg)
    return OperationFailed(msg)


class _Stop:
    """How a move of one instance is stopped: a held message (``rule``) or
    a stalled operation (``label``, see ``World.stalls``)."""

    def __init__(self, phase, rule=None, label=None):
        self.phase = phase
        self.rule = rule
        self.label = label


def _stops(world) -> dict:
    if not hasattr(world, "move_stops"):
        world.move_stops = {}
    return world.move_stops


def _cold_stop(world, name, phase, source):
    """Arm what stops a cold move of ``name`` at ``phase``: returns
    (rule, gates)."""
    if phase == "pre-migrating":
        return world.hold("resize_instance", instance=name), []
    if phase == "migrating":
        uuid = world.instances[name].uuid
        return None, [world.gate(
            source, "migrate_disk_and_power_off",
            when=lambda ctx, instance, *a, **k: instance.uuid == uuid)]
    if phase == "post-migrating":
        return world.hold("finish_resize", instance=name), []
    return None, []


FAILURES = ("disk",)


def cold_move(world, name, flavor, dest, until="finished", fail=None):
    """Resize (``flavor``) or cold-migrate (``flavor=None``) ``name``
    towards ``dest``; returns the migration record.

    ``fail='disk'``: the source hypervisor fails to move the disk in a way
    it can roll back (``InstanceFaultRollback``, as a driver does when the
    copy fails before the guest changed): Nova ends the migration in
    ``error``, reverts its allocation and leaves the server as it was.
    """
    from nova import exception
    if fail is not None and fail not in FAILURES:
        raise ValueError("fail=%r: expected one of %s" % (fail, FAILURES))
    _phase_index(COLD_PHASES, until)
    inst = world.instance(name)
    source = inst.host
    uuid = inst.uuid
    if fail is None:
        rule, gates = _cold_stop(world, name, until, source)
    else:
        rule, until = None, "error"
        gates = [world.gate(
            source, "migrate_disk_and_power_off", auto="fail",
            exc=exception.InstanceFaultRollback(
                inner_exception=RuntimeError(
                    "harness: the hypervisor failed to copy the disk")),
            when=lambda ctx, instance, *a, **k: instance.uuid == uuid)]
    label = "move " + name
    if flavor is not None and flavor != inst.flavor.flavorid:
        body = {"resize": {"flavorRef": flavor}}
        api = world.user_api
    else:
        # the operator names the host (microversion 2.56)
        body = {"migrate": {"host": dest}}
        api = world.api
        if flavor is not None:
            # A resize to the server's own flavor is refused by the API;
            # the same flavor is a migration.
            flavor = None

    before = world.latest_migration(name)
    try:
        # The scheduler's choice is made while the bus delivers.
        with scheduling.prefer(dest):
            world.drive(lambda: api.post_server_action(uuid, body),
                        gates=[] if fail else gates, label=label)
    except Exception:
        if rule is not None:
            world.bus.remove_rule(rule)
        raise
    finally:
        if fail:
            for g in gates:
                g.remove()
    migration = world.latest_migration(name)
    if migration is None or (before is not None
                             and migration.id == before.id):
        if rule is not None:
            world.bus.remove_rule(rule)
        for g in gates:
            g.remove()
        raise _failed(world, name, "%s of %s towards %s did not start"
                      % ("resize" if flavor else "migration", name, dest))
    world.migrations[name] = migration
    ledger_flavor = flavor or world.ledger.instances[name].flavor
    world.ledger.start_move(name, migration.migration_type, source,
                            migration.dest_compute, ledger_flavor,
                            migration.uuid, migration.status)
    world.trace.step("world", "start_" + migration.migration_type,
                     instance=name, source=source,
                     dest=migration.dest_compute, new_flavor=ledger_flavor,
                     migration=migration.uuid)
    _arrived_at(world, name, until, rule, label)
    if fail and migration.dest_compute != source:
        # The destination claimed in prep_resize, before the source failed:
        # nothing tells it the move ended, so it drops the claim at its
        # next audit (which skips a migration whose instance is no longer
        # resizing).
        world.ledger.hold_until_audit(
            migration.dest_compute, "the claim of %s's move that ended in "
            "error (the destination drops it at its next audit)" % name,
            ledger_flavor, name)
    if migration.dest_compute != dest:
        from harness.world.errors import NoRoom
        raise NoRoom("the scheduler sent %s to %s, not %s"
                     % (name, migration.dest_compute, dest))
    return world.migration(name)


def _arrived_at(world, name, until, rule, label):
    """Record where the move now stands; check it stopped at ``until``."""
    migration = world.migration(name)
    world.migrations[name] = migration
    if name in world.ledger.moves:
        world.ledger.set_move_status(name, migration.status)
    stops = _stops(world)
    stops.pop(name, None)
    if migration.status != until:
        if rule is not None:
            world.bus.remove_rule(rule)
        raise _failed(world, name, "the move of %s stopped %s, not %s"
                      % (name, migration.status, until))
    if until in ("finished", "completed", "error"):
        return
    stops[name] = _Stop(until, rule=rule,
                        label=label if label in world.stalls else None)
    world.trace.step("world", "move stopped", instance=name, phase=until)


def live_move(world, name, dest, until="running"):
    """Live-migrate ``name`` to ``dest`` (the operator names it)."""
    _phase_index(LIVE_PHASES, until)
    inst = world.instance(name)
    source = inst.host
    uuid = inst.uuid
    gates = _live_gates(world, name, until, source, dest)
    label = "move " + name
    body = {"os-migrateLive": {"host": dest, "block_migration": "auto"}}
    before = world.latest_migration(name)
    with scheduling.prefer(dest):
        world.drive(lambda: world.api.post_server_action(uuid, body),
                    gates=gates, label=label)
    migration = world.latest_migration(name)
    if migration is None or (before is not None
                             and migration.id == before.id):
        for g in gates:
            g.remove()
        raise _failed(world, name, "live migration of %s to %s did not "
                      "start" % (name, dest))
    world.migrations[name] = migration
    world.ledger.start_move(name, "live-migration", source,
                            migration.dest_compute,
                            world.ledger.instances[name].flavor,
                            migration.uuid, migration.status)
    world.trace.step("world", "start_live-migration", instance=name,
                     source=source, dest=migration.dest_compute,
                     migration=migration.uuid)
    _arrived_at(world, name, until, None, label)
    if until == "completed":
        _completed_live(world, name, source)
    return world.migration(name)


def _live_gates(world, name, phase, source, dest):
    uuid = world.instances[name].uuid
    if phase == "preparing":
        return [world.gate(
            dest, "pre_live_migration",
            when=lambda ctx, instance, *a, **k: instance.uuid == uuid)]
    if phase == "running":
        return [world.gate(
            source, "live_migration",
            when=lambda ctx, instance, *a, **k: instance.uuid == uuid)]
    return []


def _completed_live(world, name, source):
    """A completed live migration: the ledger learns where the server is."""
    inst = world.instance(name)
    world.instances[name] = inst
    world.trace.step("world", "live-migration completed", instance=name,
                     host=inst.host)


def advance(world, name):
    """Take ``name``'s stopped move one phase on, as its next service step
    does; returns the new status."""
    from harness.world.errors import Refused
    stop = _stops(world).get(name)
    move = world.ledger.moves.get(name)
    if stop is None or move is None:
        raise Refused("%s has no stopped move" % name)
    label = "move " + name
    if move.kind == "live-migration":
        phases = LIVE_PHASES
    else:
        phases = COLD_PHASES
    nxt = phases[phases.index(stop.phase) + 1]
    if move.kind == "live-migration":
        rule, gates = None, _live_gates(world, name, nxt, move.source,
                                        move.dest)
    else:
        rule, gates = _cold_stop(world, name, nxt, move.source)
    del _stops(world)[name]
    if stop.rule is not None:
        world.bus.remove_rule(stop.rule)
        held = world.bus.release(lambda m: m in stop.rule.matched)
        if not held:
            raise Refused("the held step of %s's move is gone" % name)
        world.drive(lambda: None, gates=gates, label=label)
    else:
        world.resume(stop.label, "go", gates=gates)
    _arrived_at(world, name, nxt, rule, label)
    if nxt == "completed":
        _completed_live(world, name, move.source)
    return world.migration(name).status


def stopped(world, name) -> bool:
    """Is a move of ``name`` stopped at a phase?"""
    return name in _stops(world)


def stop_at(world, name, phase, rule=None):
    """Record that ``name``'s cold move, requested by the caller itself
    (e.g. a migration the scheduler places, :mod:`harness.world.conductor`),
    stands at ``phase`` held by the bus ``rule``: :func:`advance`,
    :func:`let_go` and a delete then take it on as one started here."""
    _phase_index(COLD_PHASES, phase)
    _stops(world)[name] = _Stop(phase, rule=rule)
    world.trace.step("world", "move stopped", instance=name, phase=phase)


def let_go(world, name):
    """Let ``name``'s stopped move go on to its end, as its service steps
    do when nothing holds them (used when the server is deleted)."""
    stop = _stops(world).pop(name, None)
    if stop is None:
        return
    if stop.rule is not None:
        world.bus.remove_rule(stop.rule)
        world.bus.release(lambda m: m in stop.rule.matched)
        world.settle()
    elif stop.label in world.stalls:
        world.resume(stop.label, "go")


def confirm(world, name):
    """A user confirms the finished resize (``confirmResize``)."""
    uuid = world.instances[name].uuid
    world.drive(lambda: world.user_api.post_server_action(
        uuid, {"confirmResize": None}), label="confirm " + name)
    migration = world.migration(name)
    if migration.status != "confirmed":
        raise _failed(world, name, "confirming %s left its migration %s"
                      % (name, migration.status))
    world.trace.step("world", "confirm", instance=name)


def revert(world, name):
    """A user reverts the finished resize (``revertResize``)."""
    uuid = world.instances[name].uuid
    world.drive(lambda: world.user_api.post_server_action(
        uuid, {"revertResize": None}), label="revert " + name)
    migration = world.migration(name)
    if migration.status != "reverted":
        raise _failed(world, name, "reverting %s left its migration %s"
                      % (name, migration.status))
    world.trace.step("world", "revert", instance=name)
