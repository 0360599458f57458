"""Claims with no accounting behaviour to observe: 000-7, 000-9, 001-1.

* 000-7 (access control): the tracker is a library inside nova-compute.
  What an unprivileged party can reach is decided above it (the API's
  policy, the message bus's credentials), outside this harness.  What *is*
  observable here is whether the tracker makes any authorisation decision of
  its own; a short probe records that as evidence, and the verdict is
  NOT_TESTABLE with that rationale.
* 000-9 (coding standards) is a general recommendation; the scenario
  measures from the installed code what can be measured (docstrings, broad
  exception handlers) and records it as evidence for NOT_TESTABLE.
* 001-1 (a redundant try/except in ``_update_usage_from_migration``): the
  scenario reads the installed code with :mod:`ast` to establish whether the
  handlers the report describes exist where it says, and records that.

None of these scenarios writes a verdict: ``judge.not_testable`` is the
only outcome open to a claim with no runtime behaviour, and each states its
rationale and the evidence gathered.
"""
from __future__ import annotations

import ast
import inspect
import textwrap

import pytest

from harness.verdicts import catalogue as catalogue_mod
from harness.verdicts.verdict import Evidence


def _ev(subject, expected, actual, detail="", invariant="code"):
    return Evidence(variant="installed nova", stage="static",
                    invariant=invariant, subject=subject,
                    expected=expected, actual=actual, detail=detail)


def _code_evidence(claim_id: str) -> list[Evidence]:
    claim = catalogue_mod.load().get(claim_id)
    status = catalogue_mod.code_status(claim)
    return [_ev(r["check"], "holds", "holds" if r["holds"] else
                "does not hold", r["detail"]) for r in status["checks"]]


def _tree(obj):
    while hasattr(obj, "__wrapped__"):
        obj = obj.__wrapped__
    return ast.parse(textwrap.dedent(inspect.getsource(obj)))


def _tracker():
    from harness.world import novaenv
    novaenv.load()
    from nova.compute import resource_tracker
    return resource_tracker


# ---------------------------------------------------------------------------
# 001-1
# ---------------------------------------------------------------------------
def _try_blocks(fn) -> list[dict]:
    """Each try statement of ``fn`` (line numbers of the module's file):
    what it guards and what it catches."""
    out = []
    first = inspect.getsourcelines(inspect.unwrap(fn))[1]
    for node in ast.walk(_tree(fn)):
        if not isinstance(node, ast.Try):
            continue
        calls = sorted({getattr(n.func, "attr", getattr(n.func, "id", "?"))
                        for b in node.body for n in ast.walk(b)
                        if isinstance(n, ast.Call)})
        caught = []
        for h in node.handlers:
            t = h.type
            for e in (t.elts if isinstance(t, ast.Tuple) else [t]):
                caught.append(getattr(e, "attr", getattr(e, "id", "?")))
        out.append({"line": first + node.lineno - 1,
                    "statements": len(node.body),
                    "calls": calls, "catches": caught,
                    "handler_ends": [type(h.body[-1]).__name__
                                     for h in node.handlers]})
    return out


@pytest.mark.claims("001-1")
def test_redundant_try_except_in_migration_accounting(judge):
    """Where are the try/except blocks the report calls redundant?"""
    rt = _tracker().ResourceTracker
    single = _try_blocks(rt._update_usage_from_migration)
    plural = _try_blocks(rt._update_usage_from_migrations)
    evidence = _code_evidence("001-1")
    evidence.append(_ev(
        "try statements in ResourceTracker._update_usage_from_migration",
        "a try/except wrapping migration filtering and instance lookup "
        "(as the report describes)", single or "none"))
    for block in plural:
        evidence.append(_ev(
            "try at line %d of nova/compute/resource_tracker.py "
            "(_update_usage_from_migrations)" % block["line"], "-", block,
            "guards %d statement(s) calling %s; catches %s"
            % (block["statements"], ", ".join(block["calls"]) or "nothing",
               ", ".join(block["catches"]))))
    judge.not_testable(
        "Code structure only, no runtime behaviour: whether a try/except is "
        "redundant does not change what the tracker computes.\n"
        "Read from the installed Nova: _update_usage_from_migration has %d "
        "try statement(s); the handlers are in _update_usage_from_migrations "
        "(%d try statements: %s). The report's description (a try/except in "
        "the per-migration method wrapping filtering and lookup) %s the "
        "installed code." % (
            len(single), len(plural), "; ".join(
                "line %d guards %d statement(s), catches %s" % (
                    b["line"], b["statements"], "/".join(b["catches"]))
                for b in plural),
            "matches" if single else "does not match"),
        evidence=evidence)


# ---------------------------------------------------------------------------
# 000-9
# ---------------------------------------------------------------------------
@pytest.mark.claims("000-9")
def test_coding_standards(judge):
    """A general recommendation: measure what can be measured, no verdict."""
    mod = _tracker()
    tree = ast.parse(inspect.getsource(mod))
    funcs = [n for n in ast.walk(tree)
             if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    documented = [f for f in funcs if ast.get_docstring(f)]
    broad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler):
            name = getattr(node.type, "id", getattr(node.type, "attr", None))
            if node.type is None or name in ("Exception", "BaseException"):
                reraises = any(isinstance(n, ast.Raise)
                               for n in ast.walk(node)) or any(
                    isinstance(n, ast.With) for n in ast.walk(node))
                broad.append((node.lineno, name or "bare", reraises))
    evidence = _code_evidence("000-9") + [
        _ev("functions and methods in nova/compute/resource_tracker.py", "-",
            len(funcs)),
        _ev("of which with a docstring", "-", len(documented),
            "%.0f%%" % (100.0 * len(documented) / max(1, len(funcs)))),
        _ev("broad exception handlers (Exception or bare)", "-",
            ["line %d (%s, %s)" % (ln, name, "re-raises" if rr
                                   else "does not re-raise")
             for ln, name, rr in broad]),
    ]
    judge.not_testable(
        "A general recommendation (stricter validation, error handling and "
        "documentation) that names no defect and predicts no behaviour; "
        "there is nothing at run time that could confirm or refute it. "
        "The specific concerns it gestures at are judged elsewhere: "
        "validation (000-3, 000-4), error handling (000-2, 001-2). "
        "Measured from the installed module: %d of %d functions have a "
        "docstring; %d broad exception handler(s)."
        % (len(documented), len(funcs), len(broad)), evidence=evidence)


# ---------------------------------------------------------------------------
# 000-7
# ---------------------------------------------------------------------------
def _probe_caller_privileges() -> list[Evidence]:
    """Drive the tracker's entry points with an unprivileged context of
    another project and record what happened."""
    from nova import context as nova_context
    from harness.world.deployment import World

    out = []
    world = World(hosts=("src",))
    world.setUp()
    try:
        world.create_flavor("small", vcpus=1, memory_mb=1024, root_gb=10)
        world.boot("vm1", "small", "src")
        host = world.hosts["src"]
        stranger = nova_context.RequestContext(
            user_id="someone-else", project_id="another-project",
            roles=["reader"], is_admin=False)

        def used():
            cn = host.rt.compute_nodes[host.nodename]
            return {"vcpus_used": cn.vcpus_used,
                    "memory_mb_used": cn.memory_mb_used}

        inst = world.instance("vm1")
        for label, call in (
                ("periodic audit", lambda: host.rt.update_available_resource(
                    stranger, host.nodename)),
                ("update_usage of another project's instance",
                 lambda: host.rt.update_usage(stranger, inst,
                                              host.nodename)),
                ("abort_instance_claim of another project's instance",
                 lambda: host.rt.abort_instance_claim(stranger, inst,
                                                      host.nodename))):
            before = used()
            try:
                call()
                result = "completed"
            except Exception as exc:  # noqa: BLE001 - recorded
                result = "%s: %s" % (type(exc).__name__, str(exc)[:200])
            out.append(Evidence(
                variant="unprivileged context of another project",
                stage="probe", invariant="caller_privileges",
                subject=label, expected="-",
                actual={"result": result, "usage before": before,
                        "usage after": used()}))
    finally:
        world.cleanUp()
    return out


@pytest.mark.claims("000-7")
def test_access_control_around_tracking(judge):
    """Whether an unprivileged party can affect tracking is decided outside
    the tracker; record what the tracker itself does."""
    evidence = _code_evidence("000-7") + _probe_caller_privileges()
    done = [e.subject for e in evidence
            if isinstance(e.actual, dict)
            and e.actual.get("result") == "completed"]
    judge.not_testable(
        "The tracker is an in-process library of nova-compute, called by "
        "the compute manager; who may cause those calls is decided by the "
        "API's policy and the message bus's credentials, neither of which "
        "this harness runs, so the defect the report speculates about "
        "(an unprivileged party reaching resource tracking) has nothing "
        "to show itself in here. Probe: with an unprivileged context of "
        "another project the tracker %s (it makes no authorisation "
        "decision of its own, by design: it trusts its caller)."
        % ("completed: " + "; ".join(done) if done
           else "refused every call"), evidence=evidence)
