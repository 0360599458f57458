"""The adapter on the oldest (27, 2023.1) and the newest (34, 2026.2) Nova.

Each test builds a real world in that release's environment (the matrix's
cached ``.matrix/<release>/venv``, or this interpreter when it runs that
series), boots, resizes across hosts, confirms, restarts a compute service
(a new tracker), audits through the tracker
and through the compute manager, and checks every invariant against the
ledger; and it shows the adapter's bridges were the ones taken (eventlet
era or threading era, the service-ref hand-over, the Placement fixture
form).  A release whose environment has not been built is skipped with the
command that builds it.  The adapter's decisions themselves are unit-tested
in ``tests/test_matrix.py`` and run everywhere.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.matrix import envs, releases

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORLD = r'''
import json, sys
from harness.world import novaenv, nova_releases
novaenv.load()
from harness.world.deployment import World
from harness.oracle import invariants as inv
from nova.compute import resource_tracker
from placement.tests.functional.fixtures import placement as pfix

w = World()
w.setUp()
try:
    w.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
    w.create_flavor("big", vcpus=2, memory_mb=1024, root_gb=20)
    w.boot("vm1", "small", "src")
    w.boot("vm2", "small", "dst")
    w.resize("vm1", "big", "dst")
    mid = []
    w.confirm("vm1")
    # a compute service restart makes a new tracker: the service-ref
    # hand-over goes through the adapter (Nova 27 has no set_service_ref)
    from harness.world import lifecycle
    lifecycle.restart(w, "src")
    audits = w.audit() + w.audit(via="service")
    snap = w.snapshot("after")
    violations = inv.check_all(snap, w.ledger) + inv.audit_completed(audits)
    out = {
        "version": novaenv.version_info(),
        "era": nova_releases.concurrency_era(),
        "started": nova_releases.started(),
        "has_set_service_ref": hasattr(resource_tracker.ResourceTracker,
                                       "set_service_ref"),
        "placement_hook": hasattr(pfix.PlacementFixture,
                                  "_configure_placement"),
        "placement_fixture": type(w.placement.fixture).__name__,
        "violations": [str(v) for v in mid + violations],
        "audits": len(audits),
    }
finally:
    w.cleanUp()
print("RESULT " + json.dumps(out, default=str))
'''


def _python_for(series: int):
    """(python, how) for a series: this interpreter when it runs that
    series, else the matrix's cached environment of its newest release."""
    try:
        from importlib import metadata
        here = metadata.version("nova")
    except Exception:  # noqa: BLE001 - no nova here
        here = ""
    if here.split(".")[0] == str(series):
        return sys.executable, "this interpreter (nova %s)" % here
    rel = releases.parse(str(series))
    # the release's Nova is what matters here: an environment built from
    # older pins of the same release will do
    env = envs.cached(rel, stale_ok=True)
    if env is None:
        pytest.skip("no cached environment for Nova %s under %s: build it "
                    "with 'python -m harness matrix --nova %d --build-only'"
                    % (rel.label, envs.CACHE, series))
    return env.python, env.path


def _world_in(series: int) -> dict:
    python, _how = _python_for(series)
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("OS_NOVA_DISABLE_EVENTLET_PATCHING", None)
    proc = subprocess.run([python, "-c", WORLD], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_world_under_the_oldest_series():
    out = _world_in(releases.OLDEST)
    assert out["version"]["nova"].startswith("27.")
    assert out["version"]["placement"] == releases.SERIES[27].placement
    # eventlet era, patched as Nova 27's own tests ran
    assert out["era"] == "eventlet"
    assert out["started"] == {"era": "eventlet", "eventlet_patched": True}
    # the bridges the adapter had to take
    assert out["has_set_service_ref"] is False
    assert out["placement_hook"] is False
    assert out["placement_fixture"] == "PreparedPlacementFixture"
    assert out["violations"] == []


def test_world_under_the_newest_series():
    out = _world_in(releases.NEWEST)
    assert out["version"]["nova"].startswith("34.")
    assert out["era"] == "threading"
    assert out["started"]["era"] == "threading"
    assert out["has_set_service_ref"] is True
    assert out["placement_hook"] is True
    assert out["placement_fixture"] == "HookedPlacementFixture"
    assert out["violations"] == []


def test_socket_guard_follows_eventlets_socket_class(monkeypatch):
    """Eventlet era: pytest-socket's saved class and connect follow the
    green socket class once eventlet has patched, so its guard neither
    calls the real connect on a green socket nor un-patches the class on
    teardown; nothing changes while a guard is active or already
    follows."""
    import socket
    import types
    from harness.world import nova_releases

    class Green:
        def connect(self, address):
            return address

    def guarded_connect(inst, *args):
        raise AssertionError("not the guard")

    real = socket.socket
    guard = types.SimpleNamespace(_true_socket=real,
                                  _true_connect=real.connect,
                                  guarded_connect=guarded_connect)
    monkeypatch.setitem(sys.modules, "pytest_socket", guard)
    monkeypatch.setattr(socket, "socket", Green)
    nova_releases._socket_guard_follows_eventlet()
    assert guard._true_socket is Green
    assert guard._true_connect is Green.connect

    # a guard active right now: its own connect is on the class: keep
    guard._true_socket = real
    monkeypatch.setattr(Green, "connect", guarded_connect)
    nova_releases._socket_guard_follows_eventlet()
    assert guard._true_socket is real


def test_a_directly_inserted_row_takes_this_releases_columns():
    """A record fault's raw row keeps only the columns the release's
    table has (``migrations.dest_compute_id`` is Nova 28 on); the rest of
    the row is untouched."""
    import sqlalchemy as sa
    from harness.world import nova_releases
    table = sa.Table("migrations", sa.MetaData(),
                     sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("dest_node", sa.String(255)))
    cols = {"dest_node": "dst", "dest_compute_id": 3}
    assert nova_releases.schema_columns(table, cols) == {"dest_node": "dst"}
    assert cols == {"dest_node": "dst", "dest_compute_id": 3}
