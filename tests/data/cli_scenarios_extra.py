"""More synthetic scenarios for tests/test_cli.py (see cli_scenarios.py)."""
import os
import time

import pytest


@pytest.mark.claims("000-3")
def test_cli_synthetic_undecided(judge):
    # No control trial: the judge cannot decide (INCONCLUSIVE).
    judge.decide("nothing was observed")


@pytest.mark.claims("000-3")
def test_cli_synthetic_slow(judge):
    # Lets a test interrupt a run while a scenario is running.
    flag = os.environ.get("HARNESS_CLI_TEST_STARTED")
    if flag:
        open(flag, "w").close()
    time.sleep(float(os.environ.get("HARNESS_CLI_TEST_SLEEP", "0")))
    judge.not_testable("synthetic: slept")
