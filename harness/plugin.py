"""The pytest plugin: ``judge`` fixture, ``claims`` marker, baseline, table.

* ``@pytest.mark.claims("000-1", ...)`` ties a scenario to claim ids (an
  unknown id is a usage error);
* the ``judge`` fixture hands the scenario a :class:`~harness.verdicts.judge.Judge`;
  the scenario runs trials and calls ``judge.decide(...)``;
* the scenario passes when its verdict equals the checked-in baseline
  (``scenarios/baseline.json``), fails on drift, and errors when the harness
  itself failed (the verdict is then INCONCLUSIVE with the traceback);
* at the end a verdict table is printed, per claim and per scenario, and
  ``--verdicts-json PATH`` writes them (atomically) as JSON.
"""
from __future__ import annotations

import json
import os
import sys
import traceback

import pytest

from harness.verdicts import baseline as baseline_mod
from harness.verdicts import catalogue as catalogue_mod
from harness.report import tables as report_mod
from harness.verdicts import judge as judge_mod
from harness.verdicts.judge import Judge
from harness.verdicts.names import UnknownName
from harness.verdicts.verdict import Outcome, Verdict

OUTCOME_KEY = "harness_outcome"
SKIP_KEY = "harness_skipped"
USAGE_KEY = "harness_usage_error"


class HarnessFailure(Exception):
    """The harness (not Nova) failed while running a scenario."""


def pytest_addoption(parser):
    group = parser.getgroup("harness", "Nova accounting harness")
    group.addoption("--verdicts-json", metavar="PATH", default=None,
                    help="write the verdicts of this run as JSON to PATH")
    group.addoption("--baseline", metavar="PATH",
                    default=baseline_mod.DEFAULT_PATH,
                    help="recorded verdicts to compare with "
                         "(default: scenarios/baseline.json)")
    group.addoption("--record-baseline", action="store_true",
                    help="write the observed verdicts into the baseline "
                         "instead of comparing")
    group.addoption("--claims", metavar="IDS", default=None,
                    help="only run scenarios for these claim ids "
                         "(comma separated, e.g. 000-1,001-2)")
    group.addoption("--trace-steps", action="store_true",
                    dest="harness_trace",
                    help="echo each scenario step as it happens (pytest's "
                         "own --trace is its debugger)")
    group.addoption("--trace-trials", metavar="REGEX", default=None,
                    help="with --trace-steps, echo the steps of matching "
                         "trials only (the others get one line)")
    group.addoption("--run-dir", metavar="DIR", default=None,
                    help="write each scenario's trace and log lines to "
                         "DIR/traces/ and DIR/logs/ (see harness.report.runrecord)")
    group.addoption("--progress", action="store_true",
                    help="print a progress line as each scenario finishes "
                         "(scenarios done, trials, trials/s, ETA)")
    group.addoption("--keep-traces", default="deciding",
                    choices=("deciding", "all"),
                    help="with --run-dir: keep every step of the trials "
                         "that decide the verdict, broke an invariant or "
                         "failed, and of the first control ('deciding', "
                         "default), summarising the others; or of every "
                         "trial ('all')")
    group.addoption("--harness-seed", metavar="N", type=int, default=None,
                    help="seed: each scenario seeds `random` with "
                         "'N:<scenario>' and records N as judge.seed")
    group.addoption("--collect-json", metavar="PATH", default=None,
                    help="write the collected scenarios and their claims "
                         "to PATH (use with --collect-only)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "claims(*ids): the review claims a scenario judges")
    config.addinivalue_line(
        "markers", "finding(*ids): the findings (F-NN) a scenario decides")
    state = _State()
    config._harness = state
    if config.getoption("progress") and not hasattr(config, "workerinput"):
        state.progress = Progress(config)
    try:
        state.catalogue = catalogue_mod.load()
    except catalogue_mod.CatalogueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if config.getoption("claims"):
        wanted = [c.strip() for c in config.getoption("claims").split(",")
                  if c.strip()]
        for cid in wanted:
            if cid not in state.catalogue.ids():
                raise pytest.UsageError(
                    "unknown claim id %r in --claims; known ids: %s"
                    % (cid, ", ".join(state.catalogue.ids())))
        state.only = set(wanted)
    if not config.getoption("record_baseline"):
        try:
            state.baseline = baseline_mod.load(config.getoption("baseline"))
        except baseline_mod.BaselineError as exc:
            raise pytest.UsageError(str(exc)) from None
    _database_server(config)
    _cpu_pool(config)


def _cpu_pool(config):
    """Workers that share the CPUs they leave idle
    (:mod:`harness.verdicts.cpus`): the controller of an xdist run makes
    the pool before its workers start (they inherit its path); each
    worker takes one CPU for its life."""
    from harness.verdicts import cpus
    if hasattr(config, "workerinput"):
        config._harness_cpu = cpus.take()
        return
    if config.option.collectonly or os.environ.get(cpus.POOL_ENV) or \
            not getattr(config.option, "numprocesses", None):
        return
    config._harness_cpu_pool = os.environ[cpus.POOL_ENV] = cpus.create()


def _database_server(config):
    """``HARNESS_DB=mysql|postgresql pytest ...``: start the server for the
    session (unless HARNESS_DB_URL names one, or ``python -m harness``
    started it), before xdist starts its workers, so they share it; stop
    it and remove its directory at the end (pytest_unconfigure)."""
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    from harness.world import engines
    try:
        kind = engines.db_kind()
        if kind == "sqlite" or engines.configured_url(kind):
            return
        cm = engines.server(kind)
        cm.__enter__()
    except engines.EngineError as exc:
        raise pytest.UsageError(str(exc)) from None
    config._harness_db_server = cm


def pytest_unconfigure(config):
    pool = getattr(config, "_harness_cpu_pool", None)
    if pool is not None:
        from harness.verdicts import cpus
        config._harness_cpu_pool = None
        os.environ.pop(cpus.POOL_ENV, None)
        cpus.remove(pool)
    cm = getattr(config, "_harness_db_server", None)
    if cm is not None:
        config._harness_db_server = None
        cm.__exit__(None, None, None)


class _State:
    def __init__(self):
        self.catalogue = None
        self.baseline: dict[str, str] = {}
        self.outcomes: dict[str, Outcome] = {}
        # scenario -> {"claims": [...], "reason": "..."} for scenarios that
        # could not run here (e.g. report 001's file is not available).
        self.skipped: dict[str, dict] = {}
        self.only: set[str] | None = None
        self.collected: dict[str, list[str]] = {}
        self.table: str | None = None          # rendered at sessionfinish
        self.report_error: str | None = None   # report writer traceback
        self.tainted: str | None = None        # a hung clean-up was cut off
        self.progress: Progress | None = None  # --progress
        # observations shared between the scenarios of this process
        self.families = judge_mod.Families()
        # scenarios that named something the harness does not know
        # (harness.verdicts.names): the run is refused, no verdict written
        self.usage_errors: list[str] = []


def _claims_of(item) -> list[str]:
    """The claim and finding ids a scenario decides (``claims`` and
    ``finding`` markers)."""
    ids = []
    for name in ("claims", "finding"):
        marker = item.get_closest_marker(name)
        ids += [str(a) for a in marker.args] if marker else []
    return ids


def pytest_collection_modifyitems(session, config, items):
    state = config._harness
    keep, drop = [], []
    for item in items:
        claims = _claims_of(item)
        for cid in claims:
            if cid not in state.catalogue.claims and \
                    cid not in state.catalogue.findings:
                raise pytest.UsageError(
                    "%s is marked with unknown claim or finding id %r"
                    % (item.nodeid, cid))
        if claims:
            state.collected[item.name] = claims
        if state.only is not None and claims and not (set(claims)
                                                      & state.only):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = _longest_first(keep, config)


DURATIONS = "durations.json"


def _longest_first(items, config) -> list:
    """``items`` with whole scenario files in the order of how long each
    took in a full run (``durations.json`` in the scenario directory; a
    file not listed counts as short), longest first, each file's own order
    kept.

    ``harness run -n N`` hands whole files to its workers in this order
    (``--dist loadfile --no-loadscope-reorder``): the long files start
    first and the short ones fill the gaps, so no worker is left alone
    with a long file at the end.  The verdicts do not depend on the order.
    """
    tables: dict = {}
    first_seen: dict = {}
    for i, item in enumerate(items):
        first_seen.setdefault(item.path, i)

    def key(item):
        seconds = 0.0
        for d in item.path.parents:
            if d not in tables:
                tables[d] = _durations(d / DURATIONS)
            if tables[d] is not None:
                seconds = float(tables[d].get(
                    item.path.relative_to(d).as_posix(), 0))
                break
        return (-seconds, first_seen[item.path])
    return sorted(items, key=key)


def _durations(path) -> dict | None:
    """The seconds table of ``path`` (None: no such file; empty when it
    cannot be read, as the order is only a matter of speed)."""
    if not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text())["seconds"])
    except (ValueError, KeyError, TypeError, OSError):
        return {}


@pytest.fixture
def judge(request):
    """The scenario's judge; the scenario must end by deciding a verdict.

    Its trials run under the session's guard (none once a hung clean-up
    tainted this process) and, with ``--trace-steps``, are printed as they
    run; observations shared between scenarios (``judge.observe(family)``)
    are computed once per process, by the first scenario that asks, in
    the session's :class:`~harness.verdicts.judge.Families`."""
    claims = _claims_of(request.node)
    if not claims:
        raise pytest.UsageError("%s uses `judge` but has no "
                                "@pytest.mark.claims(...) or "
                                "@pytest.mark.finding(...)"
                                % request.node.nodeid)
    config = request.config
    state = config._harness
    printer = None
    if config.getoption("harness_trace"):
        from harness.report.tracefmt import StepPrinter
        printer = StepPrinter(only=config.getoption("trace_trials"))

    def guard():
        if state.tainted:
            raise HarnessFailure("not run: an earlier scenario's clean-up "
                                 "hung and was cut off, so this process's "
                                 "state is not trusted (%s)" % state.tainted)
    j = Judge(request.node.name, claims, trace_echo=printer,
              families=state.families, guard=guard,
              sources=(str(request.node.path),))
    seed = config.getoption("harness_seed")
    if seed is not None:
        import random
        j.seed = seed
        random.seed("%d:%s" % (seed, request.node.name))
    request.node._harness_judge = j
    yield j
    outcome = j.outcome
    if printer is not None and outcome is not None:
        from harness.report.tracefmt import outcome_lines
        print("\n".join(outcome_lines(outcome)))
    # (the run record is written in pytest_pyfunc_call, see
    # _export_run_record)
    if outcome is not None and outcome.traceback and \
            outcome.verdict is Verdict.INCONCLUSIVE:
        raise HarnessFailure("harness failure in %s:\n%s"
                             % (request.node.name, outcome.traceback))


@pytest.hookimpl(hookwrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    limit = getattr(pyfuncitem, "_harness_time_limit", None)
    j = getattr(pyfuncitem, "_harness_judge", None)
    grace = float(os.environ.get("HARNESS_TIMEOUT_GRACE", "30"))
    # A scenario past its limit that is still using CPU (and has used less
    # CPU than the limit) is slow on a busy machine, not hung: up to
    # HARNESS_TIMEOUT_STRETCH x the limit (default 3) before it is stopped.
    stretch = float(os.environ.get("HARNESS_TIMEOUT_STRETCH", "3"))
    with judge_mod.time_limit(limit if j is not None else None, grace,
                              stretch=stretch):
        outcome = yield
    if j is None:
        return
    exc = outcome.excinfo
    if exc is not None and issubclass(exc[0], UnknownName):
        # A name the harness does not know: a harness error, never a
        # verdict (see pytest_runtest_makereport, pytest_sessionfinish).
        line = str(exc[1])
        j.usage_error = line if line.startswith("scenario ") else \
            "scenario %s: %s" % (pyfuncitem.name, line)
        j.outcome = None
        outcome.force_result(None)
        return
    if exc is not None and issubclass(exc[0], judge_mod.ScenarioTimeout):
        # Hung: INCONCLUSIVE with every thread's stack; the run goes on.
        j.inconclusive(str(exc[1]), exc[1].report())
        outcome.force_result(None)
        if exc[1].in_cleanup:
            _session_state().tainted = str(exc[1])
        exc = None
    if exc is not None and not issubclass(exc[0], Exception):
        return  # Ctrl-C / SIGINT, exit: the run is interrupted, not judged
    if exc is not None:
        # The scenario crashed: harness failure, never a verdict.
        tb = "".join(traceback.format_exception(exc[0], exc[1], exc[2]))
        j.inconclusive("scenario raised %s: %s" % (exc[0].__name__, exc[1]),
                       tb)
        outcome.force_result(None)
    elif j.outcome is None:
        j.inconclusive("the scenario ended without deciding a verdict",
                       "scenario did not call judge.decide()")
    _export_run_record(pyfuncitem, j)


def _export_run_record(item, j):
    """Write the scenario's trace and logs (``--run-dir``) before its report
    is made, so a failing writer makes the verdict INCONCLUSIVE rather than
    leaving a verdict without its record."""
    run_dir = item.config.getoption("run_dir")
    if not run_dir:
        return
    try:
        from harness.report import runrecord
        runrecord.export_judge(run_dir, j, item.nodeid,
                               keep=item.config.getoption("keep_traces"))
    except Exception as exc:  # noqa: BLE001 - contained, reported
        j.inconclusive("the run record writer raised %s: %s"
                       % (type(exc).__name__, exc), traceback.format_exc())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    rep_outcome = yield
    rep = rep_outcome.get_result()
    j = getattr(item, "_harness_judge", None)
    if rep.skipped and call.when in ("setup", "call") and _claims_of(item):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) \
            else str(rep.longrepr)
        rep.user_properties.append((SKIP_KEY, json.dumps(
            {"scenario": item.name, "claims": _claims_of(item),
             "reason": reason.replace("Skipped: ", "", 1)})))
        return
    usage = getattr(j, "usage_error", None)
    if usage and call.when == "call":
        rep.outcome = "failed"
        rep.longrepr = usage
        rep.user_properties.append((USAGE_KEY, usage))
        return
    if j is None or call.when != "call" or j.outcome is None:
        return
    outcome = j.outcome
    try:
        serialized = json.dumps(outcome.as_dict(), default=str)
    except Exception as exc:  # noqa: BLE001 - never lose the record
        outcome = j.inconclusive(
            "the verdict could not be serialized (%s: %s)"
            % (type(exc).__name__, exc), traceback.format_exc())
        serialized = json.dumps(outcome.as_dict(), default=str)
    rep.user_properties.append((OUTCOME_KEY, serialized))
    config = item.config
    if config.getoption("record_baseline") or outcome.traceback:
        return
    expected = config._harness.baseline.get(item.name)
    if expected is None:
        rep.outcome = "failed"
        rep.longrepr = ("%s: no recorded verdict in the baseline (observed "
                        "%s); record one with --record-baseline"
                        % (item.name, outcome.verdict))
    elif expected != outcome.verdict.value:
        rep.outcome = "failed"
        rep.longrepr = (
            "verdict drift in %s (claims %s): baseline %s, observed %s\n%s"
            % (item.name, ", ".join(outcome.claims), expected,
               outcome.verdict, outcome.summary))


def pytest_collection_finish(session):
    progress = getattr(session.config, "_harness").progress
    if progress is not None and not hasattr(session.config, "workerinput"):
        progress.total = len(session.items)
    path = session.config.getoption("collect_json")
    if path and not hasattr(session.config, "workerinput"):
        from harness.report import runrecord
        runrecord.write_collection(path, session.items)


def pytest_runtest_logreport(report):
    for key, value in getattr(report, "user_properties", []):
        if key == USAGE_KEY:
            _session_state().usage_errors.append(value)
        if key == SKIP_KEY:
            info = json.loads(value)
            _session_state().skipped[info["scenario"]] = info
        if key == OUTCOME_KEY:
            outcome = Outcome.from_dict(json.loads(value))
            _session_state().outcomes[outcome.scenario] = outcome
            progress = _session_state().progress
            if progress is not None:
                progress.trials += outcome.trials or 0
    progress = _session_state().progress
    if progress is not None and report.when == "teardown":
        progress.done += 1
        progress.emit()


# ---------------------------------------------------------------------------
# Progress of a long run (--progress): one line per finished scenario,
# "harness: progress 12/34 scenarios, ...".  `python -m harness run` turns
# these lines into one live line on a terminal (plain lines in CI).
# ---------------------------------------------------------------------------
PROGRESS_PREFIX = "harness: progress "


class Progress:
    def __init__(self, config):
        import time
        self.config = config
        self.total = None
        self.done = 0
        self.trials = 0
        self.started = time.monotonic()

    def line(self, now: float | None = None) -> str:
        import time
        elapsed = (now if now is not None else time.monotonic()) \
            - self.started
        rate = self.trials / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) if self.total else None
        eta = ("ETA %s" % _duration(elapsed / self.done * left)
               if self.done and left is not None else "ETA ?")
        return "%s%d/%s scenarios, %d trials, %.1f trials/s, %s elapsed, %s" % (
            PROGRESS_PREFIX, self.done,
            self.total if self.total is not None else "?", self.trials,
            rate, _duration(elapsed), eta)

    def emit(self):
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            if getattr(tr._tw, "width_of_current_line", 0):
                tr.write("\n")     # after pytest's dots (-q)
            tr.write_line(self.line())


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return "%dm%02ds" % divmod(seconds, 60) if seconds >= 60 \
        else "%ds" % seconds


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    progress = _session_state().progress
    if progress is not None and progress.total is None:
        progress.total = len(ids)


_CONFIG = {}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    _CONFIG["config"] = session.config
    _loopback_only(session.config)
    _hypothesis_draws_from_the_seed_only()


def _hypothesis_draws_from_the_seed_only():
    """Hypothesis mixes literal constants from every *local* module loaded
    in the process (scenarios, the harness) into what it draws, so one
    derandomized property drew different examples when its scenario ran
    alone and when it ran with the others (a different population #10, one
    more variant broken).  Here its draws depend on the seed only."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - hypothesis is required
        return
    if hasattr(providers, "_get_local_constants") and \
            hasattr(providers, "Constants"):
        none = providers.Constants()
        providers._get_local_constants = lambda: none


# Hermetic: every test and scenario runs with sockets limited to loopback
# (pytest-socket applies it per test).  Nova and Placement talk through
# wsgi-intercept, which opens no socket; anything that tries the network
# fails loudly with SocketConnectBlockedError.  An explicit --allow-hosts,
# --force-enable-socket or --disable-socket wins.
LOOPBACK = "127.0.0.1,::1"


def _loopback_only(config):
    try:
        import pytest_socket
    except ImportError:  # pragma: no cover - pytest-socket is required
        return
    socket_config = config.stash.get(pytest_socket._STASH_KEY, None)
    if socket_config is None:  # pytest-socket not active (-p no:socket)
        return
    if socket_config.allow_hosts is None and not (
            socket_config.socket_force_enabled
            or socket_config.socket_disabled):
        socket_config.allow_hosts = LOOPBACK
        # A database server of the run's own (harness.world.engines)
        # listens on a Unix socket: local by nature.
        socket_config.allow_unix_socket = True


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Import Nova before pytest-socket restricts this test's sockets.

    At import, Nova computes its ``my_ip`` default with oslo.utils'
    ``get_my_ipv4()``: a UDP ``connect()`` to 192.0.2.0 that sends nothing
    but asks the kernel for the source address.  Blocked, the import fails;
    so Nova is loaded once, unrestricted, before the first test's sockets
    are limited.  Nothing after that touches the network.
    """
    if "nova" not in sys.modules:
        from harness.world import novaenv
        try:
            novaenv.load()
        except novaenv.NovaUnavailable:
            pass  # the tests that need Nova say so themselves


def pytest_report_header(config):
    seed = config.getoption("harness_seed")
    lines = ["harness seed: %s" % (
        "%d (replay with --harness-seed %d)" % (seed, seed)
        if seed is not None else
        "none (deterministic; --harness-seed N varies the randomised "
        "parts, and replays them)")]
    try:
        import pytest_socket
        sc = config.stash.get(pytest_socket._STASH_KEY, None)
    except ImportError:  # pragma: no cover
        sc = None
    if sc is not None:
        lines.append("network: %s" % (
            "enabled" if sc.socket_force_enabled else
            "sockets disabled" if sc.socket_disabled else
            "connections only to %s" % (sc.allow_hosts or LOOPBACK)))
    return lines


# Bounded: pytest-timeout's limit (--timeout, the ``timeout`` ini value or a
# ``@pytest.mark.timeout``) applies to scenarios too, but a scenario that
# runs past it becomes INCONCLUSIVE with every thread's stack (see
# harness.verdicts.judge.time_limit) instead of failing, and the run goes on.
@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_timeout_set_timer(item, settings):
    if "judge" not in getattr(item, "fixturenames", ()):
        return None  # not a scenario: pytest-timeout's own handling
    item._harness_time_limit = settings.timeout
    return True  # enforced around the scenario body (pytest_pyfunc_call)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_timeout_cancel_timer(item):
    if getattr(item, "_harness_time_limit", None) is not None:
        return True
    return None


def _session_state() -> _State:
    return _CONFIG["config"]._harness


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller writes results
    state = config._harness
    if state.usage_errors:
        # Refused, as pytest refuses a bad option: no verdict, no record.
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        return
    if not state.outcomes and not state.skipped:
        return
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    if config.getoption("record_baseline") and not interrupted:
        baseline_mod.record(config.getoption("baseline"),
                            {n: o.verdict.value
                             for n, o in state.outcomes.items()})
    path = config.getoption("verdicts_json")
    try:
        state.table = report_mod.verdict_table(
            state.catalogue, state.outcomes, state.baseline,
            skipped=state.skipped)
        if path:
            doc = report_mod.verdicts_document(
                state.catalogue, state.outcomes, state.baseline,
                complete=not interrupted, skipped=state.skipped)
            report_mod.write_json_atomic(path, doc)
    except Exception:  # noqa: BLE001 - the run record must survive
        state.report_error = traceback.format_exc()
        if path:
            _write_fallback_record(path, state, state.report_error)
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _write_fallback_record(path, state, tb):
    """The report writer failed: record every scenario as INCONCLUSIVE with
    its observed verdict and the writer's traceback (plain JSON, written
    without the report module)."""
    import tempfile
    scenarios = []
    for name, o in sorted(state.outcomes.items()):
        scenarios.append({
            "scenario": name, "claims": list(o.claims),
            "verdict": Verdict.INCONCLUSIVE.value,
            "observed_verdict": getattr(o.verdict, "value", str(o.verdict)),
            "summary": "report writer failed; observed %s: %s"
                       % (getattr(o.verdict, "value", o.verdict), o.summary),
            "traceback": tb, "evidence": [], "fault_space": [],
            "trials": o.trials, "controls": o.controls, "seed": o.seed,
            "duration": o.duration, "baseline": state.baseline.get(name)})
    try:
        from harness.world import novaenv
        nova = novaenv.version_info()
    except Exception as exc:  # noqa: BLE001 - recorded, not fatal
        nova = {"error": str(exc)}
    import time
    doc = {"schema": 1,
           "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "complete": False, "nova": nova, "report_error": tb,
           "claims": [], "scenarios": scenarios}
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".verdicts-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, default=str)
    os.replace(tmp, path)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state = getattr(config, "_harness", None)
    if state is not None and state.usage_errors and \
            not hasattr(config, "workerinput"):
        terminalreporter.write_sep("=", "harness error: no verdict")
        for line in state.usage_errors:
            terminalreporter.write_line("ERROR: %s" % line)
        return
    if state is None or hasattr(config, "workerinput") or not (
            state.outcomes or state.skipped):
        return
    terminalreporter.write_sep("=", "verdicts")
    if state.report_error:
        terminalreporter.write_line(
            "the report writer failed; every verdict is recorded as "
            "INCONCLUSIVE with its traceback:\n" + state.report_error)
        return
    terminalreporter.write_line(state.table or report_mod.verdict_table(
        state.catalogue, state.outcomes, state.baseline,
        skipped=state.skipped))
