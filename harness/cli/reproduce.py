"""``python -m harness reproduce``: run one scenario in the foreground and
print every step of its trials (docs/cli.md)."""
from __future__ import annotations

import os

from harness.cli.common import (EPILOG, FORMATTER, InputError,
                                add_common_options, add_db_option,
                                check_scenario_dir, collect, db_server,
                                ids_of, load_baseline, load_catalogue,
                                nodeid_path, nova_version, seed_default)
from harness.cli.execution import execute
from harness.report import runrecord
from harness.verdicts.verdict import Verdict, combine


def add_parser(sub, help: str):
    rep = sub.add_parser(
        "reproduce", help=help,
        description="Run one scenario (by name, or the deciding scenario of "
                    "a claim) and print every step: each action, each fault "
                    "and when it fired, usage per node from the tracker, "
                    "the DB and placement against the ledger at each "
                    "snapshot, each invariant's result per stage and the "
                    "log lines kept as evidence.",
        epilog=EPILOG, formatter_class=FORMATTER)
    rep.add_argument("target", metavar="CLAIM|SCENARIO")
    rep.add_argument("--trial", metavar="REGEX",
                     help="print the steps of matching trials only")
    rep.add_argument("--seed", type=int, default=seed_default())
    add_db_option(rep)
    add_common_options(rep)
    rep.set_defaults(func=cmd_reproduce)
    return rep


def pick_scenario(target: str, scenarios: list[dict], catalogue,
                  baseline: dict):
    """The scenario to reproduce for a claim or finding id, or a scenario
    name (or a unique part of one); and the claim's other scenarios."""
    by_name = {s["name"]: s for s in scenarios}
    if target in by_name:
        return by_name[target], []
    if target in catalogue.claims or target in getattr(catalogue,
                                                       "findings", {}):
        mine = [s for s in scenarios if target in ids_of(s)]
        if not mine:
            raise InputError(
                "%s has no scenario yet (it is NOT_JUDGED); the "
                "catalogue lists %s - nothing to reproduce"
                % (target, ", ".join(catalogue.entry(target).scenarios)
                   or "none"))
        recorded = {s["name"]: baseline.get(s["name"]) for s in mine}
        claim_v = combine([Verdict(v) for v in recorded.values() if v])
        chosen = next((s for s in mine if recorded[s["name"]] ==
                       claim_v.value), mine[0])
        return chosen, [s["name"] for s in mine if s is not chosen]
    partial = [s for s in scenarios if target in s["name"]]
    if len(partial) == 1:
        return partial[0], []
    if len(partial) > 1:
        raise InputError("%r matches %d scenarios (%s); give the full name"
                         % (target, len(partial), ", ".join(
                             s["name"] for s in partial[:6])))
    raise InputError("unknown claim id or scenario %r; see 'python -m "
                     "harness list' for claims and scenarios" % target)


def cmd_reproduce(args) -> int:
    catalogue = load_catalogue()
    baseline = load_baseline(args.baseline)
    check_scenario_dir(args.scenario_dir)
    scenarios = collect(args.scenario_dir)
    scenario, others = pick_scenario(args.target, scenarios, catalogue,
                                      baseline)
    with db_server(args):
        nova = nova_version()
        print("reproducing %s (claims %s; baseline %s) against Nova %s (%s)"
              " on %s" % (scenario["name"], ", ".join(scenario["claims"]),
                          baseline.get(scenario["name"], "none"),
                          nova.get("nova"), nova.get("nova_source"),
                          nova.get("db_server") or nova.get("db")))
        if others:
            print("claim %s has other scenarios too: %s (reproduce one by "
                  "name)" % (args.target, ", ".join(others)))
        extra = ["-s", "-q", "--trace-steps", "-p", "no:xdist",
                 "--keep-traces", "all"]
        if args.trial:
            extra += ["--trace-trials", args.trial]
        code, run_dir = execute(
            args, "reproduce", [nodeid_path(scenario)], extra,
            {"claims": [], "scenarios": [scenario["name"]]},
            point_latest=False, nova=nova)
    print("trace: %s" % os.path.relpath(runrecord.trace_path(
        run_dir, scenario["name"])))
    return code
