"""The catalogue of claims: loading, validation, and code checks.

``scenarios/catalogue.yaml`` lists every claim of the three reports.  This
module loads it (a malformed file is a :class:`CatalogueError` with one line
saying what to mend), and runs each claim's ``code`` checks against the
installed Nova with :mod:`inspect` and :mod:`ast`, so the catalogue states
from the code itself whether what the claim describes exists as described.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import os
import re
import textwrap

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEFAULT_PATH = os.path.join(ROOT, "scenarios", "catalogue.yaml")
ID_RE = re.compile(r"^(000-[1-9]|001-[1-3]|001-code|002-[1-4])$")
FINDING_RE = re.compile(r"^F-\d{2}$")
PROPOSITION_KEYS = ("statement", "mechanism", "trigger", "harm")
AUTHORITY = ("inconsistent", "forgery", "inadmissible", "infrastructure",
             "timing", "none")
REQUIRED = ("id", "report", "number", "title", "paraphrase",
            "nova_functions", "code", "scenarios")
CHECK_KINDS = ("function", "catches", "swallows", "calls", "comment",
               "attribute_used")


class CatalogueError(ValueError):
    """The catalogue file cannot be used; the message says how to mend it."""


class UnknownClaim(KeyError):
    def __str__(self):
        return self.args[0]


@dataclasses.dataclass
class Claim:
    id: str
    report: str
    number: object
    cwe: str | None
    title: str
    paraphrase: str
    nova_functions: list[str]
    code: list[dict]
    scenarios: list[str]
    report_file: str = ""
    # The claim's weakness as a falsifiable statement (see
    # docs/verdicts-schema.md): statement, mechanism (Mechanisms),
    # trigger, trigger_classes, harm, counterfactual | no_counterfactual,
    # and the findings found near it.
    proposition: dict = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["proposition"] = proposition_dict(self.proposition)
        return d

    def functions(self) -> set[str]:
        """Every Nova function the claim names: its ``nova_functions`` and
        its proposition's mechanisms'."""
        return set(self.nova_functions) | {
            m.function for m in self.proposition.get("mechanism", [])}


@dataclasses.dataclass
class Finding:
    """Something real the harness showed that is not a claim's
    proposition: its own statement, verdict and evidence."""
    id: str
    title: str
    near: str | None          # the claim it was found near, or None
    proposition: dict
    scenarios: list[str]
    # A finding Nova does not show is withdrawn, not deleted: when and why
    # ({"date": ..., "why": ...}); None while it stands.
    withdrawn: dict | None = None

    @property
    def label(self) -> str:
        return ("found near claim %s" % self.near if self.near
                else "found by the harness, claimed by no report")

    def as_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "near": self.near,
                "label": self.label, "scenarios": list(self.scenarios),
                "proposition": proposition_dict(self.proposition),
                "withdrawn": self.withdrawn}


def proposition_dict(prop: dict) -> dict:
    """A proposition as plain data (mechanisms as dicts)."""
    out = dict(prop)
    out["mechanism"] = [{"label": m.label, "function": m.function,
                         "handler": m.handler, "line": m.line,
                         "where": m.where()}
                        for m in prop.get("mechanism", [])]
    return out


@dataclasses.dataclass
class Catalogue:
    claims: dict[str, Claim]
    reports: dict[str, str]
    path: str
    findings: dict[str, Finding] = dataclasses.field(default_factory=dict)

    def entry(self, any_id: str):
        """A claim or a finding by id."""
        if any_id in self.claims:
            return self.claims[any_id]
        if any_id in self.findings:
            return self.findings[any_id]
        raise UnknownClaim("unknown claim or finding id %r; known ids: %s"
                           % (any_id, ", ".join(self.ids())))

    def ids(self) -> list[str]:
        return list(self.claims) + list(self.findings)

    def scenario_findings(self) -> dict[str, list[str]]:
        """scenario name -> finding ids listing it."""
        out: dict[str, list[str]] = {}
        for f in self.findings.values():
            for s in f.scenarios:
                out.setdefault(s, []).append(f.id)
        return out

    def get(self, claim_id: str) -> Claim:
        try:
            return self.claims[claim_id]
        except KeyError:
            raise UnknownClaim(
                "unknown claim id %r; known ids: %s" % (
                    claim_id, ", ".join(self.claims))) from None

    def scenario_claims(self) -> dict[str, list[str]]:
        """scenario name -> claim ids listing it."""
        out: dict[str, list[str]] = {}
        for claim in self.claims.values():
            for s in claim.scenarios:
                out.setdefault(s, []).append(claim.id)
        return out


def load(path: str | None = None) -> Catalogue:
    path = path or os.environ.get("HARNESS_CATALOGUE") or DEFAULT_PATH
    where = os.path.relpath(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise CatalogueError("catalogue %s not found; restore it with "
                             "'git checkout -- scenarios/catalogue.yaml'"
                             % where) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = " at line %d" % (mark.line + 1) if mark else ""
        raise CatalogueError("catalogue %s is not valid YAML%s; fix the "
                             "syntax or restore it from git" % (where, at)
                             ) from None
    if not isinstance(data, dict) or not isinstance(data.get("claims"),
                                                    list):
        raise CatalogueError("catalogue %s has no 'claims' list; restore it "
                             "from git" % where)
    reports = data.get("reports") or {}
    claims: dict[str, Claim] = {}
    for i, raw in enumerate(data["claims"]):
        if not isinstance(raw, dict):
            raise CatalogueError("catalogue %s: entry %d is not a mapping"
                                 % (where, i + 1))
        missing = [k for k in REQUIRED if k not in raw]
        if missing:
            raise CatalogueError("catalogue %s: claim %s lacks %s; add the "
                                 "field(s)" % (where, raw.get("id", i + 1),
                                               ", ".join(missing)))
        cid = str(raw["id"])
        if not ID_RE.match(cid):
            raise CatalogueError("catalogue %s: %r is not a claim id (use "
                                 "000-1..000-9, 001-1..001-3, 001-code, "
                                 "002-1..002-4)" % (where, cid))
        if cid in claims:
            raise CatalogueError("catalogue %s: claim %s appears twice"
                                 % (where, cid))
        for check in raw["code"] or []:
            if check.get("kind") not in CHECK_KINDS:
                raise CatalogueError(
                    "catalogue %s: claim %s has a code check of unknown "
                    "kind %r (known: %s)" % (where, cid, check.get("kind"),
                                             ", ".join(CHECK_KINDS)))
        claims[cid] = Claim(
            id=cid, report=str(raw["report"]), number=raw["number"],
            cwe=raw.get("cwe"), title=raw["title"],
            paraphrase=" ".join(str(raw["paraphrase"]).split()),
            nova_functions=list(raw["nova_functions"] or []),
            code=list(raw["code"] or []),
            scenarios=list(raw["scenarios"] or []),
            report_file=str(reports.get(str(raw["report"]), "")),
            proposition=_proposition(raw, where, cid))
    findings: dict[str, Finding] = {}
    for i, raw in enumerate(data.get("findings") or []):
        if not isinstance(raw, dict) or not FINDING_RE.match(
                str(raw.get("id", ""))):
            raise CatalogueError("catalogue %s: finding %d needs an id "
                                 "F-NN" % (where, i + 1))
        fid = str(raw["id"])
        for key in ("title", "scenarios", "proposition"):
            if key not in raw:
                raise CatalogueError("catalogue %s: finding %s lacks %s; "
                                     "add it" % (where, fid, key))
        near = raw.get("near")
        if near is not None and str(near) not in claims:
            raise CatalogueError("catalogue %s: finding %s is near %r, "
                                 "which is no claim id" % (where, fid, near))
        if fid in findings:
            raise CatalogueError("catalogue %s: finding %s appears twice"
                                 % (where, fid))
        withdrawn = raw.get("withdrawn")
        if withdrawn is not None:
            if not (isinstance(withdrawn, dict)
                    and set(withdrawn) == {"date", "why"}):
                raise CatalogueError(
                    "catalogue %s: finding %s's withdrawn must be a "
                    "mapping with 'date' and 'why'" % (where, fid))
            withdrawn = {"date": str(withdrawn["date"]),
                         "why": " ".join(str(withdrawn["why"]).split())}
        findings[fid] = Finding(
            id=fid, title=str(raw["title"]),
            near=str(near) if near is not None else None,
            proposition=_proposition(raw, where, fid),
            scenarios=list(raw["scenarios"] or []),
            withdrawn=withdrawn)
    return Catalogue(claims, {str(k): v for k, v in reports.items()}, path,
                     findings)


def _proposition(raw: dict, where: str, eid: str) -> dict:
    """Validate and load an entry's ``proposition`` (may be absent on a
    claim that is NOT_TESTABLE; then it says why)."""
    from harness.oracle.paths import Mechanism
    prop = raw.get("proposition")
    if prop is None:
        return {}
    if not isinstance(prop, dict):
        raise CatalogueError("catalogue %s: %s's proposition is not a "
                             "mapping" % (where, eid))
    missing = [k for k in PROPOSITION_KEYS if k not in prop]
    if missing:
        raise CatalogueError("catalogue %s: %s's proposition lacks %s; add "
                             "the field(s)" % (where, eid,
                                               ", ".join(missing)))
    out = {k: (" ".join(str(v).split()) if isinstance(v, str) else v)
           for k, v in prop.items()}
    mechs = []
    for m in prop.get("mechanism") or []:
        if not isinstance(m, dict) or "label" not in m or \
                "function" not in m:
            raise CatalogueError("catalogue %s: %s: each mechanism needs a "
                                 "label and a function" % (where, eid))
        mechs.append(Mechanism(label=str(m["label"]),
                               function=str(m["function"]),
                               handler=m.get("handler"), line=m.get("line"),
                               doc=" ".join(str(m.get("doc", "")).split())))
    out["mechanism"] = mechs
    classes = prop.get("trigger_classes") or []
    bad = [c for c in classes if c not in AUTHORITY]
    if bad:
        raise CatalogueError("catalogue %s: %s: unknown trigger class(es) "
                             "%s (known: %s)" % (where, eid, ", ".join(bad),
                                                 ", ".join(AUTHORITY)))
    harm = prop.get("harm_invariants")
    if harm is not None:
        from harness.verdicts import names
        try:
            names.check_invariants(list(harm), "catalogue %s: %s's "
                                   "harm_invariants" % (where, eid))
        except names.UnknownName as exc:
            raise CatalogueError(str(exc)) from None
        out["harm_invariants"] = list(harm)
    cfs = prop.get("counterfactual") or []
    out["counterfactual"] = [cfs] if isinstance(cfs, str) else list(cfs)
    if out["counterfactual"]:
        from harness.verdicts.counterfactual import WHAT_IFS
        unknown = [c for c in out["counterfactual"] if c not in WHAT_IFS]
        if unknown:
            raise CatalogueError("catalogue %s: %s names unknown "
                                 "counterfactual(s) %s (known: %s)"
                                 % (where, eid, ", ".join(unknown),
                                    ", ".join(WHAT_IFS)))
    elif not prop.get("no_counterfactual") and not prop.get("untestable"):
        raise CatalogueError("catalogue %s: %s's proposition needs a "
                             "counterfactual or no_counterfactual (why "
                             "none is meaningful)" % (where, eid))
    return out


# ---------------------------------------------------------------------------
# code checks
# ---------------------------------------------------------------------------
def _resolve(dotted: str):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _func_ast(obj):
    while hasattr(obj, "__wrapped__"):
        obj = obj.__wrapped__
    src = textwrap.dedent(inspect.getsource(obj))
    return ast.parse(src)


def _handlers(tree, exception: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            names = []
            types = (node.type.elts if isinstance(node.type, ast.Tuple)
                     else [node.type])
            for t in types:
                names.append(t.attr if isinstance(t, ast.Attribute)
                             else getattr(t, "id", ""))
            if exception in names:
                yield node


def _logs(handler) -> bool:
    for node in ast.walk(handler):
        if isinstance(node, ast.Call) and isinstance(node.func,
                                                     ast.Attribute):
            if isinstance(node.func.value, ast.Name) and \
                    node.func.value.id == "LOG":
                return True
    return False


def run_check(check: dict) -> dict:
    """Run one code check; returns {check, holds, detail}."""
    kind, target = check["kind"], check["target"]
    label = "%s %s%s" % (kind, target, "".join(
        " %s=%s" % (k, v) for k, v in check.items()
        if k not in ("kind", "target")))
    try:
        if kind == "comment":
            mod = importlib.import_module(target)
            src = inspect.getsource(mod)
            hits = [i + 1 for i, line in enumerate(src.splitlines())
                    if "#" in line and check["text"] in line.split("#", 1)[1]]
            return {"check": label, "holds": bool(hits),
                    "detail": "comment lines %s" % hits if hits
                    else "no such comment"}
        obj = _resolve(target)
        if kind == "function":
            return {"check": label, "holds": True,
                    # unwrap decorators (e.g. lockutils.synchronized), so
                    # the detail names Nova's file, not the decorator's
                    "detail": "defined in %s" % inspect.getsourcefile(
                        inspect.unwrap(obj))}
        tree = _func_ast(obj)
        if kind in ("catches", "swallows"):
            handlers = list(_handlers(tree, check["exception"]))
            if kind == "catches" or not handlers:
                return {"check": label, "holds": bool(handlers),
                        "detail": "%d handler(s)" % len(handlers)}
            swallowing = [h for h in handlers
                          if not any(isinstance(n, ast.Raise)
                                     for n in ast.walk(h)) and _logs(h)]
            return {"check": label, "holds": bool(swallowing),
                    "detail": "%d of %d handler(s) log and continue" % (
                        len(swallowing), len(handlers))}
        if kind == "calls":
            found = any(isinstance(n, ast.Call) and (
                getattr(n.func, "attr", None) == check["name"] or
                getattr(n.func, "id", None) == check["name"])
                for n in ast.walk(tree))
            return {"check": label, "holds": found,
                    "detail": "call found" if found else "no such call"}
        if kind == "attribute_used":
            found = any(isinstance(n, ast.Attribute) and
                        n.attr == check["name"] for n in ast.walk(tree))
            return {"check": label, "holds": found,
                    "detail": "read" if found else "not read"}
    except (ImportError, AttributeError, OSError, TypeError) as exc:
        return {"check": label, "holds": False,
                "detail": "cannot inspect: %s: %s" % (type(exc).__name__,
                                                      exc)}
    raise CatalogueError("unknown check kind %r" % kind)  # pragma: no cover


def code_status(claim: Claim) -> dict:
    """Whether the code a claim describes exists as described."""
    from harness.world import novaenv
    novaenv.load()
    results = [run_check(c) for c in claim.code]
    return {"exists_as_described": all(r["holds"] for r in results)
            if results else None, "checks": results}
