"""Reading a trace as text: what ``python -m harness reproduce`` prints.

Each step is one line; a snapshot becomes a small table with, per node and
per usage field, what the tracker holds in memory, what the
``compute_nodes`` row says, what placement counts and what the ledger (the
harness's oracle) expects, a ``!`` marking every value that differs from the
ledger.  A fault step stands out (``>>> FAULT``).  After each trial come the
invariant results per stage and the log lines kept as evidence; after the
scenario, its verdict.

Placement counts allocations only; to compare it with the tracker, whose
``*_used`` include the host's reserved resources, the reserved amounts
(``[DEFAULT] reserved_host_*``, from the world's ``built`` step) are added
and the row is labelled ``placement+rsv``.
"""
from __future__ import annotations

import json
import re

METRICS = ("vcpus_used", "memory_mb_used", "local_gb_used", "running_vms")
PLACEMENT_RC = {"vcpus_used": "VCPU", "memory_mb_used": "MEMORY_MB",
                "local_gb_used": "DISK_GB"}
STAGE_OF_SNAPSHOT = {"before fault": "before", "under fault": "under_fault",
                     "during": "during", "after clear": "after_clear"}
STAGES = ("before", "under_fault", "during", "after_clear")


def reserved_offsets(reserved: dict | None) -> dict:
    """metric -> what the tracker adds for reserved resources."""
    r = reserved or {}
    return {"vcpus_used": r.get("cpus", 0) or 0,
            "memory_mb_used": r.get("memory_mb", 0) or 0,
            "local_gb_used": (r.get("disk_mb", 0) or 0) / 1024.0}


def snapshot_values(data: dict, reserved: dict | None = None) -> dict:
    """node -> source -> metric -> value, from a snapshot step's data.

    Sources: tracker, db, placement (usages + reserved, tracker
    convention; no running_vms), ledger.
    """
    offsets = reserved_offsets(reserved)
    usage = data.get("usage") or {}
    pl = data.get("placement_usage") or {}
    ledger = data.get("ledger") or {}
    nodes = list(usage) + [n for n in ledger if n not in usage]
    out = {}
    for node in nodes:
        row = {}
        for source in ("tracker", "db"):
            vals = (usage.get(node) or {}).get(source)
            row[source] = ({m: vals.get(m) for m in METRICS}
                           if vals else None)
        if node in pl:
            row["placement"] = {
                m: (pl[node].get(rc, 0) or 0) + offsets[m]
                for m, rc in PLACEMENT_RC.items()}
            row["placement"]["running_vms"] = None
        else:
            row["placement"] = None
        led = ledger.get(node)
        row["ledger"] = {m: led.get(m) for m in METRICS} if led else None
        out[node] = row
    return out


def _num(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)


def _differs(a, b) -> bool:
    if a is None or b is None:
        return False
    try:
        return abs(float(a) - float(b)) > 1e-9
    except (TypeError, ValueError):
        return a != b


def snapshot_table(data: dict, reserved: dict | None = None,
                   indent: str = "      ") -> list[str]:
    values = snapshot_values(data, reserved)
    head = "%-12s %-14s" % ("node", "source") + "".join(
        "%16s" % m for m in METRICS)
    lines = [indent + head]
    for node, row in values.items():
        ledger = row.get("ledger") or {}
        first = True
        for source in ("tracker", "db", "placement", "ledger"):
            vals = row.get(source)
            label = "placement+rsv" if source == "placement" else source
            cells = []
            for m in METRICS:
                v = vals.get(m) if vals else None
                mark = "!" if (source != "ledger" and
                               _differs(v, ledger.get(m))) else " "
                cells.append("%15s%s" % (_num(v) if vals else "(none)",
                                         mark))
            lines.append(indent + "%-12s %-14s" % (node if first else "",
                                                   label) + "".join(cells))
            first = False
    return lines


LOUD = ("WARNING", "ERROR", "CRITICAL")


def _clip(text, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _short(data: dict, limit: int = 160) -> str:
    if not data:
        return ""
    text = ", ".join("%s=%s" % (k, json.dumps(v, default=str))
                     for k, v in data.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StepPrinter:
    """Formats steps as they happen (the plugin's ``--trace-steps``)."""

    def __init__(self, write=print, only: str | None = None):
        self.write = write
        self.only = re.compile(only) if only else None
        self.reserved: dict | None = None
        self.trial: str | None = None
        self.enabled = True

    # -- trials -----------------------------------------------------------
    def trial_started(self, trial) -> None:
        self.trial = trial.name
        self.reserved = None  # set by the world's "built" step
        self.enabled = self.only is None or bool(self.only.search(
            trial.name))
        kind = "control (no fault)" if trial.is_control else "variant"
        if not self.enabled:
            return
        self.write("")
        self.write("=" * 100)
        self.write("TRIAL %s  [%s]" % (trial.name, kind))
        self.write("=" * 100)

    def trial_finished(self, trial, obs) -> None:
        from harness.oracle import invariants as inv
        if not self.enabled:
            bad = sum(len(v) for v in obs.violations.values())
            self.write("trial %s: %s" % (
                trial.name, "harness error" if obs.error else
                ("%d violation(s)" % bad if bad else "clean")))
            return
        self.write("  -- invariants" + (" (fault: %s)" % obs.fault
                                        if obs.fault else ""))
        names = [f.__name__ for f in inv.ACCOUNTING] + ["audit_completed"]
        for stage in STAGES:
            if stage == "during" and trial.during is None:
                continue
            found = obs.violations.get(stage, [])
            checked = names + (["workload_completed"] if stage == "during"
                               else [])
            checked += sorted({v.invariant for v in found} - set(checked))
            results = []
            for n in checked:
                k = sum(1 for v in found if v.invariant == n)
                results.append("%s %s" % (n, "FAIL(%d)" % k if k else "ok"))
            self.write("     %-12s %s" % (stage, "  ".join(results)))
            for v in found:
                self.write("       ! %s" % str(v)[:300])
        if obs.during_error:
            self.write("  -- the workload raised: %s" % obs.during_error)
        if obs.error:
            self.write("  -- HARNESS ERROR (the trial is INCONCLUSIVE):")
            for line in obs.error.rstrip().splitlines()[-15:]:
                self.write("     " + line)
        logs = obs.logs
        loud = [ln for ln in logs if ln.split(" ", 1)[0] in LOUD]
        quiet = [ln for ln in logs if ln not in loud]
        self.write("  -- log lines kept as evidence: %d warning/error, %d "
                   "naming the instances/migrations" % (len(loud),
                                                        len(quiet)))
        shown = loud[-12:] + quiet[-max(0, 6 - len(loud)):] if quiet and \
            len(loud) < 6 else loud[-12:]
        for line in shown:
            self.write("     " + line[:240])
        if len(shown) < len(logs):
            self.write("     ... %d more in the run record's logs/"
                       % (len(logs) - len(shown)))
        self.write("  -- trial %s in %.2fs" % (
            "clean" if obs.clean else "NOT clean", obs.duration))

    def shared(self, family: str, trials: int, by: str | None) -> None:
        """A scenario decides from observations another scenario of this
        process ran (and this printer's run printed) before."""
        self.write("")
        self.write("(%d trials of %s: shared, run and printed earlier%s)" % (
            trials, family, " by %s" % by if by else ""))

    # -- steps ------------------------------------------------------------
    def __call__(self, step) -> None:
        if step.kind == "world" and step.what == "built":
            self.reserved = step.data.get("reserved", self.reserved)
        if not self.enabled:
            return
        head = "  [%04d %7.3fs] " % (step.index, step.t)
        if step.kind == "fault":
            if step.what == "inject":
                self.write(head + ">>> FAULT INJECTED: %s"
                           % step.data.get("fault"))
            elif step.what == "clear":
                self.write(head + "<<< fault cleared: %s"
                           % step.data.get("fault"))
            else:
                self.write(head + ">>> FAULT FIRED (%s): %s" % (
                    step.what, _short(step.data)))
        elif step.kind == "snapshot":
            stage = STAGE_OF_SNAPSHOT.get(step.what)
            self.write(head + "snapshot %r%s   (! = differs from the "
                       "ledger)" % (step.what, " -> stage %s" % stage
                                    if stage else ""))
            for line in snapshot_table(step.data, self.reserved):
                self.write(line)
        elif step.kind == "audit":
            err = step.data.get("error")
            self.write(head + "audit via %-8s %s%s" % (
                step.what, step.data.get("host"),
                "  RAISED %s" % _clip(err, 200) if err else ""))
        else:
            self.write(head + "%-8s %s  %s" % (step.kind, step.what,
                                               _short(step.data)))


def outcome_lines(outcome) -> list[str]:
    """The verdict of a scenario and the evidence that decided it."""
    lines = ["", "#" * 100,
             "VERDICT %s: %s (claims %s)" % (outcome.scenario,
                                               outcome.verdict,
                                               ", ".join(outcome.claims)),
             "  %s" % outcome.summary]
    if outcome.hypothesis:
        lines.append("  hypothesis: %s" % outcome.hypothesis)
    lines.append("  trials: %d (%d controls), seed %s, %.1fs" % (
        outcome.trials, outcome.controls, outcome.seed, outcome.duration))
    for e in outcome.evidence:
        lines.append("  evidence: %s" % e.line()[:300])
    if outcome.rationale:
        lines.append("  rationale: %s" % outcome.rationale)
    lines.append("#" * 100)
    return lines
