"""How an operation on a world can end otherwise than asked."""
from __future__ import annotations


class Refused(Exception):
    """The operation's precondition does not hold in this world (``fail``:
    nothing happened): Nova's API refused the request (a 4xx answer: the
    server is not in a state that allows it), or the harness has nothing
    the operation could act on."""


class NoRoom(Exception):
    """The scheduler found no host for the request (``NoValidHost``), or
    not the host the harness asked for."""


class OperationFailed(Exception):
    """Nova's services took the operation, and it ended otherwise than
    asked; the message says how."""


class Api:
    """One of the API fixture's REST clients: a 4xx answer (Nova refused
    the request) raises :class:`Refused` with Nova's own message."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            from nova.tests.functional.api import client
            try:
                return attr(*args, **kwargs)
            except client.OpenStackApiException as exc:
                status = getattr(exc.response, "status_code", 500)
                if 400 <= status < 500:
                    raise Refused("the API refused %s: %s %s" % (
                        name, status, _message(exc))) from exc
                raise
        return call

    def __setattr__(self, name, value):
        if name == "_client":
            object.__setattr__(self, name, value)
        else:
            setattr(self._client, name, value)


def _message(exc) -> str:
    try:
        body = exc.response.json()
        return next(iter(body.values())).get("message", str(body))
    except Exception:  # noqa: BLE001 - the raw text then
        return str(exc)
