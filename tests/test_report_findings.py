"""The reports show what decided each verdict, and findings on their own.

Synthetic outcomes (test data, not judgements) go through the same
functions a run uses: ``claim_rows``/``finding_rows``/``verdicts_document``
and the terminal, Markdown and HTML renderers.  Checked here:

* a finding's verdict never changes its claim's headline;
* the findings table and section appear in the terminal, Markdown and HTML
  output, each finding with its reproduce command;
* a REFUTED claim shows its scope, a repeated result its rate, a CONFIRMED
  one its cause, fault classes, reach and severity;
* a full document validates against ``docs/verdicts.schema.json``.
"""
from __future__ import annotations

import json
import os
import re

import pytest

from harness.report import html as html_report
from harness.report import tables
from harness.verdicts import catalogue as catalogue_mod
from harness.verdicts.verdict import Evidence, Outcome, Verdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = os.path.join(ROOT, "docs", "verdicts.schema.json")

CONFIRMED, REFUTED = Verdict.CONFIRMED, Verdict.REFUTED
INCONCLUSIVE = Verdict.INCONCLUSIVE


@pytest.fixture(scope="module")
def cat():
    return catalogue_mod.load()


def _reach(**kw) -> dict:
    reach = {"who": ["someone with database write access"],
             "lasts": "until the record is repaired",
             "touches": ["one node's reported numbers"],
             "audit_stops": False, "classes": ["inconsistent"]}
    reach.update(kw)
    return reach


def _causation(harmful=3, through=3, cf="migration-handlers-reraise",
               removed=2, replayed=2, why_none="") -> dict:
    counterfactual = ({"name": cf, "what": "the handler re-raises",
                       "replayed": replayed, "harm_removed": removed,
                       "harm_remained": replayed - removed,
                       "not_replayed": 0} if cf else
                      {"name": None, "why_none": why_none})
    return {"mechanism": ["nova.compute.resource_tracker.ResourceTracker."
                          "_update_usage_from_migrations"],
            "path": {"harmful_variants": harmful,
                     "through_the_mechanism": through},
            "counterfactual": counterfactual}


def _outcome(scenario, ids, verdict, summary="s", **kw) -> Outcome:
    kw.setdefault("fault_space", ["resize / status='error'"])
    return Outcome(scenario=scenario, claims=list(ids), verdict=verdict,
                   summary=summary, trials=4, controls=1, seed=0, **kw)


def _confirmed(scenario, ids, variant="resize / status='error'",
               **kw) -> Outcome:
    ev = Evidence(variant=variant, stage="under_fault",
                  invariant="usage_matches_ledger",
                  subject="tracker dst vcpus_used", expected=2, actual=0)
    kw.setdefault("causation", _causation())
    kw.setdefault("fault_classes", {"inconsistent": 2, "inadmissible": 1})
    kw.setdefault("reachability", _reach())
    kw.setdefault("severity", "low")
    return _outcome(scenario, ids, CONFIRMED,
                    summary="2 of 3 variants broke usage_matches_ledger "
                            "through the blamed mechanism",
                    evidence=[ev], confirming=[{
                        "variant": variant, "authority": "inconsistent",
                        "reach": "someone with database write access"}],
                    **kw)


@pytest.fixture(scope="module")
def outcomes(cat):
    """000-1 CONFIRMED; 000-4 REFUTED while its finding F-08 is CONFIRMED;
    000-8 INCONCLUSIVE over repetitions; F-01 REFUTED."""
    f08 = cat.findings["F-08"]
    f01 = cat.findings["F-01"]
    outs = [
        _confirmed(cat.claims["000-1"].scenarios[0], ["000-1"]),
        _outcome(cat.claims["000-4"].scenarios[0], ["000-4"], REFUTED,
                 summary="no variant showed the claimed harm",
                 causation=_causation(harmful=0, through=0, cf=None,
                                      why_none="the name is bound as a "
                                               "query parameter"),
                 scope="node names with quotes, SQL and control "
                       "characters, as the driver reports them"),
        _confirmed(f08.scenarios[0], ["F-08"],
                   variant="node name of 255 characters",
                   causation=_causation(cf=None, why_none="placement's "
                                        "schema limits the name"),
                   fault_classes={"none": 1},
                   reachability=_reach(
                       who=["a virt driver's report"],
                       lasts="for good: it survives the repair and the "
                             "next audit",
                       touches=["placement inventory"], audit_stops=True,
                       classes=["none"]),
                   severity="high"),
        _outcome(cat.claims["000-8"].scenarios[0], ["000-8"], INCONCLUSIVE,
                 summary="the outcome depends on timing: CONFIRMED in 7 of "
                         "20 repetitions (rate 0.35)",
                 causation=_causation(),
                 repetitions={"runs": 20, "rate": 0.35, "outcomes": {
                     "CONFIRMED": 7, "REFUTED": 13}}),
        _outcome(f01.scenarios[0], ["F-01"], REFUTED,
                 summary="no variant stopped the audit",
                 causation=_causation(harmful=0, through=0),
                 scope="missing old_flavor and new_flavor on resizes"),
    ]
    return {o.scenario: o for o in outs}


@pytest.fixture(scope="module")
def doc(cat, outcomes):
    baseline = {n: o.verdict.value for n, o in outcomes.items()}
    return tables.verdicts_document(cat, outcomes, baseline)


def _row(rows, key, rid):
    return next(r for r in rows if r[key] == rid)


# ---------------------------------------------------------------------------
# a finding never changes its claim's headline
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("finding_verdict", list(Verdict))
def test_finding_verdict_never_changes_its_claims_headline(
        cat, outcomes, finding_verdict):
    f08 = cat.findings["F-08"]
    assert f08.near == "000-4"
    outs = dict(outcomes)
    name = f08.scenarios[0]
    outs[name] = _outcome(name, ["F-08"], finding_verdict)
    claims = tables.claim_rows(cat, outs)
    findings = tables.finding_rows(cat, outs)
    row = _row(claims, "claim", "000-4")
    assert row["verdict"] == "REFUTED"
    assert row["findings"] == ["F-08"]
    assert not row["severity"] and not row["reachability"]
    assert _row(findings, "finding", "F-08")["verdict"] == \
        finding_verdict.value
    doc = tables.verdicts_document(cat, outs, {})
    assert _row(doc["claims"], "claim", "000-4")["verdict"] == "REFUTED"


def test_finding_rows_carry_reach_severity_and_reproduce(doc):
    f08 = _row(doc["findings"], "finding", "F-08")
    assert f08["verdict"] == "CONFIRMED" and f08["severity"] == "high"
    assert f08["reachability"]["audit_stops"] is True
    assert f08["near"] == "000-4" and "000-4" in f08["label"]
    assert f08["reproduce"].startswith("python -m harness reproduce ")
    assert "--trial 'node\\ name\\ of\\ 255\\ characters$'" in \
        f08["reproduce"]
    f01 = _row(doc["findings"], "finding", "F-01")
    assert f01["verdict"] == "REFUTED" and not f01["severity"]
    assert "missing old_flavor" in f01["scope"]


# ---------------------------------------------------------------------------
# the terminal table
# ---------------------------------------------------------------------------
def _claim_block(text: str, cid: str) -> str:
    """The headline line of a claim and its indented lines."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(cid + " "))
    end = next((i for i in range(start + 1, len(lines))
                if not lines[i].startswith(" ")), len(lines))
    return "\n".join(lines[start:end])


def _flat(text: str) -> str:
    """Wrapped lines joined again (labels and words stay in order)."""
    return " ".join(text.split())


def test_terminal_table_shows_reasons_and_findings(cat, outcomes, doc):
    baseline = {n: o.verdict.value for n, o in outcomes.items()}
    live = tables.verdict_table(cat, outcomes, baseline)
    stored = tables.table_from_doc(doc)
    assert live == stored
    assert max(len(ln) for ln in live.splitlines()
               if "harness reproduce" not in ln) <= 100
    block = _claim_block(live, "000-1")
    assert "CONFIRMED" in block.splitlines()[0]
    confirmed = _flat(block)
    assert "inconsistent (a) x2, inadmissible (c) x1" in confirmed
    assert "severity low" in confirmed
    assert "who: someone with database write access" in confirmed
    assert "audit stops: no" in confirmed
    assert "path: 3 of 3 harmful variants through the mechanism" in confirmed
    assert "counterfactual migration-handlers-reraise: removed in 2 of 2 " \
        "replayed" in confirmed
    assert "F-01" in confirmed and "F-02" in confirmed   # findings near it
    block = _claim_block(live, "000-4")
    assert "REFUTED" in block.splitlines()[0]
    refuted = _flat(block)
    assert "refuted only within: node names with quotes" in refuted
    assert "no counterfactual: the name is bound" in refuted
    block = _claim_block(live, "000-8")
    assert "INCONCLUSIVE" in block.splitlines()[0]
    assert "repeated 20 runs: CONFIRMED 7, REFUTED 13; CONFIRMED rate " \
        "0.35" in _flat(block)
    # the findings table, then each finding's reproduce command
    head = next(ln for ln in live.splitlines() if ln.startswith("finding "))
    assert head.split()[:5] == ["finding", "verdict", "severity", "near",
                                "claim"]
    f08 = next(ln for ln in live.splitlines() if ln.startswith("F-08 "))
    assert "CONFIRMED" in f08 and "high" in f08 and "000-4" in f08
    for fid, f in cat.findings.items():
        line = next(ln for ln in live.splitlines() if ln.startswith(fid))
        assert ("claimed by no report" in line) == (f.near is None)
    assert re.search(r"^  F-08\s+python -m harness reproduce "
                     + re.escape(cat.findings["F-08"].scenarios[0]),
                     live, re.M)


def test_terminal_clips_long_facts_within_the_width(cat, outcomes):
    o = dict(outcomes)
    name = cat.claims["000-4"].scenarios[0]
    o[name] = _outcome(name, ["000-4"], REFUTED, summary="word " * 200,
                       scope="variant " * 200)
    text = tables.verdict_table(cat, o, {})
    block = _claim_block(text, "000-4")
    assert max(len(ln) for ln in block.splitlines()) <= 100
    assert sum("scope" in ln for ln in block.splitlines()) == 1
    assert block.count("\n") < 12


# ---------------------------------------------------------------------------
# Markdown and HTML
# ---------------------------------------------------------------------------
def test_markdown_has_claims_reasons_and_a_findings_section(doc):
    md = tables.markdown(doc, {"id": "r1"})
    claims, findings = md.split("### Claims", 1)[1].split("### Findings", 1)
    findings = findings.split("### Scenarios", 1)[0]
    assert "| 000-1 | 🔴 CONFIRMED | low |" in claims
    assert "**cause:** path: 3 of 3 harmful variants" in claims
    assert "**reach:** who: someone with database write access" in claims
    assert "**scope:** refuted only within: node names" in claims
    assert "**repeated:** 20 runs" in claims
    assert "**proposition:**" in claims and "**mechanism:** `" in claims
    assert "| F-08 | 🔴 CONFIRMED | high | 000-4 |" in findings
    assert "claimed by no report" in findings or all(
        f["near"] for f in doc["findings"])
    assert "```sh\npython -m harness reproduce" in findings
    assert "*found near claim 000-4*" in findings


def test_html_has_claims_reasons_and_a_findings_section(doc):
    page = html_report.render(doc, {"id": "r1"}, {})
    claims = page.split("<section id='claims-section'>", 1)[1]
    claims = claims.split("</section>", 1)[0]
    assert "path: 3 of 3 harmful variants through the mechanism" in claims
    assert "refuted only within: node names" in claims
    assert "CONFIRMED rate 0.35" in claims
    assert "who: someone with database write access" in claims
    findings = page.split("<section id='findings'>", 1)[1]
    findings = findings.split("</section>", 1)[0]
    for f in doc["findings"]:
        assert "id='f-%s'" % f["finding"] in findings
        assert html_report._e(f["reproduce"]) in findings
    assert "found near claim 000-4" in findings
    assert "sev-high" in findings


# ---------------------------------------------------------------------------
# the schema
# ---------------------------------------------------------------------------
def test_full_document_validates_against_the_schema(doc):
    jsonschema = pytest.importorskip("jsonschema")
    with open(SCHEMA) as f:
        schema = json.load(f)
    doc = json.loads(json.dumps(doc, default=str))   # as written to disk
    jsonschema.validate(doc, schema)
    assert doc["findings"] and any(c["causation"] for c in doc["claims"])


@pytest.mark.parametrize("path, value", [
    (("findings", 0, "finding"), "F-1"),
    (("claims", 0, "severity"), "catastrophic"),
    (("claims", 0, "fault_classes"), {"malicious": 1}),
    (("findings", 0, "near"), "999-9"),
])
def test_schema_rejects_what_the_renderers_cannot_read(doc, path, value):
    jsonschema = pytest.importorskip("jsonschema")
    with open(SCHEMA) as f:
        schema = json.load(f)
    bad = json.loads(json.dumps(doc, default=str))
    target = bad
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_records_written_before_findings_still_render():
    """A stored record without findings, propositions or causation (older
    runs, the plugin's fallback record) renders in every format."""
    old = {"schema": 1, "generated": "2026-01-01T00:00:00Z",
           "complete": True, "nova": {"error": "x"},
           "claims": [{"claim": "000-1", "title": "t", "verdict": "REFUTED",
                       "scenarios": ["test_x"], "summary": "s"}],
           "scenarios": [{"scenario": "test_x", "claims": ["000-1"],
                          "verdict": "REFUTED", "summary": "s",
                          "baseline": "REFUTED"}]}
    text = tables.table_from_doc(old)
    assert text.splitlines()[2].split()[:3] == ["000-1", "REFUTED", "t"]
    assert "refuted only within: the fault space its scenarios list" in text
    assert "finding " not in text
    assert "### Findings" not in tables.markdown(old)
    assert "<section id='findings'>" in html_report.render(old)


def test_cut_text_ends_on_a_whole_word():
    text = "For some inputs the API admits, the tracker's usage arithmetic " \
        "gives totals that differ from the sum of what the instances use."
    for room in range(20, 80):
        (line,) = tables._wrap(text, room, 1)
        assert len(line) <= room and line.endswith(" …")
        assert text.startswith(line[:-2]) and \
            text[len(line) - 2] == " ", (room, line)
