"""Everything accounting-related, read at one moment.

A :class:`Snapshot` holds, per node, what the tracker keeps in memory and
what the ``compute_nodes`` row says, and from placement the providers, their
inventories and usages, and the allocations of every consumer.  Placement is
read as an observer (``X-Harness-Observer``): snapshots are never faulted and
never counted as calls Nova made.
"""
from __future__ import annotations

import dataclasses

USAGE_FIELDS = ("vcpus", "memory_mb", "local_gb", "vcpus_used",
                "memory_mb_used", "local_gb_used", "free_ram_mb",
                "free_disk_gb", "running_vms")


@dataclasses.dataclass
class NodeView:
    tracker: dict | None      # the tracker's in-memory ComputeNode
    db: dict | None           # the compute_nodes row, read fresh
    db_updated_at: str | None


@dataclasses.dataclass
class Snapshot:
    nodes: dict[str, NodeView]
    providers: dict[str, dict]             # name -> {uuid, generation, ...}
    inventories: dict[str, dict]           # name -> rc -> inventory record
    usages: dict[str, dict]                # name -> rc -> used
    allocations: dict[str, dict]           # consumer -> name -> resources
    label: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _fields(cn) -> dict:
    out = {}
    for f in USAGE_FIELDS:
        out[f] = getattr(cn, f) if cn.obj_attr_is_set(f) else None
    return out


def take(world, label: str = "") -> Snapshot:
    from nova import exception, objects
    nodes = {}
    for name, host in world.hosts.items():
        tracked = host.tracked_node
        try:
            row = objects.ComputeNode.get_by_host_and_nodename(
                world.ctx, name, host.nodename)
            db, updated = _fields(row), str(row.updated_at)
        except exception.ComputeHostNotFound:
            db, updated = None, None
        nodes[name] = NodeView(tracker=_fields(tracked) if tracked else None,
                               db=db, db_updated_at=updated)
    placement = world.placement
    providers, inventories, usages = {}, {}, {}
    by_uuid = {}
    # Providers are named after nodes; name them after their host, as the
    # ledger does (the same unless World(nodenames=...) set node names).
    host_of = {h.nodename: n for n, h in world.hosts.items()}
    for rp in placement.read("/resource_providers")["resource_providers"]:
        name = host_of.get(rp["name"], rp["name"])
        by_uuid[rp["uuid"]] = name
        providers[name] = {"uuid": rp["uuid"],
                           "generation": rp["generation"],
                           "parent": rp.get("parent_provider_uuid")}
        inventories[name] = placement.read(
            "/resource_providers/%s/inventories" % rp["uuid"])["inventories"]
        usages[name] = placement.read(
            "/resource_providers/%s/usages" % rp["uuid"])["usages"]
    allocations: dict[str, dict] = {}
    for rp_uuid, name in by_uuid.items():
        body = placement.read("/resource_providers/%s/allocations" % rp_uuid)
        for consumer, alloc in body["allocations"].items():
            allocations.setdefault(consumer, {})[name] = dict(
                alloc["resources"])
    snap = Snapshot(nodes, providers, inventories, usages, allocations,
                    label)
    world.trace.step("snapshot", label or "snapshot",
                     usage={n: {"tracker": v.tracker, "db": v.db}
                            for n, v in nodes.items()},
                     placement_usage=usages,
                     ledger={n: world.ledger.expected_usage(n).as_dict()
                             for n in world.hosts})
    return snap
