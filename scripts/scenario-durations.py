"""Write scenarios/durations.json from a run's junit.xml.

``harness run`` hands scenario files to its workers longest first
(harness/plugin.py, ``_longest_first``); the lengths are the seconds each
file took in a full run, summed over its scenarios.  Refresh them after a
change that moves time between files:

    python scripts/scenario-durations.py runs/<id>/junit.xml [MEASURED]
"""
from __future__ import annotations

import collections
import json
import pathlib
import sys
import xml.etree.ElementTree as ET

OUT = pathlib.Path(__file__).resolve().parent.parent / "scenarios" / \
    "durations.json"


def main(argv: list[str]) -> int:
    if not argv or not pathlib.Path(argv[0]).is_file():
        print("usage: scenario-durations.py RUN/junit.xml [what was measured]",
              file=sys.stderr)
        return 2
    seconds = collections.Counter()
    for case in ET.parse(argv[0]).getroot().iter("testcase"):
        path = case.get("classname", "").replace(".", "/") + ".py"
        path = path.split("/", 1)[1] if "/" in path else path
        seconds[path] += float(case.get("time") or 0)
    about = json.loads(OUT.read_text())["about"] if OUT.exists() else ""
    doc = {"about": about,
           "measured": argv[1] if len(argv) > 1 else argv[0],
           "seconds": {p: round(n) for p, n in seconds.most_common()}}
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print("wrote %s (%d files)" % (OUT, len(seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
