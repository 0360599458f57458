"""Faults at the virt driver, the host monitors and the clock.

* :class:`DriverRaises` makes one method of one host's fake virt driver raise
  (``get_available_resource``, ``update_provider_tree``, ...); only that
  driver instance is patched, the class and the other hosts are untouched.
* :class:`BogusInventory` makes one host's driver report resources the
  ledger does not know of; the ledger keeps the truth, so the invariants
  compare what Nova did with the report against what the host really has.
* :class:`NodeUnreported` makes one host's driver leave its node out of
  the nodes it reports (the node and its instances stay as they are).
* :class:`MonitorRaises` and :class:`MonitorBogus` add a host-metrics monitor
  to the host's tracker (``ResourceTracker.monitors``, the list
  ``_get_host_metrics`` walks on every audit) that fails or reports
  nonsense.
* :class:`ClockSkew` moves the clock Nova reads through
  ``oslo_utils.timeutils`` (frozen at the skewed instant while active).

Every fault undoes itself on ``cleanUp`` and counts in ``fired`` how often it
acted.
"""
from __future__ import annotations

import datetime
from typing import Callable

from harness.faults import base
from harness.faults.base import Fault

_MISSING = object()


def _exception_factory(exc, default_message: str
                       ) -> Callable[[], BaseException]:
    """Accept an exception class, instance or zero-argument factory."""
    if exc is None:
        return lambda: RuntimeError(default_message)
    if isinstance(exc, BaseException):
        return lambda: exc
    if isinstance(exc, type) and issubclass(exc, BaseException):
        return lambda: exc(default_message)
    if callable(exc):
        return exc
    raise TypeError("exc must be an exception class, instance or factory, "
                    "not %r" % (exc,))


def _exc_label(factory) -> str:
    try:
        e = factory()
    except Exception as err:  # noqa: BLE001 - only for the description
        return "<factory failed: %r>" % err
    return "%s(%r)" % (type(e).__name__, str(e))


class _HostFault(Fault):
    def __init__(self, world, host: str):
        super().__init__(world)
        known = list(world.hosts) or list(getattr(world, "host_names", ()))
        if host not in known:
            raise ValueError("unknown host %r (hosts: %s)"
                             % (host, ", ".join(known)))
        self.host = host
        self.fired = 0

    @property
    def _host(self):
        return self.world.hosts[self.host]


class DriverRaises(_HostFault):
    """``host``'s driver raises from ``method`` while the fault is active.

    ``exc``: an exception class, instance, or a zero-argument factory
    (default ``RuntimeError``).  ``schedule``: optional
    :class:`~harness.world.placement.Schedule` over the calls of the method
    (default: every call raises); calls it spares reach the real method.
    """
    authority = base.INFRASTRUCTURE
    reach = "a virt driver error"

    def __init__(self, world, host: str,
                 method: str = "get_available_resource", exc=None,
                 schedule=None):
        super().__init__(world, host)
        self.method = method
        self.exc_factory = _exception_factory(
            exc, "harness: %s.driver.%s failed" % (host, method))
        self.schedule = schedule
        self.calls = 0

    def describe(self):
        return "driver of %s: %s raises %s%s" % (
            self.host, self.method, _exc_label(self.exc_factory),
            ", %s" % self.schedule.describe() if self.schedule else "")

    def inject(self):
        driver = self._host.driver
        real = getattr(driver, self.method)  # AttributeError: a typo
        if not callable(real):
            raise TypeError("driver.%s is not a method" % self.method)
        own = driver.__dict__.get(self.method, _MISSING)

        def broken(*args, **kwargs):
            self.calls += 1
            if self.schedule is None or self.schedule.fires(self.calls):
                self.fired += 1
                self.world.trace.step("fault", "driver", host=self.host,
                                      method=self.method, call=self.calls)
                raise self.exc_factory()
            return real(*args, **kwargs)

        setattr(driver, self.method, broken)
        self.addCleanup(self._restore, driver, own)

    def _restore(self, driver, own):
        if own is _MISSING:
            driver.__dict__.pop(self.method, None)
        else:
            setattr(driver, self.method, own)


class BogusInventory(_HostFault):
    """``host``'s driver reports ``vcpus``/``memory_mb``/``local_gb`` the
    ledger does not know (only the values given change).  The driver's
    previous values come back on cleanup."""
    authority = base.INADMISSIBLE
    reach = "a virt driver's report"

    FIELDS = ("vcpus", "memory_mb", "local_gb")

    def __init__(self, world, host: str, vcpus=None, memory_mb=None,
                 local_gb=None):
        super().__init__(world, host)
        self.values = {k: v for k, v in (("vcpus", vcpus),
                                         ("memory_mb", memory_mb),
                                         ("local_gb", local_gb))
                       if v is not None}
        if not self.values:
            raise ValueError("BogusInventory needs at least one of "
                             "vcpus, memory_mb, local_gb")

    def describe(self):
        return "driver of %s reports %s" % (self.host, ", ".join(
            "%s=%r" % kv for kv in sorted(self.values.items())))

    def _apply(self, driver, values):
        for key, value in values.items():
            setattr(driver, key, value)
            setattr(driver.resources, key, value)

    def inject(self):
        driver = self._host.driver
        original = {k: getattr(driver, k) for k in self.values}
        original_res = {k: getattr(driver.resources, k) for k in self.values}
        self._apply(driver, self.values)
        self.fired += 1
        self.addCleanup(self._restore, driver, original, original_res)

    def _restore(self, driver, original, original_res):
        for key in original:
            setattr(driver, key, original[key])
            setattr(driver.resources, key, original_res[key])


class NodeUnreported(_HostFault):
    """``host``'s driver leaves its node out of ``get_available_nodes``
    (and ``get_nodenames_by_uuid``) while the fault is active, as the
    ironic driver does after a hash-ring rebalance or a partial node
    listing; the node, its instances and its inventory are untouched, and
    it is reported again on cleanup.  The compute manager's audit then
    finds the node's record in the database with no node to match it."""
    authority = base.INFRASTRUCTURE
    reach = ("a virt driver that briefly omits a node it manages (an "
             "ironic hash-ring rebalance, a partial node listing)")

    METHODS = ("get_available_nodes", "get_nodenames_by_uuid")

    def describe(self):
        return "driver of %s does not report its node %s" % (
            self.host, self._host.nodename)

    def inject(self):
        driver = self._host.driver
        node = self._host.nodename
        for method in self.METHODS:
            real = getattr(driver, method, None)
            if real is None:
                continue
            own = driver.__dict__.get(method, _MISSING)
            setattr(driver, method, self._without(real, node, method))
            self.addCleanup(self._restore, driver, method, own)

    def _without(self, real, node, method):
        def reported(*args, **kwargs):
            found = real(*args, **kwargs)
            if isinstance(found, dict):
                kept = {k: v for k, v in found.items() if v != node}
            else:
                kept = [n for n in found if n != node]
            if len(kept) != len(found):
                self.fired += 1
                self.world.trace.step("fault", "driver", host=self.host,
                                      method=method, omitted=node)
            return kept
        return reported

    @staticmethod
    def _restore(driver, method, own):
        if own is _MISSING:
            driver.__dict__.pop(method, None)
        else:
            setattr(driver, method, own)


class _Monitor:
    """A host-metrics monitor in the shape of
    ``nova.compute.monitors.base.MonitorBase``."""

    def __init__(self, fault):
        self.fault = fault
        self.source = "harness.%s" % type(fault).__name__

    def __str__(self):
        return self.source

    __repr__ = __str__

    def get_metric_names(self):
        from nova.objects import fields
        return set(fields.MonitorMetricType.ALL)

    def populate_metrics(self, metric_list):  # pragma: no cover
        raise NotImplementedError


class _RaisingMonitor(_Monitor):
    def populate_metrics(self, metric_list):
        self.fault.fired += 1
        self.fault.world.trace.step("fault", "monitor",
                                    host=self.fault.host, action="raise")
        raise self.fault.exc_factory()


class _BogusMonitor(_Monitor):
    def populate_metrics(self, metric_list):
        from nova import objects
        from oslo_utils import timeutils
        self.fault.fired += 1
        now = timeutils.utcnow()
        for name, value in sorted(self.fault.metrics.items()):
            metric_list.objects.append(objects.MonitorMetric(
                name=name, value=value, timestamp=now, source=self.source))
        self.fault.world.trace.step("fault", "monitor",
                                    host=self.fault.host, action="bogus",
                                    metrics=self.fault.metrics)


class _MonitorFault(_HostFault):
    monitor_class = _Monitor

    def inject(self):
        monitors = self._host.rt.monitors
        self.monitor = self.monitor_class(self)
        monitors.append(self.monitor)
        self.addCleanup(self._remove, monitors, self.monitor)

    @staticmethod
    def _remove(monitors, monitor):
        if monitor in monitors:
            monitors.remove(monitor)


class MonitorRaises(_MonitorFault):
    """A monitor on ``host`` whose ``populate_metrics`` raises ``exc``
    (class, instance or factory; default ``RuntimeError``)."""
    authority = base.INFRASTRUCTURE
    reach = "a failing monitor plugin"

    monitor_class = _RaisingMonitor

    def __init__(self, world, host: str, exc=None):
        super().__init__(world, host)
        self.exc_factory = _exception_factory(
            exc, "harness: monitor on %s failed" % host)

    def describe(self):
        return "monitor on %s raises %s from populate_metrics" % (
            self.host, _exc_label(self.exc_factory))


class MonitorBogus(_MonitorFault):
    """A monitor on ``host`` that reports nonsense metrics (metric name ->
    integer value; percentages in hundredths, as Nova stores them)."""
    authority = base.INADMISSIBLE
    reach = "a monitor plugin's report"

    monitor_class = _BogusMonitor
    DEFAULT = {"cpu.percent": -12345, "cpu.frequency": -1,
               "cpu.user.time": 2 ** 62, "cpu.idle.percent": 99999}

    def __init__(self, world, host: str, metrics: dict | None = None):
        super().__init__(world, host)
        self.metrics = dict(metrics if metrics is not None else self.DEFAULT)

    def describe(self):
        return "monitor on %s reports %s" % (self.host, ", ".join(
            "%s=%r" % kv for kv in sorted(self.metrics.items())))


def _time_overridden() -> bool:
    """Is oslo_utils' clock already overridden (by a test or a fault)?"""
    from oslo_utils import timeutils
    if hasattr(timeutils, "_override_time"):        # oslo.utils >= 7
        return timeutils._override_time is not None
    return getattr(timeutils.utcnow, "override_time", None) is not None


class ClockSkew(Fault):
    """The clock Nova reads through ``oslo_utils.timeutils`` is ``offset``
    (a ``timedelta`` or seconds, may be negative) away from the real time,
    and frozen there while the fault is active."""
    authority = base.TIMING
    reach = "a host clock change"

    def __init__(self, world, offset):
        super().__init__(world)
        if not isinstance(offset, datetime.timedelta):
            offset = datetime.timedelta(seconds=offset)
        self.offset = offset
        self.fired = 0

    def describe(self):
        return "clock skewed by %+.0fs (frozen)" % self.offset.total_seconds()

    def inject(self):
        from oslo_utils import timeutils
        if _time_overridden():
            raise RuntimeError("the clock is already overridden")
        timeutils.set_time_override(timeutils.utcnow() + self.offset)
        self.fired += 1
        self.addCleanup(timeutils.clear_time_override)
