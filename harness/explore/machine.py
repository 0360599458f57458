"""The stateful explorer: a Hypothesis rule-based state machine over the ops.

Each example starts from a fresh :class:`~harness.world.deployment.World`
(hosts ``src``, ``dst``, ``bystander``, three flavors: one with ephemeral
and swap disks) - a forked copy of one built beforehand when a
:class:`~harness.explore.forked.Template` is given (:mod:`harness.explore.
forked`), else one built for the example - then runs rules, each performing
one or two operations of :mod:`harness.world.ops` through a
:class:`~harness.world.ops.Client`.  After every operation the
:class:`~harness.oracle.stepchecks.StepChecker` checks every invariant;
a violation raises :class:`InvariantViolated`, which Hypothesis shrinks to
the shortest operation sequence that still fails.

* Bundles: ``instances`` (every instance a boot, build or reschedule
  created; ``delete`` consumes one) and ``migrations`` (every move's
  migration record, for moving an instance back to the host it left).
* Preconditions follow the lifecycle: only an instance with a finished cold
  move can be confirmed or reverted, only a stopped move advanced, only an
  offloaded instance unshelved, only an instance of a down host evacuated,
  only an up host audited or chosen, one host down at most.
* Nemesis rules start a fault fixture from :mod:`harness.faults` and stop
  it; while one is active only audits run (every other operation would
  need the rollbacks Nova's services perform around a failed step, which
  the operations do not model) and nothing is asserted; stopping it audits
  every host, after which every invariant must hold again.
"""
from __future__ import annotations

import dataclasses

from hypothesis import strategies as st
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, consumes,
                                 initialize, multiple, precondition, rule)

from harness.explore.forked import LocalSession
from harness.faults.nemesis import FAULT_KINDS
from harness.world.ops import Op

HOSTS = ("src", "dst", "bystander")
FLAVORS = {
    "small": dict(vcpus=1, memory_mb=512, root_gb=10),
    # ephemeral and swap disks (swap a whole GiB: the tracker counts it as
    # swap / 1024 GiB)
    "eph": dict(vcpus=2, memory_mb=1024, root_gb=10, ephemeral_gb=5,
                swap=1024),
    "big": dict(vcpus=4, memory_mb=2048, root_gb=20),
}
MAX_INSTANCES = 5
COLD_UNTIL = ("pre-migrating", "migrating", "post-migrating", "finished")
LIVE_UNTIL = ("preparing", "running", "completed")
# Operation families the explorer can be told to leave out (to look past
# a finding already recorded): see ``harness explore --exclude``.
FAMILIES = ("delete_mid_move", "faults", "evacuate", "restart", "shelve",
            "node", "build_fail", "live", "cold")


def prepare_world(world):
    """What every example starts with: the flavors (made once in the
    template the examples are copied from)."""
    for name, spec in FLAVORS.items():
        world.create_flavor(name, **spec)


class InvariantViolated(AssertionError):
    """An invariant failed after an operation."""

    def __init__(self, op, violations):
        self.op = op
        self.violations = violations
        super().__init__("after %s:\n  %s" % (
            op, "\n  ".join(str(v) for v in violations)))


@dataclasses.dataclass
class Recorder:
    """What the runs did: the last run's operations (after shrinking, the
    minimal failing run is the last one Hypothesis executes), counters."""
    ops_total: int = 0
    runs: int = 0
    last_ops: list = dataclasses.field(default_factory=list)
    last_failure: object = None
    gaps: dict = dataclasses.field(default_factory=dict)
    on_op: object = None       # callback(ops_total) for progress
    kinds: dict = dataclasses.field(default_factory=dict)  # op -> count
    # time.monotonic() after which a batch starts no new example (None:
    # no limit; see harness.explore.runner.run_batch)
    deadline: float | None = None


def make_machine(recorder: Recorder, exclude=(), world_kwargs=None,
                 template=None):
    """A state machine class over a fresh world per run: a copy of
    ``template``'s (a :class:`~harness.explore.forked.Template`, open), or
    one built for the run."""
    exclude = frozenset(exclude)
    unknown = exclude - set(FAMILIES)
    if unknown:
        raise ValueError("unknown operation family %s (known: %s)"
                         % (", ".join(sorted(unknown)), ", ".join(FAMILIES)))

    def allowed(family):
        return family not in exclude

    class Lifecycle(RuleBasedStateMachine):
        instances = Bundle("instances")
        migrations = Bundle("migrations")

        def __init__(self):
            super().__init__()
            self.session = (template.session() if template is not None
                            else LocalSession(world_kwargs, prepare_world))
            self.counter = 0
            # nodes their driver does not report: not chosen as a target
            # (the claim there would fail and need the reschedule paths)
            self.unavailable: set[str] = set()
            # name -> active | shelved | offloaded | spawning | error |
            # build-aborted (a failed build whose clean-up has not run)
            self.state: dict[str, str] = {}
            # build-aborted instance -> the host whose compute cleans it up
            self.aborted: dict[str, str] = {}
            recorder.runs += 1
            recorder.last_ops = []
            recorder.last_failure = None

        def teardown(self):
            self.session.close()

        # -- performing and checking ------------------------------------
        def do(self, f, process="client", **args):
            op = Op(f, args, process=process)
            recorder.last_ops.append(op.as_dict())
            done, result = self.session.step(op)
            recorder.ops_total += 1
            recorder.kinds[f] = recorder.kinds.get(f, 0) + 1
            if recorder.on_op is not None:
                recorder.on_op(recorder.ops_total)
            for gap in result.gaps:
                key = (gap.invariant, gap.detail)
                recorder.gaps[key] = recorder.gaps.get(key, 0) + 1
            if result.violations:
                recorder.last_failure = (done, result.violations)
                raise InvariantViolated(done, result.violations)
            return done

        # -- the model ----------------------------------------------------
        @property
        def ledger(self):
            return self.session.ledger

        def up(self):
            return [h for h in HOSTS if h not in self.ledger.down]

        def targets(self):
            """Hosts a new claim may go to: up, node reported, and known to
            their tracker (a compute restarted while its node was
            unreported refuses claims there, "unknown node", until an
            audit reaches the node: the build would be rescheduled)."""
            return [h for h in self.up() if h not in self.unavailable
                    and h not in self.ledger.restarted_unaudited]

        def live(self):
            return [n for n, r in self.ledger.instances.items()
                    if not r.deleted]

        def host_of(self, name):
            return self.ledger.instances[name].host

        def settled(self, *states):
            """Instances in one of ``states`` (default: active), not
            moving, on an up host."""
            up = self.up()
            states = states or ("active",)
            return sorted(n for n in self.live()
                          if self.state.get(n) in states
                          and n not in self.ledger.moves
                          and self.host_of(n) in up)

        def moving(self, pred):
            up = self.up()
            return sorted(n for n, m in self.ledger.moves.items()
                          if pred(m) and m.source in up and m.dest in up)

        def quiet(self):
            return not self.session.fault_active

        def room(self):
            return len(self.live()) < MAX_INSTANCES

        def new_name(self):
            self.counter += 1
            return "i%d" % self.counter

        def pick(self, data, names, label):
            return data.draw(st.sampled_from(names), label=label)

        # -- set-up ---------------------------------------------------------
        @initialize()
        def flavors(self):
            # (a template made them once for every example: prepare_world;
            # the example's operations still list them, so that a replay
            # on a fresh world makes them too)
            for name, spec in FLAVORS.items():
                if name not in self.ledger.flavors:
                    self.do("create_flavor", name=name, **spec)
                else:
                    recorder.last_ops.append(
                        Op("create_flavor", dict(name=name, **spec))
                        .as_dict())

        # -- boots and builds ----------------------------------------------
        @precondition(lambda self: self.quiet() and self.room())
        @rule(target=instances, flavor=st.sampled_from(sorted(FLAVORS)),
              host=st.sampled_from(HOSTS), from_volume=st.booleans())
        def boot(self, flavor, host, from_volume):
            if host not in self.targets():
                return multiple()
            name = self.new_name()
            done = self.do("boot", name=name, flavor=flavor, host=host,
                           from_volume=from_volume)
            return self.created(name, done)

        @precondition(lambda self: self.quiet() and self.room()
                      and allowed("build_fail"))
        @rule(target=instances, flavor=st.sampled_from(sorted(FLAVORS)),
              host=st.sampled_from(HOSTS),
              alternate=st.sampled_from((None,) + HOSTS),
              stop=st.booleans())
        def build_fail(self, flavor, host, alternate, stop):
            """``stop`` (no alternate): stopped after the claim aborted,
            before the compute's clean-up (:meth:`finish_build_fail`)."""
            up = self.targets()
            if host not in up or alternate == host or (
                    alternate is not None and alternate not in up):
                return multiple()
            name = self.new_name()
            if stop and alternate is None:
                done = self.do("build_fail", name=name, flavor=flavor,
                               host=host, until="aborted")
                if done.type == "ok":
                    self.state[name] = "build-aborted"
                    self.aborted[name] = host
                    return name
                return self.created(name, done)
            done = self.do("build_fail", name=name, flavor=flavor,
                           host=host, alternate=alternate)
            return self.created(name, done)

        def created(self, name, done):
            """The instance ``done`` made, in the state it ended in (the
            ledger learned where it is)."""
            rec = self.ledger.instances.get(name)
            if rec is None:
                return multiple()
            self.state[name] = "active" if rec.host else "error"
            return name

        def cleaning_up(self):
            """Failed builds whose compute (up) has their clean-up to do."""
            up = self.up()
            return sorted(n for n, h in self.aborted.items() if h in up)

        @precondition(lambda self: self.quiet() and self.cleaning_up())
        @rule(data=st.data())
        def finish_build_fail(self, data):
            name = self.pick(data, self.cleaning_up(), "instance")
            if self.do("finish_build_fail", name=name).type == "ok":
                self.aborted.pop(name)
                self.state[name] = "error"

        # -- moves --------------------------------------------------------
        @precondition(lambda self: self.quiet() and allowed("cold")
                      and self.settled("active", "stopped"))
        @rule(target=migrations, data=st.data(),
              flavor=st.sampled_from((None,) + tuple(sorted(FLAVORS))),
              until=st.sampled_from(COLD_UNTIL))
        def move(self, data, flavor, until):
            name = self.pick(data, self.settled("active", "stopped"),
                             "instance")
            if not self.targets():
                return multiple()
            dest = self.pick(data, self.targets(), "dest")
            if flavor == self.ledger.instances[name].flavor:
                flavor = None        # same flavor: a cold migration
            if flavor is None and dest == self.host_of(name):
                return multiple()    # (a resize may stay on its host)
            done = self.do("move", name=name, dest=dest, flavor=flavor,
                           until=until)
            return self._moved(name, done)

        @precondition(lambda self: self.quiet() and allowed("cold")
                      and self.settled("active", "stopped"))
        @rule(data=st.data(), back=migrations,
              until=st.sampled_from(COLD_UNTIL))
        def migrate_back(self, data, back, until):
            """Move an instance back to a host it left."""
            name, former = back
            if (name not in self.settled("active", "stopped") or former not in self.targets()
                    or former == self.host_of(name)):
                return
            self.do("move", name=name, dest=former, until=until)

        @precondition(lambda self: self.quiet() and allowed("live")
                      and self.settled())
        @rule(target=migrations, data=st.data(),
              until=st.sampled_from(LIVE_UNTIL))
        def live_migrate(self, data, until):
            name = self.pick(data, self.settled(), "instance")
            dests = [h for h in self.targets() if h != self.host_of(name)]
            if not dests:
                return multiple()
            dest = self.pick(data, dests, "dest")
            done = self.do("live_migrate", name=name, dest=dest,
                           until=until)
            return self._moved(name, done)

        def _moved(self, name, done):
            """The (server, host it left) a move adds to ``migrations``;
            nothing when the move did not start (refused by the API: no
            migration in the ledger's history)."""
            history = [m for m in self.ledger.history if m.instance == name]
            if done.type == "fail" or not history:
                return multiple()
            return (name, history[-1].source)

        @precondition(lambda self: self.quiet() and self.moving(
            lambda m: m.status not in ("finished",)))
        @rule(data=st.data())
        def advance(self, data):
            names = self.moving(lambda m: m.status not in ("finished",))
            self.do("advance", name=self.pick(data, names, "instance"))

        @precondition(lambda self: self.quiet() and self.moving(
            lambda m: m.status == "finished"))
        @rule(data=st.data(), revert=st.booleans())
        def finish(self, data, revert):
            names = self.moving(lambda m: m.status == "finished")
            name = self.pick(data, names, "instance")
            self.do("revert" if revert else "confirm", name=name)

        @precondition(lambda self: self.quiet() and self.moving(
            lambda m: m.kind == "live-migration"))
        @rule(data=st.data(), status=st.sampled_from(("failed", "error")))
        def live_rollback(self, data, status):
            names = self.moving(lambda m: m.kind == "live-migration")
            name = self.pick(data, names, "instance")
            if self.do("live_rollback", name=name,
                       status=status).type == "ok" and status == "error":
                self.state[name] = "error"

        # -- delete at any point ------------------------------------------
        @precondition(lambda self: self.quiet())
        @rule(name=consumes(instances))
        def delete(self, name):
            rec = self.ledger.instances[name]
            move = self.ledger.moves.get(name)
            if name in self.aborted:
                return      # (its compute is still cleaning it up)
            if rec.deleted or (rec.host is not None
                               and rec.host in self.ledger.down):
                return
            if move is not None and (
                    not allowed("delete_mid_move")
                    or move.source in self.ledger.down
                    or move.dest in self.ledger.down):
                return
            if self.do("delete", name=name).type == "ok":
                self.state.pop(name, None)

        # -- shelve ---------------------------------------------------------
        @precondition(lambda self: self.quiet() and allowed("shelve")
                      and self.settled())
        @rule(data=st.data())
        def shelve(self, data):
            name = self.pick(data, self.settled(), "instance")
            done = self.do("shelve", name=name)
            if done.type == "ok":
                # (Nova offloads a volume-backed server at once)
                self.state[name] = ("offloaded"
                                    if done.value == "shelved_offloaded"
                                    else "shelved")

        @precondition(lambda self: self.quiet() and allowed("shelve")
                      and self.settled("shelved"))
        @rule(data=st.data())
        def shelve_offload(self, data):
            name = self.pick(data, self.settled("shelved"), "instance")
            if self.do("shelve_offload", name=name).type == "ok":
                self.state[name] = "offloaded"

        def offloaded(self):
            return sorted(n for n in self.live()
                          if self.state.get(n) == "offloaded")

        @precondition(lambda self: self.quiet() and allowed("shelve")
                      and self.offloaded())
        @rule(data=st.data(), host=st.sampled_from(HOSTS),
              until=st.sampled_from(("spawning", "active")),
              fail=st.booleans())
        def unshelve(self, data, host, until, fail):
            if host not in self.targets():
                return
            name = self.pick(data, self.offloaded(), "instance")
            done = self.do("unshelve", name=name, host=host, until=until,
                           fail=fail)
            if not fail and done.type == "ok":
                self.state[name] = ("spawning" if until == "spawning"
                                    else "active")

        @precondition(lambda self: self.quiet()
                      and self.settled("spawning"))
        @rule(data=st.data())
        def finish_unshelve(self, data):
            name = self.pick(data, self.settled("spawning"), "instance")
            if self.do("finish_unshelve", name=name).type == "ok":
                self.state[name] = "active"

        # -- services and nodes ---------------------------------------------
        def busy(self, host):
            """A host some move or spawn involves."""
            return any(host in (m.source, m.dest)
                       for m in self.ledger.moves.values()) or any(
                self.host_of(n) == host and self.state.get(n) == "spawning"
                for n in self.live())

        def host_events(self):
            """(event, host) pairs :meth:`infrastructure` may draw now."""
            if not self.quiet():
                return []
            out = []
            if allowed("evacuate") and not self.ledger.down:
                out += [("service_down", h) for h in HOSTS
                        if not self.busy(h)]
            # (a compute may restart in the middle of a move or a spawn: the
            # call it was making dies with it, and Nova's start-up handles
            # what it finds)
            out += [("restart", h) for h in HOSTS
                    if h in self.ledger.down or allowed("restart")]
            if allowed("node"):
                out += [(e, h) for h in HOSTS if h not in self.ledger.down
                        for e in ("node_unavailable", "node_available")]
            return out

        @precondition(lambda self: self.host_events())
        @rule(data=st.data())
        def infrastructure(self, data):
            """What happens to a host: its service goes down, its compute
            restarts, its driver stops or starts reporting its node.  One
            rule for all of them (drawing the event), so that they do not
            crowd out the instances' own rules: as three always-enabled
            rules they were a quarter of all operations."""
            event, host = data.draw(st.sampled_from(self.host_events()),
                                    label="event")
            self.do(event, host=host)
            if event == "node_unavailable":
                self.unavailable.add(host)
            elif event == "node_available":
                self.unavailable.discard(host)

        def stranded(self):
            return sorted(n for n in self.live()
                          if self.host_of(n) in self.ledger.down
                          and n not in self.ledger.moves
                          and self.state.get(n) in ("active", "shelved"))

        @precondition(lambda self: self.quiet() and allowed("evacuate")
                      and self.stranded())
        @rule(data=st.data(), fail=st.booleans())
        def evacuate(self, data, fail):
            if not self.targets():
                return
            name = self.pick(data, self.stranded(), "instance")
            dest = self.pick(data, self.targets(), "dest")
            done = self.do("evacuate", name=name, dest=dest, fail=fail)
            if done.type == "ok":
                # a failed rebuild leaves it in error; an evacuated server
                # is stopped on its destination (microversion 2.95)
                self.state[name] = "error" if fail else "stopped"

        # -- the periodic audit ----------------------------------------------
        @rule(host=st.sampled_from((None,) + HOSTS))
        def audit(self, host):
            if host is not None and host in self.ledger.down:
                return
            if host is None and self.ledger.down:
                for h in self.up():
                    self.do("audit", host=h)
                return
            self.do("audit", host=host)

        # -- the nemesis ------------------------------------------------------
        @precondition(lambda self: self.quiet() and allowed("faults"))
        @rule(kind=st.sampled_from(FAULT_KINDS),
              host=st.sampled_from(HOSTS))
        def start_fault(self, kind, host):
            if host in self.ledger.down:
                return
            args = {"kind": kind}
            if kind == "driver_raises":
                args["host"] = host
            self.do("start", process="nemesis", **args)

        @precondition(lambda self: not self.quiet())
        @rule()
        def stop_fault(self):
            self.do("stop", process="nemesis")
            for h in self.up():
                self.do("audit", host=h)

    return Lifecycle
