"""Benchmarks (pytest-benchmark): ``pytest benchmarks`` or ``tox -e bench``.

Files are ``bench_*.py`` so a plain ``pytest`` of the tests or scenarios
never collects them; this conftest collects them here.  See
docs/performance.md for the figures and how they were taken.
"""
from __future__ import annotations

import pytest


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") \
            and not parent.session.isinitpath(file_path):
        # (a file named on the command line is collected by pytest itself)
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session", autouse=True)
def nova_loaded():
    """Import Nova once, outside any timing."""
    from harness.world import novaenv
    novaenv.load()
