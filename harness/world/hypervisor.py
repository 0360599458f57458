"""The hypervisors under the world's compute services, and gates in them.

Each compute service of a world loads its virt driver the way Nova does
(``nova.virt.driver.load_compute_driver``); :class:`Hypervisors` hands it
the host's :class:`FakeHypervisor`: Nova's own ``nova.virt.fake.FakeDriver``
reporting the node name and the inventory the world was given for that
host.  A hypervisor outlives its compute service: a restarted service gets
the same one back, with the guests it runs, as Nova's own
``restart_compute_service(keep_hypervisor_state=True)`` does.

A :class:`Gate` is a stall point: it wraps one driver method of one host so
that a call stops there (the thread that made it waits) until the harness
opens the gate - as Nova's own regression tests stall an operation by
blocking a driver call.  When the gate opens, the call goes on (``go``),
fails as the hypervisor would fail (``fail``: the method raises), does what
the hypervisor does instead (``instead``: e.g. a live migration that calls
Nova back to roll itself back), or never returns because its service died
(``kill``: a :class:`ServiceKilled`, a ``BaseException`` that no ``except
Exception`` handler of Nova's catches).  A gate made with ``auto`` does not
stop its call: the call meets that outcome at once.
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Callable

import fixtures


@dataclasses.dataclass(frozen=True)
class Inventory:
    """What a host's fake virt driver reports."""
    vcpus: int = 16
    memory_mb: int = 32768
    local_gb: int = 400


class ServiceKilled(BaseException):
    """The compute service a stalled driver call ran in has died: the call
    never returns to Nova (no ``except Exception`` handler sees it)."""


# Threads whose service died (a gate killed the call they were in).  The
# exception unwinds the thread, so Nova's locks are released, but what the
# unwinding would do at a boundary (a ``with`` block's exit writing the
# database, a ``finally`` calling Placement or casting) a dead process
# never does: every boundary raises ServiceKilled again in such a thread
# (:func:`check_alive`), and the world forgets the thread once its work
# has ended (:func:`buried`).
_DEAD: set[int] = set()


def check_alive(what: str) -> None:
    """Raise :class:`ServiceKilled` when the calling thread's service has
    died: its process can no longer reach ``what``."""
    if _DEAD and threading.get_ident() in _DEAD:
        raise ServiceKilled("the compute service died: its process no "
                            "longer reaches %s" % what)


def buried() -> None:
    """The calling thread's work has ended (after a kill): it is nobody's
    process any more."""
    _DEAD.discard(threading.get_ident())


def _before_execute(conn, clauseelement, multiparams, params,
                    execution_options):
    check_alive("the database")


def watch_database_boundary() -> None:
    """Every SQLAlchemy engine refuses statements from a dead service's
    thread (idempotent).  The statement is refused before it is compiled,
    outside SQLAlchemy's error handling, so the connection stays valid;
    the session's clean-up rolls its transaction back, as the server does
    when a client's connection dies."""
    from sqlalchemy import engine, event
    if not event.contains(engine.Engine, "before_execute", _before_execute):
        event.listen(engine.Engine, "before_execute", _before_execute)


def hypervisor_class():
    """``FakeHypervisor``: Nova's FakeDriver with a configured node and
    inventory (built on first use: Nova is imported lazily)."""
    global _CLASS
    if _CLASS is None:
        from nova.virt import fake

        class FakeHypervisor(fake.FakeDriver):
            """Nova's fake driver for one host of a world."""

            def __init__(self, virtapi, nodename: str,
                         inventory: Inventory):
                super().__init__(virtapi)
                self.nodename = nodename
                self.set_inventory(inventory)

            def init_host(self, host):
                # A restarted compute finds the hypervisor as it was: the
                # nodes it reports (maybe none) are not reset.
                nodes = self._nodes
                super().init_host(host)
                self._set_nodes([self.nodename] if nodes is None
                                else nodes)

            def set_inventory(self, inventory: Inventory):
                self.inventory = inventory
                self.vcpus = inventory.vcpus
                self.memory_mb = inventory.memory_mb
                self.local_gb = inventory.local_gb
                self.resources.vcpus = inventory.vcpus
                self.resources.memory_mb = inventory.memory_mb
                self.resources.local_gb = inventory.local_gb

        _CLASS = FakeHypervisor
    return _CLASS


_CLASS = None


class Hypervisors(fixtures.Fixture):
    """Hand each compute service the hypervisor of its host."""

    def __init__(self):
        super().__init__()
        self.by_host: dict[str, object] = {}
        self.wanted: dict[str, tuple[str, Inventory]] = {}

    def configure(self, host: str, nodename: str, inventory: Inventory):
        """What ``host``'s hypervisor reports when its service first
        starts."""
        self.wanted[host] = (nodename, inventory)

    def _setUp(self):
        from nova import conf
        CONF = conf.CONF

        def load_compute_driver(virtapi, compute_driver=None):
            host = CONF.host
            drv = self.by_host.get(host)
            if drv is None:
                nodename, inventory = self.wanted.get(
                    host, (host, Inventory()))
                drv = hypervisor_class()(virtapi, nodename, inventory)
                self.by_host[host] = drv
            else:
                # A restarted service: the same hypervisor, the new
                # manager's virt API.
                drv.virtapi = virtapi
            return drv

        self.useFixture(fixtures.MonkeyPatch(
            "nova.virt.driver.load_compute_driver", load_compute_driver))


class Gate:
    """A stall point in one driver method of one host.

    ``when(*args, **kwargs)`` chooses the calls that stop (default: the
    first call).  :attr:`arrived` is set when a call has stopped; the
    harness then :meth:`open`\\ s it with an outcome: ``go`` (the call goes
    on), ``fail`` (the method raises ``exc``, as the hypervisor failing),
    ``kill`` (the call dies with its service).
    """

    OUTCOMES = ("go", "fail", "kill", "instead")

    def __init__(self, driver, method: str, when: Callable | None = None,
                 label: str = "", auto: str | None = None,
                 exc: BaseException | None = None,
                 instead: Callable | None = None):
        self.driver = driver
        self.method = method
        self.when = when
        self.label = label or method
        self.arrived = threading.Event()
        self._opened = threading.Event()
        self.outcome = "go"
        self.exc: BaseException | None = exc
        self.instead = instead
        # ``auto``: the matching call does not stop; it meets ``auto`` at
        # once (a hypervisor that fails a call: no thread waits).
        self.auto = auto
        if auto is not None and auto not in self.OUTCOMES:
            raise ValueError("gate outcome %r: expected one of %s"
                             % (auto, ", ".join(self.OUTCOMES)))
        self.args = None
        self.passed = 0
        self._real = getattr(driver, method)
        self._own = driver.__dict__.get(method)
        self._spent = False
        setattr(driver, method, self._wrapper)

    def _wrapper(self, *args, **kwargs):
        stop = not self._spent and (self.when is None
                                    or self.when(*args, **kwargs))
        if stop:
            self._spent = True
            self.args = (args, kwargs)
            if self.auto is not None:
                self.outcome = self.auto
                self.remove()
            else:
                self.arrived.set()
                self._opened.wait()
            if self.outcome == "instead":
                return self.instead(*args, **kwargs)
            if self.outcome == "kill":
                _DEAD.add(threading.get_ident())
                raise ServiceKilled("the compute service died in %s"
                                    % self.label)
            if self.outcome == "fail":
                raise self.exc or RuntimeError(
                    "harness: the hypervisor failed %s" % self.label)
        self.passed += 1
        return self._real(*args, **kwargs)

    def open(self, outcome: str = "go", exc: BaseException | None = None,
             instead: Callable | None = None):
        if outcome not in self.OUTCOMES:
            raise ValueError("gate outcome %r: expected one of %s"
                             % (outcome, ", ".join(self.OUTCOMES)))
        self.outcome = outcome
        self.exc = exc or self.exc
        self.instead = instead or self.instead
        self.remove()
        self._opened.set()

    def remove(self):
        """Put the driver method back (calls after this one go through)."""
        if self.driver.__dict__.get(self.method) is self._wrapper:
            if self._own is None:
                del self.driver.__dict__[self.method]
            else:
                setattr(self.driver, self.method, self._own)
