"""Examples from a forked copy of one pre-built world.

Building a world (three hosts, each started and audited against a real
Placement) costs about as much as a dozen operations, and the explorer
used to build one for every Hypothesis example, shrink attempts included.
A :class:`Template` builds it once; every example then runs in a
copy-on-write copy of the process holding it (forked with the machinery of
:mod:`harness.verdicts.snapshots`: the copy adopts its copies of the
in-memory databases, of the trackers' memory, of the report clients'
provider trees and of the ledger), so every example starts from the same
bytes a fresh world would, and the template is never touched.

Hypothesis runs in this process; the copy is a small operation server.
For each operation the state machine sends it the :class:`~harness.world.
ops.Op`; the copy performs it with its :class:`~harness.world.ops.Client`,
runs the :class:`~harness.oracle.stepchecks.StepChecker` on its world (every
invariant after every operation, as before) and answers with the
completion, the violations and gaps, and its ledger, which the machine's
preconditions read.  Nothing is mocked: the copy runs the same Nova code on
the same state as a fresh world would.

When the process cannot fork safely (:func:`~harness.verdicts.snapshots.
static_reason`: ``HARNESS_SNAPSHOTS=0``, no ``os.fork``, databases in
files or a server; or a thread alive besides this one,
:func:`~harness.verdicts.snapshots.thread_reason`) the template says why
(:attr:`Template.reason`) and every example builds a fresh world in this
process (:class:`LocalSession`), with the same results.
"""
from __future__ import annotations

import copy
import gc
import os
import pickle
import signal
import struct
import time
import traceback
import types

from harness.oracle.stepchecks import StepChecker, StepResult
from harness.verdicts import snapshots
from harness.verdicts.snapshots import plain
from harness.world import novaenv
from harness.world.deployment import World
from harness.world.ops import Client

_HEADER = struct.Struct("<Q")
# A directory: every copy writes its CPU profile there (copy-<pid>.prof,
# cProfile), to see where an example's time goes (the copies do the work).
PROFILE_ENV = "HARNESS_EXPLORE_PROFILE"


# A copy behaves as a fresh world only while the template is young: Nova's
# report client refreshes a provider's associations once they are older
# than [compute] resource_provider_association_refresh (300 s).  (A world's
# services do not time out: it sets service_down_time out of reach.)  An
# older template is rebuilt before the next example.
MAX_AGE = 240.0


class Template:
    """One world built in this process, copied for every example (see the
    module notes).  Open it before the examples run and close it after;
    while it is open no other world may be built in this process (the
    in-memory databases are the process's)."""

    def __init__(self, world_kwargs=None, prepare=None):
        self.world_kwargs = dict(world_kwargs or {})
        # prepare(world): what every example starts with (the explorer's
        # flavors), done once in the template
        self.prepare = prepare
        self.world = None
        self.reason: str | None = None   # why examples run on fresh worlds
        self.forks = 0
        self.builds = 0
        self.built = 0.0         # time.monotonic() of the last build

    def open(self) -> "Template":
        self.reason = snapshots.static_reason(
            types.SimpleNamespace(world_kwargs=self.world_kwargs))
        if self.reason is not None:
            return self
        world = World(**self.world_kwargs)
        world.setUp()
        if self.prepare is not None:
            self.prepare(world)
        self.builds += 1
        self.built = time.monotonic()
        # what Nova does before it forks its workers (see snapshots)
        novaenv.quiesce_thread_pools()
        self.world = world
        self.reason = snapshots.thread_reason()
        if self.reason is not None:
            self.close()
            return self
        gc.collect()
        gc.freeze()      # copies then leave the shared objects' pages alone
        return self

    def close(self):
        if self.world is not None:
            world, self.world = self.world, None
            gc.unfreeze()
            world.cleanUp()

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    def session(self):
        """A session for one example: a copy of the template, or (when the
        process cannot fork safely) a fresh world here."""
        if (self.world is not None
                and time.monotonic() - self.built > MAX_AGE):
            self.close()
            self.open()
        if self.world is not None:
            reason = snapshots.thread_reason()
            if reason is not None:     # a thread appeared since open()
                self.reason = reason
                self.close()
        if self.world is None:
            return LocalSession(self.world_kwargs, self.prepare)
        self.forks += 1
        return ForkedSession(self.world)


class LocalSession:
    """A fresh world in this process (the path without a template)."""

    def __init__(self, world_kwargs=None, prepare=None):
        self.world = World(**(world_kwargs or {}))
        self.world.setUp()
        if prepare is not None:
            prepare(self.world)
        self.client = Client(self.world)
        self.checker = StepChecker()

    @property
    def ledger(self):
        return self.world.ledger

    @property
    def fault_active(self) -> bool:
        return self.client.fault is not None

    def step(self, op):
        """Perform ``op`` and check every invariant: ``(completion,
        StepResult)``."""
        done = self.client.perform(op)
        return done, self.checker.check(self.world, done, self.client)

    def close(self):
        try:
            self.client.close()
        finally:
            self.world.cleanUp()


class HarnessError(RuntimeError):
    """The copy failed outside the operation (checker, transport)."""


class ForkedSession:
    """An example in a forked copy of the template's world (parent side)."""

    def __init__(self, world):
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()

        def work(_left):
            os.close(req_w)
            os.close(resp_r)
            where = os.environ.get(PROFILE_ENV)
            if not where:
                return _serve(world, req_r, resp_w)
            import cProfile
            prof = cProfile.Profile(time.process_time)
            try:
                return prof.runcall(_serve, world, req_r, resp_w)
            finally:
                prof.dump_stats(os.path.join(where, "copy-%d.prof"
                                             % os.getpid()))

        self.pid, self._done = snapshots.spawn(work)
        os.close(req_r)
        os.close(resp_w)
        self._req, self._resp = req_w, resp_r
        self.ledger = copy.deepcopy(world.ledger)
        self.fault_active = False

    def step(self, op):
        try:
            _send(self._req, op)
            reply = _recv(self._resp)
        except OSError as exc:
            reply = None
            why = str(exc)
        else:
            why = "it ended"
        if reply is None:
            raise HarnessError("the example's copy of the world stopped "
                               "answering (%s) at %s; see its stderr"
                               % (why, op.call()))
        if reply[0] == "error":
            raise HarnessError("in the example's copy, at %s:\n%s"
                               % (op.call(), reply[1]))
        _, done, violations, gaps, self.ledger, self.fault_active = reply
        return done, StepResult(violations, gaps)

    def close(self):
        if self._req is None:
            return
        os.close(self._req)          # the copy sees the end and exits
        self._req = None
        status = None
        try:
            with os.fdopen(self._done, "rb") as pipe:
                pipe.read()
            _, status = os.waitpid(self.pid, 0)
        finally:
            os.close(self._resp)
            if status is None:       # interrupted: no orphan, no zombie
                try:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                except OSError:
                    pass


def _serve(world, req, resp) -> bytes:
    """In the copy: perform and check each operation received, until the
    parent closes its end."""
    client = Client(world)
    checker = StepChecker()
    while True:
        op = _recv(req)
        if op is None:
            return b""
        try:
            done = client.perform(op)
            result = checker.check(world, done, client)
            done.value = _plain_value(done.value)
            reply = ("ok", done, _plain(result.violations),
                     _plain(result.gaps), world.ledger,
                     client.fault is not None)
        except Exception:  # noqa: BLE001 - the parent raises it
            reply = ("error", traceback.format_exc())
        _send(resp, reply)


def _plain(violations):
    """Violations whose values pickle (else their repr)."""
    for v in violations:
        v.expected = plain(v.expected)
        v.actual = plain(v.actual)
    return violations


def _plain_value(value):
    return plain(value)


def _send(fd, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read(fd, n) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _recv(fd):
    head = _read(fd, _HEADER.size)
    if head is None:
        return None
    body = _read(fd, _HEADER.unpack(head)[0])
    return None if body is None else pickle.loads(body)
