"""The oracle: what the harness created, and the usage that implies.

The ledger is written only by the world's verbs (never by a fault) and never
calls the code being judged.  Its arithmetic follows Nova's documented
semantics:

* a node's tracked usage is the reserved host resources plus, for every
  instance on it, its flavor; swap counts as ``swap / 1024`` GiB of disk
  (``nova/compute/resource_tracker.py`` docs and the admin guide on
  ``reserved_host_*``);
* a cold move (resize or migration) in progress holds the *new* flavor on the
  destination until the instance arrives there (status ``finished``), then
  holds the *old* flavor on the source until confirm or revert, so a revert
  always has room; a same-node resize holds both flavors on the node; a live
  migration holds the flavor on the destination while it runs;
* in placement, an instance consumer holds its flavor as VCPU, MEMORY_MB and
  DISK_GB (root + ephemeral + swap rounded up to whole GiB, zero amounts
  omitted) on the provider of its node; during a move the *migration*
  consumer holds the source allocation and the instance consumer the
  destination allocation (the "migration-based allocations" spec, Queens);
  confirm removes the migration consumer, revert moves it back;
* inventory: total from the driver, ``reserved`` from ``reserved_host_*``
  (disk rounded up to GiB), allocation ratios from configuration.

The lifecycle operations (``harness.world.lifecycle``) add, each from Nova's
documented behaviour:

* a volume-backed instance (booted from a volume, no local root disk) counts
  no ``root_gb``, neither in the tracker nor in placement (``is_bfv`` request
  spec, Rocky);
* a build that fails after its claim, or a shelve-offload, leaves the
  instance with no host: it holds nothing anywhere; an unshelve claims it
  again on the chosen host, and it counts there from the claim on, also
  while it spawns (``vm_states.allow_resource_removal``);
* an evacuation holds the flavor on both nodes under the *instance* consumer
  (no migration consumer): the destination from the scheduler's claim on,
  the source until the source compute restarts and removes its part
  (``_destroy_evacuated_instances``); the source's tracker and row are not
  judged while its service is down (no process holds them).  A move of the
  instance before that restart hands the whole allocation, the leftover
  included, to its migration consumer (``replace_allocation_with_migration``):
  confirming or completing the move deletes it, a rollback gives it back;
* a live migration rolled back frees the destination in placement at once,
  but its tracker keeps the move claim until its next audit (the
  ``drop_move_claim_at_destination`` RPC is sent only for NUMA-aware live
  migrations): the ledger records that as a *gap* that lasts until that
  node's next audit (:meth:`Ledger.gaps`), a finding candidate the
  invariants report rather than silently accept;
* a live migration that is not NUMA-aware makes no move claim on its
  destination (``check_can_live_migrate_destination`` claims only for
  NUMA-aware ones): the destination's tracker counts it from its next
  audit on (a gap until then, also after the instance arrived: Nova's
  ``post_live_migration_at_destination`` does not count it); a completed
  live migration runs the source's whole audit at once
  (``_post_live_migration`` calls ``update_available_resource``); rolled
  back after an audit counted it, the destination keeps that count until
  its next audit;
* a tracker whose driver does not report its node is ``disabled`` there:
  ``update_usage`` (delete, offload) changes nothing, so the instance's
  usage stays until an audit reaches the node again.
"""
from __future__ import annotations

import dataclasses
import math


IN_PROGRESS_COLD = ("pre-migrating", "migrating", "post-migrating",
                    "finished")
IN_PROGRESS_LIVE = ("accepted", "preparing", "running", "queued")
# the gap a live migration's destination has until its audit
_LIVE_UNCLAIMED = ("incoming live migration of %s: no move claim (made only "
                   "for NUMA-aware live migrations), the destination counts "
                   "it from its next audit")
ENDED = ("confirmed", "reverted", "completed", "error", "failed",
         "cancelled", "done")


@dataclasses.dataclass(frozen=True)
class FlavorSpec:
    name: str
    vcpus: int
    memory_mb: int
    root_gb: int
    ephemeral_gb: int
    swap: int  # MiB

    @property
    def disk_gb(self) -> float:
        """Disk the tracker should count: root + ephemeral + swap in GiB."""
        return self.root_gb + self.ephemeral_gb + self.swap / 1024

    def placement_resources(self) -> dict[str, int]:
        """Placement amounts for this flavor, zero amounts omitted."""
        res = {"VCPU": self.vcpus, "MEMORY_MB": self.memory_mb,
               "DISK_GB": (self.root_gb + self.ephemeral_gb
                           + math.ceil(self.swap / 1024))}
        return {rc: amount for rc, amount in res.items() if amount}


@dataclasses.dataclass
class NodeSpec:
    name: str
    vcpus: int
    memory_mb: int
    local_gb: int
    ratios: dict


@dataclasses.dataclass
class InstanceRecord:
    name: str
    uuid: str
    flavor: str
    host: str | None        # None: the instance holds no node (failed
    deleted: bool = False   # build, shelved-offloaded)
    volume_backed: bool = False


@dataclasses.dataclass
class MoveRecord:
    instance: str
    kind: str               # resize | migration | live-migration
    source: str
    dest: str
    old_flavor: str
    new_flavor: str
    status: str
    migration_uuid: str | None = None
    # Does the destination's tracker count the move?  A cold move's claim
    # makes it count at once; a live migration makes no claim there (the
    # claim is made only for NUMA-aware live migrations), so the
    # destination counts it from its next audit on.
    dest_counts: bool = True

    @property
    def in_progress(self) -> bool:
        return self.status not in ENDED

    @property
    def arrived(self) -> bool:
        """Has the instance moved to the destination (cold move finished)?"""
        return self.status == "finished"


@dataclasses.dataclass(frozen=True)
class Usage:
    """Tracked usage of one node, as the compute_nodes row should show."""
    vcpus_used: float
    memory_mb_used: float
    local_gb_used: float
    running_vms: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class Ledger:
    """What the harness created and what usage that implies."""

    def __init__(self, reserved):
        self.reserved = reserved
        self.nodes: dict[str, NodeSpec] = {}
        self.flavors: dict[str, FlavorSpec] = {}
        self.instances: dict[str, InstanceRecord] = {}
        self.moves: dict[str, MoveRecord] = {}
        self.history: list[MoveRecord] = []
        # Consumers that exist in placement for reasons the scenario states
        # explicitly (e.g. an allocation made outside Nova), by uuid.
        self.extra_consumers: dict[str, dict] = {}
        # Evacuated instances whose source node still holds their flavor in
        # placement (instance consumer) until the source compute restarts:
        # instance name -> source node.
        self.evacuated_from: dict[str, str] = {}
        # Compute services that are down (their tracker and compute_nodes
        # row are not judged: no process holds them).
        self.down: set[str] = set()
        # node -> [(reason, flavor)] a tracker keeps until its next audit
        # by Nova's design (see the module docstring).
        self.pending_audit: dict[str, list] = {}
        # instance -> node whose tracker counts it through the migration
        # that brought it there (``tracked_migrations``), not yet as an
        # instance: until that node's next audit, a delete or offload
        # (``update_usage``, which only acts on tracked instances) leaves
        # the usage there.
        self.arrived_by_move: dict[str, str] = {}
        # nodes their driver does not report (a node-availability
        # operation, not a fault): their tracker is "disabled"
        self.unreported: set[str] = set()
        # hosts restarted while their driver did not report the node: the
        # new tracker knows nothing of it until an audit reaches it
        self.restarted_unaudited: set[str] = set()
        # Live migrations the hypervisor failed (``_do_live_migration``
        # puts the migration and the server in ERROR: "too late to
        # rollback"): the allocations stay as they were while it ran, the
        # instance consumer on the destination and the migration consumer
        # on the source, while the server stays on its source; instance
        # name -> the move.
        self.stuck: dict[str, MoveRecord] = {}
        # What a forgery fault (data-authority class b) taught the ledger:
        # (instance, "cur"|"old"|"new") -> the flavor the rewritten record
        # now embeds.  Tracked usage follows it; placement allocations,
        # which the tracker never rewrites from a flavor, do not.
        self.learned: dict[tuple[str, str], FlavorSpec] = {}

    # -- recording -------------------------------------------------------
    def add_node(self, name, vcpus, memory_mb, local_gb, ratios):
        self.nodes[name] = NodeSpec(name, vcpus, memory_mb, local_gb,
                                    dict(ratios))

    def set_inventory(self, name, vcpus, memory_mb, local_gb):
        node = self.nodes[name]
        node.vcpus, node.memory_mb, node.local_gb = vcpus, memory_mb, local_gb

    def add_flavor(self, spec: FlavorSpec):
        self.flavors[spec.name] = spec

    def flavor_created(self, name, vcpus, memory_mb, root_gb,
                       ephemeral_gb=0, swap=0):
        """An operator created a flavor."""
        self.add_flavor(FlavorSpec(name=name, vcpus=vcpus,
                                   memory_mb=memory_mb, root_gb=root_gb,
                                   ephemeral_gb=ephemeral_gb, swap=swap))

    def boot(self, name, uuid, flavor, host, volume_backed=False):
        self.instances[name] = InstanceRecord(name, uuid, flavor, host,
                                              volume_backed=volume_backed)

    def unplace(self, name):
        """The instance holds no node any more (failed build with its claim
        aborted, shelve-offload)."""
        self._leave_untracked(name, "offloaded")
        self.instances[name].host = None
        self.evacuated_from.pop(name, None)

    def place(self, name, host):
        """The instance was claimed on ``host`` (unshelve, reschedule)."""
        self.instances[name].host = host

    def evacuated(self, name, source, dest):
        """The instance was rebuilt on ``dest``; ``source`` keeps its
        placement allocation until that compute restarts."""
        self.instances[name].host = dest
        self.evacuated_from[name] = source

    def service_down(self, host):
        self.down.add(host)

    def service_restarted(self, host, audited=True):
        """The compute on ``host`` restarted: it removed its part of the
        allocation of every instance evacuated from it, and its start-up
        audit (``audited``: it reached the node) rebuilt its tracker."""
        self.down.discard(host)
        for name, source in list(self.evacuated_from.items()):
            if source == host:
                del self.evacuated_from[name]
        for move in self.history:
            if (move.kind == "evacuation" and move.source == host
                    and move.status == "done"):
                move.status = "completed"
        if audited:
            self.audited(host)
        else:
            self.restarted_unaudited.add(host)
            self.pending_audit.pop(host, None)

    def hold_until_audit(self, node, reason, flavor, instance=None,
                         sign=1):
        """``node``'s tracker keeps ``flavor`` (of ``instance``) until its
        next audit, by Nova's design (``sign=-1``: it lacks it)."""
        self.pending_audit.setdefault(node, []).append(
            (reason, flavor, instance, sign))

    def audited(self, node):
        """An audit of ``node`` completed: what it only reconciles then is
        reconciled."""
        self.pending_audit.pop(node, None)
        self.restarted_unaudited.discard(node)
        for move in self.moves.values():
            if move.dest == node:
                move.dest_counts = True
        for name, where in list(self.arrived_by_move.items()):
            if where == node:
                del self.arrived_by_move[name]

    def node_reported(self, node, reported=True):
        """``node``'s driver reports it again (or stops reporting it)."""
        (self.unreported.discard if reported else self.unreported.add)(node)

    def _left(self, node, name):
        """``name`` left ``node``: what the node's tracker lacked of it
        until its audit (a live migration's arrival it did not count) is
        no longer expected to be missing; documented semantics hold
        nothing of it there any more."""
        kept = [t for t in self.pending_audit.get(node, [])
                if not (t[2] == name and t[3] < 0)]
        if node in self.pending_audit:
            self.pending_audit[node] = kept

    def _leave_untracked(self, name, why):
        """``name`` leaves its node by ``update_usage``; if that node counts
        it only through its move, the usage stays until the audit; if its
        driver does not report the node, ``update_usage`` does nothing
        there (``disabled``) and the usage stays until an audit reaches
        the node."""
        rec = self.instances[name]
        if rec.host is not None:
            self._left(rec.host, name)
        if rec.host in self.unreported:
            self.arrived_by_move.pop(name, None)
            self.hold_until_audit(
                rec.host, "%s %s while the driver did not report its "
                "node (update_usage skips such a node)" % (why, name),
                rec.flavor, name)
            return
        if rec.host is not None and self.arrived_by_move.pop(
                name, None) == rec.host:
            self.hold_until_audit(rec.host, "%s %s, counted through the "
                                  "move that brought it" % (why, name),
                                  rec.flavor, name)

    def gaps(self, node) -> list[tuple[str, "FlavorSpec"]]:
        """What the node's tracker holds beyond (or short of)
        :meth:`holdings` by design until its next audit."""
        return [(reason, flavor) for reason, flavor, _ in self._gap_terms(
            node) if reason]

    def _gap_terms(self, node) -> list[tuple[str, "FlavorSpec", int]]:
        """(reason, flavor, sign): what the tracker counts until its next
        audit beyond (+1) or short of (-1) the settled holdings."""
        terms = [(reason, self.spec(inst, f) if inst else self.flavors[f],
                  sign) for reason, f, inst, sign
                 in self.pending_audit.get(node, [])]
        for move in self.moves.values():
            if (move.dest == node and not move.dest_counts
                    and move.kind == "live-migration"):
                terms.append((_LIVE_UNCLAIMED % move.instance,
                              self.spec(move.instance, move.new_flavor), -1))
        return terms

    def spec(self, name, flavor) -> FlavorSpec:
        """What ``flavor`` costs for instance ``name`` (no root disk for a
        volume-backed instance)."""
        spec = self.flavors[flavor]
        rec = self.instances.get(name)
        if rec is not None and rec.volume_backed:
            return dataclasses.replace(spec, root_gb=0)
        return spec

    def delete(self, name):
        """The instance is deleted by its host's compute service, whose
        tracker forgets it at once.  The destination of a move that has not
        arrived there is not told: its tracker keeps the move claim until
        its next audit (a gap)."""
        self._leave_untracked(name, "deleted")
        rec = self.instances[name]
        move = self.moves.get(name)
        if (move is not None and move.dest != rec.host
                and not move.arrived and move.dest_counts):
            self.hold_until_audit(
                move.dest, "move claim of %s, deleted mid-%s" % (
                    name, move.kind), move.new_flavor, name)
        rec.deleted = True
        self.stuck.pop(name, None)
        self.moves.pop(name, None)
        self.evacuated_from.pop(name, None)

    def start_move(self, name, kind, source, dest, new_flavor,
                   migration_uuid, status):
        rec = self.instances[name]
        move = MoveRecord(name, kind, source, dest, rec.flavor, new_flavor,
                          status, migration_uuid,
                          dest_counts=(kind != "live-migration"
                                       or source == dest))
        self.moves[name] = move
        self.stuck.pop(name, None)
        self.history.append(move)
        return move

    def set_move_status(self, name, status):
        move = self.moves[name]
        move.status = status
        rec = self.instances[name]
        if move.source != move.dest and move.dest_counts and (
                status in ("finished", "completed", "done")):
            self.arrived_by_move[name] = move.dest
        elif status == "reverted":
            self.arrived_by_move.pop(name, None)
        if move.kind != "live-migration" and status == "finished":
            rec.host, rec.flavor = move.dest, move.new_flavor
        elif status == "completed":           # live migration done
            rec.host = move.dest
        elif status == "confirmed":
            if move.source != move.dest:
                self._left(move.source, name)
            rec.host, rec.flavor = move.dest, move.new_flavor
        elif status == "reverted":
            rec.host, rec.flavor = move.source, move.old_flavor
        if move.kind != "evacuation" and status in ("completed",
                                                     "confirmed"):
            # the migration consumer's allocation, deleted now, held any
            # evacuation leftover: the source's restart finds none
            self.evacuated_from.pop(name, None)
        if move.kind == "live-migration" and move.source != move.dest:
            if status == "completed":
                # _post_live_migration runs the source's whole audit
                # (update_available_resource) at once
                self.audited(move.source)
                if not move.dest_counts:
                    self.hold_until_audit(
                        move.dest, "instance %s arrived by live migration "
                        "(no move claim): the destination counts it from "
                        "its next audit" % name, move.new_flavor, name,
                        sign=-1)
            if status in ("failed", "error", "cancelled") and \
                    move.dest_counts:
                # the destination counted the move at an audit; it keeps it
                # until its next one (drop_move_claim_at_destination is
                # sent only for NUMA-aware live migrations)
                self.hold_until_audit(
                    move.dest, "the %s live migration of %s, counted at an "
                    "audit while it ran" % (status, name), move.new_flavor,
                    name)
        if status in ENDED:
            del self.moves[name]

    def too_late_to_roll_back(self, name):
        """The hypervisor failed the live migration of ``name`` and Nova put
        the migration and the server in ERROR ("too late to rollback",
        ``_do_live_migration``): its allocations stay as they were while it
        ran, for an operator to repair."""
        self.stuck[name] = [m for m in self.history if m.instance == name][-1]

    def learn_flavor(self, instance: str, which: str, changes: dict):
        """The instance's embedded ``which`` flavor was rewritten with
        ``changes`` (a self-consistent forgery): expect usage to follow."""
        rec = self.instances[instance]
        move = self.moves.get(instance)
        name = {"cur": rec.flavor,
                "old": move.old_flavor if move else rec.flavor,
                "new": move.new_flavor if move else rec.flavor}[which]
        known = {f.name for f in dataclasses.fields(FlavorSpec)}
        self.learned[(instance, which)] = dataclasses.replace(
            self.flavors[name], **{k: v for k, v in changes.items()
                                   if k in known and k != "name"})

    def forget_learned(self):
        """The forged record was restored: the truth holds again."""
        self.learned.clear()

    def _usage_flavor(self, instance: str, which: str, name: str):
        return self.learned.get((instance, which)) or self.spec(instance,
                                                                 name)

    # -- the oracle --------------------------------------------------------
    def record_host(self, name) -> str | None:
        """The host the instance's record names: where it is, except that
        a cold move's record names its destination once the source sent
        it on (``post-migrating``: ``_resize_instance`` moves the record
        before it casts ``finish_resize``)."""
        rec = self.instances[name]
        move = self.moves.get(name)
        if move is not None and move.kind in ("resize", "migration") and \
                move.status == "post-migrating":
            return move.dest
        return rec.host

    def live_instances(self):
        return [r for r in self.instances.values() if not r.deleted]

    def holdings(self, node: str) -> list[tuple[str, FlavorSpec]]:
        """(reason, flavor) pairs the node's tracker must count once it is
        audited."""
        return [(reason, flavor) for reason, flavor, _, _ in self._holdings(
            node)]

    def _holdings(self, node):
        """(reason, flavor, instance, kind) for :meth:`holdings`."""
        held = []
        for rec in self.live_instances():
            if rec.host == node:
                held.append(("instance %s" % rec.name,
                             self._usage_flavor(rec.name, "cur",
                                                rec.flavor),
                             rec.name, "instance"))
        for move in self.moves.values():
            old = self._usage_flavor(move.instance, "old", move.old_flavor)
            new = self._usage_flavor(move.instance, "new", move.new_flavor)
            if move.kind == "live-migration":
                if move.dest == node and move.source != node:
                    held.append(("incoming live migration of %s"
                                 % move.instance, new, move.instance,
                                 "incoming"))
                continue
            if move.source == move.dest == node:
                extra = old if move.arrived else new
                held.append(("same-node resize of %s" % move.instance,
                             extra, move.instance, "same-node"))
            elif move.dest == node and not move.arrived:
                held.append(("incoming %s of %s" % (
                    move.kind, move.instance), new, move.instance,
                    "incoming"))
            elif move.source == node and move.arrived:
                held.append(("outgoing %s of %s (revert room)"
                             % (move.kind, move.instance), old,
                             move.instance, "outgoing"))
        return held

    def expected_usage(self, node: str) -> Usage:
        held = self.holdings(node)
        r = self.reserved
        return Usage(
            vcpus_used=r.cpus + sum(f.vcpus for _, f in held),
            memory_mb_used=r.memory_mb + sum(f.memory_mb for _, f in held),
            local_gb_used=r.disk_mb / 1024 + sum(f.disk_gb for _, f in held),
            running_vms=sum(1 for rec in self.live_instances()
                            if self.record_host(rec.name) == node))

    def expected_tracker_usage(self, node: str) -> Usage:
        """:meth:`expected_usage` plus what the tracker keeps by design
        until its next audit (:meth:`gaps`)."""
        base = self.expected_usage(node)
        gap = self._gap_terms(node)
        if not gap:
            return base
        return Usage(
            vcpus_used=base.vcpus_used + sum(s * f.vcpus
                                             for _, f, s in gap),
            memory_mb_used=base.memory_mb_used + sum(s * f.memory_mb
                                                     for _, f, s in gap),
            local_gb_used=base.local_gb_used + sum(s * f.disk_gb
                                                   for _, f, s in gap),
            running_vms=base.running_vms)

    def expected_inventory(self, node: str) -> dict[str, dict]:
        spec = self.nodes[node]
        r = self.reserved
        return {
            "VCPU": {"total": spec.vcpus, "reserved": r.cpus,
                     "allocation_ratio": spec.ratios["cpu"]},
            "MEMORY_MB": {"total": spec.memory_mb, "reserved": r.memory_mb,
                          "allocation_ratio": spec.ratios["ram"]},
            "DISK_GB": {"total": spec.local_gb,
                        "reserved": math.ceil(r.disk_mb / 1024),
                        "allocation_ratio": spec.ratios["disk"]},
        }

    def expected_allocations(self) -> dict[str, dict[str, dict[str, int]]]:
        """consumer uuid -> node name -> resources."""
        allocs: dict[str, dict[str, dict[str, int]]] = {}
        for rec in self.live_instances():
            move = self.moves.get(rec.name)
            stuck = self.stuck.get(rec.name)
            if move is None and stuck is not None:
                allocs[rec.uuid] = {stuck.dest: self.spec(
                    rec.name, stuck.new_flavor).placement_resources()}
                allocs[stuck.migration_uuid] = {stuck.source: self.spec(
                    rec.name, stuck.old_flavor).placement_resources()}
                continue
            if move is None:
                if rec.host is None:
                    continue
                res = self.spec(rec.name, rec.flavor).placement_resources()
                allocs[rec.uuid] = {rec.host: res}
                source = self.evacuated_from.get(rec.name)
                if source is not None and source != rec.host:
                    allocs[rec.uuid][source] = dict(res)
                continue
            old = self.spec(rec.name, move.old_flavor).placement_resources()
            new = self.spec(rec.name, move.new_flavor).placement_resources()
            allocs[rec.uuid] = {move.dest: new}
            if move.kind == "evacuation":
                # No migration consumer: the instance holds both nodes.
                allocs[rec.uuid][move.source] = old
            elif move.migration_uuid:
                allocs[move.migration_uuid] = {move.source: old}
                # replace_allocation_with_migration moves the instance's
                # whole allocation, an evacuation's leftover included
                left = self.evacuated_from.get(rec.name)
                if left is not None and left != move.source:
                    allocs[move.migration_uuid][left] = dict(old)
        for uuid, alloc in self.extra_consumers.items():
            allocs[uuid] = alloc
        return allocs

    def expected_placement_usage(self, node: str) -> dict[str, int]:
        total: dict[str, int] = {}
        for per_node in self.expected_allocations().values():
            for rc, amount in per_node.get(node, {}).items():
                total[rc] = total.get(rc, 0) + amount
        return total

    def consumer_names(self) -> dict[str, str]:
        """uuid -> readable name, for evidence."""
        names = {rec.uuid: "instance %s" % rec.name
                 for rec in self.instances.values()}
        for move in self.history:
            if move.migration_uuid:
                names[move.migration_uuid] = "migration of %s (%s)" % (
                    move.instance, move.kind)
        return names
