"""``python -m harness mutate``: the harness's own mutation score (plant
defects in copies of Nova's tracker and conductor helpers, report what
catches each; docs/mutation.md)."""
from __future__ import annotations

import os

from harness.cli.common import (EXIT_OK, FORMATTER, InputError,
                                add_common_options, check_scenario_dir,
                                positive, seed_default, split)
from harness.mutate import defects, runner


def add_parser(sub, help: str):
    mu = sub.add_parser(
        "mutate", help=help,
        description="Apply small defects, one at a time, to temporary "
                    "copies of the installed resource_tracker.py and "
                    "conductor/tasks/migrate.py (never the installed "
                    "files), run the catchers (the scenarios against a "
                    "pristine run; the explorer's corpus and a bounded "
                    "exploration when harness.explore exists) and report "
                    "which defects were caught and by what: "
                    "runs/mutate-<time>/ (mutation.json, mutation.md, each "
                    "mutant's diff). See docs/mutation.md.",
        epilog="exit codes: 0 the analysis ran (survivors are reported, "
               "not failures); 2 bad input or harness error.",
        formatter_class=FORMATTER)
    mu.add_argument("--list", action="store_true",
                    help="list the defects (and the sites this Nova lacks) "
                         "and exit")
    mu.add_argument("--defects", help="only these defect ids (comma "
                                      "separated, e.g. C01,M05)")
    mu.add_argument("--paths", help="only defects on these paths (claim, "
                                    "move_claim, drop, abort, "
                                    "audit_instances, audit_migrations, "
                                    "placement, conductor, equivalent)")
    mu.add_argument("--patch", metavar="FILE",
                    help="a reviewer's own defect: a unified diff against "
                         "the installed Nova (replaces the defect list)")
    mu.add_argument("--budget", type=positive, default=900,
                    help="seconds per mutant across its catchers "
                         "(default 900); what did not run is reported")
    mu.add_argument("--jobs", "-j", type=positive, default=1,
                    help="mutants run side by side (and pytest-xdist "
                         "workers for the pristine run); default 1")
    mu.add_argument("--scenarios", help="only these scenarios as catchers "
                                        "(comma separated names)")
    mu.add_argument("--lifecycle", metavar="EXPR",
                    help="only the lifecycle sequences matching this "
                         "pytest -k expression (default: all)")
    mu.add_argument("--reuse", metavar="RUN_DIR",
                    help="take the pristine run from this earlier mutate "
                         "run (refused if Nova, the scenarios or the "
                         "harness changed)")
    mu.add_argument("--explore-seconds", type=positive, default=60,
                    help="budget of the bounded exploration per mutant "
                         "(default 60)")
    mu.add_argument("--seed", type=int, default=seed_default(),
                    help="seed of the bounded exploration")
    mu.add_argument("--all-catchers", action="store_true",
                    help="run every catcher on every mutant instead of "
                         "stopping at the first that catches it")
    mu.add_argument("--merge", nargs="+", metavar="RUN_DIR",
                    help="merge earlier mutate runs (parts of the defect "
                         "list, or reruns of survivors) into one record "
                         "and score; runs nothing")
    mu.add_argument("--keep", action="store_true",
                    help="keep the temporary mutant files (printed path)")
    add_common_options(mu, baseline=False)
    mu.set_defaults(func=cmd_mutate)
    return mu


def cmd_mutate(args) -> int:
    if args.list:
        return _list_defects()
    if args.merge:
        try:
            runner.merge(args.merge, args.runs_dir,
                         out=lambda line: print(line, flush=True))
        except runner.MutateInputError as exc:
            raise InputError(str(exc)) from None
        return EXIT_OK
    if args.patch and (args.defects or args.paths):
        raise InputError("--patch replaces the defect list; drop --defects/"
                         "--paths or --patch")
    check_scenario_dir(args.scenario_dir)
    opts = runner.Options(
        defects=split(args.defects) or None,
        paths=split(args.paths) or None, patch=args.patch,
        budget=args.budget, jobs=args.jobs,
        scenarios=split(args.scenarios) or None,
        lifecycle=args.lifecycle or None, reuse=args.reuse,
        runs_dir=os.path.abspath(args.runs_dir),
        scenario_dir=os.path.abspath(args.scenario_dir),
        explore_seconds=args.explore_seconds, seed=args.seed,
        all_catchers=args.all_catchers, keep=args.keep)
    try:
        runner.run(opts, out=lambda line: print(line, flush=True))
    except runner.MutateInputError as exc:
        raise InputError(str(exc)) from None
    return EXIT_OK


def _list_defects() -> int:
    try:
        sources = defects.installed_sources()
    except FileNotFoundError as exc:
        raise InputError("%s; install Nova (run through tox)" % exc) \
            from None
    mutants, missing = defects.materialise(sources)
    print("%d defects apply to the installed Nova, %d sites missing"
          % (len(mutants), len(missing)))
    for m in mutants:
        d = m.defect
        print("  %-4s %-17s %-45s %-16s %s" % (
            d.id, d.path, d.function, d.operator, m.change))
    for d, why in missing:
        print("  %-4s MISSING %s: %s" % (d.id, d.qualname, why))
    return EXIT_OK
