"""Faults on Nova's message bus, and clocks of one service.

The world's bus (:mod:`harness.world.bus`) delivers every RPC message
between Nova's services; these faults change what it does with the
messages of one RPC method (optionally to one host, about one server)
while they are in place:

* :class:`MessageDropped`: lost (a cast never arrives; a call times out,
  ``MessagingTimeout``);
* :class:`MessageDuplicated`: delivered twice (a redelivery);
* :class:`MessageDelayed`: delivered after the next operation's messages
  (a slow queue: the world may change meanwhile);
* :class:`MessageHeld`: held until the fault is cleared, then delivered:
  the message arrives after whatever the world did meanwhile (the
  instance changed, deleted...).

:class:`ServiceClock` moves the clock one service reads (a compute host's,
the conductor's, the API's): Nova's records are stamped by the service that
writes them, so a clock of its own for each service is what production
has.
"""
from __future__ import annotations

import datetime

import fixtures

from harness.faults import base
from harness.faults.base import Fault


class _BusFault(Fault):
    action = ""
    authority = base.INFRASTRUCTURE
    reach = "a message-bus fault (lost, duplicated or delayed message)"

    def __init__(self, world, method: str, server: str | None = None,
                 instance: str | None = None, times: int | None = None):
        super().__init__(world)
        self.method = method
        self.server = server
        self.instance = instance
        self.times = times
        self.rule = None

    def describe(self):
        bits = ["%s %s" % (self.action, self.method)]
        if self.server:
            bits.append("to %s" % self.server)
        if self.instance:
            bits.append("about %s" % self.instance)
        if self.times:
            bits.append("(%d)" % self.times)
        return "bus: " + " ".join(bits)

    @property
    def fired(self) -> int:
        return len(self.rule.matched) if self.rule is not None else 0

    def inject(self):
        from harness.world.bus import Rule
        uuid = self.world.instances[self.instance].uuid \
            if self.instance else None
        self.rule = self.world.bus.add_rule(Rule(
            method=self.method, action=self.action, server=self.server,
            instance=uuid, times=self.times))
        self.addCleanup(self._clear)

    def _clear(self):
        self.world.bus.remove_rule(self.rule)


class MessageDropped(_BusFault):
    """Messages of ``method`` are lost."""
    action = "drop"


class MessageDuplicated(_BusFault):
    """Messages of ``method`` are delivered twice."""
    action = "duplicate"


class MessageDelayed(_BusFault):
    """Messages of ``method`` wait until the next operation has been
    delivered (cleared: they are delivered then, if still waiting)."""
    action = "defer"
    authority = base.TIMING
    reach = "a slow message queue"

    def _clear(self):
        super()._clear()
        if self.world.bus.release_deferred():
            self.world.settle()


class MessageHeld(_BusFault):
    """Messages of ``method`` are held while the fault is in place and
    delivered when it is cleared: after whatever happened meanwhile."""
    action = "hold"
    authority = base.TIMING
    reach = "a message delivered late (a congested or partitioned queue)"

    def _clear(self):
        super()._clear()
        if self.world.bus.release(lambda m: m in self.rule.matched):
            self.world.settle()


class ServiceClock(Fault):
    """The clock ``service`` reads (a compute's host name, "conductor",
    "scheduler" or "api") is ``offset`` from the real time, and frozen
    there while the fault is in place; every other service's clock runs
    as it does."""
    authority = base.TIMING
    reach = "a clock off on one host"

    def __init__(self, world, service: str, offset):
        super().__init__(world)
        if not isinstance(offset, datetime.timedelta):
            offset = datetime.timedelta(seconds=offset)
        self.service = service
        self.offset = offset
        self.fired = 0

    def describe(self):
        return "clock of %s %+.0fs (frozen)" % (
            self.service, self.offset.total_seconds())

    def inject(self):
        from oslo_utils import timeutils
        real = timeutils.utcnow
        frozen = real() + self.offset
        bus = self.world.bus

        def utcnow(with_timezone=False):
            if bus.current_service() != self.service:
                return real(with_timezone=with_timezone)
            self.fired += 1
            if with_timezone:
                return frozen.replace(tzinfo=datetime.timezone.utc)
            return frozen

        self.useFixture(fixtures.MonkeyPatch(
            "oslo_utils.timeutils.utcnow", utcnow))
