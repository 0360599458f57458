"""Reschedules over alternates: claim 002-3.

An operator cold-migrates ``vm1`` (on the source) with no host named,
through the REST API; the real scheduler, steered by the operator's weigher
(:func:`harness.world.scheduling.prefer`) to the destination and three
alternates in that order, hands out ``[scheduler] max_attempts - 1``
alternates, with max_attempts set to 1, 3 and 6.  Failures are provoked at
boundaries so that Nova's own services reschedule:

* every destination refuses: its claim in ``prep_resize`` cannot report
  to placement (placement answers 500 to that host's read of its
  provider's allocations), so the destination reverts the allocation and
  asks the conductor to reschedule on the next alternate
  (``MigrationTask._reschedule``);
* the destination refuses, and the alternates can never fit: when the
  first ``prep_resize`` reaches the destination (after the scheduler
  chose), another consumer takes their room, so the conductor's placement
  claim on each alternate is refused by Placement;
* the destination refuses, and every later placement claim answers 409
  ``placement.concurrent_update`` (the report client retries it).

Counted from the bus (each ``prep_resize`` cast) and the middleware's log:
prep_resize attempts, placement claims (``PUT /allocations/{instance}``),
all placement calls, retry back-off asked for (on a virtual clock).
Bounds: attempts at most ``max_attempts`` (the documented meaning of the
option); placement claims at most 4 per attempt (the report client's
``retries`` decorator tries a call four times).  After the operation the
instance must hold at most one destination as each attempt began, and once
it has ended nothing may be left on the alternates tried (the accounting
invariants against the ledger, which holds the other consumer's
allocations as stated).
"""
from __future__ import annotations

import pytest

from harness.faults import Combined
from harness.faults import conductor as cf
from harness.faults import placement as pf
from harness.oracle import conductor_invariants as ci
from harness.verdicts import conductor as vc
from harness.verdicts import conductor_workloads as cw
from harness.verdicts.judge import OperationDetail
from harness.world.placement import Schedule

HOSTS = (cw.SRC, cw.DST) + cw.ALTS
PLAN = (cw.DST,) + cw.ALTS
MAX_ATTEMPTS = (1, 3, 6)
CLAIM_TRIES = 4      # nova.scheduler.client.report.retries: 4 tries a call
CLAIM = r"^/allocations/[0-9a-f-]{36}$"
REFUSING = "every destination refuses"


def _counts(world, op):
    inst = world.instances["vm1"].uuid
    calls = [c for c in world.placement.calls
             if c.n > world.retries_mark]
    return {
        "prep_resize attempts": len(vc.watch(world).attempts(inst)),
        "placement claims (PUT /allocations/{instance})": sum(
            1 for c in calls if c.method == "PUT" and inst in c.path),
        "placement calls": len(calls),
        "retry back-off asked (s)": round(sum(vc.backoff(world).slept), 3),
    }


def _operation(world):
    world.retries_mark = len(world.placement.calls)
    return vc.op_move(world, "vm1", prefer=PLAN, hosts=PLAN)


def _extra(world, op, stage):
    if stage != "under_fault":
        return []
    m = world.CONF.scheduler.max_attempts
    counts = _counts(world, op)
    vc.counts(world).update(counts)
    out = ci.attempts_bounded(counts, {
        "prep_resize attempts": m,
        "placement claims (PUT /allocations/{instance})": CLAIM_TRIES * m})
    out += ci.one_destination_at_a_time(
        [a.held for a in vc.watch(world).attempts(
            world.instances["vm1"].uuid)], PLAN, "vm1")
    for v in out:
        v.detail = "%s; counts %s, max_attempts %d" % (v.detail, counts, m)
    return out


def faults() -> dict:
    return {
        REFUSING: lambda w: cf.DestinationRefuses(w, PLAN),
        "destination refuses, alternates can never fit": lambda w: Combined(
            w, cf.DestinationRefuses(w, (cw.DST,)),
            cf.ConsumedAfterSelection(w, cw.ALTS)),
        "destination refuses, later claims answer 409 concurrent_update":
            lambda w: Combined(
                w, cf.DestinationRefuses(w, (cw.DST,)),
                pf.GenerationConflict(w, "PUT", CLAIM, Schedule(
                    calls=tuple(range(2, 60))))),
    }


def _trial(m, name, fault=None):
    return vc.ConductorTrial(
        name, cw.population, operation=_operation, fault=fault,
        extra=_extra,
        world_kwargs=dict(hosts=HOSTS,
                          config={"scheduler.max_attempts": m}))


def retry_trials(run):
    for m in MAX_ATTEMPTS:
        run.trial(_trial(m, "max_attempts=%d [control]" % m))
        for name, factory in faults().items():
            run.trial(_trial(m, "max_attempts=%d / %s" % (m, name),
                             factory))


def _per_trial(observations):
    out = {}
    for o in observations:
        d = o.detail or OperationDetail()
        out[o.trial] = dict(
            attempts=[(a["host"], a["outcome"]) for a in d.attempts],
            reschedules=d.reschedules,
            caller=d.result.get("caller_saw"),
            achieved=d.achieved,
            placement_calls_in_operation=len(d.calls),
            claims=sum(1 for c in d.calls if c[1] == "PUT"),
            backoff_s=d.backoff,
            counts=d.counts)
    return out


@pytest.mark.claims("002-3")
def test_conductor_reschedules_bounded(judge):
    """Provoked reschedules stay within max_attempts, claim each alternate
    a bounded number of times, and leave nothing on the hosts tried."""
    observations = judge.observe(retry_trials)
    judge.decide(
        hypothesis="Repeatedly provoked failures (destinations that give "
                   "the move up, alternates that can never fit, placement "
                   "claims that keep conflicting) make the reschedule loop "
                   "run more prep_resize attempts than [scheduler] "
                   "max_attempts, retry placement claims without bound, "
                   "hold allocations on more than one destination at once, "
                   "or leave allocations behind on the alternates tried.",
        predicts={"under_fault": ("attempts_bounded",
                                  "one_destination_at_a_time"),
                  "after_clear": ("allocations_match_ledger",
                                  "placement_usage_matches_ledger",
                                  "usage_matches_ledger",
                                  "allocations_before_or_after",
                                  "instances_hold_allocations",
                                  "errored_migrations_hold_nothing")},
        fault_space="provoked failures at max_attempts %s, the scheduler "
                    "preferring %s (the destination, then the alternates), "
                    "a cold migration through the REST API"
                    % (list(MAX_ATTEMPTS), list(PLAN)))
    judge.outcome.stats["per_trial"] = _per_trial(observations)
