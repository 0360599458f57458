"""Faults in DB records: migrations, instances, flavors.

Each fault writes straight to the database through SQLAlchemy (below Nova's
object layer, which would refuse many of these values, as a buggy service,
a bad manual fix or a tampered database would), remembers what it replaced,
and puts it back on cleanup.  The ledger is never told: it keeps the truth.

The database engine has the last word on what a column can hold.  sqlite
stores any string in an enum column and ignores foreign keys; MariaDB and
PostgreSQL refuse such writes, or coerce the value.  A write the engine
refuses raises :class:`~harness.faults.base.EngineRefused` ("not admitted by
MariaDB 10.11: ..."), so the variant is listed as refused, never judged and
never a harness error.  After every write the fault reads the row back: a
value stored differently from what was written is noted in ``coerced``
("coerced by MariaDB 10.11: ..."), and the variant is judged on what the
engine really stored.
"""
from __future__ import annotations

import contextlib
import copy
import datetime
import decimal
import json
import re

from harness.faults import base
from harness.faults.base import EngineRefused, Fault, NotApplicable


def _refusal(exc) -> str | None:
    """The engine's reason when ``exc`` (or what it wraps) is a write the
    engine refused: a value its type, enum, length, range or a foreign,
    unique or check constraint does not admit.  None otherwise."""
    import sqlalchemy.exc as sa_exc
    from oslo_db import exception as db_exc
    refused = (sa_exc.DataError, sa_exc.IntegrityError,
               db_exc.DBDataError, db_exc.DBReferenceError,
               db_exc.DBConstraintError, db_exc.DBDuplicateEntry,
               db_exc.DBInvalidUnicodeParameter)
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, refused):
            while getattr(exc, "inner_exception", None) is not None:
                exc = exc.inner_exception
            orig = getattr(exc, "orig", None) or exc
            args = getattr(orig, "args", ())
            if len(args) == 2 and isinstance(args[0], int):  # PyMySQL
                text = str(args[1])
            else:
                text = str(orig)
            text = " ".join(text.split("\n")[0].split())
            # the per-process database names (harness.world.engines) would
            # make the reason differ from run to run
            text = re.sub(r"`?harness_(main|api|placement)_[0-9a-f]+`?\.",
                          "", text)
            return text[:240]
        exc = (getattr(exc, "inner_exception", None) or exc.__cause__
               or exc.__context__)
    return None


@contextlib.contextmanager
def _refusals(engine):
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - re-raised unless refused
        reason = _refusal(exc)
        if reason is None:
            raise
        from harness.world import engines
        raise EngineRefused("not admitted by %s: %s" % (
            engines.engine_name(engine), reason)) from exc


@contextlib.contextmanager
def _main_db(world, read_deleted="yes"):
    from nova.db.main import api as main_db_api
    ctx = world.ctx.elevated(read_deleted=read_deleted)
    with _refusals(main_db_api.get_engine()):
        with main_db_api.context_manager.writer.using(ctx):
            yield ctx.session


@contextlib.contextmanager
def _api_db(world):
    from nova.db.api import api as api_db_api
    ctx = world.ctx.elevated()
    with _refusals(api_db_api.get_engine()):
        with api_db_api.context_manager.writer.using(ctx):
            yield ctx.session


def _same(meant, stored) -> bool:
    """Whether the engine stored what was written (types the driver maps
    back, e.g. ``'12'`` and ``12`` or a bool and 0/1, count as the same)."""
    if meant is None or stored is None:
        return meant is None and stored is None
    number = (int, float, decimal.Decimal)
    if isinstance(meant, number) and isinstance(stored, number):
        return float(meant) == float(stored)
    if isinstance(meant, datetime.datetime):
        if isinstance(stored, str):   # sqlite keeps datetimes as text
            try:
                stored = datetime.datetime.fromisoformat(stored)
            except ValueError:
                return False
        if isinstance(stored, datetime.datetime):
            return meant.replace(tzinfo=None) == stored.replace(tzinfo=None)
    return str(meant) == str(stored)


def note_coercions(fault, engine, meant: dict, stored: dict):
    """Compare what ``fault`` wrote with what the engine holds; note every
    difference in ``fault.coerced`` (and the trace)."""
    diffs = ["%s %s stored as %s" % (col, _short(meant[col]),
                                     _short(stored.get(col)))
             for col in sorted(meant)
             if not _same(meant[col], stored.get(col))]
    if diffs:
        from harness.world import engines
        note = "coerced by %s: %s" % (engines.engine_name(engine),
                                      ", ".join(diffs))
        fault.coerced.append(note)
        fault.world.trace.step("fault", "coerced", fault=fault.describe(),
                               note=note)


def _short(value, n=60) -> str:
    text = repr(value)
    return text if len(text) <= n else text[:n - 3] + "..."


def _stored(world, model_or_table, filters: dict, columns,
            db="main") -> dict:
    """The row's ``columns`` as the engine holds them (a fresh read of the
    raw values: no type processing, which would itself refuse e.g. an enum
    value sqlite stored)."""
    import sqlalchemy as sa
    name = getattr(model_or_table, "__tablename__", None) or \
        model_or_table.name
    columns = list(columns)
    query = sa.select(*[sa.column(c) for c in columns]).select_from(
        sa.table(name)).where(*[sa.column(k) == v
                                for k, v in filters.items()])
    opener = _main_db if db == "main" else _api_db
    with opener(world) as session:
        row = session.execute(query).one()
        return dict(zip(columns, row))


def _engine(db="main"):
    if db == "main":
        from nova.db.main import api
    else:
        from nova.db.api import api
    return api.get_engine()


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
        note_coercions(self, _engine(), values, _stored(
            self.world, model, self._filters(), values))

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
            written = None if new is None else json.dumps(new)
            session.query(extra).filter_by(instance_uuid=uuid).update(
                {self.column: written}, synchronize_session=False)
        self.addCleanup(self._restore, uuid, original)
        self._note_stored(uuid, written)

    def _note_stored(self, uuid, written):
        extra = _models().InstanceExtra
        note_coercions(self, _engine(), {self.column: written}, _stored(
            self.world, extra, {"instance_uuid": uuid}, [self.column]))

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
        note_coercions(self, _engine(), cols, _stored(
            self.world, model, {"id": new_id}, cols))

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
        from harness.world import nova_releases
        cols = nova_releases.schema_columns(model.__table__, cols)
        with _main_db(self.world) as session:
            result = session.execute(model.__table__.insert().values(**cols))
            row_id = result.inserted_primary_key[0]
        self.addCleanup(self._remove, row_id)
        note_coercions(self, _engine(), cols, _stored(
            self.world, model, {"id": row_id}, cols))

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
