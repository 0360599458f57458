#!/usr/bin/env python3
"""Generate constraints/nova-<series>.txt for the release matrix.

    scripts/matrix-constraints.py SERIES UPPER_CONSTRAINTS [--python PY]

UPPER_CONSTRAINTS is the OpenStack upper-constraints.txt of that series
(openstack/requirements, the branch named in harness/matrix/releases.py;
read it from a checkout: ``git show unmaintained/2023.1:upper-constraints.txt
> /tmp/uc-27.txt``).  It is input only and never committed.

What it writes is our own pin list, the packages one environment of the
series needs and nothing else:

1. Start from the series' upper constraints (evaluated for this Python).
2. The harness's own tooling (pytest and its plugins, hypothesis,
   pyinstrument and what they need) takes the pins of ``constraints.txt``:
   the harness is the same code in every environment.
3. Any pin listed in OVERRIDES below replaces the series' pin, with the
   reason written next to it (a release with no Python 3.11 distribution on
   the index, or one that breaks on 3.11).
4. pip resolves nova==<newest> + openstack-placement==<paired> +
   requirements.txt under those pins for the target Python (``--dry-run
   --report``), so every pin written exists for it; the resolution is the
   file.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from harness.matrix import releases  # noqa: E402

# The harness's own test tooling: pinned as in constraints.txt everywhere.
HARNESS_TOOLS = {
    "pytest", "pluggy", "iniconfig", "pytest-timeout", "pytest-socket",
    "pytest-randomly", "pytest-xdist", "execnet", "pytest-benchmark",
    "py-cpuinfo2", "hypothesis", "sortedcontainers", "pyinstrument",
}

# series -> {package: (pin, why)}: where the series' own pin cannot be used.
_PKG_RESOURCES = ("81.0.0", "the series' upper constraints leave setuptools "
                  "free, and this Nova imports pkg_resources "
                  "(nova/virt/__init__.py), which setuptools 82 removed")
OVERRIDES: dict[int, dict[str, tuple[str, str]]] = {
    27: {"setuptools": _PKG_RESOURCES},
    28: {"setuptools": _PKG_RESOURCES},
    29: {"setuptools": _PKG_RESOURCES},
    30: {"setuptools": _PKG_RESOURCES},
}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: str, env: dict | None = None) -> dict[str, tuple]:
    """name -> (original name, version) from a constraints file, markers
    evaluated for ``env``."""
    from packaging.markers import Marker
    pins = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            req, _, marker = line.partition(";")
            if marker.strip() and env is not None and \
                    not Marker(marker.strip()).evaluate(env):
                continue
            m = re.match(r"^([A-Za-z0-9_.\-\[\]]+)\s*={2,3}\s*(\S+)$",
                         req.strip())
            if m:
                pins[norm(m.group(1))] = (m.group(1), m.group(2))
    return pins


def resolve(python, series, merged):
    """(installed metadata list, None) or (None, {name: ..., "_why": [...]})
    from a pip dry run under ``merged``."""
    with tempfile.TemporaryDirectory(prefix="matrix-constraints-") as tmp:
        cfile = os.path.join(tmp, "c.txt")
        with open(cfile, "w", encoding="utf-8") as f:
            for orig, ver in merged.values():
                f.write("%s==%s\n" % (orig, ver))
        report = os.path.join(tmp, "report.json")
        cmd = [python, "-m", "pip", "install", "--dry-run",
               "--ignore-installed", "--report", report,
               "--no-binary", "nova", "-c", cfile,
               "nova==%s" % series.newest,
               "openstack-placement==%s" % series.placement,
               "-r", os.path.join(ROOT, "requirements.txt")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            with open(report, encoding="utf-8") as f:
                return json.load(f)["install"], None
    out = proc.stdout + proc.stderr
    why = [ln.strip() for ln in out.splitlines()
           if re.match(r"^\s+\S+ \S+ depends on ", ln)]
    conflict = {"_why": why or [ln for ln in out.splitlines()
                                if ln.startswith("ERROR")][-2:]}
    for m in re.finditer(r"The user requested \(constraint\) "
                         r"([A-Za-z0-9_.\-]+)==", out):
        conflict[norm(m.group(1))] = True
    return None, conflict


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("series", type=int, choices=sorted(releases.SERIES))
    ap.add_argument("upper_constraints")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter the environments use (Python 3.11)")
    ap.add_argument("-o", "--output")
    args = ap.parse_args()
    series = releases.SERIES[args.series]
    env = json.loads(subprocess.check_output([args.python, "-c", (
        "import json,platform,sys,os;print(json.dumps({'python_version': "
        "'%d.%d' % sys.version_info[:2], 'python_full_version': "
        "platform.python_version(), 'sys_platform': sys.platform, "
        "'platform_system': platform.system(), 'platform_machine': "
        "platform.machine(), 'os_name': os.name, "
        "'implementation_name': sys.implementation.name, "
        "'platform_python_implementation': "
        "platform.python_implementation(), 'extra': ''}))")]))
    uc = read_pins(args.upper_constraints, env)
    ours = read_pins(os.path.join(ROOT, "constraints.txt"))
    merged = dict(uc)
    for name in HARNESS_TOOLS:
        if name in ours:
            merged[name] = ours[name]
    notes = []
    for name, (pin, why) in OVERRIDES.get(args.series, {}).items():
        merged[norm(name)] = (name, pin)
        notes.append("# %s==%s: %s" % (name, pin, why))
    merged.pop("nova", None)
    merged.pop("openstack-placement", None)
    installed = None
    for _attempt in range(12):
        installed, conflict = resolve(args.python, series, merged)
        if installed is not None:
            break
        # A pin of the series that the harness's tooling (or our pins)
        # cannot live with: take constraints.txt's pin, say so in the file.
        lifted = [n for n in conflict if n in ours and
                  merged.get(n) != ours[n]]
        if not lifted:
            print("error: pip cannot resolve series %d under its pins: %s; "
                  "add an OVERRIDES entry with the reason"
                  % (args.series, " / ".join(conflict.get("_why", []))),
                  file=sys.stderr)
            return 2
        for n in lifted:
            notes.append("# %s==%s instead of the series' %s: %s" % (
                ours[n][0], ours[n][1], merged[n][1],
                "; ".join(conflict["_why"])))
            merged[n] = ours[n]
    lines = []
    for item in installed:
        meta = item["metadata"]
        if norm(meta["name"]) == "nova":
            continue
        lines.append("%s==%s" % (meta["name"], meta["version"]))
    lines.sort(key=str.lower)
    out = args.output or series.constraints
    head = [
        "# Nova %d.x (%s %s) on Python %s: generated by "
        "scripts/matrix-constraints.py" % (series.major, series.cycle,
                                           series.name, env["python_version"]),
        "# from openstack/requirements %s upper-constraints.txt; the "
        "harness's test tooling" % series.requirements_ref,
        "# takes constraints.txt's pins.  Resolved for nova==%s + "
        "openstack-placement==%s." % (series.newest, series.placement),
        "# nova itself is not pinned here (the matrix names the release).",
    ] + notes
    tmp_out = out + ".tmp"
    with open(tmp_out, "w", encoding="utf-8") as f:
        f.write("\n".join(head + lines) + "\n")
    os.replace(tmp_out, out)
    print("wrote %s (%d pins)" % (os.path.relpath(out), len(lines)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
