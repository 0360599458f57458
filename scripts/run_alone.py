#!/usr/bin/env python3
"""Run every scenario alone, each in its own pytest process.

    python scripts/run_alone.py OUTDIR [--jobs N] [-- PYTEST_ARGS...]

Collects the scenarios (``pytest scenarios --collect-only``, with
PYTEST_ARGS), runs each one by node id in a fresh process, ``N`` at a time,
writing ``OUTDIR/<i>.json`` (and ``.log``), then merges them into
``OUTDIR.json`` for scripts/compare_verdicts.py.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import compare_verdicts  # noqa: E402


def collect(py: str, extra: list[str]) -> list[str]:
    proc = subprocess.run(
        [py, "-m", "pytest", "scenarios", "--collect-only", "-q",
         "-p", "no:cacheprovider", *extra],
        cwd=ROOT, capture_output=True, text=True)
    return [line.strip() for line in proc.stdout.splitlines()
            if "::" in line]


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--python", default=sys.executable)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    nodeids = collect(args.python, extra)
    with open(os.path.join(args.out, "nodeids.txt"), "w") as f:
        f.write("\n".join(nodeids) + "\n")
    # options that select scenarios (-k, -m) are already applied by node id
    passthrough = []
    if "--harness-seed" in extra:
        passthrough = ["--harness-seed",
                       extra[extra.index("--harness-seed") + 1]]

    def one(item):
        i, nodeid = item
        doc = os.path.join(args.out, "%03d.json" % i)
        with open(os.path.join(args.out, "%03d.log" % i), "w") as log:
            subprocess.run(
                [args.python, "-m", "pytest", nodeid, "-q",
                 "-p", "no:cacheprovider", "-p", "no:randomly",
                 "--show-capture=no", "--verdicts-json", doc, *passthrough],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        return doc

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        docs = list(pool.map(one, enumerate(nodeids, 1)))
    missing = [d for d in docs if not os.path.exists(d)]
    present = [d for d in docs if os.path.exists(d)]
    merged = compare_verdicts.merge(present)
    merged["missing"] = missing
    merged["complete"] = merged["complete"] and not missing
    import json
    with open(args.out.rstrip("/") + ".json", "w", encoding="utf-8") as f:
        json.dump(merged, f, indent=1)
    print("%d scenarios alone in %.0fs, %d without a verdict document"
          % (len(nodeids), time.monotonic() - started, len(missing)))
    return 0 if not missing else 1


if __name__ == "__main__":
    sys.exit(main())
