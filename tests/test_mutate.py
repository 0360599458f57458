"""Self-tests of ``python -m harness mutate`` (harness/mutate/).

* each operator makes exactly the intended change, keeps the line count,
  and the defects resolve against the installed Nova without touching it;
* the loader really serves the mutant in the child process (a mutant that
  raises on entry is caught; so is one that breaks the module's import);
* a known accounting defect is caught by an invariant difference, a
  known-equivalent mutant (a log message) survives;
* a bad ``--patch`` is one line and exit 2; a good one becomes a mutant.
"""
from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys

import pytest

from harness.mutate import catchers, defects, operators, patch
from harness.mutate.defects import Defect, Mutant

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIO = os.path.join(ROOT, "tests", "data", "mutate_scenarios.py")

SAMPLE = '''\
import logging
LOG = logging.getLogger(__name__)


class T:
    def f(self, a, b, sign=1):
        """Doc."""
        if a == b:
            x = 1
        elif a in b:
            x = 2
        else:
            x = 3
        self.g(a, b, sign=-1)
        self.total += sign * x   # a comment that must survive
        self._update_usage(a, b)
        ok = self.move(a, b) and b
        LOG.info("moved %s", a)
        return self.new_flavor if ok else 'old_'
'''


def mutate(op, match=None, nth=0):
    new, change = operators.apply(SAMPLE, "T.f", op, match, nth)
    assert len(new.splitlines()) == len(SAMPLE.splitlines())
    assert "a comment that must survive" in new
    ast.parse(new)
    return new, change


@pytest.mark.parametrize("op, match, nth, before, after", [
    ("flip_compare", None, 0, "if a == b:", "if (a != b):"),
    ("flip_compare", None, 1, "elif a in b:", "elif (a not in b):"),
    ("negate_condition", None, 0, "if a == b:", "if (not (a == b)):"),
    ("remove_elif", None, 0, "elif a in b:", "elif False:"),
    ("drop_statement", r"self\.g\(", 0, "self.g(a, b, sign=-1)", "pass"),
    ("swap_args", r"self\.move", 0, "self.move(a, b)", "self.move(b, a)"),
    ("wrong_flavor", None, 0, "self.new_flavor", "self.old_flavor"),
    ("wrong_flavor", None, 1, "'old_'", "'new_'"),
    ("wrong_sign", r"sign=-1", 0, "sign=-1", "sign=(1)"),
    ("wrong_sign", r"\+=", 0, "self.total += sign * x",
     "self.total -= sign * x"),
    ("wrong_sign", r"_update_usage", 0, "self._update_usage(a, b)",
     "self._update_usage(a, b, sign=-1)"),
    ("off_by_one", r"x = 2", 0, "x = 2", "x = 3"),
    ("bool_flip", None, 0, None, None),
    ("and_or", None, 0, "self.move(a, b) and b", "(self.move(a, b) or b)"),
    ("skip_call", r"self\.move", 0, "ok = self.move(a, b) and b",
     "ok = True and b"),
    ("log_message", None, 0, '"moved %s"', "'[mutated] moved %s'"),
    ("raise_on_entry", None, 0, "if a == b:", "raise RuntimeError("),
])
def test_operator_makes_the_intended_change(op, match, nth, before, after):
    if op == "bool_flip":   # no bool literal in SAMPLE: refused, not faked
        with pytest.raises(operators.SiteMissing):
            operators.apply(SAMPLE, "T.f", op)
        return
    new, change = mutate(op, match, nth)
    assert before in SAMPLE
    diff = [(a, b) for a, b in zip(SAMPLE.splitlines(), new.splitlines())
            if a != b]
    assert diff, "nothing changed"
    assert any(before in a and after in b for a, b in diff), diff


def test_missing_sites_are_reported_not_invented():
    with pytest.raises(operators.SiteMissing, match="no function"):
        operators.apply(SAMPLE, "T.nope", "drop_statement")
    with pytest.raises(operators.SiteMissing, match="no class"):
        operators.apply(SAMPLE, "Nope.f", "drop_statement")
    with pytest.raises(operators.SiteMissing, match="site"):
        operators.apply(SAMPLE, "T.f", "drop_statement", r"no such code")
    sources = {defects.RT: ("x.py", "class ResourceTracker:\n    pass\n"),
               defects.MIGRATE: ("y.py", "x = 1\n"),
               defects.MANAGER: ("z.py", "class ComputeManager:\n    pass\n")}
    mutants, missing = defects.materialise(sources)
    assert mutants == [] and len(missing) == len(defects.DEFECTS)


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def materialised():
    """Every defect against the installed Nova, materialised once for the
    module (the tests only read the mutants), with the installed files'
    digests taken before materialising."""
    sources = defects.installed_sources()
    before = {m: _digest(p) for m, (p, _t) in sources.items()}
    mutants, missing = defects.materialise(sources)
    return sources, before, mutants, missing


def test_defects_resolve_against_the_installed_nova_without_touching_it(
        materialised):
    sources, before, mutants, missing = materialised
    assert len(mutants) >= 30 and not missing, missing
    assert {d.path for d in defects.DEFECTS} >= {
        "claim", "move_claim", "drop", "abort", "audit_instances",
        "audit_migrations", "placement", "conductor"}
    trees = {}
    for m in mutants:
        module = m.defect.module
        original = sources[module][1]
        assert m.files[module] != original
        assert len(m.files[module].splitlines()) == len(
            original.splitlines())
        # the change lies inside the function the defect names
        if module not in trees:             # the same original each time
            trees[module] = ast.parse(original)
        func = operators.find_function(trees[module], m.defect.function)
        changed = [i + 1 for i, (a, b) in enumerate(zip(
            original.splitlines(), m.files[module].splitlines())) if a != b]
        assert changed and all(func.lineno <= i <= func.end_lineno
                               for i in changed), (m.id, changed)
    assert {m: _digest(p) for m, (p, _t) in sources.items()} == before
    # the same list every time (sites are found by name and shape)
    again, _ = defects.materialise(defects.installed_sources())
    assert [m.diff for m in again] == [m.diff for m in mutants]


# ---------------------------------------------------------------------------
# end to end through the child processes (one tiny real scenario)
# ---------------------------------------------------------------------------
def _pristine_copies(tmp):
    """Unmodified copies of the installed Nova files: (sources, files)."""
    sources = defects.installed_sources()
    files = {}
    for module, (_p, text) in sources.items():
        path = tmp / (module.replace(".", "_") + ".py")
        path.write_text(text)
        files[module] = str(path)
    return sources, files


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mutate")
    sources, files = _pristine_copies(tmp)
    catcher = catchers.ScenarioCatcher(SCENARIO)
    info = catcher.prepare(files, str(tmp / "pristine"), 1, lambda s: None)
    assert info["scenarios"] == 1
    return tmp, sources, catcher


def _mutant(tmp, sources, ident, function, op, match=None, nth=0):
    d = Defect(ident, "claim", defects.RT, function, op, match, "test")
    (mutant,), missing = defects.materialise(sources, [d])
    path = tmp / ident / "rt.py"
    path.parent.mkdir()
    path.write_text(mutant.files[defects.RT])
    return mutant, {defects.RT: str(path)}


def test_pristine_run_served_the_copies_and_recorded_coverage(pristine):
    tmp, _sources, catcher = pristine
    (rec,) = catcher.reference.values()
    assert rec["error"] is None and rec["verdict"]
    assert rec["served"][defects.RT].startswith(str(tmp))
    assert "ResourceTracker.instance_claim" in rec["functions"]
    assert "ResourceTracker.drop_move_claim_at_source" in rec["functions"]
    assert catcher.relevant([defects.RT + ".ResourceTracker.resize_claim"])
    assert not catcher.relevant([defects.RT +
                                 ".ResourceTracker.rebuild_claim"])


def test_mutant_raising_on_entry_is_caught(pristine):
    tmp, sources, catcher = pristine
    mutant, files = _mutant(tmp, sources, "RAISE",
                            "ResourceTracker.instance_claim",
                            "raise_on_entry")
    catch = catcher.run(mutant, files, str(tmp / "RAISE-work"), 300,
                        lambda s: None)
    assert catch.status == "caught", catch
    assert "RuntimeError" in catch.by[0][1] or "error" in catch.by[0][1]


def test_mutant_breaking_the_import_is_caught(pristine):
    tmp, sources, catcher = pristine
    text = sources[defects.RT][1] + "\nraise ImportError('mutant')\n"
    path = tmp / "import-broken.py"
    path.write_text(text)
    mutant = Mutant("IMPORT", None, {defects.RT: text}, "", "import raises",
                    [defects.RT + ".ResourceTracker.instance_claim"])
    catch = catcher.run(mutant, {defects.RT: str(path)},
                        str(tmp / "IMPORT-work"), 300, lambda s: None)
    assert catch.status == "caught", catch


def test_accounting_defect_is_caught_by_an_invariant(pristine):
    tmp, sources, catcher = pristine
    mutant, files = _mutant(tmp, sources, "C09",
                            "ResourceTracker._update_usage", "wrong_sign",
                            r"memory_mb_used \+= ")
    catch = catcher.run(mutant, files, str(tmp / "C09-work"), 300,
                        lambda s: None)
    assert catch.status == "caught", catch
    assert "usage_matches_ledger" in catch.by[0][1] or \
        "verdict" in catch.by[0][1], catch.by


def test_equivalent_log_message_mutant_survives(pristine):
    tmp, sources, catcher = pristine
    mutant, files = _mutant(
        tmp, sources, "E01", "ResourceTracker._update_usage_from_migration",
        "log_message", r"Updating resource usage from migration")
    catch = catcher.run(mutant, files, str(tmp / "E01-work"), 300,
                        lambda s: None)
    assert catch.status == "survived", catch
    assert catch.ran == ["test_mutate_probe_boot_resize_confirm"]


def test_loader_refuses_when_the_real_module_came_first():
    code = ("import sys, json, nova.compute.resource_tracker\n"
            "from harness.mutate import loader\n"
            "try:\n"
            "    loader.install({'modules': {'nova.compute.resource_tracker':"
            " sys.argv[1]}})\n"
            "except loader.MutantLoadError as e:\n"
            "    print('refused:', e)\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("HARNESS_MUTANT", None)
    proc = subprocess.run([sys.executable, "-c", code, __file__], env=env,
                          capture_output=True, text=True, cwd=ROOT)
    assert "refused: nova.compute.resource_tracker was imported before" \
        in proc.stdout, proc.stderr[-2000:]


# ---------------------------------------------------------------------------
# --patch
# ---------------------------------------------------------------------------
def _cli(*args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("HARNESS_MUTANT", None)
    return subprocess.run([sys.executable, "-m", "harness", "mutate", *args],
                          env=env, capture_output=True, text=True, cwd=ROOT)


def _good_diff(tmp_path):
    path, text = defects.installed_sources()[defects.RT]
    new = text.replace("cn.vcpus_used += sign * vcpus_usage",
                       "cn.vcpus_used += sign * vcpus_usage * 2", 1)
    import difflib
    diff = "".join(difflib.unified_diff(
        text.splitlines(True), new.splitlines(True),
        "a/nova/compute/resource_tracker.py",
        "b/nova/compute/resource_tracker.py"))
    f = tmp_path / "good.diff"
    f.write_text(diff)
    return f, diff


def test_good_patch_becomes_a_mutant(tmp_path):
    f, _diff = _good_diff(tmp_path)
    mutant = patch.load(str(f))
    assert list(mutant.files) == [defects.RT]
    assert mutant.functions == [defects.RT + ".ResourceTracker._update_usage"]
    assert "vcpus_usage * 2" in mutant.files[defects.RT]


@pytest.mark.parametrize("content, words", [
    (None, "cannot be read"),
    ("just some words\n", "no unified diff"),
    ("SWAP", "does not apply"),
    ("OTHER", "not a file of the installed Nova"),
    ("BROKEN", "invalid Python"),
])
def test_bad_patch_is_one_line_and_exit_2(tmp_path, content, words):
    f = tmp_path / "p.diff"
    if content is not None:
        good, diff = _good_diff(tmp_path)
        if content == "SWAP":
            content = diff.replace(" cn.local_gb_used += sign * disk_usage",
                                   " cn.local_gb_used += sign * disk_X")
        elif content == "OTHER":
            content = diff.replace("nova/compute/resource_tracker.py",
                                   "nova/compute/not_there.py")
        elif content == "BROKEN":
            content = diff.replace("+        cn.vcpus_used += sign * "
                                   "vcpus_usage * 2",
                                   "+        cn.vcpus_used += (")
        f.write_text(content)
    proc = _cli("--patch", str(f))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert words in lines[0]
    assert proc.stdout == ""


def test_unknown_defect_id_is_one_line_and_exit_2():
    proc = _cli("--defects", "C01,NOPE")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "NOPE" in proc.stderr


def test_cli_writes_the_record_and_table(tmp_path):
    """The command end to end on the tiny scenario: the pristine run, one
    mutant, mutation.json / mutation.md / the diff, the score line."""
    # One lifecycle sequence (--lifecycle, a -k expression), not all ten:
    # the catcher's own judgement is tested above and below; here it is
    # the command's plumbing, twice ten sequences of Nova cost ~30 s.
    proc = _cli("--scenario-dir", SCENARIO, "--defects", "E01",
                "--runs-dir", str(tmp_path), "--explore-seconds", "5",
                "--lifecycle", "build and failure")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "mutation score: 0 caught of 1 decided" in proc.stdout
    (run,) = [p for p in tmp_path.iterdir() if p.name.startswith("mutate-")]
    import json
    doc = json.loads((run / "mutation.json").read_text())
    assert doc["complete"] and doc["score"]["mutants"] == 1
    (m,) = doc["mutants"]
    assert m["id"] == "E01" and m["status"] == "survived"
    assert "predicted equivalent" in m["reason"]
    assert doc["pristine"]["scenarios"]["coverage"][
        "test_mutate_probe_boot_resize_confirm"]
    assert doc["pristine"]["lifecycle"]["sequences"] == 1
    assert doc["options"]["lifecycle"] == "build and failure"
    assert "[mutated] Updating resource usage" in (
        run / "mutants" / "E01.diff").read_text()
    assert "## Survivors and why" in (run / "mutation.md").read_text()


def test_scenarios_borrowing_cached_trials_have_unknown_reach():
    """A scenario that judged trials without calling Nova (it took another
    scenario's cached observations) is run for every mutant, last."""
    c = catchers.ScenarioCatcher(SCENARIO)
    trials = {"trials": [{"trial": "t"}], "verdict": "REFUTED"}
    c.reference = {
        "cheap": {"nodeid": "a.py::cheap", "duration": 1.0,
                  "functions": ["ResourceTracker.instance_claim"],
                  "signature": trials},
        "slow": {"nodeid": "b.py::slow", "duration": 50.0,
                 "functions": ["ResourceTracker.instance_claim",
                               "ResourceTracker._move_claim"],
                 "signature": trials},
        "borrower": {"nodeid": "c.py::borrower", "duration": 0.01,
                     "functions": [], "signature": trials},
        "static": {"nodeid": "d.py::static", "duration": 0.01,
                   "functions": [], "signature": {"trials": []}},
    }
    rt = defects.RT + ".ResourceTracker."
    assert c.relevant([rt + "instance_claim"]) == ["cheap", "slow",
                                                   "borrower"]
    assert c.relevant([rt + "_move_claim"]) == ["slow", "borrower"]
    assert c.coverage()["borrower"] == ["*"]


def test_merge_keeps_the_most_decided_result(tmp_path):
    from harness.mutate import runner
    import json

    def part(name, mutants):
        folder = tmp_path / name
        folder.mkdir()
        doc = {"complete": True, "nova": {"nova": "x"},
               "nova_fingerprint": "f", "harness_fingerprint": "h",
               "catchers": {"scenarios": {"available": True,
                                          "reason": None}},
               "pristine": {"scenarios": {"scenarios": 2}}, "missing": [],
               "mutants": [dict(id=i, status=s, path="claim", function="f",
                                operator="o", what="w", expect=e,
                                change="c", by=[{"catcher": "scenarios",
                                                 "what": "t", "why": "v"}]
                                if s == "caught" else [], reason=None
                                if s == "caught" else "r")
                           for i, s, e in mutants]}
        (folder / "mutation.json").write_text(json.dumps(doc))
        return str(folder)
    a = part("a", [("C01", "budget", "accounting"),
                   ("E01", "survived", "equivalent")])
    b = part("b", [("C01", "caught", "accounting"),
                   ("C02", "survived", "accounting")])
    lines = []
    doc = runner.merge([a, b], str(tmp_path), out=lines.append)
    got = {m["id"]: m["status"] for m in doc["mutants"]}
    assert got == {"C01": "caught", "C02": "survived", "E01": "survived"}
    assert doc["score"]["caught"] == 1 and doc["score"]["mutants"] == 3
    assert doc["score"]["predicted_equivalent_survivors"] == 1
    assert doc["score"]["score_excluding_predicted_equivalent"] == 0.5
    with pytest.raises(runner.MutateInputError, match="mutation.json"):
        runner.merge([str(tmp_path / "nope")], str(tmp_path))


def test_lifecycle_catcher_sees_what_the_next_audit_would_repair(tmp_path):
    """An abort that leaves the node's row unsaved (A03) is repaired by the
    next periodic audit, so a check after audits alone misses it; the
    lifecycle sequences check after every operation and catch it, naming
    the sequence and the operation.  A log-message mutant survives."""
    sources, files = _pristine_copies(tmp_path)
    catcher = catchers.LifecycleCatcher(select="build and failure")
    info = catcher.prepare(files, str(tmp_path / "pristine"), 1,
                           lambda s: None)
    assert info["sequences"] == info["passing"] == 1
    abort, abort_files = _mutant(tmp_path, sources, "A03",
                       "ResourceTracker.abort_instance_claim",
                       "drop_statement", r"self\._update\(")
    catch = catcher.run(abort, abort_files, str(tmp_path / "A03-work"),
                        600, lambda s: None)
    assert catch.status == "caught", catch
    assert "build failure" in catch.by[0][0]
    assert "build_fail" in catch.by[0][1]
    log, log_files = _mutant(tmp_path, sources, "E01",
                     "ResourceTracker._update_usage_from_migration",
                     "log_message", r"Updating resource usage from migration")
    catch = catcher.run(log, log_files, str(tmp_path / "E01-work"), 600,
                        lambda s: None)
    assert catch.status == "survived", catch


def test_every_mutated_function_reads_back_on_its_own(materialised):
    """The harness reads Nova's functions back from their source (path
    tracing, what-ifs: ``inspect.getsource`` + ``textwrap.dedent``), so a
    mutant must keep each function readable on its own, not only the
    module parseable: a defect that splits an expression over fewer lines
    pads it, and the padding must stay inside the function."""
    import textwrap
    _sources, _before, mutants, _missing = materialised
    for m in mutants:
        module = m.defect.module
        text = m.files[module]
        lines = text.splitlines(keepends=True)
        func = operators.find_function(ast.parse(text), m.defect.function)
        body = "".join(lines[func.lineno - 1:func.end_lineno])
        if func.decorator_list:
            body = "".join(lines[func.decorator_list[0].lineno - 1:
                                 func.end_lineno])
        ast.parse(textwrap.dedent(body))      # raises for a bad mutant
