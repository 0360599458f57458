"""Loading Nova, knowing which Nova it is, and resetting its globals.

Nova keeps state at module level (the report client singleton with its
provider tree cache, the RPC globals, the object registry's indirection API,
cell caches...).  ``reset_globals`` puts back what ``nova/test.py`` resets
between tests, so two worlds in one process share nothing.
"""
from __future__ import annotations

import functools
import os
import sys


class NovaUnavailable(RuntimeError):
    """Nova (or Placement) cannot be imported in this environment."""


@functools.lru_cache(maxsize=None)
def load():
    """Import Nova once, register its objects and return the ``nova`` module.

    Raises :class:`NovaUnavailable` with a one-line remedy when it fails.
    """
    from harness.world import nova_releases
    try:
        # How Nova starts differs between releases (eventlet monkey patching
        # at import or an explicit choice): the adapter knows.
        nova_releases.start()
        import nova
        from nova import objects
        import nova.tests.fixtures  # noqa: F401
        import nova.tests.functional.fixtures  # noqa: F401
        import placement  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - turned into one clear line
        raise NovaUnavailable(
            "nova could not be imported (%s: %s); install it with "
            "'pip install -c constraints.txt nova==34.0.0 "
            "openstack-placement==16.0.0' or run through tox"
            % (type(exc).__name__, exc)) from exc
    objects.register_all()
    return nova


def version_info() -> dict:
    """Which Nova runs: version, where it lives, release or source tree."""
    load()
    from importlib import metadata
    import nova
    path = os.path.dirname(nova.__file__)
    try:
        version = metadata.version("nova")
    except metadata.PackageNotFoundError:  # pragma: no cover
        version = "unknown"
    source = "source tree" if os.path.isdir(
        os.path.join(path, os.pardir, ".git")) or "site-packages" not in path \
        else "release"
    try:
        placement_version = metadata.version("openstack-placement")
    except metadata.PackageNotFoundError:  # pragma: no cover
        placement_version = "unknown"
    from harness.world import nova_releases
    db = os.environ.get("HARNESS_DB") or "sqlite"
    return {"nova": version, "nova_path": path, "nova_source": source,
            "placement": placement_version,
            "python": sys.version.split()[0],
            "concurrency": nova_releases.started(),
            # the database engine the worlds ran on (harness.world.engines)
            "db": db, "db_server": os.environ.get("HARNESS_DB_SERVER")
            if db != "sqlite" else None}


def reset_globals():
    """Reset Nova's module-level caches (the list nova/test.py resets)."""
    load()
    from harness.world import nova_releases
    from nova import objects
    from nova import rpc
    from nova.compute import api as compute_api
    from nova.compute import rpcapi as compute_rpcapi
    from nova.objects import base as objects_base
    from nova.scheduler.client import report
    from nova import quota

    report.PLACEMENTCLIENT = None
    compute_api.CELLS = []
    compute_rpcapi.reset_globals()
    objects_base.NovaObject.indirection_api = None
    objects.Service.clear_min_version_cache()
    quota.UID_QFD_POPULATED_CACHE_BY_PROJECT = set()
    quota.UID_QFD_POPULATED_CACHE_ALL = False
    nova_releases.reset_release_globals()
    try:
        from nova.api.openstack import wsgi_app
        wsgi_app.init_global_data.reset()
        wsgi_app.init_application.reset()
    except Exception:  # pragma: no cover - optional in some trees
        pass
    del rpc  # imported so its globals exist before RPCFixture patches them


def quiesce_thread_pools() -> None:
    """Shut down (and join) Nova's thread pools, so that no idle worker
    thread is alive - what Nova's own services do before they fork their
    workers (``thread_pool_factory.reset_all_executors``).  The next
    ``spawn`` creates a new pool."""
    load()
    try:
        from nova import thread_pool_factory
    except ImportError:  # pragma: no cover - older Nova: no pools
        return
    reset = getattr(thread_pool_factory, "reset_all_executors", None)
    if reset is not None:
        reset()


# ----------------------------------------------------------------------
# Databases: in memory, restored from a pristine template for each world
# ----------------------------------------------------------------------
# Nova's own ``Database`` fixture, in native-threading mode, puts every
# database in a new WAL-mode sqlite *file* and opens and closes a connection
# per transaction (NullPool); every world also re-applied the schema and a
# new engine started with an empty SQLAlchemy statement cache.  That made a
# placement request cost ~12 ms.  Here each database (Nova main, Nova API,
# Placement) is one in-memory sqlite connection (oslo.db's StaticPool) held
# by an engine that lives for the process, and each world starts by copying
# a pristine template (the schema as migrated, plus Placement's standard
# traits and resource classes) over it with sqlite's backup API: every world
# starts from the same bytes, and nothing a world wrote survives it.
#
# One connection means one thread at a time.  The harness drives the
# tracker and placement from the calling thread; :class:`ThreadGuard` makes
# any concurrent use from a second thread fail loudly (the world's cleanup
# then raises, so the trial is INCONCLUSIVE, never judged on a corrupted
# database).  A scenario that needs real concurrency builds its world with
# ``World(sqlite="file")`` (Nova's own WAL file databases); the environment
# variable ``HARNESS_SQLITE=file`` does that for every world.

SQLITE_MODES = ("memory", "file")


def sqlite_mode(requested: str | None = None) -> str:
    mode = requested or os.environ.get("HARNESS_SQLITE") or "memory"
    if mode not in SQLITE_MODES:
        raise ValueError("sqlite mode %r: expected one of %s"
                         % (mode, ", ".join(SQLITE_MODES)))
    return mode


class ConcurrentDatabaseUse(RuntimeError):
    """Two threads used an in-memory database at the same time."""


class ThreadGuard:
    """Detect two threads holding the shared sqlite connection at once."""

    def __init__(self):
        import collections
        import threading
        self._lock = threading.Lock()
        self._held = collections.Counter()
        self.violations: list[str] = []

    def reset(self):
        with self._lock:
            self._held.clear()
            self.violations = []

    def checkout(self, *_args):
        import threading
        me = threading.get_ident()
        with self._lock:
            others = [t for t, n in self._held.items() if n > 0 and t != me]
            self._held[me] += 1
            if others:
                msg = ("thread %s used the in-memory database while thread "
                       "%s held it; build this world with "
                       "World(sqlite='file') (or HARNESS_SQLITE=file)"
                       % (threading.current_thread().name, others[0]))
                self.violations.append(msg)
        if others:
            raise ConcurrentDatabaseUse(msg)

    def checkin(self, *_args):
        import threading
        me = threading.get_ident()
        with self._lock:
            if self._held[me] > 0:
                self._held[me] -= 1


GUARD = ThreadGuard()

# Set in a process forked from a snapshot (harness.verdicts.snapshots): its
# in-memory databases are its own copy-on-write copies, so it adopts their
# connections.  oslo.db otherwise treats a connection made by another pid
# as unusable and opens a new one - an empty in-memory database.
IN_SNAPSHOT_COPY = False


def _adopt_in_snapshot_copy(_dbapi_conn, record, _proxy):
    if IN_SNAPSHOT_COPY and "pid" in record.info:
        record.info["pid"] = os.getpid()
_TEMPLATES: dict = {}        # database -> sqlite3 connection (pristine copy)
_ENGINES: dict = {}          # database key -> engine (or Nova's factory)


def _guarded(engine):
    """Install the thread guard on an in-memory engine (once).

    Also drops oslo.db's ``time.sleep(0)`` on every connection check-in:
    it lets other greenthreads run under eventlet; with one connection used
    by one thread there is nothing to yield to, and on a loaded machine each
    sleep(0) gave the CPU away (~15% of a placement request's wall time).
    """
    import sqlalchemy
    from oslo_db.sqlalchemy import engines as oslo_engines
    if not getattr(engine, "_harness_guarded", False):
        if sqlalchemy.event.contains(engine, "checkin",
                                     oslo_engines._thread_yield):
            sqlalchemy.event.remove(engine, "checkin",
                                    oslo_engines._thread_yield)
        sqlalchemy.event.listen(engine, "checkout", GUARD.checkout)
        sqlalchemy.event.listen(engine, "checkin", GUARD.checkin)
        # Before oslo.db's own process guard, which would otherwise drop the
        # connection (and with it the in-memory database) in a copy.
        sqlalchemy.event.listen(engine, "checkout", _adopt_in_snapshot_copy,
                                insert=True)
        engine._harness_guarded = True
    return engine


def restore_template(key: str, engine, build) -> None:
    """Make ``engine``'s in-memory database a copy of the template ``key``;
    the first time, run ``build()`` on it and keep a copy as the template."""
    import sqlite3
    template = _TEMPLATES.get(key)
    if template is None:
        build()  # on the engine's own connection, before we hold it
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        if conn.in_transaction:  # a previous world died mid-transaction
            conn.rollback()
        if template is None:
            template = sqlite3.connect(":memory:", check_same_thread=False)
            conn.backup(template)
            _TEMPLATES[key] = template
        else:
            template.backup(conn)
    finally:
        raw.close()


def memory_database(database: str = "main"):
    """Nova's main or API database in memory (see the notes above): a
    fixture used like Nova's ``Database`` fixture."""
    return _memory_database_class()(database)


@functools.lru_cache(maxsize=None)
def _memory_database_class():
    import fixtures

    class _MemoryDatabase(fixtures.Fixture):
        def __init__(self, database="main"):
            super().__init__()
            assert database in ("main", "api"), database
            self.database = database

        def _setUp(self):
            from nova import conf as nova_conf
            from nova.db.api import api as api_db_api
            from nova.db import migration
            from nova.db.main import api as main_db_api
            from oslo_db.sqlalchemy import enginefacade
            from oslo_db.sqlalchemy import test_fixtures as db_fixtures

            CONF = nova_conf.CONF
            mod = main_db_api if self.database == "main" else api_db_api
            group = CONF.database if self.database == "main" \
                else CONF.api_database
            key = ("nova", self.database, repr(sorted(group.items())))
            factory = _ENGINES.get(key)
            fresh = factory is None
            if fresh:
                factory = enginefacade.transaction_context()
            self.useFixture(db_fixtures.ReplaceEngineFacadeFixture(
                mod.context_manager, factory))
            if fresh:
                mod.configure(CONF)
            engine = mod.get_engine()
            if engine.url.database not in (None, "", ":memory:"):
                raise RuntimeError("MemoryDatabase needs an in-memory sqlite "
                                   "connection, got %s" % engine.url)
            _ENGINES[key] = factory
            _guarded(engine)
            restore_template(
                "nova-" + self.database, engine,
                lambda: migration.db_sync(database=self.database))

    return _MemoryDatabase
