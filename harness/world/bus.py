"""Nova's message bus, delivered by the harness.

Nova's services talk through oslo.messaging.  In a world they share one
in-process transport: oslo.messaging's own fake driver, as Nova's
functional tests use it (``nova.tests.fixtures.RPCFixture``), with one
difference in *who delivers*.  The fake driver's listeners poll their queues
from threads of their own; here nothing polls.  A **call** (the caller waits
for the answer) is delivered at once, in the caller's thread, to the server
that listens on its target, and answered as a real driver answers: the
result, or the exception serialized and rebuilt through oslo.messaging's own
``serialize_remote_exception``/``deserialize_remote_exception``.  A **cast**
(fire and forget) is queued, and :meth:`Bus.pump` delivers the queue in
order, one message at a time, until nothing is left: every message a
delivery casts joins the end of the queue.  Every message is copied through
JSON on the way, as a wire would.

So a world runs single-threaded and deterministically: an operation enters
through the REST API (or a periodic, or a service start), the bus is pumped,
and when it is quiet every service has done what the operation led to.  The
servers are oslo.messaging's real ``RPCServer`` with Nova's real
dispatcher, serializers and endpoints; only their executor runs the work in
the delivering thread (``futurist.SynchronousExecutor``).

The bus is also a boundary faults act on (:class:`Rule`): a message that
matches a rule is **held** (a stall point: the operation stops there until
the harness releases it), **dropped** (lost: a call then times out),
**duplicated** (delivered twice), or **deferred** (delivered after the next
operation).  Every delivery is recorded in :attr:`Bus.log`.

The harness also observes the bus, changing nothing it does: which message
a thread is delivering now (:meth:`Bus.delivering`; every message records
the delivery it was sent from, ``Message.parent``), what a server raised
while handling a message (:attr:`Bus.failures`), and a watcher called as
each message is sent and as each delivery begins (:meth:`Bus.watch`).
"""
from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import functools
import itertools
import threading
import time
from typing import Callable

import fixtures

from harness.world.hypervisor import check_alive


# How long a caller's pump waits for its own messages that another
# caller's pump is delivering (:meth:`Bus.pump`).
OTHERS_WAIT = 60.0


@dataclasses.dataclass
class Message:
    """One message on the bus: where it goes and what it asks."""
    seq: int
    topic: str
    server: str | None
    fanout: bool
    method: str
    args: dict
    ctxt: dict
    call: bool
    exchange: str | None = None
    # the message whose delivery sent this one (None: sent from outside)
    parent: "Message | None" = dataclasses.field(default=None, repr=False,
                                                 compare=False)
    # the caller whose request led to it (:meth:`Bus.pump`)
    origin: int = dataclasses.field(default=0, repr=False, compare=False)

    @property
    def instance_uuid(self) -> str | None:
        """The uuid of the instance the message is about, if it names one."""
        inst = self.args.get("instance")
        if isinstance(inst, dict):
            data = inst.get("nova_object.data") or {}
            return data.get("uuid")
        if isinstance(inst, str):
            return inst
        uuid = self.args.get("instance_uuid")
        return uuid if isinstance(uuid, str) else None

    def describe(self) -> str:
        where = self.server or ("*" if self.fanout else "any")
        return "%s %s -> %s:%s" % ("call" if self.call else "cast",
                                   self.method, self.topic, where)


@dataclasses.dataclass
class Rule:
    """What the bus does with the messages that match.

    ``method``: the RPC method; ``server``: the host it is sent to (None:
    any); ``topic``: the RPC topic (None: any); ``instance``: the uuid of
    the instance the message is about (None: any); ``action``: ``hold``,
    ``drop``, ``duplicate`` or ``defer``; ``times``: how many matching
    messages it takes (None: every one while it is installed).
    """
    method: str
    action: str = "hold"
    server: str | None = None
    topic: str | None = None
    instance: str | None = None
    times: int | None = 1
    matched: list = dataclasses.field(default_factory=list)

    ACTIONS = ("hold", "drop", "duplicate", "defer")

    def __post_init__(self):
        if self.action not in self.ACTIONS:
            raise ValueError("bus rule action %r: expected one of %s"
                             % (self.action, ", ".join(self.ACTIONS)))

    def matches(self, msg: Message) -> bool:
        if self.times is not None and len(self.matched) >= self.times:
            return False
        if msg.method != self.method:
            return False
        if self.server is not None and msg.server != self.server:
            return False
        if self.topic is not None and msg.topic != self.topic:
            return False
        if self.instance is not None and msg.instance_uuid != self.instance:
            return False
        return True

    def describe(self) -> str:
        bits = [self.method]
        if self.server:
            bits.append("to %s" % self.server)
        if self.instance:
            bits.append("for %s" % self.instance)
        return "%s %s" % (self.action, " ".join(bits))


def _service_of(listener) -> str:
    """A listener's service: its host for a compute (topics ``compute``
    and ``compute-alt``), else its topic (``conductor``, ``scheduler``)."""
    if listener.topic.startswith("compute") and listener.server:
        return listener.server
    return listener.topic


class NoListener(Exception):
    """A message was sent to a target no server listens on."""


@functools.lru_cache(maxsize=None)
def _incoming_class():
    """oslo.messaging's ``RpcIncomingMessage`` as the bus hands it to a
    server (built on first use: the harness imports Nova's libraries
    lazily)."""
    from oslo_messaging._drivers import base, common
    from oslo_serialization import jsonutils

    class Incoming(base.RpcIncomingMessage):
        def __init__(self, ctxt, message):
            super().__init__(ctxt, message)
            self.result = None
            self.failure = None

        def reply(self, reply=None, failure=None):
            if failure is not None:
                # As a real driver does: the exception crosses the wire
                # serialized, and is rebuilt on the caller's side.
                self.failure = common.serialize_remote_exception(failure)
            else:
                self.result = jsonutils.loads(jsonutils.dumps(reply))

        def acknowledge(self):
            pass

        def requeue(self):
            pass

        def heartbeat(self):
            pass

    return Incoming


class _Listener:
    """One server's subscription: nothing polls, the bus calls back."""

    def __init__(self, bus: "Bus", topic: str, server: str | None,
                 exchange: str | None):
        self.bus = bus
        self.topic = topic
        self.server = server
        self.exchange = exchange
        self.callback = None
        self.batch_size = 1
        self.batch_timeout = None
        self.prefetch_size = -1

    # oslo.messaging's Listener interface
    def start(self, on_incoming_callback):
        self.callback = on_incoming_callback
        self.bus._listeners.append(self)

    def stop(self):
        self.callback = None
        if self in self.bus._listeners:
            self.bus._listeners.remove(self)

    def cleanup(self):
        self.stop()


@functools.lru_cache(maxsize=None)
def _driver_class():
    from oslo_messaging._drivers import impl_fake

    class HarnessDriver(impl_fake.FakeDriver):
        """oslo.messaging's fake driver whose deliveries the bus makes."""

        bus: "Bus" = None

        def send(self, target, ctxt, message, wait_for_reply=None,
                 timeout=None, call_monitor_timeout=None, retry=None,
                 transport_options=None):
            self._check_serialize(message)
            return self.bus.send(target, ctxt, message,
                                 call=bool(wait_for_reply), timeout=timeout)

        def listen(self, target, batch_size, batch_timeout):
            return _Listener(self.bus, target.topic, target.server,
                             target.exchange or self._default_exchange)

    return HarnessDriver


class Bus(fixtures.Fixture):
    """The bus of one world (set up after Nova's ``RPCFixture``)."""

    def __init__(self):
        super().__init__()
        self._listeners: list[_Listener] = []
        self.pending: collections.deque[Message] = collections.deque()
        self.held: list[Message] = []
        self.deferred: list[Message] = []
        self.rules: list[Rule] = []
        self.log: list[tuple[str, Message]] = []
        self._seq = itertools.count(1)
        self._lock = threading.RLock()
        self._serving = threading.local()
        self.delivered = 0
        # observation only (see the module's docstring)
        self._delivering = threading.local()
        self.failures: list[tuple[Message, dict]] = []
        # Which caller's request each queued or delivering message comes
        # from (see :meth:`pump`): a token per calling thread, inherited
        # by the messages sent while one of its messages is delivered.
        self._origins = itertools.count(1)
        self._caller = threading.local()
        self._outstanding: collections.Counter = collections.Counter()
        self._quieted = threading.Condition(self._lock)
        self._watchers: list[Callable] = []

    def _setUp(self):
        import futurist
        from nova import rpc

        transport = rpc.TRANSPORT
        old = transport._driver
        driver = _driver_class()(
            old.conf, old._url, old._default_exchange,
            old._allowed_remote_exmods)
        driver.bus = self
        transport._driver = driver
        self.allowed_remote_exmods = old._allowed_remote_exmods
        self.addCleanup(setattr, transport, "_driver", old)

        real_get_server = rpc.get_server

        def get_server(target, endpoints, serializer=None):
            server = real_get_server(target, endpoints, serializer)
            # The work runs in the delivering thread.
            server._executor_cls = lambda **_kw: futurist.SynchronousExecutor()
            return server

        self.useFixture(fixtures.MonkeyPatch("nova.rpc.get_server",
                                             get_server))
        self.addCleanup(self._listeners.clear)

    # ------------------------------------------------------------------
    # sending
    # ------------------------------------------------------------------
    def send(self, target, ctxt, message, call=False, timeout=None):
        from oslo_serialization import jsonutils
        check_alive("the message bus")
        wire = jsonutils.loads(jsonutils.dumps(message))
        msg = Message(seq=next(self._seq), topic=target.topic,
                      server=target.server, fanout=bool(target.fanout),
                      method=wire.get("method", "?"),
                      args=wire.get("args") or {}, ctxt=copy.deepcopy(ctxt),
                      call=call, exchange=target.exchange,
                      parent=self.delivering())
        msg.wire = wire
        msg.origin = self._origin()
        self._notify("sent", msg)
        rule = self._rule_for(msg)
        if call:
            return self._call(msg, rule, timeout)
        with self._lock:
            self.log.append(("sent", msg))
            if rule is None:
                self._enqueue(msg)
            else:
                self._apply(rule, msg)
        return None

    def _origin(self) -> int:
        """The caller the calling thread works for: the origin of the
        message it is delivering, else its own token."""
        stack = self._stack()
        if stack:
            return stack[0].origin
        token = getattr(self._caller, "token", None)
        if token is None:
            token = self._caller.token = next(self._origins)
        return token

    def _enqueue(self, msg: Message):
        """Queue ``msg`` (under the lock) for its origin's pump."""
        self.pending.append(msg)
        self._outstanding[msg.origin] += 1

    def _done(self, msg: Message):
        with self._lock:
            origin = msg.origin
            self._outstanding[origin] -= 1
            if self._outstanding[origin] <= 0:
                del self._outstanding[origin]
            self._quieted.notify_all()

    def _rule_for(self, msg: Message) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(msg):
                    rule.matched.append(msg)
                    return rule
        return None

    def _apply(self, rule: Rule, msg: Message):
        if rule.action == "hold":
            self.held.append(msg)
            self.log.append(("held", msg))
        elif rule.action == "drop":
            self.log.append(("dropped", msg))
        elif rule.action == "duplicate":
            self._enqueue(msg)
            twin = dataclasses.replace(msg, seq=next(self._seq))
            twin.wire = copy.deepcopy(msg.wire)
            self._enqueue(twin)
            self.log.append(("duplicated", msg))
        elif rule.action == "defer":
            self.deferred.append(msg)
            self.log.append(("deferred", msg))

    def _call(self, msg: Message, rule: Rule | None, timeout):
        import oslo_messaging
        from oslo_messaging._drivers import common
        self.log.append(("sent", msg))
        if rule is not None and rule.action in ("drop", "hold", "defer"):
            # Nobody answers: the caller's wait runs out.
            self.log.append(("dropped", msg))
            raise oslo_messaging.MessagingTimeout(
                "No reply on topic %s (the harness's bus %s the call)"
                % (msg.topic, "dropped" if rule.action == "drop"
                   else "held"))
        listeners = self._route(msg)
        if not listeners:
            self.log.append(("unrouted", msg))
            raise oslo_messaging.MessagingTimeout(
                "No reply on topic %s: no server listens on %s"
                % (msg.topic, msg.describe()))
        times = 2 if rule is not None and rule.action == "duplicate" else 1
        incoming = None
        for _ in range(times):
            incoming = self._deliver(msg, listeners[0])
        if incoming.failure is not None:
            raise common.deserialize_remote_exception(
                incoming.failure, self.allowed_remote_exmods)
        return incoming.result

    def _route(self, msg: Message) -> list[_Listener]:
        with self._lock:
            same = [li for li in self._listeners
                    if li.topic == msg.topic and li.callback is not None]
        if msg.fanout:
            return [li for li in same if li.server is not None]
        if msg.server is not None:
            return [li for li in same if li.server == msg.server]
        # Any server on the topic takes it (one only: round robin has no
        # meaning with one server a topic, which is how worlds are built).
        anyone = [li for li in same if li.server is None]
        return anyone[:1] or same[:1]

    def _deliver(self, msg: Message, listener: _Listener):
        incoming = _incoming_class()(copy.deepcopy(msg.ctxt),
                                     copy.deepcopy(msg.wire))
        with self._lock:
            self.delivered += 1
            self.log.append(("delivered", msg))
        self._notify("delivered", msg)
        stack = self._stack()
        stack.append(msg)
        try:
            with self.serving(_service_of(listener)):
                listener.callback([incoming])
        finally:
            stack.pop()
        if incoming.failure is not None:
            self._failed(msg, incoming.failure)
        return incoming

    # ------------------------------------------------------------------
    # observing (changes nothing the bus does)
    # ------------------------------------------------------------------
    def _stack(self) -> list:
        stack = getattr(self._delivering, "stack", None)
        if stack is None:
            stack = self._delivering.stack = []
        return stack

    def delivering(self) -> Message | None:
        """The message whose delivery the calling thread is inside (the
        innermost one: a call made while handling a cast), or None."""
        stack = self._stack()
        return stack[-1] if stack else None

    def _failed(self, msg: Message, failure: str):
        from oslo_serialization import jsonutils
        try:
            data = jsonutils.loads(failure)
        except ValueError:
            data = {"class": "?", "message": str(failure)}
        with self._lock:
            self.failures.append((msg, {
                "class": data.get("class"), "module": data.get("module"),
                "message": data.get("message")}))

    def raised(self, method: str | None = None) -> list[tuple[Message, dict]]:
        """(message, {class, module, message}) for each delivery (of
        ``method``, or any) whose server raised while handling it."""
        return [(m, f) for m, f in self.failures
                if method is None or m.method == method]

    def watch(self, watcher: Callable[[str, Message], None]) -> Callable:
        """Call ``watcher(event, message)`` as each message is sent
        (``"sent"``, before any rule applies) and as each delivery begins
        (``"delivered"``, in the delivering thread).  Returns the function
        that stops it."""
        with self._lock:
            self._watchers.append(watcher)

        def stop():
            with self._lock:
                if watcher in self._watchers:
                    self._watchers.remove(watcher)
        return stop

    def _notify(self, event: str, msg: Message):
        for watcher in list(self._watchers):
            watcher(event, msg)

    # ------------------------------------------------------------------
    # which service is at work (per-service clocks)
    # ------------------------------------------------------------------
    @contextlib.contextmanager
    def serving(self, service: str):
        """While the block runs, this thread works for ``service`` (a
        host name for a compute, else the service's topic)."""
        stack = self._serving.__dict__.setdefault("stack", [])
        stack.append(service)
        try:
            yield
        finally:
            stack.pop()

    def current_service(self) -> str:
        """The service this thread works for now ("api" outside any
        delivery: the REST API's request, in the caller's thread)."""
        stack = getattr(self._serving, "stack", None)
        return stack[-1] if stack else "api"

    # ------------------------------------------------------------------
    # delivering the queue
    # ------------------------------------------------------------------
    def pump(self, limit: int = 10000, wait: float = OTHERS_WAIT) -> int:
        """Deliver queued casts, in order, until none is left; return how
        many were delivered.  Raises if ``limit`` deliveries do not quiet
        the bus (a loop).

        When several callers drive one world at once (threads making API
        requests side by side), another caller's pump may have taken one
        of this caller's messages: a pump outside any delivery then waits
        (up to ``wait`` seconds) until every message its own requests led
        to has been delivered, so that the caller reads the outcome of
        its request, not a state half-way through it.  A pump inside a
        delivery (a message handler's own) never waits."""
        n = 0
        top = not self._stack()
        origin = self._origin()
        deadline = None
        while True:
            with self._lock:
                if not self.pending:
                    if not top or not self._outstanding.get(origin):
                        return n
                    if deadline is None:
                        deadline = time.monotonic() + wait
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return n
                    self._quieted.wait(min(left, 0.05))
                    continue
                msg = self.pending.popleft()
            try:
                listeners = self._route(msg)
                if not listeners:
                    with self._lock:
                        self.log.append(("unrouted", msg))
                    continue
                for listener in listeners:
                    self._deliver(msg, listener)
            finally:
                self._done(msg)
            n += 1
            if n >= limit:
                raise RuntimeError("the bus did not quiet after %d "
                                   "deliveries" % n)

    @property
    def quiet(self) -> bool:
        return not self.pending

    # ------------------------------------------------------------------
    # rules: stall points and message faults
    # ------------------------------------------------------------------
    def add_rule(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def remove_rule(self, rule: Rule):
        with self._lock:
            if rule in self.rules:
                self.rules.remove(rule)

    def release(self, match: Callable[[Message], bool] | None = None
                ) -> list[Message]:
        """Put held messages (those ``match`` accepts, or all) back on the
        queue, in the order they were sent; the caller pumps."""
        with self._lock:
            out = [m for m in self.held if match is None or match(m)]
            for m in out:
                self.held.remove(m)
                self._enqueue(m)
                self.log.append(("released", m))
        return out

    def discard(self, match: Callable[[Message], bool] | None = None
                ) -> list[Message]:
        """Lose held messages for good."""
        with self._lock:
            out = [m for m in self.held if match is None or match(m)]
            for m in out:
                self.held.remove(m)
                self.log.append(("dropped", m))
        return out

    def release_deferred(self) -> int:
        with self._lock:
            n = len(self.deferred)
            for m in self.deferred:
                self._enqueue(m)
                self.log.append(("released", m))
            self.deferred.clear()
        return n

    def sent(self, method: str) -> list[Message]:
        """Every message of ``method`` sent so far."""
        return [m for what, m in self.log
                if what == "sent" and m.method == method]
