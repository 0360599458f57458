"""The conductor's cold-migration code, driven for real against a world.

:class:`Conductor` is a fixture bound to a :class:`~harness.world.deployment.World`.  It
runs Nova's own ``ComputeTaskManager._cold_migrate`` (which builds and
executes a real :class:`nova.conductor.tasks.migrate.MigrationTask`, with its
``rollback``), and the two allocation helpers
``replace_allocation_with_migration`` and ``revert_allocation_for_migration``
on their own, against the world's Placement and databases.  Only the
boundaries are replaced:

* the scheduler (:class:`FakeScheduler`): ``select_destinations`` returns
  ``Selection`` lists for hosts the *scenario* orders, with allocation
  requests taken from Placement's ``GET /allocation_candidates``, and claims
  the selected host with the real ``scheduler_utils.claim_resources``, as
  ``SchedulerManager._schedule`` does;
* the compute RPC API (:class:`ComputeRPC`): ``prep_resize`` is recorded and
  performed synchronously on the destination host's real ``ComputeManager``
  (``_do_prep_resize``: the real tracker's ``resize_claim``, the real
  ``_revert_allocation`` and ``_reschedule_resize_or_reraise`` on failure);
  the objects cross it as copies, as they would over RPC; the casts the
  destination then makes to the source are recorded, not delivered;
* the compute-task RPC API the destination uses to reschedule, which calls
  back into the same conductor (:class:`ConductorRPC`);
* the network API (:class:`FakeNetworkAPI`): no ports with resource requests;
* the report client's retry back-off: ``time.sleep`` in
  ``nova.scheduler.client.report`` is recorded instead of slept
  (:attr:`Conductor.backoff`), so a retried call costs no wall time.

It also provides what the conductor scenarios need around that: sharing
resource providers (:func:`add_sharing_provider`) and a ledger that knows an
instance's disk comes from one (:class:`ShareAwareLedger`), canary secrets
planted in the configuration (:data:`CANARIES`), and the conductor
operations (:func:`op_replace`, :func:`op_revert`, :func:`op_migrate`).
The faults these scenarios inject are in :mod:`harness.faults.conductor`;
their invariants in :mod:`harness.oracle.conductor_invariants`.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import re
import time
import traceback
import types
from typing import Callable

import fixtures

from harness.oracle import conductor_invariants as ci
from harness.oracle import invariants as inv
from harness.oracle.conductor_checks import (
    conductor_checks, consumer_allocations, migration_status)
from harness.verdicts.judge import Trial
from harness.world import nova_releases, ops

LOG = logging.getLogger(__name__)

# ----------------------------------------------------------------------
# canary secrets
# ----------------------------------------------------------------------
# Values that must never appear in any log record.  Options whose value the
# world's own fixtures need (database connections, the RPC transport) are
# planted after the world is built (``late``): nothing reads them again,
# but every log record from then on is scanned for them.
CANARIES = {
    "placement.password": "cAnArY-placement-pw-7f3a",
    "keystone_authtoken.password": "cAnArY-authtoken-pw-91c2",
    "keystone_authtoken.memcache_secret_key": "cAnArY-memcache-key-5d0e",
    "neutron.password": "cAnArY-neutron-pw-2b7c",
    "service_user.password": "cAnArY-service-user-pw-c4e1",
}
LATE_CANARIES = {
    "transport_url": "rabbit://nova:cAnArY-rabbit-pw-0a9d@rabbit.example:5672/",
    "database.connection":
        "mysql+pymysql://nova:cAnArY-db-pw-3e8f@db.example/nova",
    "api_database.connection":
        "mysql+pymysql://nova:cAnArY-apidb-pw-6b1d@db.example/nova_api",
}
CANARY_TOKEN = "gAAAAAcAnArY-auth-token-8c4fd21e"


def canary_secrets() -> dict[str, str]:
    """option (or 'context.auth_token') -> the secret planted in it."""
    out = {}
    for opt, value in list(CANARIES.items()) + list(LATE_CANARIES.items()):
        m = re.search(r"cAnArY-[a-z0-9-]+", value)
        out[opt] = m.group(0) if m else value
    out["context.auth_token"] = CANARY_TOKEN
    return out


def register_canary_options():
    """Register the options the canaries go in, as their owners would.

    ``[placement]``, ``[neutron]``, ``[service_user]`` and
    ``[keystone_authtoken]`` get keystoneauth's ``password`` plugin options
    (what loading ``auth_type = password`` registers at run time);
    keystonemiddleware registers its own ``[keystone_authtoken]`` options on
    import; ``transport_url`` is oslo.messaging's.  Idempotent.
    """
    from harness.world import novaenv
    novaenv.load()
    from keystoneauth1 import loading as ks_loading
    from nova import conf as nova_conf
    from oslo_config import cfg
    CONF = nova_conf.CONF
    try:
        import keystonemiddleware.auth_token  # noqa: F401  registers opts
    except ImportError:  # pragma: no cover - not installed
        CONF.register_opt(cfg.StrOpt("memcache_secret_key", secret=True),
                          group="keystone_authtoken")
    for group in ("placement", "keystone_authtoken", "neutron",
                  "service_user"):
        for opt in ks_loading.get_auth_plugin_conf_options("password"):
            opt = copy.deepcopy(opt)
            opt.required = False
            try:
                CONF.register_opt(opt, group=group)
            except cfg.DuplicateOptError:
                pass
    import oslo_messaging.transport as om_transport
    CONF.register_opts(om_transport._transport_opts)


def _check_canaries(world):
    """Every canary is in the configuration (else a clean scan would
    prove nothing)."""
    for key, value in list(CANARIES.items()) + list(LATE_CANARIES.items()):
        group, _, name = key.rpartition(".")
        got = getattr(world.CONF[group], name) if group else \
            world.CONF[name]
        if got != value:
            raise RuntimeError("canary %s not planted: %r" % (key, got))


def plant_late_canaries(world):
    for key, value in LATE_CANARIES.items():
        group, _, name = key.rpartition(".")
        world.CONF.set_override(name, value, group=group or None)


# ----------------------------------------------------------------------
# sharing providers
# ----------------------------------------------------------------------
def add_sharing_provider(world, name: str, disk_gb: int,
                         hosts=None) -> str:
    """A sharing resource provider of DISK_GB in an aggregate with ``hosts``.

    Built as an operator would with the placement CLI, through the observer
    channel (never faulted, never counted): the provider, its DISK_GB
    inventory, the ``MISC_SHARES_VIA_AGGREGATE`` trait, and one aggregate
    holding it and every compute node provider of ``hosts`` (default: all).
    Returns the provider's uuid.
    """
    from oslo_utils import uuidutils
    p = world.placement
    rp_uuid = uuidutils.generate_uuid()
    agg = uuidutils.generate_uuid()

    def ok(resp, what):
        if resp.status_code >= 300:
            raise RuntimeError("sharing provider: %s failed: %s %s"
                               % (what, resp.status_code, resp.text))
        return resp.json() if resp.text else {}

    ok(p.write("POST", "/resource_providers",
               {"name": name, "uuid": rp_uuid}), "create")
    gen = p.read("/resource_providers/%s" % rp_uuid)["generation"]
    body = ok(p.write("PUT", "/resource_providers/%s/inventories" % rp_uuid,
                      {"resource_provider_generation": gen,
                       "inventories": {"DISK_GB": {"total": disk_gb}}}),
              "inventory")
    gen = body["resource_provider_generation"]
    body = ok(p.write("PUT", "/resource_providers/%s/traits" % rp_uuid,
                      {"resource_provider_generation": gen,
                       "traits": ["MISC_SHARES_VIA_AGGREGATE"]}), "traits")
    for target in [rp_uuid] + [world.hosts[h].rp_uuid
                               for h in (hosts or world.hosts)]:
        cur = p.read("/resource_providers/%s/aggregates" % target)
        aggs = sorted(set(cur["aggregates"]) | {agg})
        ok(p.write("PUT", "/resource_providers/%s/aggregates" % target,
                   {"resource_provider_generation":
                    cur["resource_provider_generation"],
                    "aggregates": aggs}), "aggregates")
    world.sharing = getattr(world, "sharing", {})
    world.sharing[name] = rp_uuid
    world.trace.step("world", "sharing provider", name=name, uuid=rp_uuid,
                     disk_gb=disk_gb, aggregate=agg,
                     hosts=list(hosts or world.hosts))
    return rp_uuid


def _ledger_class():
    from harness.oracle.ledger import Ledger

    class ShareAwareLedger(Ledger):
        """The ledger, for instances whose disk a sharing provider holds.

        ``shared_disk`` maps instance name -> sharing provider name.  For
        those instances every allocation the ledger expects (instance and
        migration consumers alike) carries its DISK_GB on the sharing
        provider instead of the compute node; the tracker's own usage is
        unchanged (it counts the flavor's disk whatever backs it).
        """

        def __init__(self, reserved):
            super().__init__(reserved)
            self.shared_disk: dict[str, str] = {}

        def expected_allocations(self):
            allocs = super().expected_allocations()
            by_uuid = {}
            for rec in self.live_instances():
                share = self.shared_disk.get(rec.name)
                if not share:
                    continue
                by_uuid[rec.uuid] = share
                move = self.moves.get(rec.name)
                if move and move.migration_uuid:
                    by_uuid[move.migration_uuid] = share
            for consumer, share in by_uuid.items():
                per_node = allocs.get(consumer)
                if not per_node:
                    continue
                new = {}
                for node, res in per_node.items():
                    res = dict(res)
                    disk = res.pop("DISK_GB", 0)
                    if res:
                        new[node] = res
                    if disk:
                        shared = new.setdefault(share, {})
                        shared["DISK_GB"] = shared.get("DISK_GB", 0) + disk
                allocs[consumer] = new
            return allocs

    return ShareAwareLedger


def share_aware_ledger(reserved):
    return _ledger_class()(reserved)


# ----------------------------------------------------------------------
# boundary fakes
# ----------------------------------------------------------------------
class FakeNetworkAPI:
    """The network API as the migration task uses it: no port requests."""

    def get_requested_resource_for_instance(self, context, instance_uuid):
        from nova import objects
        return [], objects.RequestLevelParams()


@dataclasses.dataclass
class SchedulerCall:
    plan: list
    candidates: dict          # host -> number of candidates placement gave
    selected: str | None
    alternates: list
    claims: list              # (host, claimed?)
    error: str | None = None


class FakeScheduler:
    """``SchedulerQueryClient`` with the scenario's host order.

    ``plan`` lists host names in the order the filters and weighers would
    have ranked them.  As ``SchedulerManager._schedule`` does, it asks
    Placement for allocation candidates, claims the first host of the plan
    that has one (``scheduler_utils.claim_resources``), and returns it with up
    to ``CONF.scheduler.max_attempts - 1`` alternates from the rest of the
    plan that had candidates, each with its allocation request.  With
    ``prefer`` set to a provider name, a host's candidate putting
    resources on that provider is taken first (placement's order is
    unspecified).  ``after_select(world, selections)`` runs after the
    selection is made (a scenario can consume an alternate's room there).
    """

    def __init__(self, world, plan=(), prefer: str | None = None,
                 after_select: Callable | None = None):
        self.world = world
        self.plan = list(plan)
        self.prefer = prefer
        self.after_select = after_select
        self.calls: list[SchedulerCall] = []
        # None: as SchedulerManager, max_attempts - 1 alternates; a number
        # overrides it (LongAlternates: what Nova's scheduler never does)
        self.num_alternates: int | None = None

    def _candidate_for(self, alloc_reqs, host):
        rp = self.world.hosts[host].rp_uuid
        mine = [a for a in alloc_reqs or [] if rp in a["allocations"]]
        if self.prefer and mine:
            share = self.world.sharing.get(self.prefer)
            pref = [a for a in mine if share in a["allocations"]]
            if pref:
                return pref[0], len(mine)
        return (mine[0] if mine else None), len(mine)

    def select_destinations(self, context, spec_obj, instance_uuids,
                            return_objects=False, return_alternates=False):
        from nova import exception, objects
        from nova.scheduler import utils as scheduler_utils
        from oslo_serialization import jsonutils
        world = self.world
        rc = world.reportclient
        res_req = scheduler_utils.ResourceRequest.from_request_spec(spec_obj)
        res = rc.get_allocation_candidates(context, res_req)
        if res is None:
            # safe_connect returned None (placement unreachable): as
            # SchedulerManager.select_destinations, no candidates.
            res = None, None, None
        alloc_reqs, _summaries, version = res
        record = SchedulerCall(list(self.plan), {}, None, [], [])
        self.calls.append(record)
        cands = {}
        for host in self.plan:
            cand, n = self._candidate_for(alloc_reqs, host)
            record.candidates[host] = n
            if cand is not None:
                cands[host] = cand
        elevated = context.elevated()
        selected = None
        for host in self.plan:
            if host not in cands:
                continue
            ok = scheduler_utils.claim_resources(
                elevated, rc, spec_obj, instance_uuids[0], cands[host],
                allocation_request_version=version)
            record.claims.append((host, bool(ok)))
            if ok:
                selected = host
                break
        if selected is None:
            record.error = "NoValidHost"
            raise exception.NoValidHost(reason="")
        num_alts = (world.CONF.scheduler.max_attempts - 1
                    if return_alternates else 0)
        if return_alternates and self.num_alternates is not None:
            num_alts = self.num_alternates
        alts = [h for h in self.plan if h in cands and h != selected]
        alts = alts[:num_alts]
        record.selected, record.alternates = selected, list(alts)
        cell_uuid = context.cell_uuid

        def selection(host, alloc_req):
            h = world.hosts[host]
            return objects.Selection(
                service_host=host, nodename=h.nodename,
                compute_node_uuid=h.rp_uuid, cell_uuid=cell_uuid,
                limits=None, availability_zone=None,
                allocation_request=jsonutils.dumps(alloc_req),
                allocation_request_version=version)
        selections = [selection(selected, cands[selected])]
        selections += [selection(h, cands[h]) for h in alts]
        world.trace.step("scheduler", "select_destinations",
                         selected=selected, alternates=alts,
                         candidates=record.candidates)
        if self.after_select is not None:
            self.after_select(world, selections)
        return [selections]


@dataclasses.dataclass
class PrepResize:
    """One prep_resize the conductor cast, and what the destination did."""
    host: str
    node: str
    attempt: int
    alternates: list
    retry: dict | None
    outcome: str = ""          # claimed | failed | rescheduled
    error: str | None = None
    held: dict = dataclasses.field(default_factory=dict)
    traceback: str | None = None


class ComputeRPC:
    """The conductor's ``compute_rpcapi``: prep_resize performed in line.

    The destination host's real ``ComputeManager._do_prep_resize`` runs with
    copies of the objects (as RPC would deliver them).  Anything the
    destination raises stays there, as with a cast; it is recorded.
    """

    def __init__(self, conductor):
        self.conductor = conductor
        self.prep_resizes: list[PrepResize] = []
        self.casts: list[tuple] = []

    def prep_resize(self, ctxt, instance, image, flavor, host, migration,
                    request_spec, filter_properties, node, clean_shutdown,
                    host_list):
        world = self.conductor.world
        if self.conductor.fail_cast is not None:
            # the cast itself fails (e.g. the message bus refuses it): the
            # conductor's task sees the exception
            world.trace.step("compute", "prep_resize cast failed",
                             host=host)
            raise self.conductor.fail_cast
        mgr = self.conductor.compute_manager(host)
        rec = PrepResize(host=host, node=node,
                         attempt=len(self.prep_resizes) + 1,
                         alternates=[s.service_host for s in host_list or []],
                         retry=copy.deepcopy(
                             (filter_properties or {}).get("retry")))
        rec.held = consumer_allocations(world, [instance.uuid])[
            instance.uuid]
        self.prep_resizes.append(rec)
        world.trace.step("compute", "prep_resize", host=host,
                         attempt=rec.attempt, alternates=rec.alternates)
        before = len(self.conductor.reschedules)
        try:
            nova_releases.prep_resize_body(
                mgr, ctxt, image, instance.obj_clone(), flavor.obj_clone(),
                request_spec.obj_clone(),
                copy.deepcopy(filter_properties), node, clean_shutdown,
                migration.obj_clone(), list(host_list or []))
        except Exception as exc:  # noqa: BLE001 - a cast: stays on dest
            rec.outcome = "failed"
            rec.error = "%s: %s" % (type(exc).__name__, exc)
            rec.traceback = traceback.format_exc()
            world.trace.step("compute", "prep_resize failed", host=host,
                             error=rec.error)
        else:
            rec.outcome = ("rescheduled"
                           if len(self.conductor.reschedules) > before
                           else "claimed")

    # casts the destination makes to the source: recorded, not delivered
    def resize_instance(self, *args, **kwargs):
        self.casts.append(("resize_instance", args, kwargs))

    def __getattr__(self, name):
        def record(*args, **kwargs):
            self.casts.append((name, args, kwargs))
        return record


class ConductorRPC:
    """The compute-task API a destination uses to reschedule a resize."""

    def __init__(self, conductor):
        self.conductor = conductor

    def resize_instance(self, context, instance, scheduler_hint, flavor,
                        request_spec=None, host_list=None, **kwargs):
        self.conductor.reschedules.append(
            [s.service_host for s in host_list or []])
        return self.conductor._cold_migrate(
            context, instance.obj_clone(), flavor.obj_clone(),
            copy.deepcopy(scheduler_hint.get("filter_properties") or {}),
            request_spec.obj_clone() if request_spec else None,
            list(host_list or []))


class _Clock(types.SimpleNamespace):
    pass


# ----------------------------------------------------------------------
# the conductor
# ----------------------------------------------------------------------
@dataclasses.dataclass
class MoveResult:
    """What the caller of a conductor operation saw."""
    operation: str
    error: BaseException | None = None
    error_type: str | None = None
    migration_uuid: str | None = None
    migration_status: str | None = None
    returned: object = None

    @property
    def raised(self) -> bool:
        return self.error is not None


class Conductor(fixtures.Fixture):
    """Nova's conductor cold-migration path, on a world, boundaries faked."""

    def __init__(self, world, plan=(), prefer: str | None = None,
                 after_select: Callable | None = None,
                 auth_token: str | None = None):
        super().__init__()
        self.world = world
        self.scheduler = FakeScheduler(world, plan, prefer, after_select)
        self.compute = ComputeRPC(self)
        self.network = FakeNetworkAPI()
        self.reschedules: list[list[str]] = []
        self.backoff: list[float] = []
        self.auth_token = auth_token
        self.results: list[MoveResult] = []
        self.counts: dict = {}       # anything a scenario counts
        self.fail_cast: BaseException | None = None
        # performs the conductor's operations of the one operation model
        # (harness.world.ops) and keeps their history
        self.client = ops.Client(world)
        self._managers: dict = {}
        self._specs: dict = {}

    def _setUp(self):
        from nova import objects
        from nova.conductor import manager as conductor_manager
        real_time = time

        def sleep(seconds):
            self.backoff.append(seconds)
        clock = _Clock(**{k: getattr(real_time, k) for k in dir(real_time)
                          if not k.startswith("__")})
        clock.sleep = sleep
        self.useFixture(fixtures.MonkeyPatch(
            "nova.scheduler.client.report.time", clock))
        # The destination's notifications name the image by its glance URL;
        # the world has no keystone catalogue to find glance in.
        self.world.CONF.set_override(
            "api_servers", ["http://glance.harness.invalid:9292"],
            group="glance")
        self.manager = conductor_manager.ComputeTaskManager()
        self.manager.compute_rpcapi = self.compute
        self.manager.query_client = self.scheduler
        # report_client is the process-wide singleton: world.reportclient
        self.manager.network_api = self.network
        # The conductor's context: targeted at the instance's cell, as
        # @targets_cell does, carrying the caller's token.
        cell = objects.CellMappingList.get_all(self.world.ctx)
        cell = [c for c in cell if c.uuid != objects.CellMapping.CELL0_UUID]
        ctx = copy.copy(self.world.ctx)
        ctx.cell_uuid = cell[0].uuid if cell else None
        if self.auth_token:
            ctx.auth_token = self.auth_token
        self.ctx = ctx
        self.world.conductor = self
        self.addCleanup(setattr, self.world, "conductor", None)

    # -- pieces ------------------------------------------------------------
    def compute_manager(self, host):
        """The destination's real ComputeManager, its RPC clients recorded."""
        mgr = self._managers.get(host)
        if mgr is None:
            mgr = self.world.hosts[host].manager
            mgr.compute_rpcapi = self.compute
            mgr.compute_task_api = ConductorRPC(self)
            self._managers[host] = mgr
        return mgr

    def request_spec(self, name):
        """The instance's RequestSpec, in the API DB as the API keeps it."""
        from nova import objects
        spec = self._specs.get(name)
        if spec is None:
            inst = self.world.instance(name)
            spec = objects.RequestSpec.from_components(
                self.world.ctx, inst.uuid, objects.ImageMeta.from_dict({}),
                inst.flavor, inst.numa_topology, inst.pci_requests, {}, None,
                inst.availability_zone, project_id=inst.project_id,
                user_id=inst.user_id)
            spec.is_bfv = False
            spec.create()
            self._specs[name] = spec
        return objects.RequestSpec.get_by_instance_uuid(
            self.world.ctx, self.world.instances[name].uuid)

    def _cold_migrate(self, context, instance, flavor, filter_properties,
                      request_spec, host_list):
        return self.manager._cold_migrate(
            context, instance, flavor, filter_properties, True,
            request_spec, host_list)

    # -- operations --------------------------------------------------------
    def migrate(self, name, flavor: str | None = None,
                plan=None) -> MoveResult:
        """Cold-migrate (or resize to ``flavor``) ``name`` through the real
        ``ComputeTaskManager._cold_migrate``: a MigrationTask, executed and,
        on failure, rolled back.  The API's part is done first (task_state
        ``resize_prep``, the RequestSpec)."""
        from nova import objects
        from nova.compute import task_states
        world = self.world
        if plan is not None:
            self.scheduler.plan = list(plan)
        spec = self.request_spec(name)
        inst = world.instance(name)
        new_flavor = world.flavors[flavor] if flavor else inst.flavor
        inst.task_state = task_states.RESIZE_PREP
        inst.save()
        result = MoveResult("cold_migrate")
        world.trace.step("conductor", "cold_migrate", instance=name,
                         flavor=new_flavor.name, plan=self.scheduler.plan)
        try:
            self._cold_migrate(self.ctx, inst, new_flavor, {}, spec, None)
        except Exception as exc:  # noqa: BLE001 - what the caller sees
            result.error = exc
            result.error_type = type(exc).__name__
        migs = objects.MigrationList.get_by_filters(
            world.ctx, {"instance_uuid": inst.uuid}).objects
        if migs:
            mig = sorted(migs, key=lambda m: m.id)[-1]
            result.migration_uuid = mig.uuid
            result.migration_status = mig.status
            world.migrations[name] = mig
        self.results.append(result)
        world.trace.step("conductor", "cold_migrate returned",
                         error=result.error_type,
                         migration_status=result.migration_status)
        return result

    def new_migration(self, name, status="pre-migrating"):
        """A migration record as ``MigrationTask._preallocate_migration``
        creates it."""
        from nova import objects
        inst = self.world.instance(name)
        mig = objects.Migration(context=self.world.ctx.elevated())
        mig.old_instance_type_id = inst.flavor.id
        mig.new_instance_type_id = inst.flavor.id
        mig.status = status
        mig.instance_uuid = inst.uuid
        mig.source_compute = inst.host
        mig.source_node = inst.node
        mig.migration_type = "migration"
        mig.create()
        self.world.migrations[name] = mig
        return mig

    def replace(self, name, migration=None) -> MoveResult:
        """``replace_allocation_with_migration`` on its own."""
        from nova.conductor.tasks import migrate as conductor_migrate
        mig = migration or self.new_migration(name)
        inst = self.world.instance(name)
        result = MoveResult("replace_allocation_with_migration",
                            migration_uuid=mig.uuid,
                            migration_status=mig.status)
        try:
            result.returned = conductor_migrate.\
                replace_allocation_with_migration(self.ctx, inst, mig)
        except Exception as exc:  # noqa: BLE001 - what the caller sees
            result.error, result.error_type = exc, type(exc).__name__
        self.results.append(result)
        return result

    def revert(self, name, migration=None, source_cn=None) -> MoveResult:
        """``revert_allocation_for_migration`` on its own."""
        from nova import objects
        from nova.conductor.tasks import migrate as conductor_migrate
        mig = migration or self.world.migration(name)
        inst = self.world.instance(name)
        cn = source_cn or objects.ComputeNode.get_by_host_and_nodename(
            self.world.ctx, mig.source_compute, mig.source_node)
        result = MoveResult("revert_allocation_for_migration",
                            migration_uuid=mig.uuid,
                            migration_status=mig.status)
        try:
            result.returned = conductor_migrate.\
                revert_allocation_for_migration(self.ctx, cn, inst, mig)
        except Exception as exc:  # noqa: BLE001 - what the caller sees
            result.error, result.error_type = exc, type(exc).__name__
        self.results.append(result)
        return result


# ----------------------------------------------------------------------
# log capture for the secret scan
# ----------------------------------------------------------------------
class _ScanHandler(logging.Handler):
    """Keeps every record, and the text it would put in a log file."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.lines: list[tuple] = []    # (levelno, levelname, logger, text)
        self._formatter = None

    def _oslo_text(self, record):
        try:
            if self._formatter is None:
                from nova import conf as nova_conf
                from oslo_log import formatters
                self._formatter = formatters.ContextFormatter(
                    config=nova_conf.CONF)
            return self._formatter.format(record)
        except Exception:  # noqa: BLE001 - options not registered yet
            return ""

    def emit(self, record):
        from harness.oracle.logs import render
        self.records.append(record)
        text = render(record)
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(
                *record.exc_info))
        oslo = self._oslo_text(record)
        if oslo:
            text += "\n" + oslo
        self.lines.append((record.levelno, record.levelname, record.name,
                           text))


def scan_capture():
    """A :class:`harness.oracle.logs.LogCapture` whose handler also keeps each
    record's text as oslo.log's ContextFormatter would write it (with the
    exception, if any)."""
    from harness.oracle.logs import LogCapture
    cap = LogCapture(level=logging.DEBUG)
    cap.handler = _ScanHandler()
    return cap


# ----------------------------------------------------------------------
# the conductor's operations (of harness.world.ops), as trials judge them,
# and the conductor trial (a Trial of the one runner, harness.verdicts.judge)
# ----------------------------------------------------------------------
@dataclasses.dataclass
class JudgedOp:
    """One conductor operation as the trial runner judges it: what the
    operation of :mod:`harness.world.ops` returned, and what it may leave.

    ``states``: label -> {consumer: allocations} the operation may leave
    (the state before it and the state(s) it intends); ``success``: the
    labels meaning it did what was asked; ``reported``: whether the caller
    learnt of a failure; ``migrations``: uuid -> (label, status) of the
    migrations involved, read after the operation.
    """
    result: MoveResult
    names: dict
    states: dict
    success: tuple
    instances: dict
    covering: dict = dataclasses.field(default_factory=dict)
    migrations: dict = dataclasses.field(default_factory=dict)
    ledger_checks: bool = False
    # an operation whose work is cast (the migration task): setting the
    # migration to error is how a failure is reported
    status_reports: bool = False

    @property
    def reported(self) -> bool:
        return self.result.raised or (self.status_reports and any(
            st in ("error", "failed") for _l, st in self.migrations.values()))

    @property
    def caller_saw(self) -> str:
        bits = []
        if self.result.raised:
            bits.append("raised %s" % self.result.error_type)
        else:
            bits.append("returned")
        for uuid, (label, status) in self.migrations.items():
            bits.append("%s status %s" % (label, status))
        return ", ".join(bits)


def _resources(world, flavor_name) -> dict:
    return world.ledger.flavors[flavor_name].placement_resources()


def perform(conductor, f: str, **args):
    """Operation ``f`` of the one operation model (:mod:`harness.world.ops`)
    through ``conductor``'s client, recorded in its history: what it
    returned (for the conductor's operations, the MoveResult the caller
    saw), or what it raised, raised again."""
    done = conductor.client.perform(ops.Op(f, args))
    if done.type == "info":
        raise conductor.client.raised
    if done.type == "fail":
        raise RuntimeError("%s refused: %s" % (done.call(), done.value))
    return done.value


def op_replace(world, conductor, name) -> JudgedOp:
    """``replace_allocation_with_migration`` for ``name`` (a new migration
    record first, as ``_preallocate_migration`` makes it)."""
    inst = world.instances[name]
    perform(conductor, "preallocate_migration", name=name)
    mig = world.migrations[name]
    before = consumer_allocations(world, [inst.uuid, mig.uuid])
    result = perform(conductor, "conductor_replace", name=name)
    after = {inst.uuid: {}, mig.uuid: before[inst.uuid]}
    names = {inst.uuid: "instance %s" % name,
             mig.uuid: "migration of %s" % name}
    return JudgedOp(result, names, {"before": before, "after": after},
                    ("after",), instances={inst.uuid: name},
                    covering={inst.uuid: mig.uuid},
                    migrations={mig.uuid: (names[mig.uuid],
                                           migration_status(world,
                                                            mig.uuid))})


def op_revert(world, conductor, name) -> JudgedOp:
    """``revert_allocation_for_migration`` for ``name``'s migration (its
    allocation moved to the migration consumer by the set-up), then the
    migration set to error, as ``MigrationTask.rollback`` does."""
    inst = world.instances[name]
    mig = world.migration(name)
    before = consumer_allocations(world, [inst.uuid, mig.uuid])
    mig.status = "error"
    mig.save()
    result = perform(conductor, "conductor_revert", name=name)
    after = {inst.uuid: before[mig.uuid], mig.uuid: {}}
    names = {inst.uuid: "instance %s" % name,
             mig.uuid: "migration of %s" % name}
    status = migration_status(world, mig.uuid)
    return JudgedOp(result, names, {"before": before, "after": after},
                    ("after",), instances={inst.uuid: name},
                    migrations={mig.uuid: (names[mig.uuid], status)})


def op_migrate(world, conductor, name, flavor=None, plan=None) -> JudgedOp:
    """A cold migration (or resize to ``flavor``) through the real
    conductor.  The ledger is told what the participants reported: a move
    to the host whose prep_resize claimed, or nothing."""
    inst = world.instances[name]
    rec = world.ledger.instances[name]
    source = rec.host
    new_flavor = flavor or rec.flavor
    plan = list(plan if plan is not None else conductor.scheduler.plan)
    before_inst = consumer_allocations(world, [inst.uuid])[inst.uuid]
    result = perform(conductor, "conductor_migrate", name=name,
                     flavor=flavor, plan=plan)
    mig_uuid = result.migration_uuid
    names = {inst.uuid: "instance %s" % name}
    consumers = [inst.uuid]
    if mig_uuid:
        names[mig_uuid] = "migration of %s" % name
        consumers.append(mig_uuid)
    before = {inst.uuid: before_inst}
    states = {"before": dict(before, **({mig_uuid: {}} if mig_uuid else {}))}
    new_res = _resources(world, new_flavor)
    shared = getattr(world.ledger, "shared_disk", {}).get(name)
    for host in plan:
        dest = {host: dict(new_res)}
        if shared and "DISK_GB" in new_res:
            dest[host].pop("DISK_GB")
            dest[shared] = {"DISK_GB": new_res["DISK_GB"]}
        if mig_uuid:
            states["after on %s" % host] = {inst.uuid: dest,
                                            mig_uuid: before_inst}
    status = migration_status(world, mig_uuid)
    claimed = [p for p in conductor.compute.prep_resizes
               if p.outcome == "claimed"]
    if claimed and status == "pre-migrating" and not result.raised:
        host = claimed[-1].host
        kind = "resize" if new_flavor != rec.flavor else "migration"
        world.ledger.start_move(name, kind, source, host, new_flavor,
                                mig_uuid, "pre-migrating")
    migrations = ({mig_uuid: (names[mig_uuid], status)} if mig_uuid
                  else {})
    covering = {inst.uuid: mig_uuid} if mig_uuid and \
        status not in ("error", "failed") else {}
    return JudgedOp(result, names, states,
                    tuple(k for k in states if k.startswith("after")),
                    instances={inst.uuid: name}, covering=covering,
                    migrations=migrations, ledger_checks=True,
                    status_reports=True)


@dataclasses.dataclass
class ConductorTrial(Trial):
    """One world, one conductor operation, at most one fault: a
    :class:`~harness.verdicts.judge.Trial` whose workload hooks run the
    conductor, driven by the one runner
    (:func:`harness.verdicts.judge.run_trial`, :meth:`Judge.trial`).

    ``setup(world, conductor)`` builds the population; ``operation(world,
    conductor)`` runs the operation under the fault and returns an
    :class:`JudgedOp`; ``then(world, conductor, op)`` (optional) continues the
    workload once the fault is cleared and returns the violations of the
    ``during`` stage; ``extra(world, conductor, op, stage)``
    (optional) returns more violations at a stage.  ``world_kwargs`` go to
    the :class:`~harness.world.deployment.World` (the canary secrets are
    added to its ``config``); ``ledger`` builds the world's ledger;
    ``ledger_before``: check the accounting invariants before the fault.
    ``whatif()`` (a counterfactual trial) is applied for the whole trial,
    from before the population is built.

    Conductor trials run on fresh worlds only: the Conductor fixture, the
    canaries and the log scan are set up per world, and no snapshot/fork
    path (harness.verdicts.snapshots) is built for them.
    """
    operation: Callable | None = None
    plan: tuple = ()
    prefer: str | None = None
    after_select: Callable | None = None
    then: Callable | None = None
    extra: Callable | None = None
    ledger: Callable | None = None
    audit_via: tuple = ("tracker",)
    ledger_before: bool = True

    fresh_world_only = ("a conductor trial (the Conductor fixture, canary "
                        "secrets and the log scan are per world)")
    # the mechanisms count while the fault is in place, not in the audits
    # after it is cleared
    paths_after_clear = False

    def log_capture(self):
        register_canary_options()
        return scan_capture()

    def build_world(self, trace):
        from harness.world.deployment import World
        kw = dict(self.world_kwargs)
        config = dict(CANARIES)
        config.update(kw.pop("config", {}) or {})
        world = World(trace=trace, config=config, **kw)
        if self.ledger is not None:
            world.ledger = self.ledger(world.reserved)
        return world

    def populate(self, run, world):
        plant_late_canaries(world)
        _check_canaries(world)
        conductor = world.useFixture(Conductor(
            world, self.plan, self.prefer, self.after_select,
            auth_token=CANARY_TOKEN))
        run.details["max_attempts"] = world.CONF.scheduler.max_attempts
        run.details["identifiers"] = {
            "host": sorted(world.hosts),
            "node": sorted(h.nodename for h in world.hosts.values())}
        self.setup(world, conductor)

    def check_before(self, run, world):
        if not self.ledger_before:
            return []
        return inv.check_all(world.snapshot("before"), world.ledger)

    def under_fault(self, run, world, fault):
        conductor = world.conductor
        op = run.op = self.operation(world, conductor)
        details = run.details
        details["identifiers"].update({
            "instance uuid": sorted(u for u, n in op.names.items()
                                    if n.startswith("instance")),
            "migration uuid": sorted(u for u, n in op.names.items()
                                     if n.startswith("migration")),
            "provider uuid": sorted(h.rp_uuid for h in
                                    world.hosts.values())})
        if getattr(fault, "harness_error", None):
            raise RuntimeError("the fault itself failed: %s"
                               % fault.harness_error)
        window = world.placement.calls[run.mark:]
        run.words = list(op.names)
        details["calls"] = [(c.n, c.method, c.path, c.status, c.fault)
                            for c in window]
        details["fired"] = [
            "call #%d %s %s (call %d of the operation) -> %s: %s"
            % (c.n, c.method, c.path, i + 1,
               c.status if c.status is not None else "no answer", c.fault)
            for i, c in enumerate(window) if c.fault]
        if run.fault_desc:
            run.fault_desc += "; placement faults fired on: " + (
                "; ".join(details["fired"]) or "no call")
        actual = consumer_allocations(world, list(op.names))
        details["achieved"] = ci.classify(actual, op.states)
        details["result"] = dict(
            operation=op.result.operation,
            error_type=op.result.error_type,
            error=str(op.result.error)[:300] if op.result.error else None,
            caller_saw=op.caller_saw)
        found = conductor_checks(world, op, "under_fault")
        if self.extra is not None:
            found += self.extra(world, conductor, op, "under_fault")
        if op.result.raised or details["achieved"] not in op.success:
            for v in found:
                v.detail = "%s [caller: %s]" % (v.detail, op.caller_saw)
        run.violations["under_fault"] = found

    def after_fault(self, run, world):
        if self.then is not None:
            run.violations["during"] = list(
                self.then(world, world.conductor, run.op) or [])

    def check_after(self, run, world):
        op = run.op
        mark = run.capture.mark()
        audits = []
        for how in self.audit_via:
            audits.extend(world.audit(via=how))
        snap = world.snapshot("after clear")
        out = conductor_checks(world, op, "after_clear",
                               states=self.then is None)
        if op.ledger_checks:
            out += inv.check_all(snap, world.ledger)
        out += inv.audit_completed(audits, snap)
        out += inv.service_logged_errors(
            run.capture.since(mark) if "service" in self.audit_via else [])
        if self.extra is not None:
            out += self.extra(world, world.conductor, op, "after_clear")
        return out

    def end(self, run, world):
        conductor = world.conductor
        attempts = [dataclasses.asdict(p)
                    for p in conductor.compute.prep_resizes]
        for p in attempts:
            p.pop("traceback", None)
        run.details.update(
            attempts=attempts, reschedules=list(conductor.reschedules),
            scheduler=[dataclasses.asdict(s)
                       for s in conductor.scheduler.calls],
            backoff=round(sum(conductor.backoff), 3),
            counts=dict(conductor.counts))

    def observed(self, run):
        return {"lines": run.capture.handler.lines}


def finish_move(world, name):
    """Take a cold move claimed on its destination (``pre-migrating``) to
    ``finished``, as the source (``resize_instance``) and the destination
    (``finish_resize``) do: the record changes of ``moves.cold_move``
    after its claim."""
    from nova.compute import task_states
    inst = world.instance(name)
    migration = world.migration(name)
    host = world.hosts[migration.dest_compute]
    migration.status = "migrating"
    migration.save()
    inst.task_state = task_states.RESIZE_MIGRATING
    inst.save()
    world.ledger.set_move_status(name, "migrating")
    migration.status = "post-migrating"
    migration.save()
    # resize_instance on the source: the old flavor is stashed so the source
    # tracker keeps counting it (bug 1944759)
    inst.old_flavor = inst.flavor
    inst.task_state = task_states.RESIZE_MIGRATED
    inst.save()
    world.ledger.set_move_status(name, "post-migrating")
    from harness.world import moves
    inst = world.instance(name)
    return moves.finish_resize(world, name, migration, host,
                               inst.new_flavor or inst.flavor)
