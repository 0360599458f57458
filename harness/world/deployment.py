"""One hermetic Nova deployment: Nova's own services, in this process.

A :class:`World` is a ``fixtures.Fixture`` composed of Nova's own test
fixtures, as Nova's functional tests compose them
(``nova/tests/functional/integrated_helpers.py``): the configuration,
Nova's main and API databases (in-memory sqlite copied from a template, or
MariaDB/PostgreSQL with ``db=``, see :mod:`harness.world.engines`), the
message bus (:mod:`harness.world.bus`), Neutron, Glance and Cinder as Nova's
fixtures fake them, a real Placement service behind a fault-injecting WSGI
middleware, and then Nova's services: the REST API (WSGI, in process), the
conductor, the scheduler and one compute service per host over a fake
hypervisor (:mod:`harness.world.hypervisor`).

Every operation enters where a user or an operator would: a request to the
REST API, a service start or stop, the compute manager's periodic
``update_available_resource``, the hypervisor reporting a node gone.  The
world then delivers every message the request led to, until the bus is
quiet, and reads what came of it (the server, its migration) through the
API and the database.  To stop an operation at a phase, the world holds
the message that leads there on the bus, or stops a hypervisor call at a
:class:`~harness.world.hypervisor.Gate` (as Nova's own regression tests
block a driver call); the operation then goes on when the harness lets it.

What the world learns from each operation's outcome it records in its
:class:`~harness.oracle.ledger.Ledger`, the oracle the invariants compare
against: the ledger is told what happened (the server landed on ``dst``;
the resize is ``finished``), never what Nova should have done.

Cleaning a world up stops every service and undoes every patch, and resets
the module-level caches Nova keeps, so the next world starts from nothing.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
import time
import uuid
from typing import Callable, Iterable

import fixtures

from harness.world import engines, hypervisor, novaenv, nova_releases, \
    scheduling
from harness.world.bus import Bus, Rule
from harness.world.errors import Api, NoRoom, OperationFailed, Refused
from harness.world.history import verb
from harness.world.hypervisor import Gate, Hypervisors, Inventory, \
    ServiceKilled
from harness.world.trace import Trace

LOG = logging.getLogger(__name__)
# The image every server boots from (one of the Glance fixture's images).
IMAGE_REF = "155d900f-4e14-4e4c-a73d-069cbf4541e6"
# How long an operation may run before the world calls it hung (wall s).
OPERATION_TIMEOUT = 60.0
# While a stalled operation waits at a gate, how long another operation
# may run before it counts as blocked behind the stall (wall s).
BLOCKED_AFTER = 5.0

# The oracle plugs in here when ``harness.oracle`` is imported (the world is
# the layer below it and does not import it): ``ledger(reserved)`` makes the
# ledger a world tells what its operations came to, ``snapshot(world,
# label)`` reads what Nova shows.
ORACLE: dict = {}

__all__ = ["World", "Host", "Inventory", "Reserved", "AuditResult",
           "NoRoom", "OperationFailed", "Refused", "Stall"]


@dataclasses.dataclass(frozen=True)
class Reserved:
    """Reserved host resources (``[DEFAULT] reserved_host_*``)."""
    cpus: int = 0
    memory_mb: int = 512
    disk_mb: int = 0


class _TestShim:
    """What Nova's service fixtures (Neutron, Glance, Cinder) expect of
    the test case that uses them: ``stub_out``, ``flags``, clean-ups."""

    def __init__(self, world: "World"):
        self._world = world

    def stub_out(self, old, new):
        self._world.useFixture(fixtures.MonkeyPatch(old, new))

    def flags(self, **kw):
        group = kw.pop("group", None)
        for key, value in kw.items():
            self._world.CONF.set_override(key, value, group)

    def addCleanup(self, *args, **kwargs):
        self._world.addCleanup(*args, **kwargs)

    def useFixture(self, fixture):
        return self._world.useFixture(fixture)


@dataclasses.dataclass
class _Server:
    """A server the API accepted whose instance record is not built yet."""
    uuid: str


class Host:
    """One compute host: its running compute service and its hypervisor."""

    def __init__(self, world: "World", name: str, inventory: Inventory,
                 nodename: str | None = None):
        self.world = world
        self.name = name
        self._nodename = nodename or name
        self.inventory = inventory
        self.service = None          # the running nova.service.Service
        self._fixture = None

    @property
    def nodename(self) -> str:
        return self._nodename

    @property
    def running(self) -> bool:
        return self.service is not None

    @property
    def manager(self):
        """The compute service's real ``ComputeManager``."""
        if self.service is None:
            raise OperationFailed("the compute service on %s is not "
                                  "running" % self.name)
        return self.service.manager

    @property
    def rt(self):
        """The compute service's real ``ResourceTracker``."""
        return self.manager.rt

    @property
    def tracked_node(self):
        """The tracker's in-memory record of the node (None while the
        service is down, or its tracker has none)."""
        if self.service is None:
            return None
        return self.rt.compute_nodes.get(self.nodename)

    @property
    def driver(self):
        """The host's hypervisor (outlives its compute service)."""
        return self.world.hypervisors.by_host[self.name]

    @property
    def reportclient(self):
        return self.manager.reportclient

    @property
    def service_ref(self):
        """The compute service's record, read afresh."""
        from nova import objects
        return objects.Service.get_by_compute_host(self.world.ctx, self.name)

    def set_inventory(self, inventory: Inventory):
        """Make the hypervisor report ``inventory`` from now on."""
        self.inventory = inventory
        self.driver.set_inventory(inventory)

    @property
    def compute_node(self):
        """The node's record: the tracker's, or, while the tracker has none
        (a service down, or restarted while its node was unreported), the
        database's, as the scheduler and the conductor read it."""
        if self.service is not None:
            tracked = self.rt.compute_nodes.get(self.nodename)
            if tracked is not None:
                return tracked
        from nova import objects
        return objects.ComputeNode.get_by_host_and_nodename(
            self.world.ctx, self.name, self.nodename)

    @property
    def rp_uuid(self) -> str:
        return self.compute_node.uuid


@dataclasses.dataclass
class Stall:
    """An operation stopped at a gate: its thread waits there."""
    label: str
    gate: Gate
    thread: threading.Thread
    box: dict

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()


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
                 db: str | None = None,
                 record_states: bool = False):
        super().__init__()
        # record, after each operation, what it left (harness.world.history
        # Call.after: what ``python -m harness export`` waits for)
        self.record_states = record_states
        self.host_names = list(hosts)
        self.nodenames = dict(nodenames or {})
        self.sqlite = novaenv.sqlite_mode(sqlite)
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
        self.volume_backed: set[str] = set()
        self.stalls: dict[str, Stall] = {}
        # faults set up on this world (harness.faults registers them)
        self.faults_in: list = []
        # the verbs performed on this world (harness.world.history)
        self.calls: list = []
        self.blocked: list[tuple[str, threading.Thread, dict]] = []
        if "ledger" not in ORACLE:
            raise RuntimeError("a World needs the oracle's ledger: import "
                               "harness.oracle before building one")
        self.ledger = ORACLE["ledger"](reserved=reserved)

    # ------------------------------------------------------------------
    # set-up
    # ------------------------------------------------------------------
    def _setUp(self):
        self.nova = novaenv.load()
        hypervisor.watch_database_boundary()
        novaenv.reset_globals()
        self.addCleanup(novaenv.reset_globals)
        scheduling.reset()
        self.addCleanup(scheduling.reset)

        from nova import conf as nova_conf
        from nova import context as nova_context
        from nova.tests import fixtures as nova_fixtures

        CONF = nova_conf.CONF
        self.CONF = CONF
        shim = _TestShim(self)
        self.useFixture(fixtures.EnvironmentVariable("http_proxy"))
        self.useFixture(fixtures.EnvironmentVariable("https_proxy"))
        self.useFixture(nova_fixtures.ConfFixture(CONF))
        self._configure(CONF)

        self.useFixture(nova_fixtures.RPCFixture("nova.test"))
        CONF.set_default("driver", ["noop"],
                         group="oslo_messaging_notifications")
        self.bus = self.useFixture(Bus())
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
        for fixture in nova_releases.node_identity_fixtures():
            self.useFixture(fixture)
        for fixture in nova_releases.synchronous_work_fixtures():
            self.useFixture(fixture)
        self.neutron = self.useFixture(nova_fixtures.NeutronFixture(shim))
        self.glance = self.useFixture(nova_fixtures.GlanceFixture(shim))
        self.cinder = self.useFixture(nova_fixtures.CinderFixture(shim))
        self.useFixture(nova_fixtures.RealPolicyFixture())

        from harness.world.placement import FaultablePlacement
        self.placement = self.useFixture(FaultablePlacement(
            trace=self.trace, sqlite=self.sqlite, db=self.db))
        self.hypervisors = self.useFixture(Hypervisors())
        api = self.useFixture(nova_fixtures.OSAPIFixture(
            api_version="v2.1"))
        self.api = Api(api.admin_api)           # the operator
        self.api.microversion = "latest"
        self.user_api = Api(api.api)            # a user (the same project)
        self.user_api.microversion = "latest"
        self.ctx = nova_context.get_admin_context()
        # the project the API's users (and so the servers) belong to
        self.ctx.project_id = api.project_id

        # Every stalled operation is let go (its service dies with it)
        # before the services and the databases go.
        self.addCleanup(self._end_stalls)
        self._services = []
        self.conductor = self._start("conductor")
        self.scheduler = self._start("scheduler")
        for name in self.host_names:
            self.add_host(name, self.initial_inventory)
        self.trace.step("world", "built",
                        hosts=self.host_names,
                        inventory=dataclasses.asdict(self.initial_inventory),
                        reserved=dataclasses.asdict(self.reserved))

    def _configure(self, CONF):
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
        # The API's paste pipeline ships with Nova's source distribution
        # (installed under the environment's etc/).
        CONF.set_override("api_paste_config", paste_config(), group="wsgi")
        # No service heartbeats run (no timers: the world is driven); a
        # service is down when it is forced down, as an operator does.
        CONF.set_override("service_down_time", 10 ** 7)
        # Shelving keeps the server on its host until it is offloaded.
        CONF.set_override("shelved_offload_time", -1)
        # A resize may land on its own host (the same-node shapes).
        CONF.set_override("allow_resize_to_same_host", True)
        # The operator's weigher places servers where the harness asks
        # (harness.world.scheduling); the filters still decide.
        CONF.set_override("weight_classes", [scheduling.WEIGHER],
                          group="filter_scheduler")
        # A stopping service's manager shuts down in a thread of its own;
        # the world waits for it (it takes milliseconds) rather than leave
        # it running into the next operation.
        _override_if_known(CONF, "manager_shutdown_timeout", 10)
        # Quotas are not what is judged here.
        CONF.set_override("driver", "nova.quota.NoopQuotaDriver",
                          group="quota")
        for key, value in self.extra_config.items():
            group, _, name = key.rpartition(".")
            CONF.set_override(name, value, group=group or None)

    def _start(self, binary: str, host: str | None = None):
        """Start one of Nova's services (as ``nova.test.start_service``)."""
        from nova.tests import fixtures as nova_fixtures
        kwargs = nova_releases.service_kwargs(binary)
        if host is not None:
            self.useFixture(nova_fixtures.ConfPatcher(host=host))
        fixture = nova_fixtures.ServiceFixture(binary, host, **kwargs)
        fixture.setUp()
        self.addCleanup(self._stop_fixture, fixture)
        self.bus.pump()
        return fixture

    def _stop_fixture(self, fixture):
        if fixture in self._services:
            self._services.remove(fixture)
        try:
            fixture.cleanUp()
        except Exception:  # noqa: BLE001 - a service already stopped
            LOG.debug("stopping a service", exc_info=True)

    @property
    def engine(self) -> str:
        return self.db

    @property
    def forkable(self) -> bool:
        """Whether a forked copy of the process holds a copy of this world:
        its databases live in this process (sqlite) and no operation is
        stalled in a thread."""
        return self.db == "sqlite" and not self.stalls and not self.blocked

    def _check_thread_guard(self):
        if novaenv.GUARD.violations:
            raise novaenv.ConcurrentDatabaseUse(
                "; ".join(novaenv.GUARD.violations))

    def add_host(self, name: str, inventory: Inventory,
                 nodename: str | None = None) -> Host:
        """Start a compute service on a new host (its hypervisor reports
        ``inventory`` on node ``nodename``, default: the host name); its
        start-up audit runs as Nova runs it."""
        host = Host(self, name, inventory,
                    nodename=nodename or self.nodenames.get(name))
        self.hypervisors.configure(name, host.nodename, inventory)
        self.hosts[name] = host
        self.ledger.add_node(name, vcpus=inventory.vcpus,
                             memory_mb=inventory.memory_mb,
                             local_gb=inventory.local_gb,
                             ratios=self.allocation_ratios)
        self._start_compute(host)
        return host

    def _start_compute(self, host: Host):
        with self.bus.serving(host.name):
            fixture = self._start("compute", host=host.name)
        host._fixture = fixture
        host.service = fixture.service

    def _stop_compute(self, host: Host):
        """The compute service process ends: its RPC servers stop, its
        stalled calls die with it."""
        for label, stall in list(self.stalls.items()):
            if stall.gate.driver is host.driver:
                self._open(label, "kill")
        service, host.service = host.service, None
        if service is not None:
            # As Nova's restart_compute_service: stop, not kill (a kill
            # deletes the service record); the fixture's clean-up comes
            # with the world's.
            try:
                service.stop()
            except Exception:  # noqa: BLE001 - logged; the process ends
                LOG.warning("stopping compute %s", host.name, exc_info=True)

    @property
    def reportclient(self):
        """The conductor/scheduler side report client (Nova's singleton)."""
        from nova.scheduler.client import report
        return report.report_client_singleton()

    # ------------------------------------------------------------------
    # driving: requests, the bus, stalls
    # ------------------------------------------------------------------
    def _as(self, service: str, work: Callable):
        """Run ``work`` as ``service`` does (its clock, see
        :class:`harness.faults.bus.ServiceClock`)."""
        with self.bus.serving(service):
            return work()

    def settle(self) -> int:
        """Deliver every queued message (``Bus.pump``)."""
        if self.stalls:
            return self._in_worker("deliveries", self.bus.pump)
        return self.bus.pump()

    def drive(self, request: Callable, gates: Iterable[Gate] = (),
              label: str = "", learn: bool = True):
        """Make ``request`` (an API call, a periodic, a service start) and
        deliver what it leads to.

        With ``gates``, the work runs in a thread of its own: this returns
        when the work finished or reached one of the gates, whose stall is
        then kept in :attr:`stalls` under ``label`` (open it with
        :meth:`resume`).  Returns what ``request`` returned.  ``learn``:
        the ledger then learns where its moves stand (:meth:`learn_moves`).
        """
        gates = list(gates)

        def work():
            result = request()
            self.bus.pump()
            return result

        try:
            if not gates and not self.stalls:
                return work()
            return self._in_worker(label or "operation", work, gates)
        finally:
            if learn:
                self.learn_moves()

    def note(self, kind: str, **args):
        """Put something that is not an operation in the history of calls
        (a fault set up or cleared, a snapshot taken), unless an
        operation is running."""
        from harness.world.history import Call
        if not getattr(self, "_verb_depth", 0):
            self.calls.append(Call(kind, args, outcome="ok"))

    def after_verb(self, name: str):
        """After every operation (not an audit: what an audit does to
        the records is judged, not learned), the ledger learns where the
        moves it follows now stand."""
        if name != "audit":
            self.learn_moves()
        if self.record_states and self.calls:
            self._record_state(self.calls[-1])

    def _record_state(self, call):
        from nova import objects
        name = call.args.get("name")
        if name not in self.instances:
            return
        try:
            inst = objects.Instance.get_by_uuid(
                self.ctx, self.instances[name].uuid)
        except Exception:  # noqa: BLE001 - deleted
            call.after = {"deleted": True}
            return
        migration = self.latest_migration(name)
        call.after = {"vm_state": inst.vm_state,
                      "task_state": inst.task_state, "host": inst.host,
                      "migration": migration.status if migration else None,
                      "migration_type": migration.migration_type
                      if migration else None}

    def learn_moves(self):
        """The ledger learns where the moves it follows now stand, from
        their migration records: a step it did not ask for (a compute
        starting up resets a live migration it finds running, an error
        handler ends a move) moves a record on."""
        from nova import objects
        from harness.world import moves as moves_mod
        if self.faults_in:
            return
        for name, move in list(self.ledger.moves.items()):
            if not move.migration_uuid:
                continue
            try:
                rec = objects.Migration.get_by_uuid(self.ctx,
                                                    move.migration_uuid)
            except Exception:  # noqa: BLE001 - deleted with its instance
                continue
            if rec.status != move.status:
                stop = moves_mod._stops(self).get(name)
                if stop is not None and (stop.label is None or
                                         stop.label not in self.stalls):
                    if stop.rule is not None:
                        self.bus.remove_rule(stop.rule)
                    del moves_mod._stops(self)[name]
                self.trace.step("world", "migration moved on",
                                instance=name, was=move.status,
                                now=rec.status)
                self.ledger.set_move_status(name, rec.status)

    def _in_worker(self, label, work, gates=()):
        box: dict = {}

        def run():
            try:
                box["result"] = work()
            except ServiceKilled as exc:
                box["killed"] = exc
            except BaseException as exc:  # noqa: BLE001 - handed back
                box["error"] = exc
            finally:
                hypervisor.buried()

        thread = threading.Thread(target=run, name="harness-" + label,
                                  daemon=True)
        thread.start()
        return self._wait(label, thread, box, gates)

    def _wait(self, label, thread, box, gates):
        deadline = time.monotonic() + (
            BLOCKED_AFTER if self.stalls and not gates
            else OPERATION_TIMEOUT)
        while True:
            thread.join(0.002)
            if not thread.is_alive():
                break
            arrived = [g for g in gates if g.arrived.is_set()]
            if arrived:
                self.stalls[label] = Stall(label, arrived[0], thread, box)
                self.trace.step("world", "stalled", at=arrived[0].label,
                                operation=label)
                return None
            if time.monotonic() > deadline:
                if self.stalls:
                    # waits behind a stalled operation (a lock it holds)
                    self.blocked.append((label, thread, box))
                    self.trace.step("world", "blocked behind a stall",
                                    operation=label)
                    raise OperationFailed(
                        "%s is blocked behind the stalled %s"
                        % (label, ", ".join(self.stalls)))
                raise OperationFailed("%s did not finish within %.0f s"
                                      % (label, OPERATION_TIMEOUT))
        for gate in gates:
            gate.remove()
        if "error" in box:
            raise box["error"]
        if "killed" in box:
            raise OperationFailed(str(box["killed"]))
        return box.get("result")

    def resume(self, label: str, outcome: str = "go",
               gates: Iterable[Gate] = (), exc=None):
        """Open the gate ``label``'s operation is stalled at, with
        ``outcome`` (see :class:`~harness.world.hypervisor.Gate`); wait
        until the operation finished or reached one of ``gates`` (a
        stall of the same label again)."""
        stall = self.stalls.pop(label)
        stall.gate.open(outcome, exc=exc)
        result = self._wait(label, stall.thread, stall.box, list(gates))
        self._join_blocked()
        return result

    def _open(self, label, outcome):
        stall = self.stalls.pop(label)
        stall.gate.open(outcome)
        stall.thread.join(OPERATION_TIMEOUT)

    def _join_blocked(self):
        if self.stalls:
            return
        for label, thread, box in list(self.blocked):
            thread.join(OPERATION_TIMEOUT)
            self.blocked.remove((label, thread, box))
        if self.bus.pending:
            self.bus.pump()

    def _end_stalls(self):
        for label in list(self.stalls):
            self._open(label, "kill")
        self._join_blocked()

    def gate(self, host: str, method: str, when: Callable | None = None,
             label: str = "", **how) -> Gate:
        """A stall point in ``host``'s hypervisor method ``method`` (see
        :class:`~harness.world.hypervisor.Gate` for ``how``)."""
        return Gate(self.hosts[host].driver, method, when=when,
                    label="%s.driver.%s" % (host, label or method), **how)

    def hold(self, method: str, instance: str | None = None,
             server: str | None = None) -> Rule:
        """Hold the next message of RPC ``method`` (for the named instance)
        on the bus: the operation stops before that step."""
        uuid = self.instances[instance].uuid if instance else None
        return self.bus.add_rule(Rule(method=method, action="hold",
                                      instance=uuid, server=server))

    def release(self, rule: Rule) -> list:
        """Let the messages ``rule`` held go on, and deliver them."""
        self.bus.remove_rule(rule)
        out = self.bus.release(lambda m: m in rule.matched)
        self.settle()
        return out

    # ------------------------------------------------------------------
    # reads: what the API and the database show
    # ------------------------------------------------------------------
    def server(self, name: str) -> dict:
        """The server as the API shows it."""
        return self.api.get_server(self.instances[name].uuid)

    def instance(self, name: str):
        """The instance as the DB holds it now (a fresh read)."""
        from nova import objects
        return objects.Instance.get_by_uuid(
            self.ctx, self.instances[name].uuid,
            expected_attrs=["flavor", "migration_context", "system_metadata",
                            "numa_topology", "resources"])

    def migration(self, name: str):
        """The migration record of the instance's current move (fresh)."""
        from nova import objects
        return objects.Migration.get_by_id(self.ctx,
                                           self.migrations[name].id)

    def latest_migration(self, name: str):
        """The instance's newest migration record, or None."""
        from nova import objects
        found = objects.MigrationList.get_by_filters(
            self.ctx, {"instance_uuid": self.instances[name].uuid})
        newest = sorted(found, key=lambda m: m.id)
        return newest[-1] if newest else None

    # ------------------------------------------------------------------
    # flavors
    # ------------------------------------------------------------------
    @verb
    def create_flavor(self, name: str, vcpus: int = 1, memory_mb: int = 512,
                      root_gb: int = 10, ephemeral_gb: int = 0,
                      swap: int = 0, extra_specs: dict | None = None):
        """An operator creates a flavor (``POST /flavors``)."""
        from nova import objects
        body = {"flavor": {"name": name, "id": name, "vcpus": vcpus,
                           "ram": memory_mb, "disk": root_gb,
                           "OS-FLV-EXT-DATA:ephemeral": ephemeral_gb,
                           "swap": swap}}
        self.api.post_flavor(body)
        if extra_specs:
            self.api.post_extra_spec(name, {"extra_specs": extra_specs})
        flavor = objects.Flavor.get_by_flavor_id(self.ctx, name)
        self.flavors[name] = flavor
        self.ledger.flavor_created(
            name=name, vcpus=vcpus, memory_mb=memory_mb, root_gb=root_gb,
            ephemeral_gb=ephemeral_gb, swap=swap)
        self.trace.step("world", "create_flavor", flavor=name, vcpus=vcpus,
                        memory_mb=memory_mb, root_gb=root_gb,
                        ephemeral_gb=ephemeral_gb, swap=swap)
        return flavor

    # ------------------------------------------------------------------
    # servers
    # ------------------------------------------------------------------
    def server_body(self, name: str, flavor: str, from_volume=False):
        """The ``POST /servers`` body for a server of ``flavor`` (booted
        from the image, or from a new volume of the image)."""
        server = {"name": name, "flavorRef": flavor, "networks": "none"}
        if from_volume:
            server["imageRef"] = ""
            # a volume of its own (Nova's CinderFixture makes up any
            # volume it is asked for; one volume can be attached once)
            server["block_device_mapping_v2"] = [{
                "boot_index": 0, "uuid": str(uuid.uuid5(
                    uuid.UUID(self.cinder.IMAGE_BACKED_VOL), name)),
                "source_type": "volume", "destination_type": "volume",
                "delete_on_termination": False}]
        else:
            server["imageRef"] = IMAGE_REF
        return {"server": server}

    def create_server(self, name: str, flavor: str, host: str,
                      from_volume: bool = False, gates=(), label="",
                      alternates=()):
        """A user asks for a server; the scheduler prefers ``host``, then
        ``alternates`` in order."""
        body = self.server_body(name, flavor, from_volume)

        made = {}

        def recorded():
            made.update(self.user_api.post_server(body))
            # The instance record exists once the conductor built it; until
            # then the world knows the server by its uuid.
            self.instances[name] = _Server(made["id"])
            if from_volume:
                self.volume_backed.add(made["id"])
            return made

        # The scheduler's choice is made while the bus delivers.
        with scheduling.prefer(host, *alternates):
            self.drive(recorded, gates=gates, label=label or "boot " + name)
        self._reread(name)
        return made

    def _reread(self, name):
        from nova import exception, objects
        try:
            self.instances[name] = objects.Instance.get_by_uuid(
                self.ctx, self.instances[name].uuid)
        except exception.InstanceNotFound:
            pass

    @verb
    def boot(self, name: str, flavor: str, host: str,
             vm_state: str = "active", from_volume: bool = False):
        """Boot a server that lands on ``host``.

        ``from_volume``: boot from a volume (no local root disk).  Raises
        :class:`NoRoom` when the scheduler found no host, and
        :class:`OperationFailed` when the build otherwise did not end
        ``ACTIVE`` on ``host``.
        """
        if host not in self.hosts:
            raise Refused("no host named %r (hosts: %s)"
                          % (host, ", ".join(self.hosts)))
        self.create_server(name, flavor, host, from_volume)
        try:
            server = self.server(name)
        except Refused:
            # Scheduling failed and the conductor buried the server in
            # cell0, which a single-cell world does not have: it is gone.
            raise NoRoom("no room for %s on %s: the scheduler found no "
                         "host" % (name, host)) from None
        landed = server.get("OS-EXT-SRV-ATTR:host")
        inst = self.instance(name)
        self.instances[name] = inst
        # the ledger learns where the server is, wherever that is (a build
        # that failed holds no host)
        self.ledger.boot(name, inst.uuid, flavor,
                         landed if server["status"] == "ACTIVE" else None,
                         volume_backed=from_volume)
        if server["status"] == "ACTIVE" and landed != host:
            raise NoRoom("no room for %s on %s: the scheduler chose %s"
                         % (name, host, landed))
        if server["status"] != "ACTIVE":
            fault = (server.get("fault") or {}).get("message", "")
            if "No valid host" in fault:
                raise NoRoom("no room for %s on %s: %s"
                             % (name, host, fault))
            raise OperationFailed("boot %s on %s ended %s on %s: %s" % (
                name, host, server["status"], landed, fault))
        self.trace.step("world", "boot", instance=name, uuid=inst.uuid,
                        flavor=flavor, host=host, from_volume=from_volume)
        if vm_state and vm_state != "active":
            self.set_power(name, vm_state)
        return inst

    @verb
    def set_power(self, name: str, vm_state: str):
        """Stop (``stopped``) or start (``active``) the server."""
        action = {"stopped": "os-stop", "active": "os-start"}.get(vm_state)
        if action is None:
            raise ValueError("vm_state %r: a server is booted active and "
                             "may be stopped" % vm_state)
        self.drive(lambda: self.user_api.post_server_action(
            self.instances[name].uuid, {action: None}))

    def _fault_message(self, name: str) -> str:
        try:
            fault = self.server(name).get("fault") or {}
        except Exception:  # noqa: BLE001 - a deleted server
            return ""
        return fault.get("message", "")

    def stalls_of(self, name: str) -> list[str]:
        """The labels of the stalled operations of server ``name``."""
        return [label for label in self.stalls
                if label.split(" ", 1)[-1] == name]

    @verb
    def delete(self, name: str):
        """A user deletes the server (``DELETE /servers/{id}``).

        A step of the server's own that the world holds or stalls (a move's
        next message, a spawn) is let go right after the request: Nova's
        delete then runs after it, as the instance lock orders them, and
        the step meets a deleted (or deleting) server as it would.
        """
        from nova import exception, objects
        from harness.world import moves
        uuid = self.instances[name].uuid
        try:
            if self.stalls_of(name) or moves.stopped(self, name):
                self.user_api.delete_server(uuid)
                moves.let_go(self, name)
                for label in self.stalls_of(name):
                    self.resume(label)
                self.settle()
            else:
                self.drive(lambda: self.user_api.delete_server(uuid),
                           label="delete " + name)
        finally:
            deleted = False
            try:
                objects.Instance.get_by_uuid(self.ctx, uuid)
            except exception.InstanceNotFound:
                deleted = True
            if deleted:
                self.failed_builds.pop(name, None)
                if name in self.ledger.instances:
                    self.ledger.delete(name)
                self.trace.step("world", "delete", instance=name)

    # ------------------------------------------------------------------
    # moves (harness.world.moves)
    # ------------------------------------------------------------------
    @verb
    def resize(self, name: str, flavor: str, dest: str,
               until: str = "finished", fail: str | None = None):
        """Resize ``name`` to ``flavor``, the scheduler preferring ``dest``
        (its own host allowed).  ``until``: the migration status to stop
        at: ``pre-migrating``, ``migrating``, ``post-migrating`` or
        ``finished``; ``fail='disk'``: the source hypervisor fails the
        disk copy and rolls back (the migration ends in ``error``)."""
        from harness.world import moves
        return moves.cold_move(self, name, flavor, dest, until=until,
                               fail=fail)

    @verb
    def migrate(self, name: str, dest: str, until: str = "finished",
                fail: str | None = None):
        """Cold-migrate ``name`` to ``dest`` (the operator names it)."""
        from harness.world import moves
        return moves.cold_move(self, name, None, dest, until=until,
                               fail=fail)

    @verb
    def live_migrate(self, name: str, dest: str, until: str = "running"):
        """Live-migrate ``name`` to ``dest``; ``until``: ``preparing``,
        ``running`` or ``completed``."""
        from harness.world import moves
        return moves.live_move(self, name, dest, until=until)

    @verb
    def confirm(self, name: str):
        from harness.world import moves
        return moves.confirm(self, name)

    @verb
    def revert(self, name: str):
        from harness.world import moves
        return moves.revert(self, name)

    @verb
    def wait(self, seconds: float):
        """Time passes (a user's next request comes later): what orders two
        records stamped in whole seconds, as MySQL stores Nova's
        timestamps (see finding F-13)."""
        time.sleep(seconds)
        self.trace.step("world", "time passes", seconds=seconds)
        return seconds

    # ------------------------------------------------------------------
    # the periodic audit
    # ------------------------------------------------------------------
    @verb
    def audit(self, host: str | None = None, via: str = "tracker"):
        """Run the periodic resource audit of ``host`` (or every host).

        Either way the audit is the compute service's periodic task
        (``ComputeManager.update_available_resource``), which audits each
        node the driver reports and logs and swallows what the tracker
        raised.  ``via`` is what the caller reads of it: ``'tracker'``, what
        the tracker raised for the host's node, recovered from the record
        the service logged (``Error updating resources for node``, with the
        exception; the warning for ``ComputeHostNotFound``) and returned in
        the :class:`AuditResult`; ``'service'``, only what escaped the
        periodic task itself (the logged errors are the caller's to read,
        e.g. :func:`harness.oracle.invariants.service_logged_errors`).
        Nothing calls into the tracker directly.  A host whose service is
        down is not audited.
        """
        results = []
        names = [host] if host else list(self.hosts)
        for name in names:
            h = self.hosts[name]
            if not h.running:
                continue
            error = None
            raised = _TrackerErrors(h.nodename)
            try:
                # (the compute's periodic task runs in its own process)
                with raised:
                    self.drive(lambda: self._as(name, lambda: (
                        h.manager.update_available_resource(self.ctx))),
                        label="audit " + name, learn=False)
            except Exception as exc:  # noqa: BLE001 - reported, not hidden
                error = exc
            if error is None and via == "tracker" and raised.errors:
                error = raised.errors[0]
            if error is None and h.nodename in (
                    h.driver.get_available_nodes()):
                self.ledger.audited(name)
            results.append(AuditResult(host=name, via=via, error=error))
            self.trace.step("audit", via, host=name,
                            error=repr(error) if error else None)
        return results

    def snapshot(self, label: str = ""):
        """What Nova shows now (the oracle's snapshot)."""
        self.note("snapshot", label=label)
        return ORACLE["snapshot"](self, label)


def _override_if_known(CONF, name, value, group=None):
    """Set an option this Nova release may not have (then nothing to
    set)."""
    from oslo_config import cfg
    try:
        CONF.set_override(name, value, group=group)
    except cfg.NoSuchOptError:
        pass


def paste_config() -> str:
    """Nova's ``api-paste.ini``: the installed environment's, or the one
    beside a source tree."""
    import nova
    candidates = [os.path.join(sys.prefix, "etc", "nova", "api-paste.ini"),
                  os.path.join(os.path.dirname(os.path.dirname(
                      nova.__file__)), "etc", "nova", "api-paste.ini")]
    for path in candidates:
        if os.path.exists(path):
            return path
    raise novaenv.NovaUnavailable(
        "Nova's etc/nova/api-paste.ini is not installed (looked in %s); "
        "install Nova from its source distribution (pip install "
        "--no-binary nova nova==...), as tox does" % ", ".join(candidates))



class _TrackerErrors(logging.Handler):
    """What the tracker raised for ``node`` inside the compute service's
    periodic audit, read from what the service logged: the exception of
    its ``Error updating resources for node`` record, or, for a node the
    tracker found no record of, ``ComputeHostNotFound`` (which the service
    logs as a warning without the exception).  Installed on Nova's
    compute-manager logger for the length of one audit (``with``)."""

    LOGGER = "nova.compute.manager"
    WHERE = "_update_available_resource_for_node"

    def __init__(self, node: str):
        super().__init__(logging.WARNING)
        self.node = node
        self.errors: list[BaseException] = []

    def __enter__(self):
        logging.getLogger(self.LOGGER).addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger(self.LOGGER).removeHandler(self)
        return False

    def emit(self, record):
        args = record.args
        values = args.values() if isinstance(args, dict) else args or ()
        if record.funcName != self.WHERE or self.node not in values:
            return
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])
        elif record.levelno == logging.WARNING:
            from nova import exception
            self.errors.append(exception.ComputeHostNotFound(host=self.node))

@dataclasses.dataclass
class AuditResult:
    host: str
    via: str
    error: BaseException | None

    @property
    def ok(self) -> bool:
        return self.error is None
