"""Which of Nova's code paths ran: the blamed mechanisms, observed.

A claim blames a mechanism: a function, one of its ``except`` handlers, or
the lines that do one thing (``itype.flavorid`` read before ``itype`` is
checked).  A :class:`Mechanism` names it against the installed Nova; it is
resolved with :mod:`inspect` and :mod:`ast` to a code object and the line
numbers that belong to it, so the same name works on any release that has
the function.  :class:`PathTracer` is a fixture that counts, while it is
active, how often each mechanism ran: ``sys.settrace`` (and
``threading.settrace`` for threads started meanwhile) with a global tracer
that ignores every frame but the watched code objects, so nothing of Nova
is replaced or wrapped.  A log line alone is never taken as proof that a
path ran.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import sys
import textwrap
import threading

import fixtures


@dataclasses.dataclass(frozen=True)
class Mechanism:
    """A code path of Nova's, by name.

    ``function``: dotted path (``nova.compute.resource_tracker.
    ResourceTracker._update_usage_from_migrations``).  With ``handler``,
    only the body of the ``except`` clause naming that exception counts;
    with ``line``, only the lines whose source contains that text; with
    neither, any call of the function.
    """
    label: str
    function: str
    handler: str | None = None
    line: str | None = None
    doc: str = ""

    def where(self) -> str:
        what = ("except %s handler" % self.handler if self.handler
                else "line(s) with %r" % self.line if self.line
                else "any call")
        return "%s (%s)" % (self.function, what)


class Unresolvable(LookupError):
    """The named function, handler or line is not in the installed Nova."""


def resolve_function(dotted: str, unwrap: bool = True):
    """The object at ``dotted``; decorators peeled off unless ``unwrap``
    is False (then it is the attribute as the class or module holds it)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            raise Unresolvable("%s: no such attribute in the installed Nova"
                               % dotted) from None
        return inspect.unwrap(obj) if unwrap else obj
    raise Unresolvable("%s: module not importable" % dotted)


def _handler_names(node: ast.ExceptHandler) -> list[str]:
    if node.type is None:
        return []
    types = node.type.elts if isinstance(node.type, ast.Tuple) \
        else [node.type]
    return [t.attr if isinstance(t, ast.Attribute) else getattr(t, "id", "")
            for t in types]


def resolve(mech: Mechanism):
    """(code object, frozenset of absolute line numbers, or None for any
    call) for ``mech`` in the installed Nova."""
    func = resolve_function(mech.function)
    code = getattr(func, "__code__", None)
    if code is None:
        raise Unresolvable("%s is not a Python function" % mech.function)
    if mech.handler is None and mech.line is None:
        return code, None
    lines, first = inspect.getsourcelines(func)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    wanted: set[int] = set()
    if mech.handler is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and \
                    mech.handler in _handler_names(node):
                for stmt in node.body:
                    wanted.add(stmt.lineno + first - 1)
    if mech.line is not None:
        for i, text in enumerate(lines):
            if mech.line in text:
                wanted.add(first + i)
    if not wanted:
        raise Unresolvable("%s: no %s in the installed Nova"
                           % (mech.function, "except %s" % mech.handler
                              if mech.handler else "line with %r"
                              % mech.line))
    return code, frozenset(wanted)


class PathTracer(fixtures.Fixture):
    """Count, while active, how often each mechanism ran.

    ``hits[label]`` after clean-up (or at any time) is the count; a
    mechanism that cannot be resolved in this Nova is listed in
    ``unresolved`` with the reason and never counts.
    """

    def __init__(self, mechanisms):
        super().__init__()
        self.mechanisms = list(mechanisms)
        self.hits: dict[str, int] = {m.label: 0 for m in self.mechanisms}
        self.unresolved: dict[str, str] = {}
        self._calls: dict = {}    # code -> [labels counted per call]
        self._lines: dict = {}    # code -> [(label, lines)]

    def _setUp(self):
        for m in self.mechanisms:
            try:
                code, lines = resolve(m)
            except (Unresolvable, OSError, TypeError) as exc:
                self.unresolved[m.label] = str(exc)
                continue
            if lines is None:
                self._calls.setdefault(code, []).append(m.label)
            else:
                self._lines.setdefault(code, []).append((m.label, lines))
        watched = set(self._calls) | set(self._lines)
        hits, calls, by_line = self.hits, self._calls, self._lines

        def local(frame, event, arg):
            if event == "line":
                for label, lines in by_line[frame.f_code]:
                    if frame.f_lineno in lines:
                        hits[label] += 1
            return local

        def tracer(frame, event, arg):
            code = frame.f_code
            if code not in watched:
                return None
            for label in calls.get(code, ()):
                hits[label] += 1
            return local if code in by_line else None

        previous, previous_threads = sys.gettrace(), threading.gettrace()
        sys.settrace(tracer)
        threading.settrace(tracer)
        self.addCleanup(sys.settrace, previous)
        self.addCleanup(threading.settrace, previous_threads)

    def stop(self):
        """Clean up if set up; the counts stay readable."""
        if getattr(self, "_cleanups", None) is not None:
            self.cleanUp()

    def ran(self, label: str) -> bool:
        return self.hits.get(label, 0) > 0
