"""Self-tests for harness.verdicts.sweep: many faults in turn on one world."""
from __future__ import annotations

from harness.faults import base
from harness.faults.base import Fault
from harness.faults import records as rec
from harness.verdicts import judge as judge_mod
from harness.verdicts.judge import Judge
from harness.verdicts.sweep import run_sweep
from harness.verdicts.verdict import Verdict

from conftest import SMALL


def _booted(world):
    world.create_flavor("small", **SMALL)
    world.boot("vm1", "small", "src")


class _Lasting(Fault):
    """Marks vm1 deleted in the DB and does not put it back."""
    authority = base.INCONSISTENT

    def describe(self):
        return "vm1 deleted for good"

    def inject(self):
        from nova.db.main import models
        with rec._main_db(self.world) as session:
            session.query(models.Instance).filter_by(
                uuid=self.world.instances["vm1"].uuid).update(
                {"vm_state": "deleted"}, synchronize_session=False)


class _Broken(Fault):
    authority = base.INCONSISTENT
    def describe(self):
        return "a fault that cannot be injected"

    def inject(self):
        raise RuntimeError("cannot inject")


KW = {"hosts": ("src",)}


def test_one_observation_per_fault_control_first():
    faults = {
        "stopped": lambda w: rec.InstanceField(w, "vm1", vm_state="stopped"),
        "vcpus -8": lambda w: rec.EmbeddedFlavor(w, "vm1", which="cur",
                                                 mode="altered", vcpus=-8),
        # a self-consistent forgery: the ledger learns it, no harm
        "vcpus 3": lambda w: rec.EmbeddedFlavor(w, "vm1", which="cur",
                                                mode="altered", vcpus=3),
    }
    obs = run_sweep("boot", _booted, faults, world_kwargs=KW)
    assert [o.trial for o in obs] == ["boot [control]", "boot / stopped",
                                      "boot / vcpus -8", "boot / vcpus 3"]
    assert obs[0].control and obs[0].clean
    assert obs[1].clean and obs[1].fault == "instance vm1: vm_state='stopped'"
    uf = {v.subject for v in obs[2].violations["under_fault"]}
    assert "tracker src vcpus_used" in uf
    assert obs[2].violations["after_clear"] == []
    assert obs[3].authority == base.FORGERY and obs[3].clean


def test_a_sweep_trial_is_an_ordinary_trial():
    """What the second trial runner lacked: each trial of a sweep has its
    fault's class and reach, the mechanisms traced while it was in place,
    and a replay under a what-if; so a claim whose trigger admits that
    class can be confirmed by it (with no class, every harm was "outside
    the trigger" and the claim could only come out REFUTED)."""
    from harness.oracle.paths import Mechanism
    faults = {"vcpus -8": lambda w: rec.EmbeddedFlavor(
        w, "vm1", which="cur", mode="altered", vcpus=-8)}
    obs = run_sweep("boot", _booted, faults, world_kwargs=KW)
    variant = obs[1]
    assert variant.authority == base.INADMISSIBLE
    assert variant.reach == "someone with database write access"
    assert variant.paths.get("flavor-sizes-used", 0) > 0
    assert variant.replay is not None
    prop = {"statement": "s", "trigger": "t", "harm": "h",
            "mechanism": [Mechanism(
                "flavor-sizes-used", "nova.compute.resource_tracker."
                "ResourceTracker._get_usage_dict")],
            "trigger_classes": [base.INADMISSIBLE],
            "no_counterfactual": "a self-test"}
    judge = Judge("s", ["000-3"], proposition=prop)
    judge.observations.extend(obs)
    out = judge.decide("h", stages=("under_fault",),
                       invariants=("usage_in_bounds",))
    assert out.verdict is Verdict.CONFIRMED, out.summary
    assert out.fault_classes == {base.INADMISSIBLE: 1}
    again = judge_mod.replay(variant, "sizes-validated")
    assert again.trial == "boot / vcpus -8 [counterfactual: sizes-validated]"
    assert again.whatif == "sizes-validated"
    assert judge_mod.replay(variant, "sizes-validated") is again  # kept


def test_lasting_damage_dirties_the_next_before_and_names_its_cause():
    faults = {"lasting": lambda w: _Lasting(w),
              "next": lambda w: rec.InstanceField(w, "vm1",
                                                  vm_state="stopped")}
    obs = run_sweep("boot", _booted, faults, world_kwargs=KW)
    assert obs[1].violations["after_clear"]
    assert obs[2].violations["before"] == obs[1].violations["after_clear"]
    judge = Judge("s", ["000-6"])
    judge.observations.extend(obs)
    out = judge.decide("h", predicts={"after_clear": None})
    assert out.verdict is Verdict.INCONCLUSIVE


def test_a_fault_that_cannot_be_injected_stops_the_sweep():
    faults = {"broken": lambda w: _Broken(w),
              "never": lambda w: rec.InstanceField(w, "vm1",
                                                   vm_state="stopped")}
    obs = run_sweep("boot", _booted, faults, world_kwargs=KW)
    assert [o.trial for o in obs] == ["boot [control]", "boot / broken",
                                      "boot / never"]
    assert "cannot inject" in obs[1].error
    assert obs[2].error.startswith("not run: trial 'boot / broken' failed")
    assert obs[2].fault is None          # never injected
