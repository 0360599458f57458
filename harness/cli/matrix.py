"""``python -m harness matrix``: judge several Nova releases, each in its
own cached environment, and show every flip between neighbouring releases
with the Nova change behind it (docs/matrix.md)."""
from __future__ import annotations

import os

from harness.cli.common import (EPILOG, EXIT_OK, FORMATTER, InputError,
                                add_common_options, add_db_option,
                                check_claim_ids, db_engine, db_server,
                                load_catalogue, seed_default, split, workers)
from harness.matrix import envs, releases
from harness.matrix import run as matrix_run


def add_parser(sub, help: str):
    mx = sub.add_parser(
        "matrix", help=help,
        description="Build (once, cached under .matrix/) one environment "
                    "per Nova release, run the scenarios in each with "
                    "'python -m harness run', and print claims x releases "
                    "and findings x releases with every flip between "
                    "neighbouring releases highlighted and explained by "
                    "the Nova change behind it.  Writes a run record per "
                    "release and matrix.md/.html/.json.  Exit 0 every "
                    "release judged, 2 bad input or a release that cannot "
                    "be built or run, 3 a scenario was INCONCLUSIVE.",
        epilog=EPILOG, formatter_class=FORMATTER)
    mx.add_argument("--nova", metavar="RELEASES",
                    help="comma separated: a series (27 = newest 27.x), a "
                         "release (27.2.0) or a Nova source tree "
                         "(path[@series]); default: every series 27..34")
    mx.add_argument("--claims", help="only scenarios of these claim or "
                                     "finding ids (000-3,F-08)")
    mx.add_argument("--scenarios", help="only these scenarios (comma "
                                        "separated names)")
    mx.add_argument("--seed", type=int, default=seed_default())
    mx.add_argument("-n", "--workers", type=workers, default=None,
                    help="pytest-xdist workers per release run")
    mx.add_argument("--explore-budget", type=int, default=50,
                    help="seconds of the explorer's corpus replay and "
                         "bounded exploration in each release (default 50)")
    mx.add_argument("--out", help="matrix output directory (default: "
                                  "runs/matrix/<id>/)")
    mx.add_argument("--build-only", action="store_true",
                    help="build the environments, run nothing")
    mx.add_argument("--merge", nargs="+", metavar="DIR",
                    help="merge matrix outputs (one per CI job) into one "
                         "report; runs nothing")
    mx.add_argument("--nice", type=int, default=10,
                    help="niceness of builds and runs (default 10)")
    add_db_option(mx)
    add_common_options(mx, baseline=False, scen=False)
    mx.set_defaults(func=cmd_matrix)
    return mx


def cmd_matrix(args) -> int:
    """Build (or reuse) one environment per Nova release, run the scenarios
    in each, and compare (harness/matrix, docs/matrix.md)."""
    if args.merge:
        for d in args.merge:
            path = d if d.endswith(".json") else os.path.join(
                d, matrix_run.DOC)
            if not os.path.isfile(path):
                raise InputError(
                    "%s has no %s; give the output directories of matrix "
                    "runs (their --out)" % (d, matrix_run.DOC))
        return matrix_run.merge(args.merge, args.out or
                                matrix_run.default_out(args.runs_dir))
    try:
        rels = releases.parse_list(args.nova)
    except releases.UnknownRelease as exc:
        raise InputError(str(exc)) from None
    claims = split(args.claims)
    if claims:
        check_claim_ids(claims, load_catalogue())
    kind = db_engine(args)     # a bad engine stops before any build
    try:
        built = matrix_run.build_all(rels, nice=args.nice)
        if args.build_only:
            return EXIT_OK
        out = args.out or matrix_run.default_out(args.runs_dir)
        opts = matrix_run.Options(
            claims=claims, scenarios=split(args.scenarios), seed=args.seed,
            workers=args.workers, explore_budget=args.explore_budget,
            out_dir=os.path.abspath(out), nice=args.nice, db=kind)
        # One server for every release (started after the builds, before
        # the output directory exists: a server that will not start leaves
        # nothing behind); each release's run reaches it by HARNESS_DB_URL.
        with db_server(args):
            return matrix_run.run(rels, opts, built=built)
    except envs.EnvError as exc:
        raise InputError(str(exc)) from None
