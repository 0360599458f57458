"""Trials from snapshots (harness.verdicts.snapshots).

* isolation: no trial started from a snapshot sees what another one did -
  to the databases, placement, a tracker's memory, Nova's module-level
  caches or the threads of the process;
* containment: a trial whose process dies or hangs is that trial's harness
  error (INCONCLUSIVE), and the trials after it run normally;
* fallback: with ``HARNESS_SNAPSHOTS=0``, a world on sqlite files, or a
  thread alive at the snapshot, the group runs on fresh worlds and says why;
* equivalence: a sample of scenario families (a migration-record move,
  sizing, instance resources) gives the same verdicts and the same
  violations per variant both ways.
"""
from __future__ import annotations

import json
import os
import re
import sys
import threading
import time

import pytest

from harness.faults.base import INFRASTRUCTURE, Fault
from harness.verdicts import judge as judge_mod
from harness.verdicts import snapshots
from harness.verdicts.judge import Judge, Trial

SCENARIOS = os.path.join(os.path.dirname(__file__), os.pardir, "scenarios")


def one_vm(world):
    world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
    world.boot("vm1", "small", "src")


ONE_HOST = {"hosts": ("src",)}


class Probe(Fault):
    """Reads every kind of state a trial could leak to the next one; what
    it saw is its description (and so the observation's ``fault``)."""
    authority = INFRASTRUCTURE

    def __init__(self, world, dirty=False):
        super().__init__(world)
        self.dirty = dirty
        self._change()
        self.seen = self._look()

    def describe(self):
        return "probe " + json.dumps(self.seen, sort_keys=True)

    def _look(self):
        from nova import objects
        from nova.objects import service
        from nova.scheduler.client import report
        w = self.world
        inst = w.instance("vm1")
        allocs = w.reportclient.get_allocs_for_consumer(
            w.ctx, inst.uuid)["allocations"]
        return {
            "db": inst.display_name,
            "placement": sorted(allocs),
            "tracker": w.hosts["src"].rt.compute_nodes["src"].vcpus_used,
            "cache": sorted(service.Service._MIN_VERSION_CACHE),
            "singleton": getattr(report.PLACEMENTCLIENT, "_harness_mark",
                                 None),
            "threads": sorted(t.name for t in threading.enumerate()
                              if t.name.startswith("harness-probe")),
            "flavors": len(objects.FlavorList.get_all(w.ctx)),
        }

    def inject(self):
        pass

    def _change(self):
        if self.dirty:
            from nova.objects import service
            from nova.scheduler.client import report
            w = self.world
            inst = w.instance("vm1")
            inst.display_name = "changed by another trial"
            inst.save()
            w.reportclient.delete_allocation_for_instance(
                w.ctx, inst.uuid, force=True)
            w.hosts["src"].rt.compute_nodes["src"].vcpus_used = 99
            service.Service._MIN_VERSION_CACHE["harness-probe"] = 1
            report.report_client_singleton()._harness_mark = "dirty"
            w.create_flavor("extra", vcpus=1, memory_mb=64, root_gb=1)
            stop = threading.Event()
            threading.Thread(target=stop.wait, name="harness-probe-thread",
                             daemon=True).start()


def _probe_trials():
    return [Trial("probe first", one_vm, lambda w: Probe(w),
                  world_kwargs=ONE_HOST),
            Trial("dirty", one_vm, lambda w: Probe(w, dirty=True),
                  world_kwargs=ONE_HOST),
            Trial("probe after", one_vm, lambda w: Probe(w),
                  world_kwargs=ONE_HOST)]


def _seen(obs):
    assert obs.error is None, obs.error
    return json.loads(obs.fault.split(" ", 1)[1])


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_no_trial_sees_another_trials_changes(monkeypatch, jobs):
    """One copy at a time, or all three side by side."""
    monkeypatch.setenv(snapshots.ENV, "1")
    monkeypatch.setenv(snapshots.JOBS_ENV, jobs)
    first, dirty, after = Judge("isolation", ["-"]).trials(_probe_trials())
    assert snapshots.LAST_FALLBACK is None
    # the dirty trial did change every kind of state (so the probe can see
    # a change where there is one) ...
    d = _seen(dirty)
    assert d["db"] == "changed by another trial"
    assert d["placement"] == []
    assert d["tracker"] == 99
    assert "harness-probe" in d["cache"]
    assert d["singleton"] == "dirty"
    assert d["threads"] == ["harness-probe-thread"]
    # ... and the trials before and after it saw none of it
    clean = _seen(first)
    assert clean == _seen(after)
    assert clean["db"] == "vm1" and len(clean["placement"]) == 1
    assert clean["tracker"] == 1
    assert "harness-probe" not in clean["cache"]
    assert clean["singleton"] is None and clean["threads"] == []
    assert clean["flavors"] == d["flavors"] - 1
    # and the parent process was never touched by any of them
    assert not [t for t in threading.enumerate()
                if t.name.startswith("harness-probe")]


def test_each_trial_has_its_own_trace_and_logs(monkeypatch):
    monkeypatch.setenv(snapshots.ENV, "1")
    j = Judge("traces", ["-"])
    obs = j.trials(_probe_trials())
    for o in obs:
        assert o.trace is j.traces[o.trial]
        kinds = [s.kind for s in o.trace.steps]
        assert kinds.count("fault") == 2            # its own inject, clear
        assert kinds[0] == "world"                  # the shared workload
        whats = [(s.kind, s.what) for s in o.trace.steps]
        assert ("world", "boot") in whats
        assert o.placement_calls > 0
    assert [o.trial for o in j.observations] == ["probe first", "dirty",
                                                 "probe after"]


class _Die(Fault):
    authority = INFRASTRUCTURE
    def __init__(self, world, how):
        super().__init__(world)
        self.how = how

    def describe(self):
        return "die by %s" % self.how

    def inject(self):
        if self.how == "exit":
            os._exit(7)
        if self.how == "signal":
            os.kill(os.getpid(), 9)
        if self.how == "hang":
            time.sleep(60)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_trial_that_dies_is_its_own_harness_error(monkeypatch, jobs):
    monkeypatch.setenv(snapshots.ENV, "1")
    monkeypatch.setenv(snapshots.JOBS_ENV, jobs)
    trials = [Trial("exits", one_vm, lambda w: _Die(w, "exit"),
                    world_kwargs=ONE_HOST),
              Trial("killed", one_vm, lambda w: _Die(w, "signal"),
                    world_kwargs=ONE_HOST),
              Trial("control", one_vm, world_kwargs=ONE_HOST)]
    exits, killed, control = Judge("crash", ["-"]).trials(trials)
    assert "exited with status 7" in exits.error
    assert "killed by signal 9" in killed.error
    assert control.error is None and control.clean
    out = Judge("crash", ["-"])
    out.observations = [exits, control]
    assert out.decide("x").verdict.value == "INCONCLUSIVE"


def test_a_trial_that_hangs_is_stopped_with_its_stack(monkeypatch):
    """Each copy is stopped at its own limit, with its stack, and the next
    copy starts as if nothing happened.  (Two hanging trials: a trial that
    does real work under the same 2 s limit may not finish on a loaded
    machine.)"""
    monkeypatch.setenv(snapshots.ENV, "1")
    monkeypatch.setenv(snapshots.TRIAL_TIMEOUT_ENV, "2")
    monkeypatch.setenv(snapshots.JOBS_ENV, "1")
    trials = [Trial("hangs %d" % i, one_vm, lambda w: _Die(w, "hang"),
                    world_kwargs=ONE_HOST) for i in (1, 2)]
    for hung in Judge("hang", ["-"]).trials(trials):
        assert "exceeded its time limit of 2s" in hung.error, hung.error
        assert "test_snapshots.py" in hung.error and "in inject" in hung.error
        assert hung.duration < 30


def test_the_scenario_limit_stops_the_parent_and_its_trial(monkeypatch):
    monkeypatch.setenv(snapshots.ENV, "1")
    monkeypatch.setenv(snapshots.JOBS_ENV, "2")   # both copies running
    monkeypatch.delenv(snapshots.TRIAL_TIMEOUT_ENV, raising=False)
    trials = [Trial("control", one_vm, world_kwargs=ONE_HOST),
              Trial("hangs", one_vm, lambda w: _Die(w, "hang"),
                    world_kwargs=ONE_HOST)]
    started = time.monotonic()
    with pytest.raises(judge_mod.ScenarioTimeout):
        with judge_mod.time_limit(4, grace=5):
            Judge("hang", ["-"]).trials(trials)
            time.sleep(60)
    assert time.monotonic() - started < 20
    with pytest.raises(ChildProcessError):   # no trial process left behind
        os.waitpid(-1, os.WNOHANG)


def test_parallel_copies(monkeypatch):
    monkeypatch.setenv(snapshots.JOBS_ENV, "3")
    assert snapshots.parallel() == 3
    monkeypatch.delenv(snapshots.JOBS_ENV)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(os.cpu_count()))
    assert snapshots.parallel() == 1


def test_child_limits(monkeypatch):
    monkeypatch.delenv(snapshots.TRIAL_TIMEOUT_ENV, raising=False)
    assert snapshots.child_limit(0) is None
    assert snapshots.child_limit(100) == 95
    assert snapshots.child_limit(8) == 6
    monkeypatch.setenv(snapshots.TRIAL_TIMEOUT_ENV, "3")
    assert snapshots.child_limit(0) == 3
    assert snapshots.child_limit(100) == 3


def _threaded(world):
    one_vm(world)
    stop = threading.Event()
    world.addCleanup(stop.set)
    threading.Thread(target=stop.wait, name="harness-setup-thread",
                     daemon=True).start()


def test_falls_back_to_fresh_worlds_when_a_thread_is_alive(monkeypatch):
    monkeypatch.setenv(snapshots.ENV, "1")
    trials = [Trial("a [control]", _threaded, world_kwargs=ONE_HOST),
              Trial("b", _threaded, lambda w: Probe(w),
                    world_kwargs=ONE_HOST)]
    a, b = Judge("threads", ["-"]).trials(trials)
    assert "harness-setup-thread" in snapshots.LAST_FALLBACK
    assert a.clean and b.error is None
    assert any(s.what == "snapshot not used, fresh worlds"
               for s in a.trace.steps)


@pytest.mark.parametrize("env,kw,why", [
    ("0", ONE_HOST, "HARNESS_SNAPSHOTS=0"),
    ("1", dict(ONE_HOST, sqlite="file"), "sqlite files")])
def test_static_fallbacks(monkeypatch, env, kw, why):
    monkeypatch.setenv(snapshots.ENV, env)
    t = Trial("x", one_vm, world_kwargs=kw)
    assert why in snapshots.static_reason(t)


def test_groups_are_consecutive_trials_over_one_workload():
    a = Trial("a", one_vm)
    b = Trial("b", one_vm, lambda w: None)
    c = Trial("c", one_vm, world_kwargs=ONE_HOST)
    d = Trial("d", _threaded)
    e = Trial("e", one_vm)
    assert [[t.name for t in g] for g in snapshots.groups(
        [a, b, c, d, e])] == [["a", "b"], ["c"], ["d"], ["e"]]


# ---------------------------------------------------------------------------
# equivalence with the fresh-world path, on a sample of scenario families
# ---------------------------------------------------------------------------
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                  r"[0-9a-f]{12}")


def _norm(value):
    return UUID.sub("<uuid>", json.dumps(value, sort_keys=True, default=repr))


def _families():
    sys.path.insert(0, os.path.abspath(SCENARIOS))
    try:
        import test_instance_resources as res
        import test_migration_records as mig
        import test_sizing as siz
        from harness.world.workloads import MOVES
    finally:
        sys.path.pop(0)

    def pick(d, n):
        return dict(list(d.items())[:n])

    def migration(j):
        j.paired("resize-incoming", MOVES["resize-incoming"],
                 pick(mig.migration_record_corruptions(), 3))

    def sizing(j):
        j.paired("booted", siz.booted, pick(siz.sizing_faults(), 2),
                 world_kwargs={"hosts": ("src",)}, checks=siz.EXTRA_CHECKS)

    def resources(j):
        kw = {"hosts": ("src",)}
        specs = pick(res.FAULTS, 2)
        j.trials([Trial("control", res.booted, during=res.while_wrong,
                        world_kwargs=kw, checks=res.EXTRA_CHECKS)]
                 + [Trial(label, res.booted, fault=res._fault(spec),
                          during=res.while_wrong, world_kwargs=kw,
                          checks=res.EXTRA_CHECKS)
                    for label, spec in specs.items()])
    return {"migration records": migration, "sizing": sizing,
            "instance resources": resources}


@pytest.mark.parametrize("family", ["migration records", "sizing",
                                    "instance resources"])
def test_same_verdicts_and_violations_both_ways(monkeypatch, family):
    run = _families()[family]
    seen = {}
    for mode in ("1", "0"):
        monkeypatch.setenv(snapshots.ENV, mode)
        j = Judge(family, ["-"])
        run(j)
        if mode == "1":
            assert snapshots.LAST_FALLBACK is None
        outcome = j.decide("any invariant breaks", invariants=None)
        seen[mode] = {
            "verdict": outcome.verdict.value,
            "evidence": sorted(_norm([e.variant, e.stage, e.invariant,
                                      e.subject, e.expected, e.actual])
                               for e in outcome.evidence),
            "trials": [(o.trial, o.control, o.fault, o.skipped,
                        o.error is None, o.during_error,
                        {st: sorted(_norm(v.as_dict()) for v in vs)
                         for st, vs in o.violations.items()})
                       for o in j.observations]}
    assert seen["1"] == seen["0"]
    # (the sample has variants that break invariants: not a vacuous match)
    assert any(vs for t in seen["1"]["trials"] for vs in t[-1].values())


def test_in_copy_returns_what_the_copy_computed():
    box = {"n": 1}

    def change():
        box["n"] += 41
        return box["n"]
    assert snapshots.in_copy(change) == 42
    assert box == {"n": 1}
    with pytest.raises(RuntimeError):
        snapshots.in_copy(lambda: os._exit(5))


def test_the_step_printer_shows_each_trial_from_a_snapshot(monkeypatch):
    """reproduce's --trace-steps: every trial from a snapshot is printed
    with its header, its steps (the shared workload's included) and its
    invariants, in order, as for trials on fresh worlds."""
    from harness.report.tracefmt import StepPrinter
    monkeypatch.setenv(snapshots.ENV, "1")
    lines = []
    printer = StepPrinter(write=lines.append)
    j = Judge("printed", ["-"], trace_echo=printer)
    j.trials([Trial("p [control]", one_vm, world_kwargs=ONE_HOST),
              Trial("p / probe", one_vm, lambda w: Probe(w),
                    world_kwargs=ONE_HOST)])
    text = "\n".join(lines)
    first = text.index("TRIAL p [control]")
    second = text.index("TRIAL p / probe")
    assert first < second
    for part in (text[first:second], text[second:]):
        assert "boot" in part and "-- invariants" in part
    assert "probe" in text[second:]
