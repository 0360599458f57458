"""The checked-in baseline: the verdicts last observed and accepted.

``scenarios/baseline.json`` maps scenario names to verdicts.  It is a
recording (``--record-baseline``), never hand-computed; a nightly run fails
when an observed verdict differs from it.
"""
from __future__ import annotations

import json
import os

from harness.files import write_json_atomic
from harness.verdicts.verdict import Verdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEFAULT_PATH = os.path.join(ROOT, "scenarios", "baseline.json")
SCHEMA = 1


class BaselineError(ValueError):
    """The baseline file cannot be used; the message says how to mend it."""


def load(path: str = DEFAULT_PATH) -> dict[str, str]:
    where = os.path.relpath(path)
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as exc:
        raise BaselineError(
            "baseline %s is not valid JSON (%s); restore it with 'git "
            "checkout -- %s' or re-record it with --record-baseline"
            % (where, str(exc).split("\n")[0], where)) from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or \
            not isinstance(doc.get("verdicts"), dict):
        raise BaselineError(
            "baseline %s lacks schema %d and a 'verdicts' mapping; restore "
            "it from git or re-record it with --record-baseline"
            % (where, SCHEMA))
    known = {v.value for v in Verdict}
    for name, verdict in doc["verdicts"].items():
        if verdict not in known:
            raise BaselineError(
                "baseline %s: scenario %s has unknown verdict %r (use one "
                "of %s)" % (where, name, verdict, ", ".join(sorted(known))))
    return dict(doc["verdicts"])


def record(path: str, verdicts: dict[str, str]) -> None:
    """Merge ``verdicts`` into the baseline at ``path`` (atomically)."""
    try:
        current = load(path)
    except BaselineError:
        current = {}
    current.update(verdicts)
    write_json_atomic(path, {"schema": SCHEMA, "verdicts": dict(
        sorted(current.items()))})
