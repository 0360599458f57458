"""The explorer in the release matrix (:mod:`harness.matrix.run`).

The matrix runs, in each release's own environment::

    python -c "import harness.explore as e; ...
               print(json.dumps({'findings': e.run_for_matrix(out, B, S)}))"

:func:`run_for_matrix` replays every corpus entry (``scenarios/corpus``)
against the Nova importable here, then explores for what is left of the
budget, and writes ``explore.json`` (and the reproducer of any new failure)
into ``out_dir``.  It returns the findings the matrix files under the
release: one dict with an ``id`` per corpus entry that still fails its
recorded invariants (``explore:<entry name>``, the same id in every release,
so a release where it stops failing shows as a flip) and per failure the
exploration found (``explore:<its reproducer's name>``).
"""
from __future__ import annotations

import os
import sys
import time

from harness.explore import runner
from harness.report import tables
from harness.world import novaenv

SUMMARY = "explore.json"


def _corpus_result(path: str) -> dict:
    name = os.path.basename(path)
    try:
        recorded = runner.load_entry(path)
        replayed = runner.replay_entry(path)
    except Exception as exc:  # noqa: BLE001 - a broken entry is reported
        return {"entry": name, "result": "error",
                "error": "%s: %s" % (type(exc).__name__, exc)}
    if replayed.invariants == recorded["invariants"]:
        result = "reproduces"
    elif not replayed.failed:
        result = "no longer fails"
    else:
        result = "fails differently"
    return {"entry": name, "result": result,
            "recorded": recorded["invariants"],
            "replayed": replayed.invariants,
            "failed_after": replayed.failed_after,
            "violations": replayed.violations,
            "replay": "python -m harness explore --replay %s" % path}


def run_for_matrix(out_dir: str, budget: float, seed: int, *,
                   corpus: str | None = None, jobs: int | None = None,
                   examples: int = runner.EXAMPLES, steps: int = 25,
                   exclude=("delete_mid_move",)) -> list[dict]:
    """Replay the corpus and explore for the rest of ``budget`` seconds
    with ``seed``; write ``out_dir/explore.json``; return the findings
    (see the module docstring).  Batches as large as the CLI's (the budget
    ends one between examples; two-example batches explored nothing but
    audits); ``exclude`` leaves out the recorded finding F-11's family,
    which every release since 2023.1 would report alike."""
    started = time.monotonic()
    corpus = corpus or runner.CORPUS
    os.makedirs(out_dir, exist_ok=True)
    replayed = [_corpus_result(p) for p in runner.corpus_entries(corpus)]
    findings = []
    for r in replayed:
        if r["result"] in ("reproduces", "fails differently"):
            findings.append({
                "id": "explore:" + r["entry"][:-len(".json")],
                "kind": "corpus", "invariants": r["replayed"],
                "result": r["result"], "failed_after": r["failed_after"],
                "replay": r["replay"]})
    left = max(1.0, budget - (time.monotonic() - started))
    result = runner.explore(left, seed, examples=examples, steps=steps,
                            jobs=jobs, shrink_seconds=max(5.0, left / 2),
                            exclude=exclude)
    exploration = {
        "budget": round(left, 1), "seed": seed, "jobs": result.jobs,
        "ops": result.ops, "runs": result.runs, "batches": result.batches,
        "elapsed": round(result.elapsed, 2), "cpu": round(result.cpu, 2),
        "ops_per_second": round(result.ops_per_second, 2),
        "ops_per_cpu_second": round(result.ops_per_cpu_second, 2),
        "gaps": result.gaps, "failure": None}
    failure = result.failure
    if failure is not None:
        path = runner.save(failure, os.path.join(out_dir, "corpus"))
        name = os.path.basename(path)[:-len(".json")]
        exploration["failure"] = dict(failure.as_entry(), reproducer=path)
        findings.append({
            "id": "explore:" + name,
            "kind": ("harness_error" if failure.invariants ==
                     ["harness_error"] else "exploration"),
            "invariants": failure.invariants,
            "failed_after": failure.failed_after,
            "violations": failure.violations, "reproducer": path,
            "replay": "python -m harness explore --replay %s" % path})
    summary = {"nova": novaenv.version_info(), "seed": seed,
               "budget": budget, "corpus_dir": corpus,
               "corpus": replayed, "exploration": exploration,
               "findings": findings,
               "seconds": round(time.monotonic() - started, 1)}
    tables.write_json_atomic(os.path.join(out_dir, SUMMARY), summary)
    print("explore: %d corpus entr%s replayed, %d operations explored "
          "(%.1f ops/s), %d finding(s); %s"
          % (len(replayed), "y" if len(replayed) == 1 else "ies",
             result.ops, result.ops_per_second, len(findings),
             os.path.join(out_dir, SUMMARY)), file=sys.stderr)
    return findings
