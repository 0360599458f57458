"""Faults in DB records: migrations, instances, flavors.

Each fault writes straight to the database through SQLAlchemy (below Nova's
object layer, which would refuse many of these values, as a buggy service,
a bad manual fix or a tampered database would), remembers what it replaced,
and puts it back on cleanup.  The ledger is never told: it keeps the truth.
"""
from __future__ import annotations

import contextlib
import copy
import json

from harness.faults import base
from harness.faults.base import Fault, NotApplicable


@contextlib.contextmanager
def _main_db(world, read_deleted="yes"):
    from nova.db.main import api as main_db_api
    ctx = world.ctx.elevated(read_deleted=read_deleted)
    with main_db_api.context_manager.writer.using(ctx):
        yield ctx.session


@contextlib.contextmanager
def _api_db(world):
    from nova.db.api import api as api_db_api
    ctx = world.ctx.elevated()
    with api_db_api.context_manager.writer.using(ctx):
        yield ctx.session


def _models():
    from nova.db.main import models
    return models


def _row_values(row, fields):
    return {f: getattr(row, f) for f in fields}


class _RowUpdate(Fault):
    """Set columns of one row; restore them on cleanup."""
    model_name = ""

    def _filters(self) -> dict:  # pragma: no cover
        raise NotImplementedError

    def _values(self) -> dict:  # pragma: no cover
        raise NotImplementedError

    def inject(self):
        model = getattr(_models(), self.model_name)
        values = self._values()
        with _main_db(self.world) as session:
            row = session.query(model).filter_by(**self._filters()).one()
            original = _row_values(row, values)
            session.query(model).filter_by(**self._filters()).update(
                values, synchronize_session=False)
        self.original = original
        self.addCleanup(self._restore, model, original)

    def _restore(self, model, original):
        with _main_db(self.world) as session:
            session.query(model).filter_by(**self._filters()).update(
                original, synchronize_session=False)


class MigrationField(_RowUpdate):
    """Corrupt one or more columns of an instance's migration record.

    ``fields``: column -> value (``status``, ``migration_type``,
    ``instance_uuid``, ``source_compute``, ``source_node``, ``dest_compute``,
    ``dest_node``, ``old_instance_type_id``, ``new_instance_type_id``, ...).
    """
    model_name = "Migration"
    authority = base.INCONSISTENT
    # Values the API and the object layer ever write (Migration.status is
    # free text in the schema but only these are set; migration_type is an
    # enum): anything else is INADMISSIBLE.
    STATUSES = ("migrating", "post-migrating", "pre-migrating", "accepted",
                "preparing", "running", "finished", "confirming",
                "confirmed", "reverting", "reverted", "error", "failed",
                "queued", "completed", "cancelled", "done", "dest-failed")
    TYPES = ("migration", "resize", "live-migration", "evacuation")

    def authority_class(self) -> str:
        status = self.fields.get("status")
        mtype = self.fields.get("migration_type")
        if (status is not None and status not in self.STATUSES) or \
                (mtype is not None and mtype not in self.TYPES):
            return base.INADMISSIBLE
        return base.INCONSISTENT

    def __init__(self, world, instance: str, **fields):
        super().__init__(world)
        self.instance = instance
        self.fields = fields

    def describe(self):
        return "migration of %s: %s" % (self.instance, ", ".join(
            "%s=%r" % kv for kv in sorted(self.fields.items())))

    def _filters(self):
        return {"id": self.world.migrations[self.instance].id}

    def _values(self):
        return dict(self.fields)


class InstanceField(_RowUpdate):
    """Corrupt columns of an instance record (``vm_state``, ``task_state``,
    ``host``, ``node``, ``memory_mb``, ``deleted``...)."""
    model_name = "Instance"
    authority = base.INCONSISTENT
    SIZES = ("vcpus", "memory_mb", "root_gb", "ephemeral_gb")

    def authority_class(self) -> str:
        """A size no flavor could have is inadmissible; any other column
        rewritten contradicts the rest of the instance's records."""
        for key in self.SIZES:
            value = self.fields.get(key)
            if value is not None and (not isinstance(value, int)
                                      or value < 0 or value > 2 ** 31 - 1):
                return base.INADMISSIBLE
        return base.INCONSISTENT

    def __init__(self, world, instance: str, **fields):
        super().__init__(world)
        self.instance = instance
        self.fields = fields

    def describe(self):
        return "instance %s: %s" % (self.instance, ", ".join(
            "%s=%r" % kv for kv in sorted(self.fields.items())))

    def _filters(self):
        return {"uuid": self.world.instances[self.instance].uuid}

    def _values(self):
        return dict(self.fields)


class InstanceDeleted(InstanceField):
    """Soft-delete the instance record (as a local delete would) while the
    rest of the world (migrations, allocations) still refers to it."""

    def __init__(self, world, instance: str):
        super().__init__(world, instance)

    def describe(self):
        return "instance %s soft-deleted in the DB" % self.instance

    def _values(self):
        import datetime
        with _main_db(self.world) as session:
            row = session.query(_models().Instance).filter_by(
                **self._filters()).one()
            row_id = row.id
        return {"deleted": row_id,
                "deleted_at": datetime.datetime(2026, 1, 1)}


class _ExtraColumn(Fault):
    """Rewrite one JSON column of ``instance_extra``; restore it after."""
    authority = base.INCONSISTENT
    column = ""

    def __init__(self, world, instance: str):
        super().__init__(world)
        self.instance = instance

    def transform(self, value):  # pragma: no cover
        raise NotImplementedError

    def inject(self):
        uuid = self.world.instances[self.instance].uuid
        extra = _models().InstanceExtra
        with _main_db(self.world) as session:
            row = session.query(extra).filter_by(instance_uuid=uuid).one()
            original = getattr(row, self.column)
            new = self.transform(json.loads(original) if original else None)
            session.query(extra).filter_by(instance_uuid=uuid).update(
                {self.column: None if new is None else json.dumps(new)},
                synchronize_session=False)
        self.addCleanup(self._restore, uuid, original)

    def _restore(self, uuid, original):
        extra = _models().InstanceExtra
        with _main_db(self.world) as session:
            session.query(extra).filter_by(instance_uuid=uuid).update(
                {self.column: original}, synchronize_session=False)


class MigrationContextFault(_ExtraColumn):
    """The instance's migration context: ``missing`` (NULL) or ``stale``
    (pointing at another migration id)."""
    column = "migration_context"

    def __init__(self, world, instance: str, mode: str = "missing",
                 migration_id: int = 999999):
        super().__init__(world, instance)
        if mode not in ("missing", "stale"):
            raise ValueError("mode must be 'missing' or 'stale'")
        self.mode = mode
        self.migration_id = migration_id

    def describe(self):
        if self.mode == "missing":
            return "migration context of %s missing" % self.instance
        return "migration context of %s stale (migration_id=%d)" % (
            self.instance, self.migration_id)

    def transform(self, value):
        if self.mode == "missing" or value is None:
            return None
        value = copy.deepcopy(value)
        value["nova_object.data"]["migration_id"] = self.migration_id
        return value


class EmbeddedFlavor(_ExtraColumn):
    """The instance's embedded flavors (``instance_extra.flavor``).

    ``which``: ``cur`` (the instance's flavor), ``old`` or ``new``.
    ``mode``: ``absent`` (set to null) or ``altered`` (``changes`` applied to
    the flavor's fields, e.g. ``memory_mb=-512`` or ``swap=1.5``).
    """
    column = "flavor"

    def authority_class(self) -> str:
        """A stashed flavor absent mid-move contradicts the migration
        (a); an altered flavor is the instance's own authoritative record
        rewritten self-consistently (b), unless a value is impossible (c)."""
        if self.mode == "absent":
            return base.INCONSISTENT
        for key, value in self.changes.items():
            if key in ("vcpus", "memory_mb", "root_gb", "ephemeral_gb",
                       "swap") and (not isinstance(value, int)
                                    or isinstance(value, bool)
                                    or value < 0 or value > 2 ** 31 - 1):
                return base.INADMISSIBLE
        return base.FORGERY

    def learn(self, ledger) -> None:
        ledger.learn_flavor(self.instance, self.which, self.changes)

    def __init__(self, world, instance: str, which: str = "new",
                 mode: str = "absent", **changes):
        super().__init__(world, instance)
        if which not in ("cur", "old", "new"):
            raise ValueError("which must be cur, old or new")
        if mode not in ("absent", "altered"):
            raise ValueError("mode must be absent or altered")
        self.which, self.mode, self.changes = which, mode, changes

    def describe(self):
        name = {"cur": "flavor", "old": "old_flavor",
                "new": "new_flavor"}[self.which]
        if self.mode == "absent":
            return "embedded %s of %s absent" % (name, self.instance)
        return "embedded %s of %s altered: %s" % (
            name, self.instance, ", ".join("%s=%r" % kv for kv in
                                           sorted(self.changes.items())))

    def transform(self, value):
        value = copy.deepcopy(value or {})
        if self.mode == "absent":
            value[self.which] = None
        else:
            flavor = value.get(self.which)
            if flavor is None:
                raise NotApplicable("instance %s has no embedded %s flavor "
                                    "to alter" % (self.instance, self.which))
            flavor["nova_object.data"].update(self.changes)
        return value


class FlavorDeleted(Fault):
    """Delete a flavor from the API database; recreate it on cleanup.

    Deleting a flavor that instances use is an ordinary admin action
    (instances embed their flavors for exactly this reason)."""
    authority = base.NONE
    reach = "an admin through the API (flavor delete)"

    def __init__(self, world, flavor: str):
        super().__init__(world)
        self.flavor = flavor

    def describe(self):
        return "flavor %s deleted from the API DB" % self.flavor

    def inject(self):
        from nova.db.api import models as api_models
        flavor_id = self.world.flavors[self.flavor].id
        with _api_db(self.world) as session:
            row = session.query(api_models.Flavors).filter_by(
                id=flavor_id).one()
            cols = {c.name: getattr(row, c.name)
                    for c in api_models.Flavors.__table__.columns}
            specs = [{c.name: getattr(s, c.name) for c in
                      api_models.FlavorExtraSpecs.__table__.columns}
                     for s in session.query(api_models.FlavorExtraSpecs)
                     .filter_by(flavor_id=flavor_id)]
            session.query(api_models.FlavorExtraSpecs).filter_by(
                flavor_id=flavor_id).delete(synchronize_session=False)
            session.query(api_models.Flavors).filter_by(
                id=flavor_id).delete(synchronize_session=False)
        self.addCleanup(self._restore, cols, specs)

    def _restore(self, cols, specs):
        from nova.db.api import models as api_models
        with _api_db(self.world) as session:
            session.execute(api_models.Flavors.__table__.insert().values(
                **cols))
            for spec in specs:
                session.execute(api_models.FlavorExtraSpecs.__table__
                                .insert().values(**spec))


class DuplicateMigration(Fault):
    """Insert a second migration row for the same instance (a copy of the
    real one with ``changes`` applied); delete it on cleanup."""
    authority = base.INCONSISTENT

    def __init__(self, world, instance: str, **changes):
        super().__init__(world)
        self.instance = instance
        self.changes = changes

    def describe(self):
        return "duplicate migration of %s%s" % (
            self.instance, (": " + ", ".join("%s=%r" % kv for kv in sorted(
                self.changes.items()))) if self.changes else "")

    def inject(self):
        from oslo_utils import uuidutils
        model = _models().Migration
        with _main_db(self.world) as session:
            row = session.query(model).filter_by(
                id=self.world.migrations[self.instance].id).one()
            cols = {c.name: getattr(row, c.name)
                    for c in model.__table__.columns if c.name != "id"}
            cols["uuid"] = uuidutils.generate_uuid()
            cols.update(self.changes)
            result = session.execute(model.__table__.insert().values(**cols))
            new_id = result.inserted_primary_key[0]
        self.row_id = new_id
        self.addCleanup(self._remove, new_id)

    def _remove(self, row_id):
        model = _models().Migration
        with _main_db(self.world) as session:
            session.query(model).filter_by(id=row_id).delete(
                synchronize_session=False)


class OrphanMigration(Fault):
    """Insert a migration for an instance that does not exist (``absent``)
    or whose record is deleted (``deleted``), between two of the world's
    hosts, with the given status and type; delete it on cleanup."""
    authority = base.INCONSISTENT

    def __init__(self, world, source: str, dest: str, mode: str = "absent",
                 status: str = "migrating", migration_type: str = "resize",
                 flavor: str | None = None):
        super().__init__(world)
        if mode not in ("absent", "deleted"):
            raise ValueError("mode must be absent or deleted")
        self.source, self.dest, self.mode = source, dest, mode
        self.status, self.migration_type = status, migration_type
        self.flavor = flavor

    def describe(self):
        return "%s migration %s->%s (%s, %s) for a %s instance" % (
            self.migration_type, self.source, self.dest, self.status,
            self.mode, "never-created" if self.mode == "absent"
            else "deleted")

    def inject(self):
        from oslo_utils import uuidutils
        model = _models().Migration
        flavor = self.world.flavors[self.flavor or next(
            iter(self.world.flavors))]
        instance_uuid = uuidutils.generate_uuid()
        if self.mode == "deleted":
            instance_uuid = self._deleted_instance(flavor)
        src, dst = self.world.hosts[self.source], self.world.hosts[self.dest]
        cols = dict(uuid=uuidutils.generate_uuid(),
                    instance_uuid=instance_uuid, status=self.status,
                    migration_type=self.migration_type,
                    source_compute=src.name, source_node=src.nodename,
                    dest_compute=dst.name, dest_node=dst.nodename,
                    dest_compute_id=dst.compute_node.id,
                    old_instance_type_id=flavor.id,
                    new_instance_type_id=flavor.id, deleted=0, hidden=False)
        with _main_db(self.world) as session:
            result = session.execute(model.__table__.insert().values(**cols))
            row_id = result.inserted_primary_key[0]
        self.addCleanup(self._remove, row_id)

    def _deleted_instance(self, flavor):
        from nova import objects
        from nova.compute import vm_states, task_states
        from oslo_utils import uuidutils
        inst = objects.Instance(
            self.world.ctx, uuid=uuidutils.generate_uuid(),
            project_id=self.world.ctx.project_id,
            user_id=self.world.ctx.user_id, flavor=flavor,
            instance_type_id=flavor.id, vcpus=flavor.vcpus,
            memory_mb=flavor.memory_mb, root_gb=flavor.root_gb,
            ephemeral_gb=flavor.ephemeral_gb, host=self.source,
            node=self.world.hosts[self.source].nodename,
            compute_id=self.world.hosts[self.source].compute_node.id,
            vm_state=vm_states.RESIZED, task_state=task_states.RESIZE_FINISH,
            old_flavor=flavor, new_flavor=flavor, system_metadata={})
        inst.create()
        inst.destroy()
        return inst.uuid

    def _remove(self, row_id):
        model = _models().Migration
        with _main_db(self.world) as session:
            session.query(model).filter_by(id=row_id).delete(
                synchronize_session=False)
