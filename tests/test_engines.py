"""Self-tests for harness.world.engines: worlds on MariaDB and PostgreSQL.

These start real servers (installed from Debian's packages when absent, as
root; see docs/engines.md): one MariaDB for the module, and one PostgreSQL
for the PostgreSQL tests.  They show that a world really runs on the
engine, that worlds stay isolated, that a write the engine refuses is
classified "refused by engine" and a value it changes "coerced by engine"
(and that sqlite admits both, so the classification is the engine's), and
that every kind of bad input is one line and exit 2.
"""
from __future__ import annotations

import os
import socket
import shutil
import subprocess
import sys
import tempfile

import pytest

from harness.faults import Combined
from harness.faults import records as rec
from harness.verdicts.judge import Judge, Trial, run_trial
from harness.verdicts.sweep import run_sweep
from harness.world import engines
from harness.world.deployment import World

from conftest import SMALL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def mariadb():
    with engines.server("mysql") as url:
        yield url


@pytest.fixture(scope="module")
def postgresql():
    with engines.server("postgresql") as url:
        yield url


def _booted(world):
    world.create_flavor("small", **SMALL)
    world.boot("vm1", "small", "src")


def _resized(world):
    world.create_flavor("small", **SMALL)
    world.create_flavor("big", vcpus=2, memory_mb=1024, root_gb=20)
    world.boot("vm1", "small", "src")
    world.resize("vm1", "big", "dst", until="pre-migrating")


# ----------------------------------------------------------------------
# choosing an engine: bad input is one line
# ----------------------------------------------------------------------
def test_db_kind_default_aliases_and_unknown(monkeypatch):
    monkeypatch.delenv("HARNESS_DB", raising=False)
    assert engines.db_kind() == "sqlite"
    assert engines.db_kind("MariaDB") == "mysql"
    assert engines.db_kind("postgres") == "postgresql"
    monkeypatch.setenv("HARNESS_DB", "pg")
    assert engines.db_kind() == "postgresql"
    with pytest.raises(engines.EngineError) as exc:
        engines.db_kind("oracle")
    assert "unknown database engine 'oracle'" in str(exc.value)
    assert "\n" not in str(exc.value)


def _cli(args, env=None):
    full = dict(os.environ)
    full.pop("HARNESS_DB_URL", None)
    full.pop("OS_TEST_DBAPI_ADMIN_CONNECTION", None)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "harness"] + args,
                          cwd=ROOT, env=full, capture_output=True, text=True,
                          timeout=600)


def _one_line_exit_2(proc, *words):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_cli_unknown_engine(tmp_path):
    proc = _cli(["run", "--db", "oracle", "--runs-dir", str(tmp_path),
                 "--claims", "000-1"])
    _one_line_exit_2(proc, "unknown database engine 'oracle'", "--db")
    assert not os.listdir(tmp_path)          # nothing half-written


def test_explore_takes_db_unknown_engine_is_one_line(tmp_path):
    proc = _cli(["explore", "--db", "oracle", "--budget", "1s",
                 "--corpus", str(tmp_path)])
    _one_line_exit_2(proc, "unknown database engine 'oracle'", "--db")
    assert not os.listdir(tmp_path)


def test_explore_runs_its_worlds_on_mariadb(tmp_path):
    proc = _cli(["explore", "--db", "mysql", "--budget", "1s", "--seed",
                 "5", "--examples", "1", "--steps", "3", "--jobs", "1",
                 "--corpus", str(tmp_path)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "database: MariaDB" in proc.stdout, proc.stdout
    assert "explored: seed 5" in proc.stdout, proc.stdout


def test_cli_missing_client_library(tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "pymysql.py").write_text("raise ImportError('no pymysql')\n")
    runs = tmp_path / "runs"
    proc = _cli(["run", "--db", "mysql", "--runs-dir", str(runs),
                 "--claims", "000-1"], env={"PYTHONPATH": str(shim)})
    _one_line_exit_2(proc, "client library is missing", "PyMySQL",
                     "pip install")
    assert not runs.exists()


def test_cli_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        runs = tmp_path / "runs"
        proc = _cli(["run", "--db", "mysql", "--runs-dir", str(runs),
                     "--claims", "000-1"], env={"HARNESS_DB_PORT": str(port)})
    _one_line_exit_2(proc, "port %d" % port, "already in use",
                     "HARNESS_DB_PORT")
    assert not runs.exists()


def test_cli_bad_port_value(tmp_path):
    proc = _cli(["run", "--db", "mysql", "--runs-dir", str(tmp_path),
                 "--claims", "000-1"], env={"HARNESS_DB_PORT": "many"})
    _one_line_exit_2(proc, "HARNESS_DB_PORT='many'")


def test_cli_unreachable_configured_server(tmp_path):
    proc = _cli(["run", "--db", "mysql", "--runs-dir", str(tmp_path),
                 "--claims", "000-1"], env={
                     "HARNESS_DB_URL": "mysql+pymysql://root@localhost/"
                                       "?unix_socket=/nonexistent/s.sock"})
    _one_line_exit_2(proc, "cannot connect", "HARNESS_DB_URL")


@pytest.fixture
def data_base():
    """A directory the servers' unprivileged user can enter (pytest's
    tmp_path is private to root)."""
    base = tempfile.mkdtemp(prefix="harness-test-", dir="/tmp")
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_private_data_directory_is_one_line(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root hands the server to another user")
    with pytest.raises(engines.EngineError) as exc:
        engines.MariaDBServer(base=str(tmp_path)).start()
    assert "not reachable by the user 'nobody'" in str(exc.value)
    assert "HARNESS_DB_DIR" in str(exc.value)


class _BrokenMariaDB(engines.MariaDBServer):
    def command(self, bins):
        return super().command(bins) + ["--no-such-option-harness"]


def test_server_that_will_not_start_is_one_line_and_cleaned_up(data_base):
    server = _BrokenMariaDB(base=data_base)
    with pytest.raises(engines.EngineError) as exc:
        server.start()
    msg = str(exc.value)
    assert "MariaDB would not start" in msg and "\n" not in msg
    assert "no-such-option-harness" in msg
    assert os.listdir(data_base) == []       # its directory is gone


def test_server_is_removed_even_after_a_failure(data_base, monkeypatch):
    tmp_path = data_base
    monkeypatch.setenv("HARNESS_DB_DIR", tmp_path)
    monkeypatch.delenv("HARNESS_DB_URL", raising=False)
    monkeypatch.delenv("OS_TEST_DBAPI_ADMIN_CONNECTION", raising=False)
    with pytest.raises(ZeroDivisionError):
        with engines.server("mysql") as url:
            assert "unix_socket=%s" % tmp_path in url
            assert os.environ["HARNESS_DB_URL"] == url
            assert os.environ["HARNESS_DB_SERVER"].startswith("MariaDB ")
            (data,) = os.listdir(tmp_path)
            assert data.startswith("harness-db-mysql-%d-" % os.getpid())
            1 / 0
    assert os.listdir(tmp_path) == []
    assert "HARNESS_DB_URL" not in os.environ


def test_stale_directories_of_dead_runs_are_removed(tmp_path):
    stale = tmp_path / ("harness-db-mysql-%d-abc" % 999999999)
    stale.mkdir()
    mine = tmp_path / ("harness-db-mysql-%d-def" % os.getpid())
    mine.mkdir()
    assert engines.remove_stale_dirs(str(tmp_path)) == [str(stale)]
    assert mine.exists() and not stale.exists()


# ----------------------------------------------------------------------
# worlds on MariaDB
# ----------------------------------------------------------------------
def test_world_runs_on_mariadb_and_worlds_are_isolated(mariadb):
    ids = []
    for _ in range(2):
        world = World(db="mysql", hosts=("src",))
        world.setUp()
        try:
            assert world.engine == "mysql" and not world.forkable
            from nova.db.main import api as main_db_api
            engine = main_db_api.get_engine()
            assert engine.dialect.name == "mysql"
            assert engines.engine_name(engine).startswith("MariaDB ")
            from nova import objects
            assert objects.InstanceList.get_all(world.ctx).objects == []
            _booted(world)
            ids.append((world.flavors["small"].id,
                        world.instances["vm1"].id))
            traits = world.placement.read("/traits")["traits"]
            assert "COMPUTE_NET_ATTACH_INTERFACE" in traits
        finally:
            world.cleanUp()
    # truncated between worlds: counters restart, nothing survives
    assert ids[0] == ids[1]


def test_reset_restores_resource_class_zero_on_any_connection(mariadb):
    """Placement's VCPU class has id 0; restoring the template on a pooled
    connection that never ran Placement's own sync (so lacks
    NO_AUTO_VALUE_ON_ZERO) must still give id 0, not a duplicate id 1.
    Found when a trial stopped by its time limit left its connection
    behind and every later world on that worker failed to start."""
    world = World(db="mysql", hosts=("src",))
    world.setUp()
    world.cleanUp()
    db = engines.provisioned("mysql").databases["placement"]
    db.engine.dispose()         # fresh connections: the server's own mode
    with db.engine.connect() as conn:
        mode = conn.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar()
    assert "NO_AUTO_VALUE_ON_ZERO" not in mode
    world = World(db="mysql", hosts=("src",))
    world.setUp()
    try:
        with db.engine.connect() as conn:
            rows = dict(conn.exec_driver_sql(
                "SELECT name, id FROM resource_classes").fetchall())
            after = conn.exec_driver_sql(
                "SELECT @@SESSION.sql_mode").scalar()
        assert rows["VCPU"] == 0 and rows["MEMORY_MB"] == 1
        assert "NO_AUTO_VALUE_ON_ZERO" not in after   # mode put back
    finally:
        world.cleanUp()


def test_refused_by_mariadb_admitted_by_sqlite(mariadb):
    teleport = lambda w: rec.MigrationField(  # noqa: E731
        w, "vm1", migration_type="teleport")
    on_maria = run_trial(Trial("t", _resized, teleport,
                               world_kwargs={"db": "mysql"}))
    assert on_maria.error is None, on_maria.error
    assert on_maria.skip_kind == "refused by engine"
    assert on_maria.skipped.startswith("not admitted by MariaDB 10.")
    assert "migration_type" in on_maria.skipped
    on_sqlite = run_trial(Trial("t", _resized, teleport,
                                world_kwargs={"db": "sqlite"}))
    assert on_sqlite.error is None and on_sqlite.skipped is None


def test_foreign_key_refusal_and_partial_combined_fault_undone(mariadb):
    ghost = lambda w: Combined(  # noqa: E731
        w, rec.MigrationField(w, "vm1", status="error"),
        rec.MigrationField(w, "vm1", instance_uuid=UNKNOWN_UUID))
    obs = run_trial(Trial("fk", _resized, ghost,
                          world_kwargs={"db": "mysql"}))
    assert obs.error is None, obs.error
    assert obs.skip_kind == "refused by engine"
    assert "foreign key" in obs.skipped and "instance_uuid" in obs.skipped


def test_coerced_by_mariadb_is_noted_and_judged(mariadb):
    fraction = lambda w: rec.InstanceField(  # noqa: E731
        w, "vm1", memory_mb=1024.7)
    obs = run_trial(Trial("c", _booted, fraction,
                          world_kwargs={"db": "mysql"}))
    assert obs.error is None and obs.skipped is None
    assert obs.coerced.startswith("coerced by MariaDB 10.")
    assert "memory_mb 1024.7 stored as 1025" in obs.coerced
    on_sqlite = run_trial(Trial("c", _booted, fraction,
                                world_kwargs={"db": "sqlite"}))
    assert on_sqlite.coerced is None


def test_fault_space_and_stats_show_the_engine_classes(mariadb):
    judge = Judge("s", ["000-1"])
    judge.paired("resized", _resized, {
        "type=teleport": lambda w: rec.MigrationField(
            w, "vm1", migration_type="teleport"),
        "memory 1024.7": lambda w: rec.InstanceField(
            w, "vm1", memory_mb=1024.7),
        "status=error": lambda w: rec.MigrationField(w, "vm1",
                                                     status="error"),
    }, world_kwargs={"db": "mysql"})
    out = judge.decide("h", stages=("under_fault",),
                       invariants=("audit_completed",))
    space = "\n".join(out.fault_space)
    assert "resized / type=teleport (refused by engine: not admitted by " \
           "MariaDB" in space
    assert "resized / memory 1024.7 (coerced by MariaDB" in space
    assert "resized / status=error\n" in space + "\n"
    assert out.stats["variants refused by engine"] == 1
    assert out.stats["variants coerced by engine"] == 1


def test_sweep_goes_on_past_a_refused_fault(mariadb):
    faults = {
        "type=teleport": lambda w: rec.MigrationField(
            w, "vm1", migration_type="teleport"),
        "status=error": lambda w: rec.MigrationField(w, "vm1",
                                                     status="error"),
    }
    obs = run_sweep("resized", _resized, faults,
                    world_kwargs={"db": "mysql"})
    assert [o.trial for o in obs] == ["resized [control]",
                                      "resized / type=teleport",
                                      "resized / status=error"]
    assert obs[1].skip_kind == "refused by engine" and obs[1].error is None
    assert obs[2].skipped is None and obs[2].error is None


# ----------------------------------------------------------------------
# PostgreSQL
# ----------------------------------------------------------------------
def test_postgresql_world_refuses_enum_and_foreign_key(postgresql):
    faults = {
        "type=teleport": lambda w: rec.MigrationField(
            w, "vm1", migration_type="teleport"),
        "uuid unknown": lambda w: rec.MigrationField(
            w, "vm1", instance_uuid=UNKNOWN_UUID),
        "status=error": lambda w: rec.MigrationField(w, "vm1",
                                                     status="error"),
    }
    obs = {o.trial: o for o in run_sweep("r", _resized, faults,
                                         world_kwargs={"db": "postgresql"})}
    teleport = obs["r / type=teleport"]
    assert teleport.skip_kind == "refused by engine"
    assert teleport.skipped.startswith("not admitted by PostgreSQL ")
    assert "enum" in teleport.skipped
    assert obs["r / uuid unknown"].skip_kind == "refused by engine"
    assert "foreign key" in obs["r / uuid unknown"].skipped
    assert obs["r / status=error"].error is None
    assert obs["r / status=error"].skipped is None


def test_server_dies_with_the_process_that_started_it(data_base):
    """A run killed outright (SIGKILL: no clean-up runs) takes its server
    with it; the next start removes the directory it left."""
    code = ("import os, sys, time; os.environ['HARNESS_DB_DIR'] = %r\n"
            "from harness.world import engines\n"
            "cm = engines.server('mysql'); cm.__enter__()\n"
            "print(open(os.path.join(engines.os.environ['HARNESS_DB_URL']"
            ".split('unix_socket=')[1].rsplit('/', 1)[0], 'mysqld.pid'))"
            ".read().strip(), flush=True)\n"
            "time.sleep(600)\n" % data_base)
    env = dict(os.environ)
    env.pop("HARNESS_DB_URL", None)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        server_pid = int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()
    import time
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and os.path.exists(
            "/proc/%d" % server_pid) and b"mariadbd" in open(
                "/proc/%d/cmdline" % server_pid, "rb").read():
        time.sleep(0.2)
    assert not os.path.exists("/proc/%d/cmdline" % server_pid) or \
        b"mariadbd" not in open("/proc/%d/cmdline" % server_pid,
                                "rb").read()
    assert len(os.listdir(data_base)) == 1       # left behind...
    engines.remove_stale_dirs(data_base)
    assert os.listdir(data_base) == []           # ...and removed


# ----------------------------------------------------------------------
# comparing runs on two engines
# ----------------------------------------------------------------------
def _doc(db, scenarios):
    return {"nova": {"db": db, "db_server": {"mysql": "MariaDB 10.11.19"}
                     .get(db)}, "scenarios": scenarios}


def _scen(name, verdict, evidence=(), space=(), summary=""):
    return {"scenario": name, "verdict": verdict, "fault_space": list(space),
            "evidence": [{"variant": v} for v in evidence],
            "summary": summary}


def test_engine_comparison_explains_only_refused_confirmations():
    from harness.report import engines as er
    a = _doc("sqlite", [
        _scen("s1", "CONFIRMED", ["m / type=teleport"],
              ["m / type=teleport"], "1 of 2 variants broke x"),
        _scen("s2", "CONFIRMED", ["m / status=error", "m / type=teleport"],
              [], "2 of 2 variants broke x"),
        _scen("s3", "REFUTED"),
        _scen("s4", "CONFIRMED", ["m / a", "m / b"], [],
              "2 of 3 variants broke x"),
    ])
    refused = "m / type=teleport (refused by engine: not admitted by " \
              "MariaDB 10.11: Data truncated for column 'migration_type')"
    b = _doc("mysql", [
        _scen("s1", "REFUTED", space=[refused, "m / status=error"]),
        _scen("s2", "REFUTED", space=[refused, "m / status=error"]),
        _scen("s3", "CONFIRMED", ["m / mem"],
              ["m / mem (coerced by MariaDB 10.11: memory_mb 1024.7 "
               "stored as 1025)"], "1 of 1 variants broke x"),
        _scen("s4", "CONFIRMED", ["m / a"], [refused],
              "1 of 3 variants broke x"),
    ])
    rows = {r["scenario"]: r for r in er.compare(a, b)}
    assert rows["s1"]["status"] == "explained"
    assert "holds only on SQLite" in rows["s1"]["why"]
    assert rows["s2"]["status"] == "unexplained"   # status=error held
    assert rows["s3"]["status"] == "explained"
    assert "coercion" in rows["s3"]["why"]
    assert rows["s4"]["status"] == "same"
    text = "\n".join(er.lines(er.compare(a, b)))
    assert "EXPLAINED scenario s1: SQLite CONFIRMED -> MariaDB 10.11.19 " \
           "REFUTED" in text
    assert "DRIFT scenario s2" in text
