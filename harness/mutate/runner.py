"""``python -m harness mutate``: plant each defect, run the catchers, score.

1. The defects are resolved against the installed Nova (or ``--patch`` gives
   one reviewer's defect); every mutant is written to a temporary directory.
2. The pristine run: each catcher runs once on unmodified copies served
   through the same loader, recording what it observes (the scenarios' outcome
   signatures, durations and the Nova functions each calls).  ``--reuse RUN``
   takes it from an earlier mutate run when Nova, the scenarios and the
   harness are unchanged.
3. Each mutant runs the catchers in turn, stopping at the first that catches
   it (``--all-catchers`` runs every one); ``--budget`` bounds the seconds
   spent per mutant, ``--jobs`` runs mutants side by side.
4. ``runs/mutate-<time>/``: ``mutation.json``, ``mutation.md``, each mutant's
   diff and its catchers' logs; the terminal table at the end.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time

from harness.mutate import catchers as catchers_mod
from harness.mutate import defects as defects_mod
from harness.mutate import patch
from harness.report import runrecord
from harness.verdicts import catalogue as catalogue_mod

SCHEMA = 1
ROOT = catchers_mod.ROOT


class MutateInputError(Exception):
    """Bad input: one line (exit 2)."""


@dataclasses.dataclass
class Options:
    defects: list | None = None
    paths: list | None = None
    patch: str | None = None
    budget: int = 900
    jobs: int = 1
    scenarios: list | None = None
    lifecycle: str | None = None      # a pytest -k expression
    reuse: str | None = None
    runs_dir: str = os.path.join(ROOT, "runs")
    scenario_dir: str = os.path.join(ROOT, "scenarios")
    corpus_dir: str = os.path.join(ROOT, "scenarios", "corpus")
    explore_seconds: int = 60
    seed: int = 0
    all_catchers: bool = False
    keep: bool = False


# ---------------------------------------------------------------------------
def harness_fingerprint(scenario_dir) -> str:
    """The scenarios, the catalogue and the harness code that decides what
    a scenario observes (world, faults, oracle, verdicts, the pytest
    plugin; not the command line, reports or harness/mutate): a pristine
    run is reusable only while these are unchanged."""
    h = hashlib.sha256()
    roots = [scenario_dir] + [os.path.join(ROOT, "harness", part) for part
                              in ("__init__.py", "plugin.py", "world",
                                  "faults", "oracle", "verdicts")]
    for root in roots:
        if os.path.isfile(root):
            h.update(os.path.basename(root).encode())
            with open(root, "rb") as f:
                h.update(f.read())
            continue
        for folder, dirs, files in os.walk(root):   # top-down: prunable
            dirs[:] = sorted(d for d in dirs if d not in (
                "__pycache__", "mutate", "corpus"))
            for name in sorted(files):
                if name.endswith((".py", ".yaml", ".json")):
                    path = os.path.join(folder, name)
                    h.update(os.path.relpath(path, ROOT).encode())
                    with open(path, "rb") as f:
                        h.update(f.read())
    return h.hexdigest()[:16]


def select_mutants(opts: Options, sources):
    """(mutants, missing) for the options; bad ids are input errors."""
    if opts.patch:
        try:
            return [patch.load(opts.patch)], []
        except patch.PatchError as exc:
            raise MutateInputError(str(exc)) from None
    chosen = list(defects_mod.DEFECTS)
    if opts.defects:
        known = {d.id: d for d in chosen}
        bad = [i for i in opts.defects if i not in known]
        if bad:
            raise MutateInputError(
                "unknown defect id %s in --defects; known: %s (see 'python "
                "-m harness mutate --list')" % (", ".join(bad),
                                               ", ".join(known)))
        chosen = [known[i] for i in opts.defects]
    if opts.paths:
        bad = [p for p in opts.paths if p not in defects_mod.PATHS]
        if bad:
            raise MutateInputError("unknown path %s in --paths; known: %s"
                                   % (", ".join(bad),
                                      ", ".join(defects_mod.PATHS)))
        chosen = [d for d in chosen if d.path in opts.paths]
    return defects_mod.materialise(sources, chosen)


def _write(folder, name, text):
    path = os.path.join(folder, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def _files(tmp, label, modules: dict) -> dict:
    out = {}
    for module, text in modules.items():
        path = os.path.join(tmp, label, module.replace(".", "_") + ".py")
        _write(tmp, os.path.relpath(path, tmp), text)
        out[module] = path
    return out


# ---------------------------------------------------------------------------
def run(opts: Options, out=print) -> dict:
    lock = threading.Lock()

    def progress(line):
        with lock:
            out(line)

    try:
        sources = defects_mod.installed_sources()
    except FileNotFoundError as exc:
        raise MutateInputError("%s; install Nova (run through tox)" % exc) \
            from None
    mutants, missing = select_mutants(opts, sources)
    if not mutants:
        raise MutateInputError("no defect applies to the installed Nova "
                               "(%d missing sites); see --list" % len(missing))
    nova_fp = defects_mod.fingerprint(sources)
    harness_fp = harness_fingerprint(opts.scenario_dir)
    catalogue_functions = _catalogue_functions()

    catchers = [
        catchers_mod.ScenarioCatcher(opts.scenario_dir, opts.scenarios,
                                     catalogue_functions,
                                     stop_at_first=True),
        catchers_mod.LifecycleCatcher(select=opts.lifecycle),
        catchers_mod.CorpusCatcher(opts.corpus_dir),
        catchers_mod.ExploreCatcher(opts.explore_seconds, opts.seed),
    ]
    reuse = _check_reuse(opts.reuse, nova_fp, harness_fp, opts) \
        if opts.reuse else None

    runs_dir = os.path.abspath(opts.runs_dir)
    os.makedirs(runs_dir, exist_ok=True)
    run_dir = os.path.join(runs_dir, "mutate-" + time.strftime(
        "%Y%m%dT%H%M%SZ", time.gmtime()))
    n = 1
    while os.path.exists(run_dir):
        n += 1
        run_dir = run_dir.split("~")[0] + "~%d" % n
    os.makedirs(run_dir)
    tmp = tempfile.mkdtemp(prefix="harness-mutate-")
    doc = {"schema": SCHEMA, "command": "mutate", "argv": sys.argv[1:],
           "started": runrecord.now_iso(), "finished": None,
           "complete": False, "nova": _nova_info(sources),
           "nova_fingerprint": nova_fp, "harness_fingerprint": harness_fp,
           "options": {k: v for k, v in dataclasses.asdict(opts).items()
                       if k not in ("runs_dir",)},
           "catchers": {}, "pristine": {}, "missing": [
               {"id": d.id, "function": d.qualname, "operator": d.operator,
                "reason": why} for d, why in missing],
           "mutants": [], "score": None}
    _save(run_dir, doc)
    progress("mutation run %s: %d mutant(s)%s; Nova %s; work in %s" % (
        os.path.relpath(run_dir), len(mutants),
        ", %d defect site(s) missing in this release" % len(missing)
        if missing else "", doc["nova"].get("nova"), tmp))
    for d, why in missing:
        progress("  missing %s (%s): %s" % (d.id, d.qualname, why))
    try:
        pristine_files = _files(tmp, "pristine", {
            m: text for m, (_p, text) in sources.items()})
        active = []
        for c in catchers:
            why = c.unavailable()
            doc["catchers"][c.name] = {"available": why is None,
                                       "reason": why}
            if why:
                progress("catcher %s: not available (%s)" % (c.name, why))
                continue
            work = os.path.join(run_dir, "pristine", c.name)
            if reuse is not None and os.path.isdir(os.path.join(
                    reuse, "pristine", c.name)):
                shutil.copytree(os.path.join(reuse, "pristine", c.name),
                                work)
                c.load(work, pristine_files)
                doc["pristine"][c.name] = {"reused": os.path.relpath(
                    reuse, ROOT)}
                progress("catcher %s: pristine run reused from %s" % (
                    c.name, os.path.relpath(reuse)))
            else:
                progress("catcher %s: pristine run..." % c.name)
                started = time.monotonic()
                doc["pristine"][c.name] = c.prepare(
                    pristine_files, work, opts.jobs, progress)
                doc["pristine"][c.name]["wall"] = round(
                    time.monotonic() - started, 1)
            active.append(c)
            _save(run_dir, doc)
        scen = catchers[0]
        if scen in active:
            doc["pristine"]["scenarios"]["verdicts"] = {
                s: r["verdict"] for s, r in sorted(scen.reference.items())}
            doc["pristine"]["scenarios"]["coverage"] = scen.coverage()
            errors = [s for s, r in scen.reference.items() if r.get("error")]
            if errors:
                progress("warning: %d scenario(s) errored on the pristine "
                         "Nova and are not used: %s" % (len(errors),
                                                        ", ".join(errors)))

        results = [None] * len(mutants)
        done = [0]

        def one(i, mutant):
            files = _files(tmp, mutant.id, mutant.files)
            _write(run_dir, os.path.join("mutants", mutant.id + ".diff"),
                   mutant.diff)
            res = _run_mutant(mutant, files, active, run_dir, opts)
            results[i] = res
            with lock:
                done[0] += 1
                out(_progress_line(done[0], len(mutants), res))
                doc["mutants"] = [r for r in results if r is not None]
                _save(run_dir, doc)
            return res

        with concurrent.futures.ThreadPoolExecutor(max(1, opts.jobs)) as ex:
            futures = [ex.submit(one, i, m) for i, m in enumerate(mutants)]
            for f in futures:
                f.result()
        doc["mutants"] = results
        doc["score"] = score(results)
        doc["finished"] = runrecord.now_iso()
        doc["complete"] = True
        _save(run_dir, doc)
        _write(run_dir, "mutation.md", markdown(doc))
        out("")
        out(table(doc))
        out("")
        out("record: %s (mutation.json, mutation.md, mutants/)"
            % os.path.relpath(run_dir))
        return doc
    finally:
        if not opts.keep:
            shutil.rmtree(tmp, ignore_errors=True)


_RANK = {"caught": 0, "survived": 1, "not_reached": 2, "budget": 3,
         "error": 4}


def merge(paths, runs_dir, out=print) -> dict:
    """One record from several mutate runs of the same Nova (parts of the
    defect list run side by side, or a survivor rerun with more scenarios):
    per defect, the most decided result wins (caught, then survived, not
    reached, out of budget, error); the catchers and pristine runs of every
    part are kept."""
    docs = []
    for path in paths:
        folder = path if os.path.isdir(path) else os.path.join(runs_dir,
                                                               path)
        try:
            with open(os.path.join(folder, "mutation.json"),
                      encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as exc:
            raise MutateInputError(
                "--merge %s: no readable mutation.json there (%s); give "
                "runs/mutate-* directories" % (
                    path, getattr(exc, "strerror", None) or exc)) from None
        if not doc.get("complete") or not doc.get("mutants"):
            doc["mutants"] = [m for m in doc.get("mutants") or [] if m]
        doc["_folder"] = os.path.relpath(folder, ROOT)
        docs.append(doc)
    fps = {d.get("nova_fingerprint") for d in docs}
    if len(fps) != 1:
        raise MutateInputError("--merge: the runs judged different Novas "
                               "(fingerprints %s); merge runs of one Nova"
                               % ", ".join(sorted(map(str, fps))))
    best: dict = {}
    for doc in docs:
        for m in doc["mutants"]:
            m = dict(m, run=doc["_folder"])
            old = best.get(m["id"])
            if old is None or _RANK[m["status"]] < _RANK[old["status"]]:
                best[m["id"]] = m
    order = {d.id: i for i, d in enumerate(defects_mod.DEFECTS)}
    mutants = sorted(best.values(), key=lambda m: (order.get(m["id"], 1e9),
                                                   m["id"]))
    first = docs[0]
    doc = {"schema": SCHEMA, "command": "mutate --merge",
           "argv": sys.argv[1:], "started": runrecord.now_iso(),
           "finished": runrecord.now_iso(), "complete": True,
           "merged": [d["_folder"] for d in docs], "nova": first["nova"],
           "nova_fingerprint": first["nova_fingerprint"],
           "harness_fingerprint": first.get("harness_fingerprint"),
           "options": {}, "catchers": first.get("catchers", {}),
           "pristine": {d["_folder"]: d.get("pristine", {}) for d in docs},
           "missing": first.get("missing", []), "mutants": mutants,
           "score": score(mutants)}
    for d in docs:
        for name, p in d.get("pristine", {}).items():
            doc["pristine"][d["_folder"]][name] = {
                k: v for k, v in p.items() if k not in ("coverage",)}
    run_dir = os.path.join(os.path.abspath(runs_dir), "mutate-merged-" +
                           time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    os.makedirs(run_dir, exist_ok=True)
    _save(run_dir, doc)
    _write(run_dir, "mutation.md", markdown(doc))
    out(table(doc))
    out("")
    out("record: %s (mutation.json, mutation.md)" % os.path.relpath(run_dir))
    return doc


def _run_mutant(mutant, files, active, run_dir, opts) -> dict:
    started = time.monotonic()
    catches = []
    for c in active:
        left = opts.budget - (time.monotonic() - started)
        if left <= 5:
            catches.append(catchers_mod.Catch(
                c.name, "budget", detail="no budget left"))
            continue
        work = os.path.join(run_dir, "mutants", mutant.id, c.name)
        os.makedirs(work, exist_ok=True)
        try:
            catch = c.run(mutant, files, work, int(left), lambda s: None)
        except Exception as exc:  # noqa: BLE001 - recorded, never a catch
            catch = catchers_mod.Catch(c.name, "error", detail="%s: %s" % (
                type(exc).__name__, exc))
        catches.append(catch)
        if catch.caught and not opts.all_catchers:
            break
    d = mutant.defect
    statuses = [c.status for c in catches]
    if "caught" in statuses:
        status = "caught"
    elif "error" in statuses:
        status = "error"
    elif "budget" in statuses:
        status = "budget"
    elif statuses and all(s == "not_reached" for s in statuses
                          if s != "unavailable"):
        status = "not_reached"
    else:
        status = "survived"
    by = [{"catcher": c.catcher, "what": w, "why": why}
          for c in catches for w, why in c.by]
    return {"id": mutant.id, "path": d.path if d else "patch",
            "function": d.function if d else ", ".join(mutant.functions),
            "operator": d.operator if d else "patch",
            "what": d.what if d else mutant.change,
            "expect": d.expect if d else None,
            "note": d.note if d else "",
            "change": mutant.change, "diff": "mutants/%s.diff" % mutant.id,
            "status": status, "by": by,
            "catches": [c.as_dict() for c in catches],
            "seconds": round(time.monotonic() - started, 1),
            "reason": survivor_reason(status, d, catches)}


def survivor_reason(status, defect, catches) -> str | None:
    """Why a mutant survived, as far as the run itself can say."""
    if status == "caught":
        return None
    parts = []
    for c in catches:
        if c.status == "not_reached":
            parts.append("%s: %s" % (c.catcher, c.detail))
        elif c.status == "survived":
            parts.append("%s: %d scenario(s) ran, none differed from the "
                         "pristine run" % (c.catcher, len(c.ran))
                         if c.catcher != "explore" else
                         "explore: same exit status as the pristine run")
        elif c.status in ("budget", "error"):
            parts.append("%s: %s (%d run, %d not run)" % (
                c.catcher, c.detail or c.status, len(c.ran),
                len(c.not_run)))
    if defect is not None and defect.expect == "equivalent":
        parts.append("predicted equivalent: %s" % defect.note)
    elif defect is not None and defect.expect == "between_audits":
        parts.append("predicted visible only between audits (the next "
                     "audit repairs it; invariants are checked after "
                     "audits)")
    return "; ".join(parts)


def score(results) -> dict:
    total = len(results)
    caught = sum(1 for r in results if r["status"] == "caught")
    equivalent = sum(1 for r in results if r["status"] in (
        "survived", "not_reached") and r.get("expect") == "equivalent")
    undecided = sum(1 for r in results if r["status"] in ("budget",
                                                          "error"))
    decided = total - undecided
    return {"mutants": total, "caught": caught,
            "survived": sum(1 for r in results if r["status"] in (
                "survived", "not_reached")),
            "undecided": undecided,
            "predicted_equivalent_survivors": equivalent,
            "score": round(caught / decided, 3) if decided else None,
            "score_excluding_predicted_equivalent": round(
                caught / (decided - equivalent), 3)
            if decided - equivalent > 0 else None}


def _progress_line(i, n, r) -> str:
    if r["status"] == "caught":
        b = r["by"][0]
        tail = "CAUGHT by %s %s: %s" % (b["catcher"], b["what"], b["why"])
    else:
        tail = r["status"].upper() + (" - " + r["reason"] if r["reason"]
                                      else "")
    return "[%*d/%d] %-4s %-17s %-14s %s (%.0f s)" % (
        len(str(n)), i, n, r["id"], r["path"], r["operator"], tail[:240],
        r["seconds"])


def table(doc) -> str:
    rows = [("id", "path", "function", "operator", "result", "by / why")]
    for r in doc["mutants"]:
        if r["status"] == "caught":
            how = "%s: %s" % (r["by"][0]["what"], r["by"][0]["why"])
        else:
            how = r["reason"] or ""
        rows.append((r["id"], r["path"], r["function"].split(".")[-1],
                     r["operator"], r["status"].upper(), how[:110]))
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row[:5], widths)) +
             "  " + row[5] for row in rows]
    lines.insert(1, "-" * min(160, max(len(ln) for ln in lines)))
    s = doc["score"]
    lines.append("")
    lines.append(
        "mutation score: %d caught of %d decided (%s)%s; survived %d, "
        "undecided (budget/error) %d; %d predicted-equivalent survivor(s): "
        "score without them %s" % (
            s["caught"], s["mutants"] - s["undecided"], _pct(s["score"]),
            "", s["survived"], s["undecided"],
            s["predicted_equivalent_survivors"],
            _pct(s["score_excluding_predicted_equivalent"])))
    for name, info in doc["catchers"].items():
        if not info["available"]:
            lines.append("catcher %s not run: %s" % (name, info["reason"]))
    return "\n".join(lines)


def _pct(x):
    return "-" if x is None else "%.0f%%" % (100 * x)


def markdown(doc) -> str:
    s = doc["score"]
    out = ["# Mutation analysis %s" % doc["started"], "",
           "Nova %s (%s), fingerprint `%s`; harness `%s`; command "
           "`python -m harness %s`." % (
               doc["nova"].get("nova"), doc["nova"].get("nova_path"),
               doc["nova_fingerprint"], doc["harness_fingerprint"],
               " ".join(doc["argv"])), "",
           "**Score: %d caught of %d decided (%s)**; survived %d; undecided "
           "(budget or error) %d; without the %d survivor(s) we predicted "
           "equivalent: %s." % (
               s["caught"], s["mutants"] - s["undecided"], _pct(s["score"]),
               s["survived"], s["undecided"],
               s["predicted_equivalent_survivors"],
               _pct(s["score_excluding_predicted_equivalent"])), "",
           "## Catchers", ""]
    for name, info in doc["catchers"].items():
        if doc.get("merged"):
            p = {run: (parts.get(name) or {}).get("scenarios") or
                 (parts.get(name) or {}).get("reused")
                 for run, parts in doc["pristine"].items()}
        else:
            p = {k: v for k, v in doc["pristine"].get(name, {}).items()
                 if k in ("scenarios", "seconds", "wall", "reused", "exit")}
        out.append("* **%s**: %s" % (name, (
            "pristine run %s" % json.dumps(p))
            if info["available"] else "not run: %s" % info["reason"]))
    if doc.get("merged"):
        out += ["", "Merged from: %s (per defect the most decided result; "
                "the `run` column names the part)." % ", ".join(
                    "`%s`" % m for m in doc["merged"])]
    out += ["", "## Defects", "",
            "| id | path | function | operator | change | expected | "
            "result | by / why |", "|---|---|---|---|---|---|---|---|"]
    for r in doc["mutants"]:
        if r["status"] == "caught":
            how = "; ".join("%s `%s`: %s" % (b["catcher"], b["what"],
                                              b["why"]) for b in r["by"][:2])
        else:
            how = r["reason"] or ""
        out.append("| %s | %s | `%s` | %s | `%s` | %s | **%s** | %s%s |" % (
            r["id"], r["path"], r["function"], r["operator"],
            r["change"].replace("|", "\\|"), r["expect"] or "-",
            r["status"].upper(), how.replace("|", "\\|"),
            " (run `%s`)" % r["run"] if r.get("run") else ""))
    surv = [r for r in doc["mutants"] if r["status"] != "caught"]
    if surv:
        out += ["", "## Survivors and why", ""]
        for r in surv:
            out.append("* **%s** (%s, %s): %s. %s" % (
                r["id"], r["function"], r["what"], r["status"],
                r["reason"]))
    if doc["missing"]:
        out += ["", "## Defect sites this release lacks", ""]
        out += ["* %s `%s` (%s): %s" % (m["id"], m["function"],
                                         m["operator"], m["reason"])
                for m in doc["missing"]]
    out += ["", "Each mutant's diff is in `mutants/<id>.diff`; the "
            "catchers' logs in `mutants/<id>/<catcher>/`.", ""]
    return "\n".join(out)


def _save(run_dir, doc):
    _write(run_dir, "mutation.json", json.dumps(doc, indent=1,
                                                default=str) + "\n")


def _nova_info(sources) -> dict:
    from importlib import metadata
    try:
        version = metadata.version("nova")
    except metadata.PackageNotFoundError:  # pragma: no cover
        version = "unknown"
    path = sources[defects_mod.RT][0]
    return {"nova": version, "nova_path": os.path.dirname(os.path.dirname(
        os.path.dirname(path)))}


def _catalogue_functions() -> dict:
    """scenario -> nova_functions of the claims it judges."""
    try:
        cat = catalogue_mod.load()
    except Exception:  # noqa: BLE001 - the coverage still selects
        return {}
    out: dict = {}
    for claim in cat.claims.values():
        for scen in getattr(claim, "scenarios", []) or []:
            out.setdefault(scen, []).extend(
                getattr(claim, "nova_functions", []) or [])
    return out


def _check_reuse(path, nova_fp, harness_fp, opts) -> str:
    folder = path
    if not os.path.isdir(folder):
        folder = os.path.join(opts.runs_dir, path)
    manifest = os.path.join(folder, "mutation.json")
    try:
        with open(manifest, encoding="utf-8") as f:
            old = json.load(f)
    except (OSError, ValueError) as exc:
        raise MutateInputError(
            "--reuse %s: no readable mutation.json there (%s); give a "
            "runs/mutate-* directory" % (path, getattr(exc, "strerror", exc))
        ) from None
    if old.get("nova_fingerprint") != nova_fp:
        raise MutateInputError("--reuse %s: its pristine run was of another "
                               "Nova (fingerprint %s, installed %s); run "
                               "without --reuse" % (
                                   path, old.get("nova_fingerprint"),
                                   nova_fp))
    if old.get("harness_fingerprint") != harness_fp:
        raise MutateInputError("--reuse %s: the scenarios or the harness "
                               "changed since (fingerprint %s, now %s); run "
                               "without --reuse" % (
                                   path, old.get("harness_fingerprint"),
                                   harness_fp))
    for option in ("scenarios", "lifecycle"):     # the catchers' selection
        was, now = (old.get("options") or {}).get(option), getattr(opts,
                                                                   option)
        if was != now:
            raise MutateInputError("--reuse %s: its pristine run covered "
                                   "--%s %s, not %s; use the same "
                                   "selection or run without --reuse" % (
                                       path, option, was, now))
    return folder
