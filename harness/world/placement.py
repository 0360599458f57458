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

from harness.world.hypervisor import check_alive
from harness.world.trace import Trace


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


class DirectTransport:
    """The report client's transport to Placement, without the socket play.

    Nova's fixture reaches Placement through wsgi-intercept: requests hands
    the request to urllib3, which has http.client write it to a fake socket,
    from whose bytes wsgi-intercept builds the WSGI environ, calls the app
    and writes the response back as bytes for http.client to parse -- a
    quarter of the CPU time of each Placement request.  This is a
    ``requests`` transport adapter, mounted on the fixture's session for the
    Placement endpoint, that does what the intercept does without the
    round trip through bytes: it writes the request line and headers (with
    the ``Host`` header http.client adds) and lets wsgi-intercept's own
    ``make_environ`` parse them into the environ, calls the same app (the
    :class:`FaultMiddleware` in front of Placement) and returns a real
    ``requests.Response``.  Errors surface as they did through the
    intercept: an exception from the app call as wsgi-intercept's
    ``WSGIAppError``, a ``TimeoutError`` while reading the body (an inner
    fault's ``timeout``) as requests' ``ReadTimeout`` (keystoneauth's
    ``ConnectTimeout``), another ``OSError`` (the middleware's
    ``disconnect``) as requests' ``ConnectionError``, which keystoneauth
    turns into ``ConnectFailure``.
    """

    def __init__(self, app, endpoint: str):
        from urllib.parse import urlsplit
        url = urlsplit(endpoint)
        self.app = app
        self.netloc = url.netloc
        self.host, self.port = url.hostname, url.port or 80
        self.script_name = url.path

    def __call__(self):
        """The ``requests`` adapter (built here: requests loads lazily)."""
        from requests import adapters
        transport = self

        class Adapter(adapters.BaseAdapter):
            def send(self, request, **kwargs):
                return transport.send(request, self)

            def close(self):
                pass
        return Adapter()

    def send(self, request, adapter):
        import io
        import sys
        import requests
        import wsgi_intercept
        check_alive("Placement")
        from requests import structures, utils
        body = request.body
        if body is None:
            body = b""
        elif isinstance(body, str):
            body = body.encode("utf-8")         # as urllib3 sends a str
        head = ["%s %s HTTP/1.1" % (request.method, request.path_url),
                "Host: %s" % self.netloc]
        head += ["%s: %s" % kv for kv in request.headers.items()]
        environ = wsgi_intercept.make_environ(
            io.BytesIO("\r\n".join(head).encode("latin-1")
                       + b"\r\n\r\n" + body),
            self.host, self.port, self.script_name)
        started, written = [], []

        def start_response(status, headers, exc_info=None):
            started[:] = [status, headers]
            return written.append
        try:
            result = self.app(environ, start_response)
        except Exception as error:  # noqa: BLE001 - as wsgi-intercept does
            raise wsgi_intercept.WSGIAppError(error, sys.exc_info())
        try:
            chunks = list(result)
        except TimeoutError as error:   # a read timing out, as urllib3 and
            raise requests.ReadTimeout(error, request=request)  # requests say
        except OSError as error:    # a dropped connection, as requests says
            raise requests.ConnectionError(error, request=request)
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers = started
        merged = structures.CaseInsensitiveDict()
        for key, value in headers:          # repeats joined, as urllib3
            merged[key] = (merged[key] + ", " + value if key in merged
                           else value)
        response = requests.Response()
        response.status_code = int(status.split(None, 1)[0])
        response.reason = status.split(None, 1)[1] if " " in status else ""
        response.headers = merged
        response.encoding = utils.get_encoding_from_headers(merged)
        content = b"".join(written + chunks)
        if request.method == "HEAD":
            content = b""
        response.raw = io.BytesIO(content)
        response._content = content
        response.url = request.url
        response.request = request
        response.connection = adapter
        return response


class _SchemaCheckCache(fixtures.Fixture):
    """Check each JSON schema once, not on every request.

    Placement validates request bodies and query strings with
    ``jsonschema.validate``, which first checks the *schema* against its
    meta-schema, on every call: two thirds of the time of a
    ``GET /resource_providers``.  Placement's schemas are module constants,
    so while a world is up ``jsonschema.validate`` remembers which schema
    objects it has checked (holding a reference, so an id is never reused)
    and validates instances exactly as before: same validator class, same
    errors, same ``best_match`` choice.
    """

    checked: dict = {}  # (validator class, id(schema)) -> schema; process-wide

    def _setUp(self):
        import jsonschema
        from jsonschema import exceptions, validators
        checked = self.checked

        def validate(instance, schema, cls=None, *args, **kwargs):
            if cls is None:
                cls = validators.validator_for(schema)
            key = (cls, id(schema))
            if checked.get(key) is not schema:
                cls.check_schema(schema)
                checked[key] = schema
            validator = cls(schema, *args, **kwargs)
            error = exceptions.best_match(validator.iter_errors(instance))
            if error is not None:
                raise error

        self.useFixture(fixtures.MonkeyPatch("jsonschema.validate", validate))
        del jsonschema


def _memory_placement_fixture_class():
    """Nova's functional ``PlacementFixture`` on a process-wide database.

    Nova's subclass puts Placement's database in a WAL sqlite file in
    threading mode; this one gives it the process-wide in-memory engine,
    restored from the template for each world (see harness.world.novaenv),
    or, given ``db="mysql"``/``"postgresql"``, this process's database on
    that server, reset for each world (see harness.world.engines).
    How a database is handed to the fixture differs between Placement
    releases: the adapter builds the class.
    """
    global _MEMORY_PLACEMENT_FIXTURE
    if _MEMORY_PLACEMENT_FIXTURE is None:
        from harness.world import nova_releases
        _MEMORY_PLACEMENT_FIXTURE = nova_releases.placement_fixture_on(
            _MemoryPlacementDatabase)
    return _MEMORY_PLACEMENT_FIXTURE


_MEMORY_PLACEMENT_FIXTURE = None


class _MemoryPlacementDatabase(fixtures.Fixture):
    """Placement's database: the process-wide in-memory engine (or real
    engine database), reset to the template (schema, standard traits and
    resource classes)."""

    def __init__(self, conf_fixture, db="sqlite"):
        super().__init__()
        self.conf_fixture = conf_fixture
        self.engine_kind = db

    def _setUp(self):
        from oslo_config import cfg
        from oslo_db.sqlalchemy import engines
        from placement import db_api as placement_db
        from placement import deploy
        from placement.db.sqlalchemy import migration
        from placement.objects import resource_class, trait

        from harness.world import novaenv
        conf = self.conf_fixture
        try:
            conf.register_opt(cfg.StrOpt("connection"),
                              group="placement_database")
        except cfg.DuplicateOptError:
            pass
        conf.config(connection="sqlite://", group="placement_database")
        placement_db.configure(conf.conf)  # once per process (run_once)
        if self.engine_kind != "sqlite":
            from harness.world import engines as real
            db = real.provisioned(self.engine_kind).database(
                "placement", placement_db.placement_context_manager)
            engine = db.engine
            restore = db.restore
        else:
            engine = novaenv._ENGINES.get("placement")
            if engine is None:
                engine = novaenv._ENGINES["placement"] = novaenv._guarded(
                    engines.create_engine("sqlite://"))

            def restore(build):
                novaenv.restore_template("placement", engine, build)
        self.addCleanup(placement_db.placement_context_manager.patch_engine(
            engine))

        def unsynced():
            trait._TRAITS_SYNCED = False
            resource_class._RESOURCE_CLASSES_SYNCED = False

        def build():
            migration.create_schema(engine)
            unsynced()
            deploy.update_database(conf.conf)

        self.addCleanup(unsynced)
        restore(build)
        # The template holds the synced traits and resource classes.
        trait._TRAITS_SYNCED = True
        resource_class._RESOURCE_CLASSES_SYNCED = True


class FaultablePlacement(fixtures.Fixture):
    """Nova's PlacementFixture with :class:`FaultMiddleware` in front."""

    def __init__(self, trace: Trace | None = None, sqlite: str = "memory",
                 db: str = "sqlite"):
        super().__init__()
        self.trace = trace
        self.sqlite = sqlite  # see harness.world.novaenv.sqlite_mode
        self.db = db          # see harness.world.engines
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
        self.useFixture(_SchemaCheckCache())
        if self.db != "sqlite":
            fixture = _memory_placement_fixture_class()(db=self.db)
        elif self.sqlite == "memory":
            fixture = _memory_placement_fixture_class()()
        else:
            # oslo.db's test fixture caches the database it provisions under
            # a "random" ident drawn from the global `random`, which
            # Hypothesis and pytest-randomly reseed: a later world would get
            # an earlier world's (deleted) database file.  Unique idents.
            import uuid
            self.useFixture(fixtures.MonkeyPatch(
                "oslo_db.sqlalchemy.provision._random_ident",
                lambda: uuid.uuid4().hex[:10]))
            fixture = func_fixtures.PlacementFixture()
        self.fixture = self.useFixture(fixture)
        assert self.middleware is not None, "placement app was not wrapped"
        # The report client's requests (the fixture's session) reach the
        # app directly (see DirectTransport); the intercept stays for the
        # rest.  The session only ever talks to this in-process endpoint (a
        # uuid host name), so it need not look for proxies, a .netrc or a
        # CA bundle in the environment on every request (requests'
        # ``trust_env``, a walk of os.environ per request).
        self.transport = DirectTransport(self.middleware,
                                         self.fixture.endpoint)
        session = self.fixture._client.session.session
        session.mount(self.fixture.endpoint, self.transport())
        session.trust_env = False
        del pfix

    def read(self, path: str, version: str = "1.39") -> dict:
        """GET ``path`` as an observer: never faulted, never counted.

        The request goes straight to the Placement WSGI app behind the fault
        middleware (as ``X-Harness-Observer`` requests always did), without
        the HTTP client: no keystoneauth/requests/wsgi-intercept round trip,
        and none of their DEBUG records (request line, response body) in the
        trial's captured logs, where the harness's own reads were noise.
        """
        import webob
        req = webob.Request.blank(
            path, base_url=self.fixture.endpoint,
            headers={"x-auth-token": "admin",
                     "OpenStack-API-Version": "placement %s" % version,
                     "Accept": "application/json"})
        resp = req.get_response(self.middleware.app)
        if resp.status_int != 200:
            raise RuntimeError("placement read %s failed: %s %s"
                               % (path, resp.status_int, resp.text))
        return resp.json

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
