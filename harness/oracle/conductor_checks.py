"""The conductor invariants over one operation, read from the world now.

:func:`conductor_checks` reads what the operation's consumers hold in
Placement and its migrations' statuses (as an observer, never through the
code being judged) and applies the pure checks of
:mod:`harness.oracle.conductor_invariants` to them.
"""
from __future__ import annotations

from harness.oracle import conductor_invariants as ci


def _provider_names(world) -> dict:
    rps = world.placement.read("/resource_providers")["resource_providers"]
    return {rp["uuid"]: rp["name"] for rp in rps}


def consumer_allocations(world, consumers) -> dict:
    """{consumer: {provider name: resources}} for each consumer (observer);
    a consumer with nothing allocated maps to {}."""
    names = _provider_names(world)
    out = {}
    for c in consumers:
        body = world.placement.read("/allocations/%s" % c)
        out[c] = {names.get(rp, rp): dict(a["resources"])
                  for rp, a in body["allocations"].items()}
    return out


def migration_status(world, uuid):
    """The migration record's status now (None for no migration)."""
    from nova import objects
    if uuid is None:
        return None
    return objects.Migration.get_by_uuid(world.ctx, uuid).status


def conductor_checks(world, op, stage: str, states: bool = True) -> list:
    """The conductor invariants over ``op``'s consumers (an
    :class:`harness.world.conductor.JudgedOp`), now.

    ``states=False`` leaves out the before/after comparison (once the
    workload has carried on past the operation, e.g. confirmed the move,
    the accounting invariants against the ledger judge the state)."""
    actual = consumer_allocations(world, list(op.names))
    # re-read migration statuses (an audit or the workload may move them)
    migrations = {u: (label, migration_status(world, u))
                  for u, (label, _st) in op.migrations.items()}
    covering = {i: m for i, m in op.covering.items()
                if migrations.get(m, ("", None))[1] not in ci.ENDED}
    out = []
    if states:
        out += ci.allocations_before_or_after(actual, op.states, op.names)
    out += ci.instances_hold_allocations(actual, op.instances, covering)
    out += ci.errored_migrations_hold_nothing(actual, migrations)
    if stage == "under_fault":
        out += ci.failure_reported(ci.classify(actual, op.states),
                                   op.success, op.reported, op.caller_saw,
                                   op.result.operation)
    return out
