"""One-way layers, enforced.

``pyproject.toml`` holds the import-linter contracts: the layers, bottom to
top, files < world < faults < oracle < verdicts < report < explore | mutate
| matrix < plugin < cli, and no import cycle between the modules of a
package.  ``lint-imports`` must keep them; a back-pointing import or a
cycle planted in a copy of the package must break them (so the check can
fail); and no package reaches into another's private names.
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINT = ("import sys; from importlinter.cli import lint_imports_command; "
        "sys.argv[0] = 'lint-imports'; sys.exit(lint_imports_command())")


def lint_imports(root: str) -> subprocess.CompletedProcess:
    """``lint-imports`` on the ``harness`` package under ``root`` with
    ``root``'s pyproject.toml."""
    env = dict(os.environ, PYTHONPATH=root)
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache", "--no-logo",
         os.path.join(root, "pyproject.toml")],
        cwd=root, env=env, text=True, capture_output=True, timeout=300)


def test_lint_imports_keeps_every_contract():
    proc = lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "one-way layers KEPT" in proc.stdout
    assert "no import cycles inside a package KEPT" in proc.stdout
    assert "0 broken" in proc.stdout


@pytest.fixture
def copy_of_the_harness(tmp_path):
    """The harness package and pyproject.toml, copied (to plant in)."""
    shutil.copytree(os.path.join(ROOT, "harness"), tmp_path / "harness",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), tmp_path)
    return tmp_path


def _plant(path, line):
    text = path.read_text()
    head = "from __future__ import annotations\n"
    assert head in text
    path.write_text(text.replace(head, head + line + "\n", 1))


@pytest.mark.parametrize("module, planted, broken", [
    # a lower layer importing a higher one
    ("oracle/ledger.py", "from harness.report import tables",
     ["one-way layers BROKEN",
      "harness.oracle is not allowed to import harness.report",
      "harness.oracle.ledger -> harness.report.tables"]),
    # html imports runrecord; runrecord importing html closes a cycle
    ("report/runrecord.py", "from harness.report import html",
     ["no import cycles inside a package BROKEN",
      "No cycles are allowed in harness.report"]),
])
def test_a_planted_import_breaks_the_contract(copy_of_the_harness, module,
                                              planted, broken):
    _plant(copy_of_the_harness / "harness" / module, planted + "  # planted")
    proc = lint_imports(str(copy_of_the_harness))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for line in broken:
        assert line in proc.stdout, proc.stdout


# ---------------------------------------------------------------------------
# private names stay in their package
# ---------------------------------------------------------------------------
# (importer, imported name): each in code this change does not own, named
# so its owner can make the name public and delete the line
KNOWN_PRIVATE = {
    ("harness.verdicts.counterfactual", "harness.oracle.paths._handler_names"),
    ("harness.oracle.stepchecks", "harness.world.novaenv._ENGINES"),
}


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def private_uses(root: str) -> set[tuple[str, str]]:
    """(module, name) for every private name (``_x``) a module of
    ``root/harness`` imports, or reads as ``module._x``, from a package
    of the harness other than its own."""
    found = set()
    base = os.path.join(root, "harness")
    for folder, _, files in os.walk(base):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            module = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
            module = module.removesuffix(".__init__")
            tree = ast.parse(open(path, encoding="utf-8").read())
            bound = {}          # local name -> harness module it names
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (
                        node.module or "").startswith("harness"):
                    for a in node.names:
                        full = "%s.%s" % (node.module, a.name)
                        bound[a.asname or a.name] = full
                        if a.name.startswith("_") and \
                                _package(full) != _package(module):
                            found.add((module, full))
                elif isinstance(node, ast.Import):
                    for a in node.names:
                        if a.name.startswith("harness.") and a.asname:
                            bound[a.asname] = a.name
            for node in ast.walk(tree):
                if (isinstance(node, ast.Attribute)
                        and node.attr.startswith("_")
                        and not node.attr.startswith("__")
                        and isinstance(node.value, ast.Name)
                        and node.value.id in bound):
                    full = "%s.%s" % (bound[node.value.id], node.attr)
                    if _package(full) != _package(module):
                        found.add((module, full))
    return found


def test_no_package_uses_another_packages_private_names():
    assert private_uses(ROOT) - KNOWN_PRIVATE == set()


def test_a_private_name_used_across_packages_is_found(copy_of_the_harness):
    _plant(copy_of_the_harness / "harness" / "matrix" / "calls.py",
           "from harness.report import runrecord as _rr  # planted\n"
           "_PLANTED = _rr._dump_trace")
    _plant(copy_of_the_harness / "harness" / "mutate" / "probe.py",
           "from harness.verdicts.judge import _Skip  # planted")
    found = private_uses(str(copy_of_the_harness)) - KNOWN_PRIVATE
    assert found == {("harness.matrix.calls",
                      "harness.report.runrecord._dump_trace"),
                     ("harness.mutate.probe", "harness.verdicts.judge._Skip")}
