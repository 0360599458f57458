"""Replay every reproducer the explorer saved (``scenarios/corpus``).

Each corpus entry is the shrunk operation sequence of a failure the
explorer found, with the invariants that failed when it was found (recorded
by the explorer, never written by hand).  Replayed on a fresh world with
the same step checker, an entry must fail the same invariants: a
difference means Nova's behaviour (or the harness) changed, and the entry
names the sequence to look at.  ``python -m harness explore --replay
<entry>`` prints it step by step.
"""
from __future__ import annotations

import os

import pytest

from harness.explore import runner

ENTRIES = sorted(n for n in os.listdir(runner.CORPUS)
                 if n.endswith(".json")) if os.path.isdir(
                     runner.CORPUS) else []


@pytest.mark.skipif(not ENTRIES, reason="the corpus is empty")
@pytest.mark.parametrize("entry", ENTRIES or ["-"])
def test_corpus_entry_replays_as_recorded(entry):
    path = os.path.join(runner.CORPUS, entry)
    recorded = runner.load_entry(path)
    result = runner.replay_entry(path)
    assert result.invariants == recorded["invariants"], (
        "%s: recorded %s after %s, replay %s after %s\n%s"
        % (entry, recorded["invariants"], recorded["failed_after"],
           result.invariants or "nothing", result.failed_after,
           "\n".join(result.violations)))
