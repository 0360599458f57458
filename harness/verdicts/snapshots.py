"""Trials from snapshots: build and drive a world once, fork per trial.

A scenario family runs one control and many variants over the same
workload.  Built the plain way (:func:`~harness.verdicts.judge.run_trial`)
every trial builds a world, runs the workload and audits it before the
fault goes in: most of a trial's time, and the same for every one of them.

:func:`run_group` does that part once: it builds the world, runs the
trials' shared ``setup`` and the ``before`` audit and checks, then forks the
process once per trial.  Each child is a copy-on-write copy of everything
the parent holds (the in-memory databases of Nova and Placement, the
trackers' memory, the report clients' provider trees, Nova's module-level
caches, the ledger, the log records so far) and runs only the trial's own
part: inject the fault, audit and check under it, continue the workload,
clear it, audit and check again.  It sends its
:class:`~harness.verdicts.judge.Observation` back through a pipe and exits
without running any clean-up; the parent's world is never touched by a
trial, so the next child starts from exactly the same state.  The code under
test runs as it does on a fresh world: nothing is mocked, only the
process is copied.

Copies run side by side, up to ``HARNESS_TRIAL_JOBS`` at once (default:
the CPUs per xdist worker, so a run of one process uses every core and a
run with one worker per CPU runs one copy at a time); the observations
come back in the trials' order whatever order the copies finish in.

When the parent cannot fork safely it says why (in the first trial's trace
and in :data:`LAST_FALLBACK`) and runs the group on fresh worlds:

* ``HARNESS_SNAPSHOTS=0`` (or ``no``/``off``/``false``) forces the fresh
  path everywhere;
* no ``os.fork`` on this platform;
* a world on sqlite files (``sqlite="file"``): the copies would share the
  files;
* a thread other than the main one is alive when the fork would happen
  (after the workload, and after Nova's thread pools were shut down, as
  Nova does before it forks its workers): a copy has only the forking thread, so it could
  inherit a lock held by one that no longer exists.  Threads that are
  idle in pytest-xdist's channel (``execnet``) are the exception: the child
  never talks to the channel.

Bounded and contained: the child re-arms the scenario's remaining time
limit (``SIGALRM``; timers are not inherited; ``HARNESS_TRIAL_TIMEOUT=S``
bounds each trial to S seconds as well), so a hang inside a trial
becomes that trial's harness error with every stack, and a child that dies
(signal, ``os._exit``) is that trial's harness error with its exit status:
both make the verdict INCONCLUSIVE, never a pass.
"""
from __future__ import annotations

import functools
import gc
import os
import pickle
import signal
import sys
import threading
import time
import traceback

from harness.oracle.trace import Trace
from harness.verdicts import cpus
from harness.verdicts import judge as judge_mod

ENV = "HARNESS_SNAPSHOTS"
TRIAL_TIMEOUT_ENV = "HARNESS_TRIAL_TIMEOUT"
JOBS_ENV = "HARNESS_TRIAL_JOBS"
# The reason the last group ran on fresh worlds (None: it forked).
LAST_FALLBACK: str | None = None


def enabled() -> bool:
    """Whether trials may start from snapshots (``HARNESS_SNAPSHOTS``)."""
    return os.environ.get(ENV, "1").strip().lower() not in (
        "0", "no", "off", "false")


def group_key(trial) -> tuple:
    """What must be equal for trials to share a snapshot: the workload, the
    world it runs in, the checks at the ``before`` stage and whether the
    abnormal input is built in from the start (``condition``), and the
    what-if (counterfactual) in force."""
    return (trial.setup, repr(sorted(trial.world_kwargs.items())),
            trial.checks, trial.condition, trial.whatif)


def groups(trials) -> list[list]:
    """Consecutive trials with the same :func:`group_key`, in order."""
    out: list[list] = []
    for t in trials:
        if out and group_key(out[-1][0]) == group_key(t):
            out[-1].append(t)
        else:
            out.append([t])
    return out


def static_reason(trial) -> str | None:
    """Why ``trial``'s group cannot start from a snapshot, known before any
    world is built (None: it can)."""
    from harness.world import novaenv
    if getattr(trial, "fresh_world_only", None):
        return trial.fresh_world_only
    if not enabled():
        return "%s=%s" % (ENV, os.environ.get(ENV))
    if not hasattr(os, "fork"):
        return "os.fork is not available on this platform"
    if novaenv.sqlite_mode(trial.world_kwargs.get("sqlite")) != "memory":
        return "the world keeps its databases in sqlite files"
    from harness.world import engines
    db = engines.db_kind(trial.world_kwargs.get("db"))
    if db != "sqlite":
        return ("the world's databases live in a %s server, which copies "
                "of this process would share" % db)
    return None


def _idle_in_channel(ident, frames) -> bool:
    frame = frames.get(ident)
    while frame is not None:
        if "execnet" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def thread_reason() -> str | None:
    """Why forking now is unsafe: the threads alive besides this one."""
    me = threading.get_ident()
    frames = sys._current_frames()
    others = [t for t in threading.enumerate()
              if t.ident != me and t.is_alive()
              and not _idle_in_channel(t.ident, frames)]
    if others:
        return "threads alive at the snapshot: %s" % ", ".join(
            sorted("%s (in %s)" % (t.name, _where(frames.get(t.ident)))
                   for t in others))
    return None


def _where(frame) -> str:
    if frame is None:
        return "?"
    return "%s:%d %s" % (os.path.basename(frame.f_code.co_filename),
                         frame.f_lineno, frame.f_code.co_name)


def run_group(trials, traces, fresh) -> list:
    """Observations of ``trials`` (one :func:`groups` group), each from a
    copy of one world driven to the point of interest.

    ``traces[i]`` receives trial i's steps (the shared workload's, then its
    own).  ``fresh(trial, trace)`` runs one trial on a fresh world; it is
    used for every trial when the group cannot fork (see the module notes).
    """
    global LAST_FALLBACK
    from harness.world import novaenv

    reason = static_reason(trials[0])
    if reason is not None:
        LAST_FALLBACK = reason
        return [fresh(t, tr) for t, tr in zip(trials, traces)]
    shared = Trace()
    base, world = judge_mod.prepare_shared(trials[0], shared)
    try:
        if base.error is None:
            # Nova's pools keep idle workers for a second; Nova shuts them
            # down before it forks its own workers, and so does this.
            novaenv.quiesce_thread_pools()
            reason = thread_reason()
        if reason is not None:
            LAST_FALLBACK = reason
            judge_mod.release_shared(base, world)
            world = None
            out = []
            for i, (t, tr) in enumerate(zip(trials, traces)):
                if i == 0:
                    tr.step("note", "snapshot not used, fresh worlds",
                            reason=reason)
                out.append(fresh(t, tr))
            return out
        LAST_FALLBACK = None
        out = []
        gc.collect()
        gc.freeze()     # children then leave the shared objects' pages alone
        try:
            if base.error is not None:
                out = [_copy_error(base, t, tr)
                       for t, tr in zip(trials, traces)]
            else:
                out = _forked_all(base, world, trials, traces, parallel())
        finally:
            gc.unfreeze()
        return out
    finally:
        judge_mod.release_shared(base, world)


def _copy_error(base, trial, trace):
    """The workload failed before any fault: every trial says so."""
    trace.steps = list(base.trace.steps)
    base.retarget(trial)
    obs = base.observation()
    obs.trace = trace
    return obs


def parallel() -> int:
    """How many trial copies run at once: ``HARNESS_TRIAL_JOBS``, else the
    CPUs left per xdist worker (one per CPU in a run of one process)."""
    raw = os.environ.get(JOBS_ENV, "").strip()
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            pass
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _forked(base, world, trial, trace):
    return _forked_all(base, world, [trial], [trace], 1)[0]


def _forked_all(base, world, trials, traces, jobs):
    """Every trial in its own copy, up to ``jobs`` copies at once, and one
    more for each CPU the run's other processes have left
    (:mod:`harness.verdicts.cpus`); the observations in the trials' order
    (each copy starts from the same state, so the order they run in
    changes nothing)."""
    import selectors
    out = [None] * len(trials)
    todo = list(range(len(trials)))
    running = {}        # fd -> [index, pid, chunks, started, cpu token]
    sel = selectors.DefaultSelector()
    try:
        while todo or running:
            while todo:
                token = None
                if sum(r[4] is None for r in running.values()) >= jobs:
                    token = cpus.take()
                    if token is None:
                        break
                i = todo.pop(0)
                started = time.monotonic()
                pid, rfd = _spawn(lambda left, t=trials[i]: _trial_in_copy(
                    base, world, t, left))
                running[rfd] = [i, pid, [], started, token]
                sel.register(rfd, selectors.EVENT_READ)
            for key, _ in sel.select():
                fd = key.fd
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    running[fd][2].append(chunk)
                    continue
                sel.unregister(fd)
                os.close(fd)
                i, pid, chunks, started, token = running.pop(fd)
                _, status = os.waitpid(pid, 0)
                if token is not None:
                    token.release()
                out[i] = _received(trials[i], traces[i], b"".join(chunks),
                                   status, started)
    finally:
        for fd, (_, pid, _, _, token) in running.items():
            # interrupted (time limit, Ctrl-C): no orphan, no zombie
            try:
                os.close(fd)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
            if token is not None:
                token.release()
        sel.close()
    return out


def in_copy(fn):
    """``fn()`` run in a copy-on-write copy of this process; its (picklable)
    result.  Raises :class:`RuntimeError` when the copy died first."""
    payload, status = _in_copy(lambda left: pickle.dumps(
        fn(), protocol=pickle.HIGHEST_PROTOCOL))
    if not payload:
        raise RuntimeError("the copy ended (status %r) before reporting"
                           % (status,))
    return pickle.loads(payload)


def _spawn(work):
    """Fork; the child runs ``work(seconds_left_of_the_time_limit)``, which
    returns bytes, sends them through a pipe and exits without any
    clean-up.  Returns (child pid, read end of the pipe)."""
    left = judge_mod.time_limit.remaining() or (
        signal.getitimer(signal.ITIMER_REAL)[0]
        if hasattr(signal, "ITIMER_REAL") else 0.0)
    sys.stdout.flush()
    sys.stderr.flush()
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(rfd)
        _child(work, wfd, left)
    os.close(wfd)
    return pid, rfd


def _in_copy(work):
    """:func:`_spawn` ``work`` and wait for it: (bytes received, wait
    status or None)."""
    pid, rfd = _spawn(work)
    payload, status = b"", None
    try:
        with os.fdopen(rfd, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(pid, 0)
    finally:
        if status is None:  # interrupted (time limit, Ctrl-C): no orphan
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
    return payload, status


def child_limit(left: float) -> float | None:
    """The time a trial's process may take: what is left of the scenario's
    limit, less a margin for the trial to report how it was stopped, and at
    most ``HARNESS_TRIAL_TIMEOUT`` seconds (if set)."""
    limits = []
    if left > 0:
        limits.append(max(left - 5.0, left * 0.75))
    try:
        own = float(os.environ.get(TRIAL_TIMEOUT_ENV) or 0)
    except ValueError:
        own = 0.0
    if own > 0:
        limits.append(own)
    return min(limits) if limits else None


def _child(work, wfd, left):
    code = 0
    try:
        from harness.world import novaenv
        novaenv.IN_SNAPSHOT_COPY = True
        payload = work(left)
        with os.fdopen(wfd, "wb") as pipe:
            pipe.write(payload)
    except BaseException:  # noqa: BLE001 - reported through the exit code
        code = 3
        try:
            os.write(2, traceback.format_exc().encode(errors="replace"))
        except OSError:
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _trial_in_copy(run, world, trial, left) -> bytes:
    run.retarget(trial)
    limit = judge_mod.time_limit(child_limit(left), grace=0)
    try:
        with limit:
            try:
                run.inject_and_observe(world)
                world._check_thread_guard()
            except judge_mod._Skip as skip:
                run.skip(skip)
            except Exception:  # noqa: BLE001 - INCONCLUSIVE
                run.error = traceback.format_exc()
    except judge_mod.ScenarioTimeout as exc:
        run.error = "trial (from a snapshot) %s" % exc.report()
    return _pack(run.observation())


def _pack(obs) -> bytes:
    steps = obs.trace.steps if obs.trace is not None else []
    obs.trace = None
    obs.replay = None      # a closure over the trial; the parent sets it
    try:
        return pickle.dumps((obs, steps), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - something unpicklable: keep its repr
        for vs in obs.violations.values():
            for v in vs:
                v.expected = _plain(v.expected)
                v.actual = _plain(v.actual)
        for s in steps:
            s.data = {k: _plain(v) for k, v in s.data.items()}
        return pickle.dumps((obs, steps), protocol=pickle.HIGHEST_PROTOCOL)


def _plain(value):
    try:
        pickle.dumps(value)
        return value
    except Exception:  # noqa: BLE001
        return repr(value)


def _received(trial, trace, payload, status, started):
    why = None
    if status is not None and os.WIFSIGNALED(status):
        why = "was killed by signal %d" % os.WTERMSIG(status)
    elif status is not None and os.WEXITSTATUS(status) != 0:
        why = "exited with status %d" % os.WEXITSTATUS(status)
    obs = steps = None
    if payload:
        try:
            obs, steps = pickle.loads(payload)
        except Exception as exc:  # noqa: BLE001
            why = (why or "") + " (its report was unreadable: %s)" % exc
    if obs is None:
        obs = judge_mod.Observation(
            trial=trial.name, control=trial.is_control, fault=None,
            violations={st: [] for st in judge_mod.STAGES}, logs=[],
            error="the trial's process (forked from the snapshot) %s "
                  "before reporting; see its stderr" % (why or "ended"),
            duration=time.monotonic() - started)
        steps = []
    trace.steps = list(steps)
    if trace.echo is not None:
        for s in trace.steps:
            trace.echo(s)
    obs.trace = trace
    obs.duration = time.monotonic() - started
    obs.replay = functools.partial(judge_mod._replay, trial)
    return obs
