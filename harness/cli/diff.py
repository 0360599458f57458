"""``python -m harness diff``: every verdict that differs between two runs,
or between a run and the baseline; runs on different database engines are
compared with what the engines explain (:mod:`harness.report.engines`)."""
from __future__ import annotations

import os

from harness.cli.common import (EPILOG, EXIT_DRIFT, EXIT_OK, FORMATTER,
                                add_common_options, load_baseline,
                                load_record)
from harness.report import engines as engine_report
from harness.report import tables as report_mod


def add_parser(sub, help: str):
    df = sub.add_parser(
        "diff", help=help,
        description="Name every scenario and claim whose verdict differs "
                    "(old -> new). With one run, compare it with the "
                    "baseline. Exit 1 when anything differs.",
        epilog=EPILOG, formatter_class=FORMATTER)
    df.add_argument("run_a", metavar="RUN_A",
                    help="a run record; A1,A2 merges the shards of a run")
    df.add_argument("run_b", metavar="RUN_B", nargs="?",
                    help="another (B1,B2 for shards)")
    add_common_options(df, scen=False)
    df.set_defaults(func=cmd_diff)
    return df


def cmd_diff(args) -> int:
    a = load_record(args.run_a, args.runs_dir, require_complete=True)
    if args.run_b:
        b = load_record(args.run_b, args.runs_dir, require_complete=True)
        if engine_report.engine_of(a.verdicts) != \
                engine_report.engine_of(b.verdicts):
            return _diff_engines(a, b)
        drift = report_mod.diff_docs(a.verdicts, b.verdicts)
        old_label, new_label = a.id, b.id
        print("comparing run %s with run %s" % (a.id, b.id))
    else:
        baseline = load_baseline(args.baseline)
        drift = report_mod.drift_against_baseline(a.verdicts, baseline)
        old_label, new_label = "baseline", a.id
        print("comparing run %s with the baseline %s" % (
            a.id, os.path.relpath(args.baseline)))
    lines = report_mod.drift_lines(drift, old_label, new_label)
    for line in lines:
        print(line)
    for d in drift["only_a"]:
        print("only in %s: %s (%s)" % (old_label, d["scenario"],
                                       d["verdict"]))
    for d in drift["only_b"]:
        print("only in %s: %s (%s)" % (new_label, d["scenario"],
                                       d["verdict"]))
    if lines:
        print("drift: %d scenario(s), %d claim(s) changed" % (
            len(drift["scenarios"]), len(drift["claims"])))
        return EXIT_DRIFT
    print("no drift: every verdict the two share is the same")
    return EXIT_OK


def _diff_engines(a, b) -> int:
    """Two runs on different database engines: a verdict that differs is
    drift unless the engines explain it (harness.report.engines)."""
    rows = engine_report.compare(a.verdicts, b.verdicts)
    print("comparing run %s (%s) with run %s (%s): %d scenarios both ran"
          % (a.id, engine_report.engine_of(a.verdicts), b.id,
             engine_report.engine_of(b.verdicts), len(rows)))
    for line in engine_report.lines(rows):
        print(line)
    unexplained = [r for r in rows if r["status"] == "unexplained"]
    explained = [r for r in rows if r["status"] == "explained"]
    print("%d same, %d explained by the engines, %d unexplained; %d "
          "variants refused and %d coerced by %s" % (
              len(rows) - len(unexplained) - len(explained), len(explained),
              len(unexplained), sum(r["refused_by_b"] for r in rows),
              sum(r["coerced_by_b"] for r in rows),
              engine_report.engine_of(b.verdicts)))
    return EXIT_DRIFT if unexplained else EXIT_OK
