"""Comparing runs on two database engines (harness.world.engines).

A run on MariaDB or PostgreSQL lists in each verdict's fault space the
variants the engine refused ("<variant> (refused by engine: not admitted by
MariaDB 10.11: ...)") and those it coerced ("<variant> (coerced by MariaDB
10.11: ...)").  Given a run on one engine (usually sqlite) and a run on
another, :func:`compare` says for every scenario on which engines its
confirming variants hold, and whether a verdict that differs is explained
by the engines:

* CONFIRMED on A, not on B, and every variant that confirmed it on A was
  refused by B's engine: the finding holds only on A's engine;
* CONFIRMED on B, not on A, and every variant that confirmed it on B was
  coerced by B's engine: the finding exists only through B's coercion.

Anything else that differs is unexplained drift.
"""
from __future__ import annotations

import re

_REFUSED = re.compile(r"^(?P<trial>.*?) \(refused by engine: (?P<why>.*)\)$")
_COERCED = re.compile(r"^(?P<trial>.*?) \((?P<why>coerced by [^)]*)\)")
_BROKE = re.compile(r"^(?P<n>\d+) of \d+ variants")


def engine_of(doc: dict) -> str:
    nova = doc.get("nova") or {}
    return nova.get("db_server") or {"mysql": "MariaDB", "postgresql":
                                     "PostgreSQL"}.get(nova.get("db"),
                                                       "SQLite")


def refused(entry: dict) -> dict:
    """variant -> the engine's reason, for every refused variant."""
    out = {}
    for item in entry.get("fault_space") or []:
        m = _REFUSED.match(item)
        if m:
            out[m.group("trial")] = m.group("why")
    return out


def coerced(entry: dict) -> dict:
    out = {}
    for item in entry.get("fault_space") or []:
        m = _COERCED.match(item)
        if m and "(refused by engine:" not in item:
            out[m.group("trial")] = m.group("why")
    return out


def confirming(entry: dict) -> tuple[set, bool]:
    """The variants that confirmed a scenario (from its evidence), and
    whether that is all of them (the summary's "N of M variants")."""
    names = {e.get("variant") for e in entry.get("evidence") or []
             if e.get("variant")}
    m = _BROKE.match(entry.get("summary") or "")
    complete = bool(m) and int(m.group("n")) == len(names)
    return names, complete


def compare(doc_a: dict, doc_b: dict) -> list[dict]:
    """One row per scenario both runs judged: verdicts, engines, confirming
    variants refused or coerced, and ``status``: ``same``, ``explained``
    (with ``why``) or ``unexplained``."""
    ea, eb = engine_of(doc_a), engine_of(doc_b)
    va = {s["scenario"]: s for s in doc_a.get("scenarios", [])}
    vb = {s["scenario"]: s for s in doc_b.get("scenarios", [])}
    rows = []
    for name in sorted(set(va) & set(vb)):
        a, b = va[name], vb[name]
        conf_a, all_a = confirming(a) if a["verdict"] == "CONFIRMED" \
            else (set(), True)
        conf_b, all_b = confirming(b) if b["verdict"] == "CONFIRMED" \
            else (set(), True)
        ref_b = refused(b)
        coer_b = coerced(b)
        row = {"scenario": name, "old": a["verdict"], "new": b["verdict"],
               "engine_a": ea, "engine_b": eb,
               "confirming_a": sorted(conf_a),
               "confirming_a_refused_by_b": sorted(conf_a & set(ref_b)),
               "confirming_b_coerced": sorted(conf_b & set(coer_b)),
               "refused_by_b": len(ref_b), "coerced_by_b": len(coer_b),
               "status": "same", "why": ""}
        if a["verdict"] != b["verdict"]:
            row["status"] = "unexplained"
            if a["verdict"] == "CONFIRMED" and conf_a and all_a and \
                    conf_a <= set(ref_b):
                row["status"] = "explained"
                row["why"] = ("every variant that confirmed it on %s is "
                              "refused by %s (e.g. %s: %s): the finding "
                              "holds only on %s" % (
                                  ea, eb, sorted(conf_a)[0],
                                  ref_b[sorted(conf_a)[0]], ea))
            elif b["verdict"] == "CONFIRMED" and conf_b and all_b and \
                    conf_b <= set(coer_b):
                row["status"] = "explained"
                row["why"] = ("every variant that confirmed it on %s was "
                              "coerced by it (e.g. %s: %s): the finding "
                              "exists only through %s's coercion" % (
                                  eb, sorted(conf_b)[0],
                                  coer_b[sorted(conf_b)[0]], eb))
        rows.append(row)
    return rows


def lines(rows: list[dict]) -> list[str]:
    """What a reader needs: every difference, and where a finding's
    confirming variants do not all hold on the other engine."""
    out = []
    for r in rows:
        if r["status"] == "explained":
            out.append("EXPLAINED scenario %s: %s %s -> %s %s: %s" % (
                r["scenario"], r["engine_a"], r["old"], r["engine_b"],
                r["new"], r["why"]))
        elif r["status"] == "unexplained":
            out.append("DRIFT scenario %s: %s %s -> %s %s" % (
                r["scenario"], r["engine_a"], r["old"], r["engine_b"],
                r["new"]))
        elif r["confirming_a_refused_by_b"]:
            out.append("ENGINE scenario %s: CONFIRMED on both; %d of its "
                       "confirming variants on %s are refused by %s (%s)"
                       % (r["scenario"], len(r["confirming_a_refused_by_b"]),
                          r["engine_a"], r["engine_b"],
                          ", ".join(r["confirming_a_refused_by_b"][:3])))
    return out
