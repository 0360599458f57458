"""The run's CPU pool (harness.verdicts.cpus): a CPU is taken without
waiting or not at all, a CPU another process holds is not taken, and a
family of forked trials runs one more copy at a time for each CPU the
run's other processes have left."""
from __future__ import annotations

import os
import time

import pytest

from harness.faults.base import INFRASTRUCTURE, Fault
from harness.verdicts import cpus, snapshots
from harness.verdicts.judge import Judge, Trial


@pytest.fixture
def pool():
    path = cpus.create(2)
    yield path
    cpus.remove(path)


def test_no_pool_no_cpu(monkeypatch):
    monkeypatch.delenv(cpus.POOL_ENV, raising=False)
    assert cpus.take() is None


def test_each_cpu_is_taken_once_until_released(pool):
    a, b = cpus.take(pool), cpus.take(pool)
    assert a and b and a.name != b.name
    assert cpus.take(pool) is None
    a.release()
    c = cpus.take(pool)
    assert c is not None and c.name == a.name
    b.release()
    c.release()


def test_a_cpu_another_process_holds_is_not_taken(pool):
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:        # the other worker: holds one CPU until told
        os.close(wfd)
        held = cpus.take(pool)
        os.read(rfd, 1)
        held.release()
        os._exit(0)
    os.close(rfd)
    try:
        time.sleep(0.5)
        mine = cpus.take(pool)
        assert mine is not None
        assert cpus.take(pool) is None      # the other one is held
        mine.release()
    finally:
        os.write(wfd, b"x")
        os.close(wfd)
        os.waitpid(pid, 0)
    # and its CPU is free once that process has let go
    both = [cpus.take(pool), cpus.take(pool)]
    assert all(both)
    for t in both:
        t.release()


class _Stamp(Fault):
    """Records when the copy ran its fault (a second of work)."""
    authority = INFRASTRUCTURE

    def __init__(self, world, path):
        super().__init__(world)
        self.path = path

    def describe(self):
        return "stamp"

    def inject(self):
        start = time.monotonic()
        time.sleep(1.0)
        with open(self.path, "w") as f:
            f.write("%f %f" % (start, time.monotonic()))


def _one_vm(world):
    world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
    world.boot("vm1", "small", "src")


def _intervals(tmp_path, monkeypatch, pool, free):
    monkeypatch.setenv(snapshots.ENV, "1")
    monkeypatch.setenv(snapshots.JOBS_ENV, "1")
    monkeypatch.setenv(cpus.POOL_ENV, pool)
    held = [cpus.take(pool) for _ in range(2 - free)]
    try:
        paths = [str(tmp_path / ("t%d-%d" % (free, i))) for i in (0, 1)]
        trials = [Trial("control", _one_vm, world_kwargs={"hosts": ("src",)})]
        trials += [Trial("stamp %d" % i, _one_vm,
                         lambda w, p=p: _Stamp(w, p),
                         world_kwargs={"hosts": ("src",)})
                   for i, p in enumerate(paths)]
        for o in Judge("cpus", ["-"]).trials(trials):
            assert o.error is None, o.error
    finally:
        for t in held:
            t.release()
    out = []
    for p in paths:
        with open(p) as f:
            out.append(tuple(map(float, f.read().split())))
    return sorted(out)


def test_a_family_uses_a_cpu_the_run_left(tmp_path, monkeypatch, pool):
    (a0, a1), (b0, b1) = _intervals(tmp_path, monkeypatch, pool, free=1)
    assert b0 < a1, "the two copies did not overlap with a free CPU"
    (a0, a1), (b0, b1) = _intervals(tmp_path, monkeypatch, pool, free=0)
    assert b0 >= a1, "a copy ran on a CPU another process holds"


def test_an_xdist_run_shares_a_pool_each_worker_holding_a_cpu(tmp_path):
    """The plugin's wiring: the controller makes the pool before its
    workers start, each worker holds one CPU of it, and the pool is gone
    when the run ends."""
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "seen"
    test = tmp_path / "test_pool_probe.py"
    test.write_text(
        "import os\n"
        "from harness.verdicts import cpus\n"
        "def test_a(request):\n"
        "    assert request.config._harness_cpu is not None\n"
        "    with open(%r, 'a') as f:\n"
        "        f.write(os.environ[cpus.POOL_ENV] + '\\n')\n"
        "test_b = test_a\n" % str(out))
    env = dict(os.environ)
    env.pop(cpus.POOL_ENV, None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p",
         "no:cacheprovider", "--rootdir", root, "-c",
         os.path.join(root, "pyproject.toml"), "--confcutdir", root,
         "-p", "harness.plugin", str(test)],
        cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    pools = set(out.read_text().split())
    assert len(pools) == 1
    assert not os.path.exists(pools.pop())
