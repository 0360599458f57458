"""How the harness starts pytest in a child process to produce verdicts or
run records: the child's environment and the options that load the
harness's plugin.

Shared by the command line (``run``, ``reproduce``, collecting scenarios),
the mutation runner's catchers and the release matrix's call recorder, so
each child sees the same harness, catalogue and pytest configuration.
"""
from __future__ import annotations

import os

# The checkout the harness runs from (its scenarios/, pyproject.toml, runs/).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def child_env(base: dict | None = None) -> dict:
    """``base`` (default: this process's environment) for a child that runs
    the harness: this checkout first on ``PYTHONPATH`` (so the child imports
    the same harness), an alternative catalogue (``HARNESS_CATALOGUE``) made
    absolute, and unbuffered output (the parent echoes it as it comes)."""
    env = dict(os.environ if base is None else base, PYTHONUNBUFFERED="1")
    if env.get("HARNESS_CATALOGUE"):
        env["HARNESS_CATALOGUE"] = os.path.abspath(env["HARNESS_CATALOGUE"])
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                  if p])
    return env


def pytest_options() -> list[str]:
    """pytest options that load the harness's plugin with the project's
    configuration, wherever the child runs from.

    ``--show-capture=no``: a failing scenario (drift) would otherwise dump
    every DEBUG record Nova logged; the evidence logs are in the run
    record's ``logs/``."""
    return ["-p", "harness.plugin", "--rootdir", ROOT, "--show-capture=no",
            "-c", os.path.join(ROOT, "pyproject.toml"),
            "-p", "no:cacheprovider", "-o", "console_output_style=classic",
            "-W", "ignore::DeprecationWarning"]
