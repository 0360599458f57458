"""Right for the right reason: from harm seen to harm caused.

A variant that broke an invariant the claim predicts is only *harm seen*.
It counts toward CONFIRMED when, in that very trial,

1. the fault is of a class the claim's trigger covers (its data-authority
   class, :mod:`harness.faults.base`; a self-consistent forgery never
   counts, since the ledger already learned what the record says);
2. the blamed mechanism ran (:mod:`harness.oracle.paths`, traced, never
   read off a log line);
3. the harm is not explained by a nearby *finding*: the same variant
   replayed with that finding's what-if no longer breaks;
4. the claim's own counterfactual (:mod:`harness.verdicts.counterfactual`)
   removes it: the same variant replayed in a world where only the blamed
   mechanism differs no longer breaks.  Where no counterfactual is
   meaningful the catalogue says why, and (4) is skipped with that reason.

This module also derives, from the confirming variants alone, who can
produce the trigger, how long the harm lasts, what it touches, whether the
audit itself stops, and a severity: never written by hand.
"""
from __future__ import annotations

import functools

from harness.faults import base as fault_base
from harness.oracle.paths import Mechanism

# ---------------------------------------------------------------------------
# the mechanisms every trial traces
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _catalogue_mechanisms() -> tuple:
    from harness.verdicts import catalogue
    try:
        cat = catalogue.load()
    except catalogue.CatalogueError:
        return ()
    seen: dict[str, Mechanism] = {}
    for entry in list(cat.claims.values()) + list(cat.findings.values()):
        for m in entry.proposition.get("mechanism", []):
            seen.setdefault(m.label, m)
    return tuple(seen.values())


def watched_mechanisms() -> tuple:
    """Every mechanism a claim or finding of the catalogue blames."""
    return _catalogue_mechanisms()


# ---------------------------------------------------------------------------
# a finding inside a claim, or beside it
# ---------------------------------------------------------------------------
def finding_outside(claim_functions, claim_classes, finding: dict,
                    predicted=None) -> str | None:
    """Why the finding (its proposition) lies outside the claim, or None
    when it lies inside: its trigger classes are among the claim's
    (``claim_classes``; none listed: any), every function its mechanism
    names is one the claim names (``claim_functions``: the claim's Nova
    functions and its mechanisms'), and its harm (``harm_invariants``) is
    harm the claim's scenario predicts (``predicted``: invariant names,
    None for any).  Harm that a finding inside the claim explains is the
    claim's own trigger producing the claim's harm through the claim's
    code: it confirms the claim, and the finding details how.  Harm a
    finding outside explains is that finding's, not the claim's."""
    classes = set(finding.get("trigger_classes") or [])
    beyond = sorted(classes - set(claim_classes)) if claim_classes else []
    if beyond:
        return ("its trigger is of class(es) %s, which the claim's trigger "
                "does not cover" % ", ".join(beyond))
    harm = set(finding.get("harm_invariants") or [])
    if predicted is not None and not harm:
        return "its harm names no invariant to compare with the claim's"
    if predicted is not None and harm - set(predicted):
        return ("its harm (%s) is not harm the claim predicts (%s)" % (
            ", ".join(sorted(harm)), ", ".join(sorted(predicted))))
    functions = [m.function for m in finding.get("mechanism", [])]
    if not functions:
        return ("its mechanism is in no function the claim names (it "
                "names none: %s)" % (finding.get("no_counterfactual")
                                     or "none given")).strip()
    others = sorted(f for f in functions if f not in set(claim_functions))
    if others:
        return "its mechanism is in %s, which the claim does not name" \
            % ", ".join(others)
    return None


# ---------------------------------------------------------------------------
# reachability and severity
# ---------------------------------------------------------------------------
# Which part of the deployment an invariant's breach touches.
TOUCHES = {
    "usage_matches_ledger": "one node's reported numbers",
    "usage_in_bounds": "one node's reported numbers",
    "disk_usage_within_rounding": "one node's reported numbers",
    "row_matches_audit": "one node's reported numbers",
    "row_usage_matches_ledger": "scheduling decisions",
    "inventory_matches_driver": "placement inventory",
    "scheduler_view_possible": "scheduling decisions",
    "allocations_match_ledger": "placement allocations",
    "placement_usage_matches_ledger": "placement allocations",
    "assigned_resources_unique": "an instance's devices",
    "assigned_resources_match": "an instance's devices",
    "devices_not_shared": "an instance's devices",
    "audit_completed": "the node's periodic audit",
    "service_logged_errors": "the node's periodic audit",
    "workload_completed": "the operation a user asked for",
    "failure_reported": "what the caller is told",
    "cause_reported": "what the caller is told",
    "errored_migrations_hold_nothing": "placement allocations",
}
ORDINARY = {fault_base.NONE}
DB_ONLY = {fault_base.INCONSISTENT, fault_base.FORGERY,
           fault_base.INADMISSIBLE}
RECORD = DB_ONLY


def touches(invariant: str) -> str:
    if invariant in TOUCHES:
        return TOUCHES[invariant]
    if "alloc" in invariant or "placement" in invariant or \
            "sharing" in invariant:
        return "placement allocations"
    if "refused" in invariant:
        return "scheduling decisions"
    if "secret" in invariant or "log" in invariant:
        return "what the logs reveal"
    if "attempt" in invariant or "bound" in invariant or \
            "novalidhost" in invariant.lower() or "schedul" in invariant:
        return "scheduling decisions"
    if "device" in invariant or "assigned" in invariant:
        return "an instance's devices"
    return "one node's reported numbers"


def reachability(confirming) -> dict:
    """From the confirming evidence: ``confirming`` is a list of
    (observation, [Evidence]) pairs."""
    who, classes, stages, areas = set(), set(), set(), set()
    for obs, evidence in confirming:
        cls = obs.authority or fault_base.NONE
        classes.add(cls)
        who.add(obs.reach or fault_base.DEFAULT_REACH.get(
            cls, fault_base.DEFAULT_REACH[fault_base.NONE]))
        for e in evidence:
            stages.add(e.stage)
            areas.add(touches(e.invariant))
    if "after_clear" in stages:
        lasts = "for good: it survives the repair and the next audit"
    elif classes <= RECORD:
        lasts = "until the record is repaired"
    else:
        lasts = "until the next audit after the fault ends"
    stops = "the node's periodic audit" in areas
    return {"who": sorted(who), "lasts": lasts,
            "touches": sorted(a for a in areas
                              if a != "the node's periodic audit"),
            "audit_stops": stops, "classes": sorted(classes)}


SEVERITY_RULES = (
    "impact high: placement allocations, devices or scheduling decisions "
    "wrong for good; medium: any of those until repair or the next audit, "
    "or the audit stops; low: one node's reported numbers or what logs "
    "show.  Reach lowers it one step when only someone with database "
    "write access can produce the trigger (they can do worse directly); "
    "never below low.")


def severity(reach: dict) -> str:
    if not reach:
        return "none"
    big = {"placement allocations", "an instance's devices",
           "scheduling decisions", "placement inventory",
           "the operation a user asked for", "what the caller is told"}
    hit_big = bool(big & set(reach["touches"]))
    lasting = reach["lasts"].startswith("for good")
    if hit_big and lasting:
        level = 2
    elif hit_big or reach["audit_stops"] or lasting:
        level = 1
    else:
        level = 0
    if set(reach["classes"]) <= DB_ONLY:
        level = max(0, level - 1)
    return ("low", "medium", "high")[level]
