"""The tests pytest collects under ``scenarios/`` (every directory, as
``python -m harness run`` does), for the self-tests that hold the
catalogue and the baseline against the scenario files."""
from __future__ import annotations

import functools
import glob
import os

from harness.cli.common import DEFAULT_SCENARIOS, collect


@functools.lru_cache(maxsize=None)
def collected() -> tuple:
    """Every collected test: name, nodeid, file, claims, findings, judged
    (:func:`harness.report.runrecord.write_collection`)."""
    return tuple(collect(DEFAULT_SCENARIOS))


def function_name(test: dict) -> str:
    """The test function's name (a parametrized test's without its
    parameters)."""
    return test["name"].split("[", 1)[0]


def verdict_scenarios() -> dict[str, dict]:
    """Scenario name -> the collected test, for every test that decides a
    claim or a finding."""
    return {t["name"]: t for t in collected()
            if t["claims"] or t["findings"] or t["judged"]}


def scenario_files() -> set[str]:
    """Every ``test_*.py`` under scenarios/, at any depth."""
    return {os.path.realpath(p) for p in glob.glob(
        os.path.join(DEFAULT_SCENARIOS, "**", "test_*.py"), recursive=True)}
