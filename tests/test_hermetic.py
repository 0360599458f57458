"""Hermetic: tests and scenarios cannot reach the network.

The plugin limits sockets to loopback for every test and scenario
(pytest-socket, ``--allow-hosts=127.0.0.1,::1`` unless the command line
says otherwise).  Nova reaches Placement through wsgi-intercept, which opens
no socket at all; anything that tries a real connection elsewhere fails
loudly instead of quietly depending on the machine it runs on.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import pytest_socket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_NET = "203.0.113.7"  # TEST-NET-3 (RFC 5737): never routed


def test_an_outbound_connection_fails_loudly():
    with pytest.raises(pytest_socket.SocketConnectBlockedError) as info:
        socket.create_connection((TEST_NET, 80), timeout=2)
    assert TEST_NET in str(info.value)
    assert "127.0.0.1" in str(info.value)  # says what is allowed


def test_an_http_client_cannot_reach_out_either():
    from keystoneauth1 import adapter as ka
    from keystoneauth1 import session as ks
    client = ka.Adapter(ks.Session(auth=None), raise_exc=False)
    with pytest.raises(Exception) as info:
        client.get("http://%s:8778/placement/" % TEST_NET,
                   connect_retries=0)
    assert "SocketConnectBlockedError" in repr(info.value) or \
        isinstance(info.value, pytest_socket.SocketConnectBlockedError)


def test_loopback_is_allowed():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        client = socket.create_connection(server.getsockname(), timeout=5)
        conn, _ = server.accept()
        client.sendall(b"ok")
        assert conn.recv(2) == b"ok"
        conn.close()
        client.close()
    finally:
        server.close()


def test_a_world_opens_no_socket_at_all(monkeypatch):
    """Building a world, booting and auditing: Nova and Placement talk
    through wsgi-intercept; not even loopback is used."""
    from harness.world.deployment import World
    connects = []
    real_connect = socket.socket.connect

    def recording_connect(sock, address):
        connects.append(address)
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    w = World()
    w.setUp()
    try:
        w.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        w.boot("vm1", "small", "src")
        w.audit()
        w.snapshot("hermetic")
    finally:
        w.cleanUp()
    assert connects == []


SCENARIO = '''
import socket

import pytest

from harness.verdicts.judge import Trial


def phone_home(world):
    socket.create_connection(("{ip}", 443), timeout=2)


@pytest.mark.claims("000-1")
def test_phones_home(judge):
    judge.trial(Trial("phones home [control]", phone_home))
    judge.decide("a scenario that uses the network")
'''


def test_a_scenario_that_uses_the_network_is_inconclusive(tmp_path):
    """In a scenario the blocked connection is a harness failure: the
    verdict is INCONCLUSIVE with the blocked connection in its traceback."""
    (tmp_path / "test_net.py").write_text(
        textwrap.dedent(SCENARIO).format(ip=TEST_NET))
    verdicts = tmp_path / "v.json"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep +
               os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path),
         "-p", "harness.plugin", "-p", "no:randomly",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "--baseline", str(tmp_path / "b.json"), "--record-baseline",
         "--verdicts-json", str(verdicts)],
        cwd=str(tmp_path), env=env, capture_output=True, text=True,
        timeout=600)
    assert "network: connections only to 127.0.0.1,::1" in proc.stdout
    assert "harness seed: none (deterministic" in proc.stdout  # the report header
    doc = json.loads(verdicts.read_text())
    (s,) = doc["scenarios"]
    assert s["verdict"] == "INCONCLUSIVE"
    assert "SocketConnectBlockedError" in s["traceback"]
    assert TEST_NET in s["traceback"]


def test_hypothesis_draws_do_not_depend_on_the_loaded_modules(tmp_path,
                                                                monkeypatch):
    """Hypothesis mixes literal constants of every local module loaded in
    the process into its draws; a derandomized property then drew other
    examples alone than in the suite.  Under the plugin it draws from its
    seed only: loading a module full of constants changes nothing."""
    from hypothesis import given, settings, strategies as st
    from hypothesis.internal.conjecture import providers

    def draws():
        seen = []

        @settings(derandomize=True, max_examples=30, database=None)
        @given(st.integers(), st.text(max_size=5))
        def prop(i, s):
            seen.append((i, s))
        prop()
        return seen

    before = draws()
    (tmp_path / "lots_of_constants.py").write_text(
        "A = 987654321\nB = 'zebra-constant'\nC = -424242\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import lots_of_constants  # noqa: F401 - a new local module
    assert len(providers._get_local_constants()) == 0
    assert draws() == before
