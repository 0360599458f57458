"""The defects ``python -m harness mutate`` plants, one at a time.

Each is designed by us: a small, plausible slip in the accounting paths the
harness exists to guard.  A defect is found by function name, operator and a
``match`` on the code it changes (see :mod:`harness.mutate.operators`);
:func:`materialise` resolves every defect against the installed source and
lists those whose site this release lacks.

``path`` groups the defects by the accounting path they damage:

    claim              instance_claim and what it calls
    move_claim         _move_claim, the migration usage it records
    drop               drop_move_claim*, _drop_move_claim
    abort              abort_instance_claim
    audit_instances    the audit's instance loop
    audit_migrations   the audit's migration loop
    placement          placement healing: _update_to_placement, _update,
                       _remove_deleted_instances_allocations
    conductor          the conductor's allocation swap and its rollback
    compute_manager    what the compute manager does around the tracker:
                       allocation clean-up, calls into the tracker, error
                       handlers (only a world of Nova's services runs them)
    equivalent         a change expected to alter no accounting (calibration)

``expect`` is our own prediction, written before any run: "accounting" (it
changes usage, allocations or records), "between_audits" (wrong only until
the next periodic audit repairs it), or "equivalent" (changes nothing the
harness can observe, with the reason).  The report compares it with what
the catchers found; it never decides anything.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os

from harness.mutate import operators as ops

RT = "nova.compute.resource_tracker"
MIGRATE = "nova.conductor.tasks.migrate"
MANAGER = "nova.compute.manager"
TARGETS = {RT: "nova/compute/resource_tracker.py",
           MIGRATE: "nova/conductor/tasks/migrate.py",
           MANAGER: "nova/compute/manager.py"}
PATHS = ("claim", "move_claim", "drop", "abort", "audit_instances",
         "audit_migrations", "placement", "conductor", "compute_manager",
         "equivalent")


@dataclasses.dataclass(frozen=True)
class Defect:
    id: str
    path: str
    module: str
    function: str
    operator: str
    match: str | None
    what: str
    expect: str = "accounting"
    nth: int = 0
    note: str = ""

    @property
    def qualname(self) -> str:
        return "%s.%s" % (self.module, self.function)


RTC = "ResourceTracker."


def _d(id, path, function, operator, match, what, expect="accounting",
       nth=0, note="", module=RT):
    fn = function if module != RT else RTC + function
    return Defect(id, path, module, fn, operator, match, what, expect, nth,
                  note)


DEFECTS: tuple[Defect, ...] = (
    # -- claim ---------------------------------------------------------------
    _d("C01", "claim", "instance_claim", "drop_statement",
       r"self\._update_usage_from_instance\(",
       "the claim records no usage for the new instance",
       "between_audits"),
    _d("C02", "claim", "instance_claim", "drop_statement",
       r"self\._update\(elevated, cn\)",
       "the claim's usage is not saved to the compute node row or placement",
       "between_audits"),
    _d("C03", "claim", "instance_claim", "drop_statement",
       r"self\._set_instance_host_and_node\(",
       "the claimed instance is not tagged with this host and node"),
    _d("C04", "claim", "instance_claim", "negate_condition",
       r"self\.disabled\(nodename\)",
       "claims on a managed node are refused (and unmanaged ones accepted)"),
    _d("C05", "claim", "_set_instance_host_and_node", "drop_statement",
       r"instance\.node = ",
       "the claimed instance gets the host but not the node"),
    _d("C06", "claim", "_update_usage_from_instance", "wrong_sign",
       r"sign = 1", "a new instance's usage is subtracted"),
    _d("C07", "claim", "_update_usage_from_instance", "flip_compare",
       r"is_new_instance = ", "new and known instances are confused"),
    _d("C08", "claim", "_update_usage_from_instance", "drop_statement",
       r"self\.tracked_instances\.add\(",
       "a new instance is counted but not remembered as tracked"),
    _d("C09", "claim", "_update_usage", "wrong_sign",
       r"memory_mb_used \+= ", "memory usage moves the wrong way"),
    _d("C10", "claim", "_update_usage", "drop_statement",
       r"ephemeral_gb", "ephemeral disk is not counted"),
    _d("C11", "claim", "_update_usage", "off_by_one",
       r"cn\.vcpus_used \+= ", "each usage change is off by one vCPU"),
    _d("C12", "claim", "_update_usage", "drop_statement",
       r"cn\.running_vms = ", "running_vms is not updated"),
    # -- move claim ----------------------------------------------------------
    _d("M01", "move_claim", "_move_claim", "drop_statement",
       r"self\._update_usage_from_migration\(",
       "a move claim records no usage on the destination",
       "between_audits"),
    _d("M02", "move_claim", "_move_claim", "drop_statement",
       r"^\s*instance\.save\(\)",
       "the migration context of a move claim is not saved"),
    _d("M03", "move_claim", "_claim_existing_migration", "drop_statement",
       r"migration\.dest_node = ",
       "an existing migration is not pointed at the destination node"),
    _d("M04", "move_claim", "_update_usage_from_migration", "flip_compare",
       r"incoming = ", "incoming migrations are not recognised as such"),
    _d("M05", "move_claim", "_update_usage_from_migration", "wrong_flavor",
       r"_get_flavor\(instance, 'new_'", "an incoming migration is counted "
       "with the old flavor", nth=1,
       note="nth=1: the incoming branch, after the same-node one"),
    _d("M06", "move_claim", "_update_usage_from_migration", "wrong_flavor",
       r"_get_flavor\(instance, 'old_'", "an outbound migration holds the "
       "new flavor for a revert", nth=1,
       note="nth=1: the outbound branch, after the same-node one"),
    _d("M07", "move_claim", "_update_usage_from_migration", "remove_elif",
       r"outbound and not tracked",
       "nothing is held on the source for a possible revert"),
    _d("M08", "move_claim", "_update_usage_from_migration",
       "negate_condition", r"instance_type_id",
       "a same-node resize holds the wrong flavor"),
    _d("M09", "move_claim", "_update_usage_from_migration", "drop_statement",
       r"self\.tracked_migrations\[uuid\] = ",
       "a counted migration is not remembered as tracked"),
    _d("M10", "move_claim", "_update_usage_from_migration", "wrong_sign",
       r"self\._update_usage\(usage, nodename\)",
       "migration usage is subtracted instead of added"),
    _d("M11", "move_claim", "_update_usage_from_migration", "and_or",
       r"same_node = ", "every incoming or outbound move counts as a "
       "same-node resize"),
    # -- drop ----------------------------------------------------------------
    _d("D01", "drop", "drop_move_claim_at_source", "wrong_flavor",
       r"instance\.old_flavor", "confirming frees the new flavor's size on "
       "the source"),
    _d("D02", "drop", "drop_move_claim_at_source", "wrong_flavor",
       r"prefix='old_'", "confirming frees the new side's NUMA/PCI/resources "
       "on the source", expect="equivalent",
       note="equivalent candidate: with a flavor given, the prefix only "
            "selects NUMA topology, PCI devices and assigned resources, "
            "which the harness's worlds do not use"),
    _d("D03", "drop", "drop_move_claim_at_dest", "wrong_node",
       r"migration\.dest_node", "reverting frees usage on the source node "
       "instead of the destination"),
    _d("D04", "drop", "_drop_move_claim", "wrong_sign", r"sign=-1",
       "dropping a move claim adds its usage again"),
    _d("D05", "drop", "_drop_move_claim", "drop_statement",
       r"self\.tracked_migrations\.pop\(",
       "a dropped migration stays tracked"),
    _d("D06", "drop", "_drop_move_claim", "drop_statement",
       r"self\.tracked_instances\.discard\(",
       "a dropped instance stays tracked on the source"),
    _d("D07", "drop", "_drop_move_claim", "drop_statement",
       r"self\._update\(ctxt, ",
       "the freed usage is not saved to the row or placement",
       "between_audits"),
    _d("D08", "drop", "drop_move_claim_at_source", "drop_statement",
       r"migration\.status = 'confirmed'",
       "a confirmed migration keeps its old status"),
    _d("D09", "drop", "drop_move_claim_at_dest", "drop_statement",
       r"migration\.status = 'reverted'",
       "a reverted migration keeps its old status"),
    # -- abort ---------------------------------------------------------------
    _d("A01", "abort", "abort_instance_claim", "bool_flip",
       r"is_removed=True", "an aborted claim's usage is not removed"),
    _d("A02", "abort", "abort_instance_claim", "drop_statement",
       r"self\._unset_instance_host_and_node\(",
       "an aborted instance stays on the host and node"),
    _d("A03", "abort", "abort_instance_claim", "drop_statement",
       r"self\._update\(", "the aborted claim is not saved to the row or "
       "placement", "between_audits"),
    # -- audit: instances ----------------------------------------------------
    _d("I01", "audit_instances", "_update_usage_from_instances",
       "negate_condition", r"allow_resource_removal",
       "the audit counts exactly the instances it should skip"),
    _d("I02", "audit_instances", "_update_usage_from_instances",
       "drop_statement", r"self\.tracked_instances\.clear\(",
       "the audit keeps the previous audit's tracked instances"),
    _d("I03", "audit_instances", "_update_usage_from_instances",
       "off_by_one", r"cn\.memory_mb_used = CONF",
       "the audit reserves one MB too many for the host"),
    _d("I04", "audit_instances", "_update_available_resource",
       "drop_statement", r"instance\.apply_migration_context\(",
       "an incoming in-progress migration's context is not applied"),
    # -- audit: migrations ---------------------------------------------------
    _d("G01", "audit_migrations", "_update_usage_from_migrations",
       "flip_compare", r"migration_time > other_time",
       "the oldest migration of an instance wins, not the newest"),
    _d("G02", "audit_migrations", "_update_usage_from_migrations",
       "flip_compare", r"migration_id != migration\.id",
       "the current migration is marked error, a stale one counted"),
    _d("G03", "audit_migrations", "_update_usage_from_migrations",
       "drop_statement", r"self\.tracked_migrations\.clear\(",
       "the audit keeps the previous audit's tracked migrations"),
    _d("G04", "audit_migrations", "_update_usage_from_migrations", "and_or",
       r"_instance_in_resize_state",
       "migrations of instances that are not moving are counted"),
    _d("G05", "audit_migrations", "_update_available_resource",
       "drop_statement", r"self\._update_usage_from_migrations\(",
       "the audit counts no migration at all"),
    # -- placement healing ---------------------------------------------------
    _d("P01", "placement", "_update_to_placement", "drop_statement",
       r"self\.reportclient\.update_from_provider_tree\(",
       "inventory and traits are never sent to placement"),
    _d("P02", "placement", "_update_to_placement", "and_or",
       r"driver_reshaped or pci_reshaped",
       "reshaped allocations are sent only when both reshapes happen",
       expect="equivalent",
       note="equivalent candidate: the fake driver never asks for a "
            "reshape and no world has PCI in placement"),
    _d("P03", "placement", "_update", "negate_condition",
       r"self\._resource_change\(",
       "the compute node row is saved only when nothing changed"),
    _d("P04", "placement", "_update", "drop_statement",
       r"self\._update_to_placement\(",
       "nothing is reported to placement"),
    _d("P05", "placement", "_remove_deleted_instances_allocations",
       "negate_condition", r"instance\.deleted and not instance\.hidden",
       "allocations of live instances are deleted, deleted ones kept"),
    _d("P06", "placement", "_update_available_resource", "negate_condition",
       r"not is_new_compute_node",
       "allocation healing runs only for new compute nodes"),
    # -- the conductor's allocation swap -------------------------------------
    _d("S01", "conductor", "replace_allocation_with_migration", "swap_args",
       r"move_allocations\(", "the swap moves the allocation the wrong way",
       module=MIGRATE),
    _d("S02", "conductor", "replace_allocation_with_migration",
       "negate_condition", r"not root_alloc",
       "a source allocation is ignored, a missing one moved",
       module=MIGRATE),
    _d("S03", "conductor", "replace_allocation_with_migration",
       "negate_condition", r"not success",
       "a successful swap is reported as failed (and a failed one as done)",
       module=MIGRATE),
    _d("S04", "conductor", "replace_allocation_with_migration", "skip_call",
       r"move_allocations\(", "the swap is skipped but reported as done",
       module=MIGRATE),
    _d("S05", "conductor", "revert_allocation_for_migration", "swap_args",
       r"move_allocations\(", "the revert moves the allocation the wrong "
       "way", module=MIGRATE),
    _d("S06", "conductor", "revert_allocation_for_migration", "skip_call",
       r"move_allocations\(", "the revert is skipped but reported as done",
       module=MIGRATE),
    _d("S07", "conductor", "MigrationTask.rollback", "skip_call",
       r"revert_allocation_for_migration\(",
       "a failed migration's rollback leaves the source allocation on the "
       "migration", module=MIGRATE),
    # -- the compute manager around the tracker ------------------------------
    _d("K01", "compute_manager", "ComputeManager._complete_deletion",
       "drop_statement", r"self\.reportclient\.delete_allocation_for_",
       "a deleted server's allocation is not deleted (the source's audit "
       "removes it)", "between_audits", module=MANAGER),
    _d("K02", "compute_manager", "ComputeManager._do_build_and_run_instance",
       "drop_statement", r"self\.reportclient\.delete_allocation_for_",
       "a rescheduled build keeps its allocation on the host that failed "
       "it", module=MANAGER),
    _d("K03", "compute_manager", "ComputeManager.build_and_run_instance",
       "drop_statement", r"self\.reportclient\.delete_allocation_for_",
       "a failed build keeps its allocation", module=MANAGER),
    _d("K04", "compute_manager", "ComputeManager._confirm_resize",
       "drop_statement", r"self\.rt\.drop_move_claim_at_source\(",
       "a confirmed resize leaves its revert room in the source's tracker",
       "between_audits", module=MANAGER),
    _d("K05", "compute_manager",
       "ComputeManager._delete_allocation_after_move", "drop_statement",
       r"self\.reportclient\.delete_allocation_for_instance\(",
       "a confirmed move leaves the migration's allocation on the source",
       module=MANAGER),
    _d("K06", "compute_manager", "ComputeManager.revert_resize",
       "drop_statement", r"self\.rt\.drop_move_claim_at_dest\(",
       "a reverted resize leaves its claim in the destination's tracker",
       "between_audits", module=MANAGER),
    _d("K07", "compute_manager", "ComputeManager.resize_instance",
       "drop_statement", r"self\._revert_allocation\(",
       "a resize that fails on its source leaves the allocation on the "
       "migration", module=MANAGER),
    _d("K08", "compute_manager", "ComputeManager._shelve_offload_instance",
       "drop_statement",
       r"delete_allocation_for_shelve_offloaded_instance\(",
       "an offloaded server keeps its allocation", module=MANAGER),
    _d("K09", "compute_manager", "ComputeManager._post_live_migration",
       "drop_statement", r"self\.update_available_resource\(ctxt\)",
       "a completed live migration no longer audits its source (the source "
       "tracks the server until its own audit: F-14's trigger)",
       "between_audits", module=MANAGER),
    _d("K10", "compute_manager", "ComputeManager._post_live_migration",
       "drop_statement", r"self\._delete_allocation_after_move\(",
       "a completed live migration leaves the migration's allocation on "
       "the source", module=MANAGER),
    _d("K11", "compute_manager", "ComputeManager._rollback_live_migration",
       "drop_statement", r"self\._revert_allocation\(",
       "a rolled-back live migration leaves its allocations as they were "
       "while it ran", module=MANAGER),
    _d("K12", "compute_manager", "ComputeManager._update_resource_tracker",
       "drop_statement", r"self\.rt\.update_usage\(",
       "operations that change a server's usage do not tell the tracker",
       "between_audits", module=MANAGER),
    # -- calibration: expected to change no accounting ------------------------
    _d("E01", "equivalent", "_update_usage_from_migration", "log_message",
       r"Updating resource usage from migration",
       "a log message's text changes", expect="equivalent",
       note="equivalent by design: only the text of an INFO line changes"),
    _d("E02", "equivalent", "_update_usage", "off_by_one",
       r"usage\.get\('vcpus', 0\)",
       "the default for a missing vCPU count becomes 1", expect="equivalent",
       nth=1,
       note="equivalent candidate: every usage dict Nova builds has 'vcpus' "
            "(nth=1: the constant, not the whole call)"),
)


@dataclasses.dataclass
class Mutant:
    """One defect applied: the files to serve and the diff."""
    id: str
    defect: Defect | None
    files: dict            # module -> mutated source
    diff: str
    change: str            # one line: what changed, at which line
    functions: list        # qualified names of the changed functions


def installed_sources(paths: dict[str, str] | None = None) -> dict:
    """module -> (installed path, source) for the two target modules,
    found without importing them."""
    import importlib.util
    out = {}
    for module in TARGETS:
        path = (paths or {}).get(module)
        if path is None:
            # find the package without importing it (importing nova.compute
            # would import the very modules a mutant replaces)
            spec = importlib.util.find_spec("nova")
            if spec is None or not spec.submodule_search_locations:
                raise FileNotFoundError("nova is not installed")
            path = os.path.join(os.path.dirname(list(
                spec.submodule_search_locations)[0]), TARGETS[module])
            if not os.path.isfile(path):
                raise FileNotFoundError("%s is not in the installed Nova"
                                        % TARGETS[module])
        with open(path, encoding="utf-8") as f:
            out[module] = (path, f.read())
    return out


def fingerprint(sources: dict) -> str:
    h = hashlib.sha256()
    for module in sorted(sources):
        h.update(module.encode())
        h.update(sources[module][1].encode())
    return h.hexdigest()[:16]


def materialise(sources: dict, defects=DEFECTS):
    """(mutants, missing): every defect applied to the installed source,
    and ``[(defect, reason)]`` for sites this release lacks."""
    mutants, missing = [], []
    for d in defects:
        path, text = sources[d.module]
        try:
            new, change = ops.apply(text, d.function, d.operator, d.match,
                                    d.nth)
        except ops.SiteMissing as exc:
            missing.append((d, str(exc)))
            continue
        mutants.append(Mutant(
            d.id, d, {d.module: new},
            ops.unified_diff(text, new, TARGETS[d.module]),
            "%s line %d: %s -> %s" % (os.path.basename(TARGETS[d.module]),
                                      change.line, _short(change.before),
                                      _short(change.after)),
            [d.qualname]))
    return mutants, missing


def _short(text, n=70):
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 3] + "..."
