"""The instance's assigned-resources list taken on trust: claim 001-3.

Some devices are assigned to instances one by one, by identifier (Nova's
persistent-memory namespaces work this way): the driver lists them in the
provider tree (``ProviderTree.update_resources``), a claim picks free ones
and stores them in ``instance.resources``, and on every audit the tracker
rebuilds its record of which devices are taken from the ``resources`` of
the instances it tracks.  At start-up it also checks that every assigned
device still exists.

Each trial gives host ``src`` two such devices (two namespaces of a custom
resource class, inventory and provider-tree resources), boots ``vm1`` with
a flavor that needs one, then rewrites ``vm1``'s ``instance.resources``
(absent, empty, naming the other device, a device or class the host does
not have, another provider, duplicated, not JSON).  While it is wrong: a
periodic audit, a second instance ``vm2`` asking for a device, and a
compute restart (a new tracker, ``update_available_resource(startup=True)``).
Then the record is repaired and the host audited again.

Besides the standard invariants (usage, placement, the audit), the trials
check that no device is held by two live instances
(:func:`harness.oracle.checks.devices_not_shared`, from the identifiers the tracker handed out at
claim time, recorded by the harness before any fault) and the node's
instance statistics (:func:`harness.oracle.checks.stats_match_ledger`).
"""
from __future__ import annotations

import dataclasses

import fixtures
import pytest

from harness.oracle import checks
from harness.faults import assigned as asg
from harness.verdicts.judge import Trial
from harness.oracle.ledger import FlavorSpec
from harness.world import lifecycle

RC = "CUSTOM_PMEM_NAMESPACE_HARNESS"
DEVICES = ("ns_0", "ns_1")
PMEM = dict(vcpus=1, memory_mb=512, root_gb=1,
            extra_specs={"resources:%s" % RC: "1"})


@dataclasses.dataclass(frozen=True)
class DeviceFlavorSpec(FlavorSpec):
    """The ledger's flavor, plus the one device the flavor asks for."""
    devices: int = 1

    def placement_resources(self) -> dict[str, int]:
        res = super().placement_resources()
        res[RC] = self.devices
        return res


def _expose_devices(world):
    """Make every host's fake driver report two devices (inventory and
    provider-tree resources), as a driver with assignable devices does."""
    from nova import objects
    from nova.virt import fake

    real = fake.FakeDriver.update_provider_tree

    def update_provider_tree(self, provider_tree, nodename,
                             allocations=None):
        real(self, provider_tree, nodename, allocations=allocations)
        rp_uuid = provider_tree.data(nodename).uuid
        inv = provider_tree.data(nodename).inventory
        inv[RC] = {"total": len(DEVICES), "reserved": 0, "min_unit": 1,
                   "max_unit": 1, "step_size": 1, "allocation_ratio": 1.0}
        provider_tree.update_inventory(nodename, inv)
        provider_tree.update_resources(nodename, {RC: {
            objects.Resource(provider_uuid=rp_uuid, resource_class=RC,
                             identifier=d) for d in DEVICES}})

    world.useFixture(fixtures.MonkeyPatch(
        "nova.virt.fake.FakeDriver.update_provider_tree",
        update_provider_tree))


def _record_devices(world, name):
    """The identifiers the tracker handed ``name`` at claim time."""
    held = [r[2] for r in asg.assigned(world, name)]
    world.__dict__.setdefault("devices_held", {})[name] = held


def booted(world):
    """vm1 (one device) running on src, which has two devices."""
    _expose_devices(world)
    world.audit("src")                 # the driver now reports the devices
    world.create_flavor("pmem", **PMEM)
    spec = world.ledger.flavors["pmem"]
    world.ledger.flavors["pmem"] = DeviceFlavorSpec(
        **dataclasses.asdict(spec))
    world.boot("vm1", "pmem", "src")
    _record_devices(world, "vm1")


def _restart(world):
    """The compute service on src starts again (Nova's own start: a new
    compute manager, its ``init_host`` and start-up audit)."""
    lifecycle.restart(world, "src")


def while_wrong(world):
    """Audit, then a second instance asks for a device, then a restart."""
    checks.attempt(world, "periodic audit of src", world.hosts[
        "src"].rt.update_available_resource, world.ctx, "src")
    if checks.attempt(world, "boot vm2 (one device) on src",
                      checks.boot_or_reschedule, world, "vm2", "pmem",
                      "src"):
        _record_devices(world, "vm2")
    # The start-up audit ends with a check that every assigned device
    # exists, which raises to alert the operator (the compute service logs
    # it and starts anyway).  Its outcome is reported, not predicted: an
    # alert is the check doing its job.
    checks.attempt_as(world, "startup_check_completed",
                      "restart src (start-up audit)", _restart, world)


FAULTS = {
    "absent": dict(mode="absent"),
    "empty list": dict(mode="empty"),
    "names the other device": dict(mode="identifier", value="ns_1"),
    "names a device the host lacks": dict(mode="identifier",
                                          value="ns_99"),
    "names a class the provider lacks": dict(mode="resource_class",
                                             value="CUSTOM_GHOST"),
    "names another provider": dict(
        mode="provider", value="00000000-0000-4000-8000-00000000dead"),
    "each device listed twice": dict(mode="duplicated"),
}
# not a wrong list but an unreadable one: judged on its own
UNREADABLE = {"not JSON": dict(mode="malformed")}
EXTRA_CHECKS = (checks.devices_not_shared, checks.stats_match_ledger,
                checks.workload_steps_completed)


def _fault(spec):
    def factory(world):
        if spec.get("value") == "ns_1":
            # "the other device": whichever vm1 was not given
            mine = world.devices_held["vm1"]
            other = [d for d in DEVICES if d not in mine][0]
            return asg.InstanceResources(world, "vm1", mode="identifier",
                                         value=other)
        return asg.InstanceResources(world, "vm1", **spec)
    return factory


def resources_trials(run):
    kw = {"hosts": ("src",)}
    run.trials(
        [Trial("vm1 holds a device [control]", booted, during=while_wrong,
               world_kwargs=kw, checks=EXTRA_CHECKS)]
        + [Trial("vm1's assigned resources: %s" % label, booted,
                 fault=_fault(spec), during=while_wrong, world_kwargs=kw,
                 checks=EXTRA_CHECKS)
           for label, spec in list(FAULTS.items())
           + list(UNREADABLE.items())])


def _only(labels):
    """A filter for the control and the variants named in ``labels``."""
    names = {"vm1's assigned resources: %s" % label for label in labels}
    return lambda o: o.control or o.trial in names


WHILE = ("each through a periodic audit, a second claim for a device and a "
         "restart (start-up audit) while wrong, then repaired")
NUMBERS = ("usage_matches_ledger", "usage_in_bounds",
           "allocations_match_ledger", "placement_usage_matches_ledger",
           "stats_match_ledger")


@pytest.mark.claims("001-3")
def test_wrong_assigned_resources_skew_usage_or_stats(judge):
    """The node's usage and statistics do not depend on instance.resources."""
    judge.observe(resources_trials, keep=_only(FAULTS))
    judge.decide(
        hypothesis="When an instance's assigned-resources list is missing "
                   "or wrong, the node's usage or statistics are computed "
                   "wrongly (tracker, compute_nodes row, placement).",
        stages=("under_fault", "during", "after_clear"), invariants=NUMBERS,
        fault_space=WHILE)


@pytest.mark.finding("F-10")
def test_wrong_assigned_resources_misassign_devices(judge):
    """A wrong instance.resources must not give one device to two instances
    or break claims, audits or the restart."""
    judge.observe(resources_trials, keep=_only(FAULTS))
    judge.decide(
        hypothesis="Because the tracker rebuilds which devices are taken "
                   "from the instances' assigned-resources lists without "
                   "checking them against placement, a wrong list makes it "
                   "hand a device that is in use to another instance, "
                   "refuse a device that is free, or fail a periodic "
                   "audit.  (The start-up check's alert about devices that "
                   "do not exist is reported, not counted.)",
        predicts={"under_fault": ("audit_completed",),
                  "during": ("devices_not_shared", "workload_completed",
                             "audit_completed"),
                  "after_clear": ("devices_not_shared", "audit_completed")},
        fault_space=WHILE)


@pytest.mark.finding("F-04")
def test_unreadable_assigned_resources_break_accounting(judge):
    """An unreadable instance.resources must not break the audit or the
    node's numbers."""
    judge.observe(resources_trials, keep=_only(UNREADABLE))
    judge.decide(
        hypothesis="The tracker reads every instance's assigned-resources "
                   "list on each audit without guarding against a record "
                   "it cannot read: one unreadable list makes the audit "
                   "fail, and the node's usage goes wrong while it lasts.",
        stages=("under_fault", "during", "after_clear"),
        invariants=NUMBERS + ("audit_completed", "workload_completed"),
        fault_space=WHILE)
