"""What differs between the Nova releases the harness judges (27 .. 34).

Nova 27 (2023.1) to 34 (2026.2) run the same resource tracker in the same
shape, but not through the same doors: how Nova starts (eventlet monkey
patching at import, or an explicit ``nova.monkey_patch.patch()`` choosing
eventlet or native threads), which tracker methods exist and which
arguments they take, which test fixtures Nova ships.  Every such difference
the harness meets is bridged here, and only here: the rest of the harness
asks this module (``from harness.world import nova_releases``) and never
tests a Nova version itself.

Each bridge looks at the installed Nova (a function or attribute present or
not), never at its version number, so a source tree between two releases
gets whichever behaviour it has.

``python -m harness.world.nova_releases`` imports Nova through the adapter
and prints what it found as one JSON line (the matrix uses it to check a new
environment).
"""
from __future__ import annotations

import importlib.util
import os
import sys

DISABLE_EVENTLET = "OS_NOVA_DISABLE_EVENTLET_PATCHING"
# Set to 0/1 to force or forbid eventlet in an eventlet-era Nova.
HARNESS_EVENTLET = "HARNESS_NOVA_EVENTLET"


def _module_source(name: str) -> str:
    """The source of a Nova module, read without importing it (importing
    nova.monkey_patch is what starts eventlet in the older releases)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        raise ImportError("no module named %s" % name)
    with open(spec.origin, encoding="utf-8") as f:
        return f.read()


def concurrency_era(src: str | None = None) -> str:
    """``"threading"`` when Nova chooses its concurrency at start-up
    (``nova.monkey_patch.patch()``, Nova 32 on), else ``"eventlet"``
    (27 .. 31): Nova monkey patches when ``nova.monkey_patch`` is first
    imported.  ``src``: the module's source (default: the installed
    Nova's)."""
    if src is None:
        src = _module_source("nova.monkey_patch")
    return "threading" if "\ndef patch(" in src else "eventlet"


def compute_runs_natively(src: str | None = None) -> bool:
    """Whether this Nova's compute service can run on native threads: its
    ``ProviderTree`` (deep-copied on every update to placement) copies
    without its lock (``ProviderTree.__getstate__``, Nova 33 on).  Nova 32
    has the start-up choice (``patch()``) but native threading there was
    for other services; its compute still ran on eventlet (its
    ProviderTree's ``threading.Semaphore`` cannot be deep-copied).
    ``src``: the module's source (default: the installed Nova's)."""
    if src is None:
        src = _module_source("nova.compute.provider_tree")
    return "def __getstate__(" in src


_STARTED: dict = {}


def start() -> dict:
    """Start Nova the way its own test suite of that release does.

    * threading era: native threads (``OS_NOVA_DISABLE_EVENTLET_PATCHING=1``
      unless the caller set it) and ``nova.monkey_patch.patch()``;
    * eventlet era: Nova's tests always ran monkey patched
      (``nova/test.py`` imports ``nova.monkey_patch``), so the adapter
      imports it with patching enabled.  ``HARNESS_NOVA_EVENTLET=0`` runs
      it unpatched instead.

    Returns what was chosen (recorded in every run record).
    """
    if _STARTED:
        return dict(_STARTED)
    era = concurrency_era()
    if era == "threading" and not compute_runs_natively():
        # Nova 32: patch() chooses, and its compute needs eventlet.  Nova
        # modules call patch() again when imported, so the choice holds
        # for the whole process (the variable stays unset).
        if os.environ.get(HARNESS_EVENTLET, "1").lower() in (
                "0", "no", "false"):
            os.environ[DISABLE_EVENTLET] = "1"
        else:
            os.environ.pop(DISABLE_EVENTLET, None)
        import nova  # noqa: F401
        from nova import monkey_patch
        if not getattr(monkey_patch, "_HARNESS_DONE", False):
            monkey_patch.patch()
            monkey_patch._HARNESS_DONE = True
        patched = _eventlet_patched()
    elif era == "threading":
        os.environ.setdefault(DISABLE_EVENTLET, "1")
        import nova  # noqa: F401
        from nova import monkey_patch
        if "eventlet" not in sys.modules and not getattr(
                monkey_patch, "_HARNESS_DONE", False):
            monkey_patch.patch()
            monkey_patch._HARNESS_DONE = True
        patched = _eventlet_patched()
    else:
        want = os.environ.get(HARNESS_EVENTLET, "1").lower() not in (
            "0", "no", "false")
        saved = os.environ.pop(DISABLE_EVENTLET, None)
        if not want:
            os.environ[DISABLE_EVENTLET] = "1"
        try:
            import nova  # noqa: F401
            import nova.monkey_patch  # noqa: F401 - patches on import
        finally:
            if saved is None:
                os.environ.pop(DISABLE_EVENTLET, None)
            else:
                os.environ[DISABLE_EVENTLET] = saved
        patched = _eventlet_patched()
    if patched:
        _socket_guard_follows_eventlet()
    _STARTED.update(era=era, eventlet_patched=bool(patched))
    return dict(_STARTED)


def _socket_guard_follows_eventlet() -> None:
    """Eventlet era: pytest-socket (the harness's loopback-only guard)
    keeps the ``socket.socket`` class and ``connect`` it found at import,
    before eventlet replaced the class with ``GreenSocket``.  Its guard
    then calls the real ``connect`` on a green socket (``TypeError:
    descriptor 'connect' ... doesn't apply to a 'GreenSocket'``: a Unix
    socket to the database server fails) and its teardown puts the
    unpatched class back.  Both now follow the patched class."""
    import socket
    guard = sys.modules.get("pytest_socket")
    if guard is None or getattr(guard, "_true_socket", None) is socket.socket:
        return
    connect = socket.socket.connect
    if connect is getattr(guard, "guarded_connect", None):
        return      # a guard is active now: it put its own connect there
    guard._true_socket = socket.socket
    guard._true_connect = connect


def _eventlet_patched() -> bool:
    if "eventlet" not in sys.modules:
        return False
    import eventlet.patcher
    return eventlet.patcher.is_monkey_patched("thread")


def started() -> dict:
    return dict(_STARTED)


# ----------------------------------------------------------------------
# module-level state Nova's own tests reset between tests
# ----------------------------------------------------------------------
def reset_release_globals() -> None:
    """The resets whose form changed between releases (the rest is in
    :func:`harness.world.novaenv.reset_globals`).

    * the cell caches: ``nova.context.reset_globals()`` from Nova 33;
      before, ``nova/test.py`` emptied ``CELL_CACHE`` and ``CELLS`` itself;
    * the PCI alias cache: ``get_alias_from_config`` is memoized (and
      cleared between tests) in newer releases; 27 parses the alias on
      every call and has nothing to clear.
    """
    from nova import context
    from nova.pci import request as pci_request
    if hasattr(context, "reset_globals"):
        context.reset_globals()
    else:
        context.CELL_CACHE = {}
        context.CELLS = []
    cached = getattr(pci_request, "get_alias_from_config", None)
    if hasattr(cached, "cache_clear"):
        cached.cache_clear()


# ----------------------------------------------------------------------
# fixtures
# ----------------------------------------------------------------------
def placement_fixture_on(database):
    """Nova's functional ``PlacementFixture`` whose Placement database is
    ``database(conf_fixture, db)`` (a fixture; ``db`` the engine kind the
    class is instantiated with, default sqlite), as a fixture class.

    Placement 16 calls ``_configure_placement(conf_fixture)``
    between registering its options and setting up the database: the
    database goes there.  Older Placement (9 .. 15, paired with Nova 27 ..
    33) has no such hook; there the adapter makes the config fixture,
    registers Placement's options and sets up the database first, then hands
    the config fixture to ``PlacementFixture(conf_fixture=...,
    register_opts=False, db=False)``, which is the same order.
    """
    import fixtures
    from nova.tests.functional import fixtures as func_fixtures
    from placement.tests.functional.fixtures import placement as pfix
    base = func_fixtures.PlacementFixture

    if hasattr(pfix.PlacementFixture, "_configure_placement"):
        class HookedPlacementFixture(base):
            def __init__(self, db="sqlite"):
                super().__init__(db=False)
                self.engine_kind = db

            def _configure_placement(self, conf_fixture):
                self.useFixture(database(conf_fixture, self.engine_kind))
        return HookedPlacementFixture

    class PreparedPlacementFixture(fixtures.Fixture):
        def __init__(self, db="sqlite"):
            super().__init__()
            self.engine_kind = db

        def _setUp(self):
            from oslo_config import cfg
            from oslo_config import fixture as config_fixture
            from placement import conf as placement_conf
            conf_fixture = self.useFixture(
                config_fixture.Config(cfg.ConfigOpts()))
            placement_conf.register_opts(conf_fixture.conf)
            self.useFixture(database(conf_fixture, self.engine_kind))
            self.placement = self.useFixture(base(
                conf_fixture=conf_fixture, db=False, register_opts=False))

        @property
        def endpoint(self):
            return self.placement.endpoint

        def __getattr__(self, name):   # _fake_get and the rest
            if name == "placement":
                raise AttributeError(name)
            return getattr(self.placement, name)
    return PreparedPlacementFixture


# ----------------------------------------------------------------------
# the resource tracker
# ----------------------------------------------------------------------
def schema_columns(table, cols: dict) -> dict:
    """The entries of ``cols`` that ``table`` has as columns: a row the
    harness inserts directly (a record fault) in the shape of this
    release's schema (``migrations.dest_compute_id`` arrived in 28)."""
    return {k: v for k, v in cols.items() if k in table.columns}


def set_service_ref(rt, service) -> None:
    """Hand the tracker its compute service record.

    ``ResourceTracker.set_service_ref`` arrived in Nova 28 (compute nodes
    carry a ``service_id`` since); before it the tracker looked its service
    up itself and there is nothing to hand over.
    """
    setter = getattr(rt, "set_service_ref", None)
    if setter is not None:
        setter(service)


# ----------------------------------------------------------------------
# the services
# ----------------------------------------------------------------------
def service_kwargs(binary: str) -> dict:
    """What ``Service.create`` takes for a world's service: no heartbeat
    timer (the world is driven), and for a compute the second RPC topic
    its graceful shutdown uses (Nova 33 on; ``nova.test.start_service``
    passes it)."""
    from nova.compute import rpcapi as compute_rpcapi
    kwargs = {"report_interval": 0}
    alt = getattr(compute_rpcapi, "RPC_TOPIC_ALT", None)
    if binary == "compute" and alt is not None:
        kwargs["topic_alt"] = alt
    return kwargs


def synchronous_work_fixtures() -> list:
    """Nova's own fixtures that run what a service spawns in the calling
    thread: ``SpawnIsSynchronousFixture`` (every release), and where the
    compute manager still builds its own ``futurist`` pools (the live
    migration executor, before Nova 33's ``thread_pool_factory``)
    ``SynchronousThreadPoolExecutorFixture``."""
    from nova.tests import fixtures as nova_fixtures
    out = [nova_fixtures.SpawnIsSynchronousFixture()]
    sync_pool = getattr(nova_fixtures, "SynchronousThreadPoolExecutorFixture",
                        None)
    if sync_pool is not None:
        out.append(sync_pool())
    return out


def node_identity_fixtures() -> list:
    """Nova's ``ComputeNodeIdFixture``, and what it means to patch where
    it does not manage to: some releases' fixture patches
    ``_ensure_existing_node_identity`` with ``unittest.mock.DEFAULT``,
    which the ``mock`` backport (installed beside those releases) does not
    recognise and sets literally (a restarted compute then fails with
    "'_SentinelObject' object is not callable").  There it becomes the
    no-op the fixture means."""
    import fixtures
    from nova.tests import fixtures as nova_fixtures

    class NodeIdentity(fixtures.Fixture):
        def _setUp(self):
            self.useFixture(nova_fixtures.ComputeNodeIdFixture())
            from nova.compute import manager
            ensure = getattr(manager.ComputeManager,
                             "_ensure_existing_node_identity", None)
            if ensure is not None and not callable(ensure):
                self.useFixture(fixtures.MonkeyPatch(
                    "nova.compute.manager.ComputeManager."
                    "_ensure_existing_node_identity",
                    lambda self, service_ref: None))

    return [NodeIdentity()]


def main() -> int:
    import json
    from harness.world import novaenv
    info = novaenv.version_info()
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
