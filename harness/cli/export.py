"""``python -m harness export F-NN``: write a finding as one Nova
functional regression test (``test_bug_*.py`` shape; see
:mod:`harness.export`)."""
from __future__ import annotations

import os

from harness.cli.common import EPILOG, FORMATTER, InputError


def add_parser(sub, help: str):
    p = sub.add_parser(
        "export", help=help,
        description="Run the finding's scenario trials until one shows its "
                    "harm, and write what that trial did as one Nova "
                    "functional regression test: Nova's own base class and "
                    "fixtures, every operation through the REST API, "
                    "asserting today's (broken) behaviour with a FIX note "
                    "on each assertion.  Run it with Nova's test runner "
                    "(in Nova's tree, or against the installed Nova with "
                    "OS_DEFAULT__STATE_PATH=<the environment's prefix>).",
        epilog=EPILOG, formatter_class=FORMATTER)
    p.add_argument("finding", metavar="F-NN")
    p.add_argument("-o", "--out", metavar="FILE",
                   help="where to write the test (default: "
                        "test_harness_<finding>.py in the current "
                        "directory)")
    p.set_defaults(func=cmd_export)
    return p


def cmd_export(args) -> int:
    from harness.export import ExportError, choose, write_test
    from harness.files import write_text_atomic
    from harness.world import novaenv
    out = args.out or "test_harness_%s.py" % args.finding.replace(
        "-", "").lower()
    if os.path.isdir(out):
        raise InputError("--out %s is a directory; name the file to write"
                         % out)
    try:
        novaenv.load()
        chosen = choose(args.finding)
        version = novaenv.version_info()["nova"]
        text = write_test(chosen, nova_version=version)
    except ExportError as exc:
        raise InputError(str(exc)) from None
    write_text_atomic(out, text)
    print("wrote %s: %s, from the trial %r (%s)" % (
        out, chosen.finding.id, chosen.trial.name,
        ", ".join(sorted({v.invariant for _s, v in chosen.harm}))))
    return 0
