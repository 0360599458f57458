"""One virtualenv per Nova release, built once and cached under .matrix/.

``build(release)`` returns the environment of a release, building it when
the cache has none (or one made from other constraints).  A build happens in
a temporary directory next to the cache and is renamed into place only once
Nova imports in it through the harness's adapter; a failed build leaves
nothing behind and raises :class:`EnvError` with one line saying what failed
and what to do.  Builds run under ``nice``: the machine is shared.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from harness.matrix import releases

CACHE = os.environ.get("HARNESS_MATRIX_CACHE") or os.path.join(
    releases.ROOT, ".matrix")
META = "matrix-env.json"
PYTHON_VERSION = (3, 11)


class EnvError(RuntimeError):
    """An environment could not be built (one line, with the remedy)."""


@dataclasses.dataclass
class Env:
    release: releases.Release
    path: str
    meta: dict
    built_now: bool = False
    seconds: float = 0.0

    @property
    def python(self) -> str:
        return os.path.join(self.path, "venv", "bin", "python")

    @property
    def sdist(self) -> str | None:
        """The Nova source distribution the release was installed from."""
        found = sorted(glob.glob(os.path.join(self.path, "sdist", "nova-*")))
        return found[0] if found else None


def base_python() -> str:
    """A Python 3.11 to build environments with."""
    if sys.version_info[:2] == PYTHON_VERSION:
        return sys.executable
    exe = shutil.which("python%d.%d" % PYTHON_VERSION)
    if exe:
        return exe
    raise EnvError("the matrix builds its environments with Python %d.%d, "
                   "which is not on PATH; install it or run the matrix "
                   "with it" % PYTHON_VERSION)


def _fingerprint(release: releases.Release) -> str:
    h = hashlib.sha256()
    for path in (release.series.constraints,
                 os.path.join(releases.ROOT, "requirements.txt")):
        with open(path, "rb") as f:
            h.update(f.read())
    h.update(release.nova_requirement.encode())
    h.update(release.series.placement.encode())
    return h.hexdigest()[:16]


def cached(release: releases.Release, stale_ok: bool = False) -> Env | None:
    """The cached environment of ``release``; None when there is none, or
    (unless ``stale_ok``) when it was built from other constraints or
    requirements than today's."""
    path = os.path.join(CACHE, release.key)
    try:
        with open(os.path.join(path, META), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    if not os.path.exists(os.path.join(path, "venv", "bin", "python")):
        return None
    if meta.get("fingerprint") != _fingerprint(release) and not stale_ok:
        return None
    if release.source_tree:   # a tree is re-installed on every run
        return None
    return Env(release, path, meta)


def _run(cmd, log, what, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    with open(log, "a", encoding="utf-8") as f:
        f.write("$ %s\n%s%s\n" % (" ".join(cmd), proc.stdout, proc.stderr))
    if proc.returncode != 0:
        raise _StepFailed(what, proc.stdout + proc.stderr)
    return proc.stdout


class _StepFailed(Exception):
    def __init__(self, what, output):
        super().__init__(what)
        self.what = what
        self.output = output


def _pip_why(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines()
             if ln.strip() and not ln.startswith("WARNING: Location")]
    for pat in (r"^ERROR: (No matching distribution.*)",
                r"^ERROR: (Could not find a version.*)",
                r"^(error: .*)", r"^ERROR: (.*)", r"^(\w*Error: .*)"):
        hits = [re.match(pat, ln).group(1) for ln in lines
                if re.match(pat, ln)]
        if hits:
            return hits[0][:240]
    return (lines[-1] if lines else "no output")[:240]


def build(release: releases.Release, log=print, nice: int = 10) -> Env:
    """The cached environment of ``release``, built if needed."""
    env = cached(release)
    if env is not None:
        return env
    os.makedirs(CACHE, exist_ok=True)
    python = base_python()
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix=".build-%s-" % release.key, dir=CACHE)
    buildlog = os.path.join(tmp, "build.log")
    niced = ["nice", "-n", str(nice)] if shutil.which("nice") else []
    venv_py = os.path.join(tmp, "venv", "bin", "python")
    pip = niced + [venv_py, "-m", "pip", "--disable-pip-version-check"]
    constraints = release.series.constraints
    try:
        log("  building the environment of Nova %s (Placement %s, %s) in %s"
            % (release.label, release.series.placement,
               os.path.relpath(constraints, releases.ROOT),
               os.path.relpath(tmp)))
        _run(niced + [python, "-m", "venv", os.path.join(tmp, "venv")],
             buildlog, "creating the virtualenv")
        if release.source_tree:
            nova_target = release.source_tree
        else:
            _run(pip + ["download", "--no-deps", "--no-binary", "nova",
                        "--dest", os.path.join(tmp, "sdist"),
                        "nova==%s" % release.version],
                 buildlog, "downloading the nova sdist")
            nova_target = glob.glob(os.path.join(tmp, "sdist", "nova-*"))[0]
        _run(pip + ["install", "-c", constraints, nova_target,
                    "openstack-placement==%s" % release.series.placement,
                    "-r", os.path.join(releases.ROOT, "requirements.txt")],
             buildlog, "installing nova and its dependencies")
        # Nova must import through the harness's adapter in the new env.
        out = _run(niced + [venv_py, "-m", "harness.world.nova_releases"],
                   buildlog, "importing nova", cwd=releases.ROOT,
                   env=dict(os.environ, PYTHONPATH=releases.ROOT,
                            OS_NOVA_DISABLE_EVENTLET_PATCHING="1"))
        info = json.loads(out.strip().splitlines()[-1])
    except _StepFailed as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        why = _pip_why(exc.output)
        if exc.what == "downloading the nova sdist":
            raise EnvError(
                "Nova %s is not on the package index (%s); give a series "
                "(%d) or a release that 'pip index versions nova' lists"
                % (release.label, why, release.series.major)) from None
        if exc.what == "importing nova":
            raise EnvError(
                "Nova %s installs but does not import (%s); %s" % (
                    release.label, why,
                    "fix the source tree" if release.source_tree else
                    "pick another release of series %d"
                    % release.series.major)) from None
        raise EnvError(
            "Nova %s does not install on Python %d.%d (%s while %s); pick "
            "another release of series %d (newest: %s)" % (
                release.label, PYTHON_VERSION[0], PYTHON_VERSION[1], why,
                exc.what, release.series.major,
                release.series.newest)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds = time.monotonic() - started
    meta = {"release": release.label, "key": release.key,
            "nova_requirement": release.nova_requirement,
            "series": release.series.major, "cycle": release.series.cycle,
            "placement": release.series.placement,
            "constraints": os.path.relpath(constraints, releases.ROOT),
            "fingerprint": _fingerprint(release), "nova": info,
            "build_seconds": round(seconds, 1),
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with open(os.path.join(tmp, META), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
    dest = os.path.join(CACHE, release.key)
    if os.path.exists(dest):
        old = dest + ".old-%d" % os.getpid()
        os.rename(dest, old)
        shutil.rmtree(old, ignore_errors=True)
    os.rename(tmp, dest)
    return Env(release, dest, meta, built_now=True, seconds=seconds)
