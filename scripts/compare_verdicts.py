#!/usr/bin/env python3
"""Compare verdict documents (``--verdicts-json``) from several runs.

    python scripts/compare_verdicts.py REFERENCE.json OTHER.json [...]
    python scripts/compare_verdicts.py --merge OUT.json PART.json [...]

For each scenario it compares what must not change between runs of the same
code: the verdict, the claims, the trials (names of the fault space, number
of trials and controls) and, with ``--strict``, the evidence as
(variant, stage, invariant) triples.  Durations, uuids, timestamps and log
lines are not compared.  A scenario missing from a run is a difference.
Exit status 0 when every run agrees with the reference, 1 otherwise.

``--merge`` combines documents from runs of disjoint scenario sets (each
scenario run alone) into one document to compare.
"""
from __future__ import annotations

import argparse
import json
import sys


def load(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def essence(scenario: dict, strict: bool = False) -> dict:
    out = {
        "verdict": scenario.get("verdict"),
        "claims": sorted(scenario.get("claims") or []),
        "trials": scenario.get("trials"),
        "controls": scenario.get("controls"),
        "fault_space": sorted(scenario.get("fault_space") or []),
        "harness_failure": bool(scenario.get("traceback")),
    }
    if strict:
        out["evidence"] = sorted({(e.get("variant"), e.get("stage"),
                                   e.get("invariant"))
                                  for e in scenario.get("evidence") or []})
    return out


def essences(doc: dict, strict: bool = False) -> dict:
    return {s["scenario"]: essence(s, strict) for s in doc["scenarios"]}


def diff(ref: dict, other: dict) -> list[str]:
    lines = []
    for name in sorted(set(ref) | set(other)):
        a, b = ref.get(name), other.get(name)
        if a is None or b is None:
            lines.append("%s: only in %s" % (name, "reference" if b is None
                                              else "this run"))
            continue
        for key in a:
            if a[key] != b.get(key):
                lines.append("%s: %s %r != %r" % (name, key, a[key],
                                                  b.get(key)))
    return lines


def merge(paths: list[str]) -> dict:
    scenarios, complete = {}, True
    for path in paths:
        doc = load(path)
        complete = complete and doc.get("complete", True)
        for s in doc["scenarios"]:
            if s["scenario"] in scenarios:
                raise SystemExit("%s: scenario %s already merged"
                                 % (path, s["scenario"]))
            scenarios[s["scenario"]] = s
    return {"schema": 1, "complete": complete, "merged_from": paths,
            "scenarios": [scenarios[k] for k in sorted(scenarios)]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("reference")
    p.add_argument("others", nargs="*")
    p.add_argument("--strict", action="store_true",
                   help="also compare the evidence (variant, stage, "
                        "invariant) triples")
    p.add_argument("--merge", metavar="OUT", default=None,
                   help="merge REFERENCE and OTHERS into OUT and exit")
    args = p.parse_args(argv)
    if args.merge:
        doc = merge([args.reference] + args.others)
        with open(args.merge, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
        print("merged %d scenarios into %s" % (len(doc["scenarios"]),
                                                args.merge))
        return 0
    ref_doc = load(args.reference)
    ref = essences(ref_doc, args.strict)
    verdicts = {}
    for n, e in ref.items():
        verdicts.setdefault(e["verdict"], 0)
        verdicts[e["verdict"]] += 1
    print("reference %s: %d scenarios (%s)" % (
        args.reference, len(ref), ", ".join(
            "%d %s" % (v, k) for k, v in sorted(verdicts.items()))))
    status = 0
    for path in args.others:
        doc = load(path)
        lines = diff(ref, essences(doc, args.strict))
        if not doc.get("complete", True):
            lines.insert(0, "(run incomplete)")
        if lines:
            status = 1
            print("DIFFERS  %s" % path)
            for line in lines:
                print("    " + line)
        else:
            print("same     %s" % path)
    return status


if __name__ == "__main__":
    sys.exit(main())
