"""Populate a host with many instances, cheaply but through Nova's objects.

A few instances are booted and moved through the real path (scheduler-style
placement claim, ``instance_claim``, resize to another host, which leaves
in-progress migrations); the rest are instance records created with
``objects.Instance.create()`` (host and node set, active) whose placement
allocations are written in one ``POST /allocations``.  The tracker's audit
sees the same shapes either way: instance rows on its node with an embedded
flavor, and allocations against its provider.
"""
from __future__ import annotations

from harness.world.deployment import IMAGE_REF, Inventory, World

TINY = dict(vcpus=1, memory_mb=64, root_gb=1)
BIG_INVENTORY = Inventory(vcpus=4096, memory_mb=4 * 1024 * 1024,
                          local_gb=100000)


def populated_world(n: int, migrations: int | None = None) -> World:
    """A world whose host ``src`` runs ``n`` instances, ``migrations`` of
    them resized to ``dst`` and awaiting confirmation (default: n // 100,
    at least 2)."""
    from nova import objects
    from nova.compute import vm_states
    from oslo_utils import uuidutils

    if migrations is None:
        migrations = max(2, n // 100)
    w = World(hosts=("src", "dst"), inventory=BIG_INVENTORY)
    w.setUp()
    try:
        w.create_flavor("tiny", **TINY)
        w.create_flavor("tiny2", vcpus=2, memory_mb=128, root_gb=2)
        real = min(n, migrations + 2)
        for i in range(real):
            w.boot("vm%d" % i, "tiny", "src")
        for i in range(migrations):
            w.resize("vm%d" % i, "tiny2", "dst")
        flavor = w.flavors["tiny"]
        src = w.hosts["src"]
        allocations = {}
        for i in range(real, n):
            inst = objects.Instance(
                w.ctx, uuid=uuidutils.generate_uuid(),
                display_name="bulk%d" % i, hostname="bulk%d" % i,
                project_id=w.ctx.project_id, user_id=w.ctx.user_id,
                flavor=flavor, old_flavor=None, new_flavor=None,
                instance_type_id=flavor.id, vcpus=flavor.vcpus,
                memory_mb=flavor.memory_mb, root_gb=flavor.root_gb,
                ephemeral_gb=flavor.ephemeral_gb,
                vm_state=vm_states.ACTIVE, task_state=None, power_state=1,
                image_ref=IMAGE_REF, system_metadata={},
                numa_topology=None,
                pci_requests=objects.InstancePCIRequests(requests=[]),
                availability_zone=None, host="src", node=src.nodename,
                launched_on="src", compute_id=src.compute_node.id)
            inst.create()
            allocations[inst.uuid] = {
                "allocations": {src.rp_uuid: {"resources": {
                    "VCPU": flavor.vcpus, "MEMORY_MB": flavor.memory_mb,
                    "DISK_GB": flavor.root_gb}}},
                "project_id": w.ctx.project_id, "user_id": w.ctx.user_id,
                "consumer_generation": None}
        if allocations:
            resp = w.placement.write("POST", "/allocations", allocations,
                                     version="1.28")
            if resp.status_code != 204:
                raise RuntimeError("bulk allocation failed: %s %s"
                                   % (resp.status_code, resp.text))
        # one audit so the tracker's state reflects the bulk instances
        src.rt.update_available_resource(w.ctx, src.nodename)
        return w
    except BaseException:
        w.cleanUp()
        raise


def expected_src_usage(n: int, migrations: int) -> dict:
    """What the audit must count on src: every instance at TINY, plus the
    outgoing migrations' old flavor (held on the source until confirm)."""
    return {"vcpus_used": n * TINY["vcpus"],
            "memory_mb_used": n * TINY["memory_mb"] + 512,  # + reserved
            "local_gb_used": n * TINY["root_gb"]}
