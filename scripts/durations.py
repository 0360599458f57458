"""Write <dir>/durations.json from a pytest junit.xml.

``harness run -n N`` and ``tox -e tests`` hand whole test files to their
workers longest first (harness/plugin.py, ``_longest_first``); the lengths
are the seconds each file took in a full run, summed over its tests, in
``scenarios/durations.json`` and ``tests/durations.json``.  Refresh them
after a change that moves time between files:

    python scripts/durations.py runs/<id>/junit.xml ["what was measured"]
    pytest -n 2 --dist loadfile tests --junitxml=J && \\
        python scripts/durations.py J ["what was measured"]

Each top-level directory the report names (``scenarios``, ``tests``) gets
its own table, with paths relative to it.
"""
from __future__ import annotations

import collections
import json
import pathlib
import sys
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _file_of(classname: str) -> pathlib.Path | None:
    """The test file a junit classname (``tests.test_x`` or
    ``tests.test_x.TestClass``) names."""
    parts = classname.split(".")
    for n in range(len(parts), 0, -1):
        path = ROOT.joinpath(*parts[:n]).with_suffix(".py")
        if path.is_file():
            return path
    return None


def main(argv: list[str]) -> int:
    if not argv or not pathlib.Path(argv[0]).is_file():
        print("usage: durations.py JUNIT.xml [what was measured]",
              file=sys.stderr)
        return 2
    tables: dict = collections.defaultdict(collections.Counter)
    for case in ET.parse(argv[0]).getroot().iter("testcase"):
        path = _file_of(case.get("classname", ""))
        if path is None:
            continue
        top = path.relative_to(ROOT).parts[0]
        tables[top][path.relative_to(ROOT / top).as_posix()] += float(
            case.get("time") or 0)
    for top, seconds in sorted(tables.items()):
        out = ROOT / top / "durations.json"
        doc = {"about": "Seconds each file took in a full run (the sum of "
                        "its tests' junit times); the harness's pytest "
                        "plugin hands whole files to xdist's workers "
                        "longest first.  Refresh: python "
                        "scripts/durations.py JUNIT.xml",
               "measured": argv[1] if len(argv) > 1 else argv[0],
               "seconds": {p: round(n, 1) for p, n in seconds.most_common()}}
        out.write_text(json.dumps(doc, indent=1) + "\n")
        print("wrote %s (%d files)" % (out, len(seconds)))
    if not tables:
        print("no test of this tree in %s" % argv[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
