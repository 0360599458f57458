"""``--patch FILE``: a reviewer's own defect, as a unified diff against the
installed Nova, turned into one more mutant.

The diff is parsed and applied with ``whatthepatch`` to copies of the files
it names (paths may carry any prefix: ``a/nova/...``, a source tree's
``nova/...`` or a site-packages path); the installed files are never
written.  Anything wrong with it (unreadable, not a diff, a file that is not
part of the installed Nova, a hunk whose context does not match, a result
that is not valid Python) is a :class:`PatchError` with one line saying
what and how to mend it.
"""
from __future__ import annotations

import ast
import importlib.util
import os

from harness.mutate.defects import Mutant


class PatchError(Exception):
    """The patch cannot be used; the message is one line."""


def nova_dir() -> str:
    spec = importlib.util.find_spec("nova")
    if spec is None or not spec.submodule_search_locations:
        raise PatchError("nova is not installed; run through tox or install "
                         "it with 'pip install -c constraints.txt nova'")
    return list(spec.submodule_search_locations)[0]


def _nova_relative(path: str, root: str) -> str | None:
    """'nova/compute/x.py' for any path ending in a file of the installed
    Nova, else None."""
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "nova":
            rel = "/".join(parts[i:])
            if os.path.isfile(os.path.join(os.path.dirname(root), rel)):
                return rel
    return None


def _functions_touched(source: str, lines: set[int]) -> list[str]:
    """Qualified names of the functions containing the changed lines; '*'
    if a change lies outside every function."""
    tree = ast.parse(source)
    spans = []

    def visit(body, prefix):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([d.lineno for d in node.decorator_list] +
                            [node.lineno])
                spans.append((start, node.end_lineno, prefix + node.name))
            elif isinstance(node, ast.ClassDef):
                visit(node.body, prefix + node.name + ".")
    visit(tree.body, "")
    out = set()
    for line in lines:
        hits = [name for a, b, name in spans if a <= line <= b]
        out.add(max(hits, key=len) if hits else "*")
    return sorted(out)


def load(path: str) -> Mutant:
    import whatthepatch
    from whatthepatch.exceptions import WhatThePatchException
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise PatchError("--patch %s cannot be read (%s); give a unified "
                         "diff file" % (path, getattr(exc, "strerror", None)
                                        or exc)) from None
    try:
        diffs = [d for d in whatthepatch.parse_patch(text)
                 if d.header is not None and d.changes]
    except WhatThePatchException as exc:
        raise PatchError("--patch %s is not a valid unified diff (%s); make "
                         "it with 'diff -u' or 'git diff' against the "
                         "installed Nova" % (path, exc)) from None
    if not diffs:
        raise PatchError("--patch %s holds no unified diff hunks; make it "
                         "with 'diff -u' or 'git diff' against the installed "
                         "Nova" % path)
    root = nova_dir()
    files, functions, diff_text = {}, [], []
    for d in diffs:
        named = d.header.new_path if d.header.new_path not in (
            None, "/dev/null") else d.header.old_path
        rel = _nova_relative(named or "", root)
        if rel is None:
            raise PatchError(
                "--patch %s changes %s, which is not a file of the installed "
                "Nova (%s); diff against the files under that directory"
                % (path, named, root))
        if rel.endswith("__init__.py") or not rel.endswith(".py"):
            raise PatchError("--patch %s changes %s; only Nova's .py modules "
                             "(not packages' __init__.py) can be mutated"
                             % (path, rel))
        module = rel[:-3].replace("/", ".")
        with open(os.path.join(os.path.dirname(root), rel),
                  encoding="utf-8") as f:
            original = f.read()
        base = files.get(module, original)
        try:
            lines = whatthepatch.apply_diff(d, base)
        except WhatThePatchException as exc:
            raise PatchError(
                "--patch %s does not apply to the installed %s (%s); make "
                "the diff against that file" % (
                    path, rel, " ".join(str(exc).split()))) from None
        new = "\n".join(lines) + "\n"
        try:
            ast.parse(new)
        except SyntaxError as exc:
            raise PatchError("--patch %s leaves %s invalid Python (line %s: "
                             "%s); fix the diff" % (path, rel, exc.lineno,
                                                    exc.msg)) from None
        files[module] = new
        changed, last = set(), 1
        for c in d.changes:
            if c.old is not None and c.new is None:     # removed
                changed.add(c.old)
            elif c.old is None and c.new is not None:   # added after `last`
                changed.add(last)
            if c.old is not None:
                last = c.old
        functions += ["%s.%s" % (module, f) if f != "*" else "*"
                      for f in _functions_touched(original, changed)]
        diff_text.append(d.text)
    if all(files[m] == _installed(root, m) for m in files):
        raise PatchError("--patch %s changes nothing in the installed Nova"
                         % path)
    ident = "PATCH"
    return Mutant(ident, None, files, "".join(diff_text),
                  "reviewer patch %s (%s)" % (os.path.basename(path),
                                              ", ".join(sorted(files))),
                  sorted(set(functions)))


def _installed(root, module):
    rel = module.replace(".", "/") + ".py"
    with open(os.path.join(os.path.dirname(root), rel),
              encoding="utf-8") as f:
        return f.read()
