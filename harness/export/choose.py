"""Which trial of a finding's scenario to export, and what it showed.

The finding's scenario is called with a :class:`Collector` in place of the
judge: it hands over the trials it would run (and the stages and
invariants its decision reads) without running anything.  Its variants are
then run one by one, each on a world that records its operations, until
one shows the finding's harm; the run record of the last ``harness run``
names the variant that confirmed the finding, which is tried first.
"""
from __future__ import annotations

import dataclasses
import glob
import importlib.util
import json
import os
import re
import sys

from harness.verdicts import catalogue as catalogue_mod
from harness.verdicts import judge as judge_mod

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
# How many variants are run at most before giving up.
MAX_TRIED = 24
# How often a race between threads is run before giving up.
RACE_TRIES = 3


class ExportError(Exception):
    """The finding cannot be exported; the message says why and what to
    do."""


@dataclasses.dataclass
class Chosen:
    """One trial of a finding, run, with what it showed."""
    finding: object                 # catalogue Finding
    scenario: str
    trial: object                   # harness.verdicts.judge.Trial
    calls: list                     # harness.world.history.Call
    fault: object | None            # the fault fixture (not set up)
    stages: tuple
    invariants: tuple
    harm: list                      # [(stage, Violation)]
    between_audits: bool
    hosts: list
    nodenames: dict
    reserved: object
    allocation_ratios: dict
    config: dict
    inventory: object
    # devices the hosts' drivers assign one by one (provider-tree
    # resources): {resource class: [identifier, ...]}
    devices: dict = dataclasses.field(default_factory=dict)
    # a conductor trial: what its operation saw (the caller's result, the
    # placement calls and those the fault fired on); see
    # harness.verdicts.judge.OperationDetail
    detail: object = None
    # a trial decided by threads racing: the harness observed the harm as
    # a race, and the export writes it with the interleaving made
    # deterministic
    raced: bool = False
    # hosts whose compute service the operator disabled (by the end)
    disabled: list = dataclasses.field(default_factory=list)


class _Outcome:
    def __init__(self):
        self.stats = {}


class _Named:
    """A trial as a scenario's ``keep`` filter reads an observation of it
    (its name, whether it is the control)."""

    def __init__(self, trial, error=None):
        self.trial = trial.name
        self.control = trial.is_control
        self.error = error
        self.calls = []


class Collector(judge_mod.Judge):
    """A judge that collects trials instead of running them."""

    def __init__(self, scenario):
        super().__init__(scenario, [])
        self.collected: list = []
        self.decisions: list = []
        self.outcome = _Outcome()
        self.keep = None            # the filter of the family observed

    def runner(self):
        return self

    def _may_run(self):
        return None

    @staticmethod
    def repetitions(default: int = 20) -> range:
        return range(1)         # one of each trial is enough to choose

    def trial(self, trial, rep: int = 0):
        from harness.verdicts import conductor as conductor_verdicts
        if isinstance(trial, conductor_verdicts.ConductorTrial):
            return self._conductor_trial(trial)
        self.collected.append(trial)
        return None

    def _conductor_trial(self, trial):
        """A conductor trial: its variants come from its control's
        placement call log, so the control is run (unless the scenario
        keeps none of its shape) and handed back; a variant is only
        collected."""
        if self.keep is not None and not self.keep(_Named(trial)):
            # a shape the scenario does not read: no variants of it
            return _Named(trial, error="not read by %s" % self.scenario)
        self.collected.append(trial)
        if not trial.is_control:
            return None
        return judge_mod.run_trial(trial)

    def trials(self, trials):
        self.collected.extend(trials)
        return []

    def sweep(self, name, setup, faults, world_kwargs=None,
              audit_via=("tracker",), checks=(), audit_hosts=None):
        kw = dict(world_kwargs or {})
        self.collected.append(judge_mod.Trial(
            name + " [control]", setup, world_kwargs=kw,
            audit_via=tuple(audit_via), checks=checks,
            audit_hosts=audit_hosts))
        self.collected.extend(
            judge_mod.Trial("%s / %s" % (name, fname), setup, factory,
                            world_kwargs=kw, audit_via=tuple(audit_via),
                            checks=checks, audit_hosts=audit_hosts)
            for fname, factory in faults.items())
        return []

    def observe(self, family, *args, keep=None):
        self.keep = keep
        try:
            family(self, *args)
        finally:
            self.keep = None
        return []

    def shared(self, family, *args):
        family(self, *args)
        return (), {}

    def replays(self, whatif):
        return []

    def decide(self, hypothesis: str, stages=judge_mod.STAGES[1:],
               invariants=None, **kwargs):
        self.decisions.append({"stages": tuple(stages),
                               "invariants": tuple(invariants or ())})
        return self.outcome


def _scenario_function(name: str):
    pattern = re.compile(r"^def %s\(" % re.escape(name), re.M)
    for path in sorted(glob.glob(os.path.join(ROOT, "scenarios", "**",
                                              "test_*.py"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            if pattern.search(f.read()):
                return getattr(_load_scenario_module(path), name)
    raise ExportError("scenario %s is not in scenarios/; the catalogue "
                      "names it: mend scenarios/catalogue.yaml" % name)


def _load_scenario_module(path: str):
    """Import a scenario file as pytest does (rootdir-relative imports of
    its sibling modules work; the module is in ``sys.modules`` while it
    runs, which dataclasses need)."""
    name = "harness_export_" + os.path.basename(path)[:-3]
    if name in sys.modules:
        return sys.modules[name]
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _recorded_variant(fid: str) -> str | None:
    """The variant the last run's verdict record says confirmed ``fid``."""
    path = os.path.join(ROOT, "runs", "latest", "verdicts.json")
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    for row in doc.get("findings") or []:
        if row.get("finding") == fid:
            for c in row.get("confirming") or []:
                if c.get("variant"):
                    return c["variant"]
    return None


def _devices(world) -> dict:
    """The assignable devices the hosts' drivers listed in their provider
    trees (a scenario may patch the fake driver to list some)."""
    out: dict = {}
    for host in world.hosts.values():
        try:
            # the tracker keeps the tree the driver last updated
            data = host.rt.provider_tree.data(host.nodename)
        except Exception as exc:  # no tree (the host never reported)
            if os.environ.get("HARNESS_DEBUG"):
                print("devices of %s: %r" % (host.name, exc))
            continue
        for rc, resources in (getattr(data, "resources", None) or
                              {}).items():
            out.setdefault(rc, set()).update(r.identifier
                                             for r in resources)
    return {rc: sorted(ids) for rc, ids in out.items()}


def _disabled(world) -> list:
    """The hosts whose compute service is disabled, as the API shows."""
    try:
        services = world.api.get_services(binary="nova-compute")
    except Exception as exc:  # no API (a world without one)
        if os.environ.get("HARNESS_DEBUG"):
            print("services: %r" % (exc,))
        return []
    return sorted(s["host"] for s in services
                  if s.get("status") == "disabled")


def _by_chance(chosen: Chosen) -> bool:
    """Whether the chosen trial's harm came about by chance, so that a
    test replaying it would show it only sometimes: two instances given
    one device after the first's list was emptied (the claim pops a free
    device from a set, in no fixed order).  Another harmful variant is
    preferred; this one is kept in case there is none."""
    fault = chosen.fault
    return (type(fault).__name__ == "InstanceResources"
            and getattr(fault, "mode", None) in ("absent", "empty")
            and any(v.invariant == "devices_not_shared"
                    for _s, v in chosen.harm))


def _named_by(trial, finding) -> int:
    """How many words of what the trial varies (its name after the comma:
    "4 threads, inventory changing between audits") the finding's
    statement uses."""
    said = set(re.findall(r"[a-z]+", str(finding.proposition.get(
        "statement", "")).lower()))
    tail = trial.name.split(", ", 1)[-1].lower()
    return len(said & set(re.findall(r"[a-z]+", tail)))


def _harm(obs, stages, invariants):
    return [(stage, v) for stage in stages
            for v in obs.violations.get(stage, [])
            if not invariants or v.invariant in invariants]


def choose(fid: str, catalogue=None, log=print) -> Chosen:
    """Run ``fid``'s variants until one shows its harm."""
    catalogue = catalogue or catalogue_mod.load()
    finding = catalogue.findings.get(fid)
    if finding is None:
        raise ExportError("unknown finding id %r (known: %s); see "
                          "'python -m harness list'" % (
                              fid, ", ".join(sorted(catalogue.findings))))
    if finding.withdrawn:
        raise ExportError("%s was withdrawn on %s (%s): Nova does not do "
                          "it, there is nothing to export" % (
                              fid, finding.withdrawn["date"],
                              finding.withdrawn["why"][:120]))
    harm_invariants = tuple(finding.proposition.get("harm_invariants")
                            or ())
    preferred = _recorded_variant(fid)
    fallback = None
    for scenario in finding.scenarios:
        fn = _scenario_function(scenario)
        collector = Collector(scenario)
        try:
            fn(collector)
        except ExportError as exc:
            raise ExportError("%s: %s" % (fid, exc)) from None
        if not collector.decisions:
            continue
        stages = collector.decisions[0]["stages"]
        invariants = harm_invariants or collector.decisions[0]["invariants"]
        variants = [t for t in collector.collected if not t.is_control]
        # a timing condition left to real threads (they need the file
        # databases): not a sequence of calls a test can replay.  A timing
        # condition the world makes (a frozen clock) is written.
        raced = [t for t in variants
                 if t.condition and t.condition_authority == "timing"
                 and (t.world_kwargs or {}).get("sqlite") == "file"]
        if raced and len(raced) == len(variants):
            # a race: the threads are run (a few times, the variant the
            # finding's statement names first) until one shows the harm;
            # the writer makes the interleaving that harmed deterministic
            variants = sorted(raced, key=lambda t: -_named_by(
                t, finding))[:1] * RACE_TRIES
        else:
            variants = [t for t in variants if t not in raced]
        variants.sort(key=lambda t: 0 if preferred and t.name.endswith(
            preferred) else 1)
        for trial in variants[:MAX_TRIED]:
            log("export %s: running %s" % (fid, trial.name))
            kept = {}
            build = trial.build_world

            def recording(trace, build=build, kept=kept):
                world = build(trace)
                world.record_states = True
                kept["world"] = world
                real_cleanup = world.cleanUp

                def cleanup(*args, **kwargs):
                    # what the drivers listed, while the hosts still run
                    kept["devices"] = _devices(world)
                    kept["disabled"] = _disabled(world)
                    return real_cleanup(*args, **kwargs)

                world.cleanUp = cleanup
                return world

            trial.build_world = recording
            try:
                obs = judge_mod.run_trial(trial)
            finally:
                trial.build_world = build
            world = kept.get("world")
            if obs.error or world is None:
                continue
            harm = _harm(obs, stages, invariants)
            if not harm:
                continue
            fault = trial.fault(world) if trial.fault else None
            chosen = Chosen(
                finding=finding, scenario=scenario, trial=trial,
                calls=list(world.calls), fault=fault, stages=stages,
                invariants=invariants, harm=harm,
                between_audits=isinstance(trial, judge_mod.BetweenAudits),
                # every host the world had (a scenario may add one)
                hosts=list(dict.fromkeys(list(world.host_names)
                                         + list(world.hosts))),
                nodenames=dict(
                    {h: world.hosts[h].nodename for h in world.hosts}),
                reserved=world.reserved,
                allocation_ratios=dict(world.allocation_ratios),
                config=dict(world.extra_config),
                inventory=world.initial_inventory,
                devices=kept.get("devices") or {},
                disabled=kept.get("disabled") or [],
                detail=obs.detail, raced=trial.condition_authority ==
                "timing" and (trial.world_kwargs or {}).get("sqlite") ==
                "file")
            if not _by_chance(chosen):
                return chosen
            fallback = fallback or chosen
    if fallback is not None:
        return fallback
    raise ExportError("no variant of %s's scenario%s showed its harm in "
                      "this run (%d tried): it is not CONFIRMED here; run "
                      "'python -m harness run --claims %s' to see its "
                      "verdict" % (fid, "s" if len(finding.scenarios) > 1
                                   else "", MAX_TRIED, fid))
