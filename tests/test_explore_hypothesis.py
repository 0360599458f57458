"""The guarded adapter to Hypothesis's internals
(:mod:`harness.explore.hypothesis_adapter`): it finds what it relies on,
both limits still act on a small state machine (no Nova), and every
setting it changes is restored.  A Hypothesis upgrade that moves these
internals fails here, not in an exploration."""
from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.internal.conjecture import engine
from hypothesis.stateful import (RuleBasedStateMachine, rule,
                                 run_state_machine_as_test)

from harness.explore import hypothesis_adapter
from harness.explore.hypothesis_adapter import limits


def _settings(examples):
    return settings(max_examples=examples, stateful_step_count=5,
                    deadline=None, database=None, derandomize=True,
                    phases=(Phase.explicit, Phase.generate, Phase.shrink),
                    suppress_health_check=list(HealthCheck),
                    report_multiple_bugs=False, print_blob=False)


def _machine(counts, fail_at=None, idle=True):
    """A machine counting its examples (``counts["examples"]``); with
    ``fail_at`` every example that reaches that many increments fails;
    ``idle``: a second rule that does nothing."""
    class Counter(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.n = 0
            counts["examples"] += 1

        @rule()
        def inc(self):
            self.n += 1
            if fail_at is not None and self.n >= fail_at:
                raise AssertionError("reached %d" % self.n)

    if idle:
        Counter.idle = rule()(lambda self: None)
    return Counter


def _saved():
    return (engine.ConjectureRunner.__dict__["should_generate_more"],
            engine.MAX_SHRINKING_SECONDS)


def test_what_the_adapter_relies_on_is_there():
    hypothesis_adapter.check()


def test_the_check_says_what_changed(monkeypatch):
    monkeypatch.delattr(engine, "MAX_SHRINKING_SECONDS")
    with pytest.raises(hypothesis_adapter.HypothesisChanged) as err:
        hypothesis_adapter.check()
    assert "MAX_SHRINKING_SECONDS is gone" in str(err.value)
    assert "hypothesis_adapter.py" in str(err.value)


def test_past_the_deadline_a_batch_runs_one_example():
    counts = {"examples": 0}
    with limits(time.monotonic(), 30):
        run_state_machine_as_test(_machine(counts), settings=_settings(20))
    assert counts["examples"] == 1


def test_without_a_deadline_a_batch_runs_every_example():
    counts = {"examples": 0}
    with limits(None, 30):
        run_state_machine_as_test(_machine(counts), settings=_settings(20))
    assert counts["examples"] >= 20


def test_past_the_deadline_a_failure_is_still_shrunk_and_raised():
    """The deadline never ends a batch that holds a failure: Hypothesis
    shrinks it (more examples) and raises it."""
    counts = {"examples": 0}
    with pytest.raises(AssertionError, match="reached 1"):
        with limits(time.monotonic(), 30):
            run_state_machine_as_test(_machine(counts, fail_at=1,
                                               idle=False),
                                      settings=_settings(50))
    assert counts["examples"] > 1


def test_the_shrink_bound_stops_shrinking():
    """With no time to shrink, Hypothesis stops at once and reports a
    longer failing example than with time to shrink."""
    def failing_steps(shrink_seconds):
        counts = {"examples": 0}
        with limits(None, shrink_seconds):
            with pytest.raises(AssertionError) as err:
                run_state_machine_as_test(_machine(counts, fail_at=3),
                                          settings=_settings(50))
        return counts["examples"], str(err.value)
    bounded, _ = failing_steps(0)
    free, message = failing_steps(300)
    assert "reached 3" in message
    assert bounded < free


def test_every_setting_is_restored_even_after_an_error():
    before = _saved()
    with pytest.raises(RuntimeError):
        with limits(time.monotonic(), 1):
            assert engine.MAX_SHRINKING_SECONDS == 1
            assert engine.ConjectureRunner.__dict__[
                "should_generate_more"] is not before[0]
            raise RuntimeError("boom")
    assert _saved() == before
