"""The conductor invariants over one operation, read from the world now.

:func:`conductor_checks` reads what the operation's consumers hold in
Placement and its migrations' statuses (as an observer, never through the
code being judged) and applies the pure checks of
:mod:`harness.oracle.conductor_invariants` to them.  Also here: the ledger
for instances whose disk a sharing provider holds
(:class:`ShareAwareLedger`, claim 002-4) and the log capture that keeps
each record's text as oslo.log would write it (:func:`scan_capture`,
claim 002-1).
"""
from __future__ import annotations

import logging
import traceback

from harness.oracle import conductor_invariants as ci
from harness.oracle.ledger import Ledger
from harness.oracle.logs import LogCapture, render
from harness.world.conductor import allocations


def consumer_allocations(world, consumers) -> dict:
    """{consumer: {provider name: resources}} for each consumer (observer);
    a consumer with nothing allocated maps to {}."""
    return allocations(world, consumers)


def migration_status(world, uuid):
    """The migration record's status now (None for no migration)."""
    from nova import objects
    if uuid is None:
        return None
    return objects.Migration.get_by_uuid(world.ctx, uuid).status


def conductor_checks(world, op, stage: str, states: bool = True) -> list:
    """The conductor invariants over ``op``'s consumers (a
    :class:`harness.verdicts.conductor.JudgedOp`), now.

    ``states=False`` leaves out the before/after comparison (once the
    workload has carried on past the operation, e.g. confirmed the move,
    the accounting invariants against the ledger judge the state)."""
    actual = consumer_allocations(world, list(op.names))
    # re-read migration statuses (an audit or the workload may move them)
    migrations = {u: (label, migration_status(world, u))
                  for u, (label, _st) in op.migrations.items()}
    covering = {i: m for i, m in op.covering.items()
                if migrations.get(m, ("", None))[1] not in ci.ENDED}
    out = []
    if states:
        out += ci.allocations_before_or_after(actual, op.states, op.names)
    out += ci.instances_hold_allocations(actual, op.instances, covering)
    out += ci.errored_migrations_hold_nothing(actual, migrations)
    if stage == "under_fault":
        out += ci.failure_reported(ci.classify(actual, op.states),
                                   op.success, op.reported, op.caller_saw,
                                   op.subject)
    return out


class ShareAwareLedger(Ledger):
    """The ledger, for instances whose disk a sharing provider holds.

    ``shared_disk`` maps instance name -> sharing provider name.  For those
    instances every allocation the ledger expects (instance and migration
    consumers alike) carries its DISK_GB on the sharing provider instead of
    the compute node; the tracker's own usage is unchanged (it counts the
    flavor's disk whatever backs it).
    """

    def __init__(self, reserved):
        super().__init__(reserved)
        self.shared_disk: dict[str, str] = {}

    def expected_allocations(self):
        allocs = super().expected_allocations()
        by_uuid = {}
        for rec in self.live_instances():
            share = self.shared_disk.get(rec.name)
            if not share:
                continue
            by_uuid[rec.uuid] = share
            move = self.moves.get(rec.name)
            if move and move.migration_uuid:
                by_uuid[move.migration_uuid] = share
        for consumer, share in by_uuid.items():
            per_node = allocs.get(consumer)
            if not per_node:
                continue
            new = {}
            for node, res in per_node.items():
                res = dict(res)
                disk = res.pop("DISK_GB", 0)
                if res:
                    new[node] = res
                if disk:
                    shared = new.setdefault(share, {})
                    shared["DISK_GB"] = shared.get("DISK_GB", 0) + disk
            allocs[consumer] = new
        return allocs


# ----------------------------------------------------------------------
# log capture for the secret scan
# ----------------------------------------------------------------------
class _ScanHandler(logging.Handler):
    """Keeps every record, and the text it would put in a log file."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.lines: list[tuple] = []    # (levelno, levelname, logger, text)
        self._formatter = None

    def _oslo_text(self, record):
        try:
            if self._formatter is None:
                from nova import conf as nova_conf
                from oslo_log import formatters
                self._formatter = formatters.ContextFormatter(
                    config=nova_conf.CONF)
            return self._formatter.format(record)
        except Exception:  # noqa: BLE001 - options not registered yet
            return ""

    def emit(self, record):
        self.records.append(record)
        text = render(record)
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(
                *record.exc_info))
        oslo = self._oslo_text(record)
        if oslo:
            text += "\n" + oslo
        self.lines.append((record.levelno, record.levelname, record.name,
                           text))


def scan_capture() -> LogCapture:
    """A :class:`harness.oracle.logs.LogCapture` whose handler also keeps
    each record's text as oslo.log's ContextFormatter would write it (with
    the exception, if any)."""
    cap = LogCapture(level=logging.DEBUG)
    cap.handler = _ScanHandler()
    return cap
