"""Node names chosen by the virt driver: claim 000-4.

The node name is whatever the driver reports (``get_available_nodes`` /
``get_available_resource()['hypervisor_hostname']``); the tracker stores it
in ``compute_nodes.hypervisor_hostname``, names the resource provider after
it, and looks instances and migrations up by it on every audit.  Each trial
starts host ``src`` with a fake driver that reports one node name (a plain
one in the control; SQL metacharacters, quotes, unicode, control characters
or excessive length in the variants) before the host's first audit, then
runs a workload that goes through every lookup and create path of the
tracker for that node: the start-up audit (compute node and provider
created), boots (``instance_claim``), an outgoing resize (finished, revert
room held on the node), an incoming resize (claim on the node), a delete
(``update_usage``), then the periodic audits (tracker and compute service).
If the host does not start, the rest of the workload is skipped.

The name is part of the world from its start, so there is no fault-free
stage: what the first audit sees is recorded under ``under_fault``.  Besides
the accounting invariants, every stage checks the database itself
(:func:`harness.oracle.checks.database_intact`: schema, ``PRAGMA integrity_check``,
row counts) and that every store and lookup of the node gives back the exact
name (:func:`harness.oracle.checks.node_names_round_trip`).

Limits: the databases are sqlite (no column length limit, binary collation).
A MySQL deployment would truncate or refuse names over 255 characters and
compare case- and trailing-space-insensitively; that is not observable here.
"""
from __future__ import annotations

import pytest

from harness.oracle import checks
from harness.verdicts.judge import Trial
from harness.world.deployment import Inventory

SMALL = dict(vcpus=1, memory_mb=1024, root_gb=10)
LARGE = dict(vcpus=2, memory_mb=2048, root_gb=20)
CONTROL_NAME = "node-src"

NAMES = {
    "SQL statement break": "n'; DROP TABLE compute_nodes; --",
    "SQL tautology": 'n" OR "1"="1',
    "LIKE wildcards and backslash": "n%_\\%",
    "unicode (latin, CJK, emoji, bidi override, zero-width)":
        "n\u0153ud-\u8282\u70b9-\U0001f680\u202e\u200b",
    "unicode decomposed (NFD)": "e\u0301-node",
    "control characters (newline, tab, escape)": "node\n\t\x1b[31m",
    "NUL byte": "node\x00nul",
    "surrounding spaces": " node-src ",
    "200 characters": "n" * 200,
    "201 characters": "n" * 201,
    "256 characters": "n" * 256,
}

EXTRA_CHECKS = (checks.database_intact, checks.node_names_round_trip,
                checks.workload_steps_completed)
INJECTION = ("database_intact", "node_names_round_trip")
# A failed step can leave the ledger holding a move the world never made, so
# the usage comparisons are not what decides here: what the claim predicts
# is a failure of the tracker itself, or a node missing from placement.
ROBUSTNESS = ("audit_completed", "workload_completed",
              "inventory_matches_driver")


def workload(nodename: str):
    def setup(world):
        checks.remember_schema(world)
        world.create_flavor("small", **SMALL)
        world.create_flavor("large", **LARGE)
        # the host starts: compute node row and provider created by name
        if not checks.attempt(world, "start host src (node %r)" % nodename,
                              world.add_host, "src", Inventory(),
                              nodename=nodename):
            return   # nothing can run on a host that did not start
        steps = (
            ("boot vm1 on src", world.boot, "vm1", "small", "src"),
            ("boot vm2 on dst", world.boot, "vm2", "small", "dst"),
            ("boot vm3 on src", world.boot, "vm3", "small", "src"),
            ("resize vm1 src->dst (finished)", world.resize, "vm1", "large",
             "dst"),
            ("resize vm2 dst->src (claimed)", world.resize, "vm2", "large",
             "src", "pre-migrating"),
            ("delete vm3 on src", world.delete, "vm3"),
        )
        for label, fn, *args in steps:
            checks.attempt(world, label, fn, *args)
    setup.__doc__ = "host src reports node %r; boot, moves, delete" % (
        nodename,)
    return setup


def nodename_trials(run):
    kw = {"hosts": ("dst",)}
    run.trial(Trial("node %r [control]" % CONTROL_NAME,
                    workload(CONTROL_NAME), world_kwargs=kw,
                    checks=EXTRA_CHECKS))
    for label, name in NAMES.items():
        run.trial(Trial(
            "node name: %s" % label, workload(name), world_kwargs=kw,
            checks=EXTRA_CHECKS, condition_authority="none",
            condition_reach="an operator's configuration (the hypervisor's "
                            "host name, as the driver reports it)",
            condition="src's driver reports node %r (%d characters) from "
                      "start-up" % (name if len(name) <= 40
                                    else name[:20] + "..." + name[-5:],
                                    len(name))))


SPACE = ("node names reported by src's driver from start-up, each through "
         "start-up, boots, outgoing and incoming resize, delete and "
         "periodic audits")


@pytest.mark.claims("000-4")
def test_node_names_reach_the_database_unneutralised(judge):
    """Hostile node names are stored and looked up as data, never as SQL."""
    judge.observe(nodename_trials)
    judge.decide(
        hypothesis="A node name carrying SQL metacharacters, quotes, "
                   "unicode or control characters is not neutralised on "
                   "its way into the database: it changes the schema or "
                   "other rows, corrupts the database, or is stored or "
                   "matched as something other than the exact name the "
                   "driver reported (lookups by host and node, by node, by "
                   "host, of instances and migrations, the provider name).",
        stages=("under_fault",), invariants=INJECTION, fault_space=SPACE)


@pytest.mark.finding("F-08")
def test_unvalidated_node_names_break_tracking(judge):
    """Whatever the driver reports, the host is tracked and accounted."""
    judge.observe(nodename_trials)
    judge.decide(
        hypothesis="Because the node name is taken from the driver "
                   "without validation, some names make the tracker fail: "
                   "the start-up or periodic audit raises, a claim or move "
                   "on the node fails, or the node's usage, inventory or "
                   "allocations go wrong.",
        stages=("under_fault",), invariants=ROBUSTNESS, fault_space=SPACE)
