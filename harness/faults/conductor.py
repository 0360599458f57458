"""Faults the conductor scenarios inject (report 002).

Every one acts at a boundary of Nova's services, never inside them:

* the Placement app, behind the fault middleware (:class:`InnerFault`: a
  response lost after Placement committed, a client-side timeout, a racing
  writer; :class:`LimitLowered`: an inventory change racing the move that
  makes Placement refuse an allocation for its limits);
* Placement as the destination host reaches it (:class:`DestinationRefuses`:
  the destination's claim in ``prep_resize`` cannot report to placement,
  so the destination gives the move up and asks for a reschedule);
* another consumer taking room once the scheduler has chosen
  (:class:`ConsumedAfterSelection`, triggered when the first
  ``prep_resize`` reaches its destination);
* the records (:class:`SourceNodeMissing`: an instance's node with no
  compute node record);
* and :class:`Condition`, a condition a trial's world was built with,
  stated for the evidence.

The destination faults find the destination's requests through the bus:
the message a thread is delivering (``Bus.delivering``) names the host
that is handling it.
"""
from __future__ import annotations

import io
import json
import re

from harness.faults import base
from harness.faults.base import Fault
from harness.world.placement import PlacementConnectionError, Schedule


# ----------------------------------------------------------------------
class Condition(Fault):
    """A condition of the world the trial was built with (so set up before
    the workload, not injected): it only states it, for the evidence."""
    authority = base.NONE
    reach = "an operator's configuration"

    def __init__(self, world, text):
        super().__init__(world)
        self.text = text

    def describe(self):
        return self.text

    def inject(self):
        pass


# ----------------------------------------------------------------------
# behind the middleware, at the Placement app
# ----------------------------------------------------------------------
class _Behind(Fault):
    """A fault in front of the Placement app, behind the fault middleware:
    the middleware has logged the call (and its own rules came first);
    :meth:`handle` answers it (or returns None to let Placement serve).
    The harness's own reads and writes (the observer channel) pass."""

    _last = None     # the last logged call this fault saw

    def inject(self):
        mw = self.world.placement.middleware
        inner = mw.app
        fault = self
        # calls logged before the fault was in place are not its own
        self._last = mw.calls[-1] if mw.calls else None

        def app(environ, start_response):
            call = mw.calls[-1] if mw.calls else None
            if environ.get("HTTP_X_HARNESS_OBSERVER") or call is None or \
                    call is fault._last:
                # the harness's own requests: observer writes, and reads
                # straight to the app (``FaultablePlacement.read``), which
                # the middleware never logged
                return inner(environ, start_response)
            fault._last = call
            method = environ["REQUEST_METHOD"]
            path = environ.get("PATH_INFO", "")
            if environ.get("QUERY_STRING"):
                path += "?" + environ["QUERY_STRING"]
            answer = fault.handle(environ, start_response, inner, method,
                                  path, call)
            if answer is None:
                return inner(environ, start_response)
            return answer

        mw.app = app
        self.addCleanup(setattr, mw, "app", inner)

    def handle(self, environ, start_response, inner, method, path, call):
        raise NotImplementedError  # pragma: no cover

    def _fired(self, call, **what):
        if call is not None:
            call.fault = self.describe()
        self.world.trace.step("fault", "placement (inner)",
                              call=call.n if call else None, **what)


class InnerFault(_Behind):
    """A fault *behind* the fault middleware, at the Placement app.

    * ``lost_response``: Placement serves the request (and commits it), and
      the connection breaks before the client reads the answer;
    * ``timeout``: the client's read times out, Placement never sees it;
    * ``racing_write``: just before Placement serves a ``POST
      /allocations``, another writer re-writes the first consumer in the
      body that holds allocations (same amounts), so its consumer
      generation moves on, as a concurrent operation would do.

    ``schedule`` counts the calls matching ``method``/``path``.  The
    middleware's log line of every call this fires on gets its
    ``fault`` set to :meth:`describe`.
    """
    authority = base.INFRASTRUCTURE

    def authority_class(self) -> str:
        return base.TIMING if self.action == "racing_write" \
            else base.INFRASTRUCTURE

    ACTIONS = ("lost_response", "timeout", "racing_write")

    def __init__(self, world, method, path, action,
                 schedule: Schedule | None = None):
        super().__init__(world)
        if action not in self.ACTIONS:
            raise ValueError("action %r: expected one of %s"
                             % (action, self.ACTIONS))
        self.method, self.path, self.action = method.upper(), path, action
        self.schedule = schedule or Schedule()
        self.matched = 0
        self.fired_calls: list[int] = []
        self.raced: list[str] = []
        self.harness_error: str | None = None

    def describe(self):
        what = {"lost_response": "serve, then break the connection before "
                                 "the answer",
                "timeout": "time the client out (never served)",
                "racing_write": "a racing writer bumps the consumer "
                                "generation, then serve"}[self.action]
        return "placement %s %s: %s, %s (behind the middleware)" % (
            self.method, self.path, what, self.schedule.describe())

    def handle(self, environ, start_response, inner, method, path, call):
        if not ((self.method in ("*", method))
                and re.search(self.path, path)):
            return None
        self.matched += 1
        if not self.schedule.fires(self.matched):
            return None
        if call is not None:
            self.fired_calls.append(call.n)
        self._fired(call, method=method, path=path, action=self.action)
        if self.action == "timeout":
            if call is not None:
                call.status = None
            return _raise_in_body(TimeoutError(
                "harness: placement read timed out"))
        if self.action == "racing_write":
            self._race(environ)
            return inner(environ, start_response)
        # lost_response: serve fully, then break the connection
        served = []
        chunks = list(inner(environ, lambda status, headers, exc=None:
                            served.append(status)))
        del chunks
        if call is not None and served:
            call.status = int(served[0].split()[0])
        return _raise_in_body(PlacementConnectionError(
            "harness: connection broken after placement served"))

    def _race(self, environ):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return
        p = self.world.placement
        consumers = list(body) if isinstance(body, dict) else []
        for consumer in consumers:
            if not re.match(r"^[0-9a-f-]{36}$", consumer):
                continue
            cur = p.read("/allocations/%s" % consumer)
            if not cur.get("allocations"):
                continue
            resp = p.write("PUT", "/allocations/%s" % consumer, {
                "allocations": {rp: {"resources": a["resources"]}
                                for rp, a in cur["allocations"].items()},
                "project_id": cur["project_id"],
                "user_id": cur["user_id"],
                "consumer_type": (cur.get("consumer_type")
                                  if re.match(r"^[A-Z0-9_]+$",
                                              cur.get("consumer_type") or "")
                                  else "INSTANCE"),
                "consumer_generation": cur["consumer_generation"]})
            if resp.status_code >= 300:
                self.harness_error = ("racing writer: PUT /allocations/%s "
                                      "failed: %s %s" % (
                                          consumer, resp.status_code,
                                          resp.text))
                raise RuntimeError(self.harness_error)
            self.raced.append(consumer)
            return


def _raise_in_body(exc):
    raise exc
    yield b""  # pragma: no cover - makes this a generator


class LimitLowered(_Behind):
    """An inventory change racing the move: just before Placement serves
    the ``schedule``-th call matching ``method``/``path``, the ``resource``
    inventory of ``host``'s compute node provider gets ``max_unit`` lowered
    to ``max_unit`` (as an operator's ``openstack resource provider
    inventory set``, or the hypervisor's next report of fewer units,
    would), so Placement refuses any allocation of more than that there:
    409, the generic code (``InvalidAllocationConstraintsViolated``).
    Placement 16 admits an allocation that raises no usage over capacity,
    so a pure capacity refusal cannot answer a move of an allocation
    between two consumers; a limits refusal can.  Cleared, the inventory
    is put back (the host's next audit reports it again anyway)."""
    authority = base.TIMING
    reach = "an inventory change (operator or hypervisor) racing the move"

    def __init__(self, world, host, method, path, resource="MEMORY_MB",
                 max_unit=256, schedule: Schedule | None = None):
        super().__init__(world)
        self.host, self.resource, self.max_unit = host, resource, max_unit
        self.method, self.path = method.upper(), path
        self.schedule = schedule or Schedule()
        self.matched = 0
        self.lowered_from: int | None = None
        self.fired_calls: list[int] = []

    def describe(self):
        return ("placement %s %s: just before it is served, %s max_unit "
                "on %s lowered to %d, %s" % (
                    self.method, self.path, self.resource, self.host,
                    self.max_unit, self.schedule.describe()))

    def _inventory(self):
        rp = self.world.hosts[self.host].rp_uuid
        body = self.world.placement.read(
            "/resource_providers/%s/inventories" % rp)
        return rp, body["resource_provider_generation"], \
            body["inventories"][self.resource]

    def _set_max_unit(self, value):
        rp, gen, inv = self._inventory()
        inv = dict(inv, max_unit=value, resource_provider_generation=gen)
        resp = self.world.placement.write(
            "PUT", "/resource_providers/%s/inventories/%s"
            % (rp, self.resource), inv)
        if resp.status_code >= 300:
            raise RuntimeError("lowering %s max_unit on %s failed: %s %s"
                               % (self.resource, self.host,
                                  resp.status_code, resp.text))

    def handle(self, environ, start_response, inner, method, path, call):
        if not ((self.method in ("*", method))
                and re.search(self.path, path)):
            return None
        self.matched += 1
        if not self.schedule.fires(self.matched) or \
                self.lowered_from is not None:
            return None
        _rp, _gen, inv = self._inventory()
        self.lowered_from = inv["max_unit"]
        self._set_max_unit(self.max_unit)
        self.addCleanup(self._restore)
        if call is not None:
            self.fired_calls.append(call.n)
        self._fired(call, method=method, path=path,
                    lowered="%s max_unit %d -> %d on %s" % (
                        self.resource, self.lowered_from, self.max_unit,
                        self.host))
        return None

    def _restore(self):
        _rp, _gen, inv = self._inventory()
        if inv["max_unit"] == self.max_unit:
            self._set_max_unit(self.lowered_from)


class DestinationRefuses(_Behind):
    """The destination's claim cannot reach Placement: while
    ``prep_resize`` is delivered to one of ``hosts``, the first ``GET
    /resource_providers/{rp}/allocations`` that host makes (its tracker's
    ``resize_claim`` reporting to placement, ``_update_to_placement``) is
    answered ``status``, as when that host's requests to Placement fail.
    The claim raises (ResourceProviderAllocationRetrievalFailed), and the
    destination's own handler reverts the allocation and asks the
    conductor to reschedule on the next alternate (or gives the move up).

    (The destination's earlier read of the instance's allocations in
    ``_prep_resize`` is no such point: ``get_allocations_for_consumer``
    turns a failed read into "no allocations" and the claim goes on.)"""
    authority = base.INFRASTRUCTURE
    reach = "an infrastructure fault (the destination's placement requests)"
    PATH = r"^/resource_providers/[0-9a-f-]{36}/allocations$"

    def __init__(self, world, hosts, status=500):
        super().__init__(world)
        self.hosts, self.status = tuple(hosts), status
        self.refused: list[str] = []
        self._done: set[int] = set()

    def describe(self):
        return ("the first GET /resource_providers/{rp}/allocations of each "
                "prep_resize on %s answered %d" % (", ".join(self.hosts),
                                                   self.status))

    def handle(self, environ, start_response, inner, method, path, call):
        msg = self.world.bus.delivering()
        if msg is None or msg.method != "prep_resize" or \
                msg.server not in self.hosts or msg.seq in self._done:
            return None
        if method != "GET" or not re.search(self.PATH, path):
            return None
        self._done.add(msg.seq)
        self.refused.append(msg.server)
        self._fired(call, method=method, path=path, host=msg.server,
                    status=self.status)
        payload = json.dumps({"errors": [{
            "status": self.status, "code": "placement.undefined_code",
            "title": "Injected by harness",
            "detail": "harness fault: %s" % self.describe()}]}).encode()
        start_response("%d Injected" % self.status,
                       [("Content-Type", "application/json"),
                        ("Content-Length", str(len(payload))),
                        ("openstack-api-version", "placement 1.39")])
        return [payload]


class ConsumedAfterSelection(Fault):
    """Once the scheduler has chosen, something else takes the room of
    ``hosts`` (the alternates it handed out): when the first
    ``prep_resize`` reaches its destination, an allocation outside Nova
    for all the free ``resource`` of each, written to placement (observer
    channel) and recorded in the ledger as a stated external consumer.
    The alternates' allocation requests are then stale and can never
    fit."""
    authority = base.TIMING
    reach = "a race with another tenant's boot"

    def __init__(self, world, hosts, resource="MEMORY_MB"):
        super().__init__(world)
        self.hosts, self.resource = tuple(hosts), resource
        self.consumers: dict = {}

    def describe(self):
        return ("after selection, all free %s of %s taken by another "
                "consumer" % (self.resource, ", ".join(self.hosts)))

    def inject(self):
        self.addCleanup(self.world.bus.watch(self._seen))

    def _seen(self, event, msg):
        if event == "delivered" and msg.method == "prep_resize" and \
                not self.consumers:
            self._fill()

    def _fill(self):
        from oslo_utils import uuidutils
        world = self.world
        p = world.placement
        for host in self.hosts:
            rp = world.hosts[host].rp_uuid
            inv = p.read("/resource_providers/%s/inventories"
                         % rp)["inventories"][self.resource]
            used = p.read("/resource_providers/%s/usages"
                          % rp)["usages"].get(self.resource, 0)
            free = int((inv["total"] - inv["reserved"])
                       * inv["allocation_ratio"]) - used
            if free <= 0:
                continue
            consumer = uuidutils.generate_uuid()
            resp = p.write("PUT", "/allocations/%s" % consumer, {
                "allocations": {rp: {"resources": {self.resource: free}}},
                "project_id": "someone-else", "user_id": "someone-else",
                "consumer_type": "INSTANCE", "consumer_generation": None})
            if resp.status_code >= 300:
                raise RuntimeError("filling %s failed: %s %s"
                                   % (host, resp.status_code, resp.text))
            self.consumers[consumer] = host
            world.ledger.extra_consumers[consumer] = {
                host: {self.resource: free}}
            world.trace.step("fault", "room taken", host=host,
                             resource=self.resource, amount=free,
                             consumer=consumer)


class SourceNodeMissing(Fault):
    """The instance's node names a compute node with no record (so the
    swap's ``ComputeNode.get_by_host_and_nodename`` fails)."""
    authority = base.INCONSISTENT

    def __init__(self, world, name, node="ghost-node-99"):
        super().__init__(world)
        self.name, self.node = name, node

    def describe(self):
        return "instance %s's node set to %s (no compute node record)" % (
            self.name, self.node)

    def inject(self):
        # Written under the objects (Instance.save refuses a node change
        # without a compute_id): the row is what a bad record looks like.
        from nova.db.main import api as db
        world = self.world
        uuid = world.instances[self.name].uuid
        old = world.instance(self.name).node
        db.instance_update(world.ctx, uuid, {"node": self.node})
        self.addCleanup(db.instance_update, world.ctx, uuid, {"node": old})
