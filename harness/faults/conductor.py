"""Faults the conductor scenarios inject (report 002).

At the destination: a claim test that refuses (:class:`ClaimRefused`); at
the scheduler boundary: the room of the alternates taken once it has chosen
(:class:`ConsumedAfterSelection`), more alternates than ``max_attempts``
allows (:class:`LongAlternates`); behind the fault middleware, at the
Placement app: a response lost after Placement committed, a client-side
timeout, a racing writer (:class:`InnerFault`); in the records: an
instance's node with no compute node record (:class:`SourceNodeMissing`);
and :class:`Condition`, a condition a trial's world was built with, stated
for the evidence.

The scheduler faults act on the :class:`~harness.world.conductor.Conductor`
the trial set up (``world.conductor``).
"""
from __future__ import annotations

import io
import json
import re

import fixtures

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


class ClaimRefused(Fault):
    """The destination's claim test refuses on ``hosts``.

    ``MoveClaim._claim_test`` (the NUMA/PCI fit test inside the real
    ``resize_claim``) raises ``ComputeResourcesUnavailable`` on those hosts,
    as it does when the host cannot fit the instance; everything around it
    (the claim, its abort, the manager's clean-up and reschedule) is real.
    """
    authority = base.NONE
    reach = "a destination that cannot fit the instance"

    def __init__(self, world, hosts):
        super().__init__(world)
        self.hosts = tuple(hosts)
        self.refused: list[str] = []

    def describe(self):
        return "destination claim refused on %s" % ", ".join(self.hosts)

    def inject(self):
        from nova.compute import claims
        from nova import exception
        real = claims.MoveClaim._claim_test
        fault = self

        def _claim_test(claim, compute_node, limits=None):
            if claim.tracker.host in fault.hosts:
                fault.refused.append(claim.tracker.host)
                raise exception.ComputeResourcesUnavailable(
                    reason="harness: claim refused on %s"
                    % claim.tracker.host)
            return real(claim, compute_node, limits)
        self.useFixture(fixtures.MonkeyPatch(
            "nova.compute.claims.MoveClaim._claim_test", _claim_test))


class ConsumedAfterSelection(Fault):
    """Once the scheduler has chosen, something else takes the room of
    ``hosts`` (the alternates it handed out): an allocation outside Nova
    for all the free ``resource`` of each, written through the observer
    channel and recorded in the ledger as a stated external consumer.  The
    alternates' allocation requests are then stale and can never fit."""
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
        sched = self.world.conductor.scheduler
        previous = sched.after_select
        sched.after_select = self._fill
        self.addCleanup(setattr, sched, "after_select", previous)

    def _fill(self, world, selections):
        from oslo_utils import uuidutils
        p = world.placement
        for host in self.hosts:
            if host in self.consumers.values():
                continue
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


class LongAlternates(Fault):
    """The scheduler hands out ``n`` alternates, more than the
    ``max_attempts - 1`` that ``SchedulerManager`` ever returns: the
    input a conductor would get only from a scheduler that ignores the
    option.  Shows what bounds the reschedule loop (finding F-06)."""
    authority = base.INADMISSIBLE
    reach = "a scheduler that ignores [scheduler] max_attempts (not Nova's)"

    def __init__(self, world, n):
        super().__init__(world)
        self.n = n

    def describe(self):
        return "the scheduler returns %d alternates (max_attempts - 1 = %d)" \
            % (self.n, self.world.CONF.scheduler.max_attempts - 1)

    def inject(self):
        sched = self.world.conductor.scheduler
        previous = sched.num_alternates
        sched.num_alternates = self.n
        self.addCleanup(setattr, sched, "num_alternates", previous)


class InnerFault(Fault):
    """A fault *behind* the fault middleware, at the Placement app.

    The middleware logs the call (and its own rules apply first); then:

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

    def inject(self):
        mw = self.world.placement.middleware
        inner = mw.app
        fault = self

        def app(environ, start_response):
            if environ.get("HTTP_X_HARNESS_OBSERVER"):
                return inner(environ, start_response)
            method = environ["REQUEST_METHOD"]
            path = environ.get("PATH_INFO", "")
            if environ.get("QUERY_STRING"):
                path += "?" + environ["QUERY_STRING"]
            if not ((fault.method in ("*", method))
                    and re.search(fault.path, path)):
                return inner(environ, start_response)
            fault.matched += 1
            if not fault.schedule.fires(fault.matched):
                return inner(environ, start_response)
            call = mw.calls[-1] if mw.calls else None
            if call is not None:
                call.fault = fault.describe()
                fault.fired_calls.append(call.n)
            fault.world.trace.step("fault", "placement (inner)",
                                   call=call.n if call else None,
                                   method=method, path=path,
                                   action=fault.action)
            if fault.action == "timeout":
                if call is not None:
                    call.status = None
                return _raise_in_body(TimeoutError(
                    "harness: placement read timed out"))
            if fault.action == "racing_write":
                fault._race(environ)
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

        mw.app = app
        self.addCleanup(setattr, mw, "app", inner)

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
                raise RuntimeError("racing writer: PUT /allocations/%s "
                                   "failed: %s %s" % (consumer,
                                                      resp.status_code,
                                                      resp.text))
            self.raced.append(consumer)
            return


def _raise_in_body(exc):
    raise exc
    yield b""  # pragma: no cover - makes this a generator


class SourceNodeMissing(Fault):
    """The instance's node names a compute node with no record (so the
    helper's ``ComputeNode.get_by_host_and_nodename`` fails)."""
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
