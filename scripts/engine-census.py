"""Which record-fault variants each engine admits, refuses or coerces.

    .tox/harness/bin/python scripts/engine-census.py mysql|postgresql|sqlite

Injects every fault of the record-fault, flavor, sizing and state families
into its workload's world (one world per workload, the faults in turn, each
cleared before the next), classifies each as admitted, refused by the
engine, coerced by it, or not applicable, and prints the counts per family
and a JSON summary with an example reason per class.  The table in
docs/engines.md ("Results") comes from it.
"""
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "scenarios")]
import test_migration_records as R  # noqa: E402
import test_sizing as Z  # noqa: E402
import test_state_combinations as C  # noqa: E402
import test_states as S  # noqa: E402
from harness.world.deployment import World
from harness.world.workloads import MOVES
from harness.verdicts.judge import _not_applicable
from harness.world import engines

kind = sys.argv[1]
families = {
  "records (000-1)": [(m, MOVES[m], R.migration_record_corruptions(), {}) for m in R.RECORD_MOVES],
  "flavors (001-2, 000-2)": [(m, MOVES[m], dict(R.flavor_faults(), **R.instance_lookup_faults()), {}) for m in R.RECORD_MOVES],
  "sizing (000-3)": [("booted", Z.booted, Z.sizing_faults(), {"hosts": ("src",)})] + [(m, MOVES[m], Z.move_faults(w, c), {}) for m, (w, c) in Z.MOVE_FAULTS.items()],
  "states (000-6)": [(m, MOVES[m], S.state_faults(), {}) for m in S.STATE_MOVES],
  "state pairs (000-6)": [(C.STATE_MOVE, MOVES[C.STATE_MOVE], C.instance_state_pairs(), {}), (C.MIGRATION_MOVE, MOVES[C.MIGRATION_MOVE], C.migration_pairs(), {})],
}
out = {}
started = time.perf_counter()
with engines.server(kind):
    for fam, groups in families.items():
        counts = {"admitted": 0, "refused": 0, "coerced": 0, "not applicable": 0}
        examples = {}
        for move, setup, faults, kw in groups:
            w = World(db=kind, **kw); w.setUp()
            try:
                setup(w)
                for name, factory in faults.items():
                    f = factory(w)
                    try:
                        f.setUp()
                    except Exception as exc:
                        why = _not_applicable(exc)
                        if why is None:
                            raise
                        key = "refused" if why.kind == "refused by engine" else "not applicable"
                        counts[key] += 1
                        examples.setdefault(key, {}).setdefault(name, str(why)[:160])
                        continue
                    notes = f.coercions()
                    f.cleanUp()
                    if notes:
                        counts["coerced"] += 1
                        examples.setdefault("coerced", {}).setdefault(name, notes[0][:160])
                    else:
                        counts["admitted"] += 1
            finally:
                w.cleanUp()
        out[fam] = {"counts": counts, "examples": examples}
        print(kind, fam, json.dumps(counts), flush=True)
print(json.dumps({"kind": kind, "families": out, "seconds": round(time.perf_counter() - started, 1)}), flush=True)
