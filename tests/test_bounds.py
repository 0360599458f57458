"""Bounded and crash-contained: no hang, no crash, becomes a verdict.

* a scenario that runs past its time limit (pytest-timeout's ``timeout``)
  becomes INCONCLUSIVE with the stack of where it hung, and the run goes on;
* an exception in an invariant check becomes INCONCLUSIVE with its
  traceback, never CONFIRMED or REFUTED;
* an exception in the report writer still leaves a run record: every
  scenario INCONCLUSIVE, with the observed verdict and the traceback.

The in-process tests drive :mod:`harness.verdicts.judge` directly; the last two run
pytest in a subprocess on a throw-away scenario file, so the plugin's hooks
(pytest-timeout's, the report's) are the ones a real run uses.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from harness.verdicts import judge as judge_mod
from harness.verdicts.judge import Judge, ScenarioTimeout, Trial, time_limit
from harness.verdicts.verdict import Verdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLAIM = "000-1"  # any catalogued claim id


def _noop(world):
    pass


# -- the time limit itself ---------------------------------------------------
def test_time_limit_interrupts_a_sleep_with_its_stack():
    def stuck_here():
        time.sleep(30)

    started = time.monotonic()
    with pytest.raises(ScenarioTimeout) as info:
        with time_limit(0.5):
            stuck_here()
    assert time.monotonic() - started < 10
    assert "stuck_here" in info.value.where
    report = info.value.report()
    assert "time limit of 0.5s" in report
    assert "in stuck_here" in report and "time.sleep(30)" in report


def test_time_limit_interrupts_a_lock_wait_and_lists_other_threads():
    lock = threading.Lock()
    lock.acquire()
    release = threading.Event()

    def holder():
        release.wait(30)

    t = threading.Thread(target=holder, name="lock-holder", daemon=True)
    t.start()
    try:
        with pytest.raises(ScenarioTimeout) as info:
            with time_limit(0.5):
                lock.acquire()
    finally:
        release.set()
        t.join(5)
    assert "lock-holder" in info.value.stacks
    assert "lock.acquire()" in info.value.stacks


def test_a_timeout_is_not_swallowed_by_except_exception():
    # Nova's periodic-task wrappers catch Exception; the limit must get out.
    assert not issubclass(ScenarioTimeout, Exception)
    with pytest.raises(ScenarioTimeout):
        with time_limit(0.3):
            try:
                time.sleep(30)
            except Exception:  # noqa: BLE001 - what code under test does
                pytest.fail("the timeout was caught as an Exception")


def test_no_limit_means_no_alarm():
    with time_limit(None):
        time.sleep(0.05)
    with time_limit(0):
        time.sleep(0.05)


def test_a_hung_cleanup_is_cut_off_too():
    lim = time_limit(0.3, grace=0.3)
    with pytest.raises(ScenarioTimeout) as info:
        with lim:
            try:
                time.sleep(30)
            finally:
                time.sleep(30)  # the clean-up hangs as well
    assert info.value.in_cleanup and lim.fired == 2
    assert "clean-up hung too" in str(info.value)


def _spin(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_a_slow_scenario_still_at_work_is_given_more_time():
    """Past its wall-clock limit, a scenario that keeps using CPU (a
    little, as on a busy machine) and has used less CPU than the limit is
    not stopped, up to stretch x the limit."""
    lim = time_limit(1.0, stretch=10, step=0.3)
    started = time.monotonic()
    with lim:
        while time.monotonic() - started < 2.4:
            _spin(0.02)      # (os.times counts in 10 ms ticks)
            time.sleep(0.05)
    assert lim.stretched >= 3 and lim.fired == 0


def test_a_hang_is_stopped_one_step_late_at_most_even_with_stretch():
    started = time.monotonic()
    with pytest.raises(ScenarioTimeout) as info:
        with time_limit(0.3, stretch=20, step=0.2):
            time.sleep(30)
    assert time.monotonic() - started < 3
    assert "stretched" not in str(info.value)


def test_stretch_ends_at_its_cap_and_at_the_cpu_budget():
    # lightly busy for ever: stopped at stretch x the limit, and says so
    started = time.monotonic()
    with pytest.raises(ScenarioTimeout) as info:
        with time_limit(0.6, stretch=3, step=0.3):
            while True:
                _spin(0.02)
                time.sleep(0.05)
    assert 0.85 <= time.monotonic() - started < 6
    assert "stretched to" in str(info.value)
    # busy beyond the limit's worth of CPU: not stretched for long
    started = time.monotonic()
    with pytest.raises(ScenarioTimeout):
        with time_limit(0.3, stretch=100, step=0.1):
            _spin(60)
    assert time.monotonic() - started < 5


def test_a_copy_may_use_what_is_left_of_the_stretched_limit():
    with time_limit(10, stretch=3):
        assert 25 < time_limit.remaining() <= 30
    with time_limit(10):
        assert 5 < time_limit.remaining() <= 10
    assert time_limit.remaining() == 0.0


# -- a hung trial inside a real world ------------------------------------------
def test_a_trial_that_hangs_in_nova_is_stopped_and_its_world_cleaned():
    """The hang is inside Nova's report client (placement delays every GET
    by ten minutes); the limit stops it, the trial's world is cleaned up and
    the next world starts clean."""
    from harness.world.placement import Rule
    from harness.world.deployment import World
    from nova.scheduler.client import report

    original_get = report.SchedulerReportClient.get

    def setup(world):
        world.placement.add_rule(Rule(method="GET", action="latency",
                                      delay=600))
        world.audit()

    j = Judge("hang", [CLAIM])
    with pytest.raises(ScenarioTimeout) as info:
        # long enough for the world to be built on a loaded machine, far
        # shorter than the ten-minute hang
        with time_limit(12):
            j.trial(Trial("hangs [control]", setup))
    # where it hung: placement's fault middleware, under the tracker's audit
    assert "harness/world/placement.py" in info.value.where
    assert "time.sleep(fired.delay)" in info.value.stacks
    assert "update_available_resource" in info.value.stacks
    # the world was cleaned up on the way out: Nova's patches are undone...
    assert report.SchedulerReportClient.get is original_get
    # ...and the next world is fresh and usable
    w = World()
    w.setUp()
    try:
        assert len(w.placement.read("/resource_providers")[
            "resource_providers"]) == 3
        assert w.placement.middleware.rules == []
    finally:
        w.cleanUp()


# -- crash containment ---------------------------------------------------------
def _crashing_check(world, snap):
    raise ZeroDivisionError("invariant checker bug")


def test_a_crashing_checker_makes_the_scenario_inconclusive():
    j = Judge("crash", [CLAIM])
    obs = j.trial(Trial("crashing checker [control]", _noop,
                        checks=(_crashing_check,)))
    assert obs.error and "ZeroDivisionError: invariant checker bug" in \
        obs.error
    # a variant with the same crash: never a CONFIRMED/REFUTED
    j.trial(Trial("crashing checker [variant]", _noop,
                  checks=(_crashing_check,), condition="nothing"))
    outcome = j.decide("the checker crashes")
    assert outcome.verdict is Verdict.INCONCLUSIVE
    assert "ZeroDivisionError" in outcome.traceback


def test_fallback_record_when_the_report_writer_fails(tmp_path):
    from harness import plugin
    from harness.verdicts.verdict import Outcome

    class State:
        outcomes = {"test_x": Outcome(scenario="test_x", claims=[CLAIM],
                                      verdict=Verdict.CONFIRMED,
                                      summary="it broke", trials=2)}
        baseline = {"test_x": "CONFIRMED"}

    path = tmp_path / "v.json"
    plugin._write_fallback_record(str(path), State, "Traceback: boom")
    doc = json.loads(path.read_text())
    import jsonschema
    with open(os.path.join(ROOT, "docs", "verdicts.schema.json")) as f:
        jsonschema.validate(doc, json.load(f))  # still a verdicts document
    assert doc["complete"] is False and doc["report_error"]
    (s,) = doc["scenarios"]
    assert s["verdict"] == "INCONCLUSIVE"
    assert s["observed_verdict"] == "CONFIRMED"
    assert s["traceback"] == "Traceback: boom"


# -- through the plugin, as a run does it -----------------------------------------
SCENARIOS = '''
import time

import pytest

from harness.verdicts.judge import Trial
from harness.world.placement import Rule


def _noop(world):
    pass


@pytest.mark.claims("{claim}")
@pytest.mark.timeout(4)
def test_hangs_in_placement(judge):
    def setup(world):
        world.placement.add_rule(Rule(method="GET", action="latency",
                                      delay=600))
        world.audit()  # HANGS-HERE
    judge.trial(Trial("hangs [control]", setup))
    judge.decide("never reached")


@pytest.mark.claims("{claim}")
def test_runs_after_the_hang(judge):
    judge.trial(Trial("quiet [control]", _noop))
    judge.decide("nothing breaks without a fault")


def _crash(world, snap):
    raise ZeroDivisionError("checker bug")


@pytest.mark.claims("{claim}")
def test_checker_crashes(judge):
    judge.trial(Trial("crash [control]", _noop, checks=(_crash,)))
    judge.decide("the checker crashes")
'''


def run_pytest(tmp_path, source: str, *extra, conftest: str | None = None):
    (tmp_path / "test_scenarios.py").write_text(
        textwrap.dedent(source).format(claim=CLAIM))
    if conftest:
        (tmp_path / "conftest.py").write_text(textwrap.dedent(conftest))
    verdicts = tmp_path / "verdicts.json"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep +
               os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path), "-q",
         "-p", "harness.plugin", "-p", "no:randomly",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "--baseline", str(tmp_path / "baseline.json"), "--record-baseline",
         "--verdicts-json", str(verdicts), *extra],
        cwd=str(tmp_path), env=env, capture_output=True, text=True,
        timeout=900)
    doc = json.loads(verdicts.read_text()) if verdicts.exists() else None
    return proc, doc


def test_hang_and_crash_become_inconclusive_and_the_run_goes_on(tmp_path):
    proc, doc = run_pytest(tmp_path, SCENARIOS)
    assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    by = {s["scenario"]: s for s in doc["scenarios"]}
    hung = by["test_hangs_in_placement"]
    assert hung["verdict"] == "INCONCLUSIVE"
    assert "time limit of 4s" in hung["summary"]
    assert "HANGS-HERE" in hung["traceback"]       # the scenario's line
    assert "time.sleep(fired.delay)" in hung["traceback"]  # stuck there
    # the run went on, and the next scenario's world was sound
    assert by["test_runs_after_the_hang"]["verdict"] == "REFUTED"
    crashed = by["test_checker_crashes"]
    assert crashed["verdict"] == "INCONCLUSIVE"
    assert "ZeroDivisionError: checker bug" in crashed["traceback"]
    assert proc.returncode != 0  # harness failures are errors
    assert doc["complete"] is True


def test_a_failing_report_writer_still_leaves_a_run_record(tmp_path):
    source = SCENARIOS.split("def _crash")[0].replace(
        "@pytest.mark.timeout(4)", "@pytest.mark.skip('not here')")
    conftest = '''
        from harness.report import tables as report
        def broken(*args, **kwargs):
            raise RuntimeError("report writer bug")

        report.verdicts_document = broken
    '''
    proc, doc = run_pytest(tmp_path, source, conftest=conftest)
    assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert doc["complete"] is False
    assert "report writer bug" in doc["report_error"]
    (s,) = doc["scenarios"]
    assert s["scenario"] == "test_runs_after_the_hang"
    assert s["verdict"] == "INCONCLUSIVE"
    assert s["observed_verdict"] == "REFUTED"
    assert proc.returncode != 0
    assert "report writer failed" in proc.stdout


HUNG_CLEANUP = '''
import time

import pytest

from harness.verdicts.judge import Trial


def _noop(world):
    pass


@pytest.mark.claims("{claim}")
# room for the world to be built first (the child imports Nova, ~3 s of
# CPU, longer on a loaded machine) before the setup's own hang
@pytest.mark.timeout(20)
def test_a_hangs_and_so_does_its_cleanup(judge):
    def setup(world):
        world.addCleanup(time.sleep, 600)  # CLEANUP-HANGS
        time.sleep(600)
    judge.trial(Trial("hangs twice [control]", setup))
    judge.decide("never reached")


@pytest.mark.claims("{claim}")
def test_b_after_a_cut_off_cleanup(judge):
    judge.trial(Trial("quiet [control]", _noop))
    judge.decide("nothing breaks without a fault")
'''


def test_a_cut_off_cleanup_stops_trusting_the_process(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_TIMEOUT_GRACE", "2")
    proc, doc = run_pytest(tmp_path, HUNG_CLEANUP)
    assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    by = {s["scenario"]: s for s in doc["scenarios"]}
    a = by["test_a_hangs_and_so_does_its_cleanup"]
    assert a["verdict"] == "INCONCLUSIVE"
    assert "clean-up hung too" in a["summary"]
    assert "fixtures/callmany.py" in a["traceback"]  # stuck in clean-up
    b = by["test_b_after_a_cut_off_cleanup"]
    assert b["verdict"] == "INCONCLUSIVE"
    assert "not trusted" in b["traceback"]


def test_the_plugin_owns_the_scenario_timeout():
    """pytest-timeout's set/cancel hooks defer to the harness for scenarios
    (items using ``judge``) and leave other tests to pytest-timeout."""
    from harness import plugin

    class Item:
        fixturenames = ("judge", "request")

    class Other:
        fixturenames = ("tmp_path",)

    class Settings:
        timeout = 7.0

    item = Item()
    assert plugin.pytest_timeout_set_timer(item, Settings) is True
    assert item._harness_time_limit == 7.0
    assert plugin.pytest_timeout_cancel_timer(item) is True
    assert plugin.pytest_timeout_set_timer(Other(), Settings) is None
    assert plugin.pytest_timeout_cancel_timer(Other()) is None
    assert judge_mod.time_limit(7.0).seconds == 7.0


# -- the in-memory databases are single-threaded: misuse is loud ---------------
def test_two_threads_in_one_memory_world_fail_the_world_loudly():
    """Worlds share one in-memory sqlite connection per database; a thread
    that uses it while another holds it is a harness error (the world's
    clean-up raises, so the trial is INCONCLUSIVE), never a silently mixed
    transaction.  World(sqlite="file") is the way to run Nova in threads."""
    from nova import context as nova_context
    from nova import objects
    from nova.db.main import api as main_db_api

    from harness.world import novaenv
    from harness.world.deployment import World

    w = World(hosts=("src",))
    w.setUp()
    holding, done = threading.Event(), threading.Event()
    errors = []

    def hold():
        import sqlalchemy as sa
        with main_db_api.context_manager.writer.using(
                nova_context.get_admin_context()) as session:
            session.execute(sa.text("SELECT 1"))  # holds the connection
            holding.set()
            done.wait(10)

    t = threading.Thread(target=hold, name="holder")
    try:
        t.start()
        assert holding.wait(10)
        try:
            objects.ComputeNodeList.get_all(w.ctx)
        except Exception as exc:  # noqa: BLE001 - what Nova would see
            errors.append(exc)
    finally:
        done.set()
        t.join(10)
        with pytest.raises(Exception) as info:
            w.cleanUp()
    assert errors and isinstance(errors[0], novaenv.ConcurrentDatabaseUse)
    assert "ConcurrentDatabaseUse" in repr(info.value) or isinstance(
        info.value, novaenv.ConcurrentDatabaseUse)
    # the next world is sound again
    w2 = World(hosts=("src",))
    w2.setUp()
    try:
        assert len(w2.placement.read("/resource_providers")[
            "resource_providers"]) == 1
    finally:
        w2.cleanUp()


def test_worlds_start_from_the_same_clean_databases():
    """What one world writes is gone in the next (template restore)."""
    from nova import objects

    from harness.world.deployment import World

    def build_and_dirty():
        w = World(hosts=("src",))
        w.setUp()
        w.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        w.boot("vm1", "small", "src")
        return w

    w1 = build_and_dirty()
    ids1 = (w1.hosts["src"].compute_node.id,
            w1.instances["vm1"].id, w1.flavors["small"].id)
    w1.cleanUp()
    w2 = World(hosts=("src",))
    w2.setUp()
    try:
        assert objects.InstanceList.get_all(w2.ctx).objects == []
        assert objects.FlavorList.get_all(w2.ctx).objects == []
        assert len(w2.placement.read("/resource_providers")[
            "resource_providers"]) == 1
        assert w2.placement.read("/allocations/%s"
                                 % w1.instances["vm1"].uuid)[
            "allocations"] == {}
        # ids restart too: the same bytes every time
        assert w2.hosts["src"].compute_node.id == ids1[0]
    finally:
        w2.cleanUp()
    w3 = build_and_dirty()
    try:
        assert (w3.hosts["src"].compute_node.id, w3.instances["vm1"].id,
                w3.flavors["small"].id) == ids1
    finally:
        w3.cleanUp()


def test_file_database_worlds_survive_a_reseeded_random():
    """Hypothesis and pytest-randomly reseed the global ``random`` before
    each example/test; oslo.db's fixture draws its database "ident" from it,
    so without unique idents the second world reused the first one's
    (deleted) Placement database file."""
    import random

    from harness.world.deployment import World
    for _ in range(2):
        random.seed(0)
        w = World(hosts=("src",), sqlite="file")
        w.setUp()
        try:
            assert len(w.placement.read("/resource_providers")[
                "resource_providers"]) == 1
        finally:
            w.cleanUp()
