"""One hermetic Nova deployment: databases, a real Placement, compute hosts.

A :class:`World` is a ``fixtures.Fixture``.  Setting it up builds, in this
process, Nova's main and API databases (sqlite; or MariaDB/PostgreSQL with
``db=``, see :mod:`harness.world.engines`), a real Placement service
behind a fault-injecting WSGI middleware, and one or more compute hosts, each
with a Service record, a fake virt driver whose inventory the scenario sets and
a real :class:`nova.compute.resource_tracker.ResourceTracker`.  Cleaning it up
undoes every patch and resets the module-level caches Nova keeps, so the next
world starts from nothing.

The verbs (``boot``, ``resize``, ``migrate``, ``live_migrate``, ``confirm``,
``revert``, ``delete``, ``audit``, ``service_audit``) drive the real code in
the shape the compute manager and the conductor drive it; each records what it
did in the world's :class:`~harness.oracle.ledger.Ledger`, which is the oracle the
invariants compare against.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import os
from typing import Iterable

import fixtures

from harness.world import engines, novaenv, nova_releases
from harness.oracle.ledger import Ledger, FlavorSpec
from harness.oracle.trace import Trace

LOG = logging.getLogger(__name__)
# An image-backed root disk: the tracker counts root_gb only for instances
# that are not volume-backed (no root BDM and an image_ref).
IMAGE_REF = "155d900f-4e14-4e4c-a73d-069cbf4541e6"


@dataclasses.dataclass(frozen=True)
class Inventory:
    """What a host's fake virt driver reports."""
    vcpus: int = 16
    memory_mb: int = 32768
    local_gb: int = 400


@dataclasses.dataclass(frozen=True)
class Reserved:
    """Reserved host resources (``[DEFAULT] reserved_host_*``)."""
    cpus: int = 0
    memory_mb: int = 512
    disk_mb: int = 0


class Host:
    """One compute host: service record, driver, tracker, manager."""

    def __init__(self, world: "World", name: str, inventory: Inventory,
                 nodename: str | None = None):
        self.world = world
        self.name = name
        # The node the host's driver reports (the host name unless the
        # world was told otherwise, see ``World(nodenames=...)``).
        self._nodename = nodename or name
        self.inventory = inventory
        self.driver = None
        self.rt = None
        self.reportclient = None
        self.service = None
        self._manager = None

    @property
    def nodename(self) -> str:
        return self._nodename

    def set_inventory(self, inventory: Inventory):
        """Make the fake driver report ``inventory`` from now on."""
        self.inventory = inventory
        drv = self.driver
        drv.vcpus = inventory.vcpus
        drv.memory_mb = inventory.memory_mb
        drv.local_gb = inventory.local_gb
        drv.resources.vcpus = inventory.vcpus
        drv.resources.memory_mb = inventory.memory_mb
        drv.resources.local_gb = inventory.local_gb

    @property
    def manager(self):
        """A real ``ComputeManager`` wired to this host's driver and tracker.

        Built lazily: only scenarios that run the audit the way the compute
        service does need it.
        """
        if self._manager is None:
            from nova.compute import manager as compute_manager
            mgr = compute_manager.ComputeManager(host=self.name)
            mgr.driver = self.driver
            mgr.rt = self.rt
            mgr.reportclient = self.reportclient
            self._manager = mgr
        return self._manager

    @property
    def compute_node(self):
        """The node's record: the tracker's, or, while the tracker has none
        (a compute restarted while its driver did not report the node, until
        an audit reaches it), the database's, as the scheduler and the
        conductor read it."""
        tracked = self.rt.compute_nodes.get(self.nodename)
        if tracked is not None:
            return tracked
        from nova import objects
        return objects.ComputeNode.get_by_host_and_nodename(
            self.world.ctx, self.name, self.nodename)

    @property
    def rp_uuid(self) -> str:
        return self.compute_node.uuid


class World(fixtures.Fixture):
    """A hermetic Nova deployment for one scenario."""

    def __init__(self, hosts: Iterable[str] = ("src", "dst", "bystander"),
                 inventory: Inventory = Inventory(),
                 reserved: Reserved = Reserved(),
                 allocation_ratios: dict | None = None,
                 config: dict | None = None,
                 trace: Trace | None = None,
                 sqlite: str | None = None,
                 nodenames: dict | None = None,
                 db: str | None = None):
        super().__init__()
        self.host_names = list(hosts)
        # host name -> the node name its fake driver reports (default: the
        # host name), set before the host's first audit.
        self.nodenames = dict(nodenames or {})
        # "memory" (default): in-memory databases copied from a template,
        # one thread at a time; "file": Nova's own WAL sqlite files, for
        # scenarios that run Nova code in several threads at once.  See
        # harness.world.novaenv; HARNESS_SQLITE sets the default.
        self.sqlite = novaenv.sqlite_mode(sqlite)
        # The database engine: "sqlite" (default, the fast path), "mysql"
        # (MariaDB) or "postgresql"; HARNESS_DB sets the default.  See
        # harness.world.engines.  A world on a real engine cannot be forked
        # (its databases live in a server), so check ``forkable``.
        self.db = engines.db_kind(db)
        self.initial_inventory = inventory
        self.reserved = reserved
        self.allocation_ratios = dict(allocation_ratios or
                                      {"cpu": 4.0, "ram": 1.0, "disk": 1.0})
        self.extra_config = dict(config or {})
        self.trace = trace or Trace()
        self.hosts: dict[str, Host] = {}
        self.flavors: dict[str, object] = {}
        self.instances: dict[str, object] = {}
        self.migrations: dict[str, object] = {}
        # failed builds stopped before their clean-up: name -> host
        self.failed_builds: dict[str, str] = {}
        # uuids of volume-backed instances (the scheduler's is_bfv)
        self.volume_backed: set[str] = set()
        self.ledger = Ledger(reserved=reserved)

    # ------------------------------------------------------------------
    # set-up
    # ------------------------------------------------------------------
    def _setUp(self):
        nova = novaenv.load()
        self.nova = nova
        novaenv.reset_globals()
        self.addCleanup(novaenv.reset_globals)

        from nova import conf as nova_conf
        from nova import context as nova_context
        from nova.tests import fixtures as nova_fixtures
        from nova.tests.functional import fixtures as func_fixtures

        CONF = nova_conf.CONF
        self.CONF = CONF
        self.useFixture(fixtures.EnvironmentVariable("http_proxy"))
        self.useFixture(fixtures.EnvironmentVariable("https_proxy"))
        self.useFixture(nova_fixtures.ConfFixture(CONF))
        lock_path = self.useFixture(fixtures.TempDir()).path
        CONF.set_override("lock_path", lock_path, group="oslo_concurrency")
        CONF.set_override("reserved_host_cpus", self.reserved.cpus)
        CONF.set_override("reserved_host_memory_mb",
                          self.reserved.memory_mb)
        CONF.set_override("reserved_host_disk_mb", self.reserved.disk_mb)
        CONF.set_override("cpu_allocation_ratio",
                          self.allocation_ratios["cpu"])
        CONF.set_override("ram_allocation_ratio",
                          self.allocation_ratios["ram"])
        CONF.set_override("disk_allocation_ratio",
                          self.allocation_ratios["disk"])
        CONF.set_override("compute_driver", "fake.FakeDriver")
        for key, value in self.extra_config.items():
            group, _, name = key.rpartition(".")
            CONF.set_override(name, value, group=group or None)

        self.useFixture(nova_fixtures.RPCFixture("nova.test"))
        if self.db != "sqlite":
            self.useFixture(engines.nova_database(self.db, "main"))
            self.useFixture(engines.nova_database(self.db, "api"))
        elif self.sqlite == "memory":
            novaenv.GUARD.reset()
            self.addCleanup(self._check_thread_guard)
            self.useFixture(novaenv.memory_database("main"))
            self.useFixture(novaenv.memory_database("api"))
        else:
            self.useFixture(nova_fixtures.Database())
            self.useFixture(nova_fixtures.Database(database="api"))
        self.useFixture(nova_fixtures.SingleCellSimple())
        self.useFixture(nova_fixtures.OpenStackSDKFixture())
        self.useFixture(nova_fixtures.KSAFixture())
        self.useFixture(nova_fixtures.ComputeNodeIdFixture())
        # No PolicyFixture: nothing a world runs (tracker, compute manager,
        # report client, placement's own policy) consults Nova's API policy,
        # and loading it cost ~27 ms a world.  Reset it in case anything did.
        from nova import policy as nova_policy
        nova_policy.reset()
        self.addCleanup(nova_policy.reset)

        from harness.world.placement import FaultablePlacement
        self.placement = self.useFixture(FaultablePlacement(
            trace=self.trace, sqlite=self.sqlite, db=self.db))
        self.ctx = nova_context.get_admin_context()
        self.ctx.project_id = "harness-project"
        self.ctx.user_id = "harness-user"

        for name in self.host_names:
            self.add_host(name, self.initial_inventory)
        self.trace.step("world", "built",
                        hosts=self.host_names,
                        inventory=dataclasses.asdict(self.initial_inventory),
                        reserved=dataclasses.asdict(self.reserved))

    @property
    def engine(self) -> str:
        """The database engine this world runs on: sqlite, mysql or
        postgresql."""
        return self.db

    @property
    def forkable(self) -> bool:
        """Whether the world's databases live in this process (sqlite), so
        a forked copy of the process holds a copy of them.  A world on a
        real engine shares its server with any fork."""
        return self.db == "sqlite"

    def _check_thread_guard(self):
        if novaenv.GUARD.violations:
            raise novaenv.ConcurrentDatabaseUse(
                "; ".join(novaenv.GUARD.violations))

    def add_host(self, name: str, inventory: Inventory,
                 nodename: str | None = None) -> Host:
        """Start a compute host: service record, driver, tracker, first audit.

        ``nodename``: the node the driver reports (default: from
        ``World(nodenames=...)``, else the host name).
        """
        from nova import objects
        from nova.compute import resource_tracker
        from nova.scheduler.client import report
        from nova.virt import fake

        host = Host(self, name, inventory,
                    nodename=nodename or self.nodenames.get(name))
        host.service = objects.Service(
            self.ctx, host=name, binary="nova-compute", topic="compute",
            report_count=0)
        host.service.create()
        host.driver = fake.FakeDriver(fake.FakeVirtAPI())
        host.driver.init_host(name)
        if host.nodename != name:
            host.driver._set_nodes([host.nodename])
        host.set_inventory(inventory)
        # Each compute service has its own report client (and provider tree
        # cache), as in a real deployment; the conductor/scheduler uses the
        # process-wide singleton.
        host.reportclient = report.SchedulerReportClient()
        host.rt = resource_tracker.ResourceTracker(
            name, host.driver, reportclient=host.reportclient)
        nova_releases.set_service_ref(host.rt, host.service)
        self.hosts[name] = host
        self.ledger.add_node(name, vcpus=inventory.vcpus,
                             memory_mb=inventory.memory_mb,
                             local_gb=inventory.local_gb,
                             ratios=self.allocation_ratios)
        host.rt.update_available_resource(self.ctx, host.nodename,
                                          startup=True)
        return host

    @property
    def reportclient(self):
        """The conductor/scheduler side report client (Nova's singleton)."""
        from nova.scheduler.client import report
        return report.report_client_singleton()

    # ------------------------------------------------------------------
    # flavors
    # ------------------------------------------------------------------
    def create_flavor(self, name: str, vcpus: int = 1, memory_mb: int = 512,
                      root_gb: int = 10, ephemeral_gb: int = 0,
                      swap: int = 0, extra_specs: dict | None = None):
        from nova import objects
        flavor = objects.Flavor(
            self.ctx, name=name, flavorid=name, vcpus=vcpus,
            memory_mb=memory_mb, root_gb=root_gb, ephemeral_gb=ephemeral_gb,
            swap=swap, rxtx_factor=1.0, vcpu_weight=0, disabled=False,
            is_public=True, extra_specs=extra_specs or {})
        flavor.create()
        self.flavors[name] = flavor
        self.ledger.add_flavor(FlavorSpec(
            name=name, vcpus=vcpus, memory_mb=memory_mb, root_gb=root_gb,
            ephemeral_gb=ephemeral_gb, swap=swap))
        self.trace.step("world", "create_flavor", flavor=name, vcpus=vcpus,
                        memory_mb=memory_mb, root_gb=root_gb,
                        ephemeral_gb=ephemeral_gb, swap=swap)
        return flavor

    # ------------------------------------------------------------------
    # scheduling, as the scheduler does it
    # ------------------------------------------------------------------
    def _resource_request(self, flavor, is_bfv=False):
        from nova import objects
        from nova.scheduler import utils as scheduler_utils
        spec = objects.RequestSpec(flavor=flavor, is_bfv=is_bfv)
        return scheduler_utils.ResourceRequest.from_request_spec(spec)

    def schedule(self, instance, flavor, host: str) -> dict:
        """Claim ``flavor`` on ``host`` for ``instance`` in placement.

        The way the scheduler does it: ask placement for allocation
        candidates, take the one on the chosen host, and PUT it as the
        instance's allocation.  Returns the allocations dict placement holds
        for the consumer afterwards.  Raises :class:`NoRoom` when placement
        offers no candidate on that host.
        """
        target = self.hosts[host]
        res_req = self._resource_request(
            flavor, is_bfv=instance.uuid in self.volume_backed)
        alloc_reqs, _summaries, version = (
            self.reportclient.get_allocation_candidates(self.ctx, res_req))
        chosen = None
        for areq in alloc_reqs or []:
            if target.rp_uuid in areq["allocations"]:
                chosen = areq
                break
        if chosen is None:
            raise NoRoom("placement offered no candidate on %s for %s"
                         % (host, flavor.name))
        consumer = self.reportclient.get_allocs_for_consumer(
            self.ctx, instance.uuid)
        ok = self.reportclient.claim_resources(
            self.ctx, instance.uuid, chosen, instance.project_id,
            instance.user_id, version,
            consumer_generation=consumer.get("consumer_generation"))
        if not ok:
            raise NoRoom("placement refused the claim on %s" % host)
        return self.reportclient.get_allocs_for_consumer(
            self.ctx, instance.uuid)["allocations"]

    # ------------------------------------------------------------------
    # instances
    # ------------------------------------------------------------------
    def boot(self, name: str, flavor: str, host: str,
             vm_state: str = "active", from_volume: bool = False):
        """Boot an instance on ``host`` through a real claim.

        Creates the instance record, makes the placement allocation the
        scheduler would make, then runs ``ResourceTracker.instance_claim``
        exactly as ``ComputeManager._build_and_run_instance`` does, and marks
        the instance active.  ``from_volume``: boot from a volume (no image,
        a root volume block device mapping; no local root disk).
        """
        from nova.compute import vm_states
        inst = self.new_instance(name, flavor, from_volume=from_volume)
        allocations = self.schedule(inst, self.flavors[flavor], host)
        target = self.hosts[host]
        target.rt.instance_claim(self.ctx, inst, target.nodename,
                                 allocations)
        inst.vm_state = vm_state or vm_states.ACTIVE
        inst.task_state = None
        inst.save()
        self.ledger.boot(name, inst.uuid, flavor, host,
                         volume_backed=from_volume)
        self.trace.step("world", "boot", instance=name, uuid=inst.uuid,
                        flavor=flavor, host=host, from_volume=from_volume)
        return inst

    def new_instance(self, name: str, flavor: str,
                     from_volume: bool = False):
        """The instance record the API creates (building, scheduling); for
        ``from_volume`` with a root volume mapping and no image."""
        from nova import objects
        from nova.compute import task_states, vm_states
        from oslo_utils import uuidutils

        flv = self.flavors[flavor]
        inst = objects.Instance(
            self.ctx, uuid=uuidutils.generate_uuid(), display_name=name,
            hostname=name, project_id=self.ctx.project_id,
            user_id=self.ctx.user_id, flavor=flv, old_flavor=None,
            new_flavor=None, instance_type_id=flv.id, vcpus=flv.vcpus,
            memory_mb=flv.memory_mb, root_gb=flv.root_gb,
            ephemeral_gb=flv.ephemeral_gb, vm_state=vm_states.BUILDING,
            task_state=task_states.SCHEDULING, power_state=0,
            image_ref="" if from_volume else IMAGE_REF, system_metadata={},
            numa_topology=None,
            pci_requests=objects.InstancePCIRequests(requests=[]),
            availability_zone=None)
        inst.create()
        if from_volume:
            objects.BlockDeviceMapping(
                self.ctx, instance_uuid=inst.uuid, source_type="volume",
                destination_type="volume", boot_index=0,
                device_name="/dev/vda", delete_on_termination=False,
                volume_id=uuidutils.generate_uuid()).create()
            self.volume_backed.add(inst.uuid)
        self.instances[name] = inst
        return inst

    def instance(self, name: str):
        """The instance as the DB holds it now (a fresh read)."""
        from nova import objects
        return objects.Instance.get_by_uuid(
            self.ctx, self.instances[name].uuid,
            expected_attrs=["flavor", "migration_context", "system_metadata",
                            "numa_topology", "resources"])

    def delete(self, name: str):
        """Delete an instance as the compute manager does on a normal delete."""
        from nova.compute import vm_states
        inst = self.instance(name)
        if (inst.vm_state == vm_states.RESIZED and name in self.migrations
                and self.migration(name).status in ("finished",
                                                    "confirming")):
            # As the API does (API._confirm_resize_on_deleting): confirm an
            # unconfirmed resize first, which releases the source's
            # migration-held allocation.
            self.confirm(name)
            inst = self.instance(name)
        host = self.hosts.get(inst.host)
        inst.vm_state = vm_states.DELETED
        inst.task_state = None
        inst.save()
        if host is not None:
            host.rt.update_usage(self.ctx, inst, inst.node)
        self.reportclient.delete_allocation_for_instance(
            self.ctx, inst.uuid, force=True)
        inst.destroy()
        self.ledger.delete(name)
        self.trace.step("world", "delete", instance=name)

    # ------------------------------------------------------------------
    # moves
    # ------------------------------------------------------------------
    def resize(self, name: str, flavor: str, dest: str,
               until: str = "finished"):
        """Resize ``name`` to ``flavor`` on ``dest`` (same host allowed).

        ``until`` is the migration status to stop at: ``pre-migrating``
        (claim done on the destination), ``migrating``, ``post-migrating``
        or ``finished`` (instance now on the destination, awaiting
        confirm/revert).
        """
        from harness.world import moves
        return moves.cold_move(self, name, flavor, dest, until=until)

    def migrate(self, name: str, dest: str, until: str = "finished"):
        """Cold-migrate ``name`` to ``dest`` (a resize to the same flavor)."""
        from harness.world import moves
        inst = self.instances[name]
        flavor = self.ledger.instances[name].flavor
        return moves.cold_move(self, name, flavor, dest, until=until)

    def live_migrate(self, name: str, dest: str, until: str = "running"):
        """Live-migrate ``name`` to ``dest``.

        ``until``: ``preparing`` (claimed on the destination), ``running``,
        ``completed`` (instance moved; source cleaned up).
        """
        from harness.world import moves
        return moves.live_move(self, name, dest, until=until)

    def confirm(self, name: str):
        from harness.world import moves
        return moves.confirm(self, name)

    def revert(self, name: str):
        from harness.world import moves
        return moves.revert(self, name)

    def migration(self, name: str):
        """The migration record of the instance's current move (fresh read)."""
        from nova import objects
        return objects.Migration.get_by_id(self.ctx,
                                           self.migrations[name].id)

    # ------------------------------------------------------------------
    # the periodic audit
    # ------------------------------------------------------------------
    def audit(self, host: str | None = None, via: str = "tracker"):
        """Run the periodic resource audit.

        ``via='tracker'`` calls ``ResourceTracker.update_available_resource``
        directly and lets an exception escape (it is returned in the
        :class:`AuditResult`).  ``via='service'`` runs it the way the compute
        service does, through ``ComputeManager.update_available_resource``.
        """
        results = []
        names = [host] if host else list(self.hosts)
        for name in names:
            h = self.hosts[name]
            error = None
            try:
                if via == "service":
                    h.manager.update_available_resource(self.ctx)
                else:
                    h.rt.update_available_resource(self.ctx, h.nodename)
            except Exception as exc:  # noqa: BLE001 - reported, not hidden
                error = exc
            if error is None and h.nodename in (
                    h.driver.get_available_nodes()):
                self.ledger.audited(name)
            results.append(AuditResult(host=name, via=via, error=error))
            self.trace.step("audit", via, host=name,
                            error=repr(error) if error else None)
        return results

    def snapshot(self, label: str = ""):
        from harness.oracle.snapshot import take
        return take(self, label)


@dataclasses.dataclass
class AuditResult:
    host: str
    via: str
    error: BaseException | None

    @property
    def ok(self) -> bool:
        return self.error is None


class NoRoom(Exception):
    """Placement offered no allocation candidate on the requested host."""
