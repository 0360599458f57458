"""The names a scenario uses, checked where it uses them.

A scenario names invariants (``decide(invariants=..., predicts=...)``),
stages, what-ifs (``counterfactual=``, the values of ``explained_by``),
fault classes (``Trial(condition_authority=...)``) and finding ids (the
keys of ``explained_by``).  A name the harness does not know would
otherwise decide silently: a misspelt invariant matches no violation, so
the verdict comes out REFUTED.  Here every such name is checked against
what the harness defines; an unknown one raises :class:`UnknownName`,
which the pytest plugin turns into a harness error (``python -m harness
run`` exits 2 with that one line), never a verdict.

Where the known names come from, none of them written down twice:

* invariants: every name a check of the harness can report, read from
  its source (:func:`known_invariants`: the first argument of each
  ``Violation(...)`` call, the invariant of each ``attempt_as(...)``), in
  the ``harness`` package and in the scenario's own module;
* stages: :data:`harness.verdicts.judge.STAGES`;
* what-ifs: :data:`harness.verdicts.counterfactual.WHAT_IFS`;
* fault classes: :data:`harness.faults.base.AUTHORITY_CLASSES`;
* finding ids: the catalogue's findings.
"""
from __future__ import annotations

import ast
import difflib
import functools
import os

HARNESS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class UnknownName(Exception):
    """A scenario names an invariant, stage, what-if, fault class or
    finding the harness does not know.  ``str()`` is one line: what is
    wrong and how to mend it."""


def _suggest(name, known) -> str:
    close = difflib.get_close_matches(str(name), [str(k) for k in known],
                                      n=1, cutoff=0.6)
    return "did you mean %r? " % close[0] if close else ""


def _unknown(kind: str, name, known, where: str, mend: str) -> UnknownName:
    known = sorted(map(str, known))
    listed = ("none known" if not known
              else "known: %s" % ", ".join(known) if len(known) <= 12
              else "%d known" % len(known))
    return UnknownName(
        "%sunknown %s %r; %s%s (%s)" % (
            "%s: " % where if where else "", kind, name,
            _suggest(name, known), mend, listed))


# ---------------------------------------------------------------------------
# invariants: read from the checks' own source
# ---------------------------------------------------------------------------
def _called(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")


def _literal(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def invariants_in(source: str) -> set[str]:
    """The invariant names a module's source can report: the first
    argument (or ``invariant=``) of each ``Violation(...)`` call and the
    invariant (second argument) of each ``attempt_as(...)`` call, where
    they are string literals."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name, at = _called(node), None
        if name == "Violation":
            at = 0
        elif name == "attempt_as":
            at = 1
        if at is None:
            continue
        args = list(node.args)
        found = _literal(args[at]) if len(args) > at else None
        for kw in node.keywords:
            if kw.arg == "invariant":
                found = _literal(kw.value) or found
        if found:
            out.add(found)
    return out


@functools.lru_cache(maxsize=None)
def _file_invariants(path: str) -> frozenset:
    with open(path, encoding="utf-8") as f:
        return frozenset(invariants_in(f.read()))


@functools.lru_cache(maxsize=1)
def _harness_invariants() -> frozenset:
    out: set[str] = set()
    for folder, _dirs, files in os.walk(HARNESS):
        for name in files:
            if name.endswith(".py"):
                out |= _file_invariants(os.path.join(folder, name))
    return frozenset(out)


def known_invariants(sources=()) -> frozenset:
    """Every invariant the harness's checks can report, and those the
    modules at ``sources`` (a scenario's own file) report."""
    out = set(_harness_invariants())
    for path in sources:
        if path and os.path.exists(path):
            out |= _file_invariants(path)
    return frozenset(out)


# ---------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------
def check_invariants(names, where: str = "", sources=()) -> None:
    if names is None:
        return
    if isinstance(names, str):
        raise UnknownName("%sinvariants=%r is one string, not a list of "
                          "invariant names; write (%r,)" % (
                              "%s: " % where if where else "", names,
                              names))
    known = known_invariants(sources)
    for name in names:
        if name not in known:
            raise _unknown("invariant", name, known, where,
                           "name an invariant the oracle's checks report "
                           "(harness/oracle/)")


# The stages a trial is judged in, in order.
STAGES = ("before", "under_fault", "during", "after_clear")


def check_stages(stages, where: str = "") -> None:
    for stage in stages:
        if stage not in STAGES:
            raise _unknown("stage", stage, STAGES, where,
                           "use one of the trial's stages")


def check_whatif(name, where: str = "") -> None:
    if name is None:
        return
    from harness.verdicts.counterfactual import WHAT_IFS
    if name not in WHAT_IFS:
        raise _unknown("what-if", name, WHAT_IFS, where,
                       "name a counterfactual defined in "
                       "harness/verdicts/counterfactual.py (WHAT_IFS)")


def check_fault_class(name, where: str = "") -> None:
    from harness.faults.base import AUTHORITY_CLASSES
    if name not in AUTHORITY_CLASSES:
        raise _unknown("fault class", name, AUTHORITY_CLASSES, where,
                       "use a data-authority class of "
                       "harness/faults/base.py")


def check_finding(fid, known, where: str = "") -> None:
    """``known``: the catalogue's finding ids (None: no catalogue could be
    read, which the plugin refuses before this)."""
    if known is None:
        return
    if fid not in known:
        raise _unknown("finding id", fid, known, where,
                       "name a finding of scenarios/catalogue.yaml")
