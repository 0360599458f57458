"""Which Nova releases the matrix knows, and what each one is paired with.

A *series* is a Nova major version (27 = 2023.1 ... 34 = 2026.2).  Each
series is judged, by default, at its newest point release, installed with
the constraints file generated for it (``constraints/nova-<series>.txt``,
see ``scripts/matrix-constraints.py``) and with the Placement release of the
same OpenStack cycle (docs/matrix.md says why every release gets its own
Placement rather than Placement 16.0.0).
"""
from __future__ import annotations

import dataclasses
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CONSTRAINTS_DIR = os.path.join(ROOT, "constraints")


@dataclasses.dataclass(frozen=True)
class Series:
    major: int            # Nova's major version
    cycle: str            # the OpenStack release it belongs to
    name: str             # the cycle's code name
    newest: str           # newest Nova point release on the package index
    placement: str        # openstack-placement of the same cycle
    requirements_ref: str  # openstack/requirements ref its constraints came from

    @property
    def constraints(self) -> str:
        return os.path.join(CONSTRAINTS_DIR, "nova-%d.txt" % self.major)


# Newest point releases and Placement pairings as found on the package index
# (pip index versions nova / openstack-placement) when the constraints were
# generated; scripts/matrix-constraints.py regenerates both.
SERIES: dict[int, Series] = {s.major: s for s in (
    Series(27, "2023.1", "Antelope", "27.5.1", "9.0.0", "unmaintained/2023.1"),
    Series(28, "2023.2", "Bobcat", "28.3.1", "10.0.1", "2023.2-eol"),
    Series(29, "2024.1", "Caracal", "29.4.0", "11.0.1", "unmaintained/2024.1"),
    Series(30, "2024.2", "Dalmatian", "30.3.0", "12.0.2", "2024.2-eol"),
    Series(31, "2025.1", "Epoxy", "31.3.1", "13.0.1", "stable/2025.1"),
    Series(32, "2025.2", "Flamingo", "32.2.1", "14.0.0", "stable/2025.2"),
    Series(33, "2026.1", "Gazpacho", "33.0.2", "15.0.0", "stable/2026.1"),
    Series(34, "2026.2", "Hibiscus", "34.0.0", "16.0.0", "master"),
)}

OLDEST, NEWEST = min(SERIES), max(SERIES)


class UnknownRelease(ValueError):
    """A release the matrix cannot judge (one line, with the remedy)."""


@dataclasses.dataclass(frozen=True)
class Release:
    """One Nova to judge: a release from the index, or a source tree."""
    label: str            # "27.5.1", or the tree's directory name
    series: Series
    version: str | None   # None for a source tree
    source_tree: str | None = None

    @property
    def key(self) -> str:
        """The cache directory name under .matrix/."""
        if self.source_tree:
            return "tree-%s-nova%d" % (re.sub(r"[^A-Za-z0-9_.-]", "_",
                                              self.label), self.series.major)
        return self.version

    @property
    def nova_requirement(self) -> str:
        return self.source_tree or "nova==%s" % self.version


_VERSION = re.compile(r"^(\d+)(?:\.(\d+)(?:\.(\d+))?)?$")


def parse(spec: str) -> Release:
    """``27`` (newest 27.x), ``27.2.0`` (that release) or a path to a Nova
    source tree (``/src/nova`` or ``/src/nova@29`` to name its series)."""
    spec = spec.strip()
    known = ", ".join("%d (%s)" % (m, s.cycle) for m, s in SERIES.items())
    path, _, at = spec.rpartition("@") if "@" in spec else (spec, "", "")
    if os.sep in path or path.startswith(".") or os.path.isdir(path):
        tree = os.path.abspath(path)
        if not os.path.isfile(os.path.join(tree, "setup.cfg")) or \
                not os.path.isdir(os.path.join(tree, "nova")):
            raise UnknownRelease(
                "%s is not a Nova source tree (no setup.cfg and nova/ "
                "package); give a release such as %s or a nova checkout"
                % (spec, SERIES[NEWEST].newest))
        major = int(at) if at.isdigit() else _tree_series(tree)
        if major not in SERIES:
            raise UnknownRelease(
                "cannot tell the series of the source tree %s; name it as "
                "%s@<series> with a series among %s" % (spec, path, known))
        return Release(os.path.basename(tree.rstrip(os.sep)) or tree,
                       SERIES[major], None, tree)
    m = _VERSION.match(spec)
    if not m:
        raise UnknownRelease(
            "%r is not a Nova release; give a series (27..34), a release "
            "such as 27.2.0, or a path to a source tree" % spec)
    major = int(m.group(1))
    if major not in SERIES:
        raise UnknownRelease(
            "Nova %s is outside the matrix; known series: %s" % (spec, known))
    series = SERIES[major]
    if m.group(2) is None:
        version = series.newest
    else:
        version = "%s.%s.%s" % (m.group(1), m.group(2), m.group(3) or "0")
    return Release(version, series, version)


def parse_list(text: str) -> list[Release]:
    items = [x for x in (text or "").split(",") if x.strip()]
    if not items:
        return [parse(str(m)) for m in SERIES]
    out, seen = [], set()
    for item in items:
        rel = parse(item)
        if rel.key not in seen:
            seen.add(rel.key)
            out.append(rel)
    return out


def _tree_series(tree: str) -> int | None:
    """The series of a Nova source tree: from git tags if it is a checkout,
    else from PKG-INFO (an unpacked sdist)."""
    import subprocess
    try:
        out = subprocess.run(["git", "-C", tree, "describe", "--tags",
                              "--abbrev=0"], capture_output=True, text=True,
                             timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    if not out and os.path.isfile(os.path.join(tree, "PKG-INFO")):
        with open(os.path.join(tree, "PKG-INFO"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("Version:"):
                    out = line.split(":", 1)[1].strip()
                    break
    m = re.match(r"(\d+)\.", out)
    return int(m.group(1)) if m else None
