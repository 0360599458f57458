"""The conductor's cold-migration path, through Nova's real services.

Claims 002-1..002-4 and findings F-05..F-07 are about what Nova's conductor
does when it moves a server cold: ``MigrationTask`` swaps the instance's
source allocation to a migration consumer
(``replace_allocation_with_migration``), asks the scheduler for a
destination and alternates, casts ``prep_resize`` to the destination, and
when it fails rolls back (``revert_allocation_for_migration``); a
destination that fails asks the conductor to reschedule on the next
alternate (``MigrationTask._reschedule``).

Here that path runs because a user or an operator asked for it:
:func:`request_move` makes the request to the REST API (``resize`` to a
new flavor, or ``migrate`` with no host, so that the scheduler chooses and
hands out alternates) while :func:`harness.world.scheduling.prefer` steers
the real scheduler's weigher, and the world's bus delivers what follows.
Nothing here calls the conductor, the scheduler or a tracker.  The move is
stopped where the destination, having claimed, casts ``resize_instance`` to
the source: that message is held on the bus, and the move can go on later
(:func:`harness.world.moves.advance`).  What came of the request is read
from the API, the database and the bus (:class:`MoveResult`), and the
world's ledger learns from that outcome: a move stands at the destination
whose claim the migration record names, or nothing moved.

:class:`MoveWatch` observes the bus for a trial (it changes nothing): each
``prep_resize`` the conductor cast (an :class:`Attempt`: the destination,
the alternates it carried, the retry counter it was given, what the
instance held in placement when the destination began, how it ended), each
reschedule a destination asked for, and each scheduler call with what it
raised.

Also here, for the conductor scenarios: canary secrets planted in the
configuration and in the token every API request carries (claim 002-1);
sharing resource providers set up in placement as an operator would
(claim 002-4); a compute service disabled as an operator would; and the
report client's retry back-off on a virtual clock (:class:`BackoffClock`).
"""
from __future__ import annotations

import copy
import dataclasses
import re
import types

import fixtures

from harness.world import moves, scheduling
from harness.world.errors import Refused

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
# The token every API request of a world with canaries carries (as
# keystonemiddleware hands it to Nova's context): it travels in the request
# context to the conductor, the scheduler and the computes.
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


def check_canaries(world):
    """Every canary is in the configuration (else a clean scan would prove
    nothing)."""
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


def plant_token(world, token: str = CANARY_TOKEN):
    """Every API request of ``world`` from now on carries ``token``, as
    keystonemiddleware passes a validated token to Nova's context
    middleware (Nova's API fixture stubs that middleware out and builds
    contexts without one)."""
    from nova.api import auth
    current = auth.NovaKeystoneContext._create_context

    def create(env, **kwargs):
        ctx = current(env, **kwargs)
        ctx.auth_token = token
        return ctx
    world.useFixture(fixtures.MonkeyPatch(
        "nova.api.auth.NovaKeystoneContext._create_context", create))


# ----------------------------------------------------------------------
# what an operator sets up
# ----------------------------------------------------------------------
def add_sharing_provider(world, name: str, disk_gb: int,
                         hosts=None) -> str:
    """A sharing resource provider of DISK_GB in an aggregate with ``hosts``.

    Built as an operator would with the placement CLI (placement API
    writes, through the observer channel: never faulted, never counted):
    the provider, its DISK_GB inventory, the ``MISC_SHARES_VIA_AGGREGATE``
    trait, and one aggregate holding it and every compute node provider of
    ``hosts`` (default: all).  Returns the provider's uuid.
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


def disable_compute(world, host: str, reason: str = "maintenance"):
    """The operator disables ``host``'s compute service
    (``PUT /os-services/{id}``): the scheduler no longer picks it."""
    svc = world.api.get_services(binary="nova-compute", host=host)[0]
    world.drive(lambda: world.api.put_service(
        svc["id"], {"status": "disabled", "disabled_reason": reason}),
        learn=False)
    world.trace.step("world", "compute disabled", host=host)


class BackoffClock(fixtures.Fixture):
    """The report client's retry back-off on a virtual clock.

    ``nova.scheduler.client.report.retries`` sleeps up to 0, 2, 4 and 6 s
    between its tries of a call that conflicted; here each sleep is
    recorded (:attr:`slept`, seconds) instead of waited, so a trial of
    persistent conflicts costs no wall time.  Only that module's clock
    changes; what the client does is the same."""

    def __init__(self):
        super().__init__()
        self.slept: list[float] = []

    def _setUp(self):
        import time as real_time
        clock = types.SimpleNamespace(**{
            k: getattr(real_time, k) for k in dir(real_time)
            if not k.startswith("__")})
        clock.sleep = self.slept.append
        self.useFixture(fixtures.MonkeyPatch(
            "nova.scheduler.client.report.time", clock))


# ----------------------------------------------------------------------
# reading what Nova shows
# ----------------------------------------------------------------------
def allocations(world, consumers) -> dict:
    """{consumer: {provider name: resources}} for each consumer, read from
    placement as an observer; a consumer with nothing allocated maps to
    {}."""
    rps = world.placement.read("/resource_providers")["resource_providers"]
    names = {rp["uuid"]: rp["name"] for rp in rps}
    out = {}
    for c in consumers:
        body = world.placement.read("/allocations/%s" % c)
        out[c] = {names.get(rp, rp): dict(a["resources"])
                  for rp, a in body["allocations"].items()}
    return out


def action_events(world, name, request_id) -> list[tuple]:
    """(event, result, details) of the instance action ``request_id`` of
    server ``name``, as the API shows them to an operator (the details,
    the exception's message, are an admin's view)."""
    uuid = world.instances[name].uuid
    try:
        action = world.api.get_instance_action_details(uuid, request_id)
    except Exception:  # noqa: BLE001 - a deleted server: nothing to show
        return []
    return [(e.get("event"), e.get("result"), e.get("details"))
            for e in action.get("events") or []]


def _hosts_of(selections) -> list[str]:
    out = []
    for s in selections or []:
        data = s.get("nova_object.data", s) if isinstance(s, dict) else {}
        out.append(data.get("service_host"))
    return out


@dataclasses.dataclass
class Attempt:
    """One ``prep_resize`` the conductor cast, as the bus carried it."""
    seq: int
    instance: str | None
    host: str
    node: str | None
    attempt: int
    alternates: list
    retry: dict | None
    # the instance's allocations ({provider name: resources}) when the
    # destination began
    held: dict = dataclasses.field(default_factory=dict)
    delivered: bool = False
    outcome: str = ""           # claimed | rescheduled | failed | not delivered
    error: str | None = None


@dataclasses.dataclass
class SchedulerCall:
    """One ``select_destinations`` call and what came of it."""
    seq: int
    selected: str | None
    alternates: list
    error: str | None = None


class MoveWatch(fixtures.Fixture):
    """Observes a world's bus for the conductor's moves (changes nothing).

    :meth:`attempts`, :meth:`reschedules` and :meth:`scheduler_calls`
    are read from the bus's log, its record of what servers raised, and
    what the watcher saw as each ``prep_resize`` was delivered."""

    def __init__(self, world):
        super().__init__()
        self.world = world
        self._held: dict[int, dict] = {}
        self.since = 0

    def begin(self):
        """Observe from now on: what was sent before (the population's
        boots) is not the operation's."""
        self.since = max((m.seq for _w, m in self.world.bus.log),
                         default=0) + 1

    def _setUp(self):
        self.addCleanup(self.world.bus.watch(self._seen))

    def _seen(self, event, msg):
        if event == "delivered" and msg.method == "prep_resize" and \
                msg.instance_uuid:
            uuid = msg.instance_uuid
            self._held[msg.seq] = allocations(self.world, [uuid])[uuid]

    def _sent(self, method, uuid=None):
        return [m for m in self.world.bus.sent(method)
                if m.seq >= self.since
                and (uuid is None or m.instance_uuid == uuid)]

    def _failure(self, msg):
        for m, f in self.world.bus.failures:
            if m is msg:
                return "%s: %s" % (f["class"], (f["message"] or "")[:200])
        return None

    def attempts(self, uuid=None) -> list[Attempt]:
        """Every prep_resize cast for the instance ``uuid`` (or any), in
        the order sent."""
        delivered = {m.seq for what, m in self.world.bus.log
                     if what == "delivered"}
        out = []
        for i, msg in enumerate(self._sent("prep_resize", uuid), 1):
            args = msg.args
            props = args.get("filter_properties") or {}
            a = Attempt(seq=msg.seq, instance=msg.instance_uuid,
                        host=msg.server, node=args.get("node"), attempt=i,
                        alternates=_hosts_of(args.get("host_list")),
                        retry=copy.deepcopy(props.get("retry")),
                        held=self._held.get(msg.seq, {}),
                        delivered=msg.seq in delivered)
            rescheduled = any(m.parent is msg
                              for m in self._sent("migrate_server"))
            a.error = self._failure(msg)
            if not a.delivered:
                a.outcome = "not delivered"
            elif a.error:
                a.outcome = "failed"
            elif rescheduled:
                a.outcome = "rescheduled"
            else:
                a.outcome = "claimed"
            out.append(a)
        return out

    def reschedules(self, uuid=None) -> list[list[str]]:
        """The alternates each reschedule a destination asked for carried."""
        return [_hosts_of(m.args.get("host_list"))
                for m in self._sent("migrate_server", uuid)
                if m.parent is not None and m.parent.method == "prep_resize"]

    def scheduler_calls(self) -> list[SchedulerCall]:
        """Each select_destinations call: the host chosen and the
        alternates (from the prep_resize cast next from the same delivery),
        or what the scheduler raised."""
        out = []
        for msg in self._sent("select_destinations"):
            nxt = next((m for m in self._sent("prep_resize")
                        if m.seq > msg.seq and m.parent is msg.parent), None)
            err = self._failure(msg)
            out.append(SchedulerCall(
                seq=msg.seq, selected=None if err or nxt is None
                else nxt.server,
                alternates=[] if err or nxt is None
                else _hosts_of(nxt.args.get("host_list")),
                error=err.split(":")[0] if err else None))
        return out


# ----------------------------------------------------------------------
# the request
# ----------------------------------------------------------------------
@dataclasses.dataclass
class MoveResult:
    """What came of a move a user or operator asked for.

    ``refused``: the API's 4xx answer (nothing happened);
    ``error_type``/``error``: what the conductor raised handling the
    request (the exception that ends the MigrationTask becomes the instance
    fault and the action's error); ``cause``: what the scheduler raised,
    if it did; ``failures``: (method, server, exception class) of every
    delivery of the request whose server raised; ``events``: the
    request's instance-action events (event, result, details)."""
    operation: str
    refused: str | None = None
    error_type: str | None = None
    error: str | None = None
    cause: str | None = None
    migration_uuid: str | None = None
    migration_status: str | None = None
    dest: str | None = None
    request_id: str | None = None
    failures: list = dataclasses.field(default_factory=list)
    events: list = dataclasses.field(default_factory=list)

    @property
    def raised(self) -> bool:
        return self.refused is not None or self.error_type is not None


def request_move(world, name, flavor=None, prefer=(), stop=True
                 ) -> MoveResult:
    """Ask the API to move ``name``: a resize to ``flavor`` (a user's
    request), or, without one, a cold migration with no host named (an
    operator's); the scheduler prefers the hosts of ``prefer`` in order.

    With ``stop``, the destination's ``resize_instance`` cast to the source
    is held on the bus: a move that was claimed stands at
    ``pre-migrating`` (go on with :func:`harness.world.moves.advance`).
    The ledger learns where the move stands (the destination the migration
    record names), or that nothing moved.
    """
    inst = world.instance(name)
    source, uuid = inst.host, inst.uuid
    resize = flavor is not None and flavor != inst.flavor.flavorid
    if resize:
        body, api, op = {"resize": {"flavorRef": flavor}}, \
            world.user_api, "resize"
    else:
        body, api, op = {"migrate": None}, world.api, "cold_migrate"
    result = MoveResult(op)
    before = world.latest_migration(name)
    actions = {a["request_id"] for a in world.api.get_instance_actions(uuid)}
    failures_from = len(world.bus.failures)
    rule = world.hold("resize_instance", instance=name) if stop else None
    world.trace.step("world", "request " + op, instance=name,
                     flavor=flavor, prefer=list(prefer))
    try:
        with scheduling.prefer(*prefer):
            world.drive(lambda: api.post_server_action(uuid, body),
                        label="move " + name)
    except Refused as exc:
        result.refused = str(exc)
    for msg, f in world.bus.failures[failures_from:]:
        result.failures.append((msg.method, msg.server, f["class"]))
        if msg.method == "migrate_server" and msg.parent is None and \
                result.error_type is None:
            result.error_type, result.error = f["class"], f["message"]
        if msg.method == "select_destinations" and result.cause is None:
            result.cause = f["class"]
    new = [a["request_id"] for a in world.api.get_instance_actions(uuid)
           if a["request_id"] not in actions]
    if new:
        result.request_id = new[0]
        result.events = action_events(world, name, new[0])
    mig = world.latest_migration(name)
    if mig is not None and (before is None or mig.id != before.id):
        world.migrations[name] = mig
        result.migration_uuid = mig.uuid
        result.migration_status = mig.status
        result.dest = mig.dest_compute
    held = rule is not None and bool(rule.matched)
    if held and result.migration_status == "pre-migrating" and result.dest:
        rec = world.ledger.instances[name]
        world.ledger.start_move(name, mig.migration_type, source,
                                result.dest, flavor if resize else rec.flavor,
                                mig.uuid, mig.status)
        moves.stop_at(world, name, "pre-migrating", rule)
    elif rule is not None:
        world.bus.remove_rule(rule)
    world.trace.step("world", op + " requested", instance=name,
                     refused=result.refused, error=result.error_type,
                     migration=result.migration_status, dest=result.dest)
    return result


def finish_move(world, name) -> str:
    """Take ``name``'s move held at ``pre-migrating`` on to ``finished``,
    as the source and the destination do once nothing holds them."""
    status = None
    while status != "finished":
        status = moves.advance(world, name)
    return status
