"""Which host the scheduler picks: an operator's weigher.

A world steers where an instance lands the way an operator can: through
the scheduler's configured weighers (``[filter_scheduler] weight_classes``).
:class:`PreferredHostWeigher` ranks hosts by the order the harness names
before a request (``preferred``), so the real scheduler, filters and all,
still decides: a host the filters reject is not chosen, and the hosts after
the first become the request's alternates (what a reschedule uses).  The
REST API has no destination for a resize; for every other move the world
names the host in the request as a user or operator would.
"""
from __future__ import annotations

import contextlib

# host names, most preferred first; hosts not named come after, by name
PREFERRED: list[str] = []
WEIGHER = "harness.world.scheduling.PreferredHostWeigher"


def _weigher_base():
    from nova.scheduler import weights
    return weights.BaseHostWeigher


def __getattr__(name):
    # The weigher class is built on Nova's base class at first use (the
    # harness imports Nova lazily; the scheduler imports it by name).
    if name == "PreferredHostWeigher":
        cls = _weigher()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def _weigher():
    base = _weigher_base()

    class PreferredHostWeigher(base):
        """Weigh the hosts the harness prefers first, in its order."""

        def _weigh_object(self, host_state, weight_properties):
            order = PREFERRED
            if host_state.host in order:
                return float(len(order) - order.index(host_state.host))
            return 0.0

    PreferredHostWeigher.__module__ = __name__
    return PreferredHostWeigher


@contextlib.contextmanager
def prefer(*hosts: str):
    """While the block runs, the scheduler prefers ``hosts`` in order."""
    saved = list(PREFERRED)
    PREFERRED[:] = [h for h in hosts if h]
    try:
        yield
    finally:
        PREFERRED[:] = saved


def reset():
    PREFERRED.clear()
