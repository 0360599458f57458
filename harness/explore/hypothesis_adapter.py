"""What the explorer needs from Hypothesis that its public API does not
offer: the one module that touches Hypothesis's internals, guarded.

Everything else the explorer does through the public API (``settings``,
``seed``, ``run_state_machine_as_test``).  Two limits have no public
setting:

* **No new example after a deadline** (the exploration's budget), ending
  the batch as if ``max_examples`` were reached, and never while
  Hypothesis holds a failure (it then shrinks it as always).  Cutting an
  example off would make its data look flaky to Hypothesis; raising a
  ``BaseException`` from the test would end the run early, but it would
  also throw away a failure being shrunk, and a test cannot tell
  generating from shrinking through the public API.  So the engine's
  ``ConjectureRunner.should_generate_more`` is wrapped.
* **A bound on shrinking** (Hypothesis's own is five minutes; each attempt
  here replays real Nova operations): ``MAX_SHRINKING_SECONDS`` of the
  engine module, which the engine reads when shrinking starts.

:func:`limits` sets both for a ``with`` block and restores both on the way
out, whatever happens.  :func:`check` raises :class:`HypothesisChanged`
when the internals are not what this module expects;
``tests/test_explore_hypothesis.py`` also checks that the two limits still
act (a Hypothesis upgrade that changes them fails there first).
"""
from __future__ import annotations

import contextlib
import inspect
import time

import hypothesis
from hypothesis.internal.conjecture import engine

# What :func:`limits` relies on (Hypothesis 6.170).
EXPECTED = ("hypothesis.internal.conjecture.engine: MAX_SHRINKING_SECONDS "
            "(a number, read when shrinking starts) and ConjectureRunner ("
            "should_generate_more(self) -> bool; valid_test_cases and "
            "interesting_test_cases set in __init__)")


class HypothesisChanged(RuntimeError):
    """Hypothesis's internals are not what :func:`limits` expects."""


def check() -> None:
    """Raise :class:`HypothesisChanged` unless the internals :func:`limits`
    changes are there, in the shape it expects."""
    problems = []
    runner = getattr(engine, "ConjectureRunner", None)
    own = getattr(runner, "should_generate_more", None)
    if not callable(own):
        problems.append("ConjectureRunner.should_generate_more is gone")
    elif list(inspect.signature(own).parameters) != ["self"]:
        problems.append("should_generate_more takes %s"
                        % list(inspect.signature(own).parameters))
    if not isinstance(getattr(engine, "MAX_SHRINKING_SECONDS", None),
                      (int, float)):
        problems.append("engine.MAX_SHRINKING_SECONDS is gone")
    if runner is not None:
        init = inspect.getsource(runner.__init__)
        for attr in ("valid_test_cases", "interesting_test_cases"):
            if "self.%s" % attr not in init:
                problems.append("ConjectureRunner no longer sets %s" % attr)
    if problems:
        raise HypothesisChanged(
            "Hypothesis %s changed what the explorer relies on (%s); "
            "expected %s - adapt harness/explore/hypothesis_adapter.py"
            % (hypothesis.__version__, "; ".join(problems), EXPECTED))


@contextlib.contextmanager
def limits(deadline: float | None, shrink_seconds: float):
    """For the block: no new example after ``deadline`` (a
    ``time.monotonic()`` value; None: no limit) once one example has run
    and while no failure is held, and at most ``shrink_seconds`` of
    shrinking.  Both restored afterwards."""
    check()
    runner = engine.ConjectureRunner
    own = runner.__dict__["should_generate_more"]
    own_shrink = engine.MAX_SHRINKING_SECONDS

    def should_generate_more(self):
        if (deadline is not None and not self.interesting_test_cases
                and self.valid_test_cases
                and time.monotonic() >= deadline):
            return False
        return own(self)

    engine.MAX_SHRINKING_SECONDS = shrink_seconds
    runner.should_generate_more = should_generate_more
    try:
        yield
    finally:
        runner.should_generate_more = own
        engine.MAX_SHRINKING_SECONDS = own_shrink
