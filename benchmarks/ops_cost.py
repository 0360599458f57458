"""CPU cost of one world, one operation and one trial, through the World
API alone (so the same file measures any tree of the harness: the old
hand-written world and the one on Nova's services).

    python benchmarks/ops_cost.py [ROUNDS]      # one JSON line
    scripts/old-vs-new.sh REV                   # this tree against REV's

Each figure is the median CPU time (``time.process_time``) of ROUNDS
rounds (default 5), each on a fresh world built outside the timing.
"""
from __future__ import annotations

import json
import statistics
import sys
import time


def _cpu(fn):
    start = time.process_time()
    fn()
    return time.process_time() - start


def _oracle():
    """The new world takes its ledger from the oracle (plugged in on
    import); the old one imported it itself."""
    try:
        import harness.oracle  # noqa: F401
    except ImportError:
        pass


def _world():
    _oracle()
    from harness.world.deployment import World
    w = World()
    w.setUp()
    w.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
    w.create_flavor("big", vcpus=2, memory_mb=1024, root_gb=20)
    return w


def _round() -> dict:
    _oracle()
    from harness.world.deployment import World
    out = {}
    w = World()
    out["world build"] = _cpu(w.setUp)
    w.cleanUp()
    w = _world()
    try:
        out["boot"] = _cpu(lambda: w.boot("vm1", "small", "src"))
        out["audit, 3 hosts"] = _cpu(lambda: w.audit())
        out["resize to finished"] = _cpu(
            lambda: w.resize("vm1", "big", "dst"))
        out["confirm"] = _cpu(lambda: w.confirm("vm1"))
        out["live migration"] = _cpu(
            lambda: w.live_migrate("vm1", "src", until="completed"))
        out["delete"] = _cpu(lambda: w.delete("vm1"))
    finally:
        w.cleanUp()
    from harness.faults import records
    from harness.verdicts.judge import Trial, run_trial
    from harness.world.workloads import MOVES
    trial = Trial("resize-incoming / status=error",
                  MOVES["resize-incoming"],
                  lambda w: records.MigrationField(w, "vm1",
                                                   status="error"))
    out["trial (fresh world)"] = _cpu(lambda: run_trial(trial))
    return out


def main(argv) -> int:
    rounds = int(argv[1]) if len(argv) > 1 else 5
    from harness.world import novaenv
    novaenv.load()
    _round()                           # warm-up: schemas, caches
    samples: dict[str, list] = {}
    for _ in range(rounds):
        for k, v in _round().items():
            samples.setdefault(k, []).append(v)
    print(json.dumps({k: round(statistics.median(v), 4)
                      for k, v in samples.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
