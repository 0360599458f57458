"""A tiny real scenario for tests/test_mutate.py (not collected by
``pytest tests``: the file name does not match test_*.py).

One control trial through the real tracker (boot, resize to another host,
confirm), so a mutant of the claim, move-claim or drop paths changes what
its invariants observe, in a few seconds.  Not evidence about Nova: the
real scenarios live in scenarios/.
"""
import pytest

from harness.verdicts.judge import Trial


def _boot_resize_confirm(world):
    world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
    world.create_flavor("big", vcpus=2, memory_mb=1024, root_gb=20)
    world.boot("vm1", "small", "src")
    world.resize("vm1", "big", "dst")
    world.confirm("vm1")


@pytest.mark.claims("000-5")
def test_mutate_probe_boot_resize_confirm(judge):
    judge.trial(Trial("boot, resize, confirm [control]",
                      _boot_resize_confirm))
    judge.decide("calibration scenario for the mutation self-tests",
                 fault_space="none: one control trial")
