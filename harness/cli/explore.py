"""``python -m harness explore``: the stateful explorer from the command line.

    python -m harness explore --budget 10m --seed 7
    python -m harness explore --replay scenarios/corpus/<entry>.json

Prints the seed first, then a progress bar over the budget with operations
and operations per second; the same seed runs the same examples in the same
order.  A failure is shrunk, printed as the operation sequence (and
Hypothesis's rendering of the rule calls), and saved to the corpus, with the
command that replays it.  Exit codes: 0 nothing failed; 1 an invariant
failed (a finding candidate, saved); 2 bad input or harness error.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
import time

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from harness.cli.common import (EXIT_ERROR, EXIT_OK, FORMATTER,
                                add_db_option, db_server, seed_default)
from harness.explore import machine, runner
from harness.world.ops import Op

EXIT_FOUND = 1      # an invariant failed: a finding candidate, saved
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_budget(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text or "")
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            "budget %r: give a positive duration such as 90s, 10m or 1h"
            % text)
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def _families(text: str) -> list[str]:
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in machine.FAMILIES]
    if unknown:
        raise argparse.ArgumentTypeError(
            "unknown operation family %s; choose from %s"
            % (", ".join(unknown), ", ".join(machine.FAMILIES)))
    return names


def add_parser(sub, help: str):
    ex = sub.add_parser(
        "explore", help=help,
        description=__doc__, formatter_class=FORMATTER)
    ex.add_argument("--budget", type=parse_budget, default=parse_budget(
        "60s"), help="how long to explore: 90s, 10m, 1h (default 60s)")
    ex.add_argument("--seed", type=int, default=seed_default(),
                    help="seed (default 0 or $HARNESS_SEED); the same seed "
                         "replays the same examples")
    ex.add_argument("--steps", type=int, default=25,
                    help="rules per example (default 25)")
    ex.add_argument("--examples", type=int, default=runner.EXAMPLES,
                    help="examples per batch (default %d; the budget is "
                         "checked between examples; Hypothesis starts each "
                         "batch with its simplest and smallest examples, so "
                         "small batches explore little)" % runner.EXAMPLES)
    ex.add_argument("--jobs", type=int, default=None,
                    help="processes exploring at once (default: one per "
                         "CPU, or $HARNESS_EXPLORE_JOBS); the same seed "
                         "runs each batch's examples in the same order "
                         "whatever the number")
    ex.add_argument("--exclude", type=_families, default=[],
                    metavar="FAMILY,...",
                    help="leave out operation families, to look past a "
                         "recorded finding: %s" % ", ".join(
                             machine.FAMILIES))
    ex.add_argument("--corpus", default=runner.CORPUS,
                    help="where failures are saved (default "
                         "scenarios/corpus)")
    ex.add_argument("--no-save", action="store_true",
                    help="print a failure but do not save it")
    ex.add_argument("--record-outcome", action="store_true",
                    help="with --replay: record what the replay shows on "
                         "the installed Nova in the entry (its outcomes "
                         "per release, which the corpus test replays "
                         "against)")
    ex.add_argument("--replay", metavar="ENTRY",
                    help="replay one corpus entry step by step instead of "
                         "exploring")
    add_db_option(ex)
    ex.set_defaults(func=cmd_explore)
    return ex


def _quiet_logs():
    # Nova's warnings (a node not yet in the DB at a world's first audit,
    # an unavailable node kept) would otherwise reach stderr through
    # logging's last-resort handler on every example.
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


def cmd_replay(args) -> int:
    _quiet_logs()
    if getattr(args, "record_outcome", False):
        try:
            nova, invariants = runner.record_outcome(args.replay)
        except (runner.BadEntry, OSError) as exc:
            print("error: %s" % exc, file=sys.stderr)
            return EXIT_ERROR
        print("recorded for Nova %s: %s" % (
            nova, ", ".join(invariants) or "every invariant held"))
        return EXIT_OK
    try:
        result = runner.replay_entry(args.replay, echo=print)
    except runner.BadEntry as exc:
        print("error: %s" % exc, file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print("error: %s: %s" % (args.replay, exc), file=sys.stderr)
        return EXIT_ERROR
    if not result.failed:
        print("replayed %d operations: every invariant held" % result.ops)
        return EXIT_OK
    print("FAILED after %s:" % result.failed_after)
    for v in result.violations:
        print("  " + v)
    return EXIT_FOUND


def cmd_explore(args) -> int:
    """Explore (or replay) with every world on ``--db``'s engine: a real
    server is started for the command and removed after it."""
    with db_server(args):
        if args.replay:
            return cmd_replay(args)
        return _explore(args)


def _explore(args) -> int:
    if args.steps < 1 or args.examples < 1 or (args.jobs or 1) < 1:
        print("error: --steps, --examples and --jobs must be at least 1",
              file=sys.stderr)
        return EXIT_ERROR
    _quiet_logs()
    jobs = args.jobs or runner.default_jobs()
    print("explore: seed %d, budget %.0fs, %d examples x %d steps a batch, "
          "%d process%s%s"
          % (args.seed, args.budget, args.examples, args.steps, jobs,
             "es" if jobs > 1 else "",
             ", excluding " + ",".join(args.exclude)
             if args.exclude else ""), flush=True)
    started = time.monotonic()
    # No refresh thread: the explorer forks, and a copy must not inherit a
    # lock a thread of this process held (the bar refreshes from on_op).
    with Progress(TextColumn("[progress.description]{task.description}"),
                  BarColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[ops]} ops, {task.fields[rate]} "
                             "ops/s"),
                  transient=False, auto_refresh=False) as bar:
        task = bar.add_task("exploring", total=args.budget, ops=0,
                            rate="0.0")
        shown = [0.0]

        def on_op(n):
            spent = time.monotonic() - started
            if spent - shown[0] >= 0.5:
                shown[0] = spent
                bar.update(task, completed=min(spent, args.budget), ops=n,
                           rate="%.1f" % (n / spent if spent else 0),
                           refresh=True)

        result = runner.explore(args.budget, args.seed,
                                exclude=args.exclude,
                                examples=args.examples, steps=args.steps,
                                on_op=on_op, jobs=jobs)
        bar.update(task, completed=args.budget, ops=result.ops,
                   rate="%.1f" % result.ops_per_second, refresh=True)
    print("explored: seed %d, %d operations in %d runs (%d batches, %d "
          "process%s), %.1fs wall, %.1f ops/s wall, %.1f ops per CPU second"
          % (result.seed, result.ops, result.runs, result.batches,
             result.jobs, "es" if result.jobs > 1 else "",
             result.elapsed, result.ops_per_second,
             result.ops_per_cpu_second))
    print("operations: %s" % result.mix())
    if result.gaps:
        print("between-audit gaps seen (Nova reconciles these only at the "
              "next audit; finding candidates):")
        for what, n in result.gaps.items():
            print("  %5d x %s" % (n, what))
    failure = result.failure
    if failure is None:
        print("no invariant failed")
        return EXIT_OK
    print("FAILED (shrunk to %d operations) after %s:"
          % (len(failure.ops), failure.failed_after))
    for v in failure.violations:
        print("  " + v)
    print("operations:")
    for doc in failure.ops:
        print("  " + Op.from_dict(doc).call())
    if failure.program:
        print(failure.program)
    if not args.no_save:
        path = runner.save(failure, args.corpus)
        print("saved: %s\nreplay: python -m harness explore --replay %s"
              % (path, path))
    return EXIT_FOUND
