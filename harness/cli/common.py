"""What the commands share: exit codes, bad input as one line, the checks
every command makes before anything is written, common options, and
collecting the scenarios pytest would run."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile

from harness.report import launch, runrecord
from harness.verdicts import baseline as baseline_mod
from harness.verdicts import catalogue as catalogue_mod
from harness.world import engines, novaenv

EXIT_OK, EXIT_DRIFT, EXIT_ERROR, EXIT_INCONCLUSIVE = 0, 1, 2, 3
EXIT_MEANING = {EXIT_OK: "verdicts match the baseline",
                EXIT_DRIFT: "drift: a verdict differs from the baseline",
                EXIT_ERROR: "bad input or harness error",
                EXIT_INCONCLUSIVE: "a scenario was INCONCLUSIVE"}
ROOT = launch.ROOT
DEFAULT_SCENARIOS = os.path.join(ROOT, "scenarios")
DEFAULT_RUNS = os.path.join(ROOT, "runs")
FORMATTER = argparse.RawDescriptionHelpFormatter
EPILOG = """\
exit codes:
  0  every verdict matches the baseline
  1  drift: a verdict differs from the baseline (the output names the
     scenario and claim, the old and the new verdict)
  2  bad input or harness error (one line on stderr says what and how to fix)
  3  a scenario was INCONCLUSIVE (the harness could not decide)

environment: HARNESS_CATALOGUE (an alternative catalogue.yaml),
HARNESS_RUNS_DIR (where run records go), HARNESS_SEED (default seed),
HARNESS_DB (default --db), HARNESS_DB_URL (use this database server instead
of starting one), HARNESS_DB_PORT (the started server listens on
127.0.0.1:PORT instead of a Unix socket).  See docs/cli.md and
docs/engines.md."""


class InputError(Exception):
    """Bad input: one line, naming the problem and the fix (exit 2)."""


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def split(text) -> list[str]:
    """A comma separated option's values."""
    return [x.strip() for x in (text or "").split(",") if x.strip()]


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2."""

    def error(self, message):
        print("error: %s; see '%s --help'" % (one_line(message), self.prog),
              file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


# ---------------------------------------------------------------------------
# options several commands take
# ---------------------------------------------------------------------------
def seed_default() -> int:
    return int(os.environ.get("HARNESS_SEED") or 0)


def add_common_options(sp, runs=True, baseline=True, scen=True):
    """``--baseline``, ``--runs-dir`` and ``--scenario-dir``, as asked."""
    if baseline:
        sp.add_argument("--baseline", default=baseline_mod.DEFAULT_PATH,
                        help="recorded verdicts (default: "
                             "scenarios/baseline.json)")
    if runs:
        sp.add_argument("--runs-dir",
                        default=os.environ.get("HARNESS_RUNS_DIR")
                        or DEFAULT_RUNS,
                        help="where run records live (default: runs/, or "
                             "$HARNESS_RUNS_DIR)")
    if scen:
        sp.add_argument("--scenario-dir", default=DEFAULT_SCENARIOS,
                        help="scenario files (default: scenarios/)")


def add_db_option(parser):
    """``--db``: the database engine every world runs on.  For any command
    that runs worlds (run, reproduce, matrix, explore)."""
    parser.add_argument(
        "--db", default=None, metavar="ENGINE",
        help="database engine of every world: sqlite (default, fast), "
             "mysql (MariaDB) or postgresql; a real server is installed "
             "and started for the run and removed after it (default: "
             "$HARNESS_DB or sqlite; see docs/engines.md)")


def workers(value: str):
    """``-n/--workers``: a count >= 0, or ``auto``."""
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(
            "%r is not a worker count (use a number >= 0 or 'auto'; 0 or 1 "
            "runs in one process)" % value)
    return n


def positive(text):
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    if value < 1:
        raise argparse.ArgumentTypeError("%r must be at least 1" % text)
    return value


# ---------------------------------------------------------------------------
# checks shared by the commands (all before anything is written)
# ---------------------------------------------------------------------------
def load_catalogue():
    try:
        return catalogue_mod.load()
    except catalogue_mod.CatalogueError as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        path = os.environ.get("HARNESS_CATALOGUE") or catalogue_mod.\
            DEFAULT_PATH
        raise InputError(
            "catalogue %s cannot be read (%s); point HARNESS_CATALOGUE at a "
            "readable catalogue.yaml or unset it"
            % (os.path.relpath(path), exc.strerror or exc)) from None


def check_claim_ids(ids, catalogue, option="--claims"):
    known = catalogue.ids() if hasattr(catalogue, "ids") \
        else list(catalogue.claims)
    for cid in ids:
        if cid not in known:
            raise InputError(
                "unknown claim or finding id %r in %s; known ids: %s (see "
                "'python -m harness list claims')" % (cid, option,
                                                      ", ".join(known)))


def load_baseline(path):
    if os.path.isdir(path):
        raise InputError("baseline %s is a directory; give the baseline "
                         "JSON file (default scenarios/baseline.json)"
                         % os.path.relpath(path))
    try:
        return baseline_mod.load(path)
    except baseline_mod.BaselineError as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        raise InputError("baseline %s cannot be read (%s); restore it with "
                         "'git checkout -- %s'" % (
                             os.path.relpath(path), exc.strerror or exc,
                             os.path.relpath(path))) from None


def load_record(path, runs_dir, require_complete=False):
    """A run record; ``A,B`` (or a list) reads the shards of one run
    (``run --shard``) as one record."""
    try:
        return runrecord.load_many(path if isinstance(path, list)
                                   else [path], runs_dir, require_complete)
    except runrecord.RecordError as exc:
        raise InputError(str(exc)) from None


def nova_version() -> dict:
    try:
        return novaenv.version_info()
    except novaenv.NovaUnavailable as exc:
        raise InputError(str(exc)) from None


def db_engine(args) -> str:
    """The engine ``--db`` (or HARNESS_DB) names, checked; an unknown one
    is an :class:`InputError` (one line, exit 2)."""
    try:
        return engines.db_kind(getattr(args, "db", None))
    except engines.EngineError as exc:
        raise InputError(str(exc)) from None


@contextlib.contextmanager
def db_server(args):
    """The database server for ``args.db`` for the duration of the block
    (nothing for sqlite).  Sets HARNESS_DB/HARNESS_DB_URL/HARNESS_DB_SERVER
    so the pytest subprocess and its workers use it.  Bad input (unknown
    engine, missing client library, a server that will not start, a port
    in use) is an :class:`InputError`: one line, exit 2."""
    try:
        kind = engines.db_kind(getattr(args, "db", None))
        preset = kind != "sqlite" and engines.configured_url(kind)
        cm = engines.server(kind)
        url = cm.__enter__()
    except engines.EngineError as exc:
        raise InputError(str(exc)) from None
    try:
        if url is not None:
            print("database: %s, %s" % (
                os.environ.get("HARNESS_DB_SERVER", kind),
                "the server HARNESS_DB_URL names" if preset else
                "a server started for this run (removed when it ends)"),
                flush=True)
        yield kind
    finally:
        cm.__exit__(None, None, None)


def check_scenario_dir(path):
    if not os.path.exists(path):
        raise InputError("scenario path %s does not exist; give a directory "
                         "of scenario files (default scenarios/)" % path)


# ---------------------------------------------------------------------------
# the scenarios pytest collects
# ---------------------------------------------------------------------------
def collect(scenario_dir, claims=None) -> list[dict]:
    """The scenarios pytest collects, with their claims and findings (a
    subprocess, so a broken scenario file is reported, not raised)."""
    fd, out = tempfile.mkstemp(prefix="harness-collect-", suffix=".json")
    os.close(fd)
    os.unlink(out)
    cmd = [sys.executable, "-m", "pytest", scenario_dir, "--collect-only",
           "-q", "--collect-json", out, "--record-baseline",
           ] + launch.pytest_options()
    if claims:
        cmd += ["--claims", ",".join(claims)]
    env = launch.child_env()
    # Collecting needs only the harness's plugin; other installed plugins
    # (xdist, hypothesis, benchmark...) would triple the time it takes.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True,
                              capture_output=True)
        if proc.returncode not in (0, 5) or not os.path.exists(out):
            if proc.returncode == 5:
                return []
            raise InputError("collecting scenarios in %s failed (%s); run "
                             "'python -m pytest --collect-only %s' to see "
                             "why" % (os.path.relpath(scenario_dir),
                                      why(proc.stdout + proc.stderr),
                                      os.path.relpath(scenario_dir)))
        with open(out, encoding="utf-8") as f:
            return json.load(f)["scenarios"]
    finally:
        if os.path.exists(out):
            os.unlink(out)


def ids_of(scenario: dict) -> list[str]:
    """The claim and finding ids a collected scenario decides."""
    return list(scenario["claims"]) + list(scenario.get("findings") or [])


def nodeid_path(scenario: dict) -> str:
    """A nodeid usable from ROOT (pytest's nodeids are rootdir-relative)."""
    nodeid = scenario["nodeid"]
    path, sep, rest = nodeid.partition("::")
    if scenario.get("file"):      # absolute: right even outside the rootdir
        path = scenario["file"]
    elif not os.path.isabs(path):
        path = os.path.join(ROOT, path)
    return path + sep + rest


def why(output: str) -> str:
    """The line of a child's output that says why it failed."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for prefix in ("ERROR:", "E   ", "ERROR "):
        hits = [ln for ln in lines if ln.startswith(prefix)]
        if hits:
            return one_line(hits[-1])[:300]
    return one_line(lines[-1])[:300] if lines else "no output"
