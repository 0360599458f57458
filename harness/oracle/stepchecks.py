"""Invariants after every operation, not only after audits.

:class:`StepChecker` is the checker of the operation model
(:mod:`harness.world.ops`): called after each completed operation, it reads
the accounting state cheaply (:func:`observe`: the trackers' memory, the
``compute_nodes`` rows and placement's usages and allocations, read
directly) and checks:

* **usage agrees, per node, right after the operation**: tracker memory and
  the ``compute_nodes`` row equal the ledger's usage
  (:meth:`~harness.oracle.ledger.Ledger.expected_tracker_usage`), placement
  usages and every consumer's allocation equal the ledger's, no usage is
  negative or above capacity.  Where Nova by design reconciles only at the
  next audit, the ledger names the difference (:meth:`Ledger.gaps`): it is
  reported as a ``gap`` (a finding candidate), never silently accepted;
* **migration records move only through their lifecycle**: a record's
  status never goes back along its type's order, an ended record never
  changes, every record the harness made holds the status the ledger
  recorded for it (a reverted move ends ``reverted``), and no migration is
  in progress for an instance that is not moving;
* **instance records agree with the ledger**: every live instance's
  ``host`` and ``node`` are where the ledger says it is (none for a failed
  build or an offloaded instance: ``abort_instance_claim`` untags it under
  the tracker's lock, ``_unset_instance_host_and_node``; the destination
  once the source has sent a cold move's disk on, ``post-migrating``:
  ``_resize_instance`` moves the record before it casts
  ``finish_resize``), and an instance with a cold move in progress holds,
  in the DB, the migration context of that move (``_move_claim`` saves it
  with the claim; the services read the instance afresh at every later
  step).  A live migration makes no claim unless it is NUMA-aware, so it
  holds none;
* **an audit over a correct state changes nothing**: when the state before
  an ``audit`` operation satisfied every invariant, the audit leaves tracker,
  rows and placement as they were.

A compute service that is down is not judged on its tracker and row (no
process holds them); its placement provider still is.  While a nemesis
fault is active nothing is asserted; the explorer closes every fault window
with an audit of every host, after which everything must hold again.
"""
from __future__ import annotations

import dataclasses

from harness.oracle import invariants as inv
from harness.oracle.invariants import USAGE_KEYS, Violation, _num_equal
from harness.oracle.snapshot import (USAGE_FIELDS, NodeView, Snapshot,
                                     _fields)

ORDER = {
    "resize": ("pre-migrating", "migrating", "post-migrating", "finished",
               "confirming", "reverting", "confirmed", "reverted"),
    "migration": ("pre-migrating", "migrating", "post-migrating",
                  "finished", "confirming", "reverting", "confirmed",
                  "reverted"),
    "live-migration": ("accepted", "queued", "preparing", "running",
                       "completed", "failed", "cancelled"),
    "evacuation": ("accepted", "pre-migrating", "done", "completed",
                   "failed"),
}
# Statuses after which a record never changes again.
TERMINAL = {"confirmed", "reverted", "completed", "failed", "cancelled",
            "error"}
# ... except that an evacuation is "done" until its source restarts.
IN_PROGRESS = {"pre-migrating", "migrating", "post-migrating", "finished",
               "confirming", "reverting", "accepted", "queued",
               "preparing", "running"}


def observe(world, label: str = "") -> Snapshot:
    """The accounting state now, read directly (no trace step): tracker
    memory, the ``compute_nodes`` rows (one query) and placement's
    providers, inventories, usages and allocations."""
    note = getattr(world, "note", None)
    if note is not None and label:
        note("snapshot", label=label)
    rows = _compute_rows(world)
    nodes = {}
    for name, host in world.hosts.items():
        tracked = host.tracked_node
        db, updated = rows.get((name, host.nodename), (None, None))
        nodes[name] = NodeView(
            tracker=_fields(tracked) if tracked else None,
            db=db, db_updated_at=updated)
    host_of = {h.nodename: n for n, h in world.hosts.items()}
    engine = _placement_engine(world)
    if engine is not None:
        return Snapshot(nodes, *_placement_tables(engine, host_of),
                        label=label)
    read = world.placement.read
    providers, inventories, usages, allocations = {}, {}, {}, {}
    for rp in read("/resource_providers")["resource_providers"]:
        name = host_of.get(rp["name"], rp["name"])
        providers[name] = {"uuid": rp["uuid"],
                           "generation": rp["generation"],
                           "parent": rp.get("parent_provider_uuid")}
        inventories[name] = read("/resource_providers/%s/inventories"
                                 % rp["uuid"])["inventories"]
        usages[name] = read("/resource_providers/%s/usages"
                            % rp["uuid"])["usages"]
        body = read("/resource_providers/%s/allocations" % rp["uuid"])
        for consumer, alloc in body["allocations"].items():
            allocations.setdefault(consumer, {})[name] = dict(
                alloc["resources"])
    return Snapshot(nodes, providers, inventories, usages, allocations,
                    label)


RECOUNTED = ("running_vms is recounted only when the tracker starts or "
             "stops tracking an instance (claim, update_usage) and by the "
             "audit: a moved, evacuated or unshelved instance changes "
             "the counts at the next audit")


_COMPUTE_NODES = ("SELECT host, hypervisor_hostname, updated_at, %s FROM "
                  "compute_nodes WHERE deleted = 0" % ", ".join(USAGE_FIELDS))
_MIGRATIONS = ("SELECT uuid, migration_type, status, instance_uuid FROM "
               "migrations WHERE deleted = 0 ORDER BY id")


def _nova_engine(world):
    """Nova's main database engine when the world keeps it in memory (the
    connection Nova's own queries use); None otherwise."""
    if _placement_engine(world) is None:
        return None
    from nova.db.main import api as main_db_api
    return main_db_api.get_engine(context=world.ctx)


def _compute_rows(world) -> dict:
    """``(host, node) -> (usage fields, updated_at)`` of every compute node
    row not deleted: in one query on the row's columns where the database
    is in memory (the columns ``ComputeNodeList.get_all`` loads them from;
    building the objects was half of a step's check), else through it."""
    engine = _nova_engine(world)
    if engine is None:
        from nova import objects
        return {(cn.host, cn.hypervisor_hostname):
                (_fields(cn), str(cn.updated_at))
                for cn in objects.ComputeNodeList.get_all(world.ctx)}
    import sqlalchemy
    out = {}
    with engine.connect() as conn:
        for row in conn.execute(sqlalchemy.text(_COMPUTE_NODES)):
            host, node, updated = row[0], row[1], row[2]
            # as the object prints it: an aware UTC datetime
            out[(host, node)] = (dict(zip(USAGE_FIELDS, row[3:])), str(
                _utc(updated)))
    return out


def _utc(value):
    import datetime
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    return value.replace(tzinfo=datetime.timezone.utc)


def _migrations(world) -> list[tuple]:
    """``(uuid, migration_type, status, instance_uuid)`` of every migration
    record not deleted (one query where the database is in memory, else
    ``MigrationList.get_by_filters``)."""
    engine = _nova_engine(world)
    if engine is None:
        from nova import objects
        return [(m.uuid, m.migration_type, m.status, m.instance_uuid)
                for m in objects.MigrationList.get_by_filters(world.ctx,
                                                              {})]
    import sqlalchemy
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sqlalchemy.text(
            _MIGRATIONS))]


_INSTANCES = ("SELECT i.uuid, i.host, i.node, e.migration_context FROM "
              "instances i LEFT JOIN instance_extra e ON e.instance_uuid = "
              "i.uuid WHERE i.deleted = 0")
_MIGRATION_IDS = "SELECT uuid, id FROM migrations WHERE deleted = 0"


def _instances(world) -> tuple[dict, dict]:
    """``(uuid -> (host, node, migration id of its migration context or
    None), migration uuid -> id)`` of every instance and migration not
    deleted (two queries where the database is in memory, else through
    the objects)."""
    engine = _nova_engine(world)
    if engine is None:
        from nova import objects
        insts = {i.uuid: (i.host, i.node, i.migration_context.migration_id
                          if i.migration_context else None)
                 for i in objects.InstanceList.get_by_filters(
                     world.ctx, {"deleted": False},
                     expected_attrs=["migration_context"])}
        return insts, {m.uuid: m.id for m in
                       objects.MigrationList.get_by_filters(world.ctx, {})}
    import json
    import sqlalchemy
    insts = {}
    with engine.connect() as conn:
        for uuid, host, node, ctx in conn.execute(sqlalchemy.text(
                _INSTANCES)):
            mid = None
            if ctx:
                mid = json.loads(ctx)["nova_object.data"].get(
                    "migration_id")
            insts[uuid] = (host, node, mid)
        ids = {u: i for u, i in conn.execute(sqlalchemy.text(
            _MIGRATION_IDS))}
    return insts, ids


MOVE_KINDS_WITH_CONTEXT = ("resize", "migration")


def instance_records(world) -> list[Violation]:
    """Every live instance's host, node and migration context agree with
    the ledger (see the module docstring)."""
    out = []
    ledger = world.ledger
    rows, migration_ids = _instances(world)
    for rec in ledger.live_instances():
        row = rows.get(rec.uuid)
        subject = "instance %s" % rec.name
        if row is None:
            out.append(Violation("instance_records", subject, "a record",
                                 None, "the live instance has no record"))
            continue
        host, node, context = row
        move = ledger.moves.get(rec.name)
        where = ledger.record_host(rec.name)
        h = world.hosts.get(where) if where else None
        expected = (where, h.nodename if h else None)
        if (host, node) != expected:
            out.append(Violation(
                "instance_records", subject + " host/node",
                "%s/%s" % expected, "%s/%s" % (host, node),
                "the ledger places it %s" % (
                    "on %s" % where if where else "on no host "
                    "(failed build or offloaded)")))
        if (move is not None and move.kind in MOVE_KINDS_WITH_CONTEXT
                and move.migration_uuid):
            want = migration_ids.get(move.migration_uuid)
            if context != want:
                out.append(Violation(
                    "instance_records", subject + " migration_context",
                    "migration %s" % want, "migration %s" % context
                    if context is not None else None,
                    "a %s in progress (%s): its move claim saves the "
                    "migration context" % (move.kind, move.status)))
    return out


def _placement_engine(world):
    """Placement's in-memory database engine (``sqlite='memory'`` worlds);
    None otherwise (then placement is read through its API)."""
    if getattr(world, "sqlite", None) != "memory":
        return None
    from harness.world import novaenv
    return novaenv._ENGINES.get("placement")


_PROVIDERS = ("SELECT rp.id, rp.uuid, rp.name, rp.generation, p.uuid "
              "FROM resource_providers rp LEFT JOIN resource_providers p "
              "ON rp.parent_provider_id = p.id")
_INVENTORIES = ("SELECT i.resource_provider_id, rc.name, i.total, "
                "i.reserved, i.min_unit, i.max_unit, i.step_size, "
                "i.allocation_ratio FROM inventories i JOIN "
                "resource_classes rc ON rc.id = i.resource_class_id")
_ALLOCATIONS = ("SELECT a.resource_provider_id, c.uuid, rc.name, a.used "
                "FROM allocations a JOIN consumers c ON c.uuid = "
                "a.consumer_id JOIN resource_classes rc ON rc.id = "
                "a.resource_class_id")


def _placement_tables(engine, host_of):
    """Providers, inventories, usages and allocations, read from
    placement's tables in three queries, shaped as its API returns them
    (usages: every inventoried class, summed over allocations)."""
    import sqlalchemy
    providers, inventories, usages, allocations = {}, {}, {}, {}
    name_of = {}
    with engine.connect() as conn:
        for rp_id, uuid, name, gen, parent in conn.execute(
                sqlalchemy.text(_PROVIDERS)):
            name = host_of.get(name, name)
            name_of[rp_id] = name
            providers[name] = {"uuid": uuid, "generation": gen,
                               "parent": parent}
            inventories[name], usages[name] = {}, {}
        for rp_id, rc, total, reserved, mn, mx, step, ratio in conn.execute(
                sqlalchemy.text(_INVENTORIES)):
            inventories[name_of[rp_id]][rc] = {
                "total": total, "reserved": reserved, "min_unit": mn,
                "max_unit": mx, "step_size": step,
                "allocation_ratio": ratio}
            usages[name_of[rp_id]][rc] = 0
        for rp_id, consumer, rc, used in conn.execute(
                sqlalchemy.text(_ALLOCATIONS)):
            name = name_of[rp_id]
            usages[name][rc] = usages[name].get(rc, 0) + used
            allocations.setdefault(consumer, {}).setdefault(name, {})[
                rc] = used
    return providers, inventories, usages, allocations


def usage_agrees(snap, ledger, audited=()) -> tuple[list[Violation],
                                                      list[Violation]]:
    """Tracker memory and row vs the ledger, per up node.  Returns
    ``(violations, gaps)``: a difference the ledger names as reconciled
    only at the next audit is a gap; so is a ``running_vms`` difference
    (:data:`RECOUNTED`) on a node not audited by this operation."""
    out, gaps = [], []
    for node in ledger.nodes:
        if node in ledger.down:
            continue
        view = snap.nodes.get(node)
        settled = ledger.expected_usage(node).as_dict()
        expected = ledger.expected_tracker_usage(node).as_dict()
        why = "; ".join(r for r, _ in ledger.holdings(node)) or "nothing"
        for where in ("tracker", "db"):
            actual = getattr(view, where) if view else None
            if (actual is None and where == "tracker"
                    and node in ledger.restarted_unaudited):
                gaps.append(Violation(
                    "usage_gap_until_audit", "tracker %s" % node, expected,
                    None, "a compute started while its driver did not "
                    "report the node tracks nothing there until an audit "
                    "reaches it"))
                continue
            if (where == "db" and node in ledger.restarted_unaudited
                    and actual is not None and any(
                        not _num_equal(actual[k], expected[k])
                        for k in USAGE_KEYS)):
                gaps.append(Violation(
                    "usage_gap_until_audit", "db %s" % node, expected,
                    {k: actual[k] for k in USAGE_KEYS}, "the compute_nodes "
                    "row of a compute started while its driver did not "
                    "report the node keeps what the previous tracker wrote "
                    "until an audit reaches it"))
                continue
            if actual is None:
                out.append(Violation("usage_agrees", "%s %s" % (where, node),
                                     expected, None, "no compute node"))
                continue
            for key in USAGE_KEYS:
                if (key == "running_vms" and node not in audited
                        and not _num_equal(actual[key], expected[key])):
                    gaps.append(Violation(
                        "usage_gap_until_audit",
                        "%s %s %s" % (where, node, key), expected[key],
                        actual[key], RECOUNTED))
                    continue
                if _num_equal(actual[key], expected[key]):
                    if not _num_equal(actual[key], settled[key]):
                        gaps.append(Violation(
                            "usage_gap_until_audit",
                            "%s %s %s" % (where, node, key), settled[key],
                            actual[key], "; ".join(
                                r for r, _ in ledger.gaps(node))))
                    continue
                out.append(Violation(
                    "usage_agrees", "%s %s %s" % (where, node, key),
                    expected[key], actual[key], "ledger holds: %s" % why))
    return out, gaps


def migration_lifecycle(world, previous: dict) -> list[Violation]:
    """Migration records move only through their lifecycle (see module
    docstring).  ``previous``: uuid -> status seen after the last
    operation; updated in place."""
    out = []
    ledger = world.ledger
    recorded = {m.migration_uuid: m for m in ledger.history
                if m.migration_uuid}
    moving = {m.instance for m in ledger.moves.values()}
    live = {r.uuid: r for r in ledger.live_instances()}
    for uuid, kind, status, instance_uuid in _migrations(world):
        order = ORDER.get(kind, ())
        before = previous.get(uuid)
        subject = "migration %s (%s)" % (uuid, kind)
        if before is not None and before != status:
            if before in TERMINAL:
                out.append(Violation("migration_lifecycle", subject,
                                     before, status,
                                     "an ended migration changed"))
            elif (status != "error" and before in order and status in order
                  and order.index(status) < order.index(before)):
                out.append(Violation("migration_lifecycle", subject,
                                     "after %s" % before, status,
                                     "status went back"))
        move = recorded.get(uuid)
        if move is not None and move.status != status:
            out.append(Violation("migration_lifecycle", subject,
                                 move.status, status,
                                 "the ledger recorded another status"))
        if status in IN_PROGRESS:
            rec = live.get(instance_uuid)
            if rec is None or rec.name not in moving:
                out.append(Violation(
                    "migration_lifecycle", subject, "not in progress",
                    status, "instance %s is not moving"
                    % (rec.name if rec else "deleted " + instance_uuid)))
        previous[uuid] = status
    return out


def accounting(snap, ledger, audited=()) -> tuple[list[Violation],
                                                   list[Violation]]:
    out, gaps = usage_agrees(snap, ledger, audited)
    out += inv.usage_in_bounds(snap, ledger)
    out += inv.allocations_match_ledger(snap, ledger)
    out += inv.placement_usage_matches_ledger(snap, ledger)
    return out, gaps


def state_key(snap, ledger) -> dict:
    """What an audit must leave unchanged, per up node."""
    return {
        "nodes": {n: {k: (v.tracker or {}).get(k) for k in USAGE_KEYS}
                  | {"db." + k: (v.db or {}).get(k) for k in USAGE_KEYS}
                  for n, v in snap.nodes.items() if n not in ledger.down},
        "usages": snap.usages,
        "allocations": snap.allocations,
    }


def audit_changed(before: dict, after: dict) -> list[Violation]:
    out = []
    for section in ("nodes", "usages", "allocations"):
        b, a = before[section], after[section]
        for key in sorted(set(b) | set(a)):
            if b.get(key) != a.get(key):
                out.append(Violation("audit_changes_nothing",
                                     "%s %s" % (section, key), b.get(key),
                                     a.get(key),
                                     "an audit over a correct state "
                                     "changed it"))
    return out


@dataclasses.dataclass
class StepResult:
    violations: list
    gaps: list
    checked: bool = True


class StepChecker:
    """Every invariant after every operation (see the module docstring)."""

    def __init__(self):
        self.statuses: dict[str, str] = {}
        self._clean_key = None        # state_key after a clean operation
        self.gaps: list = []          # every gap seen, with its operation

    def __call__(self, world, op, client) -> list[Violation]:
        return self.check(world, op, client).violations

    def check(self, world, op, client) -> StepResult:
        if client.fault is not None or op.process == "nemesis":
            self._clean_key = None
            return StepResult([], [], checked=False)
        out = []
        if op.type == "info":
            out.append(Violation("operation_completed", op.call(),
                                 "ok", op.value,
                                 "raised with no fault active"))
        snap = observe(world, op.f)
        audited = ()
        if op.f in ("audit", "restart") and op.type == "ok":
            audited = [h for h in ([op.args["host"]] if op.args.get("host")
                                   else world.hosts)
                       if world.hosts[h].nodename
                       in world.hosts[h].driver.get_available_nodes()]
        found, gaps = accounting(snap, world.ledger, audited)
        out += found
        out += migration_lifecycle(world, self.statuses)
        out += instance_records(world)
        key = state_key(snap, world.ledger)
        if (op.f == "audit" and op.type == "ok"
                and self._clean_key is not None):
            out += audit_changed(self._clean_key, key)
        self._clean_key = key if not (out or gaps) else None
        for gap in gaps:
            self.gaps.append((op.call(), gap))
        return StepResult(out, gaps)
