"""Time limits: a scenario that hangs becomes INCONCLUSIVE, with its stack.

:class:`time_limit` raises :class:`ScenarioTimeout` in the main thread when
a scenario (or a trial in a copy of the process, :mod:`harness.verdicts.
snapshots`) runs past its limit.  (Moved here from ``judge.py``, which
still offers these names, so that the copies' mechanism needs no judge.)
"""
from __future__ import annotations

import os
import time
import traceback


class ScenarioTimeout(BaseException):
    """A scenario ran past its time limit.

    A ``BaseException``, so code under test that catches ``Exception``
    (Nova's periodic task wrapper does) cannot swallow it; the trial's
    ``finally`` clauses still clean its world up on the way out.
    """

    def __init__(self, limit: float, stacks: str, where: str,
                 in_cleanup: bool = False, stretched: float = 0):
        super().__init__("scenario exceeded its time limit of %gs%s%s; "
                         "stopped in %s"
                         % (limit, " (stretched to %gs while it kept "
                            "working)" % stretched if stretched else "",
                            " (and its clean-up hung too)"
                            if in_cleanup else "", where))
        self.limit = limit
        self.stacks = stacks
        self.where = where
        self.in_cleanup = in_cleanup

    def report(self) -> str:
        """The stacks of every thread when the limit struck."""
        return "%s\n\n%s" % (self.args[0], self.stacks)


def thread_stacks(main_frame=None) -> str:
    """Every thread's stack, the interrupted (main) thread first."""
    import sys
    import threading
    names = {t.ident: t.name for t in threading.enumerate()}
    main = threading.main_thread().ident
    frames = sys._current_frames()
    if main_frame is not None:
        frames[main] = main_frame
    out = []
    for ident in sorted(frames, key=lambda i: (i != main, names.get(i, ""))):
        out.append("Thread %s (%s)%s:\n%s" % (
            names.get(ident, "?"), ident,
            " - where the limit struck" if ident == main else "",
            "".join(traceback.format_stack(frames[ident]))))
    return "\n".join(out)


def _in_cleanup(frame) -> bool:
    """Whether ``frame`` is inside a fixture's clean-up: interrupting it
    leaves patches in place, so what runs next in this process is not
    trusted."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "cleanUp" or \
                code.co_filename.endswith("fixtures/callmany.py"):
            return True
        frame = frame.f_back
    return False


def _where(frame) -> str:
    """The innermost frame, and the innermost one outside libraries (the
    harness's or the scenario's own line) when that is another."""
    import sysconfig
    if frame is None:
        return "?"

    def fmt(f):
        return "%s:%d in %s" % (f.f_code.co_filename, f.f_lineno,
                                f.f_code.co_name)
    libs = {sysconfig.get_paths()[k] for k in ("stdlib", "purelib",
                                                "platlib")}
    own = frame
    while own is not None and (
            own.f_code.co_filename.startswith(tuple(libs))
            or own.f_code.co_filename.startswith("<")):
        own = own.f_back
    if own is None or own is frame:
        return fmt(frame)
    return "%s (from %s)" % (fmt(frame), fmt(own))


def _cpu_seconds() -> float:
    """CPU time of this process (every thread) and of its children that
    have ended (a scenario's forked trial copies, once reaped)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class time_limit:
    """Raise :class:`ScenarioTimeout` in the main thread after ``seconds``.

    SIGALRM, so it also interrupts sleeps and lock waits.  Once it has
    fired it re-arms for ``grace`` seconds: if cleaning up after the
    interrupted trial hangs as well, that is interrupted too (and says so).
    Without SIGALRM, off the main thread, or with no limit, it does nothing.

    ``stretch`` (> 1): a scenario still at work when ``seconds`` of wall
    clock have passed -- it used CPU since the last look and less than
    ``seconds`` of CPU in all -- is a slow one on a busy machine, not a
    hung one: the limit moves on by ``step`` seconds at a time, up to
    ``stretch`` x ``seconds`` of wall clock.  A hang (no CPU used for a
    ``step``) is stopped as before, at most one ``step`` late.
    """

    def __init__(self, seconds: float | None, grace: float = 30.0,
                 stretch: float = 1.0, step: float = 60.0):
        self.seconds = seconds
        self.grace = grace
        self.stretch = max(1.0, stretch)
        self.step = step
        self.fired = 0
        self.stretched = 0
        self._old = None
        self._started = self._cpu_at = 0.0
        self._cpu0 = 0.0

    # the limit around the running scenario (what a forked copy may use)
    active = None

    @classmethod
    def remaining(cls) -> float:
        """Wall seconds the running scenario may still take, stretch
        included (0: no limit)."""
        lim = cls.active
        if lim is None or lim._old is None:
            return 0.0
        total = lim.seconds * (lim.stretch if not lim.fired else 1.0)
        return max(0.0, total - (time.monotonic() - lim._started))

    def _busy_and_under_budget(self) -> bool:
        """Whether to move the limit on instead of striking (see class)."""
        if self.fired or self.stretch <= 1.0:
            return False
        now = time.monotonic()
        cpu = _cpu_seconds()
        busy = cpu - self._cpu_at > 0.01 * self.step
        self._cpu_at = cpu
        return (busy and cpu - self._cpu0 < self.seconds
                and now - self._started < self.seconds * self.stretch)

    def _handler(self, signum, frame):
        import signal
        if self._busy_and_under_budget():
            self.stretched += 1
            left = self.seconds * self.stretch - (
                time.monotonic() - self._started)
            signal.setitimer(signal.ITIMER_REAL, max(0.01, min(
                self.step, left)))
            return
        self.fired += 1
        stacks = thread_stacks(frame)
        where = _where(frame)
        if self.fired == 1 and self.grace:
            signal.setitimer(signal.ITIMER_REAL, self.grace)
        raise ScenarioTimeout(self.seconds, stacks, where,
                              in_cleanup=self.fired > 1
                              or _in_cleanup(frame),
                              stretched=self.stretched and round(
                                  time.monotonic() - self._started))

    def _armed(self) -> bool:
        import signal
        import threading
        return bool(self.seconds and self.seconds > 0
                    and hasattr(signal, "SIGALRM")
                    and threading.current_thread()
                    is threading.main_thread())

    def __enter__(self):
        if self._armed():
            import signal
            self._started = time.monotonic()
            self._cpu0 = self._cpu_at = _cpu_seconds()
            self._old = signal.signal(signal.SIGALRM, self._handler)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
            self._outer, time_limit.active = time_limit.active, self
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            import signal
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)
            self._old = None
            time_limit.active = self._outer
        return False
