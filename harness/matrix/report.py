"""The matrix report: claims x releases, findings x releases, flips.

Works from the matrix document alone (``matrix.json``), so a merged
nightly matrix renders the same way as one run on this machine.
"""
from __future__ import annotations

import html
import json

FLIP = "\u21c4"   # marks a cell whose verdict differs from its left neighbour
NO_FLIPS = ("Nothing differs between neighbouring releases: no claim, "
            "finding or scenario verdict, and no outcome of a test that is "
            "not a verdict.")
# The tables: key of the release entries, row title, heading; the
# scenarios' table shows only the scenarios whose verdict differs (the
# claims' table already holds their verdicts).
TABLES = (("claims", "claim", "Claims x releases"),
          ("findings", "finding", "Findings x releases"),
          ("scenarios", "scenario",
           "Scenarios whose verdict differs between releases"),
          ("other_tests", "test",
           "Tests that are not verdicts, whose outcome differs between "
           "releases or that fail in one"))


def _cells(rows_key: str, doc: dict) -> tuple[list[str], list[str], dict]:
    releases = [r["label"] for r in doc["releases"]]
    rows, cells = [], {}
    for r in doc["releases"]:
        for key, value in (r.get(rows_key) or {}).items():
            if key not in rows:
                rows.append(key)
            cells[(key, r["label"])] = value
    if rows_key == "scenarios":
        changed = {row for row, _ in flipped_cells(releases, rows, cells)}
        rows = [row for row in rows if row in changed]
    return releases, rows, cells


def flipped_cells(releases, rows, cells) -> set:
    """(row, release) cells whose value differs from the previous release
    that has one."""
    out = set()
    for row in rows:
        prev = None
        for rel in releases:
            v = cells.get((row, rel))
            if v is None:
                continue
            if prev is not None and v != prev:
                out.add((row, rel))
            prev = v
    return out


def flipped(doc: dict, rows_key: str) -> set:
    """(row, release) cells whose value differs from the previous release
    that has one."""
    return flipped_cells(*_cells(rows_key, doc))


_ABBR = {"CONFIRMED": "CONFIRMED", "REFUTED": "REFUTED",
         "INCONCLUSIVE": "INCONCL.", "NOT_TESTABLE": "NOT_TEST.",
         "NOT_JUDGED": "-", "present": "present", "absent": "absent",
         "passed": "passed", "failed": "failed", "skipped": "skipped"}


def text_table(doc: dict, rows_key: str, title: str, color=False) -> str:
    releases, rows, cells = _cells(rows_key, doc)
    flips = flipped(doc, rows_key)
    if not rows:
        return "%s: none%s\n" % (title, doc.get("notes", {}).get(
            rows_key, ""))
    width = max(10, max(len(r) for r in releases) + 2)
    first = max(len(title), max(len(r) for r in rows)) + 2
    out = [title.ljust(first) + "".join(r.rjust(width) for r in releases)]
    for row in rows:
        line = row.ljust(first)
        for rel in releases:
            v = cells.get((row, rel))
            text = _ABBR.get(v, v) if v else "n/a"
            if (row, rel) in flips:
                text = FLIP + " " + text
                cell = text.rjust(width)
                if color:
                    cell = "\x1b[1;33m%s\x1b[0m" % cell
            else:
                cell = text.rjust(width)
            line += cell
        out.append(line)
    return "\n".join(out) + "\n"


def flip_lines(doc: dict) -> list[str]:
    lines = []
    for f in doc.get("flips", []):
        lines.append("%s %s: %s in %s -> %s in %s" % (
            FLIP, f["row"], f["old"], f["older"], f["new"], f["newer"]))
        lines.append("    change: %s" % f["explanation"]["summary"])
        for r in f.get("ranking", [])[:3]:
            lines.append("    ran: %s" % _ran(r))
        if f.get("series_not_judged"):
            lines.append("    (series %s between them not judged)" % ", ".join(
                str(m) for m in f["series_not_judged"]))
    return lines


def times_lines(doc: dict) -> list[str]:
    out = ["%-22s %16s %12s %6s %-10s  %s" % (
        "release", "env build s", "scenarios s", "exit", "database",
        "record")]
    for r in doc["releases"]:
        out.append("%-22s %16s %12s %6s %-10s  %s" % (
            r["label"], "%.0f%s" % (r["build_seconds"], "" if r["built_now"]
                                    else " (cached)"),
            "%.0f" % r["run_seconds"] if r.get("run_seconds") is not None
            else "-", r.get("exit_code", "-"),
            r.get("db") or doc.get("db") or "sqlite",
            r.get("run_dir") or r.get("error") or ""))
    return out


def _shown(doc: dict, rows_key: str) -> bool:
    """Whether a table has rows (claims and findings: always shown)."""
    return rows_key in ("claims", "findings") or bool(
        _cells(rows_key, doc)[1])


def _failures(doc: dict, width: int) -> list[str]:
    """Each failing test that is not a verdict, per release, and why."""
    return ["%s, %s: %s" % (r["label"], t, why[:width])
            for r in doc["releases"]
            for t, why in (r.get("tests") or {}).items()]


def terminal(doc: dict, color=False) -> str:
    parts = []
    for key, title, _ in TABLES:
        if _shown(doc, key):
            parts += [text_table(doc, key, title, color), ""]
    if _failures(doc, 200):
        parts += _failures(doc, 200) + [""]
    lines = flip_lines(doc)
    parts.append("\n".join(lines) if lines else NO_FLIPS)
    parts += ["", "\n".join(times_lines(doc))]
    return "\n".join(parts) + "\n"


def _short(dotted: str) -> str:
    return ".".join(dotted.split(".")[-2:])


def _ran(r: dict) -> str:
    """One function of a test flip's ranking, as the report says it."""
    only = r.get("calls_one_release_only") or []
    return "%s (%s, ran in %s%s)" % (
        _short(r["function"]), r["status"], " and ".join(r["ran_in"]),
        "; calls %s%s run in one release only" % (
            ", ".join(_short(c) for c in only[:4]),
            " and %d more" % (len(only) - 4) if len(only) > 4 else "")
        if only else "")


def _flip_functions(f: dict) -> str:
    """What the explanation of a flip started from."""
    e = f["explanation"]
    if f.get("kind") == "test":
        if f.get("unexplained"):
            return "Not explained: %s.\n" % f["unexplained"]
        return ("The test is not a verdict and names no function; it was "
                "run again in both releases with the call recorder (%s). "
                "Functions it ran whose code changed, where its path "
                "forked first: %s\n" % (
                    "; ".join("%s: %s, %d Nova functions" % (
                        k, v.get("outcome"), v.get("functions") or 0)
                        for k, v in (f.get("recorded") or {}).items()),
                    ", ".join("`%s`" % x for x in e["functions"]) or
                    "none"))
    whose = {"scenario": "the claims and findings the scenario decides",
             "finding": "the finding's mechanism"}.get(f.get("kind"),
                                                       "the claim")
    return ("Functions %s names: %s\n" % (whose, ", ".join(
        "`%s`" % x for x in e["functions"])) if e["functions"] else
        "%s names no Nova function.\n" % whose.capitalize())


def _md_table(doc, rows_key, title):
    releases, rows, cells = _cells(rows_key, doc)
    flips = flipped(doc, rows_key)
    if not rows:
        return "_%s: none%s_\n" % (title, doc.get("notes", {}).get(
            rows_key, ""))
    out = ["| %s | %s |" % (title, " | ".join(releases)),
           "|---|%s" % ("---|" * len(releases))]
    for row in rows:
        vals = []
        for rel in releases:
            v = cells.get((row, rel)) or "n/a"
            vals.append("**%s %s**" % (FLIP, v) if (row, rel) in flips
                        else v)
        out.append("| %s | %s |" % (row, " | ".join(vals)))
    return "\n".join(out) + "\n"


def markdown(doc: dict) -> str:
    out = ["# Release matrix %s" % doc["id"], "",
           "Nova releases judged: %s.  Selection: %s.  Seed %s.  Database "
           "engine: %s.  A %s marks a verdict or outcome that differs from "
           "the release to its left." % (
               ", ".join(r["label"] for r in doc["releases"]),
               json.dumps(doc.get("selection")), doc.get("seed"),
               doc.get("db") or "sqlite", FLIP), ""]
    for key, title, heading in TABLES:
        if _shown(doc, key):
            out += ["## %s" % heading, "", _md_table(doc, key, title)]
        if key == "other_tests" and _failures(doc, 300):
            out += ["* %s" % line for line in _failures(doc, 300)] + [""]
    out += ["## Flips", ""]
    if not doc.get("flips"):
        out.append(NO_FLIPS + "\n")
    for f in doc.get("flips", []):
        e = f["explanation"]
        out.append("### %s: %s (%s) -> %s (%s)\n" % (
            f["row"], f["old"], f["older"], f["new"], f["newer"]))
        if f.get("series_not_judged"):
            out.append("Series %s lie between these two and were not judged: "
                       "the change is somewhere in that span.\n" % ", ".join(
                           str(m) for m in f["series_not_judged"]))
        out.append(_flip_functions(f))
        for r in f.get("ranking", [])[:5]:
            out.append("* ran: %s" % _ran(r))
        for c in e["changes"]:
            out.append("* `%s` %s; changed identifiers: %s" % (
                c["function"], c["status"], ", ".join(
                    "`%s`" % i for i in c["identifiers"][:12]) or "-"))
        if not e["changes"] and not f.get("unexplained"):
            out.append("* none of these functions differs between the two "
                       "releases")
        if e.get("nearby"):
            out.append("* outside them, in the same module(s), the code of "
                       "%s changed" % ", ".join(
                           "`%s` (%s)" % (_short(c["function"]), c["status"])
                           for c in e["nearby"]))
        for m in e["notes"] + e["commits"]:
            out.append("* %s `%s` (matched on %s): %s" % (
                m["kind"], m["ref"], ", ".join(m["because"][:6]),
                m["text"][:300]))
        out.append("")
    out += ["## Time per release", "", "```", "\n".join(times_lines(doc)),
            "```", ""]
    for r in doc["releases"]:
        if r.get("explore"):
            out.append("* %s explorer: %s" % (r["label"], r["explore"]))
    return "\n".join(out) + "\n"


def _html_table(doc, rows_key, title):
    releases, rows, cells = _cells(rows_key, doc)
    flips = flipped(doc, rows_key)
    if not rows:
        return "<p><em>%s: none%s</em></p>" % (
            html.escape(title), html.escape(doc.get("notes", {}).get(
                rows_key, "")))
    out = ["<table><tr><th>%s</th>%s</tr>" % (html.escape(title), "".join(
        "<th>%s</th>" % html.escape(r) for r in releases))]
    for row in rows:
        out.append("<tr><td>%s</td>" % html.escape(row))
        for rel in releases:
            v = cells.get((row, rel)) or "n/a"
            cls = "v-%s" % v.lower().replace("_", "-")
            if (row, rel) in flips:
                out.append('<td class="%s flip" title="differs from the '
                           'release to the left">%s %s</td>' % (
                               cls, FLIP, html.escape(v)))
            else:
                out.append('<td class="%s">%s</td>' % (cls, html.escape(v)))
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def render_html(doc: dict) -> str:
    flips = []
    for f in doc.get("flips", []):
        e = f["explanation"]
        items = "".join("<li>ran: %s</li>" % html.escape(_ran(r))
                        for r in f.get("ranking", [])[:5])
        items += "".join(
            "<li><code>%s</code> %s<details><summary>diff</summary><pre>%s"
            "</pre></details></li>" % (html.escape(c["function"]),
                                       html.escape(c["status"]),
                                       html.escape("\n".join(c["diff"])))
            for c in e["changes"]) or ("<li>%s</li>" % html.escape(
                f["unexplained"]) if f.get("unexplained") else
                "<li>none of the claim's functions differs</li>")
        if e.get("nearby"):
            items += "<li>in the same module(s): %s</li>" % ", ".join(
                "<code>%s</code> %s" % (html.escape(c["function"]),
                                        html.escape(c["status"]))
                for c in e["nearby"])
        items += "".join("<li>%s <code>%s</code>: %s</li>" % (
            html.escape(m["kind"]), html.escape(m["ref"]),
            html.escape(m["text"][:400])) for m in e["notes"] + e["commits"])
        flips.append("<h3>%s: %s (%s) %s %s (%s)</h3><p>%s</p><ul>%s</ul>"
                     % (html.escape(f["row"]), html.escape(f["old"]),
                        html.escape(f["older"]), FLIP, html.escape(f["new"]),
                        html.escape(f["newer"]),
                        html.escape(_flip_functions(f).replace("`", "")),
                        items))
    return """<!doctype html><html><head><meta charset="utf-8">
<title>Release matrix %(id)s</title><style>
body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
.v-confirmed{background:#fdd}.v-refuted{background:#dfd}
.v-inconclusive{background:#ffd}.flip{outline:3px solid #e80;font-weight:bold}
pre{font-size:12px;background:#f6f6f6;padding:6px}</style></head><body>
<h1>Release matrix %(id)s</h1><p>%(intro)s</p>
%(tables)s
<h2>Flips</h2>%(flips)s<h2>Time per release</h2><pre>%(times)s</pre>
</body></html>
""" % {"id": html.escape(doc["id"]),
       "intro": html.escape("Nova releases: %s. A %s marks a verdict or "
                            "outcome that differs from the release to its "
                            "left." % (", ".join(r["label"] for r in
                                                 doc["releases"]), FLIP)),
       "tables": "\n".join(
           "<h2>%s</h2>%s%s" % (
               html.escape(heading).replace(" x ", " &times; "),
               _html_table(doc, key, title),
               "<ul>%s</ul>" % "".join(
                   "<li>%s</li>" % html.escape(line)
                   for line in _failures(doc, 300))
               if key == "other_tests" and _failures(doc, 300) else "")
           for key, title, heading in TABLES if _shown(doc, key)),
       "flips": "".join(flips) or "<p>%s</p>" % html.escape(NO_FLIPS),
       "times": html.escape("\n".join(times_lines(doc)))}
