"""Synthetic scenarios for tests/test_cli.py: no Nova world is built.

They hand the judge fabricated observations (a clean control and a variant
whose trace shows usage drifting from the ledger under a fault), so the
verdict still comes out of ``Judge.decide`` and the CLI's record, reports,
drift and exit codes can be tested in seconds.  Not real evidence about
Nova: the real scenarios live in scenarios/.
"""
import pytest

from harness.oracle import invariants as inv
from harness.verdicts.judge import Observation
from harness.world.trace import Trace

RESERVED = {"cpus": 0, "memory_mb": 512, "disk_mb": 0}


def _usage(vcpus, mem, disk, vms):
    return {"vcpus": 16, "memory_mb": 32768, "local_gb": 400,
            "vcpus_used": vcpus, "memory_mb_used": mem,
            "local_gb_used": disk, "free_ram_mb": 32768 - mem,
            "free_disk_gb": 400 - disk, "running_vms": vms}


def _snapshot(trace, label, tracker_vcpus):
    trace.step("snapshot", label,
               usage={"src": {"tracker": _usage(tracker_vcpus, 1536, 10, 1),
                              "db": _usage(tracker_vcpus, 1536, 10, 1)}},
               placement_usage={"src": {"VCPU": 1, "MEMORY_MB": 1024,
                                        "DISK_GB": 10}},
               ledger={"src": {"vcpus_used": 1, "memory_mb_used": 1536,
                               "local_gb_used": 10, "running_vms": 1}})


def _observation(name, fault):
    trace = Trace()
    trace.step("world", "built", hosts=["src"], reserved=RESERVED)
    trace.step("world", "boot", instance="vm1", host="src")
    _snapshot(trace, "before fault", 1)
    violations = {"before": [], "under_fault": [], "during": [],
                  "after_clear": []}
    if fault:
        trace.step("fault", "inject", fault=fault)
        trace.step("audit", "tracker", host="src", error=None)
        _snapshot(trace, "under fault", 3)
        violations["under_fault"].append(inv.Violation(
            "usage_matches_ledger", "tracker src vcpus_used", 1, 3,
            "ledger holds: vm1"))
        trace.step("fault", "clear", fault=fault)
    trace.step("audit", "tracker", host="src", error=None)
    _snapshot(trace, "after clear", 1)
    return Observation(trial=name, control=not fault, fault=fault,
                       violations=violations, logs=["WARNING synthetic"],
                       trace=trace, duration=0.01)


@pytest.mark.claims("000-1")
def test_cli_synthetic_violation(judge):
    for obs in (_observation("synthetic [control]", None),
                _observation("synthetic / bogus vcpus", "bogus vcpus")):
        judge.observations.append(obs)
        judge.traces[obs.trial] = obs.trace
    judge.decide("usage drifts from the ledger under the synthetic fault",
                 invariants=["usage_matches_ledger"],
                 fault_space="one synthetic fault")


@pytest.mark.claims("000-2")
def test_cli_synthetic_not_testable(judge):
    judge.not_testable("synthetic: there is no runtime behaviour to observe")
