"""Lifecycle operations beyond boot, move and delete, where users and
operators perform them.

* a build that fails on its host: the hypervisor's ``spawn`` fails; the
  compute service aborts its claim and either reschedules the build to an
  alternate host the scheduler chose, or (the hypervisor says the build
  cannot be retried: ``BuildAbortException``, as Nova's own
  ``FakeBuildAbortDriver``) cleans it up and leaves the server in ERROR.
  ``until='aborted'`` stops the clean-up at its first hypervisor call
  (``unplug_vifs``), after the claim aborted and before the allocation is
  deleted; :func:`finish_build_fail` lets it go on;
* shelve, shelve-offload and unshelve (``POST /servers/{id}/action``); an
  unshelve may be stopped inside the hypervisor's ``spawn``
  (``until='spawning'``) or fail there;
* a compute service stopping (its process ends; the operator forces it
  down through ``os-services``) and starting again (a new compute manager
  over the same hypervisor: Nova's own ``init_host`` and start-up audit);
* the hypervisor no longer reporting its node, and reporting it again;
* evacuate (``POST .../action {"evacuate"}``) from a forced-down host,
  possibly to a destination whose hypervisor fails the rebuild;
* a live migration the hypervisor rolls back (it calls Nova's recover
  method, as a failed migration does) or fails outright.

Each reads the outcome (the server, its migration) and tells the ledger
what happened.
"""
from __future__ import annotations

from harness.world import moves, scheduling
from harness.world.errors import NoRoom, Refused
from harness.world.history import verb

BUILD_FAIL_UNTIL = ("aborted", "cleaned")


def _spawn_of(world, host, uuid_of, exc, auto="fail"):
    """A gate failing ``host``'s ``spawn`` of the server ``uuid_of()``."""
    return world.gate(
        host, "spawn", auto=auto, exc=exc,
        when=lambda ctx, instance, *a, **k: instance.uuid == uuid_of())


def _server_uuid(world, name):
    return lambda: world.instances[name].uuid if name in world.instances \
        else None


# ---------------------------------------------------------------------------
# build failures and reschedules
# ---------------------------------------------------------------------------
@verb
def build_fail(world, name, flavor, host, alternate=None, from_volume=False,
               until="cleaned"):
    """A build whose ``spawn`` fails on ``host``.

    With ``alternate`` the failure is one the compute reschedules (the
    scheduler's alternates follow the preference ``host, alternate``);
    without, the hypervisor aborts the build.
    """
    from nova import exception
    if until not in BUILD_FAIL_UNTIL:
        raise ValueError("until=%r: expected one of %s"
                         % (until, BUILD_FAIL_UNTIL))
    if until == "aborted" and alternate is not None:
        raise ValueError("until='aborted' stops a build that is not "
                         "rescheduled (no alternate)")
    if alternate == host:
        raise Refused("a build is not rescheduled to the host that failed "
                      "it (%s)" % host)
    uuid = _server_uuid(world, name)
    if alternate is None:
        exc = exception.BuildAbortException(
            instance_uuid="(see the server)",
            reason="harness: the hypervisor aborted the build")
    else:
        exc = exception.ComputeResourcesUnavailable(
            reason="harness: the hypervisor failed the spawn")
    failing = _spawn_of(world, host, uuid, exc)
    gates = []
    if until == "aborted":
        gates.append(world.gate(
            host, "unplug_vifs",
            when=lambda instance, *a, **k: instance.uuid == uuid()))
    label = "build " + name
    world.create_server(name, flavor, host, from_volume=from_volume,
                        gates=gates, label=label,
                        alternates=(alternate,) if alternate else ())
    failing.remove()
    _scheduled(world, name, host)
    inst = world.instance(name)
    aborted = label in world.stalls
    # The ledger learns where the build ended, whatever was asked.
    world.ledger.boot(name, inst.uuid, flavor,
                      inst.host if inst.vm_state == "active" else None,
                      volume_backed=from_volume)
    if alternate is not None:
        if inst.host != alternate or inst.vm_state != "active":
            raise moves._failed(world, name, "the build of %s was not "
                                "rescheduled to %s" % (name, alternate))
        world.trace.step("world", "rescheduled", instance=name,
                         failed=host, host=alternate)
        return inst
    if aborted:
        # the claim aborted, the clean-up stopped: the scheduler's
        # allocation is still held
        world.ledger.extra_consumers[inst.uuid] = {
            host: world.ledger.spec(name, flavor).placement_resources()}
        world.failed_builds[name] = host
        world.trace.step("world", "build claim aborted", instance=name,
                         host=host)
        return inst
    _build_ended(world, name, host)
    return inst


def _scheduled(world, name, host):
    """Raise :class:`NoRoom` when the scheduler found no host for the
    build of ``name`` (the conductor buried the server in cell0, which a
    single-cell world does not have: the API no longer shows it)."""
    try:
        world.server(name)
    except Refused:
        raise NoRoom("no room for %s on %s: the scheduler found no host"
                     % (name, host)) from None


def _build_ended(world, name, host):
    inst = world.instance(name)
    if inst.vm_state != "error" or inst.host is not None:
        raise moves._failed(world, name, "the failed build of %s on %s "
                            "did not end in ERROR with no host"
                            % (name, host))
    world.ledger.extra_consumers.pop(inst.uuid, None)
    world.trace.step("world", "build failed", instance=name, host=host)
    return inst


@verb
def finish_build_fail(world, name):
    """The failed build's clean-up goes on (host and node cleared, ERROR,
    the allocation deleted)."""
    from harness.world.errors import Refused
    host = world.failed_builds.pop(name, None)
    if host is None or ("build " + name) not in world.stalls:
        raise Refused("%s is not a failed build awaiting its clean-up"
                      % name)
    world.resume("build " + name)
    return _build_ended(world, name, host)


# ---------------------------------------------------------------------------
# shelve, offload, unshelve
# ---------------------------------------------------------------------------
def _action(world, name, body, api=None, label=None, gates=()):
    uuid = world.instances[name].uuid
    api = api or world.user_api
    return world.drive(lambda: api.post_server_action(uuid, body),
                       gates=gates, label=label or "%s %s" % (
                           next(iter(body)), name))


@verb
def shelve(world, name):
    """A user shelves the server: powered off and snapshotted, it stays on
    its host (and keeps its resources) until offloaded.  A volume-backed
    server has no image to keep on the host: Nova's API offloads it at
    once (``API.shelve``).  Returns the state it ended in: ``"shelved"``
    or ``"shelved_offloaded"``."""
    before = world.instance(name).host
    _action(world, name, {"shelve": None})
    inst = world.instance(name)
    if inst.vm_state == "shelved_offloaded" and inst.host is None:
        world.ledger.unplace(name)
        world.trace.step("world", "shelve_offload", instance=name,
                         host=before)
        return inst.vm_state
    if inst.vm_state != "shelved":
        raise moves._failed(world, name, "shelving %s" % name)
    world.trace.step("world", "shelve", instance=name)
    return inst.vm_state


@verb
def shelve_offload(world, name):
    """The operator offloads the shelved server from its host."""
    before = world.instance(name).host
    _action(world, name, {"shelveOffload": None}, api=world.api)
    inst = world.instance(name)
    if inst.vm_state != "shelved_offloaded" or inst.host is not None:
        raise moves._failed(world, name, "offloading %s" % name)
    world.ledger.unplace(name)
    world.trace.step("world", "shelve_offload", instance=name, host=before)


@verb
def unshelve(world, name, host, until="active", fail=False):
    """The operator unshelves the offloaded server onto ``host``
    (microversion 2.91).  ``until='spawning'`` stops inside the
    hypervisor's spawn (claim held); ``fail``: the spawn fails."""
    from harness.world.errors import Refused
    if until not in ("active", "spawning"):
        raise ValueError("until=%r: expected 'active' or 'spawning'"
                         % until)
    uuid = world.instances[name].uuid
    gates, failing = [], None
    if fail:
        failing = world.gate(
            host, "spawn", auto="fail",
            exc=RuntimeError("harness: the hypervisor failed the spawn"),
            when=lambda ctx, instance, *a, **k: instance.uuid == uuid)
    elif until == "spawning":
        gates.append(world.gate(
            host, "spawn",
            when=lambda ctx, instance, *a, **k: instance.uuid == uuid))
    label = "unshelve " + name
    with scheduling.prefer(host):
        _action(world, name, {"unshelve": {"host": host}}, api=world.api,
                label=label, gates=gates)
    if failing is not None:
        failing.remove()
    inst = world.instance(name)
    if fail:
        if inst.vm_state != "shelved_offloaded" or inst.host is not None:
            raise moves._failed(world, name, "the failed unshelve of %s"
                                % name)
        world.trace.step("world", "unshelve failed", instance=name,
                         host=host)
        return inst
    if inst.host != host:
        raise moves._failed(world, name, "unshelving %s onto %s"
                            % (name, host))
    world.ledger.place(name, host)
    if label in world.stalls:
        world.trace.step("world", "unshelve spawning", instance=name,
                         host=host)
        return inst
    if inst.vm_state != "active":
        raise Refused("unshelving %s left it %s" % (name, inst.vm_state))
    world.trace.step("world", "unshelved", instance=name, host=host)
    return inst


@verb
def finish_unshelve(world, name):
    """The stopped spawn of an unshelve goes on."""
    from harness.world.errors import Refused
    label = "unshelve " + name
    if label not in world.stalls:
        raise Refused("%s is not unshelving" % name)
    world.resume(label)
    inst = world.instance(name)
    world.trace.step("world", "unshelved", instance=name, host=inst.host)
    return inst


# ---------------------------------------------------------------------------
# compute service down / restart, node availability
# ---------------------------------------------------------------------------
def _service_id(world, host):
    return world.hosts[host].service_ref.uuid


@verb
def service_down(world, host):
    """The compute service on ``host`` stops (its process ends: calls it
    was making die with it) and the operator forces it down."""
    h = world.hosts[host]
    world._stop_compute(h)
    world.drive(lambda: world.api.put_service(
        _service_id(world, host), {"forced_down": True}))
    world.ledger.service_down(host)
    world.trace.step("world", "service down", host=host)


@verb
def restart(world, host):
    """The compute service on ``host`` starts again (stopped first if it
    runs): a new compute manager over the same hypervisor, whose
    ``init_host`` and start-up audit run as Nova runs them; the operator
    then lifts a forced down."""
    h = world.hosts[host]
    if h.running:
        world._stop_compute(h)
    world._start_compute(h)
    if h.service_ref.forced_down:
        world.drive(lambda: world.api.put_service(
            _service_id(world, host), {"forced_down": False}))
    available = h.nodename in (h.driver.get_available_nodes() or [])
    world.ledger.service_restarted(host, audited=available)
    world.trace.step("world", "restart", host=host)


@verb
def node_unavailable(world, host):
    """The host's hypervisor stops reporting its node."""
    world.hosts[host].driver._set_nodes([])
    world.ledger.node_reported(host, False)
    world.trace.step("world", "node unavailable", host=host)


@verb
def node_available(world, host):
    h = world.hosts[host]
    h.driver._set_nodes([h.nodename])
    world.ledger.node_reported(host)
    world.trace.step("world", "node available", host=host)


# ---------------------------------------------------------------------------
# evacuate
# ---------------------------------------------------------------------------
@verb
def evacuate(world, name, dest, fail=False):
    """The operator evacuates ``name`` from its forced-down host to
    ``dest``; ``fail``: the destination hypervisor fails the rebuild."""
    from harness.world.errors import Refused
    inst = world.instance(name)
    source = inst.host
    if source not in world.ledger.down:
        raise Refused("evacuate %s: its host %s is up" % (name, source))
    uuid = inst.uuid
    failing = None
    if fail:
        failing = world.gate(
            dest, "spawn", auto="fail",
            exc=RuntimeError("harness: the hypervisor failed the rebuild"),
            when=lambda ctx, instance, *a, **k: instance.uuid == uuid)
    before = world.latest_migration(name)
    with scheduling.prefer(dest):
        _action(world, name, {"evacuate": {"host": dest}}, api=world.api)
    if failing is not None:
        failing.remove()
    migration = world.latest_migration(name)
    if migration is None or (before is not None
                             and migration.id == before.id):
        raise moves._failed(world, name, "evacuating %s" % name)
    world.migrations[name] = migration
    fname = world.ledger.instances[name].flavor
    world.ledger.start_move(name, "evacuation", source,
                            migration.dest_compute, fname, migration.uuid,
                            "accepted")
    world.ledger.set_move_status(name, migration.status)
    if migration.status == "done":
        world.ledger.evacuated(name, source, migration.dest_compute)
    world.trace.step("world", "evacuate", instance=name, source=source,
                     dest=dest, status=migration.status)
    return migration


# ---------------------------------------------------------------------------
# a live migration the hypervisor rolls back or fails
# ---------------------------------------------------------------------------
@verb
def live_rollback(world, name, status="failed"):
    """The running live migration of ``name`` ends without moving it: the
    hypervisor calls Nova's recover method (``status='failed'``, Nova's
    ``_rollback_live_migration``), or raises (``status='error'``: Nova
    puts the migration and the server in ERROR)."""
    from harness.world.errors import Refused
    stop = moves._stops(world).get(name)
    if stop is None or stop.phase != "running" or stop.label is None:
        raise Refused("%s has no live migration stopped while running"
                      % name)
    del moves._stops(world)[name]
    if status == "failed":
        def instead(context, instance, dest, post_method, recover_method,
                    block_migration=False, migrate_data=None):
            recover_method(context, instance, dest, migrate_data)
        world.stalls[stop.label].gate.instead = instead
        world.resume(stop.label, "instead")
    elif status == "error":
        world.resume(stop.label, "fail", exc=RuntimeError(
            "harness: the hypervisor failed the live migration"))
    else:
        raise ValueError("status=%r: expected 'failed' or 'error'"
                         % status)
    migration = world.migration(name)
    inst = world.instance(name)
    world.instances[name] = inst
    if name in world.ledger.moves:
        world.ledger.set_move_status(name, migration.status)
    if migration.status == "error" and inst.vm_state == "error":
        world.ledger.too_late_to_roll_back(name)
    world.trace.step("world", "live rollback", instance=name,
                     status=migration.status, vm_state=inst.vm_state)
    return migration


@verb
def advance(world, name):
    """Take the instance's stopped move one phase on."""
    return moves.advance(world, name)
