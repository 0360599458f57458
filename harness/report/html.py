"""One HTML page per run, and the trial detail it loads when asked.

No external asset: CSS, JavaScript and the charts (SVG drawn by the page's
own script) are all inline, so the page can be opened from disk years later.

The page shows the run (status, Nova, seed, exit code), the drift from the
baseline, the verdict table with filters (verdict, drift only, free text),
each claim's evidence, and per scenario: its verdict and evidence, a strip
of its trials, and for the selected trial a chart per node of usage over the
trial's steps: the tracker's in-memory value, the ``compute_nodes`` row,
placement (usages plus the reserved amounts, the tracker's convention) and
the ledger (what the harness expects) as four lines, with the fault's
injection, clearing and every time it fired marked; below the chart its
under-fault values, violations, steps and log lines.

What the page embeds is what it draws at first view: the tables, the
scenario cards, a one-line head per trial (the strip and the trial list)
and the full detail of each scenario's first-shown trial.  The detail of
every other trial (chart points, steps, violations, logs) is in
``report.trials/<scenario>.js`` beside the page (:func:`write`), one file
per scenario, loaded with a ``<script>`` element when a trial is opened:
that works from ``file://``, where a page may not ``fetch`` its neighbours.
:func:`render` gives a single page with every detail inline instead (what
``report --format html`` prints to stdout).
"""
from __future__ import annotations

import html
import json
import os

from harness.report import runrecord, tracefmt
from harness.report import tables as report_mod
from harness.report.runrecord import safe_name

SOURCES = ("tracker", "db", "placement", "ledger")
MAX_STEPS = 400           # per trial, in the page's step table
MAX_STEP_TEXT = 200
DETAIL_SUFFIX = ".trials"     # report.html -> report.trials/<scenario>.js
# what a trial's head (embedded for every trial) does not carry
DETAIL_KEYS = ("error", "violations", "vnodes", "vlist", "points", "events",
               "steps", "truncated", "logs")


def _e(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


# ---------------------------------------------------------------------------
# data for the charts
# ---------------------------------------------------------------------------
def _short(data: dict) -> str:
    if not data:
        return ""
    if "usage" in data:   # snapshots: the table shows them
        return "(usage per node: see chart)"
    text = ", ".join("%s=%s" % (k, json.dumps(v, default=str))
                     for k, v in data.items())
    return text if len(text) <= MAX_STEP_TEXT else \
        text[: MAX_STEP_TEXT - 1] + "…"


def compact_trial(trial: dict) -> dict:
    """What the page needs of one stored trial."""
    steps = trial.get("steps") or []
    reserved = None
    points, events, rows = [], [], []
    for st in steps:
        kind, what, data = st.get("kind"), st.get("what"), st.get("data", {})
        if kind == "world" and what == "built":
            reserved = data.get("reserved")
        if kind == "snapshot":
            vals = tracefmt.snapshot_values(data, reserved)
            points.append({
                "i": st["index"], "label": what,
                "stage": tracefmt.STAGE_OF_SNAPSHOT.get(what),
                "v": {node: {src: ([row[src].get(m) for m in
                                    tracefmt.METRICS] if row.get(src)
                                   else None) for src in SOURCES}
                      for node, row in vals.items()}})
        elif kind == "fault":
            events.append({"i": st["index"], "kind": what,
                           "text": data.get("fault") or _short(data)})
        if len(rows) < MAX_STEPS:
            rows.append([st.get("index"), st.get("t"), kind, what,
                         _short(data)])
    violations = trial.get("violations") or {}
    nodes = list(points[0]["v"]) if points else []
    vnodes: dict[str, dict[str, int]] = {}
    for stage, vs in violations.items():
        for v in vs:
            words = set(str(v.get("subject", "")).replace(",", " ").split())
            hit = [n for n in nodes if n in words] or ["*"]
            for n in hit:
                vnodes.setdefault(stage, {})
                vnodes[stage][n] = vnodes[stage].get(n, 0) + 1
    return {
        "name": trial.get("name"), "control": trial.get("control"),
        "fault": trial.get("fault"),
        "error": (trial.get("error") or "")[-3000:] or None,
        "during_error": trial.get("during_error"),
        "violations": {st: len(vs) for st, vs in violations.items()},
        "vnodes": vnodes,
        "vlist": ["%s @ %s: %s: expected %s, got %s%s" % (
            v.get("invariant"), st, v.get("subject"),
            json.dumps(v.get("expected"), default=str)[:160],
            json.dumps(v.get("actual"), default=str)[:160],
            " (%s)" % v["detail"] if v.get("detail") else "")
            for st, vs in violations.items() for v in vs][:40],
        "points": points, "events": events, "steps": rows,
        # a summarised trial (run --keep-traces deciding) kept only its
        # fault and note steps; say how many it had
        "nsteps": (trial.get("summary") or {}).get("steps", len(steps)),
        "truncated": max(0, (trial.get("summary") or {}).get(
            "steps", len(steps)) - len(rows)),
        "logs": [ln[:300] for ln in (trial.get("logs") or [])[-20:]],
        "duration": trial.get("duration"),
    }


def page_data(doc: dict, manifest: dict, traces: dict, drift: dict) -> dict:
    """The page's data.  Scenarios that share observations (several
    hypotheses decided from the same trials) share them in ``pool``."""
    drifted = {d["scenario"]: d for d in drift["scenarios"]}
    pool: list[dict] = []
    index: dict[str, int] = {}
    scenarios = []
    for s in sorted(doc.get("scenarios", []), key=lambda s: s["scenario"]):
        trace = traces.get(s["scenario"]) or {}
        ev_variants = {e.get("variant") for e in s.get("evidence", [])}
        refs, ev = [], []
        for t in trace.get("trials", []):
            c = compact_trial(t)
            key = json.dumps(c, sort_keys=True, default=str)
            if key not in index:
                index[key] = len(pool)
                pool.append(c)
            refs.append(index[key])
            ev.append(int(t.get("name") in ev_variants))
        trials = [pool[i] for i in refs]
        scenarios.append({"name": s["scenario"], "trials": refs, "ev": ev,
                          "default": _default_trial(trials, ev)})
    return {"metrics": list(tracefmt.METRICS), "sources": list(SOURCES),
            "pool": pool, "scenarios": scenarios, "drift": sorted(drifted)}


def _default_trial(trials: list[dict], ev: list[int]) -> int:
    """The trial to chart first: one that is evidence, else one that broke
    something, else the first variant."""
    for pred in (lambda i, t: ev[i],
                 lambda i, t: not t["control"] and any(
                     t["violations"].values()),
                 lambda i, t: t["error"],
                 lambda i, t: not t["control"]):
        for i, t in enumerate(trials):
            if pred(i, t):
                return i
    return 0


# ---------------------------------------------------------------------------
# the page
# ---------------------------------------------------------------------------
VERDICTS = ("CONFIRMED", "REFUTED", "INCONCLUSIVE", "NOT_TESTABLE",
            "NOT_JUDGED")
EXIT_MEANING = {0: "verdicts match the baseline", 1: "drift",
                2: "bad input or harness error", 3: "a scenario was "
                "INCONCLUSIVE"}


def _badge(verdict: str) -> str:
    return '<span class="badge v-%s">%s</span>' % (_e(verdict), _e(verdict))


def _evidence_table(evidence: list[dict]) -> str:
    if not evidence:
        return ""
    rows = []
    for e in evidence:
        logs = ""
        if e.get("logs"):
            logs = ('<details><summary>%d log line(s)</summary><pre>%s</pre>'
                    '</details>' % (len(e["logs"]),
                                    _e("\n".join(e["logs"]))))
        rows.append(
            "<tr><td>%s</td><td>%s</td><td><b>%s</b></td><td>%s</td>"
            "<td><code>%s</code></td><td><code>%s</code></td><td>%s%s</td>"
            "</tr>" % (
                _e(e.get("variant")), _e(e.get("stage")),
                _e(e.get("invariant")), _e(e.get("subject")),
                _e(json.dumps(e.get("expected"), default=str)[:300]),
                _e(json.dumps(e.get("actual"), default=str)[:300]),
                _e(e.get("detail")), logs))
    return ('<table class="ev"><thead><tr><th>variant</th><th>stage</th>'
            '<th>invariant</th><th>subject</th><th>expected</th>'
            '<th>actual</th><th>detail / logs</th></tr></thead><tbody>%s'
            '</tbody></table>' % "".join(rows))


def render(doc: dict, manifest: dict | None = None,
           traces: dict | None = None, drift: dict | None = None) -> str:
    """The HTML page for a run (``doc``: verdicts.json, ``manifest``:
    run.json, ``traces``: scenario -> traces/<s>.json), every trial's
    detail inline: one file, however large (see :func:`write`)."""
    return render_files(doc, manifest, traces, drift, inline=True)[0]


def write(path: str, doc: dict, manifest: dict | None = None,
          traces: dict | None = None, drift: dict | None = None) -> dict:
    """Write the page to ``path`` and its trials' detail to
    ``<page>.trials/`` beside it (files of an earlier page there are
    removed); return the bytes written: ``{"html": .., "detail": ..}``.
    The detail is written first, so a page never names a missing file."""
    page, files = render_files(doc, manifest, traces, drift,
                               page_name=os.path.basename(path))
    folder = os.path.join(os.path.dirname(os.path.abspath(path)),
                          detail_dir(os.path.basename(path)))
    detail = 0
    for name, text in files.items():
        data = text.encode("utf-8")
        runrecord.write_bytes_atomic(os.path.join(folder, name), data)
        detail += len(data)
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name not in files and name.endswith(".js"):
                os.unlink(os.path.join(folder, name))
        if not os.listdir(folder):
            os.rmdir(folder)
    data = page.encode("utf-8")
    runrecord.write_bytes_atomic(path, data)
    return {"html": len(data), "detail": detail}


def detail_dir(page_name: str) -> str:
    """The folder of a page's trial detail, relative to the page."""
    return os.path.splitext(page_name)[0] + DETAIL_SUFFIX


class _Strings:
    """A file's string table: a log line or step text repeated across
    trials (most are) is stored once."""

    def __init__(self):
        self.index: dict[str, int] = {}
        self.strings: list[str] = []

    def __call__(self, text: str) -> int:
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.strings)
            self.strings.append(text)
        return i


def _pack(trial: dict, strings: _Strings) -> dict:
    """A compact trial's detail, its text through ``strings`` (the page's
    ``unpack`` undoes it)."""
    d = {k: trial[k] for k in DETAIL_KEYS}
    d["logs"] = [strings(x) for x in trial["logs"]]
    d["vlist"] = [strings(x) for x in trial["vlist"]]
    d["steps"] = [r[:4] + [strings(r[4])] for r in trial["steps"]]
    return d


def _head(trial: dict, f: int) -> dict:
    """What the strip and the trial list show of every trial; ``f``: the
    detail file (-1: embedded)."""
    return {"name": trial["name"], "control": trial["control"],
            "fault": trial["fault"], "err": int(bool(trial["error"])),
            "nv": sum(trial["violations"].values()),
            "during_error": trial["during_error"],
            "duration": trial["duration"], "nsteps": trial["nsteps"],
            "f": f}


def _script_json(doc) -> str:
    """JSON that is also safe inside a <script> element (and valid JS)."""
    text = json.dumps(doc, default=str, separators=(",", ":"),
                      ensure_ascii=False)
    return text.replace("</", "\\u003c/").replace("<!--", "\\u003c!--")


def split_detail(data: dict, inline: bool = False,
                 page_name: str = "report.html") -> tuple[dict, dict]:
    """:func:`page_data` as the page embeds it, and its detail files.

    Each trial keeps a head in the page; the full detail of the trial each
    scenario shows first is embedded; every other trial's detail goes to
    the file of the first scenario (by name) that lists it.  Returns the
    embedded data and ``{file name: JavaScript}``; with ``inline`` the files'
    content is embedded too (``inline`` in the data) and no file is made."""
    shown = {s["trials"][s["default"]] for s in data["scenarios"]
             if s["trials"]}
    owner: dict[int, str] = {}
    for s in data["scenarios"]:
        for i in s["trials"]:
            owner.setdefault(i, s["name"])
    files: list[str] = []                      # file number -> name
    packed: dict[str, tuple[_Strings, dict, int]] = {}
    heads = []
    embedded = (_Strings(), {})
    for i, trial in enumerate(data["pool"]):
        if i in shown:
            f = -1
            table, trials = embedded
        else:
            name = safe_name(owner[i]) + ".js"
            if name not in packed:
                packed[name] = (_Strings(), {}, len(files))
                files.append(name)
            table, trials, f = packed[name]
        trials[str(i)] = _pack(trial, table)
        heads.append(_head(trial, f))
    page = {k: v for k, v in data.items() if k != "pool"}
    page.update(heads=heads, files=files, dir=detail_dir(page_name),
                embedded=[embedded[0].strings, embedded[1]])
    if inline:
        page["inline"] = {str(f): [packed[n][0].strings, packed[n][1]]
                          for f, n in enumerate(files)}
        return page, {}
    out = {}
    for name in files:
        table, trials, f = packed[name]
        out[name] = ("/* trial detail for the page %s (harness report); "
                     "loaded by it on demand */\nHARNESS_TRIALS(%d,%s,%s);\n"
                     % (page_name.replace("*/", ""), f,
                        _script_json(table.strings), _script_json(trials)))
    return page, out


def render_files(doc: dict, manifest: dict | None = None,
                 traces: dict | None = None, drift: dict | None = None,
                 inline: bool = False,
                 page_name: str = "report.html") -> tuple[str, dict]:
    """The page and its detail files (``{name: text}``, to be written to
    ``detail_dir(page_name)``; none with ``inline``)."""
    manifest = manifest or {}
    traces = traces or {}
    drift = drift if drift is not None else \
        report_mod.drift_against_baseline(doc)
    data, files = split_detail(page_data(doc, manifest, traces, drift),
                               inline=inline, page_name=page_name)
    drifted = {d["scenario"]: d for d in drift["scenarios"]}
    drifted_claims = {d["claim"]: d for d in drift["claims"]}
    scen_by_name = {s["scenario"]: s for s in doc.get("scenarios", [])}
    nova = doc.get("nova") or {}
    complete = doc.get("complete", True) and manifest.get("complete",
                                                          True) is not False
    run_id = manifest.get("id") or doc.get("generated", "")

    out = []
    w = out.append
    w("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>")
    w("<meta name='viewport' content='width=device-width, initial-scale=1'>")
    w("<title>Nova harness run %s</title><style>%s</style></head><body>"
      % (_e(run_id), CSS))
    w("<header><h1>Nova accounting harness <span class='run'>run %s</span>"
      "</h1>" % _e(run_id))
    facts = []
    facts.append("<span class='status %s'>%s</span>" % (
        "ok" if complete else "bad",
        "complete" if complete else "INCOMPLETE (%s)" % _e(
            manifest.get("status", "interrupted"))))
    if manifest.get("exit_code") is not None:
        code = manifest["exit_code"]
        facts.append("exit code <b>%s</b> (%s)" % (
            _e(code), _e(EXIT_MEANING.get(code, ""))))
    if "error" in nova:
        facts.append("Nova: %s" % _e(nova["error"]))
    elif nova:
        facts.append("Nova <b>%s</b> (%s, <code>%s</code>)" % (
            _e(nova.get("nova")), _e(nova.get("nova_source")),
            _e(nova.get("nova_path"))))
        facts.append("Placement %s" % _e(nova.get("placement")))
        facts.append("Python %s" % _e(nova.get("python")))
    if manifest.get("seed") is not None:
        facts.append("seed %s" % _e(manifest["seed"]))
    if manifest.get("workers"):
        facts.append("%s worker(s)" % _e(manifest["workers"]))
    facts.append("generated %s" % _e(doc.get("generated")))
    if manifest.get("started"):
        facts.append("started %s, finished %s" % (
            _e(manifest.get("started")), _e(manifest.get("finished") or "-")))
    w("<p class='facts'>%s</p>" % " · ".join(facts))
    counts: dict[str, int] = {}
    for c in doc.get("claims", []):
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    w("<p class='counts'>%s</p></header>" % " ".join(
        "%s&nbsp;%d" % (_badge(v), counts[v]) for v in VERDICTS
        if v in counts))

    # drift
    if drift["scenarios"] or drift["claims"]:
        w("<section class='drift'><h2>Drift from the baseline</h2><ul>")
        for line in report_mod.drift_lines(drift):
            w("<li>%s</li>" % _e(line))
        w("</ul></section>")
    else:
        w("<section class='nodrift'>No drift: every verdict matches the "
          "baseline.</section>")

    # filters
    w("<nav class='filters' id='filters'><b>Show:</b> ")
    for v in VERDICTS:
        w("<label class='fv'><input type='checkbox' data-verdict='%s' "
          "checked> %s</label>" % (v, _badge(v)))
    w("<label><input type='checkbox' id='driftonly'> drift only</label>"
      "<input type='search' id='q' placeholder='filter by claim, scenario, "
      "text…'><span id='shown'></span></nav>")

    # claims, then findings (each with what decided it)
    w(_claims_section(doc.get("claims", []), drifted_claims, scen_by_name))
    w(_findings_section(doc.get("findings", []), scen_by_name))

    # scenarios
    w("<section><h2>Scenarios</h2>")
    if not doc.get("scenarios"):
        w("<p><i>No scenario ran.</i></p>")
    for idx, s in enumerate(sorted(doc.get("scenarios", []),
                                   key=lambda s: s["scenario"])):
        name = s["scenario"]
        is_drift = name in drifted
        text = " ".join([name, s["verdict"], " ".join(s.get("claims", [])),
                         s.get("summary", ""), s.get("hypothesis", "")]
                        ).lower()
        w("<article class='scen filt%s' id='s-%s' data-verdict='%s' "
          "data-drift='%d' data-text='%s' data-idx='%d'>" % (
              " drifted" if is_drift else "", _e(_anchor(name)),
              _e(s["verdict"]), int(is_drift), _e(text), idx))
        w("<h3>%s <code>%s</code></h3>" % (_badge(s["verdict"]), _e(name)))
        meta = ["claims %s" % ", ".join(
            "<a href='#claims' class='cl' data-claim='%s'>%s</a>"
            % (_e(c), _e(c)) for c in s.get("claims", []))]
        base = s.get("baseline")
        if is_drift:
            meta.append("<span class='dr'>DRIFT: baseline %s → observed "
                        "%s</span>" % (_e(base or "(none recorded)"),
                                       _e(s["verdict"])))
        else:
            meta.append("baseline %s" % _e(base or "-"))
        meta.append("%s trial(s), %s control(s)" % (
            _e(s.get("trials")), _e(s.get("controls"))))
        meta.append("%.1fs" % float(s.get("duration") or 0))
        if s.get("seed") is not None:
            meta.append("seed %s" % _e(s["seed"]))
        w("<p class='meta'>%s</p>" % " · ".join(meta))
        w("<p class='summary'>%s</p>" % _e(s.get("summary")))
        if s.get("hypothesis"):
            w("<p><b>Hypothesis:</b> %s</p>" % _e(s["hypothesis"]))
        if s.get("rationale"):
            w("<p><b>Rationale:</b> %s</p>" % _e(s["rationale"]))
        if s.get("fault_space"):
            w("<details><summary>fault space: %d variant(s)</summary><ul "
              "class='fs'>%s</ul></details>" % (
                  len(s["fault_space"]), "".join(
                      "<li>%s</li>" % _e(f) for f in s["fault_space"])))
        if s.get("evidence"):
            ev = s["evidence"]
            w("<details open><summary>evidence (%d)</summary>%s"
              % (len(ev), _evidence_table(ev[:3])))
            if len(ev) > 3:
                w("<details><summary>%d more</summary>%s</details>"
                  % (len(ev) - 3, _evidence_table(ev[3:])))
            w("</details>")
        if s.get("traceback"):
            w("<details open><summary class='err'>harness traceback"
              "</summary><pre>%s</pre></details>" % _e(s["traceback"]))
        w("<div class='trialview' data-idx='%d'></div>" % idx)
        w("</article>")
    w("</section>")
    w("<footer>Lines: <b>tracker</b> = the ResourceTracker's in-memory "
      "ComputeNode; <b>DB</b> = the compute_nodes row read fresh; "
      "<b>placement</b> = the provider's usages plus the reserved amounts "
      "(the tracker counts reserved resources as used); <b>ledger</b> = "
      "what the harness created, the oracle. The shaded band is the time "
      "the fault was active; ▼ marks each time a placement fault fired; "
      "a red ring marks a snapshot whose stage broke an invariant on that node."
      "%s</footer>" % (
          " Each scenario's first-shown trial is in this page; the others' "
          "detail is read from <code>%s/</code> beside it when opened."
          % _e(data["dir"]) if files else ""))
    w("<script type='application/json' id='data'>%s</script>"
      % _script_json(data))
    w("<script>%s</script></body></html>" % JS)
    return "".join(out), files


# ---------------------------------------------------------------------------
# claims and findings: the proposition, and what decided the verdict
# ---------------------------------------------------------------------------
def _sev(severity: str) -> str:
    if not severity or severity == "none":
        return ""
    return "<span class='sev sev-%s' title='derived from the fault " \
        "class and the stages that broke'>severity %s</span>" % (
            _e(severity), _e(severity))


def _facts(row: dict, skip=("findings", "severity")) -> str:
    """A row's facts (tables.row_facts) as a definition list (findings
    near a claim and the severity have their own places)."""
    items = []
    for label, text in report_mod.row_facts(row):
        if label in skip or (label == "reason" and row.get("verdict") ==
                             "NOT_JUDGED" and text.startswith("not yet")):
            continue
        if label in ("evidence", "reason"):   # in full: expand the row
            text = report_mod.clip(text, 320)
        items.append("<dt>%s</dt><dd class='f-%s'>%s</dd>"
                     % (_e(label), _e(label), _e(text)))
    return "<dl class='facts'>%s</dl>" % "".join(items) if items else ""


def _proposition(prop: dict) -> str:
    """The full proposition: statement, mechanism, trigger, harm and the
    counterfactual (or why there is none)."""
    if not prop or not prop.get("statement"):
        return ""
    parts = ["<p class='stmt'>%s</p><dl class='facts prop'>"
             % _e(" ".join(str(prop["statement"]).split()))]
    mech = prop.get("mechanism") or []
    if mech:
        parts.append("<dt>mechanism</dt><dd>%s</dd>" % ", ".join(
            "<code>%s</code>" % _e(m.get("where") or m.get("function"))
            for m in mech))
    for key in ("trigger", "harm"):
        if prop.get(key):
            parts.append("<dt>%s</dt><dd>%s</dd>" % (key, _e(prop[key])))
    if prop.get("trigger_classes"):
        parts.append("<dt>trigger classes</dt><dd>%s</dd>" % _e(", ".join(
            report_mod.authority_label(c) for c in prop["trigger_classes"])))
    if prop.get("counterfactual"):
        parts.append("<dt>counterfactual</dt><dd>%s</dd>" % ", ".join(
            "<code>%s</code>" % _e(c) for c in prop["counterfactual"]))
    elif prop.get("no_counterfactual") or prop.get("untestable"):
        parts.append("<dt>no counterfactual</dt><dd>%s</dd>" % _e(
            prop.get("no_counterfactual") or prop.get("untestable")))
    parts.append("</dl>")
    return "".join(parts)


def _scenario_details(names, scen_by_name) -> list[str]:
    out = []
    for n in names:
        s = scen_by_name.get(n)
        if s:
            out.append("<h4>%s <a href='#s-%s'>%s</a></h4><p>%s</p>%s" % (
                _badge(s["verdict"]), _e(_anchor(n)), _e(n),
                _e(s.get("summary")),
                _evidence_table(s.get("evidence", [])[:6])))
    return out


def _claims_section(claims, drifted_claims, scen_by_name) -> str:
    out = ["<section id='claims-section'><h2>Claims</h2><p class='note'>"
           "Each headline answers the claim's proposition only. Findings "
           "found near a claim are listed under <a href='#findings'>"
           "Findings</a> and never change it. Expand a row for the full "
           "proposition and the scenarios' evidence.</p>"
           "<table class='claims' id='claims'><thead><tr><th>claim</th>"
           "<th>verdict</th><th>proposition and what decided it</th>"
           "<th>findings near it</th><th>scenarios</th></tr></thead><tbody>"]
    w = out.append
    for c in claims:
        cid = c["claim"]
        is_drift = cid in drifted_claims
        scen_links = ", ".join(
            "<a href='#s-%s'>%s</a>" % (_e(_anchor(n)), _e(n))
            for n in c.get("scenarios", [])) or "<i>none yet</i>"
        near = " ".join("<a href='#f-%s'>%s</a>" % (_e(f), _e(f))
                        for f in c.get("findings") or []) or "-"
        text = " ".join([cid, c["verdict"], c.get("title", ""),
                         c.get("summary", ""),
                         report_mod.short_proposition(c),
                         " ".join(c.get("findings") or []),
                         " ".join(c.get("scenarios", []))]).lower()
        w("<tr class='claim filt%s' data-verdict='%s' data-drift='%d' "
          "data-text='%s' data-claim='%s'><td class='cid'>"
          "<button class='tog' aria-label='details'>▸</button> %s</td>"
          "<td class='vd'>%s%s<br>%s</td><td><div class='sp'>%s</div>"
          "<div class='ttl'>%s%s</div>%s</td><td>%s</td><td class='sl'>%s"
          "</td></tr>" % (
              " drifted" if is_drift else "", _e(c["verdict"]),
              int(is_drift), _e(text), _e(cid), _e(cid),
              _badge(c["verdict"]),
              ("<br><span class='dr'>was %s</span>" % _e(
                  drifted_claims[cid]["old"] or "(none recorded)"))
              if is_drift else "", _sev(c.get("severity")),
              _e(report_mod.short_proposition(c)), _e(c.get("title")),
              (" (%s)" % _e(c["cwe"])) if c.get("cwe") else "",
              _facts(c), near, scen_links))
        detail = [_proposition(c.get("proposition") or {}),
                  "<p class='para'>The report: %s</p>" % _e(
                      c.get("paraphrase")) if c.get("paraphrase") else "",
                  "<p class='src'>report %s, claim %s</p>" % (
                      _e(c.get("report")), _e(c.get("number")))]
        detail += _scenario_details(c.get("scenarios", []), scen_by_name)
        if not c.get("scenarios"):
            detail.append("<p><i>No scenario has judged this claim in this "
                          "run.</i></p>")
        w("<tr class='cdetail' data-for='%s' hidden><td colspan='5'>%s"
          "</td></tr>" % (_e(cid), "".join(detail)))
    w("</tbody></table></section>")
    return "".join(out)


def _findings_section(findings, scen_by_name) -> str:
    out = ["<section id='findings'><h2>Findings</h2>"]
    w = out.append
    if not findings:
        w("<p><i>The catalogue lists no finding.</i></p></section>")
        return "".join(out)
    w("<p class='note'>Weaknesses the harness showed that are not what any "
      "claim asserts, each decided by its own scenario with its own "
      "verdict, reach and severity.</p>")
    w("<table class='ftable'><thead><tr><th>finding</th><th>verdict</th>"
      "<th>severity</th><th>near claim</th><th>title</th></tr></thead>"
      "<tbody>")
    for f in findings:
        fid = f["finding"]
        w("<tr><td class='cid'><a href='#f-%s'>%s</a></td><td>%s</td>"
          "<td>%s</td><td>%s</td><td>%s</td></tr>" % (
              _e(fid), _e(fid), _badge(f["verdict"]),
              _sev(f.get("severity")) or "-",
              ("<a href='#claims' class='cl' data-claim='%s'>%s</a>"
               % (_e(f["near"]), _e(f["near"]))) if f.get("near")
              else "<i>claimed by no report</i>", _e(f.get("title"))))
    w("</tbody></table>")
    for f in findings:
        fid = f["finding"]
        text = " ".join([fid, f["verdict"], f.get("title", ""),
                         f.get("near") or "", f.get("summary", ""),
                         " ".join(f.get("scenarios", []))]).lower()
        w("<article class='finding filt' id='f-%s' data-verdict='%s' "
          "data-drift='0' data-text='%s'>" % (_e(fid), _e(f["verdict"]),
                                             _e(text)))
        w("<h3>%s %s %s %s</h3>" % (_badge(f["verdict"]), _e(fid),
                                    _sev(f.get("severity")),
                                    _e(f.get("title"))))
        w("<p class='meta'>%s</p>" % _e(
            f.get("label") or report_mod.near_text(f)))
        w(_proposition(f.get("proposition") or {}))
        facts = _facts(f)
        if facts:
            w("<p class='rl'>what decided it:</p>%s" % facts)
        if f.get("reproduce"):
            w("<p class='rl'>reproduce:</p><pre class='cmd'>%s</pre>"
              % _e(f["reproduce"]))
        details = _scenario_details(f.get("scenarios", []), scen_by_name)
        if details:
            w("<details><summary>evidence of %d scenario(s)</summary>%s"
              "</details>" % (len(details), "".join(details)))
        w("</article>")
    w("</section>")
    return "".join(out)


def _anchor(name: str) -> str:
    return safe_name(name)


CSS = r"""
:root{--c:#b71c1c;--r:#1b5e20;--i:#e65100;--t:#37474f;--j:#9e9e9e;
--fg:#1d232a;--mut:#5f6b76;--line:#dde3e8;--bg:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);margin:0;padding:0 24px 40px;background:#fff}
header{border-bottom:1px solid var(--line);padding:14px 0 6px}
h1{font-size:22px;margin:0 0 6px}h1 .run{font-weight:400;color:var(--mut)}
h2{font-size:18px;margin:22px 0 8px}h3{font-size:15px;margin:0 0 6px}
h4{margin:10px 0 4px;font-size:13px}
.facts,.counts{margin:4px 0;color:var(--mut)}
.status{font-weight:700;padding:1px 8px;border-radius:10px}
.status.ok{background:#e8f5e9;color:var(--r)}
.status.bad{background:#ffebee;color:var(--c)}
.badge{display:inline-block;font-size:11px;font-weight:700;letter-spacing:.3px;
padding:1px 7px;border-radius:9px;color:#fff;white-space:nowrap}
.v-CONFIRMED{background:var(--c)}.v-REFUTED{background:var(--r)}
.v-INCONCLUSIVE{background:var(--i)}.v-NOT_TESTABLE{background:var(--t)}
.v-NOT_JUDGED{background:var(--j)}
.drift{background:#ffebee;border:1px solid #ef9a9a;border-radius:6px;
padding:4px 14px;margin-top:12px}.drift h2{color:var(--c);margin:8px 0}
.nodrift{background:#e8f5e9;border:1px solid #a5d6a7;border-radius:6px;
padding:8px 14px;margin-top:12px;color:var(--r)}
.dr{color:var(--c);font-weight:600}
.filters{position:sticky;top:0;background:#fff;z-index:5;padding:8px 0;
border-bottom:1px solid var(--line);display:flex;flex-wrap:wrap;gap:10px;
align-items:center}
.filters input[type=search]{flex:1;min-width:200px;padding:4px 8px;
border:1px solid var(--line);border-radius:4px}
#shown{color:var(--mut);font-size:12px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:4px 8px;
border-bottom:1px solid var(--line)}
th{background:var(--bg);font-size:12px;color:var(--mut)}
.claims td.cid{white-space:nowrap;font-weight:600}
tr.drifted td{background:#fff5f5}
.tog{border:0;background:none;cursor:pointer;font-size:12px;padding:0 2px}
.cdetail td{background:var(--bg)}
.para{font-style:italic}.src{color:var(--mut);font-size:12px}
table.ev{font-size:12px;margin:6px 0;table-layout:fixed}
table.ev code{word-break:break-all}table.ev td{overflow-wrap:anywhere}
table.ev th:nth-child(1){width:22%}table.ev th:nth-child(2){width:8%}
table.ev th:nth-child(3){width:15%}table.ev th:nth-child(4){width:15%}
table.ev th:nth-child(5){width:12%}table.ev th:nth-child(6){width:15%}
table.ev th:nth-child(7){width:13%}
article.scen{border:1px solid var(--line);border-radius:8px;
padding:12px 16px;margin:14px 0;overflow-wrap:anywhere}
article td{overflow-wrap:anywhere}
.claims td{overflow-wrap:break-word}.claims td:nth-child(3){min-width:200px}
article.scen.drifted{border-color:#ef9a9a;box-shadow:0 0 0 2px #ffcdd2}
.meta{color:var(--mut);margin:2px 0 6px}.summary{margin:4px 0 8px}
pre{background:var(--bg);padding:8px;overflow:auto;font-size:12px;
max-height:360px}
.err{color:var(--c);font-weight:600}
.fs{columns:2;font-size:12px}
.strip{display:flex;flex-wrap:wrap;gap:3px;margin:8px 0}
.strip button{width:18px;height:18px;border-radius:3px;border:1px solid
rgba(0,0,0,.15);cursor:pointer;padding:0}
.strip button.sel{outline:2px solid #1565c0;outline-offset:1px}
.t-ctl{background:#cfd8dc}.t-ok{background:#a5d6a7}.t-bad{background:#ef5350}
.t-err{background:#ffb74d}.t-ev{background:#b71c1c}
.ctrl{display:flex;gap:12px;align-items:center;flex-wrap:wrap;margin:6px 0}
.ctrl select{max-width:560px}
.tinfo{font-size:12px;color:var(--mut)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,440px));
gap:10px}
.panel{border:1px solid var(--line);border-radius:6px;padding:4px}
.panel h5{margin:2px 6px;font-size:12px}
svg text{font-family:inherit}
.legend{display:flex;gap:16px;flex-wrap:wrap;font-size:12px;margin:6px 0}
.legend svg{vertical-align:middle}
table.vals{font-size:12px;width:auto;margin-top:6px}
table.vals td.bad{background:#ffcdd2;font-weight:700}
table.steps{font-size:11px}table.steps tr.f td{background:#ffebee}
table.steps tr.s td{background:#e3f2fd}
.vl{font-size:12px;color:var(--c)}
.note{color:var(--mut);margin:2px 0 8px}
.claims .sp{font-weight:500}.claims .ttl{color:var(--mut);font-size:12px}
.claims td.vd{width:120px}.claims td.sl{font-size:12px;max-width:240px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:1px 10px;
margin:4px 0 0;font-size:12px}
dl.facts dt{color:var(--mut);font-weight:600}dl.facts dd{margin:0}
article.finding dl.facts:not(.prop){background:var(--bg);padding:4px 8px;
border-radius:4px}
dl.prop{font-size:13px;margin-bottom:8px}.stmt{font-weight:600;margin:4px 0}
.sev{display:inline-block;font-size:11px;font-weight:700;padding:0 6px;
border-radius:9px;border:1px solid;white-space:nowrap}
.sev-high{color:#b71c1c;border-color:#b71c1c;background:#ffebee}
.sev-medium{color:#e65100;border-color:#e65100;background:#fff3e0}
.sev-low{color:#546e7a;border-color:#90a4ae;background:#eceff1}
table.ftable{margin-bottom:10px}
article.finding{border:1px solid var(--line);border-left:4px solid #6a1b9a;
border-radius:8px;padding:10px 16px;margin:12px 0;overflow-wrap:anywhere}
pre.cmd{white-space:pre-wrap;word-break:break-all;margin:2px 0 6px}
.rl{margin:8px 0 0;font-size:12px;color:var(--mut);font-weight:600}
footer{margin-top:30px;color:var(--mut);font-size:12px;
border-top:1px solid var(--line);padding-top:8px}
"""

JS = r"""
(function(){
var D=JSON.parse(document.getElementById('data').textContent);
var M=D.metrics, SRC=D.sources;
var COL={tracker:'#1565c0',db:'#ef6c00',placement:'#2e7d32',ledger:'#9e9e9e'};
var DASH={tracker:'',db:'7 4',placement:'2 3',ledger:''};
var WID={tracker:2.4,db:2.2,placement:2.4,ledger:7};
var LBL={tracker:'tracker (memory)',db:'DB compute_nodes row',
 placement:'placement usages + reserved',ledger:'ledger (expected)'};
var NS='http://www.w3.org/2000/svg';
function el(t,a,p){var e=document.createElement(t);
 if(a)for(var k in a){if(k==='text')e.textContent=a[k];else e.setAttribute(k,a[k]);}
 if(p)p.appendChild(e);return e;}
function sv(t,a,p){var e=document.createElementNS(NS,t);
 if(a)for(var k in a){if(k==='text')e.textContent=a[k];else e.setAttribute(k,a[k]);}
 if(p)p.appendChild(e);return e;}
function fmt(v){if(v===null||v===undefined)return '–';
 return (Math.round(v*100)/100).toString();}
function nice(x){var e=Math.pow(10,Math.floor(Math.log10(x))),f=x/e;
 return (f<=1?1:f<=2?2:f<=2.5?2.5:f<=5?5:10)*e;}
function axis(v){var a=Math.abs(v);if(a>=1e6)return v.toExponential(1);
 return (Math.round(v*1000)/1000).toString();}
function diff(a,b){return a!==null&&b!==null&&a!==undefined&&b!==undefined&&Math.abs(a-b)>1e-9;}
function tclass(t,e){if(t.err)return 't-err';if(e)return 't-ev';
 if(t.control)return t.nv?'t-bad':'t-ctl';return t.nv?'t-bad':'t-ok';}
// trial detail: embedded for the trials shown first, else in
// D.dir/D.files[f], a script that calls HARNESS_TRIALS when loaded
var T={},W={};
function unpack(S,d){d.logs=d.logs.map(function(i){return S[i];});
 d.vlist=d.vlist.map(function(i){return S[i];});
 d.steps=d.steps.map(function(r){return r.slice(0,4).concat([S[r[4]]]);});return d;}
function got(f,S,trials){for(var k in trials)T[k]=unpack(S,trials[k]);
 var w=W[f];W[f]='done';if(w&&w.forEach)w.forEach(function(cb){cb();});}
window.HARNESS_TRIALS=got;
got(-1,D.embedded[0],D.embedded[1]);
function where(f){return D.dir+'/'+D.files[f];}
function need(i,cb){var f=D.heads[i].f;
 if(T[i]||W[f]==='done'||W[f]==='failed')return cb();
 if(D.inline&&D.inline[f]){got(f,D.inline[f][0],D.inline[f][1]);return cb();}
 if(W[f]){W[f].push(cb);return;}
 W[f]=[cb];var s=document.createElement('script');s.charset='utf-8';s.src=where(f);
 function fail(){var w=W[f];if(w==='done')return;W[f]='failed';w.forEach(function(c){c();});}
 s.onerror=fail;s.onload=fail;document.head.appendChild(s);}
function bestMetric(t){var best=0,bn=-1;
 M.forEach(function(m,mi){var n=0;t.points.forEach(function(p){
  for(var node in p.v){var l=p.v[node].ledger;if(!l)continue;
   SRC.forEach(function(s){var r=p.v[node][s];if(s!=='ledger'&&r&&diff(r[mi],l[mi]))n++;});}});
  if(n>bn){bn=n;best=mi;}});return best;}

function chart(host,t,mi){
 host.innerHTML='';
 if(!t.points.length){el('p',{text:'This trial has no snapshot to chart'+(t.error?' (harness error, see below).':'.')},host);return;}
 var nodes=Object.keys(t.points[0].v);
 var n=Math.max(t.nsteps-1,1);
 var inj=null,clr=null,fired=[];
 t.events.forEach(function(e){if(e.kind==='inject'&&inj===null)inj=e.i;
  else if(e.kind==='clear')clr=e.i;else if(e.kind!=='inject')fired.push(e);});
 var grid=el('div',{'class':'charts'},host);
 nodes.forEach(function(node){
  var vals=[];t.points.forEach(function(p){SRC.forEach(function(s){
   var r=p.v[node]&&p.v[node][s];if(r&&r[mi]!==null&&r[mi]!==undefined)vals.push(r[mi]);});});
  var lo=Math.min.apply(null,vals.concat([0])),hi=Math.max.apply(null,vals.concat([1]));
  if(hi===lo)hi=lo+1;var step=nice((hi-lo)/4);
  lo=Math.floor(lo/step)*step;hi=Math.ceil(hi*1.0001/step)*step;if(hi<=lo)hi=lo+step;
  var W=420,H=230,L=52,R=12,T=26,B=44;
  var X=function(i){return L+(W-L-R)*i/n;},Y=function(v){return T+(H-T-B)*(1-(v-lo)/(hi-lo));};
  var panel=el('div',{'class':'panel'},grid);
  el('h5',{text:'node '+node+' · '+M[mi]},panel);
  var s=sv('svg',{viewBox:'0 0 '+W+' '+H,width:'100%',role:'img','aria-label':'usage of '+node},panel);
  if(inj!==null){var x2=X(clr!==null?clr:n);
   sv('rect',{x:X(inj),y:T,width:Math.max(x2-X(inj),2),height:H-T-B,fill:'#ffcdd2','fill-opacity':.45},s);
   sv('line',{x1:X(inj),x2:X(inj),y1:T-8,y2:H-B,stroke:'#c62828','stroke-width':2},s);
   sv('text',{x:X(inj)+3,y:T-10,'font-size':10,fill:'#c62828','font-weight':700,text:'fault injected (step '+inj+')'},s);
   if(clr!==null){sv('line',{x1:X(clr),x2:X(clr),y1:T,y2:H-B,stroke:'#c62828','stroke-dasharray':'4 3'},s);
    sv('text',{x:X(clr)+3,y:H-B-4,'font-size':9,fill:'#c62828',text:'cleared'},s);}}
  fired.forEach(function(e){var tri=sv('path',{d:'M'+(X(e.i)-4)+','+(T-2)+' l8,0 l-4,7 z',fill:'#c62828'},s);
   sv('title',{text:'step '+e.i+': fault fired: '+e.text},tri);});
  for(var v=lo;v<=hi+step/2;v+=step){
   sv('line',{x1:L,x2:W-R,y1:Y(v),y2:Y(v),stroke:'#eceff1'},s);
   sv('text',{x:L-5,y:Y(v)+3,'text-anchor':'end','font-size':10,fill:'#607d8b',text:axis(v)},s);}
  sv('line',{x1:L,x2:W-R,y1:H-B,y2:H-B,stroke:'#90a4ae'},s);
  sv('line',{x1:L,x2:L,y1:T,y2:H-B,stroke:'#90a4ae'},s);
  t.points.forEach(function(p,pi){
   var lab=(p.stage||p.label).replace('_fault','').replace('after_clear','after');
   sv('line',{x1:X(p.i),x2:X(p.i),y1:H-B,y2:H-B+4,stroke:'#90a4ae'},s);
   sv('text',{x:X(p.i),y:H-B+15+(pi%2)*12,'text-anchor':'middle','font-size':10,fill:'#37474f',text:lab},s);
   var vn=p.stage&&t.vnodes[p.stage];var k=vn?(vn[node]||0)+(vn['*']||0):0;
   if(k){var c=sv('circle',{cx:X(p.i),cy:T+4,r:6,fill:'none',stroke:'#c62828','stroke-width':2},s);
    sv('title',{text:k+' violation(s) at stage '+p.stage+' naming this node (or no node)'},c);}});
  sv('text',{x:(L+W-R)/2,y:H-4,'text-anchor':'middle','font-size':10,fill:'#90a4ae',text:'step of the trial →'},s);
  ['ledger','placement','tracker','db'].forEach(function(src){
   var pts=[];t.points.forEach(function(p){var r=p.v[node]&&p.v[node][src];
    if(r&&r[mi]!==null&&r[mi]!==undefined)pts.push([X(p.i),Y(r[mi]),r[mi],p]);});
   if(!pts.length)return;
   var g=sv('g',{},s);
   sv('polyline',{points:pts.map(function(q){return q[0]+','+q[1];}).join(' '),fill:'none',
    stroke:COL[src],'stroke-width':WID[src],'stroke-dasharray':DASH[src],
    'stroke-opacity':src==='ledger'?0.45:0.95,'stroke-linejoin':'round'},g);
   pts.forEach(function(q){var c=sv('circle',{cx:q[0],cy:q[1],r:src==='ledger'?4.5:3,fill:COL[src],'fill-opacity':src==='ledger'?0.5:1},g);
    sv('title',{text:LBL[src]+' at '+q[3].label+' (step '+q[3].i+'): '+fmt(q[2])},c);});});
 });
 var lg=el('div',{'class':'legend'},host);
 SRC.forEach(function(src){var sp=el('span',{},lg);
  var s=sv('svg',{width:34,height:10},sp);
  sv('line',{x1:1,x2:33,y1:5,y2:5,stroke:COL[src],'stroke-width':Math.min(WID[src],6),'stroke-dasharray':DASH[src],'stroke-opacity':src==='ledger'?0.45:1},s);
  sp.appendChild(document.createTextNode(' '+LBL[src]));});
 var sp=el('span',{},lg);sp.innerHTML='<svg width="18" height="10"><rect width="18" height="10" fill="#ffcdd2"/></svg> fault active';
 var tb=el('table',{'class':'vals'},host),hr=el('tr',{},el('thead',{},tb));
 el('th',{text:'node'},hr);el('th',{text:'source'},hr);
 t.points.forEach(function(p){el('th',{text:p.label+' (step '+p.i+')'},hr);});
 var body=el('tbody',{},tb);
 nodes.forEach(function(node){SRC.forEach(function(src,si){var tr=el('tr',{},body);
  el('td',{text:si?'':node},tr);el('td',{text:LBL[src]},tr);
  t.points.forEach(function(p){var r=p.v[node]&&p.v[node][src],l=p.v[node]&&p.v[node].ledger;
   var v=r?r[mi]:null;var td=el('td',{text:fmt(v)},tr);
   if(src!=='ledger'&&l&&r&&diff(v,l[mi])){td.className='bad';td.title='differs from the ledger ('+fmt(l[mi])+')';}});});});
}

function trialView(host,sc){
 var heads=sc.trials.map(function(i){return D.heads[i];});
 host.innerHTML='';
 if(!heads.length){el('p',{'class':'tinfo',text:'No trace was stored for this scenario.'},host);return;}
 el('h4',{text:'Trials ('+heads.length+') and usage over steps'},host);
 var strip=el('div',{'class':'strip'},host);
 var ctrl=el('div',{'class':'ctrl'},host);
 var sel=el('select',{'aria-label':'trial'},ctrl),msel=el('select',{'aria-label':'metric'},ctrl);
 heads.forEach(function(t,i){
  el('option',{value:i,text:(t.control?'[control] ':'')+t.name+(t.err?'  — harness error':t.nv?'  — '+t.nv+' violation(s)':'  — clean')+(sc.ev[i]?'  (evidence)':'')},sel);
  var b=el('button',{'class':tclass(t,sc.ev[i]),title:t.name+(t.nv?' — '+t.nv+' violation(s)':'')+(sc.ev[i]?' (evidence)':'')},strip);
  b.onclick=function(){sel.value=i;show(true);};});
 M.forEach(function(m,i){el('option',{value:i,text:m},msel);});
 var info=el('div',{'class':'tinfo'},host),ch=el('div',{},host),extra=el('div',{},host);
 function show(newTrial){var k=+sel.value,idx=sc.trials[k],h=heads[k];
  Array.prototype.forEach.call(strip.children,function(b,i){b.classList.toggle('sel',i===k);});
  info.textContent=(h.fault?'fault: '+h.fault:'control: no fault')+(h.duration!=null?' · '+h.duration+'s':'')+' · '+h.nsteps+' steps'+(h.during_error?' · the workload raised: '+h.during_error:'');
  ch.innerHTML='';extra.innerHTML='';
  el('p',{'class':'tinfo loading',text:'loading this trial\'s detail from '+where(h.f)+' …'},ch);
  need(idx,function(){if(+sel.value!==k)return;
   var d=T[idx];ch.innerHTML='';
   if(!d){el('p',{'class':'err',text:'This trial\'s detail (chart, steps, violations, log lines) is in '+where(h.f)+' beside this page, which could not be loaded. Open the page from its run record\'s directory, with the '+D.dir+' folder beside it; the record\'s traces/ hold every step too (python -m harness report).'},ch);return;}
   var t={};for(var a in h)t[a]=h[a];for(var b in d)t[b]=d[b];
   if(newTrial)msel.value=bestMetric(t);
   chart(ch,t,+msel.value);
   if(t.vlist.length){var u=el('ul',{'class':'vl'},extra);t.vlist.forEach(function(v){el('li',{text:v},u);});}
   if(t.error){var d1=el('details',{open:''},extra);el('summary',{'class':'err',text:'harness error'},d1);el('pre',{text:t.error},d1);}
   var d2=el('details',{},extra);el('summary',{text:'steps ('+t.nsteps+(t.truncated?', first '+t.steps.length+' shown':'')+')'},d2);
   var tb=el('table',{'class':'steps'},d2),hr=el('tr',{},el('thead',{},tb));
   ['#','t (s)','kind','what','data'].forEach(function(x){el('th',{text:x},hr);});
   var bd=el('tbody',{},tb);t.steps.forEach(function(r){var tr=el('tr',{'class':r[2]==='fault'?'f':r[2]==='snapshot'?'s':''},bd);
    r.forEach(function(c){el('td',{text:c===null||c===undefined?'':String(c)},tr);});});
   var d3=el('details',{},extra);el('summary',{text:'log lines ('+t.logs.length+')'},d3);
   el('pre',{text:t.logs.join('\n')||'(none)'},d3);});}
 sel.value=sc.default;
 sel.onchange=function(){show(true);};msel.onchange=function(){show(false);};
 show(true);
}
// a scenario's trials are drawn when its card comes near the window
function draw(h){if(!h.dataset.drawn){h.dataset.drawn='1';trialView(h,D.scenarios[+h.dataset.idx]);}}
var views=document.querySelectorAll('.trialview');
if(window.IntersectionObserver){var io=new IntersectionObserver(function(es){
 es.forEach(function(e){if(e.isIntersecting){io.unobserve(e.target);draw(e.target);}});},{rootMargin:'800px 0px'});
 views.forEach(function(h){io.observe(h);});}
else views.forEach(draw);

// claim detail toggles
document.querySelectorAll('tr.claim').forEach(function(tr){
 var b=tr.querySelector('.tog');b.onclick=function(){
  var d=document.querySelector('tr.cdetail[data-for="'+tr.dataset.claim+'"]');
  d.hidden=!d.hidden;b.textContent=d.hidden?'▸':'▾';};});
// filters
var boxes=document.querySelectorAll('#filters input[data-verdict]');
var q=document.getElementById('q'),dro=document.getElementById('driftonly');
function apply(){var on={};boxes.forEach(function(b){on[b.dataset.verdict]=b.checked;});
 var text=q.value.trim().toLowerCase(),shown=0,total=0;
 document.querySelectorAll('.filt').forEach(function(e){total++;
  var ok=on[e.dataset.verdict]!==false&&(!dro.checked||e.dataset.drift==='1')&&(!text||e.dataset.text.indexOf(text)>=0);
  e.hidden=!ok;if(ok)shown++;
  if(!ok&&e.classList.contains('claim')){var d=document.querySelector('tr.cdetail[data-for="'+e.dataset.claim+'"]');if(d)d.hidden=true;}});
 document.getElementById('shown').textContent=shown+' of '+total+' rows shown';}
boxes.forEach(function(b){b.onchange=apply;});q.oninput=apply;dro.onchange=apply;
document.querySelectorAll('a.cl').forEach(function(a){a.onclick=function(){q.value=a.dataset.claim;apply();};});
apply();
})();
"""
