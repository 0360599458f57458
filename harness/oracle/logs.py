"""Capture every log record of every logger while a trial runs."""
from __future__ import annotations

import logging

import fixtures


class CaptureHandler(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


class LogCapture(fixtures.Fixture):
    """Attach a handler to the root logger at DEBUG; restore on cleanup."""

    def __init__(self, level=logging.DEBUG):
        super().__init__()
        self.level = level
        self.handler = CaptureHandler()

    def _setUp(self):
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(self.handler)
        root.setLevel(self.level)
        self.addCleanup(root.setLevel, old_level)
        self.addCleanup(root.removeHandler, self.handler)

    @property
    def records(self) -> list[logging.LogRecord]:
        return self.handler.records

    def mark(self) -> int:
        """A position to slice records from later."""
        return len(self.handler.records)

    def since(self, mark: int) -> list[logging.LogRecord]:
        return self.handler.records[mark:]


def render(record: logging.LogRecord) -> str:
    try:
        msg = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format is still evidence
        msg = "%s %r" % (record.msg, record.args)
    return "%s %s: %s" % (record.levelname, record.name, msg)


def relevant(records, words=(), min_level=logging.WARNING, limit=20):
    """Lines worth showing as evidence: warnings and errors, or any record
    that mentions one of ``words`` (instance or migration uuids)."""
    out = []
    for rec in records:
        line = render(rec)
        if rec.levelno >= min_level or any(w and w in line for w in words):
            out.append(line[:500])
    return out[-limit:]
