"""Populations and fault spaces for the conductor scenarios (report 002).

The allocation-swap trials are shared by the error-handling scenarios
(claim 002-2) and the log scans (claim 002-1): every trial runs with canary
secrets planted (see :mod:`harness.world.conductor`) and keeps every log line.

The fault space is *discovered*: each shape's control is run first, its
placement calls (the middleware's log, from the start of the operation) are
grouped by route, and a variant is built for each (route, n-th call of that
route) position and each answer that fits the method.  So "a fault at each
call the helpers make" is literally the calls the control made.
"""
from __future__ import annotations

import functools
import re

from harness.world import conductor as hc
from harness.faults import conductor as cf
from harness.faults import placement as pf
from harness.world.placement import Schedule

# Distinctive host names: the log scan looks for them as whole words.
SRC, DST = "src-cmp-01", "dst-cmp-02"
ALTS = ("alt-cmp-03", "alt-cmp-04", "alt-cmp-05")
SMALL = dict(vcpus=1, memory_mb=512, root_gb=10)

ROUTES = (
    ("GET", r"^/allocations/[0-9a-f-]{36}$", "GET /allocations/{consumer}"),
    ("POST", r"^/allocations$", "POST /allocations"),
    ("PUT", r"^/allocations/[0-9a-f-]{36}$", "PUT /allocations/{consumer}"),
    ("DELETE", r"^/allocations/[0-9a-f-]{36}$",
     "DELETE /allocations/{consumer}"),
    ("GET", r"^/allocation_candidates", "GET /allocation_candidates"),
    ("GET", r"^/resource_providers/[0-9a-f-]{36}/allocations$",
     "GET /resource_providers/{rp}/allocations"),
)


def route_of(method: str, path: str):
    """(regex, label) of the route a logged call belongs to."""
    for m, regex, label in ROUTES:
        if m == method and re.search(regex, path):
            return regex, label
    generic = re.sub(r"[0-9a-f-]{36}", "{uuid}", path.split("?")[0])
    regex = "^" + re.escape(generic).replace(r"\{uuid\}", "[0-9a-f-]{36}")
    return regex + r"(\?|$)", "%s %s" % (method, generic)


def positions(calls) -> list[tuple]:
    """(method, regex, label, k): the k-th call of each route in ``calls``
    (the middleware log entries ``(n, method, path, status, fault)``)."""
    seen: dict = {}
    out = []
    for _n, method, path, _status, _fault in calls:
        regex, label = route_of(method, path)
        k = seen[(method, regex)] = seen.get((method, regex), 0) + 1
        out.append((method, regex, label, k))
    return out


# answers, by name -> factory(world, method, regex, k)
def _err(status):
    return lambda w, m, r, k: pf.PlacementError(w, m, r, status,
                                                Schedule(calls=(k,)))


ANSWERS = {
    "500": _err(500),
    "503": _err(503),
    "409 concurrent_update once": lambda w, m, r, k: pf.GenerationConflict(
        w, m, r, Schedule(calls=(k,))),
    "409 concurrent_update persistent": lambda w, m, r, k:
        pf.GenerationConflict(w, m, r, Schedule(calls=tuple(
            range(k, k + 12)))),
    "disconnect": lambda w, m, r, k: pf.PlacementDisconnect(
        w, m, r, Schedule(calls=(k,))),
    "latency 0.3s": lambda w, m, r, k: pf.PlacementLatency(
        w, m, r, 0.3, Schedule(calls=(k,))),
    "timeout": lambda w, m, r, k: cf.InnerFault(
        w, m, r, "timeout", Schedule(calls=(k,))),
    "lost response": lambda w, m, r, k: cf.InnerFault(
        w, m, r, "lost_response", Schedule(calls=(k,))),
    "racing writer": lambda w, m, r, k: cf.InnerFault(
        w, m, r, "racing_write", Schedule(calls=(k,))),
    # how Placement refuses an allocation that exceeds capacity: 409 with
    # the generic error code (not placement.concurrent_update)
    "409 capacity": lambda w, m, r, k: pf.PlacementError(
        w, m, r, 409, Schedule(calls=(k,))),
}
# The answers that are a placement 409, by the kind of refusal they are
# (finding F-07): a real consumer-generation conflict, a provider-
# generation conflict (concurrent_update without that text), a refusal
# for capacity.
CONFLICT_KINDS = {
    "racing writer": "consumer generation conflict",
    "409 concurrent_update once": "provider generation conflict, once",
    "409 concurrent_update persistent":
        "provider generation conflict, persistent",
    "409 capacity": "capacity refusal",
}


# ----------------------------------------------------------------------
# populations
# ----------------------------------------------------------------------
def population(world, conductor):
    world.create_flavor("small", **SMALL)
    world.boot("vm1", "small", SRC)


def cause_checks(world, conductor, op, stage):
    """Finding F-05: the caller of a failing migration task sees the error
    that failed it.  The cause is observed at the scheduler boundary (it
    raised NoValidHost); what the user is shown is the instance fault the
    conductor records."""
    from harness.oracle import conductor_invariants as ci
    if stage != "under_fault":
        return []
    cause = next((c.error for c in conductor.scheduler.calls if c.error),
                 None)
    return ci.cause_reported(cause, op.result.error_type,
                             "cold migration of vm1", _fault_message(
                                 world, world.instances["vm1"].uuid))


def _fault_message(world, uuid) -> str:
    from nova import objects
    faults = objects.InstanceFaultList.get_latest_by_instance_uuids(
        world.ctx, [uuid])
    return faults[0].message if len(faults) else ""


def population_swapped(world, conductor):
    """vm1 with its allocation already moved to a migration consumer (the
    state a failing MigrationTask rolls back from)."""
    population(world, conductor)
    result = conductor.replace("vm1")
    if result.raised:
        raise RuntimeError("set-up swap failed: %s" % result.error)


TWO_HOSTS = dict(hosts=(SRC, DST))


# ----------------------------------------------------------------------
# shapes: (setup, operation, trial options, answers by method)
# ----------------------------------------------------------------------
def _shapes():
    return {
        "swap": dict(
            setup=population,
            operation=lambda w, c: hc.op_replace(w, c, "vm1"),
            answers={"GET": ("500", "disconnect"),
                     "POST": ("500", "409 concurrent_update once",
                              "409 concurrent_update persistent",
                              "409 capacity",
                              "disconnect", "timeout", "lost response",
                              "racing writer", "latency 0.3s")},
            extra_faults={"source node record missing":
                          lambda w: cf.SourceNodeMissing(w, "vm1")}),
        "revert": dict(
            setup=population_swapped, ledger_before=False,
            operation=lambda w, c: hc.op_revert(w, c, "vm1"),
            answers={"GET": ("500",),
                     "POST": ("500", "disconnect", "timeout",
                              "lost response", "racing writer",
                              "409 concurrent_update persistent",
                              "409 capacity")}),
        "migration task": dict(
            setup=population, plan=(DST,),
            operation=lambda w, c: hc.op_migrate(w, c, "vm1"),
            # the swap's own calls are covered by "swap"; here the first
            # call of each route, and each write
            first_only=True,
            answers={"GET": ("500",),
                     "POST": ("500", "lost response"),
                     "PUT": ("500", "409 concurrent_update persistent",
                             "lost response")}),
        "failing migration task": dict(
            setup=population, plan=(),
            operation=lambda w, c: hc.op_migrate(w, c, "vm1"),
            # the rollback's calls: those after the swap's POST
            after_first_post=True, extra=cause_checks,
            answers={"GET": ("500",),
                     "POST": ("500", "disconnect", "timeout",
                              "lost response", "racing writer")}),
    }


def _trial(shape: dict, name: str, fault=None) -> hc.ConductorTrial:
    return hc.ConductorTrial(
        name, shape["setup"], operation=shape["operation"], fault=fault,
        plan=shape.get("plan", ()), world_kwargs=dict(TWO_HOSTS),
        ledger_before=shape.get("ledger_before", True),
        extra=shape.get("extra"))


def shape_variants(shape: dict, control) -> dict:
    """variant name -> fault factory, from the control's placement calls."""
    out = {}
    pos = positions(control.calls)
    if shape.get("after_first_post"):
        first_post = next((i for i, p in enumerate(pos)
                           if p[0] == "POST"), None)
        pos = pos[first_post + 1:] if first_post is not None else []
    for method, regex, label, k in pos:
        if shape.get("first_only") and k > 1 and method == "GET":
            continue
        for answer in shape["answers"].get(method, ()):
            factory = ANSWERS[answer]
            out["%s #%d: %s" % (label, k, answer)] = (
                lambda w, m=method, r=regex, kk=k, f=factory: f(w, m, r, kk))
    out.update(shape.get("extra_faults", {}))
    return out


@functools.lru_cache(maxsize=None)
def allocation_observations():
    """Every trial of the allocation-swap fault space (controls first):
    (observations, traces by trial name)."""
    from harness.verdicts.judge import Judge
    judge = Judge("conductor allocation trials", ["-"])
    for sname, shape in _shapes().items():
        control = judge.trial(_trial(shape, "%s [control]" % sname))
        if control.error:
            continue
        for vname, factory in shape_variants(shape, control).items():
            judge.trial(_trial(shape, "%s / %s" % (sname, vname), factory))
    return tuple(judge.observations), dict(judge.traces)


def fault_space_summary(observations) -> str:
    shapes: dict = {}
    for o in observations:
        if o.control:
            continue
        shape = o.trial.split(" / ")[0]
        shapes[shape] = shapes.get(shape, 0) + 1
    return "; ".join("%s: %d variants" % kv for kv in shapes.items()) + (
        " (each a placement answer at one call position of the control's "
        "call log: 500/503, 409 placement.concurrent_update once or "
        "persistent, 409 capacity refusal, disconnect, client timeout, response lost after "
        "placement committed, racing writer (real consumer-generation "
        "conflict), 0.3 s latency; plus the source node record missing)")
