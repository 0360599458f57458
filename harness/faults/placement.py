"""Faults on the placement HTTP path.

Each fault here is one :class:`~harness.world.placement.Rule` in the
:class:`~harness.world.placement.FaultMiddleware` that stands in front of the real
Placement app: it is added on ``setUp`` and removed on ``cleanUp``.  Requests
are matched by method (``GET``, ``PUT``, ``POST``, ``DELETE`` or ``*``) and
by a regular expression searched in the path after ``/placement`` (query
string included), and the :class:`~harness.world.placement.Schedule` says which of
the matching calls the rule fires on.  The harness's own reads (snapshots)
are never faulted.

``matched`` and ``fired`` count, over the fault's life, the calls Nova made
that matched the rule and those it actually broke; ``describe()`` states
the route, the method, the answer and the schedule, so a reader can replay
the fault exactly.
"""
from __future__ import annotations

from harness.faults import base
from harness.faults.base import Fault
from harness.world.placement import GENERATION_CONFLICT, Rule, Schedule


class _PlacementFault(Fault):
    """One middleware rule, in force while the fixture is set up."""
    authority = base.INFRASTRUCTURE

    action = ""

    def __init__(self, world, method: str = "*", path: str = ".*",
                 schedule: Schedule | None = None, **rule_kwargs):
        super().__init__(world)
        method = (method or "*").upper()
        if method not in ("*", "GET", "PUT", "POST", "DELETE", "PATCH",
                          "HEAD"):
            raise ValueError("method must be GET, PUT, POST, DELETE, PATCH, "
                             "HEAD or *, not %r" % method)
        self.method, self.path = method, path
        self.schedule = schedule if schedule is not None else Schedule()
        self.rule = Rule(method=method, path=path, action=self.action,
                         schedule=self.schedule, **rule_kwargs)
        self.rule.name = self.describe()

    # -- what the fault is ----------------------------------------------
    def answer(self) -> str:  # pragma: no cover - each subclass overrides
        raise NotImplementedError

    def describe(self) -> str:
        return "placement %s %s: %s, %s" % (
            self.method, self.path, self.answer(), self.schedule.describe())

    # -- what it did ----------------------------------------------------
    @property
    def fired(self) -> int:
        """How many of Nova's placement calls this fault broke."""
        return self.rule.fired

    @property
    def matched(self) -> int:
        """How many of Nova's placement calls matched the route."""
        return self.rule.matched

    def calls(self):
        """The logged calls this fault fired on (the middleware's log)."""
        name = self.rule.describe()
        return [c for c in self.world.placement.calls if c.fault == name]

    # -- the fixture ----------------------------------------------------
    def inject(self):
        self.world.placement.add_rule(self.rule)
        self.addCleanup(self.world.placement.remove_rule, self.rule)


class PlacementError(_PlacementFault):
    """Placement answers ``status`` (default 500) with a Placement-style
    error body whose error code is ``code`` (default
    ``placement.undefined_code``)."""

    action = "status"

    def __init__(self, world, method: str = "*", path: str = ".*",
                 status: int = 500, schedule: Schedule | None = None,
                 code: str | None = None):
        if not 400 <= int(status) <= 599:
            raise ValueError("status must be an HTTP error (400-599), not %r"
                             % status)
        self.status, self.code = int(status), code
        super().__init__(world, method, path, schedule, status=int(status),
                         code=code)

    def answer(self):
        return "answer %d%s" % (self.status,
                                (" " + self.code) if self.code else "")


class GenerationConflict(_PlacementFault):
    """Placement answers 409 with the ``placement.concurrent_update`` code,
    as it does when the provider or consumer generation sent is stale."""
    authority = base.TIMING
    reach = "a race with another placement writer"

    action = "conflict"

    def __init__(self, world, method: str = "*", path: str = ".*",
                 schedule: Schedule | None = None):
        super().__init__(world, method, path, schedule)

    def answer(self):
        return "answer 409 %s" % GENERATION_CONFLICT


class PlacementLatency(_PlacementFault):
    """The request is held ``delay`` seconds, then served normally."""
    authority = base.TIMING
    reach = "a slow placement service"

    action = "latency"

    def __init__(self, world, method: str = "*", path: str = ".*",
                 delay: float = 0.1, schedule: Schedule | None = None):
        if delay < 0:
            raise ValueError("delay must be >= 0, not %r" % delay)
        self.delay = float(delay)
        super().__init__(world, method, path, schedule, delay=self.delay)

    def answer(self):
        return "delay %.3fs then serve" % self.delay


class PlacementDisconnect(_PlacementFault):
    """The connection breaks before any response: the client sees the
    connection failure keystoneauth reports (``ConnectFailure``)."""

    action = "disconnect"

    def __init__(self, world, method: str = "*", path: str = ".*",
                 schedule: Schedule | None = None):
        super().__init__(world, method, path, schedule)

    def answer(self):
        return "break the connection"
