"""Accounting invariants: pure checks over a snapshot and the ledger.

Each check takes what was observed (a :class:`~harness.oracle.snapshot.Snapshot`,
audit results) and the :class:`~harness.oracle.ledger.Ledger`, and returns a list
of :class:`Violation` with the expected and the actual value.  None of them
calls Nova.  ``tests/test_invariants.py`` builds a known-bad state for each
and shows it is caught.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

USAGE_KEYS = ("vcpus_used", "memory_mb_used", "local_gb_used", "running_vms")


@dataclasses.dataclass
class Violation:
    invariant: str
    subject: str
    expected: Any
    actual: Any
    detail: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __str__(self):
        return "%s: %s: expected %r, got %r%s" % (
            self.invariant, self.subject, self.expected, self.actual,
            (" (%s)" % self.detail) if self.detail else "")


def _num_equal(a, b) -> bool:
    try:
        return abs(float(a) - float(b)) < 1e-9
    except (TypeError, ValueError):
        return a == b


def usage_matches_ledger(snap, ledger) -> list[Violation]:
    """Tracker memory and the compute_nodes row both show the ledger's usage."""
    out = []
    for node in ledger.nodes:
        view = snap.nodes.get(node)
        expected = ledger.expected_usage(node).as_dict()
        why = "; ".join(r for r, _ in ledger.holdings(node)) or "nothing held"
        for where in ("tracker", "db"):
            actual = getattr(view, where) if view else None
            if actual is None:
                out.append(Violation("usage_matches_ledger",
                                     "%s %s" % (where, node), expected, None,
                                     "no compute node"))
                continue
            for key in USAGE_KEYS:
                if not _num_equal(actual[key], expected[key]):
                    out.append(Violation(
                        "usage_matches_ledger",
                        "%s %s %s" % (where, node, key), expected[key],
                        actual[key], "ledger holds: %s" % why))
    return out


def usage_in_bounds(snap, ledger=None) -> list[Violation]:
    """No negative usage; free never above total (tracker, DB, placement)."""
    out = []
    for node, view in snap.nodes.items():
        for where in ("tracker", "db"):
            row = getattr(view, where)
            if not row:
                continue
            for key in USAGE_KEYS:
                if row[key] is not None and row[key] < 0:
                    out.append(Violation("usage_in_bounds",
                                         "%s %s %s" % (where, node, key),
                                         ">= 0", row[key]))
            for free, total in (("free_ram_mb", "memory_mb"),
                                ("free_disk_gb", "local_gb")):
                if (row[free] is not None and row[total] is not None
                        and row[free] > row[total]):
                    out.append(Violation("usage_in_bounds",
                                         "%s %s %s" % (where, node, free),
                                         "<= %s" % row[total], row[free],
                                         "free above total"))
    for name, usage in snap.usages.items():
        for rc, used in usage.items():
            if used < 0:
                out.append(Violation("usage_in_bounds",
                                     "placement %s %s" % (name, rc), ">= 0",
                                     used))
            inv = snap.inventories.get(name, {}).get(rc)
            if inv:
                cap = (inv["total"] - inv["reserved"]) * inv[
                    "allocation_ratio"]
                if used > cap:
                    out.append(Violation(
                        "usage_in_bounds", "placement %s %s" % (name, rc),
                        "<= %s" % cap, used, "usage above capacity"))
    return out


def allocations_match_ledger(snap, ledger) -> list[Violation]:
    """Every consumer holds exactly what the ledger says, where it says.

    Stronger than ``nova-manage placement audit``: amounts are compared,
    and a missing, orphaned or duplicated (on more providers than expected)
    allocation is named as such.
    """
    out = []
    names = ledger.consumer_names()
    expected = ledger.expected_allocations()
    actual = snap.allocations
    for consumer, per_node in expected.items():
        label = names.get(consumer, consumer)
        got = actual.get(consumer)
        if not got:
            out.append(Violation("allocations_match_ledger",
                                 "%s %s" % (label, consumer), per_node, None,
                                 "missing allocation"))
            continue
        extra_nodes = sorted(set(got) - set(per_node))
        if extra_nodes:
            out.append(Violation("allocations_match_ledger",
                                 "%s %s" % (label, consumer),
                                 sorted(per_node), sorted(got),
                                 "duplicated on %s" % ", ".join(extra_nodes)))
        for node, resources in per_node.items():
            if got.get(node) != resources:
                out.append(Violation("allocations_match_ledger",
                                     "%s on %s" % (label, node), resources,
                                     got.get(node), "wrong amounts"
                                     if got.get(node) else "missing on node"))
    for consumer in sorted(set(actual) - set(expected)):
        out.append(Violation("allocations_match_ledger",
                             "%s %s" % (names.get(consumer, "consumer"),
                                        consumer), None, actual[consumer],
                             "orphaned allocation"))
    return out


def placement_usage_matches_ledger(snap, ledger) -> list[Violation]:
    """Each compute provider's usages equal the ledger's allocations."""
    out = []
    for node in ledger.nodes:
        expected = ledger.expected_placement_usage(node)
        got = {rc: v for rc, v in snap.usages.get(node, {}).items() if v}
        if got != expected:
            out.append(Violation("placement_usage_matches_ledger",
                                 "placement %s" % node, expected, got))
    return out


def inventory_matches_driver(snap, ledger) -> list[Violation]:
    """Placement inventory is what the driver reports (and config reserves)."""
    out = []
    for node in ledger.nodes:
        expected = ledger.expected_inventory(node)
        got = snap.inventories.get(node)
        if got is None:
            out.append(Violation("inventory_matches_driver",
                                 "placement %s" % node, expected, None,
                                 "no resource provider"))
            continue
        for rc, want in expected.items():
            have = got.get(rc)
            if have is None:
                out.append(Violation("inventory_matches_driver",
                                     "placement %s %s" % (node, rc), want,
                                     None, "inventory missing"))
                continue
            for key, value in want.items():
                if not _num_equal(have.get(key), value):
                    out.append(Violation(
                        "inventory_matches_driver",
                        "placement %s %s %s" % (node, rc, key), value,
                        have.get(key)))
        view = snap.nodes.get(node)
        spec = ledger.nodes[node]
        if view and view.db:
            for key in ("vcpus", "memory_mb", "local_gb"):
                if not _num_equal(view.db[key], getattr(spec, key)):
                    out.append(Violation("inventory_matches_driver",
                                         "db %s %s" % (node, key),
                                         getattr(spec, key), view.db[key]))
    return out


def audit_completed(audits, after=None) -> list[Violation]:
    """No exception escaped the audit and each audited DB row was refreshed.

    ``audits`` are :class:`~harness.world.deployment.AuditResult`.  The tracker writes
    the ``compute_nodes`` row only when something changed, so "refreshed"
    means: after the audit the row carries what the tracker computed
    (``after`` is a snapshot taken right after the audits).
    """
    out = []
    for a in audits:
        if a.error is not None:
            out.append(Violation("audit_completed", "%s audit of %s"
                                 % (a.via, a.host), "no exception",
                                 "%s: %s" % (type(a.error).__name__,
                                             a.error)))
    if after is not None:
        for host in sorted({a.host for a in audits}):
            view = after.nodes.get(host)
            if not view or view.tracker is None or view.db is None:
                continue
            for key in USAGE_KEYS + ("free_ram_mb", "free_disk_gb"):
                if not _num_equal(view.tracker[key], view.db[key]):
                    out.append(Violation(
                        "audit_completed", "compute_nodes row of %s %s"
                        % (host, key), view.tracker[key], view.db[key],
                        "row not refreshed with the audited value"))
    return out


def service_logged_errors(records) -> list[Violation]:
    """The compute service's audit logged an error or exception.

    When the tracker raises inside ``ComputeManager.update_available_resource``
    the manager logs and carries on: the exception is swallowed.  ``records``
    are captured log records of that audit.
    """
    out = []
    for rec in records:
        if rec.name.startswith("nova.compute.manager") and rec.levelno >= 40:
            out.append(Violation("audit_completed",
                                 "service audit (%s)" % rec.name,
                                 "no error logged", rec.getMessage()[:300],
                                 "exception swallowed by the service"))
    return out


ACCOUNTING: tuple[Callable, ...] = (
    usage_matches_ledger, usage_in_bounds, allocations_match_ledger,
    placement_usage_matches_ledger, inventory_matches_driver)


def check_all(snap, ledger) -> list[Violation]:
    """Every accounting invariant over one snapshot."""
    out = []
    for check in ACCOUNTING:
        out.extend(check(snap, ledger))
    return out
