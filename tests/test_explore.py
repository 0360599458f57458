"""The explorer replays with its seed, catches a defect, shrinks it into a
corpus entry that replays, and refuses bad input in one line."""
from __future__ import annotations

import json

import pytest

from harness.cli import build_parser
from harness.cli import explore as explore_cli
from harness.explore import hypothesis_adapter, machine, runner
from harness.explore.machine import Recorder


def _ops(seed):
    """Every operation of a small batch, in order."""
    seen = []
    rec = Recorder(on_op=lambda n: seen.append(dict(rec.last_ops[-1])))
    failure = runner.run_batch(seed, 0, rec, exclude=("faults",),
                               examples=3, steps=5)
    assert failure is None, failure
    return seen


def test_the_same_seed_replays_the_same_operations():
    first = _ops(11)
    assert len(first) > 3
    assert _ops(11) == first
    assert _ops(12) != first


@pytest.fixture
def broken_abort(monkeypatch):
    """A deliberate defect (as a regression would bring): aborting an
    instance claim frees nothing."""
    from harness.world import novaenv
    novaenv.load()
    from nova.compute import resource_tracker
    monkeypatch.setattr(resource_tracker.ResourceTracker,
                        "abort_instance_claim",
                        lambda self, context, instance, nodename: None)


def test_the_explorer_finds_and_shrinks_a_defect(broken_abort, tmp_path):
    only = set(machine.FAMILIES) - {"build_fail"}
    result = runner.explore(600, seed=3, exclude=only, examples=3, steps=6,
                            max_batches=4, shrink_seconds=60)
    failure = result.failure
    assert failure is not None, "the defect went unnoticed"
    assert "usage_agrees" in failure.invariants
    assert failure.ops[-1]["f"] == "build_fail"
    # shrunk: the flavors, at most one unrelated step, the failing build
    assert len(failure.ops) <= 5
    path = runner.save(failure, str(tmp_path))
    replayed = runner.replay_entry(path)
    assert replayed.failed and replayed.invariants == failure.invariants
    assert [r.path for r in runner.replay_corpus(str(tmp_path))] == [path]


def test_a_corpus_entry_replays_clean_without_the_defect(tmp_path):
    entry = {"version": 1, "seed": 0, "batch": 0, "exclude": [],
             "failed_after": "", "invariants": [], "violations": [],
             "program": "",
             "ops": [{"f": "create_flavor",
                      "args": {"name": "small", "vcpus": 1,
                               "memory_mb": 512, "root_gb": 10}},
                     {"f": "build_fail",
                      "args": {"name": "i1", "flavor": "small",
                               "host": "src", "alternate": None}}]}
    path = tmp_path / "e.json"
    path.write_text(json.dumps(entry))
    result = runner.replay_entry(str(path))
    assert not result.failed and result.ops == 2


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "not a readable corpus entry"),
    ('{"version": 9, "ops": []}', "not a version-1 corpus entry"),
    ('{"version": 1, "ops": [{"nof": 1}]}', "not an operation"),
])
def test_a_bad_entry_is_one_line(tmp_path, capsys, content, fragment):
    path = tmp_path / "bad.json"
    path.write_text(content)
    from harness.cli import main
    assert main(["explore", "--replay", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err


@pytest.mark.parametrize("argv, fragment", [
    (["--budget", "0"], "positive duration"),
    (["--budget", "ten minutes"], "positive duration"),
    (["--exclude", "bogus"], "unknown operation family bogus"),
    (["--replay", "/nonexistent.json"], "/nonexistent.json"),
])
def test_bad_arguments_are_one_line(capsys, argv, fragment):
    from harness.cli import main
    with pytest.raises(SystemExit) as exc:
        main(["explore"] + argv) if argv[0] != "--replay" else (
            _exit(main(["explore"] + argv)))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err


def _exit(code):
    raise SystemExit(code)


def test_budget_units():
    assert explore_cli.parse_budget("10m") == 600
    assert explore_cli.parse_budget("90s") == 90
    assert explore_cli.parse_budget("2") == 2
    assert explore_cli.parse_budget("1h") == 3600


def test_failed_builds_are_explored_stopped_before_their_clean_up():
    """The machine stops some failed builds after the claim aborted and
    cleans them up later (``finish_build_fail``), and pristine Nova keeps
    every invariant on the way."""
    only = tuple(set(machine.FAMILIES) - {"build_fail"})
    seen = []
    rec = Recorder(on_op=lambda n: seen.append(dict(rec.last_ops[-1])))
    # (seed 6 reaches it first today; the others keep the test meaningful
    # when new rules change what each seed draws)
    for seed in [6] + list(range(12)):
        failure = runner.run_batch(seed, 0, rec, exclude=only, examples=3,
                                   steps=10)
        assert failure is None, failure
        if any(op["f"] == "finish_build_fail" for op in seen):
            break
    stopped = [op for op in seen if op["f"] == "build_fail"
               and op["args"].get("until") == "aborted"]
    assert stopped and any(op["f"] == "finish_build_fail" for op in seen)


def test_the_budget_ends_a_batch_between_examples():
    """Past the deadline a batch starts no new example (its first one
    always runs), so large batches keep to the budget."""
    import time
    rec = Recorder(deadline=time.monotonic())
    assert runner.run_batch(5, 0, rec, examples=runner.EXAMPLES,
                            steps=3) is None
    assert rec.runs == 1


def test_the_commands_default_batch_explores_more_than_audits(monkeypatch):
    """A batch of ``python -m harness explore``'s default size, cut short
    by its budget after a dozen examples, drives most operation kinds.
    Hypothesis starts a batch with its simplest example (the first enabled
    rule, the audit, at every step) and one that stops at once, and sizes
    its first examples by the batch: with two examples a batch (the
    command's old default) those were all it ever ran."""
    args = build_parser().parse_args(["explore", "--exclude",
                                      "delete_mid_move"])   # F-11's family
    rec = Recorder()
    rec.deadline = 1.0

    class Clock:
        """The budget, spent once 12 examples ran (whatever the load)."""
        @staticmethod
        def monotonic():
            return 1.0 if rec.runs >= 12 else 0.0
    monkeypatch.setattr(hypothesis_adapter, "time", Clock)
    seen = []
    rec.on_op = lambda n: seen.append(rec.last_ops[-1]["f"])
    failure = runner.run_batch(args.seed, 0, rec, exclude=args.exclude,
                               examples=args.examples, steps=args.steps)
    assert failure is None, failure
    assert rec.runs <= 12
    kinds = set(rec.kinds) - {"audit", "create_flavor"}
    assert len(kinds) >= 5, rec.kinds
    assert rec.kinds == {f: seen.count(f) for f in set(seen)}
