"""Populations and fault spaces for the conductor scenarios (report 002).

The allocation trials are shared by the error-handling scenarios (claim
002-2), the log scans (claim 002-1) and findings F-05 and F-07: every trial
runs with canary secrets planted (see :mod:`harness.world.conductor`) and
keeps every log line.  Two shapes, each a request to the REST API that
Nova's own services carry out:

* ``resize``: a user resizes ``vm1`` (the scheduler prefers the other
  host; the source is its alternate).  The conductor swaps the source
  allocation to the migration consumer (the swap's calls: reads of both
  consumers, one ``POST /allocations``), the scheduler claims the
  destination, the destination's ``prep_resize`` claims; the move is held
  where the destination casts ``resize_instance``;
* ``migration, no valid host``: an operator cold-migrates ``vm1`` while
  the only other host is disabled: the scheduler finds no host and
  ``MigrationTask.rollback`` reverts the swap (the revert's calls).

The fault space is *discovered*: each shape's control is run first, its
placement calls (the middleware's log, from the start of the operation) are
grouped by route, and a variant is built for each (route, n-th call of that
route) position and each answer that fits the method and the part of the
operation the call belongs to.  So "a fault at each call the helpers make"
is literally the calls the control made.
"""
from __future__ import annotations

import re

from harness.faults import conductor as cf
from harness.faults import placement as pf
from harness.oracle import conductor_invariants as ci
from harness.verdicts import conductor as vc
from harness.world import conductor as wc
from harness.world.placement import Schedule

# Distinctive host names: the log scan looks for them as whole words.
SRC, DST = "src-cmp-01", "dst-cmp-02"
ALTS = ("alt-cmp-03", "alt-cmp-04", "alt-cmp-05")
SMALL = dict(vcpus=1, memory_mb=512, root_gb=10)
MEDIUM = dict(vcpus=2, memory_mb=1024, root_gb=10)

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
    # how Placement really refuses a move of an allocation between two
    # consumers: the limits of the source's inventory (max_unit) lowered
    # just before (a pure capacity refusal cannot happen there: Placement
    # admits an allocation that raises no usage)
    "409 limits": lambda w, m, r, k: cf.LimitLowered(
        w, SRC, m, r, "MEMORY_MB", SMALL["memory_mb"] // 2,
        Schedule(calls=(k,))),
}
# The answers that are a placement 409, by the kind of refusal they are
# (finding F-07): a real consumer-generation conflict, a provider-
# generation conflict (concurrent_update without that text), a refusal
# for the inventory's limits.
CONFLICT_KINDS = {
    "racing writer": "consumer generation conflict",
    "409 concurrent_update once": "provider generation conflict, once",
    "409 concurrent_update persistent":
        "provider generation conflict, persistent",
    "409 limits": "inventory limits refusal (max_unit lowered mid-move)",
}


# ----------------------------------------------------------------------
# populations
# ----------------------------------------------------------------------
def population(world):
    world.create_flavor("small", **SMALL)
    world.create_flavor("medium", **MEDIUM)
    world.boot("vm1", "small", SRC)


def population_no_room(world):
    """vm1 on the source; the only other host disabled by the operator."""
    population(world)
    wc.disable_compute(world, DST)


def cause_checks(world, op, stage):
    """Finding F-05: the caller of a failing migration task sees the error
    that failed it.  The cause is observed at the scheduler's boundary (it
    raised NoValidHost over the bus); what the conductor raised is the
    instance fault and the action's error (the event's details, as an
    operator sees them, are the evidence)."""
    if stage != "under_fault":
        return []
    recorded = "; ".join("%s: %s" % (e, d) for e, _r, d in op.result.events
                         if d)
    return ci.cause_reported(op.result.cause, op.result.error_type,
                             "cold migration of vm1", recorded)


TWO_HOSTS = dict(hosts=(SRC, DST))


# ----------------------------------------------------------------------
# shapes: (setup, operation, trial options, answers by method)
# ----------------------------------------------------------------------
SWAP_ANSWERS = {"GET": ("500", "disconnect"),
                "POST": ("500", "409 concurrent_update once",
                         "409 concurrent_update persistent", "409 limits",
                         "disconnect", "timeout", "lost response",
                         "racing writer", "latency 0.3s")}


def _shapes():
    return {
        "resize": dict(
            setup=population,
            operation=lambda w: vc.op_move(w, "vm1", "medium",
                                           prefer=(DST,)),
            # the swap's calls (up to its POST) get every answer; after
            # it, the first call of each route, and each write
            swap_answers=SWAP_ANSWERS,
            answers={"GET": ("500",),
                     "POST": ("500", "lost response"),
                     "PUT": ("500", "409 concurrent_update persistent",
                             "lost response")},
            extra_faults={"source node record missing":
                          lambda w: cf.SourceNodeMissing(w, "vm1")}),
        "migration, no valid host": dict(
            setup=population_no_room,
            operation=lambda w: vc.op_rollback(w, "vm1", prefer=(DST,)),
            # the calls after the swap's POST: the scheduler's, and the
            # rollback's revert
            after_first_post=True, extra=cause_checks,
            answers={"GET": ("500",),
                     "POST": ("500", "disconnect", "timeout",
                              "lost response", "racing writer",
                              "409 concurrent_update once",
                              "409 concurrent_update persistent",
                              "409 limits")}),
    }


def shapes() -> dict:
    """The shapes of the allocation trials, by name."""
    return _shapes()


def trial(shape: dict, name: str, fault=None) -> vc.ConductorTrial:
    return vc.ConductorTrial(
        name, shape["setup"], operation=shape["operation"], fault=fault,
        world_kwargs=dict(TWO_HOSTS),
        ledger_before=shape.get("ledger_before", True),
        extra=shape.get("extra"))


def shape_variants(shape: dict, control) -> dict:
    """variant name -> fault factory, from the control's placement calls."""
    out = {}
    pos = positions(control.calls)
    first_post = next((i for i, p in enumerate(pos) if p[0] == "POST"),
                      None)
    if shape.get("after_first_post"):
        pos = pos[first_post + 1:] if first_post is not None else []
        first_post = None
    for i, (method, regex, label, k) in enumerate(pos):
        in_swap = "swap_answers" in shape and first_post is not None \
            and i <= first_post
        if in_swap:
            answers = shape["swap_answers"]
        else:
            answers = shape["answers"]
            if "swap_answers" in shape and k > 1 and method == "GET":
                continue
        for answer in answers.get(method, ()):
            factory = ANSWERS[answer]
            out["%s #%d: %s" % (label, k, answer)] = (
                lambda w, m=method, r=regex, kk=k, f=factory: f(w, m, r, kk))
    out.update(shape.get("extra_faults", {}))
    return out


def allocation_trials(run):
    """Every trial of the allocation fault space, shared by the 002-1 and
    002-2 scenarios and the findings near them: per shape, its control,
    then one variant per placement answer at each call position of the
    control's call log."""
    for sname, shape in shapes().items():
        control = run.trial(trial(shape, "%s [control]" % sname))
        if control.error:
            continue
        for vname, factory in shape_variants(shape, control).items():
            run.trial(trial(shape, "%s / %s" % (sname, vname), factory))
