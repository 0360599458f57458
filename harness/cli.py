"""Command line: ``python -m harness`` (also ``nova-harness``).

Exit codes: 0 every verdict matches the baseline; 1 drift; 2 bad input or
harness error; 3 a scenario was INCONCLUSIVE.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from harness import baseline as baseline_mod

EXIT_OK, EXIT_DRIFT, EXIT_ERROR, EXIT_INCONCLUSIVE = 0, 1, 2, 3
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fail(message: str) -> int:
    print("error: %s" % message, file=sys.stderr)
    return EXIT_ERROR


def cmd_run(args) -> int:
    import pytest
    run_dir = os.path.join(args.runs_dir, time.strftime("%Y%m%dT%H%M%SZ",
                                                        time.gmtime()))
    os.makedirs(run_dir, exist_ok=True)
    verdicts = os.path.join(run_dir, "verdicts.json")
    argv = [os.path.join(ROOT, "scenarios"), "-q", "-p", "harness.plugin",
            "--verdicts-json", verdicts, "--baseline", args.baseline,
            "--junitxml", os.path.join(run_dir, "junit.xml"),
            "-o", "console_output_style=classic"]
    if args.claims:
        argv += ["--claims", args.claims]
    if args.record_baseline:
        argv.append("--record-baseline")
    rc = pytest.main(argv)
    if rc in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR,
              pytest.ExitCode.INTERRUPTED) or not os.path.exists(verdicts):
        return EXIT_ERROR
    with open(verdicts, encoding="utf-8") as f:
        doc = json.load(f)
    print("run record: %s" % run_dir)
    return exit_code(doc, record=args.record_baseline)


def exit_code(doc: dict, record: bool = False) -> int:
    scenarios = doc["scenarios"]
    if any(s.get("traceback") for s in scenarios):
        return EXIT_ERROR
    if not record and any(s["baseline"] != s["verdict"] for s in scenarios):
        return EXIT_DRIFT
    if any(s["verdict"] == "INCONCLUSIVE" for s in scenarios):
        return EXIT_INCONCLUSIVE
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m harness",
        description="Runtime fault-injection harness for Nova's resource "
                    "accounting.",
        epilog="exit codes: 0 verdicts match the baseline; 1 drift (a "
               "verdict changed); 2 bad input or harness error; 3 a "
               "scenario was INCONCLUSIVE")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run scenarios, print the verdict table")
    run.add_argument("--claims", help="comma-separated claim ids")
    run.add_argument("--baseline", default=baseline_mod.DEFAULT_PATH)
    run.add_argument("--record-baseline", action="store_true",
                     help="store the observed verdicts as the new baseline")
    run.add_argument("--runs-dir", default=os.path.join(ROOT, "runs"))
    run.set_defaults(func=cmd_run)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
