"""``python -m harness list``: the catalogued claims with their verdicts,
the scenarios with the claim or finding ids they decide, the fault kinds."""
from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil

from harness import faults
from harness.cli.common import (EPILOG, EXIT_OK, FORMATTER, ROOT,
                                add_common_options, check_claim_ids,
                                check_scenario_dir, collect,
                                load_baseline, load_catalogue, load_record,
                                one_line)
from harness.faults.base import Fault
from harness.verdicts.verdict import Verdict, combine


def add_parser(sub, help: str):
    ls = sub.add_parser("list", help=help, epilog=EPILOG,
                        formatter_class=FORMATTER)
    ls.add_argument("what", nargs="?", default="all",
                    choices=("all", "claims", "scenarios", "faults"))
    ls.add_argument("--claim", help="only this claim (or finding) and its "
                                    "scenarios")
    ls.add_argument("--verdict", type=lambda v: v.upper(),
                    choices=[v.value for v in Verdict],
                    help="only claims/scenarios with this verdict")
    ls.add_argument("--run", metavar="RUN_DIR",
                    help="take verdicts from this run record (default: the "
                         "baseline)")
    ls.add_argument("--json", action="store_true", help="print JSON")
    add_common_options(ls)
    ls.set_defaults(func=cmd_list)
    return ls


def fault_kinds() -> list[dict]:
    """Every fault class in harness.faults.*, and placement rule actions."""
    out, seen = [], set()
    for mod in sorted(m.name for m in pkgutil.iter_modules(faults.__path__)):
        module = importlib.import_module("harness.faults." + mod)
        for name, obj in sorted(vars(module).items()):
            if not (inspect.isclass(obj) and issubclass(obj, Fault)) or \
                    obj is Fault or name.startswith("_") or obj in seen or \
                    obj.__module__ != module.__name__:
                continue
            seen.add(obj)
            try:
                params = [p for p in inspect.signature(obj).parameters
                          if p not in ("self", "world")]
            except (TypeError, ValueError):  # pragma: no cover
                params = []
            doc = (inspect.getdoc(obj) or "").split("\n\n")[0]
            out.append({"kind": "%s.%s" % (mod, name),
                        "boundary": mod, "params": params,
                        "doc": one_line(doc)})
    return out


def _scenario_rows(catalogue, collected, verdicts) -> list[dict]:
    """One row per scenario: the written ones pytest collected, then the
    ones the catalogue names that nobody has written yet."""
    rows = []
    for s in collected:
        rows.append({"scenario": s["name"], "claims": s["claims"],
                     "findings": s.get("findings") or [],
                     "verdict": verdicts.get(s["name"]),
                     "file": os.path.relpath(s["file"], ROOT)
                     if s["file"] else "", "written": True})
    names = {s["name"] for s in collected}
    unwritten = {}
    for key, listed in (("claims", catalogue.scenario_claims()),
                        ("findings", catalogue.scenario_findings())):
        for name, ids in listed.items():
            if name not in names:
                unwritten.setdefault(name, {"claims": [], "findings": []})[
                    key].extend(ids)
    for name, ids in unwritten.items():
        rows.append({"scenario": name, "claims": ids["claims"],
                     "findings": ids["findings"], "verdict": None,
                     "file": "", "written": False})
    return rows


def _decides(row) -> str:
    """What a scenario row decides: ``claims 000-1`` or ``finding F-08``."""
    parts = []
    if row["claims"] or not row["findings"]:
        parts.append("claims %s" % ",".join(row["claims"]))
    if row["findings"]:
        parts.append("finding%s %s" % ("s" if len(row["findings"]) > 1
                                       else "", ",".join(row["findings"])))
    return "; ".join(parts)


def cmd_list(args) -> int:
    what = args.what
    catalogue = load_catalogue() if what in ("all", "claims",
                                            "scenarios") else None
    if args.claim and catalogue is not None:
        check_claim_ids([args.claim], catalogue, "--claim")
    verdict_filter = args.verdict.upper() if args.verdict else None
    result: dict = {}
    if what in ("all", "claims", "scenarios"):
        check_scenario_dir(args.scenario_dir)
        if args.run:
            record = load_record(args.run, args.runs_dir)
            run_scen = {s["scenario"]: s["verdict"]
                        for s in record.verdicts["scenarios"]}
            run_claims = {c["claim"]: c["verdict"]
                          for c in record.verdicts["claims"]}
            source = "run %s" % record.id
        else:
            run_scen = load_baseline(args.baseline)
            run_claims = None
            source = "baseline %s" % os.path.relpath(args.baseline)
        scen_rows = _scenario_rows(catalogue, collect(args.scenario_dir),
                                   run_scen)
        claim_rows = []
        for cid, claim in catalogue.claims.items():
            mine = [r for r in scen_rows if cid in r["claims"] and
                    r["written"]]
            if run_claims is not None:
                v = run_claims.get(cid, "NOT_JUDGED")
            else:
                v = combine([Verdict(r["verdict"]) for r in mine
                             if r["verdict"]]).value
            claim_rows.append({"claim": cid, "verdict": v,
                               "title": claim.title, "cwe": claim.cwe,
                               "scenarios": [r["scenario"] for r in mine]})
        if args.claim:
            claim_rows = [c for c in claim_rows if c["claim"] == args.claim]
            scen_rows = [s for s in scen_rows
                         if args.claim in s["claims"] + s["findings"]]
        if verdict_filter:
            claim_rows = [c for c in claim_rows
                          if c["verdict"] == verdict_filter]
            scen_rows = [s for s in scen_rows
                         if (s["verdict"] or "NOT_JUDGED") == verdict_filter]
        if what in ("all", "claims"):
            result["claims"] = claim_rows
        if what in ("all", "scenarios"):
            result["scenarios"] = scen_rows
        result["verdicts_from"] = source
    if what in ("all", "faults"):
        result["faults"] = fault_kinds()
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    if "claims" in result:
        print("claims (verdicts from the %s)" % result["verdicts_from"])
        for c in result["claims"]:
            print("  %-9s %-13s %s%s" % (
                c["claim"], c["verdict"], c["title"],
                "  [%s]" % ", ".join(c["scenarios"]) if c["scenarios"]
                else "  [no scenario yet]"))
        print("")
    if "scenarios" in result:
        print("scenarios (verdicts from the %s)" % result["verdicts_from"])
        for s in result["scenarios"]:
            print("  %-58s %-13s %s%s" % (
                s["scenario"], s["verdict"] or "-", _decides(s),
                "" if s["written"] else "  (listed in the catalogue, not "
                "written yet)"))
        print("")
    if "faults" in result:
        print("fault kinds")
        for f in result["faults"]:
            print("  %-40s %s" % (f["kind"], f["doc"][:100]))
            if f["params"]:
                print("  %-40s params: %s" % ("", ", ".join(f["params"])))
    return EXIT_OK
