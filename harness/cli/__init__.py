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

One module per command, ``harness/cli/<command>.py``, with
``add_parser(sub, help)`` (its options; ``set_defaults(func=...)`` names
what runs it).  A new command is a new module and a line in
:data:`COMMANDS`.  A command's module is loaded only when that command runs
(or by :func:`build_parser` for every command): ``report`` needs no
Hypothesis, ``matrix`` no Nova.  What the commands share:
:mod:`harness.cli.common` (exit codes, checks, options) and
:mod:`harness.cli.execution` (a pytest run into a run record).
"""
from __future__ import annotations

import importlib
import os
import sys

from harness.cli.common import (EPILOG, EXIT_ERROR, FORMATTER, InputError,
                                Parser, one_line)

# Each command, as ``--help`` lists it: harness/cli/<name>.py, its help.
COMMANDS = {
    "list": "list claims, scenarios, fault kinds",
    "run": "run scenarios and write a run record",
    "reproduce": "run one scenario in the foreground with its step-by-step "
                 "trace",
    "report": "re-render a stored run",
    "diff": "compare two runs, or a run with the baseline",
    "explore": "explore random lifecycle operation sequences with faults, "
               "checking every invariant after every operation",
    "mutate": "the harness's own mutation score: plant defects in a copy of "
              "Nova, see what catches them",
    "matrix": "judge several Nova releases and compare them",
    "export": "write a finding as a Nova functional regression test",
}


def build_parser(only: str | None = None) -> Parser:
    """The parser of every command, or, with ``only``, of that command
    alone (the others are listed with their help, their modules not
    loaded; ``only=""``: none)."""
    p = Parser(
        prog="python -m harness",
        description="Runtime fault-injection harness for Nova's resource "
                    "accounting: judge review claims against real Nova.",
        epilog=EPILOG, formatter_class=FORMATTER)
    sub = p.add_subparsers(dest="command", metavar="COMMAND",
                           parser_class=Parser)
    sub.required = True
    for name, help in COMMANDS.items():
        if only is None or name == only:
            module = importlib.import_module("harness.cli." + name)
            module.add_parser(sub, help)
        else:
            sub.add_parser(name, help=help)
    return p


def main(argv=None) -> int:
    # (not list(): importing the ``list`` command's module binds
    # ``harness.cli.list`` here, over the builtin)
    argv = sys.argv[1:] if argv is None else [*argv]
    # the command is the first word that is not an option (the top level
    # has none but --help)
    named = next((a for a in argv if not a.startswith("-")), "")
    parser = build_parser(named if named in COMMANDS else "")
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
