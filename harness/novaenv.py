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
    # Native threading, the mode Nova is moving its services to.  It must be
    # chosen before anything imports eventlet, hence first.
    os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")
    try:
        import nova  # noqa: F401
        from nova import monkey_patch
        if "eventlet" not in sys.modules and not getattr(
                monkey_patch, "_HARNESS_DONE", False):
            monkey_patch.patch()
            monkey_patch._HARNESS_DONE = True
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
    return {"nova": version, "nova_path": path, "nova_source": source,
            "placement": placement_version,
            "python": sys.version.split()[0]}


def reset_globals():
    """Reset Nova's module-level caches (the list nova/test.py resets)."""
    load()
    from nova import context
    from nova import objects
    from nova import rpc
    from nova.compute import api as compute_api
    from nova.compute import rpcapi as compute_rpcapi
    from nova.objects import base as objects_base
    from nova.scheduler.client import report
    from nova import quota
    from nova.pci import request as pci_request

    report.PLACEMENTCLIENT = None
    compute_api.CELLS = []
    context.reset_globals()
    compute_rpcapi.reset_globals()
    objects_base.NovaObject.indirection_api = None
    objects.Service.clear_min_version_cache()
    quota.UID_QFD_POPULATED_CACHE_BY_PROJECT = set()
    quota.UID_QFD_POPULATED_CACHE_ALL = False
    pci_request.get_alias_from_config.cache_clear()
    try:
        from nova.api.openstack import wsgi_app
        wsgi_app.init_global_data.reset()
        wsgi_app.init_application.reset()
    except Exception:  # pragma: no cover - optional in some trees
        pass
    del rpc  # imported so its globals exist before RPCFixture patches them
