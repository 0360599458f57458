"""Usage arithmetic over generated populations: claim 000-5.

The claim names no error; it suspects the intricate usage computations give
wrong totals for some inputs.  Here Hypothesis generates whole populations
the way the API could produce them: reserved host resources, flavors
(including swap that is not a whole GiB), instances active or stopped
(on Nova's services the other states that hold resources come from
actions the world does not drive yet: see HOLDING_STATES), and moves of
every type (at most one left stopped) stopped at
every status the services pass through (resize and cold migration at
pre-migrating, migrating, post-migrating and finished, to another host or
the same one; confirmed; reverted; live migration preparing, running and
completed), plus deletes.  Moves respect the API's preconditions (resize
and cold migration from active or stopped, live migration from active or
paused).  Each population is built through the world's verbs, audited, and
the tracker's memory, the ``compute_nodes`` row and placement are compared
with the ledger (Nova's documented arithmetic: swap counts ``swap / 1024``
GiB of disk, placement rounds it up to a whole GiB).

The population is the input under test, present from the start, so each
generated one is a variant with its own description (``Trial.condition``);
the control is a fixed population in whole GiB.

Reproducing: examples are drawn deterministically (``derandomize``) unless
``--harness-seed N`` is given, which seeds Hypothesis with N instead.  Each
variant's description is the population's full recipe, so any one can be
replayed with :func:`recipe_setup`.  The counterexamples found while this
scenario was written, shrunk by Hypothesis, are kept as fixed regression
scenarios at the end of this file.
"""
from __future__ import annotations

import dataclasses
import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings, seed as hseed
from hypothesis import strategies as st

from harness.oracle import checks
from harness.verdicts.judge import Trial
from harness.world.deployment import Reserved
from harness.world.errors import NoRoom, Refused

HOSTS = ("src", "dst")
# Examples per property; each is one world (~1-3 s on a busy machine).
# HARNESS_PROPERTY_EXAMPLES raises it for a deeper search.
EXAMPLES = int(os.environ.get("HARNESS_PROPERTY_EXAMPLES", "10"))
ACCOUNTING = ("usage_matches_ledger", "usage_in_bounds",
              "allocations_match_ledger", "placement_usage_matches_ledger",
              "inventory_matches_driver", "audit_completed",
              "disk_usage_within_rounding")
# ``compute_nodes.local_gb_used`` is an integer column: a disk total that
# is not a whole GiB cannot be stored exactly, so with any-size swap the
# exact comparison (usage_matches_ledger) is not what decides; one rounding
# is tolerated (harness.oracle.checks.disk_usage_within_rounding), more is not.
ACCOUNTING_ANY_SIZE = tuple(i for i in ACCOUNTING
                            if i != "usage_matches_ledger")
EXTRA_CHECKS = (checks.disk_usage_within_rounding,)

# The states a server is booted into through the API (the world's boot:
# active, or stopped by the user).  The former hand-written world wrote
# paused, suspended, rescued, error, soft-delete and building into the
# instance record; on Nova's services those come only from actions the
# world does not drive yet, so the populations leave them out.
HOLDING_STATES = ("active", "stopped")
RESIZABLE = ("active", "stopped")
LIVE_MIGRATABLE = ("active", "paused")
COLD_UNTIL = ("pre-migrating", "migrating", "post-migrating", "finished")
LIVE_UNTIL = ("preparing", "running", "completed")


@dataclasses.dataclass(frozen=True)
class Flavor:
    vcpus: int
    memory_mb: int
    root_gb: int
    ephemeral_gb: int
    swap: int


@dataclasses.dataclass(frozen=True)
class Server:
    flavor: int
    host: str
    vm_state: str
    # None, or one of:
    # ("resize", flavor, dest, until) / ("migrate", dest, until)
    # ("resize-confirm", flavor, dest) / ("resize-revert", flavor, dest)
    # ("live", dest, until) / ("delete",)
    action: tuple | None = None


@dataclasses.dataclass(frozen=True)
class Population:
    reserved: tuple        # (cpus, memory_mb, disk_mb)
    flavors: tuple         # of Flavor
    servers: tuple         # of Server

    def describe(self) -> str:
        return "population %r" % (self,)


# ---------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------
def _swaps(whole_gib: bool):
    if whole_gib:
        return st.sampled_from((0, 1024, 2048))
    return st.one_of(st.sampled_from((0, 1, 512, 1024, 1536, 3000)),
                     st.integers(0, 3072))


def _reserved_disk(whole_gib: bool):
    if whole_gib:
        return st.sampled_from((0, 1024, 2048))
    return st.sampled_from((0, 1, 512, 1024, 1536, 2560))


def flavors(whole_gib: bool):
    # memory below 3.5 GiB and small disks: any population fits on a host
    # even when every server and every move lands on the same one
    return st.builds(Flavor, vcpus=st.integers(1, 4),
                     memory_mb=st.integers(64, 3500),
                     root_gb=st.integers(0, 20),
                     ephemeral_gb=st.integers(0, 5),
                     swap=_swaps(whole_gib))


@st.composite
def servers(draw, n_flavors: int):
    flavor = draw(st.integers(0, n_flavors - 1))
    host = draw(st.sampled_from(HOSTS))
    vm_state = draw(st.sampled_from(HOLDING_STATES))
    other = [h for h in HOSTS if h != host][0]
    choices = [None, ("delete",)]
    if vm_state in RESIZABLE:
        new = draw(st.integers(0, n_flavors - 1))
        until = draw(st.sampled_from(COLD_UNTIL))
        dest = draw(st.sampled_from(HOSTS))
        if dest != host or new != flavor:
            choices += [("resize", new, dest, until),
                        ("resize-confirm", new, dest),
                        ("resize-revert", new, dest)]
        choices.append(("migrate", other, until))
    if vm_state in LIVE_MIGRATABLE:
        choices.append(("live", other, draw(st.sampled_from(LIVE_UNTIL))))
    action = draw(st.sampled_from(choices))
    return Server(flavor, host, vm_state, action)


@st.composite
def populations(draw, whole_gib: bool):
    reserved = (draw(st.integers(0, 2)),
                draw(st.sampled_from((0, 512, 1000, 2048))),
                draw(_reserved_disk(whole_gib)))
    fl = tuple(draw(st.lists(flavors(whole_gib), min_size=1, max_size=3)))
    # at most one move left stopped at a phase: the world stops a move by
    # holding what its service does next, and a second move would queue
    # behind it (the populations leave that combination out)
    srv = tuple(draw(st.lists(servers(len(fl)), min_size=1, max_size=4)
                     .filter(lambda ss: sum(map(_stays_stopped, ss)) <= 1)))
    return Population(reserved, fl, srv)


def _stays_stopped(server) -> bool:
    a = server.action
    return bool(a) and (
        (a[0] == "resize" and a[3] != "finished")
        or (a[0] == "migrate" and a[2] != "finished")
        or (a[0] == "live" and a[2] != "completed"))


# ---------------------------------------------------------------------------
# building a population through the world's verbs
# ---------------------------------------------------------------------------
def recipe_setup(pop: Population):
    """setup(world) that builds ``pop``."""
    def setup(world):
        for i, f in enumerate(pop.flavors):
            world.create_flavor("f%d" % i, **dataclasses.asdict(f))
        for i, s in enumerate(pop.servers):
            # the API admits a flavor with no root disk only for a server
            # that boots from a volume
            world.boot("vm%d" % i, "f%d" % s.flavor, s.host,
                       vm_state=s.vm_state,
                       from_volume=pop.flavors[s.flavor].root_gb == 0)
        for i, s in enumerate(pop.servers):
            name, a = "vm%d" % i, s.action
            if a is None:
                continue
            try:
                _act(world, name, a)
            except (Refused, NoRoom) as exc:
                # not an input the API admits (or no host has room): the
                # server stays as it was, and the population is judged so
                world.note("not admitted", server=name, action=a[0],
                           why=str(exc))
    setup.__doc__ = pop.describe()
    return setup


def _act(world, name, a):
    kind = a[0]
    if kind == "delete":
        world.delete(name)
    elif kind == "resize":
        world.resize(name, "f%d" % a[1], a[2], until=a[3])
    elif kind == "migrate":
        world.migrate(name, a[1], until=a[2])
    elif kind in ("resize-confirm", "resize-revert"):
        world.resize(name, "f%d" % a[1], a[2], until="finished")
        if kind == "resize-confirm":
            world.confirm(name)
        else:
            world.revert(name)
    elif kind == "live":
        world.live_migrate(name, a[1], until=a[2])
    else:  # pragma: no cover - the strategy makes no other
        raise ValueError(a)


def _world_kwargs(pop: Population) -> dict:
    cpus, mem, disk = pop.reserved
    # (a file database: a stopped move's thread and the harness's reads
    # use it side by side)
    return {"hosts": HOSTS, "sqlite": "file",
            "reserved": Reserved(cpus=cpus, memory_mb=mem, disk_mb=disk)}


CONTROL = Population(
    reserved=(0, 512, 0),
    flavors=(Flavor(1, 1024, 10, 0, 0), Flavor(2, 2048, 20, 5, 1024)),
    servers=(Server(0, "src", "active", ("resize", 1, "dst", "finished")),
             Server(1, "dst", "stopped", None)))


def _trial(run, pop: Population, label: str, control: bool = False):
    return run.trial(Trial(
        label, recipe_setup(pop), world_kwargs=_world_kwargs(pop),
        audit_via=("tracker",), checks=EXTRA_CHECKS,
        condition=None if control else pop.describe(),
        condition_authority="none",
        condition_reach="API users under default policy (with flavors an "
                        "admin created)"))


def property_trials(run, whole_gib: bool, seed: int | None):
    """The control, then one trial per population Hypothesis draws."""
    _trial(run, CONTROL, "fixed whole-GiB population [control]",
           control=True)
    drawn = []

    @settings(max_examples=EXAMPLES, derandomize=seed is None,
              database=None, deadline=None, print_blob=True,
              phases=(Phase.explicit, Phase.generate),
              suppress_health_check=list(HealthCheck))
    @given(populations(whole_gib))
    def property_(pop):
        drawn.append(pop)
        _trial(run, pop, "population #%d" % len(drawn))

    if seed is not None:
        property_ = hseed(seed)(property_)
    property_()
    print("\n%s: %d populations (%s), hypothesis %s" % (
        "whole-GiB" if whole_gib else "any size", len(drawn),
        "derandomized" if seed is None else "seed %d" % seed,
        "reproduce with --harness-seed %d" % seed if seed is not None
        else "reproduce by re-running (deterministic draw)"))
    for obs in run.observations:
        hit = sorted({v.invariant for vs in obs.violations.values()
                      for v in vs})
        if hit:
            print("  %s broke %s: %s" % (obs.trial, ", ".join(hit),
                                         obs.fault))


SPACE = ("Hypothesis-generated populations on hosts %s: 0-2 reserved "
         "CPUs, reserved RAM and disk, 1-3 flavors, 1-4 servers in %s, "
         "each with no action, a delete, a resize or cold migration "
         "(stopped at %s, confirmed or reverted; same host or not) or a "
         "live migration (stopped at %s)" % (
             "/".join(HOSTS), "/".join(HOLDING_STATES),
             "/".join(COLD_UNTIL), "/".join(LIVE_UNTIL)))


@pytest.mark.claims("000-5")
def test_usage_arithmetic_whole_gib_populations(judge):
    """With sizes in whole GiB, tracker, DB and placement match the ledger."""
    judge.observe(property_trials, True, judge.seed)
    judge.decide(
        hypothesis="For some population of instances, states, moves and "
                   "reserved resources (all disk sizes in whole GiB), the "
                   "tracker's totals (memory, compute_nodes row) or "
                   "placement's differ from the documented arithmetic, "
                   "go out of bounds, or the audit fails.",
        stages=("under_fault", "after_clear"), invariants=ACCOUNTING,
        fault_space=SPACE + "; swap and reserved disk in whole GiB")


@pytest.mark.claims("000-5")
def test_usage_arithmetic_any_size_populations(judge):
    """With swap and reserved disk of any size, the totals still match."""
    judge.observe(property_trials, False, judge.seed)
    judge.decide(
        hypothesis="For some population whose swap or reserved disk is not "
                   "a whole GiB, the tracker's disk total (memory, "
                   "compute_nodes row) or placement's differs from the "
                   "documented arithmetic (swap counts swap/1024 GiB; "
                   "placement rounds up per instance) by more than the one "
                   "rounding an integer column forces, or any other "
                   "accounting invariant breaks.",
        stages=("under_fault", "after_clear"), invariants=ACCOUNTING_ANY_SIZE,
        fault_space=SPACE + "; swap 0-3072 MiB, reserved disk 0-2560 MiB")


# ---------------------------------------------------------------------------
# regressions: counterexamples found by the search above, as Hypothesis
# shrank them (see the module docstring)
# ---------------------------------------------------------------------------
REGRESSIONS: dict[str, Population] = {
    # found by the any-size search (Hypothesis seed
    # 172925007765999609371819568968282329116); shrinking stopped after
    # five minutes, this is where it stood (its suspended, paused and
    # rescued servers are stopped or active here: see HOLDING_STATES)
    "search result (partly shrunk)": Population(
        reserved=(0, 0, 0),
        flavors=(Flavor(2, 360, 14, 0, 0), Flavor(3, 199, 11, 0, 3000),
                 Flavor(4, 871, 19, 0, 0)),
        servers=(Server(1, "dst", "active", None),
                 Server(2, "src", "stopped", ("delete",)),
                 Server(0, "dst", "active", ("delete",)),
                 Server(1, "dst", "stopped", None))),
    # the same, reduced by hand to what it needs: two instances whose swap
    # is not a whole GiB on one host
    "two instances, swap 3000 MiB each": Population(
        reserved=(0, 0, 0), flavors=(Flavor(1, 64, 0, 0, 3000),),
        servers=(Server(0, "src", "active", None),
                 Server(0, "src", "active", None))),
    # one instance with 1.5 GiB swap on a host reserving 0.5 GiB of disk
    "reserved 512 MiB disk, one instance with 1536 MiB swap": Population(
        reserved=(0, 0, 512), flavors=(Flavor(1, 64, 0, 0, 1536),),
        servers=(Server(0, "src", "active", None),)),
}


def regression_trials(run):
    _trial(run, CONTROL, "fixed whole-GiB population [control]",
           control=True)
    for label, pop in REGRESSIONS.items():
        _trial(run, pop, label)


@pytest.mark.claims("000-5")
def test_usage_arithmetic_shrunk_counterexamples(judge):
    """The shrunk counterexamples, replayed as fixed populations."""
    judge.observe(regression_trials)
    judge.decide(
        hypothesis="The smallest populations the search found wrong are "
                   "still accounted wrongly (tracker memory, compute_nodes "
                   "row or placement against the documented arithmetic, "
                   "beyond the one rounding an integer column forces).",
        stages=("under_fault", "after_clear"),
        invariants=ACCOUNTING_ANY_SIZE,
        fault_space="fixed populations: %s" % "; ".join(
            "%s = %s" % (k, v.describe()) for k, v in REGRESSIONS.items()))
