"""Mutation operators: find a site with ``ast``, change exactly that code.

A defect names a function (``ResourceTracker._drop_move_claim``, or a
module-level ``replace_allocation_with_migration``), an operator, an
optional ``match`` (a regular expression searched in the source lines the
candidate node spans) and ``nth`` (which of the matching candidates, in
source order).  The site is therefore found by function name and code shape,
never by line number: the same defect list applies to any Nova release that
has those functions, and a site a release lacks is reported as missing.

The change is spliced into the original text at the node's position
(``ast`` offsets), so comments, every other line and the line numbering stay
as they were; a multi-line node keeps its line count.  The result must parse
and differ from the original as an AST, or the operator refuses it.
"""
from __future__ import annotations

import ast
import copy
import dataclasses
import difflib
import functools
import re


class SiteMissing(Exception):
    """The function, or a node the operator can change, is not there."""


@dataclasses.dataclass(frozen=True)
class Change:
    line: int          # first line changed (1-based)
    before: str        # the original text of the node
    after: str         # what replaced it


def find_function(tree: ast.Module, qualname: str):
    """The ``def`` for ``Class.method`` or a module-level ``function``."""
    parts = qualname.split(".")
    body = tree.body
    node = None
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        kinds = (ast.FunctionDef, ast.AsyncFunctionDef) if last else \
            (ast.ClassDef,)
        node = next((n for n in body if isinstance(n, kinds)
                     and n.name == part), None)
        if node is None:
            raise SiteMissing("no %s %s" % ("function" if last else "class",
                                            ".".join(parts[:i + 1])))
        body = node.body
    return node


# ---------------------------------------------------------------------------
# operators: candidates(func, source) -> [node]; rewrite(node, text) -> text
# ---------------------------------------------------------------------------
_FLIP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE,
         ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt,
         ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot,
         ast.IsNot: ast.Is}
_FLAVOR = {"old_": "new_", "new_": "old_"}
_FLAVOR_ATTR = {"old_flavor": "new_flavor", "new_flavor": "old_flavor",
                "flavor": "new_flavor"}
_NODE_ATTR = {"source_node": "dest_node", "dest_node": "source_node",
              "source_compute": "dest_compute",
              "dest_compute": "source_compute"}
_SIMPLE_STMT = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign,
                ast.Delete)


def _walk(func):
    for node in ast.walk(func):
        if node is not func:
            yield node


def _unparse(node) -> str:
    return ast.unparse(node)


class Operator:
    name = ""
    doc = ""

    def candidates(self, func) -> list:
        raise NotImplementedError

    def rewrite(self, node, text: str) -> str:
        raise NotImplementedError


class FlipCompare(Operator):
    name = "flip_compare"
    doc = "a comparison's operator replaced by its opposite (== / !=, < / >=, in / not in, is / is not)"

    def candidates(self, func):
        return [n for n in _walk(func) if isinstance(n, ast.Compare)
                and type(n.ops[0]) in _FLIP]

    def rewrite(self, node, text):
        new = copy.deepcopy(node)
        new.ops[0] = _FLIP[type(node.ops[0])]()
        return "(%s)" % _unparse(new)


class NegateCondition(Operator):
    name = "negate_condition"
    doc = "an if/while condition negated (or its leading 'not' removed)"

    def candidates(self, func):
        return [n.test for n in _walk(func)
                if isinstance(n, (ast.If, ast.While, ast.IfExp))]

    def rewrite(self, node, text):
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return "(%s)" % _unparse(node.operand)
        return "(not (%s))" % _unparse(node)


class RemoveElif(Operator):
    name = "remove_elif"
    doc = "an elif branch removed (its test made False, so the branch never runs)"

    def candidates(self, func):
        out = []
        for n in _walk(func):
            if isinstance(n, ast.If) and len(n.orelse) == 1 and \
                    isinstance(n.orelse[0], ast.If):
                inner = n.orelse[0]
                if getattr(inner, "_harness_is_elif", None) is None:
                    out.append(inner.test)
        return out

    def rewrite(self, node, text):
        return "False"


class DropStatement(Operator):
    name = "drop_statement"
    doc = "a simple statement (call, assignment) replaced by 'pass'"

    def candidates(self, func):
        return [n for n in _walk(func) if isinstance(n, _SIMPLE_STMT)
                and not (isinstance(n, ast.Expr) and
                         isinstance(n.value, ast.Constant))]

    def rewrite(self, node, text):
        return "pass"


class SwapArgs(Operator):
    name = "swap_args"
    doc = "the last two positional arguments of a call swapped"

    def candidates(self, func):
        return [n for n in _walk(func) if isinstance(n, ast.Call)
                and len([a for a in n.args
                         if not isinstance(a, ast.Starred)]) >= 2]

    def rewrite(self, node, text):
        new = copy.deepcopy(node)
        new.args[-1], new.args[-2] = new.args[-2], new.args[-1]
        return _unparse(new)


class WrongFlavor(Operator):
    name = "wrong_flavor"
    doc = "the wrong flavor: prefix 'old_' <-> 'new_', old_flavor <-> new_flavor, flavor -> new_flavor"

    def candidates(self, func):
        return [n for n in _walk(func)
                if (isinstance(n, ast.Constant) and n.value in _FLAVOR)
                or (isinstance(n, ast.Attribute) and n.attr in _FLAVOR_ATTR)]

    def rewrite(self, node, text):
        if isinstance(node, ast.Constant):
            return repr(_FLAVOR[node.value])
        new = copy.deepcopy(node)
        new.attr = _FLAVOR_ATTR[node.attr]
        return _unparse(new)


class WrongNode(Operator):
    name = "wrong_node"
    doc = "the other end of a migration: source_node <-> dest_node, source_compute <-> dest_compute"

    def candidates(self, func):
        return [n for n in _walk(func)
                if isinstance(n, ast.Attribute) and n.attr in _NODE_ATTR]

    def rewrite(self, node, text):
        new = copy.deepcopy(node)
        new.attr = _NODE_ATTR[node.attr]
        return _unparse(new)


class WrongSign(Operator):
    name = "wrong_sign"
    doc = ("the wrong sign: sign=1 <-> sign=-1 (a call's keyword or an "
           "assignment), += <-> -=, or sign=-1 added to a call that "
           "relied on the default")

    def candidates(self, func):
        out = []
        for n in _walk(func):
            if isinstance(n, ast.keyword) and n.arg == "sign":
                out.append(n.value)
            elif isinstance(n, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "sign"
                    for t in n.targets):
                out.append(n.value)
            elif isinstance(n, ast.AugAssign) and \
                    isinstance(n.op, (ast.Add, ast.Sub)):
                out.append(n)
            elif isinstance(n, ast.Call) and isinstance(
                    n.func, ast.Attribute) and \
                    n.func.attr == "_update_usage" and \
                    not any(k.arg == "sign" for k in n.keywords):
                out.append(n)
        return sorted(out, key=lambda n: (n.lineno, n.col_offset))

    def rewrite(self, node, text):
        if isinstance(node, ast.AugAssign):
            new = copy.deepcopy(node)
            new.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
            return _unparse(new)
        if isinstance(node, ast.Call):
            new = copy.deepcopy(node)
            new.keywords.append(ast.keyword(arg="sign", value=ast.Constant(
                -1)))
            return _unparse(new)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return str(-node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return "(%s)" % _unparse(node.operand)
        return "(-(%s))" % _unparse(node)


class OffByOne(Operator):
    name = "off_by_one"
    doc = "off by one: an integer constant c -> c + 1, or an assigned value v -> v + 1"

    def candidates(self, func):
        out = []
        for n in _walk(func):
            if isinstance(n, ast.Constant) and type(n.value) is int:
                out.append(n)
            elif isinstance(n, (ast.Assign, ast.AugAssign)):
                out.append(n.value)
        return out

    def rewrite(self, node, text):
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return str(node.value + 1)
        return "(%s + 1)" % _unparse(node)


class BoolFlip(Operator):
    name = "bool_flip"
    doc = "a True/False literal flipped"

    def candidates(self, func):
        return [n for n in _walk(func) if isinstance(n, ast.Constant)
                and type(n.value) is bool]

    def rewrite(self, node, text):
        return repr(not node.value)


class AndOr(Operator):
    name = "and_or"
    doc = "'and' <-> 'or'"

    def candidates(self, func):
        return [n for n in _walk(func) if isinstance(n, ast.BoolOp)]

    def rewrite(self, node, text):
        new = copy.deepcopy(node)
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        return "(%s)" % _unparse(new)


class SkipCall(Operator):
    name = "skip_call"
    doc = "a call skipped and reported as a success (its result replaced by True)"

    def candidates(self, func):
        return [n for n in _walk(func) if isinstance(n, ast.Call)]

    def rewrite(self, node, text):
        return "True"


class LogMessage(Operator):
    name = "log_message"
    doc = "a log message's text changed (no accounting effect expected)"

    def candidates(self, func):
        out = []
        for n in _walk(func):
            if isinstance(n, ast.Call) and isinstance(
                    n.func, ast.Attribute) and \
                    isinstance(n.func.value, ast.Name) and \
                    n.func.value.id == "LOG" and n.args and \
                    isinstance(n.args[0], ast.Constant) and \
                    isinstance(n.args[0].value, str):
                out.append(n.args[0])
        return out

    def rewrite(self, node, text):
        return repr("[mutated] " + node.value)


class RaiseOnEntry(Operator):
    name = "raise_on_entry"
    doc = "the function raises RuntimeError as soon as it is called (a sanity mutant: every catcher that reaches it must catch it)"

    def candidates(self, func):
        body = list(func.body)
        if body and isinstance(body[0], ast.Expr) and \
                isinstance(body[0].value, ast.Constant) and len(body) > 1:
            body = body[1:]
        return body[:1]

    def rewrite(self, node, text):
        return "raise RuntimeError('harness mutant: raised on entry')"


OPERATORS = {cls.name: cls() for cls in (
    FlipCompare, NegateCondition, RemoveElif, DropStatement, SwapArgs,
    WrongFlavor, WrongNode, WrongSign, OffByOne, BoolFlip, AndOr, SkipCall,
    LogMessage, RaiseOnEntry)}


# ---------------------------------------------------------------------------
# applying one
# ---------------------------------------------------------------------------
def _line_starts(source: str) -> list[int]:
    starts, pos = [0], 0
    for line in source.splitlines(keepends=True):
        pos += len(line)
        starts.append(pos)
    return starts


def _offset(source, starts, lineno, col_bytes) -> int:
    line = source[starts[lineno - 1]:starts[lineno]]
    return starts[lineno - 1] + len(line.encode("utf-8")[:col_bytes].decode(
        "utf-8", "replace"))


def _span_text(source, starts, node) -> str:
    return source[starts[node.lineno - 1]:starts[node.end_lineno]]


def _mark_elifs(source, starts, func):
    """Tell ``elif`` from ``else:`` + nested ``if`` (same AST shape)."""
    for n in ast.walk(func):
        if isinstance(n, ast.If) and len(n.orelse) == 1 and \
                isinstance(n.orelse[0], ast.If):
            inner = n.orelse[0]
            line = source[starts[inner.lineno - 1]:starts[inner.lineno]]
            if not line.lstrip().startswith("elif"):
                inner._harness_is_elif = False


def select(source: str, function: str, operator: str,
           match: str | None = None, nth: int = 0):
    """(tree, node) the defect changes; raises :class:`SiteMissing`."""
    if operator not in OPERATORS:
        raise SiteMissing("unknown operator %r" % operator)
    tree = ast.parse(source)
    func = find_function(tree, function)
    starts = _line_starts(source)
    _mark_elifs(source, starts, func)
    nodes = OPERATORS[operator].candidates(func)
    nodes = sorted(nodes, key=lambda n: (n.lineno, n.col_offset))
    if match:
        pat = re.compile(match)
        nodes = [n for n in nodes if pat.search(_span_text(source, starts,
                                                           n))]
    if len(nodes) <= nth:
        raise SiteMissing("%s has %d %s site(s)%s, the defect needs #%d"
                          % (function, len(nodes), operator,
                             " matching %r" % match if match else "",
                             nth + 1))
    return tree, nodes[nth]


def apply(source: str, function: str, operator: str,
          match: str | None = None, nth: int = 0) -> tuple[str, Change]:
    """The mutated source and what changed."""
    tree, node = select(source, function, operator, match, nth)
    starts = _line_starts(source)
    begin = _offset(source, starts, node.lineno, node.col_offset)
    end = _offset(source, starts, node.end_lineno, node.end_col_offset)
    before = source[begin:end]
    after = OPERATORS[operator].rewrite(node, before)
    extra = before.count("\n") - after.count("\n")
    if extra > 0:   # keep the line count: later lines keep their numbers
        # the closing parenthesis goes on the last kept line, indented
        # inside the statement: at column 0 it would end the function for
        # inspect.getsource + textwrap.dedent (what-ifs, path tracing)
        line = source[starts[node.lineno - 1]:].split("\n", 1)[0]
        pad = "\n" * extra + line[:len(line) - len(line.lstrip())] + "    "
        if isinstance(node, ast.stmt):
            after = after + "\n" * extra
        elif after.startswith("(") and after.endswith(")"):
            after = after[:-1] + pad + ")"
        else:
            after = "(" + after + pad + ")"
    mutated = source[:begin] + after + source[end:]
    try:
        new_tree = ast.parse(mutated)
    except SyntaxError as exc:
        raise SiteMissing("the %s change at line %d does not parse (%s)"
                          % (operator, node.lineno, exc.msg)) from None
    if ast.dump(new_tree) == _dump(source):
        raise SiteMissing("the %s change at line %d changes nothing"
                          % (operator, node.lineno))
    return mutated, Change(node.lineno, before, after.strip())


@functools.lru_cache(maxsize=8)
def _dump(source: str) -> str:
    """``ast.dump(ast.parse(source))``, once per source text: every defect
    of a module compares its mutant with the same original (parsing and
    dumping the 2,000-line resource_tracker.py took ~60 ms a defect)."""
    return ast.dump(ast.parse(source))


def unified_diff(before: str, after: str, path: str) -> str:
    return "".join(difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        "a/" + path, "b/" + path, n=2))
