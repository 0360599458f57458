"""The report client's direct transport to Placement (DirectTransport).

Nova's requests reach the same Placement app, behind the same fault
middleware, with the same WSGI environ and the same response as through
wsgi-intercept; faults still reach Nova through it.
"""
from __future__ import annotations

import io

import pytest

from harness.faults import placement as pfaults
from harness.world.placement import DirectTransport


def _session(world):
    return world.placement.fixture._client.session.session


def test_report_client_takes_the_direct_transport(booted, monkeypatch):
    """Nova's report client reaches Placement's app with neither the
    intercept's fake socket nor an environment lookup."""
    import requests
    import wsgi_intercept
    w = booted
    fx = w.placement.fixture
    session = _session(w)
    assert session.trust_env is False
    adapter = session.get_adapter(fx.endpoint + "/resource_providers")
    assert adapter.send.__qualname__.startswith("DirectTransport")

    def unused(*args, **kwargs):
        raise AssertionError("the request went through wsgi-intercept")
    monkeypatch.setattr(wsgi_intercept.wsgi_fake_socket, "makefile", unused)
    monkeypatch.setattr(requests.utils, "get_environ_proxies", unused)
    host = w.hosts["src"]
    before = len(w.placement.calls)
    tree = host.reportclient.get_providers_in_tree(w.ctx, host.rp_uuid)
    assert [rp["uuid"] for rp in tree] == [host.rp_uuid]
    (results,) = w.audit("src")
    assert results.ok, results
    calls = w.placement.calls[before:]
    assert calls and all(c.status == 200 for c in calls), calls
    assert calls[0].path == "/resource_providers?in_tree=%s" % host.rp_uuid


def test_same_environ_and_response_as_the_intercept(booted):
    """Each request builds the environ wsgi-intercept builds and answers
    what the intercept answers (request ids and dates aside)."""
    from keystoneauth1 import adapter as ka
    from keystoneauth1 import session as ks
    w = booted
    fx = w.placement.fixture
    middleware = w.placement.middleware
    app, environs = middleware.app, []

    def record(environ, start_response):
        body = environ["wsgi.input"].read()
        environ["wsgi.input"] = io.BytesIO(body)
        seen = dict(environ, **{"wsgi.input": body})
        seen.pop("wsgi.errors")
        environs.append(seen)
        return app(environ, start_response)
    middleware.app = record
    intercepted = ka.Adapter(ks.Session(auth=None), raise_exc=False)
    rp = w.hosts["src"].rp_uuid
    consumer = w.instance("vm1").uuid
    requests = [
        ("GET", "/resource_providers?in_tree=%s" % rp, None, "1.14"),
        ("GET", "/allocations/%s" % consumer, None, "1.28"),
        ("PUT", "/resource_providers/%s/traits" % rp,
         {"traits": ["CUSTOM_X"], "resource_provider_generation": 999},
         "1.6"),
        ("DELETE", "/allocations/%s" % ("0" * 32), None, None),
        ("GET", "/no/such/%C3%A9", None, None),
    ]
    ignored = {"x-openstack-request-id", "openstack-request-id", "date"}
    try:
        for method, path, body, version in requests:
            answers = []
            for client in (fx._client, intercepted):
                headers = {"x-auth-token": "admin"}
                if version:
                    headers["OpenStack-API-Version"] = "placement " + version
                kwargs = {"json": body} if body is not None else {}
                r = client.request(path, method, headers=headers,
                                   endpoint_override=fx.endpoint, **kwargs)
                answers.append((
                    r.status_code, r.reason, r.url, r.encoding,
                    {k.lower(): v for k, v in r.headers.items()
                     if k.lower() not in ignored},
                    {k: v for k, v in r.json().items()
                     if k != "errors"} if r.content else None,
                    [dict(e, request_id=None)
                     for e in r.json().get("errors", [])]
                    if r.content else None))
            assert environs[-2] == environs[-1], (method, path)
            assert answers[0] == answers[1], (method, path)
    finally:
        middleware.app = app
    assert len(environs) == 2 * len(requests)
    assert environs[0]["PATH_INFO"] == "/resource_providers"
    assert environs[0]["SCRIPT_NAME"] == "/placement"
    assert b"CUSTOM_X" in environs[4]["wsgi.input"]


def test_faults_reach_nova_through_the_direct_transport(world):
    from keystoneauth1 import exceptions as ks_exc
    w = world
    host = w.hosts["src"]
    rc = host.reportclient
    with pfaults.PlacementError(w, "GET", "^/resource_providers",
                                status=503) as fault:
        r = rc.get("/resource_providers?in_tree=%s" % host.rp_uuid,
                   version="1.14")
        assert r.status_code == 503
        assert r.reason == "Injected"
        assert "harness fault" in r.json()["errors"][0]["detail"]
    assert fault.fired == 1
    with pfaults.GenerationConflict(w, "PUT", "/traits") as fault:
        r = rc.put("/resource_providers/%s/traits" % host.rp_uuid,
                   {"traits": [], "resource_provider_generation": 1},
                   version="1.6")
        assert r.status_code == 409
        assert r.json()["errors"][0]["code"] == "placement.concurrent_update"
    with pfaults.PlacementDisconnect(w, "GET", "^/resource_providers"):
        with pytest.raises(ks_exc.ConnectFailure):
            rc.get_providers_in_tree(w.ctx, host.rp_uuid)
    assert w.audit("src")[0].ok


def test_a_read_timing_out_is_a_timeout_as_through_the_intercept(world):
    """A ``TimeoutError`` from the app's body (the conductor's inner fault
    ``timeout``) reaches keystoneauth as ``ConnectTimeout``, as urllib3's
    read timeout does through the intercept; another ``OSError`` stays a
    connection failure."""
    from keystoneauth1 import exceptions as ks_exc
    middleware = world.placement.middleware
    app = middleware.app
    rc = world.hosts["src"].reportclient
    for error, expected in ((TimeoutError("read timed out"),
                             ks_exc.ConnectTimeout),
                            (ConnectionResetError("reset"),
                             ks_exc.ConnectFailure)):
        def broken(environ, start_response, error=error):
            start_response("200 OK", [("Content-Type", "application/json")])
            raise error
            yield b""  # pragma: no cover - a generator, as a body
        middleware.app = broken
        try:
            with pytest.raises(expected):
                rc.get("/resource_providers", version="1.14")
        finally:
            middleware.app = app


def test_an_app_error_surfaces_as_through_the_intercept(world, monkeypatch):
    import wsgi_intercept
    w = world
    middleware = w.placement.middleware

    def broken(environ, start_response):
        raise RuntimeError("placement app crashed")
    monkeypatch.setattr(middleware, "app", broken)
    with pytest.raises(wsgi_intercept.WSGIAppError) as info:
        w.hosts["src"].reportclient.get("/resource_providers",
                                        version="1.14")
    assert isinstance(info.value.exception_value, RuntimeError)


def test_transport_parses_its_endpoint():
    t = DirectTransport(app=None, endpoint="http://abc-123/placement")
    assert (t.netloc, t.host, t.port, t.script_name) == (
        "abc-123", "abc-123", 80, "/placement")
