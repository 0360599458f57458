"""Replay every reproducer the explorer saved (``scenarios/corpus``).

Each corpus entry is the shrunk operation sequence of a failure the
explorer found, with the invariants that failed when it was found, on the
Nova it was found on, and what its replay showed on every other release it
was replayed on (``python -m harness explore --replay ENTRY
--record-outcome`` in that release's environment; recorded by the
harness, never written by hand).  Replayed on a fresh world with the same
step checker, an entry must show what was recorded for the installed
release: a difference means Nova's behaviour (or the harness) changed,
and the entry names the sequence to look at.  An entry found on an older
release replays here with this release's recorded outcome (every invariant
holding, when the older release's bug is fixed here), and on its own
release in the nightly matrix.  ``python -m harness explore --replay
<entry>`` prints it step by step.
"""
from __future__ import annotations

import os
import warnings

import pytest

from harness.explore import runner

ENTRIES = sorted(n for n in os.listdir(runner.CORPUS)
                 if n.endswith(".json")) if os.path.isdir(
                     runner.CORPUS) else []
EMPTY = (
    "nothing replayed: the explorer's corpus (%s) holds no entry, so no "
    "failure the explorer found is checked here against this Nova.  "
    "`python -m harness explore` saves a shrunk failure there (none is "
    "checked in); an entry that fails only on an older Nova release is "
    "replayed with that release by `python -m harness matrix` "
    "(harness.explore.run_for_matrix), not in this environment"
    % os.path.relpath(runner.CORPUS))


class EmptyCorpus(UserWarning):
    """The corpus replay had nothing to replay (shown in pytest's warnings
    summary, so a run's output says so)."""


if ENTRIES:
    @pytest.mark.parametrize("entry", ENTRIES)
    def test_corpus_entry_replays_as_recorded(entry):
        from harness.world import novaenv
        path = os.path.join(runner.CORPUS, entry)
        recorded = runner.load_entry(path)
        nova = novaenv.version_info()["nova"]
        expected = runner.expected_outcome(recorded, nova)
        assert expected is not None, (
            "%s has no recorded outcome for Nova %s (recorded: %s); record "
            "one: python -m harness explore --replay %s --record-outcome"
            % (entry, nova, ", ".join(sorted(recorded.get("outcomes", {})))
               or "none", path))
        result = runner.replay_entry(path)
        assert result.invariants == expected, (
            "%s on Nova %s: recorded %s, replay %s after %s\n%s"
            % (entry, nova, expected or "every invariant held",
               result.invariants or "every invariant held",
               result.failed_after, "\n".join(result.violations)))
else:
    def test_corpus_entry_replays_as_recorded():
        """No entry: say why, plainly, in the run's output."""
        warnings.warn(EmptyCorpus(EMPTY))
        pytest.skip(EMPTY)
