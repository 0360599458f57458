"""Rendering verdicts: the terminal table, the JSON document, Markdown,
and comparing verdicts (drift against the baseline or another run).

The JSON document is described in ``docs/verdicts-schema.md`` (and
``docs/verdicts.schema.json``).  Everything here that takes a ``doc`` works
from a stored document alone, so a run can be re-rendered without Nova.
"""
from __future__ import annotations

import re
import textwrap
import time

from harness.faults.base import AUTHORITY_CLASSES
from harness.files import write_json_atomic  # noqa: F401 - callers' name
from harness.verdicts.catalogue import FINDING_RE, proposition_dict
from harness.verdicts.verdict import Verdict, combine
from harness.world import novaenv

JSON_SCHEMA_VERSION = 1


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
               "reproduce": reproduce,
               "withdrawn": getattr(f, "withdrawn", None)}
        row.update(decided_by(verdict, outs))
        rows.append(row)
    return rows


def _claim_summary(verdict, outs, skip_reasons=()) -> str:
    if verdict is Verdict.NOT_JUDGED:
        if skip_reasons:
            return "not judged here: " + skip_reasons[0]
        return "not yet judged: no scenario for it has run"
    deciding = [o for o in outs if o.verdict is verdict] or outs
    return deciding[0].summary


def verdicts_document(catalogue, outcomes: dict, baseline: dict,
                      complete: bool = True,
                      skipped: dict | None = None) -> dict:
    """The verdicts of a run.  ``complete`` is False when the run was
    interrupted (the document then holds only what finished)."""
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


# ---------------------------------------------------------------------------
# what a row says beyond its verdict (terminal, Markdown and HTML alike)
# ---------------------------------------------------------------------------
def authority_label(cls: str) -> str:
    """``inconsistent`` -> ``inconsistent (a)``: the data-authority class
    with its letter (docs/verdicts-schema.md, "Data authority")."""
    text = AUTHORITY_CLASSES.get(cls, "")
    if cls == "none":
        return "no fault (ordinary input)"
    return "%s %s" % (cls, text[:3]) if text.startswith("(") else cls


def classes_text(classes: dict) -> str:
    order = ("inconsistent", "forgery", "inadmissible", "infrastructure",
             "timing", "none")
    keys = sorted(classes, key=lambda k: (order.index(k) if k in order
                                          else len(order), k))
    return ", ".join("%s x%d" % (authority_label(k), classes[k])
                     for k in keys)


def reach_text(reach: dict) -> str:
    if not reach:
        return ""
    return "who: %s; lasts: %s; touches: %s; audit stops: %s" % (
        " or ".join(reach.get("who") or []) or "-",
        reach.get("lasts") or "-",
        ", ".join(reach.get("touches") or []) or "-",
        "yes" if reach.get("audit_stops") else "no")


def cause_text(causation: list) -> str:
    """The causation of a row's deciding scenarios, summed: how many
    harmful variants ran through the blamed mechanism, what the
    counterfactual did, which findings explained harm away."""
    if not causation:
        return ""
    harmful = sum((c.get("path") or {}).get("harmful_variants", 0)
                  for c in causation)
    through = sum((c.get("path") or {}).get("through_the_mechanism", 0)
                  for c in causation)
    if harmful:
        parts = ["path: %d of %d harmful variant%s through the mechanism"
                 % (through, harmful, "" if harmful == 1 else "s")]
    else:
        parts = ["path: no harm seen, nothing to trace"]
    cfs: dict[str, list[int]] = {}
    why_none: list[str] = []
    explained: dict[str, int] = {}
    for c in causation:
        cf = c.get("counterfactual") or {}
        if cf.get("name"):
            n = cfs.setdefault(cf["name"], [0, 0, 0])
            n[0] += cf.get("harm_removed", 0)
            n[1] += cf.get("replayed", 0)
            n[2] += cf.get("not_replayed", 0)
        elif cf.get("why_none") and cf["why_none"] not in why_none:
            why_none.append(cf["why_none"])
        for fid, k in (c.get("explained_by_findings") or {}).items():
            explained[fid] = explained.get(fid, 0) + k
    for name, (removed, replayed, skipped) in cfs.items():
        if replayed or skipped:
            parts.append("counterfactual %s: removed in %d of %d replayed%s"
                         % (name, removed, replayed,
                            (", %d not replayed" % skipped) if skipped
                            else ""))
        else:
            parts.append("counterfactual %s: nothing to replay" % name)
    for why in why_none:
        parts.append("no counterfactual: %s" % " ".join(why.split()))
    for fid, k in sorted(explained.items()):
        parts.append("explained by finding %s in %d variant%s"
                     % (fid, k, "" if k == 1 else "s"))
    return "; ".join(parts)


def repetitions_text(reps: dict | None) -> str:
    if not reps:
        return ""
    outcomes = reps.get("outcomes") or {}
    return "%s runs: %s; CONFIRMED rate %.2f" % (
        reps.get("runs", "?"), ", ".join(
            "%s %d" % (v, n) for v, n in sorted(outcomes.items())),
        float(reps.get("rate") or 0))


def row_facts(row: dict) -> list[tuple[str, str]]:
    """(label, text) pairs a claim or finding row shows under its verdict:
    fault classes, reach, severity, cause, repetitions, scope (REFUTED),
    findings near it, evidence."""
    facts = []
    if row.get("withdrawn"):
        facts.append(("withdrawn", "on %s: %s" % (row["withdrawn"]["date"],
                                                  row["withdrawn"]["why"])))
    if row.get("fault_classes"):
        facts.append(("classes", classes_text(row["fault_classes"])))
    if row.get("reachability"):
        facts.append(("reach", reach_text(row["reachability"])))
    if row.get("severity"):
        facts.append(("severity", row["severity"]))
    if row.get("causation"):
        facts.append(("cause", cause_text(row["causation"])))
    if row.get("repetitions"):
        facts.append(("repeated", repetitions_text(row["repetitions"])))
    if row.get("verdict") == Verdict.REFUTED.value:
        facts.append(("scope", "refuted only within: " + (
            row.get("scope") or "the fault space its scenarios list")))
    if row.get("findings"):
        facts.append(("findings", ", ".join(row["findings"])))
    if row.get("summary"):
        decided = row.get("verdict") in (Verdict.CONFIRMED.value,
                                         Verdict.REFUTED.value)
        facts.append(("evidence" if decided else "reason", row["summary"]))
    return facts


def short_proposition(row: dict) -> str:
    """The proposition's first sentence (the title when there is none)."""
    text = " ".join(str((row.get("proposition") or {}).get("statement")
                        or "").split())
    if not text:
        return row.get("title", "")
    m = re.search(r"(?<=[a-z0-9)])\. ", text)
    return text[: m.start() + 1] if m and m.start() > 40 else text


def near_text(row: dict) -> str:
    return row.get("near") or "claimed by no report"


# ---------------------------------------------------------------------------
# the terminal table
# ---------------------------------------------------------------------------
# How many lines each fact may wrap to in the terminal (the rest is in
# verdicts.json and the HTML page).
FACT_LINES = {"withdrawn": 3, "evidence": 2, "reason": 2, "cause": 3, "reach": 3,
              "scope": 2, "classes": 2}


def verdict_table(catalogue, outcomes: dict, baseline: dict,
                  width: int = 100, skipped: dict | None = None) -> str:
    """The terminal table: claims with the reasons for their verdicts,
    findings, then scenarios against the baseline."""
    scenarios = [{"scenario": n, "verdict": o.verdict.value,
                  "baseline": baseline.get(n), "trials": o.trials}
                 for n, o in sorted(outcomes.items())]
    return render_terminal(claim_rows(catalogue, outcomes, skipped),
                           finding_rows(catalogue, outcomes, skipped),
                           scenarios, width)


def table_from_doc(doc: dict, width: int = 100) -> str:
    """The terminal table of :func:`verdict_table`, from a stored doc."""
    return render_terminal(doc.get("claims", []), doc.get("findings", []),
                           doc.get("scenarios", []), width)


def render_terminal(claims: list, findings: list, scenarios: list,
                    width: int = 100) -> str:
    lines = ["%-9s %-13s %s" % ("claim", "verdict", "proposition"),
             "-" * width]
    for r in claims:
        facts = row_facts(r)
        judged = r["verdict"] != Verdict.NOT_JUDGED.value
        if not judged:   # only a reason other than "no scenario ran"
            facts = [(k, v) for k, v in facts if k != "reason"
                     or not v.startswith("not yet judged")]
        prop = _wrap(short_proposition(r), width - 24, 2 if judged else 1)
        lines.append("%-9s %-13s %s" % (r["claim"], r["verdict"], prop[0]))
        lines.extend(" " * 24 + p for p in prop[1:])
        lines.extend(_facts_lines(facts, width))
    if findings:
        lines.append("")
        lines.append("%-8s %-13s %-8s %-21s %s" % (
            "finding", "verdict", "severity", "near claim", "title"))
        lines.append("-" * width)
        for f in findings:
            title = _wrap(f.get("title", ""), width - 54, 2)
            lines.append("%-8s %-13s %-8s %-21s %s" % (
                f["finding"], f["verdict"], f.get("severity") or "-",
                near_text(f), title[0]))
            lines.extend(" " * 54 + t for t in title[1:])
        lines.append("")
        lines.append("reproduce a finding:")
        for f in findings:
            lines.append("  %-6s %s" % (f["finding"], f.get("reproduce", "")))
    lines.append("")
    lines.append("%-58s %-13s %-13s %s" % ("scenario", "verdict",
                                           "baseline", "trials"))
    lines.append("-" * width)
    for s in sorted(scenarios, key=lambda s: s["scenario"]):
        base = s.get("baseline") or "-"
        mark = "" if base in ("-", s["verdict"]) else "  <-- DRIFT"
        lines.append("%-58s %-13s %-13s %d%s" % (
            _clip(s["scenario"], 58), s["verdict"], base,
            s.get("trials") or 0, mark))
    return "\n".join(lines)


def _facts_lines(facts, width: int) -> list[str]:
    out = []
    lead = " " * 12
    for label, text in facts:
        wrapped = _wrap(text, width - 22, FACT_LINES.get(label, 2))
        out.append("%s%-9s %s" % (lead, label, wrapped[0]))
        out.extend("%s%-9s %s" % (lead, "", w) for w in wrapped[1:])
    return out


def _wrap(text, room: int, most: int) -> list[str]:
    """``text`` wrapped to ``room`` columns, at most ``most`` lines (the
    last ending in … when cut)."""
    wrapped = textwrap.wrap(" ".join(str(text).split()), width=room,
                            break_on_hyphens=False) or [""]
    if len(wrapped) > most:
        wrapped = wrapped[:most]
        wrapped[-1] = textwrap.wrap(wrapped[-1], width=room - 2,
                                    break_on_hyphens=False)[0] + " …"
    return wrapped


def clip(text: str, n: int) -> str:
    """``text`` on one line, at most ``n`` characters (… when cut)."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


_clip = clip


# ---------------------------------------------------------------------------
# comparing verdicts
# ---------------------------------------------------------------------------
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


def _kind(any_id: str) -> str:
    """``claim`` or ``finding``, by the id's shape."""
    return "finding" if FINDING_RE.match(any_id) else "claim"


def drift_lines(drift: dict, old_label: str = "baseline",
                new_label: str = "observed") -> list[str]:
    """Human lines naming each changed scenario and claim, old and new."""
    lines = []
    for d in drift["scenarios"]:
        lines.append("DRIFT scenario %s (claims %s): %s %s -> %s %s" % (
            d["scenario"], ", ".join(d["claims"]) or "-", old_label,
            d["old"] or "(none recorded)", new_label, d["new"]))
    for d in drift["claims"]:
        lines.append("DRIFT %s %s: %s %s -> %s %s" % (
            _kind(d["claim"]), d["claim"], old_label, d["old"] or "(none)",
            new_label, d["new"]))
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
        bits.append("database %s" % (nova.get("db_server") or nova.get("db")
                                     or "sqlite"))
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
            out.append("| %s %s | | %s | **%s** |" % (
                _kind(d["claim"]), d["claim"], d["old"] or "(none)",
                d["new"]))
        out.append("")
    else:
        out.append("No drift: every verdict matches the baseline.")
        out.append("")
    out.extend(_md_claims(doc.get("claims", [])))
    out.extend(_md_findings(doc.get("findings", [])))
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


def _md_facts(row: dict) -> list[str]:
    """A claim's or finding's proposition and facts, as a Markdown list."""
    out = []
    prop = row.get("proposition") or {}
    if prop.get("statement"):
        out.append("- **proposition:** %s" % _md(prop["statement"]))
    mech = ", ".join("`%s`" % _md(m.get("where") or m.get("function"))
                     for m in prop.get("mechanism") or [])
    if mech:
        out.append("- **mechanism:** %s" % mech)
    for key in ("trigger", "harm"):
        if prop.get(key):
            out.append("- **%s:** %s" % (key, _md(prop[key])))
    for label, text in row_facts(row):
        out.append("- **%s:** %s" % (label, _md(
            _clip(text, 600) if label == "evidence" else text)))
    return out


def _md_claims(claims: list) -> list[str]:
    out = ["### Claims", "",
           "Each headline answers the claim's proposition only; findings "
           "near a claim are listed below and never change it.", "",
           "| claim | verdict | severity | proposition | findings near it |",
           "|---|---|---|---|---|"]
    for c in claims:
        out.append(_md_row(c, "claim", short_proposition(c),
                           ", ".join(c.get("findings") or []) or "-"))
    out.append("")
    for c in claims:
        if c["verdict"] == Verdict.NOT_JUDGED.value and \
                c.get("summary", "").startswith("not yet judged"):
            continue   # the table says all there is
        out.extend(_md_heading(c, "claim"))
        out.extend(_md_facts(c))
        out.append("")
    return out


def _md_row(row: dict, key: str, *cells) -> str:
    return "| %s | %s %s | %s | %s |" % (
        row[key], VERDICT_ICON.get(row["verdict"], ""), row["verdict"],
        row.get("severity") or "-", " | ".join(_md(c) for c in cells))


def _md_heading(row: dict, key: str) -> list[str]:
    return ["#### %s %s %s: %s" % (
        row[key], VERDICT_ICON.get(row["verdict"], ""), row["verdict"],
        _md(row.get("title", ""))), ""]


def _md_findings(findings: list) -> list[str]:
    if not findings:
        return []
    out = ["### Findings", "",
           "Weaknesses the harness showed that are not a claim's "
           "proposition, each decided by its own scenario.", "",
           "| finding | verdict | severity | near claim | title |",
           "|---|---|---|---|---|"]
    for f in findings:
        out.append(_md_row(f, "finding", near_text(f), f.get("title", "")))
    out.append("")
    for f in findings:
        out.extend(_md_heading(f, "finding"))
        out.append("*%s*" % _md(f.get("label") or near_text(f)))
        out.append("")
        out.extend(_md_facts(f))
        if f.get("reproduce"):
            out.append("")
            out.append("```sh")
            out.append(f["reproduce"])
            out.append("```")
        out.append("")
    return out
