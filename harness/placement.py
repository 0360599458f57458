"""The real Placement service, in process, behind a fault-injecting middleware.

:class:`FaultablePlacement` is Nova's functional ``PlacementFixture`` (the
real openstack-placement WSGI app, reached through wsgi-intercept, with the
report client's HTTP verbs pointed at it) with one change: the app that
wsgi-intercept serves is wrapped in :class:`FaultMiddleware`.  The middleware
logs every request and, when a :class:`Rule` matches, answers in place of
Placement (an error status, a generation conflict), delays the request, or
breaks the connection.  With no rule it is a pass-through.
"""
from __future__ import annotations

import dataclasses
import json
import random
import re
import threading
import time
from typing import Callable

import fixtures

from harness.trace import Trace


GENERATION_CONFLICT = "placement.concurrent_update"


@dataclasses.dataclass
class Schedule:
    """When a rule fires among the requests it matches (1-based call count).

    Exactly one of ``first``, ``every`` or ``probability`` is used;
    ``Schedule()`` fires on every matching call.
    """
    first: int | None = None          # the first N matching calls
    every: int | None = None          # every Nth matching call
    probability: float | None = None  # each call with this probability
    seed: int = 0                     # for ``probability``
    calls: tuple[int, ...] | None = None  # exactly these call numbers

    def __post_init__(self):
        self._rng = random.Random(self.seed)

    def fires(self, n: int) -> bool:
        if self.calls is not None:
            return n in self.calls
        if self.first is not None:
            return n <= self.first
        if self.every is not None:
            return n % self.every == 0
        if self.probability is not None:
            return self._rng.random() < self.probability
        return True

    def describe(self) -> str:
        if self.calls is not None:
            return "calls %s" % list(self.calls)
        if self.first is not None:
            return "first %d" % self.first
        if self.every is not None:
            return "every %dth" % self.every
        if self.probability is not None:
            return "p=%.3f seed=%d" % (self.probability, self.seed)
        return "always"


@dataclasses.dataclass
class Rule:
    """Which requests to break and how.

    ``action`` is one of ``status`` (answer ``status`` with a Placement-style
    error body, ``code`` as its error code), ``conflict`` (409 with the
    generation-conflict code), ``latency`` (sleep ``delay`` seconds, then pass
    through), ``disconnect`` (raise a connection error to the client).
    """
    method: str = "*"            # GET, PUT, POST, DELETE or *
    path: str = ".*"             # regex searched in the path after /placement
    action: str = "status"
    status: int = 500
    code: str | None = None
    delay: float = 0.0
    schedule: Schedule = dataclasses.field(default_factory=Schedule)
    name: str = ""
    matched: int = 0
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return ((self.method == "*" or self.method == method)
                and re.search(self.path, path) is not None)

    def describe(self) -> str:
        what = {"status": "answer %d" % self.status,
                "conflict": "answer 409 %s" % GENERATION_CONFLICT,
                "latency": "delay %.3fs" % self.delay,
                "disconnect": "break the connection"}[self.action]
        return "%s %s %s, %s" % (self.method, self.path, what,
                                 self.schedule.describe())


class PlacementConnectionError(ConnectionError):
    """Raised by the middleware to simulate a broken connection."""


@dataclasses.dataclass
class Call:
    n: int
    method: str
    path: str
    status: int | None
    fault: str | None
    body: str | None = None


class FaultMiddleware:
    """WSGI middleware in front of the real Placement app."""

    def __init__(self, app, trace: Trace | None = None):
        self.app = app
        self.rules: list[Rule] = []
        self.calls: list[Call] = []
        self.trace = trace
        self.record_bodies = False
        self._lock = threading.Lock()

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def remove(self, rule: Rule):
        with self._lock:
            if rule in self.rules:
                self.rules.remove(rule)

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_HARNESS_OBSERVER"):
            # The harness's own reads (snapshots) are never faulted or counted.
            return self.app(environ, start_response)
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            path = path + "?" + environ["QUERY_STRING"]
        body = None
        if self.record_bodies and method in ("PUT", "POST"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length)
            body = raw.decode("utf-8", "replace")
            import io
            environ["wsgi.input"] = io.BytesIO(raw)
        with self._lock:
            n = len(self.calls) + 1
            fired = None
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.matched += 1
                    if rule.schedule.fires(rule.matched):
                        rule.fired += 1
                        fired = rule
                        break
            call = Call(n, method, path, None,
                        fired.describe() if fired else None, body)
            self.calls.append(call)
        if fired is not None and self.trace is not None:
            self.trace.step("fault", "placement", call=n, method=method,
                            path=path, rule=fired.name or fired.describe(),
                            action=fired.action)
        if fired is None or fired.action == "latency":
            if fired is not None:
                time.sleep(fired.delay)

            def _start(status, headers, exc_info=None):
                call.status = int(status.split()[0])
                return start_response(status, headers, exc_info)
            return self.app(environ, _start)
        if fired.action == "disconnect":
            call.status = None
            # Raised while the client reads the response, not from the app
            # call: wsgi-intercept wraps exceptions of the app call in its
            # own WSGIAppError (which no client code expects), but lets an
            # OSError from the response body reach urllib3, which turns it
            # into the connection failure keystoneauth reports
            # (ks_exc.ConnectFailure), as a dropped connection would.
            return _broken_connection()
        status = 409 if fired.action == "conflict" else fired.status
        code = (GENERATION_CONFLICT if fired.action == "conflict"
                else fired.code or "placement.undefined_code")
        call.status = status
        payload = json.dumps({"errors": [{
            "status": status, "code": code, "title": "Injected by harness",
            "detail": "harness fault: %s" % fired.describe(),
            "request_id": "req-harness-%d" % n}]}).encode()
        start_response("%d Injected" % status,
                       [("Content-Type", "application/json"),
                        ("Content-Length", str(len(payload))),
                        ("openstack-api-version", "placement 1.39")])
        return [payload]


def _broken_connection():
    raise PlacementConnectionError(
        "harness: connection to placement broken by fault rule")
    yield b""  # pragma: no cover - makes this a generator


class FaultablePlacement(fixtures.Fixture):
    """Nova's PlacementFixture with :class:`FaultMiddleware` in front."""

    def __init__(self, trace: Trace | None = None):
        super().__init__()
        self.trace = trace
        self.middleware: FaultMiddleware | None = None

    def _setUp(self):
        from nova.tests.functional import fixtures as func_fixtures
        from placement import deploy
        from placement.tests.functional.fixtures import placement as pfix

        real_loadapp = deploy.loadapp

        def loadapp(conf, *args, **kwargs):
            app = real_loadapp(conf, *args, **kwargs)
            self.middleware = FaultMiddleware(app, trace=self.trace)
            return self.middleware

        self.useFixture(fixtures.MonkeyPatch(
            "placement.tests.functional.fixtures.placement.deploy.loadapp",
            loadapp))
        self.fixture = self.useFixture(func_fixtures.PlacementFixture())
        assert self.middleware is not None, "placement app was not wrapped"
        del pfix

    def read(self, path: str, version: str = "1.39") -> dict:
        """GET ``path`` as an observer: never faulted, never counted."""
        from keystoneauth1 import adapter as ka
        from keystoneauth1 import session as ks
        if not hasattr(self, "_observer"):
            self._observer = ka.Adapter(ks.Session(auth=None),
                                        raise_exc=False)
        resp = self._observer.get(
            path, endpoint_override=self.fixture.endpoint,
            headers={"x-auth-token": "admin",
                     "OpenStack-API-Version": "placement %s" % version,
                     "X-Harness-Observer": "1"})
        if resp.status_code != 200:
            raise RuntimeError("placement read %s failed: %s %s"
                               % (path, resp.status_code, resp.text))
        return resp.json()

    def write(self, method: str, path: str, body=None,
              version: str = "1.39"):
        """Write to placement as an observer (used to build known states)."""
        from keystoneauth1 import adapter as ka
        from keystoneauth1 import session as ks
        if not hasattr(self, "_observer"):
            self._observer = ka.Adapter(ks.Session(auth=None),
                                        raise_exc=False)
        return self._observer.request(
            path, method, json=body, endpoint_override=self.fixture.endpoint,
            headers={"x-auth-token": "admin",
                     "OpenStack-API-Version": "placement %s" % version,
                     "X-Harness-Observer": "1"})

    def add_rule(self, rule: Rule) -> Rule:
        return self.middleware.add(rule)

    def remove_rule(self, rule: Rule):
        self.middleware.remove(rule)

    @property
    def calls(self) -> list[Call]:
        return self.middleware.calls

    def calls_matching(self, method: str = "*", path: str = ".*"):
        probe = Rule(method=method, path=path)
        return [c for c in self.calls if probe.matches(c.method, c.path)]
