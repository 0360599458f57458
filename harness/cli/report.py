"""``python -m harness report``: re-render a stored run record (text,
Markdown, HTML, JSON) without running anything."""
from __future__ import annotations

import json
import os
import sys

from harness.cli.common import (EPILOG, EXIT_OK, FORMATTER,
                                add_common_options, load_record)
from harness.report import html as html_report
from harness.report import runrecord
from harness.report import tables as report_mod


def add_parser(sub, help: str):
    rp = sub.add_parser("report", help=help, epilog=EPILOG,
                        formatter_class=FORMATTER)
    rp.add_argument("run", metavar="RUN_DIR", nargs="+",
                    help="a run directory, or a name under runs/ such as "
                         "'latest'; several (or A,B) are the shards of one "
                         "run (run --shard), merged")
    rp.add_argument("--format", choices=("text", "markdown", "html",
                                         "json"), default="text")
    rp.add_argument("-o", "--output", help="write to this file (default: "
                                           "stdout)")
    add_common_options(rp, baseline=False, scen=False)
    rp.set_defaults(func=cmd_report)
    return rp


def cmd_report(args) -> int:
    record = load_record(args.run, args.runs_dir)
    doc, manifest = record.verdicts, dict(record.manifest)
    manifest.setdefault("id", record.id)
    # the drift the run itself found (none when it recorded the baseline)
    drift = manifest.get("drift") or report_mod.drift_against_baseline(doc)
    if args.format == "json":
        text = json.dumps(doc, indent=2) + "\n"
    elif args.format == "markdown":
        text = report_mod.markdown(doc, manifest, drift)
    elif args.format == "html":
        if args.output and args.output != "-":
            # the page, and its trials' detail in <page>.trials/ beside it
            sizes = html_report.write(args.output, doc, manifest,
                                      record.traces(), drift)
            print("wrote %s%s" % (args.output, " (trial detail in %s)" % (
                os.path.join(os.path.dirname(args.output),
                             html_report.detail_dir(os.path.basename(
                                 args.output)))) if sizes["detail"] else ""))
            return EXIT_OK
        # one file on stdout: every trial's detail inline
        text = html_report.render(doc, manifest, record.traces(), drift)
    else:
        nova = doc.get("nova") or {}
        head = ["run %s: %s%s" % (
            record.id, "complete" if record.complete else
            "INCOMPLETE (%s)" % manifest.get("status", "interrupted"),
            ", exit %s (%s)" % (manifest["exit_code"],
                                manifest.get("exit_meaning"))
            if manifest.get("exit_code") is not None else ""),
            "nova %s (%s) at %s, placement %s; database %s; seed %s; "
            "generated %s" % (
                nova.get("nova"), nova.get("nova_source"),
                nova.get("nova_path"), nova.get("placement"),
                nova.get("db_server") or nova.get("db") or "sqlite",
                manifest.get("seed"), doc.get("generated")), ""]
        text = "\n".join(head) + report_mod.table_from_doc(doc) + "\n"
        lines = report_mod.drift_lines(drift)
        text += "\n" + ("\n".join(lines) if lines else
                        "no drift from the baseline the run compared "
                        "with") + "\n"
    if args.output and args.output != "-":
        runrecord.write_text_atomic(args.output, text)
        print("wrote %s" % args.output)
    else:
        sys.stdout.write(text)
    return EXIT_OK
