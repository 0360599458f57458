"""Counterfactuals: Nova with one mechanism changed, to show cause.

A claim that blames a mechanism is CONFIRMED only when the harm goes away
in a world where that mechanism alone is different: the handler re-raises,
the missing validation is there, the guard is present.  Each
:class:`WhatIf` here is such a change, written by the harness (never taken
from a report or a Nova patch).  It is a fixture that patches the installed
Nova in this process while it is active and is used **only** in trials
labelled ``[counterfactual: ...]``, which never produce a verdict of their
own: they only say whether a harm seen in a verdict trial goes away.

Three ways to write one:

* :func:`rewritten`: the function's own source, parsed with :mod:`ast`,
  changed by a transform (:func:`reraise`, :func:`insert_before`,
  :func:`insert_after`), compiled against the module's globals;
* :func:`wrapped`: the real function called from a small wrapper that
  changes its input or output (e.g. filters the migrations it is given);
* :func:`field_type`: one field of a Nova object given another type.
"""
from __future__ import annotations

import ast
import copy
import functools
import inspect
import textwrap

import fixtures

from harness.oracle.paths import resolve_function, _handler_names


class WhatIf(fixtures.Fixture):
    """A labelled change of one Nova mechanism; ``apply(self)`` patches."""

    def __init__(self, label: str, what: str, apply):
        super().__init__()
        self.label = label
        self.what = what
        self._apply = apply

    def describe(self) -> str:
        return "counterfactual: %s" % self.what

    def _setUp(self):
        self._apply(self)

    def __repr__(self):
        return "<WhatIf %s>" % self.label


def _compile(func, tree: ast.Module, label: str):
    ast.fix_missing_locations(tree)
    code = compile(tree, "<what-if: %s>" % label, "exec")
    namespace: dict = {}
    exec(code, func.__globals__, namespace)  # noqa: S102 - our own rewrite
    return namespace[func.__name__]


def rewritten(label: str, what: str, function: str, transform) -> WhatIf:
    """``function``'s source with ``transform(FunctionDef)`` applied; its
    decorators are evaluated again in the module, as at import."""

    def apply(fix: WhatIf):
        func = resolve_function(function)
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
        fdef = copy.deepcopy(tree.body[0])
        transform(fdef)            # decorators (locks) are applied again
        new = _compile(func, ast.Module(body=[fdef], type_ignores=[]),
                       label)
        fix.useFixture(fixtures.MonkeyPatch(function, new))

    return WhatIf(label, what, apply)


def wrapped(label: str, what: str, function: str, make_wrapper) -> WhatIf:
    """``function`` replaced by ``make_wrapper(real)``."""

    def apply(fix: WhatIf):
        # the attribute as it is, decorators (e.g. the tracker's lock)
        # included, so the wrapper changes nothing but its input or output
        real = resolve_function(function, unwrap=False)
        wrapper = functools.wraps(real)(make_wrapper(real))
        fix.useFixture(fixtures.MonkeyPatch(function, wrapper))

    return WhatIf(label, what, apply)


def field_type(label: str, what: str, obj_name: str, field: str,
               new_type) -> WhatIf:
    """Field ``field`` of Nova object ``obj_name`` coerces as ``new_type``
    (an oslo.versionedobjects field type instance)."""

    def apply(fix: WhatIf):
        from nova import objects
        f = getattr(objects, obj_name).fields[field]
        old = f._type
        f._type = new_type
        fix.addCleanup(setattr, f, "_type", old)

    return WhatIf(label, what, apply)


# ---------------------------------------------------------------------------
# transforms of a FunctionDef
# ---------------------------------------------------------------------------
def reraise(exception: str):
    """Every ``except <exception>`` handler re-raises instead of going on:
    its ``continue``/``return`` become ``raise``, or ``raise`` is added."""

    def transform(fdef: ast.FunctionDef):
        found = False
        for node in ast.walk(fdef):
            if isinstance(node, ast.ExceptHandler) and \
                    exception in _handler_names(node):
                found = True
                body = [s for s in node.body
                        if not isinstance(s, (ast.Continue, ast.Return))]
                node.body = body + [ast.Raise(exc=None, cause=None)]
        if not found:
            raise LookupError("no except %s in %s" % (exception, fdef.name))
    return transform


def _statements_with(fdef: ast.FunctionDef, text: str, source_lines):
    """(list that holds it, statement) for every innermost simple
    statement whose source lines contain ``text``."""
    found = []
    for node in ast.walk(fdef):
        for name in ("body", "orelse", "finalbody"):
            stmts = getattr(node, name, None)
            if not isinstance(stmts, list):
                continue
            for stmt in stmts:
                if not isinstance(stmt, ast.stmt) or isinstance(
                        stmt, (ast.If, ast.For, ast.While, ast.Try,
                               ast.With, ast.FunctionDef)):
                    continue
                seg = "\n".join(source_lines[stmt.lineno - 1:
                                             stmt.end_lineno])
                if text in seg:
                    found.append((stmts, stmt))
    if not found:
        raise LookupError("no statement with %r in %s" % (text, fdef.name))
    return found


def _insert(text: str, code: str, after: bool):
    def transform(fdef: ast.FunctionDef):
        # positions must match the text they are compared with: work on a
        # re-parse of the unparsed function
        source = ast.unparse(fdef)
        fresh = ast.parse(source).body[0]
        for stmts, stmt in _statements_with(fresh, text,
                                            source.splitlines()):
            i = stmts.index(stmt) + (1 if after else 0)
            stmts[i:i] = ast.parse(textwrap.dedent(code)).body
        fdef.body = fresh.body
        fdef.args = fresh.args
    return transform


def insert_before(text: str, code: str):
    """Insert ``code`` before every statement whose source has ``text``."""
    return _insert(text, code, after=False)


def insert_after(text: str, code: str):
    """Insert ``code`` after every statement whose source has ``text``."""
    return _insert(text, code, after=True)


# ---------------------------------------------------------------------------
# the harness's what-ifs, one per blamed mechanism
# ---------------------------------------------------------------------------
RT = "nova.compute.resource_tracker.ResourceTracker"
MIGRATE = "nova.conductor.tasks.migrate"
_TYPES = ("migration", "resize", "live-migration", "evacuation")


def _migration_agrees_with_instance(context, migration) -> bool:
    """What a tracker that cross-checked a migration row against its
    instance would accept: the instance exists, its migration context
    names this migration, it sits on one end of it, the type is one Nova
    writes, and the flavor ids are those of the instance's stashed flavors
    (the new one stashed)."""
    from nova import exception, objects
    try:
        inst = objects.Instance.get_by_uuid(
            context.elevated(read_deleted="yes"), migration.instance_uuid,
            expected_attrs=["migration_context", "flavor"])
    except exception.InstanceNotFound:
        return False
    mc = inst.migration_context
    if mc is None or mc.migration_id != migration.id:
        return False
    if inst.host not in (migration.source_compute, migration.dest_compute):
        return False
    if inst.node not in (migration.source_node, migration.dest_node):
        return False
    if migration.migration_type not in _TYPES:
        return False
    if migration.migration_type == "live-migration":
        return True
    # Nova stashes new_flavor as the destination prepares the move
    # (_prep_resize) and old_flavor only when the source resizes
    # (resize_instance): a row is trusted while the new one is there and
    # neither contradicts the row
    for prefix in ("old", "new"):
        flavor = getattr(inst, "%s_flavor" % prefix, None)
        fid = getattr(migration, "%s_instance_type_id" % prefix, None)
        if flavor is None and prefix == "new":
            return False
        if flavor is not None and fid is not None and fid != flavor.id:
            return False
    return True


def migrations_cross_checked() -> WhatIf:
    """000-1: the migration accounting ignores rows its instance
    contradicts, instead of trusting them."""
    def make(real):
        def _update_usage_from_migrations(self, context, migrations,
                                          nodename):
            kept = [m for m in migrations
                    if _migration_agrees_with_instance(context, m)]
            return real(self, context, kept, nodename)
        return _update_usage_from_migrations
    return wrapped("migrations-cross-checked",
                   "the tracker ignores migration rows that contradict "
                   "their instance (context, host/node, type, flavors)",
                   RT + "._update_usage_from_migrations", make)


def migration_handlers_reraise() -> WhatIf:
    """000-2: the InstanceNotFound and FlavorNotFound handlers of the
    migration accounting re-raise instead of logging and going on."""
    def both(fdef):
        reraise("InstanceNotFound")(fdef)
        reraise("FlavorNotFound")(fdef)
    return rewritten("migration-handlers-reraise",
                     "the migration accounting's InstanceNotFound and "
                     "FlavorNotFound handlers re-raise",
                     RT + "._update_usage_from_migrations", both)


def metrics_handler_reraises() -> WhatIf:
    """000-2: the monitor handler of _get_host_metrics re-raises."""
    return rewritten("metrics-handler-reraises",
                     "_get_host_metrics re-raises a monitor's exception",
                     RT + "._get_host_metrics", reraise("Exception"))


def sizes_validated() -> WhatIf:
    """000-3: usage is computed only from plausible flavor sizes: a flavor
    whose vcpus, memory or disk is negative, fractional or beyond 2^31-1
    counts as nothing (and would be logged)."""
    keys = ("vcpus", "memory_mb", "root_gb", "ephemeral_gb", "swap")

    def impossible(value):
        return (not isinstance(value, int) or isinstance(value, bool)
                or value < 0 or value > 2 ** 31 - 1)

    def make(real):
        def _get_usage_dict(self, object_or_dict, instance, **updates):
            usage = real(self, object_or_dict, instance, **updates)
            if any(impossible(usage.get(k, 0)) for k in keys):
                usage = dict(usage, **{k: 0 for k in keys})
            return usage
        return _get_usage_dict
    return wrapped("sizes-validated",
                   "the tracker counts a flavor with impossible sizes as "
                   "nothing instead of using them",
                   RT + "._get_usage_dict", make)


def disk_used_kept_exact() -> WhatIf:
    """000-5: ComputeNode.local_gb_used keeps fractions (a float field),
    so swap is not truncated per instance; the DB column rounds once."""
    from oslo_versionedobjects import fields
    return field_type("disk-used-exact",
                      "ComputeNode.local_gb_used accumulates as a float "
                      "instead of truncating every increment",
                      "ComputeNode", "local_gb_used", fields.Float())


def incoming_flavor_checked() -> WhatIf:
    """F-01: the incoming-migration branch skips a migration whose flavor
    is missing instead of reading ``itype.flavorid`` from None."""
    return rewritten(
        "incoming-flavor-checked",
        "_update_usage_from_migration returns before logging when the "
        "stashed flavor is missing",
        RT + "._update_usage_from_migration",
        insert_before("itype.flavorid", "if itype is None:\n    return\n"))


def revert_failure_raised() -> WhatIf:
    """002-2: revert_allocation_for_migration raises when placement
    refuses to move the allocation back, instead of logging only."""
    return rewritten(
        "revert-failure-raised",
        "revert_allocation_for_migration raises when the allocation could "
        "not be moved back",
        MIGRATE + ".revert_allocation_for_migration",
        insert_after("Unable to replace resource claim on source",
                     "raise exception.AllocationMoveFailed("
                     "source_consumer=migration.uuid, "
                     "target_consumer=instance.uuid, "
                     "error='harness counterfactual')\n"))


_USAGE_FIELDS = ("vcpus_used", "memory_mb_used", "local_gb_used",
                 "free_ram_mb", "free_disk_gb", "running_vms",
                 "current_workload", "stats")


def failed_audit_restores_node() -> WhatIf:
    """F-03: when the audit raises, the tracker's node is put back as it
    was before the audit, instead of keeping the half-built copy."""
    def make(real):
        def _update_available_resource(self, context, resources,
                                       startup=False):
            nodename = resources["hypervisor_hostname"]
            cn = self.compute_nodes.get(nodename)
            saved = ({f: getattr(cn, f) for f in _USAGE_FIELDS
                      if cn.obj_attr_is_set(f)} if cn is not None else None)
            try:
                return real(self, context, resources, startup=startup)
            except Exception:
                if cn is not None:
                    for field, value in saved.items():
                        setattr(cn, field, value)
                raise
        return _update_available_resource
    return wrapped("failed-audit-restores-node",
                   "a failed audit puts the node's usage back as it was",
                   RT + "._update_available_resource", make)


REPORT = "nova.scheduler.client.report.SchedulerReportClient"


def rollback_errors_contained() -> WhatIf:
    """F-05: an exception raised while ``MigrationTask.rollback`` undoes
    the task's work is logged, so the error that failed the task is the
    one its caller sees (``rollback_wrapper`` re-raises it)."""
    def make(real):
        def rollback(self, ex):
            try:
                return real(self, ex)
            except Exception:  # noqa: BLE001 - the what-if itself
                import logging
                logging.getLogger("nova.conductor.tasks.migrate").exception(
                    "harness counterfactual: rollback failed; keeping the "
                    "original error %r", ex)
        return rollback
    return wrapped("rollback-errors-contained",
                   "MigrationTask.rollback logs an exception of its own "
                   "instead of letting it replace the task's error",
                   MIGRATE + ".MigrationTask.rollback", make)


def capacity_refusal_raised() -> WhatIf:
    """F-07: ``move_allocations`` raises AllocationMoveFailed for a 409
    that is not a generation conflict (a refusal for the inventory's limits
    or its capacity), as it does for a consumer-generation conflict,
    instead of returning False (its retry decorator is applied again, as
    at import).  (The name is the what-if's label in recorded verdicts.)"""
    return rewritten(
        "capacity-409-raised",
        "move_allocations raises AllocationMoveFailed for a 409 that is not "
        "a generation conflict (limits, capacity) as for a consumer-"
        "generation conflict (instead of returning False)",
        REPORT + ".move_allocations",
        insert_after("err = r.json()['errors'][0]",
                     "if r.status_code == 409 and "
                     "err['code'] != 'placement.concurrent_update':\n"
                     "    raise exception.AllocationMoveFailed("
                     "source_consumer=source_consumer_uuid, "
                     "target_consumer=target_consumer_uuid, "
                     "error=r.text)\n"))


def delete_frees_migration_allocations() -> WhatIf:
    """F-11: deleting an instance also deletes the allocations its
    unfinished migrations hold (the migration consumer of a cold move)."""
    ended = ("confirmed", "reverted", "error", "failed", "completed",
             "cancelled", "done")

    def make(real):
        def delete_allocation_for_instance(self, context, uuid,
                                           consumer_type="instance",
                                           force=False):
            from nova import objects
            result = real(self, context, uuid, consumer_type=consumer_type,
                          force=force)
            if consumer_type == "instance":
                migs = objects.MigrationList.get_by_filters(
                    context.elevated(read_deleted="yes"),
                    {"instance_uuid": uuid})
                for m in migs:
                    if m.status not in ended:
                        real(self, context, m.uuid,
                             consumer_type="migration", force=True)
            return result
        return delete_allocation_for_instance
    return wrapped("delete-frees-migration-allocations",
                   "deleting an instance also frees the allocations its "
                   "unfinished migrations hold",
                   "nova.scheduler.client.report.SchedulerReportClient."
                   "delete_allocation_for_instance", make)


def orphan_node_kept() -> WhatIf:
    """F-12: the compute manager's audit keeps the record of a node its
    driver does not report instead of deleting it (what Nova does from
    2024.1 for every driver that does not say the node is deleted)."""
    return rewritten(
        "orphan-node-kept",
        "ComputeManager.update_available_resource keeps a compute node "
        "its driver does not report instead of destroying it",
        "nova.compute.manager.ComputeManager.update_available_resource",
        insert_before("cn.destroy()", "continue"))


def migration_context_preferred() -> WhatIf:
    """F-13: the tracker's "most recently updated migration" filter keeps,
    of two migrations of one instance, the one the instance's migration
    context names, whatever their timestamps say (a tie, or an older move
    saved by a host whose clock runs ahead)."""
    return rewritten(
        "migration-context-preferred",
        "_update_usage_from_migrations keeps, of an instance's migrations, "
        "the one its migration context names instead of the most recently "
        "updated",
        RT + "._update_usage_from_migrations",
        insert_after(
            "migration_time = migration.updated_at or migration.created_at",
            "mc = instances[uuid].migration_context\n"
            "if mc is not None and mc.migration_id in (migration.id, om.id):"
            "\n    migration_time, other_time = ((1, 0) if mc.migration_id "
            "== migration.id else (0, 1))\n"))


def stale_tracking_ignored() -> WhatIf:
    """F-14: a tracker counts an incoming move's claim although it still
    tracks the instance from before the instance live-migrated away (the
    stale entry no longer stands in for the claim, so dropping the claim
    later removes what was counted)."""
    return rewritten(
        "stale-tracking-ignored",
        "_update_usage_from_migration counts an incoming migration of an "
        "instance on another host even when the tracker still tracks it",
        RT + "._update_usage_from_migration",
        insert_after("tracked = uuid in self.tracked_instances",
                     "tracked = tracked and not (incoming and not outbound "
                     "and instance['host'] != self.host)"))


def post_migrating_counts_new_flavor() -> WhatIf:
    """F-15: the tracker counts an instance whose resize is post-migrating
    (its record already on this host, ``finish_resize`` not yet run) with
    the new flavor the move claimed, not the old one its record holds."""
    def make(real):
        def _get_usage_dict(self, object_or_dict, instance, **updates):
            if (object_or_dict is instance
                    and getattr(instance, "task_state", None)
                    == "resize_migrated"
                    and instance.obj_attr_is_set("new_flavor")
                    and instance.new_flavor is not None
                    and instance.host == self.host):
                object_or_dict = instance.new_flavor
            return real(self, object_or_dict, instance, **updates)
        return _get_usage_dict
    return wrapped(
        "post-migrating-counts-new-flavor",
        "an instance counted while its resize is post-migrating counts its "
        "new flavor", RT + "._get_usage_dict", make)


def reset_live_migration_reverts_allocation() -> WhatIf:
    """F-16: a compute that resets a live migration it finds running at
    start-up also reverts the migration's allocation, as the rollback
    path does (``_revert_allocation``)."""
    return rewritten(
        "reset-live-migration-reverts-allocation",
        "_reset_live_migration reverts the migration's allocation before it "
        "ends the migration in error",
        "nova.compute.manager.ComputeManager._reset_live_migration",
        insert_before("self._set_migration_status(migration, 'error')",
                      "self._revert_allocation(context, instance, "
                      "migration)"))


def drop_only_what_is_counted() -> WhatIf:
    """F-17: dropping a move claim removes usage only for an instance the
    tracker counts (as a tracked migration or a tracked instance)."""
    return rewritten(
        "drop-only-what-is-counted",
        "_drop_move_claim removes nothing for an instance the tracker "
        "does not count",
        RT + "._drop_move_claim",
        # (after the docstring: the function's first statement)
        insert_after("Remove usage for an incoming/outgoing migration.",
                     "if instance['uuid'] not in self.tracked_migrations "
                     "and instance['uuid'] not in self.tracked_instances:"
                     "\n    return"))


WHAT_IFS = {
    "drop-only-what-is-counted": drop_only_what_is_counted,
    "post-migrating-counts-new-flavor": post_migrating_counts_new_flavor,
    "reset-live-migration-reverts-allocation":
        reset_live_migration_reverts_allocation,
    "stale-tracking-ignored": stale_tracking_ignored,
    "migration-context-preferred": migration_context_preferred,
    "orphan-node-kept": orphan_node_kept,
    "delete-frees-migration-allocations": delete_frees_migration_allocations,
    "failed-audit-restores-node": failed_audit_restores_node,
    "migrations-cross-checked": migrations_cross_checked,
    "migration-handlers-reraise": migration_handlers_reraise,
    "metrics-handler-reraises": metrics_handler_reraises,
    "sizes-validated": sizes_validated,
    "disk-used-exact": disk_used_kept_exact,
    "incoming-flavor-checked": incoming_flavor_checked,
    "revert-failure-raised": revert_failure_raised,
    "rollback-errors-contained": rollback_errors_contained,
    "capacity-409-raised": capacity_refusal_raised,
}
