"""Extra invariants a scenario can add to its trials (``Trial.checks``).

Each is ``check(world, snap) -> list[Violation]`` and runs at every stage
after the standard accounting invariants.  They read what other parts of
Nova would read (the scheduler's view of a node, the database itself) and
compare it with bounds and with what the harness created; none of them
computes an expectation by calling the tracker.

* :func:`scheduler_view_possible`: the scheduler's ``HostState`` for each
  node, built from the ``compute_nodes`` row the way the host manager builds
  it, shows resources that can physically exist;
* :func:`database_intact`: the database holds the same tables
  and indexes it started with, one ``compute_nodes`` row per host, one
  service row per host, and the world's instances;
* :func:`node_names_round_trip`: every path that stores or looks up a node by
  name gives back exactly the name the driver reported;
* :func:`devices_not_shared`, :func:`stats_match_ledger`: no device handed to
  two instances; the node's instance statistics count the ledger's;
* :func:`after_concurrent_phase`, :func:`operator_trait_kept`: what a
  concurrent load left, before an audit repairs it; the operator's trait
  survived it.
"""
from __future__ import annotations

from harness.oracle.invariants import Violation

CELL_UUID = "00000000-0000-4000-8000-0000000000ce"


def _compute_node(world, host):
    from nova import exception, objects
    try:
        return objects.ComputeNode.get_by_host_and_nodename(
            world.ctx, host.name, host.nodename)
    except exception.ComputeHostNotFound:
        return None


def scheduler_view_possible(world, snap=None) -> list[Violation]:
    """The scheduler's view of each node is physically possible.

    Builds ``nova.scheduler.host_manager.HostState`` from the node's
    ``compute_nodes`` row (``HostState.update(compute=...)``) and checks:
    free RAM and free disk not above the totals, used vCPUs, RAM and disk
    not negative, and used vCPUs and RAM not above what placement could ever
    have allocated (reserved + (total - reserved) x allocation ratio).
    """
    from nova.scheduler import host_manager
    out = []
    ratios = world.allocation_ratios
    r = world.reserved
    for name, host in world.hosts.items():
        cn = _compute_node(world, host)
        if cn is None:
            continue      # usage_matches_ledger reports the missing row
        hs = host_manager.HostState(name, host.nodename, CELL_UUID)
        try:
            hs.update(compute=cn)
        except Exception as exc:  # noqa: BLE001 - observed, not hidden
            out.append(Violation("scheduler_view_possible",
                                 "HostState of %s" % name, "built",
                                 "%s: %s" % (type(exc).__name__, exc)))
            continue
        subject = "scheduler view of %s" % name

        def bad(what, expected, actual, detail=""):
            out.append(Violation("scheduler_view_possible",
                                 "%s %s" % (subject, what), expected, actual,
                                 detail))
        if hs.free_ram_mb > hs.total_usable_ram_mb:
            bad("free_ram_mb", "<= %s" % hs.total_usable_ram_mb,
                hs.free_ram_mb, "more free RAM than the host has")
        if hs.free_disk_mb > hs.total_usable_disk_gb * 1024:
            bad("free_disk_mb", "<= %s" % (hs.total_usable_disk_gb * 1024),
                hs.free_disk_mb, "more free disk than the host has")
        if hs.vcpus_used < 0:
            bad("vcpus_used", ">= 0", hs.vcpus_used)
        if hs.disk_mb_used < 0:
            bad("disk_mb_used", ">= 0", hs.disk_mb_used)
        ram_used = hs.total_usable_ram_mb - hs.free_ram_mb
        if ram_used < 0:
            bad("ram used (total - free)", ">= 0", ram_used)
        cpu_cap = r.cpus + (hs.vcpus_total - r.cpus) * ratios["cpu"]
        if hs.vcpus_used > cpu_cap:
            bad("vcpus_used", "<= %s" % cpu_cap, hs.vcpus_used,
                "more vCPUs used than placement can allocate")
        ram_cap = r.memory_mb + (hs.total_usable_ram_mb
                                 - r.memory_mb) * ratios["ram"]
        if ram_used > ram_cap:
            bad("ram used (total - free)", "<= %s" % ram_cap, ram_used,
                "more RAM used than placement can allocate")
        disk_cap = (r.disk_mb / 1024 + (hs.total_usable_disk_gb
                                         - r.disk_mb / 1024)
                    * ratios["disk"]) * 1024
        if hs.disk_mb_used > disk_cap:
            bad("disk_mb_used", "<= %s" % disk_cap, hs.disk_mb_used,
                "more disk used than placement can allocate")
    return out


# ---------------------------------------------------------------------------
# the database itself
# ---------------------------------------------------------------------------
def _main_schema(world) -> list[tuple]:
    from nova.db.main import api as main_db_api
    from sqlalchemy import text
    ctx = world.ctx.elevated(read_deleted="yes")
    with main_db_api.context_manager.reader.using(ctx):
        rows = ctx.session.execute(text(
            "SELECT type, name, tbl_name FROM sqlite_master "
            "ORDER BY type, name")).fetchall()
    return [tuple(r) for r in rows]


def _count(world, table: str, where: str = "") -> int:
    from nova.db.main import api as main_db_api
    from sqlalchemy import text
    ctx = world.ctx.elevated(read_deleted="yes")
    with main_db_api.context_manager.reader.using(ctx):
        return ctx.session.execute(text(
            "SELECT count(*) FROM %s %s" % (table, where))).scalar()


def schema_fingerprint(world) -> list[tuple]:
    """The main database's tables, indexes and triggers (sqlite_master)."""
    return _main_schema(world)


def database_intact(world, snap=None) -> list[Violation]:
    """The main database is as the harness made it.

    Compares the ``sqlite_master`` listing (tables, indexes, triggers) with
    ``world.pristine_schema`` (record it with :func:`remember_schema` before
    the input under test reaches Nova; if absent, the first call records
    it), runs sqlite's ``PRAGMA integrity_check``, and counts exactly one
    live ``compute_nodes`` row and one live compute service row per host,
    and one
    ``instances`` row per instance the world created.
    """
    out = []
    now = _main_schema(world)
    ref = world.__dict__.setdefault("pristine_schema", now)
    if now != ref:
        gone = sorted(set(ref) - set(now))
        new = sorted(set(now) - set(ref))
        out.append(Violation("database_intact", "main DB schema",
                             "unchanged", {"removed": gone[:10],
                                           "added": new[:10]}))
    from nova.db.main import api as main_db_api
    from sqlalchemy import text
    ctx = world.ctx.elevated(read_deleted="yes")
    with main_db_api.context_manager.reader.using(ctx):
        integrity = [r[0] for r in ctx.session.execute(text(
            "PRAGMA integrity_check")).fetchall()]
    if integrity != ["ok"]:
        out.append(Violation("database_intact", "PRAGMA integrity_check",
                             ["ok"], integrity[:5]))
    for table, want, where in (
            ("compute_nodes", len(world.hosts), "WHERE deleted = 0"),
            # (the API, the conductor and the scheduler have rows too)
            ("services", len(world.hosts),
             "WHERE deleted = 0 AND \"binary\" = 'nova-compute'")):
        got = _count(world, table, where)
        if got != want:
            out.append(Violation("database_intact", "live %s rows" % table,
                                 want, got))
    got = _count(world, "instances")
    if got != len(world.instances):
        out.append(Violation("database_intact", "instances rows",
                             len(world.instances), got))
    return out


def remember_schema(world):
    """Record the main database's schema as the reference for
    :func:`database_intact`."""
    world.pristine_schema = _main_schema(world)


# ---------------------------------------------------------------------------
# node names
# ---------------------------------------------------------------------------
def node_names_round_trip(world, snap=None) -> list[Violation]:
    """Every store and lookup of a node by name gives back the exact name.

    Paths: the tracker's own map, the ``compute_nodes`` row (by host and
    node, by node alone, by the host's list), the name of the resource
    provider with the node's uuid (a missing provider is left to
    ``inventory_matches_driver``), providers named after no node, the
    instances on the node (by host and node), and the in-progress
    migrations to or from the node.
    """
    from nova import exception, objects
    out = []
    ctx = world.ctx

    def bad(subject, expected, actual, detail=""):
        out.append(Violation("node_names_round_trip", subject, expected,
                             actual, detail))
    providers = world.placement.read("/resource_providers")[
        "resource_providers"]
    for name, host in world.hosts.items():
        want = host.nodename
        tracked = list(host.rt.compute_nodes)
        if tracked != [want]:
            bad("tracker compute_nodes keys of %s" % name, [want], tracked)
        cn = host.rt.compute_nodes.get(want)
        if cn is not None and cn.hypervisor_hostname != want:
            bad("tracker compute node name of %s" % name, want,
                cn.hypervisor_hostname)
        try:
            row = objects.ComputeNode.get_by_host_and_nodename(ctx, name,
                                                               want)
            if row.hypervisor_hostname != want:
                bad("compute_nodes row of %s by host+node" % name, want,
                    row.hypervisor_hostname)
        except exception.ComputeHostNotFound:
            row = None
            bad("compute_nodes row of %s by host+node" % name, want,
                None, "not found by the name the driver reports")
        try:
            by_node = objects.ComputeNode.get_by_nodename(ctx, want)
            if by_node.host != name:
                bad("compute_nodes row by node %r" % want, name,
                    by_node.host, "found another host's node")
        except exception.ComputeHostNotFound:
            bad("compute_nodes row by node %r" % want, name, None,
                "not found by node name alone")
        listed = [c.hypervisor_hostname for c in
                  objects.ComputeNodeList.get_all_by_host(ctx, name)]
        if listed != [want]:
            bad("compute_nodes of host %s" % name, [want], listed)
        if row is not None:
            # a missing provider is inventory_matches_driver's to report
            rps = [p for p in providers if p["uuid"] == row.uuid]
            if rps and rps[0]["name"] != want:
                bad("resource provider name of %s" % name, want,
                    rps[0]["name"])
        expected_here = sorted(
            world.instances[rec.name].uuid
            for rec in world.ledger.live_instances() if rec.host == name)
        got = sorted(i.uuid for i in objects.InstanceList.get_by_host_and_node(
            ctx, name, want))
        if got != expected_here:
            bad("instances on %s by host+node" % name, expected_here, got)
        moving = sorted(
            world.migrations[m.instance].uuid
            for m in world.ledger.moves.values()
            if name in (m.source, m.dest) and m.migration_uuid)
        got = sorted(m.uuid for m in
                     objects.MigrationList.get_in_progress_and_error(
                         ctx, name, want))
        if got != moving:
            bad("in-progress migrations of %s by host+node" % name, moving,
                got)
    known = {h.nodename for h in world.hosts.values()}
    strangers = sorted(p["name"] for p in providers
                       if p["name"] not in known)
    if strangers:
        bad("resource provider names", sorted(known), strangers,
            "providers named after no reported node")
    return out


# ---------------------------------------------------------------------------
# workload steps that may fail because of the input under test
# ---------------------------------------------------------------------------
def attempt(world, label: str, fn, *args, **kwargs):
    """Run one workload step; an exception is recorded on the world (for
    :func:`workload_steps_completed`, as ``workload_completed``) instead of
    ending the trial.  Returns True when the step completed."""
    return attempt_as(world, "workload_completed", label, fn, *args,
                      **kwargs)


def attempt_as(world, invariant: str, label: str, fn, *args, **kwargs):
    """:func:`attempt`, reporting a failure under ``invariant``."""
    try:
        fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - observed, reported
        world.__dict__.setdefault("workload_errors", []).append(
            (invariant, label, "%s: %s" % (type(exc).__name__,
                                           str(exc)[:300])))
        world.trace.step("note", "workload step raised", step=label,
                         error=repr(exc)[:300])
        return False
    return True


def workload_steps_completed(world, snap=None) -> list[Violation]:
    """Every workload step run through :func:`attempt` completed (each
    failure is reported once, at the first stage checked after it)."""
    errors = world.__dict__.pop("workload_errors", [])
    return [Violation(invariant, label, "no exception", error)
            for invariant, label, error in errors]


# ---------------------------------------------------------------------------
# disk usage in whole GiB
# ---------------------------------------------------------------------------
def disk_usage_within_rounding(world, snap) -> list[Violation]:
    """The node's disk usage is the ledger's, rounded to a whole GiB.

    ``compute_nodes.local_gb_used`` is an integer column, so a total that
    is not a whole GiB (swap or reserved disk not a multiple of 1024 MiB)
    cannot be stored exactly; rounding it once, down or up, is the best an
    integer can do.  A value outside ``[floor(expected), ceil(expected)]``
    means the error is larger than that single rounding (e.g. each
    instance's fraction rounded away separately, so the error grows with
    the number of instances).
    """
    import math
    out = []
    for node in world.ledger.nodes:
        view = snap.nodes.get(node)
        want = world.ledger.expected_usage(node).local_gb_used
        lo, hi = math.floor(want + 1e-9), math.ceil(want - 1e-9)
        for where in ("tracker", "db"):
            row = getattr(view, where) if view else None
            if not row or row.get("local_gb_used") is None:
                continue
            got = row["local_gb_used"]
            if not lo <= got <= hi:
                out.append(Violation(
                    "disk_usage_within_rounding",
                    "%s %s local_gb_used" % (where, node),
                    "%s (one rounding of %r)" % (
                        lo if lo == hi else "%d..%d" % (lo, hi), want),
                    got, "off by %.3f GiB" % (want - got)))
    return out


# ---------------------------------------------------------------------------
# the compute manager's clean-up after a failed claim
# ---------------------------------------------------------------------------
def reschedule(world, name: str):
    """What ``ComputeManager._do_build_and_run_instance`` does when the
    claim raises (the build is rescheduled): host, node and compute id
    cleared on the instance, task state back to scheduling, its allocation
    deleted.  The tracker's claim is not aborted: the claim object was
    never returned."""
    inst = world.instance(name)
    inst.host = None
    inst.node = None
    inst.compute_id = None
    inst.task_state = "scheduling"
    inst.save()
    world.reportclient.delete_allocation_for_instance(
        world.ctx, inst.uuid, force=True)


def boot_or_reschedule(world, name: str, flavor: str, host: str):
    """``world.boot``; if the claim on the host raises, the manager's
    clean-up (:func:`reschedule`) runs and the exception is re-raised.
    (``NoRoom``, raised before any claim, is re-raised untouched.)"""
    from harness.world.deployment import NoRoom
    try:
        return world.boot(name, flavor, host)
    except NoRoom:
        raise
    except Exception:
        if name in world.instances:
            reschedule(world, name)
        raise


def row_usage_matches_ledger(world, snap) -> list[Violation]:
    """The ``compute_nodes`` row (what the scheduler reads) shows the
    ledger's usage; tracker memory is not looked at."""
    from harness.oracle.invariants import usage_matches_ledger
    return [Violation("row_usage_matches_ledger", v.subject, v.expected,
                      v.actual, v.detail)
            for v in usage_matches_ledger(snap, world.ledger)
            if v.subject.startswith("db ")]


# ---------------------------------------------------------------------------
# assigned devices and instance statistics (scenarios/test_instance_resources)
# ---------------------------------------------------------------------------
def devices_not_shared(world, snap=None) -> list[Violation]:
    """No device was handed to two live instances; every instance that
    asked for a device got exactly one.  ``world.devices_held``: instance
    name -> the device identifiers the tracker handed it at claim time
    (the workload records them)."""
    out = []
    held = world.__dict__.get("devices_held", {})
    owner: dict[str, str] = {}
    live = {r.name for r in world.ledger.live_instances()}
    for name, devices in sorted(held.items()):
        if name not in live:
            continue
        if len(devices) != 1:
            out.append(Violation("devices_not_shared",
                                 "devices handed to %s" % name, 1,
                                 devices))
        for d in devices:
            if d in owner:
                out.append(Violation(
                    "devices_not_shared", "device %s" % d,
                    "held by %s only" % owner[d],
                    "also handed to %s" % name,
                    "one device, two instances"))
            owner.setdefault(d, name)
    return out


def stats_match_ledger(world, snap=None) -> list[Violation]:
    """The node's instance statistics count the ledger's instances."""
    from nova import objects
    out = []
    for name, host in world.hosts.items():
        try:
            cn = objects.ComputeNode.get_by_host_and_nodename(
                world.ctx, name, host.nodename)
        except Exception:  # noqa: BLE001 - a missing row is reported
            continue       # by usage_matches_ledger
        stats = cn.stats or {}
        want = sum(1 for r in world.ledger.live_instances()
                   if r.host == name)
        for key in ("num_instances",
                    "num_proj_%s" % world.ctx.project_id):
            got = int(stats.get(key, 0))
            if got != want:
                out.append(Violation("stats_match_ledger",
                                     "stats of %s %s" % (name, key),
                                     want, got))
    return out


# ---------------------------------------------------------------------------
# concurrent load (scenarios/test_concurrency)
# ---------------------------------------------------------------------------
def after_concurrent_phase(world, snap, load) -> list[Violation]:
    """Right after a concurrent phase, before any repairing audit: usage in
    bounds and a possible scheduler view (over-commit at any time is what
    the claim predicts most directly); disagreement with the ledger,
    reported as such (the next audit may repair it); and every claim,
    operation and audit of the phase (``load``: its ``claim_errors``,
    ``errors``, ``audit_errors`` and ``host``) completed."""
    from harness.oracle import invariants as inv
    found = []
    found += inv.usage_in_bounds(snap, world.ledger)
    found += scheduler_view_possible(world, snap)
    for v in (inv.usage_matches_ledger(snap, world.ledger)
              + inv.allocations_match_ledger(snap, world.ledger)
              + inv.placement_usage_matches_ledger(snap, world.ledger)):
        found.append(Violation("consistent_right_after_load", v.subject,
                               v.expected, v.actual,
                               "%s%s" % (v.invariant, "; " + v.detail
                                         if v.detail else "")))
    found += [Violation("claim_completed", where, "no exception", err)
              for where, err in load.claim_errors]
    found += [Violation("workload_completed", where, "no exception", err)
              for where, err in load.errors]
    found += [Violation("concurrent_audit_completed",
                        "audit of %s during the concurrent phase"
                        % load.host.name,
                        "no exception", err) for err in load.audit_errors]
    return found


def operator_trait_kept(world, snap=None) -> list[Violation]:
    """The trait the operator set last is still on the provider.
    ``world.load``: the concurrent phase, with its host, the operator's
    ``trait`` and whether it was last set (``trait_wanted``; None: never
    touched)."""
    load = world.__dict__.get("load")
    if load is None or load.trait_wanted is None:
        return []
    traits = world.placement.read("/resource_providers/%s/traits"
                                  % load.host.rp_uuid)["traits"]
    has = load.trait in traits
    if has != load.trait_wanted:
        return [Violation("operator_trait_kept",
                          "trait %s on %s's provider" % (load.trait,
                                                         load.host.name),
                          "present" if load.trait_wanted else "absent",
                          "present" if has else "absent",
                          "an outside change to the provider was undone")]
    return []
