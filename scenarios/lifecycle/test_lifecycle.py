"""The instance lifecycle, every invariant checked after every operation.

Claim-free checks (finding candidates, not verdicts on review claims; kept
out of the top-level scenario files, which are all catalogued, until the
catalogue's findings model takes them in): each
test drives one stretch of the lifecycle through the operation model
(:mod:`harness.world.ops`) on a fresh world and runs the step checker
(:mod:`harness.oracle.stepchecks`) after every operation: tracker memory,
``compute_nodes`` rows, placement and the ledger agree, migration records
move only through their lifecycle, an audit over a correct state changes
nothing.  Where Nova by design reconciles only at the next audit, the
checker reports a *gap*; the test records every gap it saw in its report
properties (``lifecycle_gaps``) and fails only on a violation.  Nothing here
states an expected value: the ledger computes it.
"""
from __future__ import annotations

import pytest

from harness.oracle.stepchecks import StepChecker
from harness.world.deployment import World
from harness.world.ops import Client, Op

FLAVORS = (
    Op("create_flavor", dict(name="small", vcpus=1, memory_mb=512,
                             root_gb=10)),
    Op("create_flavor", dict(name="eph", vcpus=2, memory_mb=1024,
                             root_gb=10, ephemeral_gb=5, swap=1024)),
)


def _op(f, **args):
    return Op(f, args)


SEQUENCES = {
    "boot from image and volume, ephemeral and swap": [
        _op("boot", name="a", flavor="eph", host="src"),
        _op("boot", name="b", flavor="eph", host="src", from_volume=True),
        _op("audit"),
        _op("move", name="b", dest="dst", flavor="small"),
        _op("confirm", name="b"),
        _op("audit")],
    "build failure aborts its claim, reschedule to an alternate": [
        _op("build_fail", name="f", flavor="eph", host="src"),
        _op("build_fail", name="r", flavor="eph", host="src",
            alternate="dst"),
        _op("audit"),
        _op("delete", name="f"),
        _op("audit")],
    "a build fails, an audit runs while the compute cleans it up": [
        _op("build_fail", name="c", flavor="eph", host="src",
            until="aborted"),
        _op("audit", host="src"),
        _op("finish_build_fail", name="c"),
        _op("audit")],
    "resized on its own host, confirmed; again, reverted": [
        _op("boot", name="h", flavor="small", host="src"),
        _op("move", name="h", dest="src", flavor="eph",
            until="pre-migrating"),
        _op("audit", host="src"),
        _op("advance", name="h"),
        _op("advance", name="h"),
        _op("advance", name="h"),
        _op("audit", host="src"),
        _op("confirm", name="h"),
        _op("audit"),
        _op("move", name="h", dest="src", flavor="small"),
        _op("revert", name="h"),
        _op("audit")],
    "shelve, offload, unshelve with an audit while spawning": [
        _op("boot", name="s", flavor="eph", host="src"),
        _op("shelve", name="s"),
        _op("audit"),
        _op("shelve_offload", name="s"),
        _op("unshelve", name="s", host="dst", until="spawning"),
        _op("audit"),
        _op("finish_unshelve", name="s"),
        _op("shelve", name="s"),
        _op("shelve_offload", name="s"),
        _op("unshelve", name="s", host="src", fail=True),
        _op("audit")],
    "evacuate, a failing destination, the source restarts": [
        _op("boot", name="e", flavor="eph", host="src"),
        _op("boot", name="g", flavor="small", host="src", from_volume=True),
        _op("service_down", host="src"),
        _op("evacuate", name="e", dest="dst"),
        _op("evacuate", name="g", dest="bystander", fail=True),
        _op("audit", host="dst"),
        _op("restart", host="src"),
        _op("audit")],
    "a failed live migration, retried, then back to the former host": [
        _op("boot", name="l", flavor="eph", host="src"),
        _op("live_migrate", name="l", dest="dst", until="running"),
        _op("live_rollback", name="l", status="failed"),
        _op("audit"),
        _op("live_migrate", name="l", dest="dst", until="completed"),
        _op("audit"),
        _op("move", name="l", dest="src", until="pre-migrating"),
        _op("advance", name="l"),
        _op("advance", name="l"),
        _op("advance", name="l"),
        _op("revert", name="l"),
        _op("audit")],
    "a move beside an errored one, audited at every phase": [
        _op("boot", name="k", flavor="small", host="src"),
        # the source hypervisor fails the disk copy and rolls back: the
        # migration ends in error, the server stays active on src
        _op("move", name="k", dest="dst", flavor="eph", fail="disk"),
        _op("audit"),
        # the retry comes a second later: in the same second, the two
        # records tie where timestamps are whole seconds (MySQL), and the
        # tracker may count the errored one instead (finding F-13)
        _op("wait", seconds=1.1),
        _op("move", name="k", dest="dst", flavor="eph",
            until="pre-migrating"),
        _op("audit"),
        _op("advance", name="k"),
        _op("audit"),
        _op("advance", name="k"),
        _op("advance", name="k"),
        _op("audit"),
        _op("confirm", name="k"),
        _op("audit")],
    "resized away and confirmed, then straight back before any audit": [
        _op("boot", name="m", flavor="small", host="src"),
        _op("move", name="m", dest="dst", flavor="eph"),
        _op("confirm", name="m"),
        _op("move", name="m", dest="src", flavor="small"),
        _op("confirm", name="m"),
        _op("audit")],
    "a node goes away and comes back; a compute restarts": [
        _op("boot", name="n", flavor="small", host="dst"),
        _op("node_unavailable", host="dst"),
        _op("audit"),
        _op("restart", host="dst"),
        _op("node_available", host="dst"),
        _op("audit"),
        _op("restart", host="src"),
        _op("audit")],
    "delete at any point that completes a move": [
        _op("boot", name="d", flavor="small", host="src"),
        _op("move", name="d", dest="dst", flavor="eph"),
        _op("delete", name="d"),
        _op("boot", name="s", flavor="small", host="src"),
        _op("shelve", name="s"),
        _op("shelve_offload", name="s"),
        _op("delete", name="s"),
        _op("boot", name="u", flavor="small", host="src"),
        _op("shelve", name="u"),
        _op("shelve_offload", name="u"),
        _op("unshelve", name="u", host="dst", until="spawning"),
        _op("delete", name="u"),
        _op("audit")],
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_lifecycle_every_invariant_after_every_op(name, record_property):
    world = World()
    world.setUp()
    client = Client(world)
    checker = StepChecker()
    failures = []
    try:
        for op in FLAVORS + tuple(SEQUENCES[name]):
            done = client.perform(op)
            found = checker(world, done, client)
            if found:
                failures.append("after %s:\n    %s" % (
                    done, "\n    ".join(str(v) for v in found)))
                break
    finally:
        client.close()
        world.cleanUp()
    record_property("lifecycle_gaps", sorted(
        {"%s: %s" % (g.invariant, g.detail) for _, g in checker.gaps}))
    assert not failures, "\n".join(failures)
