"""Many faults, one after another, in one world: a sweep.

A full cross product of states (every ``vm_state`` with every
``task_state``, every migration status with every type) is hundreds of
faults; a world (or a forked copy of one) per fault would take minutes.
A sweep is a *group mode* of the one trial run
(:class:`~harness.verdicts.judge.TrialRun`), as trials from snapshots are
(:mod:`harness.verdicts.snapshots`): :func:`harness.verdicts.judge.run_sweep_group` builds one world,
runs the shared workload and its ``before`` checks once
(``TrialRun.prepare``), then runs each trial's own part
(``TrialRun.inject_and_observe``: inject, audit and check under the fault,
clear, audit and check again) one after another in that world.  Each trial
is an ordinary :class:`~harness.verdicts.judge.Trial` and its observation
is made by the same code as any other: the fault's data-authority class,
the mechanisms traced while it was in place, the replay under a what-if (on
a fresh world), the log lines of its own part.  The first trial is the
control (the world after the workload, no fault).

The price of sharing a world: a trial's ``before`` is what the world showed
last (the previous trial's ``after_clear``), so a fault whose damage
outlives its repair dirties the ``before`` of the next one, which the judge
then treats as INCONCLUSIVE rather than blaming the next fault; the
evidence names the fault that did it (its ``after_clear``).  A trial that
fails leaves the world in an unknown state: the trials after it are not
run, each saying so.
"""
from __future__ import annotations

from typing import Callable

from harness.verdicts import judge as judge_mod


def run_sweep(name: str, setup: Callable, faults: dict,
              world_kwargs: dict | None = None, audit_via=("tracker",),
              checks=(), audit_hosts=None) -> list:
    """A control observation, then one observation per fault (name ->
    factory(world)), all from one world: :meth:`Judge.sweep
    <harness.verdicts.judge.Judge.sweep>` for a caller with no judge."""
    return judge_mod.Judge(name, []).sweep(
        name, setup, faults, world_kwargs=world_kwargs, audit_via=audit_via,
        checks=checks, audit_hosts=audit_hosts)
