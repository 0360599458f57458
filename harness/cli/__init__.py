"""Command line: ``python -m harness`` (also ``nova-harness``).

    list       claims, scenarios and fault kinds (filters: --claim, --verdict)
    run        run scenarios, write a run record under runs/<id>/
    reproduce  run one scenario in the foreground, printing its trace
    report     re-render a stored run (text, Markdown, HTML, JSON)
    diff       compare two runs, or a run with the baseline
    explore    random lifecycle sequences, every invariant after every op
    mutate     the harness's own mutation score (docs/mutation.md)
    matrix     judge several Nova releases, compare verdicts, explain flips

Exit codes (docs/cli.md): 0 every verdict matches the baseline; 1 drift (a
verdict changed; the output names the claim/scenario, old and new); 2 bad
input or harness error (one line on stderr names the problem and the fix);
3 a scenario was INCONCLUSIVE.

One module per command, ``harness/cli/<command>.py``, each with
``add_parser(sub)`` (its options; ``set_defaults(func=...)`` names what
runs it).  A new command is a new module and a line in :data:`COMMANDS`.
What the commands share: :mod:`harness.cli.common` (exit codes, checks,
options), :mod:`harness.cli.execution` (a pytest run into a run record).
"""
from __future__ import annotations

import os
import sys

# (the modules are named after their commands: inside this package,
# ``list`` is harness.cli.list, not the builtin)
from harness.cli import (diff, explore, matrix, mutate, reproduce, report,
                         run)
from harness.cli import list as list_command
from harness.cli.common import (EPILOG, EXIT_ERROR, FORMATTER, InputError,
                                Parser, one_line)

# In the order ``--help`` lists them.  ``export`` goes after ``matrix``.
COMMANDS = (list_command, run, reproduce, report, diff, explore, mutate,
            matrix)


def build_parser() -> Parser:
    p = Parser(
        prog="python -m harness",
        description="Runtime fault-injection harness for Nova's resource "
                    "accounting: judge review claims against real Nova.",
        epilog=EPILOG, formatter_class=FORMATTER)
    sub = p.add_subparsers(dest="command", metavar="COMMAND",
                           parser_class=Parser)
    sub.required = True
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print("error: %s" % one_line(exc), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted; nothing was judged - run the command "
              "again", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - a harness bug: exit 2
        if os.environ.get("HARNESS_DEBUG"):
            raise
        print("error: harness error %s: %s; rerun with HARNESS_DEBUG=1 for "
              "the traceback" % (type(exc).__name__, one_line(exc)),
              file=sys.stderr)
        return EXIT_ERROR
