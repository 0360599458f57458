"""The stateful explorer: random lifecycle operation sequences with faults
interleaved, every invariant after every operation, shrunk reproducers kept
in a corpus (``scenarios/corpus``).

For other runners (CI, the mutation score): :func:`explore` runs a bounded
exploration against whatever Nova is importable and returns what failed;
:func:`replay_corpus` replays every corpus entry and returns what failed;
:func:`run_for_matrix` does both for the release matrix and writes a
summary (:mod:`harness.explore.matrix`).
"""
from harness.explore.runner import (  # noqa: F401
    CORPUS, ExploreResult, Failure, ReplayResult, explore, replay_corpus,
    replay_entry, save)
from harness.explore.matrix import run_for_matrix  # noqa: F401,E402
