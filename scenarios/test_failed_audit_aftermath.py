"""What a failed audit leaves behind: finding F-03.

The periodic audit starts by copying the hypervisor's view of the node into
the tracker's compute node (its *used* figures included), then recounts
usage from the instances and migrations.  When it raises half-way (here:
the incoming resize whose stashed flavor is missing, finding F-01), the
tracker keeps that half-built node.  Nothing is written yet, so the
``compute_nodes`` row still shows the last good audit.  But the next claim
on the node saves the tracker's node: the row then carries the
hypervisor's raw figures plus the new claim, and the scheduler reads that
row.  The what-if ``failed-audit-restores-node`` (a failed audit puts the
node's usage back as it was) shows that the failed audit's leftover is the
cause.
"""
from __future__ import annotations

import pytest

from harness.faults import records as rec
from harness.oracle import checks
from harness.verdicts.judge import Trial
from harness.world.workloads import MOVES

MOVES_HERE = ("resize-incoming", "migration-incoming")


def claim_on_dst(world):
    """A new instance lands on the node whose audit keeps failing."""
    world.boot("vm3", "small", "dst")


def _faults():
    return {"embedded new_flavor absent": lambda w: rec.EmbeddedFlavor(
        w, "vm1", which="new")}


def aftermath_trials(run):
    for move in MOVES_HERE:
        run.trial(Trial(move + " [control]", MOVES[move],
                        during=claim_on_dst,
                        checks=(checks.row_usage_matches_ledger,)))
        for name, factory in _faults().items():
            run.trial(Trial("%s / %s" % (move, name), MOVES[move],
                            factory, during=claim_on_dst,
                            checks=(checks.row_usage_matches_ledger,)))


@pytest.mark.finding("F-03")
def test_claim_after_failed_audit_writes_raw_usage(judge):
    """A claim after a failed audit must not put the hypervisor's raw usage
    into the compute_nodes row."""
    judge.observe(aftermath_trials)
    judge.decide(
        hypothesis="After an audit of the destination raised half-way, "
                   "the next claim there saves the half-built node: the "
                   "compute_nodes row the scheduler reads loses the usage "
                   "the audit had not recounted yet.",
        stages=("during",), invariants=("row_usage_matches_ledger",),
        fault_space="vm1's stashed new_flavor absent (the destination's "
                    "audit raises, F-01); then a boot of vm3 on the "
                    "destination")
