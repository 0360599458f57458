"""The operations a world performed, as data.

Every verb a user or operator performs on a world (``World.boot``,
``World.resize``, the lifecycle functions...) is decorated with
:func:`verb`: each call made from outside the world's own verbs is
appended to ``world.calls`` as a :class:`Call` (the verb's name and its
arguments by name) when it starts, and its outcome (``ok`` or the
exception's text) when it ends.  After each such call the world's
``after_verb(name)`` runs (the world's ledger learns what came of it).  The list is what a reproducer replays
and what ``python -m harness export`` writes as a Nova regression test.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect


@dataclasses.dataclass
class Call:
    verb: str
    args: dict
    outcome: str = ""
    # what the operation left, where the world records it (World(
    # record_states=True)): the named server's status, task state, host
    # and its newest migration's status
    after: dict = dataclasses.field(default_factory=dict)

    def __str__(self):
        return "%s(%s)%s" % (self.verb, ", ".join(
            "%s=%r" % kv for kv in self.args.items()),
            " -> %s" % self.outcome if self.outcome else "")


def verb(fn):
    """Record top-level calls of ``fn(world, ...)`` in ``world.calls``."""
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def call(world, *args, **kwargs):
        depth = getattr(world, "_verb_depth", 0)
        record = None
        if depth == 0 and hasattr(world, "calls"):
            bound = sig.bind(world, *args, **kwargs)
            bound.apply_defaults()
            named = dict(list(bound.arguments.items())[1:])
            record = Call(fn.__name__, named)
            world.calls.append(record)
        world._verb_depth = depth + 1
        try:
            result = fn(world, *args, **kwargs)
        except BaseException as exc:
            if record is not None:
                record.outcome = "%s: %s" % (type(exc).__name__, exc)
            raise
        finally:
            world._verb_depth = depth
            if depth == 0 and hasattr(world, "after_verb"):
                world.after_verb(fn.__name__)
        if record is not None:
            record.outcome = "ok"
        return result
    return call
