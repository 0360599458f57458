"""Rendering verdicts: the terminal table and the JSON document."""
from __future__ import annotations

import json
import os
import tempfile
import time

from harness.verdict import Verdict, combine

JSON_SCHEMA_VERSION = 1


def write_json_atomic(path: str, doc) -> None:
    """Write JSON to a temp file in the same directory, then rename."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, sort_keys=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def claim_rows(catalogue, outcomes: dict) -> list[dict]:
    """One row per catalogued claim: its combined verdict and scenarios."""
    by_claim: dict[str, list] = {cid: [] for cid in catalogue.claims}
    for o in outcomes.values():
        for cid in o.claims:
            by_claim.setdefault(cid, []).append(o)
    rows = []
    for cid, claim in catalogue.claims.items():
        outs = by_claim.get(cid, [])
        verdict = combine([o.verdict for o in outs])
        rows.append({"claim": cid, "title": claim.title, "cwe": claim.cwe,
                     "report": claim.report_file, "number": claim.number,
                     "verdict": verdict.value,
                     "scenarios": sorted(o.scenario for o in outs),
                     "summary": _claim_summary(verdict, outs)})
    return rows


def _claim_summary(verdict, outs) -> str:
    if verdict is Verdict.NOT_JUDGED:
        return "not yet judged: no scenario for this claim has run"
    deciding = [o for o in outs if o.verdict is verdict] or outs
    return deciding[0].summary


def verdicts_document(catalogue, outcomes: dict, baseline: dict) -> dict:
    from harness import novaenv
    try:
        nova = novaenv.version_info()
    except Exception as exc:  # noqa: BLE001 - recorded, not fatal
        nova = {"error": str(exc)}
    return {
        "schema": JSON_SCHEMA_VERSION,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nova": nova,
        "claims": claim_rows(catalogue, outcomes),
        "scenarios": [dict(o.as_dict(), baseline=baseline.get(n))
                      for n, o in sorted(outcomes.items())],
    }


def verdict_table(catalogue, outcomes: dict, baseline: dict,
                  width: int = 100) -> str:
    lines = []
    rows = claim_rows(catalogue, outcomes)
    lines.append("%-9s %-13s %s" % ("claim", "verdict", "evidence / reason"))
    lines.append("-" * width)
    for r in rows:
        summary = r["summary"]
        room = width - 24
        lines.append("%-9s %-13s %s" % (r["claim"], r["verdict"],
                                        _clip(summary, room)))
    lines.append("")
    lines.append("%-58s %-13s %-13s %s" % ("scenario", "verdict",
                                           "baseline", "trials"))
    lines.append("-" * width)
    for name, o in sorted(outcomes.items()):
        base = baseline.get(name, "-")
        mark = "" if base in ("-", o.verdict.value) else "  <-- DRIFT"
        lines.append("%-58s %-13s %-13s %d%s" % (
            _clip(name, 58), o.verdict.value, base, o.trials, mark))
    return "\n".join(lines)


def _clip(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"
