"""Evaluate a proposed replacement for one of the tracker's methods.

A review may propose new code for a method of
:class:`nova.compute.resource_tracker.ResourceTracker`.  :func:`evaluate`
takes the file holding that proposal (pure Python, or text/markdown with the
code in a fenced block), loads the function at run time, and runs the
migration scenario family twice per shape: once with the real method, once
with the candidate swapped in at the class boundary
(:class:`ReplaceMethod`, undone after the trial), with and without the
migration-record faults.  What the candidate breaks that the real method,
under the same fault, does not, is a regression; the judge decides from the
regressions (the real method's own failures are subtracted, so a candidate
is never blamed for what Nova already does).

Nothing from the proposal is stored in this repository: the code is read
from the given file each time.
"""
from __future__ import annotations

import ast
import builtins
import copy
import importlib.util
import os
import re
import textwrap

from harness.faults.base import Combined
from harness.faults.replacement import Candidate, ReplaceMethod
from harness.verdicts.judge import Judge, Observation, Trial
from harness.verdicts.verdict import Outcome

TARGET_CLASS = "nova.compute.resource_tracker.ResourceTracker"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
RECORD_SCENARIOS = os.path.join(ROOT, "scenarios",
                                "test_migration_records.py")
FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.S)


class CandidateUnavailable(Exception):
    """The proposal cannot be loaded (file missing, no definition found,
    not valid Python); the message says which."""


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------
def _defines(tree, name) -> bool:
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
               and n.name == name for n in ast.walk(tree))


def extract_code(text: str, method_name: str) -> tuple[str, str]:
    """(code, origin) defining ``method_name`` in ``text``.

    Pure Python is used as is; otherwise fenced code blocks are searched
    (the first that defines the method, or all blocks together if only that
    defines it); otherwise the ``def`` and its indented body are cut out of
    the prose.
    """
    try:
        if _defines(ast.parse(text), method_name):
            return text, "python file"
    except SyntaxError:
        pass
    blocks = [textwrap.dedent(m.group(2)) for m in FENCE.finditer(text)]
    for i, block in enumerate(blocks):
        if re.search(r"\bdef\s+%s\s*\(" % re.escape(method_name), block):
            return block, "fenced code block %d of %d" % (i + 1, len(blocks))
    lines = text.splitlines()
    pat = re.compile(r"^(\s*)def\s+%s\s*\(" % re.escape(method_name))
    for i, line in enumerate(lines):
        m = pat.match(line)
        if not m:
            continue
        indent = len(m.group(1))
        body = [line]
        for nxt in lines[i + 1:]:
            if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent \
                    and not nxt.lstrip().startswith((")", "]", "}")):
                break
            body.append(nxt)
        return textwrap.dedent("\n".join(body)), "def cut from the text"
    raise CandidateUnavailable("no definition of %s() in %s" % (
        method_name, "its fenced code blocks" if blocks else "the text"))


def _tracker_module():
    from harness.world import novaenv
    novaenv.load()
    from nova.compute import resource_tracker
    return resource_tracker


def _static_findings(code: str, method_name: str, namespace: dict):
    """Names the function reads that nothing defines, and ``self.x``
    attributes the tracker class lacks (read before the code runs)."""
    tree = ast.parse(code)
    fn = next(n for n in ast.walk(tree)
              if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
              and n.name == method_name)
    local = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
    if fn.args.vararg:
        local.add(fn.args.vararg.arg)
    if fn.args.kwarg:
        local.add(fn.args.kwarg.arg)
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            local.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            local.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                local.add((alias.asname or alias.name).split(".")[0])
    undefined = sorted({
        n.id for n in ast.walk(fn)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        and n.id not in local and n.id not in namespace
        and not hasattr(builtins, n.id)})
    cls = namespace["ResourceTracker"]
    probe = object.__new__(cls)
    missing = sorted({
        n.attr for n in ast.walk(fn)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
        and n.value.id == (fn.args.args[0].arg if fn.args.args else "self")
        and isinstance(n.ctx, ast.Load) and not hasattr(cls, n.attr)
        and n.attr not in _instance_attributes(cls, probe)})
    return undefined, missing


def _instance_attributes(cls, probe) -> set:
    """Attributes ``__init__`` sets on the tracker (from its source)."""
    import inspect
    try:
        src = textwrap.dedent(inspect.getsource(cls.__init__))
    except (OSError, TypeError):
        return set()
    return {n.attr for n in ast.walk(ast.parse(src))
            if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
            and isinstance(n.value, ast.Name) and n.value.id == "self"}


def load_candidate(path: str, method_name: str,
                   extra_globals: dict | None = None,
                   extra_attributes: dict | None = None) -> Candidate:
    """Read ``path``, extract ``method_name`` and build the function in a
    namespace holding the tracker module's globals (so the names the real
    method can use resolve the same way).

    ``extra_globals``: names added to that namespace (e.g. helpers of an
    older Nova the proposal was written against); ``extra_attributes``:
    attributes the proposal may read from ``self`` that the caller will add
    to the class while it runs (:class:`ReplaceMethod` does).  Both are
    counted as defined by the static findings.
    """
    if not os.path.exists(path):
        raise CandidateUnavailable("the proposal file %s does not exist"
                                   % path)
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    code, origin = extract_code(text, method_name)
    try:
        compiled = compile(code, "<candidate %s from %s>"
                           % (method_name, os.path.basename(path)), "exec")
    except SyntaxError as exc:
        raise CandidateUnavailable("the %s in %s is not valid Python: %s"
                                   % (origin, path, exc)) from None
    module = _tracker_module()
    namespace = dict(vars(module))
    namespace.update(extra_globals or {})
    undefined, missing = _static_findings(code, method_name, namespace)
    missing = [m for m in missing if m not in (extra_attributes or {})]
    exec(compiled, namespace)  # noqa: S102 - the point of this module
    fn = namespace.get(method_name)
    if not callable(fn):
        raise CandidateUnavailable("%s did not define a callable %s"
                                   % (origin, method_name))
    return Candidate(path, method_name, code, fn, origin, undefined,
                     missing, dict(extra_globals or {}),
                     dict(extra_attributes or {}))


# ---------------------------------------------------------------------------
# the migration family
# ---------------------------------------------------------------------------
def record_faults() -> dict:
    """The migration-record faults of ``scenarios/test_migration_records``."""
    spec = importlib.util.spec_from_file_location(
        "_harness_migration_records", RECORD_SCENARIOS)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.migration_record_corruptions()


def _key(v) -> tuple:
    return (v.invariant, v.subject)


def regressions(candidate: Observation, reference: Observation) \
        -> Observation:
    """``candidate`` with every violation the real method also showed (same
    stage, invariant and subject) removed."""
    derived = copy.copy(candidate)
    derived.violations = {}
    for stage, found in candidate.violations.items():
        theirs = {_key(v) for v in reference.violations.get(stage, [])}
        derived.violations[stage] = [v for v in found
                                     if _key(v) not in theirs]
    if reference.error and not candidate.error:
        derived.error = None
    return derived


def _improvements(candidate: Observation, reference: Observation) -> int:
    n = 0
    for stage, found in reference.violations.items():
        mine = {_key(v) for v in candidate.violations.get(stage, [])}
        n += sum(1 for v in found if _key(v) not in mine)
    return n


def evaluate(path: str, method_name: str = "_update_usage_from_migration",
             moves=None, faults: dict | None = None,
             faulted_moves=None, judge: Judge | None = None,
             audit_via=("tracker",), extra_globals: dict | None = None,
             extra_attributes: dict | None = None) -> Outcome:
    """Judge the candidate for ``ResourceTracker.<method_name>`` in
    ``path`` against the migration family.

    ``moves``: names in :data:`harness.world.workloads.MOVES` run without a
    record fault (default: all); ``faults``: record faults (name ->
    factory(world); default: those of ``scenarios/test_migration_records``);
    ``faulted_moves``: the moves the faults are applied to (default: the
    same as ``moves``).  Each shape runs as control (real method), with the
    candidate, and for each fault with the real method (reference) and with
    the candidate; the judge sees the controls and the candidate trials
    with the reference's violations subtracted.

    ``extra_globals`` / ``extra_attributes``: see :func:`load_candidate`
    (to give a proposal written for another Nova release the helpers it
    names, so that what is judged is its logic, not the rename).

    A file that is missing or holds no loadable definition gives an
    INCONCLUSIVE outcome saying so: the candidate's behaviour exists, the
    harness only lacks it.
    """
    from harness.world.workloads import MOVES

    judge = judge or Judge("evaluate %s" % os.path.basename(path),
                           ["001-code"])
    try:
        candidate = load_candidate(path, method_name, extra_globals,
                                   extra_attributes)
    except CandidateUnavailable as exc:
        return judge.inconclusive("cannot evaluate the proposed %s: %s"
                                  % (method_name, exc))
    moves = list(moves if moves is not None else MOVES)
    faulted_moves = list(faulted_moves if faulted_moves is not None
                         else moves)
    faults = dict(faults if faults is not None else record_faults())

    def swap(world):
        return ReplaceMethod(world, candidate)

    run = judge.runner()       # the scenario's guard and step printer
    pairs = []     # (candidate observation, reference observation)
    for move in moves:
        setup = MOVES[move]
        control = run.trial(Trial("%s [control]" % move, setup,
                                  audit_via=audit_via))
        cand = run.trial(Trial("%s / candidate" % move, setup, swap,
                               audit_via=audit_via))
        pairs.append((cand, control))
    for move in faulted_moves:
        setup = MOVES[move]
        for fname, factory in faults.items():
            ref = run.trial(Trial("%s / real method + %s" % (move, fname),
                                  setup, factory, audit_via=audit_via))

            def both(world, f=factory):
                return Combined(world, swap(world), f(world))
            cand = run.trial(Trial("%s / candidate + %s" % (move, fname),
                                   setup, both, audit_via=audit_via))
            pairs.append((cand, ref))
    judge.traces.update(run.traces)
    judge.observations.extend(o for o in run.observations if o.control)
    judge.observations.extend(regressions(c, r) for c, r in pairs)
    better = sum(_improvements(c, r) for c, r in pairs)
    findings = candidate.findings()
    outcome = judge.decide(
        hypothesis="Swapped in for ResourceTracker.%s, the proposed code "
                   "(%s, %s) breaks accounting the real method keeps: an "
                   "invariant holds with the real method and fails with "
                   "the candidate, on the same move and fault."
                   % (method_name, os.path.basename(path), candidate.origin),
        stages=("under_fault", "after_clear"), invariants=None,
        fault_space="each move with the candidate alone; each record "
                    "fault on the faulted moves with the candidate, judged "
                    "against the real method on the same move and fault")
    notes = ["read before running: " + f for f in findings] or [
        "read before running: every name and self attribute it uses "
        "exists"]
    notes.append("the real method broke %d invariant checks the candidate "
                 "kept (same move, fault and stage)" % better)
    outcome.rationale = "\n".join(notes)
    return outcome
