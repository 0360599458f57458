"""Protection under concurrency and load: claim 000-8.

The tracker serialises its claims, usage updates and the periodic audit
with one in-process lock (``COMPUTE_RESOURCE_SEMAPHORE``) and relies on
placement's generations for everything it writes there.  Each concurrent
trial runs, on real threads against Nova's own file databases
(``World(sqlite="file")``):

* builders: threads that each boot several servers through the API (the
  scheduler's placement claim, then the compute's ``instance_claim``); one
  build in four fails in the hypervisor's ``spawn`` (Nova aborts the claim
  and deletes the allocation) and one in four is deleted again once active;
  the host's RAM is sized for fewer instances than the builders attempt, so
  placement must refuse some;
* an auditor: the compute service's periodic ``update_available_resource``
  in a loop (what the tracker raised read from the service's log), changing
  the driver's vCPU count between audits so that each audit writes
  inventory to placement while the builders' allocations move the
  provider generation;
* an operator: an outside placement client toggling a custom trait on the
  node's provider (more generation changes the tracker does not cause).

The control runs the same operations in one thread, one after another.
Right after the threads finish, before any further audit could repair
anything, the harness snapshots the tracker, the ``compute_nodes`` row and
placement and compares them with the ledger (which records only the
operations that succeeded); those violations are reported with the detail
"right after the concurrent phase".  Transient audit failures during the
phase are reported separately (``concurrent_audit_completed``), as is the
operator's trait (``operator_trait_kept``).  The concurrent load is the
input under test, present from the start, so it is the variant's
``Trial.condition``.
"""
from __future__ import annotations

import threading

import pytest

from harness.oracle import checks
from harness.oracle.invariants import Violation
from harness.verdicts.judge import Trial
from harness.world import lifecycle
from harness.world.deployment import Inventory, NoRoom

TINY = dict(vcpus=1, memory_mb=512, root_gb=1)
RESERVED_MB = 512            # the world's default reserved host memory
FITS = 8                     # instances that fit by RAM
INVENTORY = Inventory(vcpus=16, memory_mb=RESERVED_MB + FITS * 512,
                      local_gb=100)
PLANS = ("keep", "abort", "keep", "delete")
TRAIT = "CUSTOM_HARNESS_OPERATOR"


def _plan(index: int) -> str:
    return PLANS[index % len(PLANS)]


class _Load:
    """The operations of one trial and what they observed."""

    def __init__(self, world, builders: int, per_builder: int,
                 flip: bool = False):
        self.world = world
        self.builders = builders
        self.per_builder = per_builder
        self.host = world.hosts["src"]
        self.lock = threading.Lock()
        self.results: list[tuple] = []      # (name, plan, outcome)
        self.errors: list[tuple] = []       # (where, error)
        self.claim_errors: list[tuple] = []  # claims that raised
        self.flip = flip
        self.audit_errors: list[str] = []
        self.audits = 0
        self.trait = TRAIT                  # the operator's trait
        self.trait_wanted: bool | None = None
        self.toggles = 0

    # -- builder ---------------------------------------------------------
    def build_one(self, name: str, plan: str):
        w = self.world
        try:
            if plan == "abort":
                lifecycle.build_fail(w, name, "tiny", "src")
            else:
                w.boot(name, "tiny", "src")
        except NoRoom:
            with self.lock:
                self.results.append((name, plan, "no room"))
            return
        except Exception as exc:  # noqa: BLE001 - observed
            with self.lock:
                self.claim_errors.append(("boot %s" % name, _err(exc)))
            self.reschedule(name)
            return
        if plan == "delete":
            self.drop(name, plan, w.delete, name)
        with self.lock:
            self.results.append((name, plan, "done"))

    def drop(self, name, plan, fn, arg, attempts: int = 3):
        """Drop a claim; a failed attempt is recorded and retried, as the
        user's repeated delete would."""
        for n in range(attempts):
            try:
                fn(arg)
                return
            except Exception as exc:  # noqa: BLE001 - observed
                with self.lock:
                    self.claim_errors.append(("%s %s (attempt %d)"
                                              % (plan, name, n + 1),
                                              _err(exc)))

    def reschedule(self, name: str):
        try:
            checks.reschedule(self.world, name)
        except Exception as exc:  # noqa: BLE001 - observed
            with self.lock:
                self.errors.append(("reschedule %s" % name, _err(exc)))

    def builder(self, b: int):
        for k in range(self.per_builder):
            i = b * self.per_builder + k
            self.build_one("vm%d_%d" % (b, k), _plan(i))

    # -- auditor -----------------------------------------------------------
    def audit_once(self):
        host = self.host
        self.audits += 1
        if self.flip:
            # the driver's vCPU count changes between audits, so that the
            # tracker writes inventory while allocations move the
            # provider's generation
            vcpus = INVENTORY.vcpus - (self.audits % 2)
            host.set_inventory(Inventory(vcpus=vcpus,
                                         memory_mb=INVENTORY.memory_mb,
                                         local_gb=INVENTORY.local_gb))
        try:
            (audit,) = self.world.audit(host.name, via="tracker")
            error = audit.error
        except Exception as exc:  # noqa: BLE001 - observed
            error = exc
        if error is not None:
            with self.lock:
                self.audit_errors.append(_err(error))

    def restore_inventory(self):
        self.host.set_inventory(INVENTORY)

    # -- operator ----------------------------------------------------------
    def toggle_trait(self):
        pl = self.world.placement
        rp = self.host.rp_uuid
        pl.write("PUT", "/traits/%s" % TRAIT)
        for _ in range(5):
            cur = pl.read("/resource_providers/%s/traits" % rp)
            traits = set(cur["traits"])
            want = TRAIT not in traits
            new = (traits | {TRAIT}) if want else (traits - {TRAIT})
            resp = pl.write("PUT", "/resource_providers/%s/traits" % rp, {
                "traits": sorted(new),
                "resource_provider_generation":
                    cur["resource_provider_generation"]})
            if resp.status_code == 200:
                self.trait_wanted = want
                self.toggles += 1
                return
        with self.lock:
            self.errors.append(("operator trait toggle",
                                "5 generation conflicts in a row"))


def _err(exc) -> str:
    return "%s: %s" % (type(exc).__name__, str(exc)[:200])


def _after_phase(world, load: _Load):
    """Snapshot right after the operations, before any repairing audit."""
    load.restore_inventory()
    snap = world.snapshot("right after the concurrent phase")
    found = checks.after_concurrent_phase(world, snap, load)
    world.recorded_violations = found
    world.load = load
    world.trace.step("note", "concurrent phase", results=load.results,
                     audits=load.audits, audit_errors=len(load.audit_errors),
                     claim_errors=load.claim_errors, toggles=load.toggles)


def concurrent(builders: int, per_builder: int, flip: bool = False):
    def setup(world):
        world.create_flavor("tiny", **TINY)
        load = _Load(world, builders, per_builder, flip=flip)
        stop = threading.Event()
        start = threading.Barrier(builders + 2)

        def run_builder(b):
            start.wait()
            load.builder(b)

        def run_auditor():
            start.wait()
            while not stop.is_set():
                load.audit_once()
            load.audit_once()

        def run_operator():
            start.wait()
            while not stop.is_set():
                try:
                    load.toggle_trait()
                except Exception as exc:  # noqa: BLE001 - observed
                    with load.lock:
                        load.errors.append(("operator", _err(exc)))
                    return

        threads = [threading.Thread(target=run_builder, args=(b,),
                                    name="builder-%d" % b)
                   for b in range(builders)]
        others = [threading.Thread(target=run_auditor, name="auditor"),
                  threading.Thread(target=run_operator, name="operator")]
        for t in threads + others:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        for t in others:
            t.join()
        _after_phase(world, load)
    setup.__doc__ = ("%d builder threads x %d instances, an auditor%s and "
                     "an operator" % (builders, per_builder,
                                      " (inventory changing)" if flip
                                      else ""))
    return setup


def serial(builders: int, per_builder: int):
    """The same operations, one after another, in one thread."""
    def setup(world):
        world.create_flavor("tiny", **TINY)
        load = _Load(world, builders, per_builder, flip=True)
        for b in range(builders):
            for k in range(per_builder):
                i = b * per_builder + k
                load.build_one("vm%d_%d" % (b, k), _plan(i))
                if i % 3 == 2:
                    load.audit_once()
                    load.toggle_trait()
        _after_phase(world, load)
    setup.__doc__ = "%d x %d operations in one thread" % (builders,
                                                          per_builder)
    return setup


def recorded(world, snap=None) -> list[Violation]:
    """What the concurrent phase left (reported once, at the first stage)."""
    return world.__dict__.pop("recorded_violations", [])


EXTRA_CHECKS = (recorded, checks.operator_trait_kept,
                checks.scheduler_view_possible)
BUILDERS, PER_BUILDER = 4, 3
VARIANTS = {
    "stable inventory": False,
    "inventory changing between audits": True,
}


def _world_kwargs():
    return {"hosts": ("src",), "inventory": INVENTORY, "sqlite": "file"}


def concurrency_trials(run):
    """The concurrent trials repeated (``HARNESS_REPETITIONS``, default 20):
    how threads interleave decides their outcome, so a verdict is one that
    holds in every repetition, otherwise a rate.  The control runs the same
    operations in one thread, which no timing changes: it runs once and
    stands beside every repetition."""
    import dataclasses
    control = run.trial(Trial(
        "%d operations in one thread [control]" % (BUILDERS * PER_BUILDER),
        serial(BUILDERS, PER_BUILDER), world_kwargs=_world_kwargs(),
        checks=EXTRA_CHECKS, audit_via=("tracker",)))
    for rep in run.repetitions():
        if rep:
            run.observations.append(dataclasses.replace(control, rep=rep))
        for label, flip in VARIANTS.items():
            run.trial(Trial(
                "%d threads, %s" % (BUILDERS, label),
                concurrent(BUILDERS, PER_BUILDER, flip=flip),
                world_kwargs=_world_kwargs(), checks=EXTRA_CHECKS,
                audit_via=("tracker",),
                condition="%d threads claiming %d instances each (%d fit) "
                          "and dropping some, while an auditor (%s) and an "
                          "outside placement client run"
                          % (BUILDERS, PER_BUILDER, FITS, label),
                condition_authority="timing",
                condition_reach="a race between concurrent requests"),
                rep=rep)


SPACE = ("builder threads claiming (plan %s) more than the host has room "
         "for, an auditor looping, an operator toggling a trait on the "
         "provider; against the same operations serialised"
         % "/".join(PLANS))


@pytest.mark.claims("000-8")
def test_concurrent_claims_overcommit_or_lose_updates(judge):
    """Concurrent claims, drops and audits neither over-commit the host nor
    lose an update for good."""
    judge.observe(concurrency_trials)
    judge.decide(
        hypothesis="Under concurrent claims, claim drops, audits and "
                   "outside placement writes, the tracker's protections "
                   "fail: the host is over-committed (placement or the "
                   "scheduler's view above capacity) or an update is lost "
                   "for good (tracker, compute_nodes row or placement "
                   "still disagreeing with what succeeded after the next "
                   "audits, or the outside change to the provider undone).",
        predicts={"under_fault": ("usage_in_bounds",
                                  "scheduler_view_possible",
                                  "operator_trait_kept"),
                  "after_clear": ("usage_in_bounds",
                                  "scheduler_view_possible",
                                  "usage_matches_ledger",
                                  "allocations_match_ledger",
                                  "placement_usage_matches_ledger",
                                  "operator_trait_kept", "audit_completed")},
        fault_space=SPACE)


@pytest.mark.finding("F-09")
def test_operations_fail_under_load(judge):
    """Under load a claim or an audit fails once placement's generation
    conflicts outlast the report client's retries.  The next periodic audit
    redoes an audit by design; a failed claim is a failed boot.  Whether it
    happens depends on how threads interleave, so the verdict is the rate
    over the repetitions (a headline only if every repetition agrees)."""
    judge.observe(concurrency_trials)
    judge.decide(
        hypothesis="Under concurrent load a claim or a periodic audit "
                   "fails with a placement generation conflict that "
                   "outlasts the report client's retries.",
        stages=("under_fault",),
        invariants=("claim_completed", "concurrent_audit_completed",
                    "workload_completed"),
        fault_space=SPACE)
