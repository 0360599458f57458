"""Rendering verdicts: the terminal table, the JSON document, Markdown,
and comparing verdicts (drift against the baseline or another run).

The JSON document is described in ``docs/verdicts-schema.md`` (and
``docs/verdicts.schema.json``).  Everything here that takes a ``doc`` works
from a stored document alone, so a run can be re-rendered without Nova.
"""
from __future__ import annotations

import json
import os
import tempfile
import time

from harness.verdicts.verdict import Verdict, combine

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
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; records are shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def claim_rows(catalogue, outcomes: dict,
               skipped: dict | None = None) -> list[dict]:
    """One row per catalogued claim: its combined verdict and scenarios.

    ``skipped`` (scenario -> {claims, reason}) names scenarios that could not
    run here; a claim left NOT_JUDGED by them says why."""
    by_claim: dict[str, list] = {cid: [] for cid in catalogue.claims}
    for o in outcomes.values():
        for cid in o.claims:
            by_claim.setdefault(cid, []).append(o)
    rows = []
    near: dict[str, list[str]] = {}
    for f in getattr(catalogue, "findings", {}).values():
        if f.near:
            near.setdefault(f.near, []).append(f.id)
    for cid, claim in catalogue.claims.items():
        outs = by_claim.get(cid, [])
        verdict = combine([o.verdict for o in outs])
        row = {"claim": cid, "title": claim.title, "cwe": claim.cwe,
               "paraphrase": claim.paraphrase,
               "report": claim.report_file, "number": claim.number,
               "verdict": verdict.value,
               "scenarios": sorted(o.scenario for o in outs),
               "summary": _claim_summary(verdict, outs, [
                   info["reason"] for info in (skipped or {}).values()
                   if cid in info["claims"]]),
               "proposition": _proposition_of(claim),
               "findings": near.get(cid, [])}
        row.update(decided_by(verdict, outs))
        rows.append(row)
    return rows


def _proposition_of(entry) -> dict:
    from harness.verdicts.catalogue import proposition_dict
    return proposition_dict(getattr(entry, "proposition", {}) or {})


def decided_by(verdict, outs) -> dict:
    """What a claim's (or finding's) row says of cause, class, reach and
    severity: taken from the scenarios whose verdict is the headline."""
    deciding = [o for o in outs if o.verdict is verdict]
    classes: dict[str, int] = {}
    who, touches, lasts, stops = set(), set(), [], False
    for o in deciding:
        for k, n in (o.fault_classes or {}).items():
            classes[k] = classes.get(k, 0) + n
        r = o.reachability or {}
        who |= set(r.get("who", []))
        touches |= set(r.get("touches", []))
        if r.get("lasts"):
            lasts.append(r["lasts"])
        stops = stops or bool(r.get("audit_stops"))
    order = ("for good", "until the record", "until the next audit")
    lasts.sort(key=lambda t: next((i for i, p in enumerate(order)
                                   if t.startswith(p)), len(order)))
    reach = ({"who": sorted(who), "lasts": lasts[0] if lasts else "",
              "touches": sorted(touches), "audit_stops": stops}
             if verdict is Verdict.CONFIRMED else {})
    ranks = {"high": 3, "medium": 2, "low": 1, "none": 0, "": 0}
    severity = max((o.severity for o in deciding), key=lambda s: ranks.get(
        s, 0), default="") if verdict is Verdict.CONFIRMED else ""
    reps = [o.repetitions for o in outs if o.repetitions]
    return {"causation": [dict(o.causation, scenario=o.scenario)
                          for o in deciding if o.causation],
            "fault_classes": classes, "reachability": reach,
            "severity": severity,
            "repetitions": reps[0] if reps else None,
            "scope": "; ".join(o.scope for o in deciding if o.scope)}


def finding_rows(catalogue, outcomes: dict,
                 skipped: dict | None = None) -> list[dict]:
    """One row per catalogued finding, decided by its own scenarios; a
    finding never changes a claim's headline."""
    by_id: dict[str, list] = {}
    for o in outcomes.values():
        for fid in o.claims:
            by_id.setdefault(fid, []).append(o)
    rows = []
    for fid, f in getattr(catalogue, "findings", {}).items():
        outs = by_id.get(fid, [])
        verdict = combine([o.verdict for o in outs])
        confirming = [c for o in outs if o.verdict is Verdict.CONFIRMED
                      for c in (o.confirming or [])]
        scenario = next((o.scenario for o in outs
                         if o.verdict is Verdict.CONFIRMED),
                        f.scenarios[0] if f.scenarios else "")
        reproduce = "python -m harness reproduce %s" % scenario
        if confirming:
            import re
            reproduce += " --trial '%s$'" % re.escape(
                confirming[0]["variant"]).replace("'", "'\\''")
        row = {"finding": fid, "title": f.title, "near": f.near,
               "label": f.label, "verdict": verdict.value,
               "scenarios": sorted(o.scenario for o in outs),
               "summary": _claim_summary(verdict, outs, [
                   info["reason"] for info in (skipped or {}).values()
                   if fid in info["claims"]]),
               "proposition": _proposition_of(f),
               "reproduce": reproduce}
        row.update(decided_by(verdict, outs))
        rows.append(row)
    return rows


def _claim_summary(verdict, outs, skip_reasons=()) -> str:
    if verdict is Verdict.NOT_JUDGED:
        if skip_reasons:
            return "not judged here: " + skip_reasons[0]
        return "not yet judged: no scenario for this claim has run"
    deciding = [o for o in outs if o.verdict is verdict] or outs
    return deciding[0].summary


def verdicts_document(catalogue, outcomes: dict, baseline: dict,
                      complete: bool = True,
                      skipped: dict | None = None) -> dict:
    """The verdicts of a run.  ``complete`` is False when the run was
    interrupted (the document then holds only what finished)."""
    from harness.world import novaenv
    try:
        nova = novaenv.version_info()
    except Exception as exc:  # noqa: BLE001 - recorded, not fatal
        nova = {"error": str(exc)}
    return {
        "schema": JSON_SCHEMA_VERSION,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "complete": bool(complete),
        "nova": nova,
        "claims": claim_rows(catalogue, outcomes, skipped),
        "findings": finding_rows(catalogue, outcomes, skipped),
        "scenarios": [dict(o.as_dict(), baseline=baseline.get(n))
                      for n, o in sorted(outcomes.items())],
        "skipped": [dict(info) for _, info in sorted((skipped or {})
                                                      .items())],
    }


def verdict_table(catalogue, outcomes: dict, baseline: dict,
                  width: int = 100, skipped: dict | None = None) -> str:
    lines = []
    rows = claim_rows(catalogue, outcomes, skipped)
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


# ---------------------------------------------------------------------------
# from a stored document
# ---------------------------------------------------------------------------
def table_from_doc(doc: dict, width: int = 100) -> str:
    """The terminal table of :func:`verdict_table`, from a stored doc."""
    lines = ["%-9s %-13s %s" % ("claim", "verdict", "evidence / reason"),
             "-" * width]
    for r in doc.get("claims", []):
        lines.append("%-9s %-13s %s" % (r["claim"], r["verdict"],
                                        _clip(r.get("summary", ""),
                                              width - 24)))
    lines.append("")
    lines.append("%-58s %-13s %-13s %s" % ("scenario", "verdict",
                                           "baseline", "trials"))
    lines.append("-" * width)
    for s in sorted(doc.get("scenarios", []), key=lambda s: s["scenario"]):
        base = s.get("baseline") or "-"
        mark = "" if base in ("-", s["verdict"]) else "  <-- DRIFT"
        lines.append("%-58s %-13s %-13s %d%s" % (
            _clip(s["scenario"], 58), s["verdict"], base,
            s.get("trials") or 0, mark))
    return "\n".join(lines)


def claim_verdicts_from(scenario_verdicts: dict, scenario_claims: dict
                        ) -> dict:
    """claim -> combined verdict, from scenario -> verdict and
    scenario -> claims (only claims with at least one scenario)."""
    per_claim: dict[str, list] = {}
    for name, verdict in scenario_verdicts.items():
        for cid in scenario_claims.get(name, []):
            per_claim.setdefault(cid, []).append(Verdict(verdict))
    return {cid: combine(vs).value for cid, vs in sorted(per_claim.items())}


def drift_against_baseline(doc: dict, baseline: dict | None = None) -> dict:
    """What differs between a run and a baseline.

    ``baseline`` (scenario -> verdict) defaults to the baseline the run
    compared with (each scenario's ``baseline`` field).  A scenario with no
    recorded verdict counts as drift (old ``None``), as it fails the run.
    """
    scen = doc.get("scenarios", [])
    if baseline is None:
        baseline = {s["scenario"]: s.get("baseline") for s in scen}
    claims_of = {s["scenario"]: list(s.get("claims", [])) for s in scen}
    changed = []
    for s in sorted(scen, key=lambda s: s["scenario"]):
        old = baseline.get(s["scenario"])
        if old != s["verdict"]:
            changed.append({"scenario": s["scenario"],
                            "claims": claims_of[s["scenario"]],
                            "old": old, "new": s["verdict"]})
    new_claims = claim_verdicts_from(
        {s["scenario"]: s["verdict"] for s in scen}, claims_of)
    old_claims = claim_verdicts_from(
        {n: baseline[n] for n in claims_of if baseline.get(n)}, claims_of)
    claims = [{"claim": c, "old": old_claims.get(c), "new": v}
              for c, v in new_claims.items() if old_claims.get(c) != v]
    return {"against": "baseline", "scenarios": changed, "claims": claims,
            "only_a": [], "only_b": []}


def diff_docs(a: dict, b: dict) -> dict:
    """What changed from run ``a`` to run ``b`` (scenarios both ran)."""
    va = {s["scenario"]: s for s in a.get("scenarios", [])}
    vb = {s["scenario"]: s for s in b.get("scenarios", [])}
    changed = []
    for name in sorted(set(va) & set(vb)):
        if va[name]["verdict"] != vb[name]["verdict"]:
            changed.append({"scenario": name,
                            "claims": list(vb[name].get("claims", [])),
                            "old": va[name]["verdict"],
                            "new": vb[name]["verdict"]})
    # Claims are compared over the scenarios both runs ran, so a run of a
    # subset (--claims, reproduce) does not read as a changed claim.
    common = set(va) & set(vb)
    claims_of = {n: list(vb[n].get("claims", [])) for n in common}
    ca = claim_verdicts_from({n: va[n]["verdict"] for n in common},
                             claims_of)
    cb = claim_verdicts_from({n: vb[n]["verdict"] for n in common},
                             claims_of)
    claims = [{"claim": c, "old": ca[c], "new": cb[c]}
              for c in sorted(set(ca) & set(cb)) if ca[c] != cb[c]]
    return {"against": "run", "scenarios": changed, "claims": claims,
            "only_a": [{"scenario": n, "verdict": va[n]["verdict"]}
                       for n in sorted(set(va) - set(vb))],
            "only_b": [{"scenario": n, "verdict": vb[n]["verdict"]}
                       for n in sorted(set(vb) - set(va))]}


def drift_lines(drift: dict, old_label: str = "baseline",
                new_label: str = "observed") -> list[str]:
    """Human lines naming each changed scenario and claim, old and new."""
    lines = []
    for d in drift["scenarios"]:
        lines.append("DRIFT scenario %s (claims %s): %s %s -> %s %s" % (
            d["scenario"], ", ".join(d["claims"]) or "-", old_label,
            d["old"] or "(none recorded)", new_label, d["new"]))
    for d in drift["claims"]:
        lines.append("DRIFT claim %s: %s %s -> %s %s" % (
            d["claim"], old_label, d["old"] or "(none)", new_label,
            d["new"]))
    return lines


# ---------------------------------------------------------------------------
# Markdown (CI comments, the job summary)
# ---------------------------------------------------------------------------
VERDICT_ICON = {"CONFIRMED": "🔴", "REFUTED": "🟢", "INCONCLUSIVE": "🟡",
                "NOT_TESTABLE": "⚪", "NOT_JUDGED": "⬜"}


def _md(text) -> str:
    text = " ".join(str(text if text is not None else "").split())
    return text.replace("|", "\\|").replace("<", "&lt;")


def markdown(doc: dict, manifest: dict | None = None,
             drift: dict | None = None, max_evidence: int = 3) -> str:
    """A Markdown summary of a run: status, drift, claims, scenarios."""
    manifest = manifest or {}
    drift = drift if drift is not None else drift_against_baseline(doc)
    nova = doc.get("nova") or {}
    out = ["## Nova accounting harness: run %s" % (
        manifest.get("id") or doc.get("generated", "")), ""]
    complete = doc.get("complete", True) and \
        manifest.get("complete", True) is not False
    status = "complete" if complete else "**INCOMPLETE** (%s)" % (
        manifest.get("status") or "interrupted")
    bits = ["status: %s" % status]
    if manifest.get("exit_code") is not None:
        bits.append("exit code: %s (%s)" % (manifest["exit_code"],
                                            manifest.get("exit_meaning", "")))
    if nova:
        bits.append("Nova %s (%s), Placement %s" % (
            nova.get("nova", "?"), nova.get("nova_source", "?"),
            nova.get("placement", "?")) if "error" not in nova
            else "Nova: %s" % nova["error"])
    if manifest.get("seed") is not None:
        bits.append("seed %s" % manifest["seed"])
    out.append(" · ".join(bits))
    out.append("")
    counts: dict[str, int] = {}
    for c in doc.get("claims", []):
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    out.append("Claims: " + ", ".join(
        "%s %s %d" % (VERDICT_ICON.get(v, ""), v, n)
        for v, n in sorted(counts.items())))
    out.append("")
    lines = drift_lines(drift)
    if lines:
        out.append("### ❗ Drift from the baseline")
        out.append("")
        out.append("| scenario | claims | baseline | observed |")
        out.append("|---|---|---|---|")
        for d in drift["scenarios"]:
            out.append("| `%s` | %s | %s | **%s** |" % (
                _md(d["scenario"]), _md(", ".join(d["claims"])),
                d["old"] or "(none)", d["new"]))
        for d in drift["claims"]:
            out.append("| claim %s | | %s | **%s** |" % (
                d["claim"], d["old"] or "(none)", d["new"]))
        out.append("")
    else:
        out.append("No drift: every verdict matches the baseline.")
        out.append("")
    out.append("### Claims")
    out.append("")
    out.append("| claim | verdict | title | evidence / reason |")
    out.append("|---|---|---|---|")
    for c in doc.get("claims", []):
        out.append("| %s | %s %s | %s | %s |" % (
            c["claim"], VERDICT_ICON.get(c["verdict"], ""), c["verdict"],
            _md(c.get("title", "")), _md(_clip(c.get("summary", ""), 300))))
    out.append("")
    out.append("### Scenarios")
    out.append("")
    out.append("| scenario | claims | verdict | baseline | trials | "
               "seconds |")
    out.append("|---|---|---|---|---|---|")
    for s in sorted(doc.get("scenarios", []), key=lambda s: s["scenario"]):
        base = s.get("baseline")
        verdict = s["verdict"] if base in (None, s["verdict"]) else \
            "**%s** (drift)" % s["verdict"]
        out.append("| `%s` | %s | %s | %s | %s | %s |" % (
            _md(s["scenario"]), _md(", ".join(s.get("claims", []))),
            verdict, base or "-", s.get("trials", 0), s.get("duration", "")))
    out.append("")
    detailed = [s for s in sorted(doc.get("scenarios", []),
                                  key=lambda s: s["scenario"])
                if s.get("evidence") or s.get("traceback")]
    if detailed:
        out.append("### Evidence")
        out.append("")
    for s in detailed:
        out.append("<details><summary><code>%s</code>: %s</summary>" % (
            _md(s["scenario"]), s["verdict"]))
        out.append("")
        out.append(_md(s.get("summary", "")))
        out.append("")
        for e in s.get("evidence", [])[:max_evidence]:
            out.append("- `%s` @ %s: **%s** %s: expected `%s`, got `%s`%s"
                       % (_md(e["variant"]), e["stage"], e["invariant"],
                          _md(e["subject"]), _md(_clip(e["expected"], 120)),
                          _md(_clip(e["actual"], 120)),
                          (" (%s)" % _md(e["detail"])) if e.get("detail")
                          else ""))
        if s.get("traceback"):
            out.append("")
            out.append("```")
            out.extend(s["traceback"].rstrip().splitlines()[-12:])
            out.append("```")
        out.append("")
        out.append("</details>")
        out.append("")
    return "\n".join(out) + "\n"
