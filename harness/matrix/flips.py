"""Why a verdict flips between two neighbouring releases.

Given the Nova functions a claim is about (the catalogue's
``nova_functions``) and the source distributions of two releases, find the
functions whose source differs, and the release notes and commit subjects
that arrived between the two releases and mention what changed.  Everything
comes from the sdists the matrix installed: ``nova/**.py`` for the sources,
``releasenotes/notes/*.yaml`` for the notes and pbr's ``ChangeLog`` for the
commit subjects; no network, nothing typed in by hand.
"""
from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import os
import re
import tarfile

# Words too common in Nova's changed lines to say anything about a change.
_STOP = set("""self context instance instances none true false return
elif else with from import none pass raise except finally for while the and
not kwargs args log debug info warning error exception str int dict list set
len get isinstance migration nodename node objects fields""".split())


# what the explainer reads of an sdist (read once, in one pass)
_TEXTS = (".py", ".yaml", "ChangeLog")


class Source:
    """A Nova sdist (``.tar.gz``) or source tree, read without importing."""

    def __init__(self, path: str):
        self.path = path
        self._tar = None
        self._texts = None
        self._prefix = ""
        if os.path.isfile(path):
            self._tar = tarfile.open(path)
            first = self._tar.getnames()[0]
            self._prefix = first.split("/", 1)[0] + "/"
            self._names = set(self._tar.getnames())

    def read(self, rel: str) -> str | None:
        if self._tar is None:
            full = os.path.join(self.path, rel)
            if not os.path.isfile(full):
                return None
            with open(full, encoding="utf-8", errors="replace") as f:
                return f.read()
        name = self._prefix + rel
        if name not in self._names:
            return None
        if self._texts is None:
            # one pass through the archive: reading members one by one
            # seeks backwards in the gzip stream, which decompresses it
            # again from the start each time
            self._texts = {}
            for member in self._tar:
                if member.isfile() and member.name.endswith(_TEXTS):
                    self._texts[member.name] = self._tar.extractfile(
                        member).read()
        data = self._texts.get(name)
        if data is None:
            data = self._tar.extractfile(name)
            data = data.read() if data else None
        return data.decode("utf-8", "replace") if data is not None else None

    def list(self, rel_dir: str, suffix: str) -> list[str]:
        if self._tar is None:
            full = os.path.join(self.path, rel_dir)
            if not os.path.isdir(full):
                return []
            return sorted(os.path.join(rel_dir, n) for n in os.listdir(full)
                          if n.endswith(suffix))
        pre = self._prefix + rel_dir.rstrip("/") + "/"
        return sorted(n[len(self._prefix):] for n in self._names
                      if n.startswith(pre) and n.endswith(suffix)
                      and "/" not in n[len(pre):])

    @functools.lru_cache(maxsize=None)
    def function(self, dotted: str) -> str | None:
        """The source of ``nova.pkg.module.Class.method`` (or a module-level
        function), decorators included; None when it does not exist."""
        where = self.module_of(dotted)
        if where is None:
            return None
        return _find(self.read(where[0]), where[1].split("."))

    def module_of(self, dotted: str) -> tuple[str, str] | None:
        """``(nova/pkg/module.py, Class.method)`` for a dotted name."""
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            path = "/".join(parts[:cut]) + ".py"
            if self.read(path) is not None:
                return path, ".".join(parts[cut:])
        return None

    @functools.lru_cache(maxsize=None)
    def module_functions(self, path: str) -> dict[str, str]:
        """Every function and method of a module: dotted name -> source."""
        text = self.read(path)
        try:
            tree = ast.parse(text or "")
        except SyntaxError:
            return {}
        module = path[:-3].replace("/", ".")
        lines = (text or "").splitlines()
        out = {}

        def walk(body, prefix):
            for n in body:
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    # as _find slices it (the first of a name), without
                    # parsing the module again
                    start = min([n.lineno] + [d.lineno
                                              for d in n.decorator_list])
                    out.setdefault(prefix + n.name, "\n".join(
                        lines[start - 1:n.end_lineno]))
                elif isinstance(n, ast.ClassDef):
                    walk(n.body, prefix + n.name + ".")
        walk(tree.body, module + ".")
        return out

    def notes(self) -> dict[str, str]:
        return {os.path.basename(n): self.read(n) or ""
                for n in self.list("releasenotes/notes", ".yaml")}

    def commits(self) -> list[str]:
        text = self.read("ChangeLog") or ""
        return [ln[2:].replace("\\_", "_").strip()
                for ln in text.splitlines() if ln.startswith("* ")]


def _find(text: str, path: list[str]) -> str | None:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    body = tree.body
    node = None
    for name in path:
        node = next((n for n in body if isinstance(
            n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and n.name == name), None)
        if node is None:
            return None
        body = node.body
    lines = text.splitlines()
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return "\n".join(lines[start - 1:node.end_lineno])


def _code(source: str) -> str | None:
    """The function's code without docstrings and comments (an AST dump)."""
    import textwrap
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(
                body[0], ast.Expr) and isinstance(
                getattr(body[0], "value", None), ast.Constant) and \
                isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


@dataclasses.dataclass
class FunctionChange:
    function: str
    status: str            # changed, added, removed
    diff: list[str]        # unified diff lines (capped)
    identifiers: list[str]
    # words of the identifiers only the removed or only the added lines
    # have (get_provider_tree_... -> get_provider_subtree_...: subtree)
    renamed: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Match:
    kind: str              # release note or commit
    ref: str               # note file name or commit subject
    text: str              # first lines of the note, or the subject
    score: int
    because: list[str]


@dataclasses.dataclass
class Explanation:
    older: str
    newer: str
    functions: list[str]
    changes: list[FunctionChange]
    notes: list[Match]
    commits: list[Match]
    # when none of ``functions`` changed: the functions of their modules
    # whose code did (the verdict moved with code near the claim's)
    nearby: list[FunctionChange] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        code = [c for c in self.changes
                if c.status != "docstring/comments only"]
        if not code:
            who = ("the code of none of %s changed" % ", ".join(
                _short(f) for f in self.functions)
                   if self.functions else "the claim names no function")
            lead = "%s between %s and %s" % (who, self.older, self.newer)
            if self.changes:
                lead += " (docstrings or comments of %s differ)" % ", ".join(
                    _short(c.function) for c in self.changes)
            if self.nearby:
                lead += "; in the same module%s: %s" % (
                    "s" if len({c.function.rsplit(".", 2)[0]
                                for c in self.nearby}) > 1 else "",
                    ", ".join("%s (%s)" % (_short(c.function), c.status)
                              for c in self.nearby[:6]) +
                    (" and %d more" % (len(self.nearby) - 6)
                     if len(self.nearby) > 6 else ""))
        else:
            lead = "%s %s" % (", ".join("%s (%s)" % (_short(c.function),
                                                     c.status)
                                        for c in code),
                              "between %s and %s" % (self.older, self.newer))
        best = self.notes[:1] + self.commits[:1]
        if best:
            lead += "; " + "; ".join("%s: %s" % (m.kind, m.text[:160])
                                     for m in best)
        return lead


def _short(dotted: str) -> str:
    return ".".join(dotted.split(".")[-2:])


_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]{3,}\b")
_STRING = re.compile(r"""("[^"]*"|'[^']*')""")


def _identifiers(diff: list[str]) -> list[str]:
    """Code identifiers on the changed lines that name something specific
    (``snake_case`` or ``CamelCase``), comments and strings left out."""
    seen = []
    in_doc = False
    for line in diff:
        if line[:1] not in "+-" or line.startswith(("+++", "---")):
            continue
        code = line[1:]
        if code.count('"""') % 2 or code.count("'''") % 2:
            in_doc = not in_doc
            continue
        if in_doc:
            continue
        code = _STRING.sub("", code.split("#", 1)[0])
        for word in _IDENT.findall(code):
            specific = "_" in word.strip("_") or re.search(
                r"[a-z][A-Z]", word)
            if specific and word.lower() not in _STOP and word not in seen:
                seen.append(word)
    return seen


def _renamed_words(diff: list[str], a: str | None = None,
                   b: str | None = None) -> list[str]:
    """The identifier words on one side of the change only: what it
    renamed, added or dropped, not what it merely moved or what the other
    version also uses elsewhere (``a``/``b``: the two sources)."""
    def words(lines):
        return {w for i in _identifiers(lines) for w in _ident_words(i)}
    minus = words([ln for ln in diff if ln[:1] == "-"])
    plus = words([ln for ln in diff if ln[:1] == "+"])
    if a is not None and b is not None:
        old_all = words(["-" + ln for ln in a.splitlines()])
        new_all = words(["+" + ln for ln in b.splitlines()])
        return sorted((minus - new_all) | (plus - old_all))
    return sorted(minus ^ plus)


def _words(name: str) -> list[str]:
    """``_update_usage_from_migrations`` -> its distinctive words."""
    return [w for w in name.strip("_").split("_") if len(w) > 3 and
            w.lower() not in _STOP]


def _ident_words(ident: str) -> list[str]:
    """``get_provider_subtree_and_ensure_root`` -> provider, subtree,
    ensure, root; ``ProviderTree`` -> provider, tree."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", ident)
    return list(dict.fromkeys(
        w.lower() for w in spaced.split("_") if len(w) > 3 and
        w.lower() not in _STOP and w.lower() not in ("self", "none")))


def _prose_words(text: str) -> set[str]:
    """The words of a note or subject as an identifier's words would
    read: ``ProviderTree`` -> provider, tree; ``sub-tree`` -> subtree;
    a plural's ``s`` dropped as well."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    spaced = re.sub(r"(\w)-(\w)", r"\1\2", spaced).lower()
    words = set(re.findall(r"[a-z0-9]+", spaced.replace("_", " ")))
    return words | {w[:-1] for w in words if w.endswith("s")}


def _score(text: str, changes: list[FunctionChange], functions: list[str],
           rare: set | None = None):
    low = text.lower()
    score, because = 0, []
    for f in functions:
        short = f.split(".")[-1]
        if short in text:
            score += 10
            because.append(short)
    for c in changes:
        for ident in c.identifiers[:40]:
            if ident in text and ident not in because:
                score += 3
                because.append(ident)
    # A changed identifier told in prose ("a provider sub-tree is used"
    # for get_provider_subtree_and_ensure_root): a word the change renamed
    # counts most; otherwise at least two of an identifier's words, and at
    # least half of them, each word once.
    prose = _prose_words(text)
    for w in sorted({w for c in changes for w in c.renamed}):
        if w in prose and (rare is None or w in rare):
            score += 5
            because.append("%s (renamed)" % w)
    counted = set()
    for c in changes:
        for ident in c.identifiers[:40]:
            words = _ident_words(ident)
            hits = [w for w in words if w in prose]
            if ident not in because and len(hits) >= 2 and \
                    2 * len(hits) >= len(words) and \
                    not set(hits) <= counted:
                score += len(set(hits) - counted)
                counted.update(hits)
                because.append("%s (%s)" % (ident, " ".join(hits)))
    strong = score > 0      # a function or a changed identifier named
    areas = {m for f in functions for m in f.split(".")[1:-1]}
    for area in sorted(areas):
        spaced = area.replace("_", " ").lower()
        if len(spaced) > 4 and (area.lower() in low or spaced in low):
            score += 2
            because.append(area)
    # The words of a changed function's name ("usage", "migrations"):
    # weak alone, telling together.
    words = {w.lower() for c in changes for w in
             _words(c.function.split(".")[-1])}
    hits = sorted(w for w in words if re.search(r"\b%s\b" % re.escape(w),
                                                low))
    if len(hits) >= 2:
        score += len(hits)
        because.extend(hits)
    return (score if strong else 0), because


def _note_words(match: Match) -> set[str]:
    """The words of a release note's file name (its author's title:
    ``bug-2162924-avoid-n-squared-provider-tree-deepcopy-at-startup-<id>``)."""
    slug = re.sub(r"-[0-9a-f]{16}\.yaml$", "", match.ref)
    return {w for w in slug.split("-") if len(w) > 3 and not w.isdigit()
            and w not in _STOP}


def _commits_of_notes(notes: list[Match], subjects: list[str]) -> list:
    """The commit that brought a matched release note: a subject sharing
    at least three words of the note's title (Nova's notes are named
    after the change: 'perf(ironic): eliminate O(N^2) ProviderTree
    deepcopy at startup' brought bug-...-provider-tree-deepcopy-at-startup)."""
    out = []
    for note in notes:
        title = _note_words(note)
        best = None
        for subject in subjects:
            shared = sorted(title & _prose_words(subject))
            if len(shared) >= 3 and (best is None or
                                     len(shared) > len(best[1])):
                best = (subject, shared)
        if best and best[0] not in [m.ref for m in out]:
            out.append(Match("commit", best[0], best[0], note.score - 1,
                             ["the change of release note %s (%s)" % (
                                 note.ref, " ".join(best[1]))]))
    return out


def explain(functions: list[str], older: Source, newer: Source,
            older_label: str, newer_label: str,
            limit: int = 3) -> Explanation:
    """Which of ``functions`` differ, and which notes/commits explain it.
    When none of their code differs, the functions of the same modules
    whose code does are the changes the notes and commits are matched
    against (``nearby``)."""
    changes = [c for c in (_change(f, older.function(f), newer.function(f),
                                   older_label, newer_label)
                           for f in functions) if c is not None]
    nearby = []
    if all(c.status == "docstring/comments only" for c in changes):
        nearby = _nearby_changes(functions, older, newer, older_label,
                                 newer_label)
    code = [c for c in changes if c.identifiers] + nearby
    named = list(functions) + [c.function for c in nearby]
    old_notes = older.notes()
    # (a cycle's prelude note speaks of everything in it: no evidence)
    new_notes = {n: t for n, t in newer.notes().items()
                 if n not in old_notes and "prelude" not in n}
    old_commits = set(older.commits())
    new_commits = [c for c in newer.commits() if c not in old_commits]
    rare = _rare_words({w for c in code for w in c.renamed},
                       list(new_notes.values()) + new_commits)
    notes = []
    for name, text in new_notes.items():
        score, because = _score(text, code, named, rare)
        if score >= 3:
            body = " ".join(ln.strip(" -|") for ln in text.splitlines()
                            if ln.strip() and not ln.strip().endswith(":")
                            and ln.strip() not in ("---", "- |"))
            notes.append(Match("release note", name, body[:400], score,
                               because))
    commits = []
    for subject in new_commits:
        score, because = _score(subject, code, named, rare)
        if score >= 3:
            commits.append(Match("commit", subject, subject, score, because))
    if code and not notes and not commits:
        # nothing names the code: a subject told in its words (weaker
        # evidence, so only then)
        told = _Told(_vocabulary(code, older, newer),
                     list(new_notes.values()) + new_commits)
        for subject in new_commits:
            score, because = told(subject)
            if score >= 3:
                commits.append(Match("commit", subject, subject, score,
                                     because))
    notes.sort(key=lambda m: -m.score)
    commits += _commits_of_notes(notes[:limit], [
        c for c in new_commits if c not in {m.ref for m in commits}])
    commits.sort(key=lambda m: -m.score)
    return Explanation(older_label, newer_label, list(functions), changes,
                       notes[:limit], commits[:limit], nearby)


# What a subject says to do, not what it is about.
_VERBS = set("""make makes made allow allows when that this with from into
only also more less should could must fix fixes fixed use using used uses
add adds added remove removes removed update updates change changes
ensure avoid handle support""".split())


def _vocabulary(changes: list[FunctionChange], older: Source,
                newer: Source) -> set[str]:
    """The words of the changed functions' whole sources, both versions
    (code, comments, docstrings, log messages)."""
    out = set()
    for c in changes:
        for src in (older, newer):
            where = src.module_of(c.function)
            if where is not None:
                out |= _prose_words(src.module_functions(where[0]).get(
                    c.function) or "")
    return out


def _stem_in(word: str, words: set[str]) -> bool:
    """``word`` among ``words``, or one a prefix of the other (``safer``
    and ``safe``, ``node`` and ``nodes``), both of four letters or more."""
    return word in words or len(word) >= 4 and any(
        len(w) >= 4 and (w.startswith(word) or word.startswith(w))
        for w in words)


class _Told:
    """A commit subject told in the changed code's own words: at least
    three of its words (its verbs left out), three quarters of them,
    among the words of the changed functions' sources, one of them rare
    in the new notes and commits ("Make compute node rebalance safer" for
    an ``update_available_resource`` that says "rebalance" and an
    ``is_node_deleted`` that says "safe to delete")."""

    def __init__(self, vocabulary: set[str], texts: list[str]):
        self.vocabulary = vocabulary
        self.seen = [_prose_words(t) for t in texts]
        self.cap = max(3, len(texts) // 50)

    def __call__(self, subject: str):
        words = {w for w in _prose_words(subject) if len(w) > 3 and
                 not w.isdigit() and w not in _VERBS}
        words = sorted(w for w in words if not (
            w.endswith("s") and w[:-1] in words))
        hits = [w for w in words if _stem_in(w, self.vocabulary)]
        if len(hits) < 3 or 4 * len(hits) < 3 * len(words):
            return 0, []
        rare = [w for w in hits if sum(_stem_in(w, s) for s in self.seen)
                <= self.cap]
        if not rare:
            return 0, []
        return len(hits) + 2 * len(rare), [
            "its words in the changed functions' source: %s (rare: %s)" % (
                " ".join(hits), " ".join(rare))]


def _rare_words(words: set, texts: list[str]) -> set:
    """The renamed words that few of the new notes and commits use
    (``subtree``, not ``compute``): only those tell one change."""
    seen = [_prose_words(t) for t in texts]
    cap = max(3, len(texts) // 50)
    return {w for w in words if sum(w in s for s in seen) <= cap}


def _change(function, a, b, older_label, newer_label):
    """How ``function`` differs between two sources (None: not at all)."""
    if a == b:
        return None
    status = "added" if a is None else "removed" if b is None \
        else "changed"
    diff = list(difflib.unified_diff(
        (a or "").splitlines(), (b or "").splitlines(),
        older_label, newer_label, lineterm="", n=1))
    if status == "changed" and _code(a) == _code(b):
        # the same code: only docstrings or comments differ, which cannot
        # flip a verdict
        return FunctionChange(function, "docstring/comments only",
                              diff[:80], [])
    return FunctionChange(function, status, diff[:80], _identifiers(diff),
                          _renamed_words(diff, a, b))


def _nearby_changes(functions, older, newer, older_label, newer_label,
                    limit: int = 20) -> list[FunctionChange]:
    """Code changes of the other functions in ``functions``' modules."""
    out = []
    modules = dict.fromkeys(w[0] for w in map(newer.module_of, functions)
                            if w is not None)
    for path in modules:
        a, b = older.module_functions(path), newer.module_functions(path)
        for name in sorted(set(a) | set(b)):
            if name in functions or any(name.startswith(f + ".")
                                        for f in functions):
                continue
            c = _change(name, a.get(name), b.get(name), older_label,
                        newer_label)
            if c is not None and c.status != "docstring/comments only":
                out.append(c)
    return out[:limit]
