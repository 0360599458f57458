"""``python -m harness run``: run every scenario (or a selection), print
the verdict table, write a run record (docs/cli.md)."""
from __future__ import annotations

import argparse
import importlib.util
import os

from harness.cli.common import (EPILOG, FORMATTER, InputError,
                                add_common_options, add_db_option,
                                check_claim_ids, check_scenario_dir, collect,
                                db_server, load_baseline, load_catalogue,
                                nodeid_path, nova_version, seed_default,
                                split, workers)
from harness.cli.execution import execute


def add_parser(sub, help: str):
    run = sub.add_parser(
        "run", help=help,
        description="Run every scenario (or a selection), print the verdict "
                    "table and write runs/<id>/ (verdicts.json, junit.xml, "
                    "traces/, logs/, report.md, report.html and "
                    "report.trials/, run.json); runs/latest points at it.",
        epilog=EPILOG, formatter_class=FORMATTER)
    run.add_argument("--claims", help="only scenarios of these claim ids "
                                      "(comma separated)")
    run.add_argument("--scenarios", help="only these scenarios (comma "
                                         "separated names)")
    run.add_argument("--seed", type=int, default=seed_default(),
                     help="seed for the scenarios' randomness (default 0 "
                          "or $HARNESS_SEED); recorded in the run")
    run.add_argument("-n", "--workers", "--jobs", type=workers,
                     default=os.environ.get("HARNESS_WORKERS") or "auto",
                     help="run scenarios in N processes (pytest-xdist, "
                          "--dist loadfile; default 'auto' = one per CPU, "
                          "or $HARNESS_WORKERS; 0 or 1: one process)")
    run.add_argument("--keep-traces", choices=("deciding", "all"),
                     default="deciding",
                     help="keep every step of the trials that decide a "
                          "verdict, broke an invariant or failed (and the "
                          "first control), summarising the others "
                          "('deciding', default); or of all trials ('all')")
    run.add_argument("--shard", type=shard, metavar="I/N",
                     help="run only shard I of N: whole scenario files, "
                          "split the same way on every machine; merge the "
                          "shards' records with 'report A,B' or 'diff A,B'")
    run.add_argument("--record-baseline", action="store_true",
                     help="store the observed verdicts as the new baseline")
    add_db_option(run)
    add_common_options(run)
    run.set_defaults(func=cmd_run)
    return run


def cmd_run(args) -> int:
    catalogue = load_catalogue()
    claims = split(args.claims)
    check_claim_ids(claims, catalogue)
    if not args.record_baseline:
        load_baseline(args.baseline)
    check_scenario_dir(args.scenario_dir)
    targets = [os.path.abspath(args.scenario_dir)]
    names = split(args.scenarios)
    extra = []
    if names:
        found = {s["name"]: s for s in collect(args.scenario_dir)}
        unknown = [n for n in names if n not in found]
        if unknown:
            raise InputError(
                "unknown scenario %r in --scenarios; see 'python -m harness "
                "list scenarios' for the names" % unknown[0])
        targets = [nodeid_path(found[n]) for n in names]
    if claims:
        if not names and not collect(args.scenario_dir, claims):
            raise InputError(
                "no scenario judges claim(s) %s yet (NOT_JUDGED), so there "
                "is nothing to run; see 'python -m harness list scenarios'"
                % ", ".join(claims))
        extra += ["--claims", ",".join(claims)]
    selection = {"claims": claims, "scenarios": names}
    if args.shard:
        index, count = args.shard
        scenarios = collect(args.scenario_dir, claims or None)
        if names:
            scenarios = [s for s in scenarios if s["name"] in names]
        mine = shard_of(scenarios, index, count)
        if not mine:
            raise InputError(
                "shard %d/%d has no scenarios: the selection has %d scenario "
                "file(s), and a file is never split; use at most that many "
                "shards" % (index, count, len({s["file"] for s in scenarios})))
        targets = [nodeid_path(s) for s in mine]
        selection["shard"] = "%d/%d" % (index, count)
        selection["shard_scenarios"] = [s["name"] for s in mine]
    files = None       # the scenario files to run, when known
    if os.path.isfile(args.scenario_dir):
        files = {args.scenario_dir}
    elif names or args.shard:
        files = {t.split("::")[0] for t in targets}
    workers = args.workers
    if files is not None and len(files) <= 1:
        workers = 1     # one file: a worker would only add its start-up
    extra += workers_options(workers)
    extra += ["--keep-traces", args.keep_traces, "--progress", "-q"]
    with db_server(args):
        nova = nova_version()
        code, _ = execute(args, "run", targets, extra, selection, nova=nova)
    return code


def workers_options(workers) -> list[str]:
    """pytest options for ``--workers``: xdist with ``--dist loadfile`` (a
    scenario file's scenarios share observations computed once per
    process, so they stay in one worker), or none for one process.  The
    files go out longest first, in the order the plugin collects them
    (``scenarios/durations.json``), not xdist's own by number of scenarios.

    (Not ``loadgroup``: pytest-xdist 3.8 marks a group by rewriting
    ``item._nodeid``, which pytest 9 no longer reads, so groups are ignored
    and every scenario is scheduled on its own.)"""
    if workers in (None, "auto"):
        workers = os.cpu_count() or 1
    if int(workers) <= 1:
        return ["-p", "no:xdist"] if _has_xdist() else []
    if not _has_xdist():
        raise InputError("--workers %s needs pytest-xdist, which is not "
                         "installed; install it (pip install -c "
                         "constraints.txt pytest-xdist) or use --workers 1"
                         % workers)
    return ["-n", str(workers), "--dist", "loadfile",
            "--no-loadscope-reorder"]


def _has_xdist() -> bool:
    return importlib.util.find_spec("xdist") is not None


def shard_of(scenarios: list[dict], index: int, count: int) -> list[dict]:
    """Shard ``index`` (1-based) of ``count``: whole scenario files, the
    largest first, each to the shard with the fewest scenarios so far (ties:
    the lowest shard).  Depends only on the collected scenarios, so every
    machine of a CI matrix computes the same split."""
    files: dict[str, list[dict]] = {}
    for s in scenarios:
        files.setdefault(s.get("file") or s["nodeid"].split("::")[0],
                         []).append(s)
    load = [0] * count
    owner = {}
    for name in sorted(files, key=lambda f: (-len(files[f]), f)):
        k = min(range(count), key=lambda i: (load[i], i))
        owner[name] = k
        load[k] += len(files[name])
    return [s for s in scenarios
            if owner[s.get("file") or s["nodeid"].split("::")[0]]
            == index - 1]


def shard(value: str):
    """``--shard I/N``."""
    try:
        index, count = (int(x) for x in value.split("/"))
    except ValueError:
        index = count = 0
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(
            "%r is not a shard: use I/N with 1 <= I <= N, e.g. 1/2" % value)
    return index, count
