"""One operation model: operations are data, a run is a history.

After Jepsen (``client.clj``, ``nemesis.clj``): an :class:`Op` names a
function ``f`` and its arguments, the *process* that performs it (the
``client``, which drives the world's verbs in the real shape, or the
``nemesis``, whose operations start and stop a fault fixture from
:mod:`harness.faults`), and a *type*: ``invoke`` when it starts, then ``ok``,
``fail`` (it did not happen: a refused precondition) or ``info`` (it raised
part-way: the outcome is indeterminate).  Every invocation and completion is
appended to a :class:`History`.  The checker is the oracle: invariants over
the state after each operation (:mod:`harness.oracle.stepchecks`).

Operations are plain data (``Op.as_dict`` / ``Op.from_dict`` round-trip
through JSON), so a history prefix is a reproducer: :func:`replay` runs a
list of operations on a fresh world.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

from harness.world import lifecycle
from harness.world.errors import Refused


@dataclasses.dataclass
class Op:
    f: str
    args: dict = dataclasses.field(default_factory=dict)
    process: str = "client"           # client | nemesis
    type: str = "invoke"              # invoke | ok | fail | info
    value: Any = None
    time: float = 0.0
    index: int = -1

    def as_dict(self) -> dict:
        return {"f": self.f, "args": dict(self.args),
                "process": self.process}

    @classmethod
    def from_dict(cls, doc: dict) -> "Op":
        unknown = set(doc) - {"f", "args", "process", "type", "value",
                              "time", "index"}
        if unknown or "f" not in doc:
            raise ValueError("not an operation: %r" % (doc,))
        return cls(f=doc["f"], args=dict(doc.get("args") or {}),
                   process=doc.get("process", "client"))

    def call(self) -> str:
        """The operation as a readable call."""
        args = ", ".join("%s=%r" % kv for kv in sorted(self.args.items()))
        return "%s%s(%s)" % ("nemesis." if self.process == "nemesis" else "",
                             self.f, args)

    def __str__(self):
        tail = "" if self.value is None else " -> %s" % (self.value,)
        return "%s %s%s" % (self.type, self.call(), tail)


class History(list):
    """Invocations and completions, in order."""

    def completions(self) -> list[Op]:
        return [op for op in self if op.type != "invoke"]


# -- the client's operations ---------------------------------------------
def _create_flavor(world, name, **spec):
    return world.create_flavor(name, **spec).name


def _boot(world, name, flavor, host, from_volume=False):
    return world.boot(name, flavor, host, from_volume=from_volume).uuid


def _move(world, name, dest, flavor=None, until="finished", fail=None):
    from harness.world import moves
    return moves.cold_move(world, name, flavor, dest, until=until,
                           fail=fail).status


def _live(world, name, dest, until="running"):
    return world.live_migrate(name, dest, until=until).status


def _request_move(world, name, flavor=None, prefer=()):
    """A resize to ``flavor`` (without one: a cold migration with no host
    named) that the scheduler places, preferring ``prefer`` in order; held
    where the destination casts ``resize_instance``
    (:func:`harness.world.conductor.request_move`).  The value is the
    migration's status (``error`` when the conductor's task failed)."""
    from harness.world import conductor
    result = conductor.request_move(world, name, flavor, tuple(prefer))
    if result.refused:
        raise Refused(result.refused)
    return result.migration_status


def _audit(world, host=None, via="service"):
    results = world.audit(host, via=via)
    errors = ["%s: %r" % (a.host, a.error) for a in results if a.error]
    if errors:
        raise RuntimeError("; ".join(errors))
    return [a.host for a in results]


CLIENT: dict[str, Callable] = {
    "create_flavor": _create_flavor,
    "wait": lambda w, seconds: w.wait(seconds),
    "boot": _boot,
    "build_fail": lambda w, **a: lifecycle.build_fail(w, **a).vm_state,
    "finish_build_fail": lambda w, name: lifecycle.finish_build_fail(
        w, name).vm_state,
    "move": _move,
    "request_move": _request_move,
    "live_migrate": _live,
    "advance": lifecycle.advance,
    "confirm": lambda w, name: w.confirm(name),
    "revert": lambda w, name: w.revert(name),
    "live_rollback": lambda w, **a: lifecycle.live_rollback(w, **a).status,
    "delete": lambda w, name: w.delete(name),
    "shelve": lifecycle.shelve,
    "shelve_offload": lifecycle.shelve_offload,
    "unshelve": lambda w, **a: lifecycle.unshelve(w, **a).task_state,
    "finish_unshelve": lambda w, name: lifecycle.finish_unshelve(w, name)
    .vm_state,
    "evacuate": lambda w, **a: lifecycle.evacuate(w, **a).status,
    "service_down": lifecycle.service_down,
    "restart": lifecycle.restart,
    "node_unavailable": lifecycle.node_unavailable,
    "node_available": lifecycle.node_available,
    "audit": _audit,
}


# -- the nemesis's faults --------------------------------------------------
# kind -> factory(world, **args) of a fault fixture.  The faults live one
# layer up (harness.faults.nemesis fills this in when imported).
NEMESIS: dict[str, Callable] = {}


class Client:
    """Performs operations against one world and records the history."""

    def __init__(self, world, history: History | None = None):
        self.world = world
        self.history = history if history is not None else History()
        self.fault = None            # the nemesis's active fault fixture
        self.raised = None           # what the last ``info`` operation raised
        self._t0 = time.monotonic()

    def _record(self, op: Op, type_: str, value=None) -> Op:
        done = dataclasses.replace(op, type=type_, value=value,
                                   time=round(time.monotonic() - self._t0,
                                              6),
                                   index=len(self.history))
        self.history.append(done)
        return done

    def perform(self, op: Op) -> Op:
        """Invoke ``op``; return its completion (``ok``/``fail``/``info``)."""
        if op.process == "nemesis":
            if op.f not in ("start", "stop"):
                raise ValueError("unknown nemesis operation %r (start, "
                                 "stop)" % op.f)
            if op.f == "start" and op.args.get("kind") not in NEMESIS:
                raise ValueError("unknown fault kind %r (known: %s)"
                                 % (op.args.get("kind"),
                                    ", ".join(sorted(NEMESIS)) or
                                    "none: import harness.faults"))
            self._record(op, "invoke")
            return self._nemesis(op)
        fn = CLIENT.get(op.f)
        if fn is None:
            raise ValueError("unknown operation %r (known: %s)"
                             % (op.f, ", ".join(sorted(CLIENT))))
        self._record(op, "invoke")
        self.world.trace.step("op", op.f, **op.args)
        try:
            value = fn(self.world, **op.args)
        except Refused as exc:
            return self._record(op, "fail", str(exc))
        except Exception as exc:  # noqa: BLE001 - recorded, indeterminate
            self.raised = exc
            return self._record(op, "info", "%s: %s"
                                % (type(exc).__name__, exc))
        return self._record(op, "ok", value)

    def _nemesis(self, op: Op) -> Op:
        if op.f == "start":
            if self.fault is not None:
                return self._record(op, "fail", "a fault is active")
            args = dict(op.args)
            fault = NEMESIS[args.pop("kind")](self.world, **args)
            fault.setUp()
            self.fault = fault
            return self._record(op, "ok", fault.describe())
        if op.f == "stop":
            if self.fault is None:
                return self._record(op, "fail", "no fault is active")
            self.fault.cleanUp()
            self.fault = None
            return self._record(op, "ok")

    def close(self):
        if self.fault is not None:
            self.fault.cleanUp()
            self.fault = None


def replay(ops, world_kwargs=None, check=None, trace=None):
    """Run ``ops`` on a fresh world; ``check(world, op, client)`` after
    each completed operation returns violations; stop at the first.
    Returns ``(history, failure)`` where ``failure`` is ``None`` or
    ``(op, violations)``."""
    from harness.world.deployment import World
    world = World(trace=trace, **(world_kwargs or {}))
    world.setUp()
    client = Client(world)
    try:
        for op in ops:
            done = client.perform(op if isinstance(op, Op)
                                   else Op.from_dict(op))
            if check is not None:
                found = check(world, done, client)
                if found:
                    return client.history, (done, found)
        return client.history, None
    finally:
        client.close()
        world.cleanUp()
