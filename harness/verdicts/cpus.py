"""The machine's CPUs, shared by the processes of one run.

``python -m harness run`` starts one pytest-xdist worker per CPU, and each
worker runs a family's forked trial copies one at a time
(:func:`harness.verdicts.snapshots.parallel`).  Files are not equal: when
one worker has run its last file and the other is still forking the 198
copies of the migration-record family, a CPU sits idle for the rest of the
run.

The pool is one lock file per CPU in a directory the run's controller
makes (``HARNESS_CPU_POOL``, removed when the run ends).  Each worker takes
one for its life (``flock``, which the kernel releases when the process
ends, however it ends); a family may run one more copy at a time for every
further lock it can take without waiting, and gives it back when that copy
has ended.  Without a pool (one process, or a plain ``pytest``) nothing
changes.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile

POOL_ENV = "HARNESS_CPU_POOL"


def create(cpus: int | None = None) -> str:
    """A new pool of ``cpus`` (default: this machine's) free CPUs."""
    path = tempfile.mkdtemp(prefix="harness-cpus-")
    for i in range(cpus or os.cpu_count() or 1):
        with open(os.path.join(path, "cpu-%d" % i), "w"):
            pass
    return path


def remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


class Token:
    """One CPU of the pool, held until :meth:`release` (or the process
    ends)."""

    def __init__(self, fd: int, name: str):
        self.fd = fd
        self.name = name

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def take(pool: str | None = None) -> Token | None:
    """A free CPU of the pool (``HARNESS_CPU_POOL`` by default), taken
    without waiting; None when every CPU is held or there is no pool."""
    pool = pool or os.environ.get(POOL_ENV)
    if not pool or not os.path.isdir(pool):
        return None
    for name in sorted(os.listdir(pool)):
        try:
            fd = os.open(os.path.join(pool, name), os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return Token(fd, name)
    return None
