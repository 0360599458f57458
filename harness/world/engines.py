"""Real database engines: MariaDB/MySQL and PostgreSQL under a world.

sqlite (``harness.world.novaenv``) stays the default and the fast path.
``World(db="mysql")`` or ``World(db="postgresql")`` (or ``HARNESS_DB``)
puts Nova's main and API databases and Placement's on a real server:

* **The server.**  ``HARNESS_DB_URL`` (or oslo.db's own
  ``OS_TEST_DBAPI_ADMIN_CONNECTION``) names an administrative URL of a
  server someone else runs.  Without one, :class:`LocalServer` installs
  the server from Debian's packages when it is absent (``apt-get install
  mariadb-server`` / ``postgresql``; root only), initialises a data
  directory the run owns (``mariadb-install-db`` / ``initdb``, as the
  unprivileged ``nobody`` when run as root) and starts the server on a
  Unix socket in that directory (on ``127.0.0.1:$HARNESS_DB_PORT`` when
  that is set).  Whoever starts it stops it and removes the directory:
  ``python -m harness run --db ...`` around its pytest run, the pytest
  plugin for a bare ``pytest`` run, or an ``atexit`` hook when a world
  started it.  The server dies with the process that started it
  (``PR_SET_PDEATHSIG``), and a directory left by a killed run is removed
  by the next start.

* **The databases.**  oslo.db's provisioning (``provision.DatabaseResource``,
  what its opportunistic test fixtures use) creates three randomly named
  databases per process (main, api, placement) and drops them when the
  process ends.  Creating Nova's schema takes seconds on MariaDB, so it is
  created once per process; every world then starts from the same data:
  the tables a previous world wrote are truncated (auto-increment counters
  and sequences reset) and the rows the schema was created with
  (Placement's standard traits and resource classes, alembic versions) are
  put back.  Trials run one after the other in a process, and xdist
  workers have databases of their own, so no state is shared between
  trials.
"""
from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

KINDS = ("sqlite", "mysql", "postgresql")
ALIASES = {"mariadb": "mysql", "postgres": "postgresql", "pg": "postgresql",
           "sqlite3": "sqlite"}
# kind -> (DBAPI module, package on PyPI, SQLAlchemy driver)
CLIENTS = {"mysql": ("pymysql", "PyMySQL", "mysql+pymysql"),
           "postgresql": ("psycopg2", "psycopg2-binary",
                          "postgresql+psycopg2")}
LABELS = {"sqlite": "SQLite", "mysql": "MariaDB", "postgresql": "PostgreSQL"}
DIR_PREFIX = "harness-db-"
START_TIMEOUT = 60.0


class EngineError(RuntimeError):
    """A real engine cannot be used.  The message is one line that says
    what is wrong and what to do (the CLI prints it and exits 2)."""


def db_kind(requested: str | None = None) -> str:
    """The engine a world runs on: ``requested``, else ``HARNESS_DB``,
    else sqlite."""
    raw = (requested or os.environ.get("HARNESS_DB") or "sqlite").strip()
    kind = ALIASES.get(raw.lower(), raw.lower())
    if kind not in KINDS:
        raise EngineError(
            "unknown database engine %r; use one of %s (--db or HARNESS_DB)"
            % (raw, ", ".join(KINDS)))
    return kind


def check_client(kind: str) -> None:
    """The DBAPI module for ``kind`` imports, or :class:`EngineError`."""
    if kind == "sqlite":
        return
    module, package, _ = CLIENTS[kind]
    try:
        __import__(module)
    except ImportError:
        raise EngineError(
            "the %s client library is missing (python module %s); install "
            "it with 'pip install -c constraints.txt %s' or recreate the "
            "environment with 'tox -r'" % (LABELS[kind], module, package)
        ) from None


def configured_url(kind: str) -> str | None:
    """An administrative URL for ``kind`` someone else provides:
    ``HARNESS_DB_URL``, else oslo.db's ``OS_TEST_DBAPI_ADMIN_CONNECTION``
    (``;``-separated, one per engine)."""
    urls = []
    for var in ("HARNESS_DB_URL", "OS_TEST_DBAPI_ADMIN_CONNECTION"):
        urls += [u.strip() for u in (os.environ.get(var) or "").split(";")
                 if u.strip()]
    for url in urls:
        if url.split(":", 1)[0].split("+", 1)[0] == kind:
            return url
    return None


# ----------------------------------------------------------------------
# Local servers
# ----------------------------------------------------------------------
def _run(cmd, what, user=None, env=None, timeout=300):
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              user=user, env=env, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineError("%s failed (%s); run '%s' by hand to see why"
                          % (what, exc, " ".join(cmd))) from None
    if proc.returncode != 0:
        tail = [ln for ln in (proc.stderr + proc.stdout).splitlines()
                if ln.strip()]
        tail = [ln for ln in tail if "ERROR" in ln or "FATAL" in ln
                or "rror:" in ln] or tail
        raise EngineError("%s failed (exit %d: %s); run '%s' by hand to see "
                          "why" % (what, proc.returncode,
                                   tail[-1].strip()[:200] if tail else
                                   "no output", " ".join(cmd)))
    return proc


_APT_UPDATED = False


def _apt_install(packages, label):
    global _APT_UPDATED
    if os.geteuid() != 0:
        raise EngineError(
            "%s is not installed and only root can install it here; run "
            "'sudo apt-get install -y %s', or point HARNESS_DB_URL at a "
            "running server" % (label, " ".join(packages)))
    if shutil.which("apt-get") is None:
        raise EngineError(
            "%s is not installed and this system has no apt-get; install "
            "%s with its package manager, or point HARNESS_DB_URL at a "
            "running server" % (label, label))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _APT_UPDATED:
        _run(["apt-get", "update", "-q"], "apt-get update", env=env,
             timeout=900)
        _APT_UPDATED = True
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends"]
         + list(packages), "installing %s (apt-get install %s)"
         % (label, " ".join(packages)), env=env, timeout=1800)


def _prctl():
    """libc's prctl, loaded in the parent (importing or loading anything
    between fork and exec is unsafe in a threaded process)."""
    try:
        import ctypes
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except Exception:  # noqa: BLE001 - not on Linux: no parent-death signal
        return None


def _child_setup(prctl):
    """In the server's process, before exec: die when the thread that
    started it dies (PR_SET_PDEATHSIG; after the switch to the server's
    user, which clears it), and leave the terminal's process group (a ^C
    reaches the harness, which stops the server in order)."""
    def setup():
        if prctl is not None:
            prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        os.setsid()
    return setup


def _base_dir() -> str:
    base = os.environ.get("HARNESS_DB_DIR")
    if base:
        return base
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        return shm   # in memory: the server's writes never reach a disk
    return tempfile.gettempdir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


PID_FILES = ("mysqld.pid", os.path.join("data", "postmaster.pid"))


def remove_stale_dirs(base: str | None = None) -> list[str]:
    """Remove data directories left by runs that were killed (the pid in
    the name no longer runs), killing a server still running in one.
    Returns what was removed."""
    removed = []
    for path in glob.glob(os.path.join(base or _base_dir(),
                                       DIR_PREFIX + "*")):
        try:
            pid = int(os.path.basename(path)[len(DIR_PREFIX):].split("-")[1])
        except (IndexError, ValueError):
            continue
        if _alive(pid):
            continue
        for name in PID_FILES:
            try:
                with open(os.path.join(path, name)) as f:
                    server_pid = int(f.readline().strip())
                # only the server of that directory, not a reused pid
                with open("/proc/%d/cmdline" % server_pid, "rb") as f:
                    if path.encode() in f.read():
                        os.kill(server_pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _reachable_by_all(path: str) -> bool:
    import stat
    path = os.path.realpath(path)
    while True:
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class LocalServer:
    """A database server this process starts, owns and removes."""

    kind = ""
    label = ""
    packages: tuple = ()

    def __init__(self, port: int | None = None, base: str | None = None):
        self.port = port
        self.base = base or _base_dir()
        self.dir: str | None = None
        self.proc: subprocess.Popen | None = None
        self.user = "nobody" if os.geteuid() == 0 else None
        self.url: str | None = None
        self.version: str | None = None

    # -- what each server defines --------------------------------------
    def binaries(self) -> dict:  # pragma: no cover - per server
        raise NotImplementedError

    def initialise(self, bins):  # pragma: no cover
        raise NotImplementedError

    def command(self, bins) -> list:  # pragma: no cover
        raise NotImplementedError

    def admin_url(self) -> str:  # pragma: no cover
        raise NotImplementedError

    # -- life cycle ------------------------------------------------------
    def start(self) -> str:
        check_client(self.kind)
        if self.port is not None and port_in_use(self.port):
            raise EngineError(
                "port %d on 127.0.0.1 is already in use, so %s cannot "
                "listen there; stop what holds it, set HARNESS_DB_PORT to "
                "a free port, or unset it to use a Unix socket"
                % (self.port, self.label))
        bins = self.binaries()
        if bins is None:
            _apt_install(self.packages, self.label)
            bins = self.binaries()
            if bins is None:
                raise EngineError(
                    "%s is still missing after 'apt-get install %s'; "
                    "install it by hand" % (self.label,
                                             " ".join(self.packages)))
        try:
            os.makedirs(self.base, exist_ok=True)
        except OSError as exc:
            raise EngineError("cannot create %s (%s); set HARNESS_DB_DIR to "
                              "a writable directory" % (self.base, exc)
                              ) from None
        if self.user and not _reachable_by_all(self.base):
            raise EngineError(
                "%s is not reachable by the user %r the %s server runs as "
                "(it refuses to run as root); set HARNESS_DB_DIR to a "
                "directory every user can enter, such as /tmp"
                % (self.base, self.user, self.label))
        remove_stale_dirs(self.base)
        self.dir = tempfile.mkdtemp(prefix="%s%s-%d-" % (
            DIR_PREFIX, self.kind, os.getpid()), dir=self.base)
        try:
            if self.user:
                os.chmod(self.dir, 0o755)
                shutil.chown(self.dir, user=self.user)
            self.initialise(bins)
            self.log = os.path.join(self.dir, "server.log")
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    self.command(bins), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, user=self.user,
                    cwd=self.dir, preexec_fn=_child_setup(_prctl()))
            self.url = self.admin_url()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _wait_ready(self):
        import sqlalchemy
        deadline = time.monotonic() + START_TIMEOUT
        engine = sqlalchemy.create_engine(self.url, poolclass=sqlalchemy.
                                          pool.NullPool)
        try:
            while True:
                if self.proc.poll() is not None:
                    raise EngineError(self._not_started(
                        "it exited with status %d" % self.proc.returncode))
                try:
                    with engine.connect() as conn:
                        self.version = describe_connection(conn)
                    return
                except sqlalchemy.exc.DBAPIError:
                    if time.monotonic() > deadline:
                        raise EngineError(self._not_started(
                            "it did not accept connections within %ds"
                            % START_TIMEOUT)) from None
                    time.sleep(0.1)
        finally:
            engine.dispose()

    def _not_started(self, why: str) -> str:
        tail = ""
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                lines = [ln.strip() for ln in f if ln.strip()]
            errors = [ln for ln in lines if ("ERROR" in ln or "FATAL" in ln
                                             or "in use" in ln)
                      and "Aborting" not in ln]
            tail = (errors or lines or [""])[0][:200]
        except OSError:
            pass
        if "in use" in tail or "Address already" in tail:
            return ("%s would not start: its port or socket is already in "
                    "use (%s); stop what holds it or set HARNESS_DB_PORT to "
                    "a free port" % (self.label, tail))
        return ("%s would not start (%s%s); check free memory and disk "
                "space under %s (HARNESS_DB_DIR), or point HARNESS_DB_URL at "
                "a running server" % (self.label, why,
                                      (": " + tail) if tail else "",
                                      self.base))

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(self.stop_signal)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    stop_signal = signal.SIGTERM


class MariaDBServer(LocalServer):
    kind = "mysql"
    label = "MariaDB"
    packages = ("mariadb-server",)

    def binaries(self):
        path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin",
                                "/usr/bin"])
        server = shutil.which("mariadbd", path=path) or \
            shutil.which("mysqld", path=path)
        install = shutil.which("mariadb-install-db", path=path) or \
            shutil.which("mysql_install_db", path=path)
        if not server or not install:
            return None
        return {"server": server, "install": install}

    def initialise(self, bins):
        _run([bins["install"], "--no-defaults",
              "--datadir=%s" % os.path.join(self.dir, "data"),
              "--auth-root-authentication-method=normal", "--skip-test-db",
              "--skip-name-resolve"],
             "initialising a MariaDB data directory", user=self.user)

    def command(self, bins):
        cmd = [bins["server"], "--no-defaults",
               "--datadir=%s" % os.path.join(self.dir, "data"),
               "--socket=%s" % os.path.join(self.dir, "mysqld.sock"),
               "--pid-file=%s" % os.path.join(self.dir, "mysqld.pid"),
               "--skip-log-bin", "--skip-name-resolve",
               # durability is worthless for a throw-away database
               "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
               "--innodb-buffer-pool-size=256M", "--max-connections=200",
               "--character-set-server=utf8mb4"]
        if self.port is None:
            cmd.append("--skip-networking")
        else:
            cmd += ["--bind-address=127.0.0.1", "--port=%d" % self.port]
        return cmd

    def admin_url(self):
        if self.port is None:
            return "mysql+pymysql://root@localhost/?unix_socket=%s" % (
                os.path.join(self.dir, "mysqld.sock"))
        return "mysql+pymysql://root@127.0.0.1:%d/" % self.port


class PostgreSQLServer(LocalServer):
    kind = "postgresql"
    label = "PostgreSQL"
    packages = ("postgresql",)
    stop_signal = signal.SIGINT  # "fast" shutdown

    def binaries(self):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                       key=lambda p: int(p.split("/")[4])
                       if p.split("/")[4].isdigit() else 0)
        if found:
            bindir = os.path.dirname(found[-1])
        else:
            server = shutil.which("postgres")
            if not server:
                return None
            bindir = os.path.dirname(os.path.realpath(server))
        bins = {"server": os.path.join(bindir, "postgres"),
                "initdb": os.path.join(bindir, "initdb")}
        return bins if all(os.access(p, os.X_OK) for p in bins.values()) \
            else None

    def initialise(self, bins):
        _run([bins["initdb"], "-D", os.path.join(self.dir, "data"),
              "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8",
              "--locale=C"], "initialising a PostgreSQL data directory",
             user=self.user)

    def command(self, bins):
        return [bins["server"], "-D", os.path.join(self.dir, "data"),
                "-k", self.dir, "-p", str(self.port or 5432),
                "-c", "listen_addresses=%s" % ("127.0.0.1" if self.port
                                               else ""),
                "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "max_connections=200"]

    def admin_url(self):
        if self.port is None:
            return ("postgresql+psycopg2://postgres@/postgres?host=%s&port="
                    "5432" % self.dir)
        return "postgresql+psycopg2://postgres@127.0.0.1:%d/postgres" % (
            self.port)


SERVERS = {"mysql": MariaDBServer, "postgresql": PostgreSQLServer}


def _port() -> int | None:
    raw = os.environ.get("HARNESS_DB_PORT")
    if not raw:
        return None
    try:
        port = int(raw)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        raise EngineError("HARNESS_DB_PORT=%r is not a port number; give "
                          "1-65535 or unset it" % raw) from None
    return port


@contextlib.contextmanager
def server(kind: str):
    """The administrative URL of a ``kind`` server for the duration of the
    block: ``HARNESS_DB_URL`` (or oslo.db's variable) when set, else a
    local server started here and removed on the way out, even after an
    error.  Sets ``HARNESS_DB``, ``HARNESS_DB_URL`` and
    ``HARNESS_DB_SERVER`` (the version) for the block, so subprocesses
    (pytest and its xdist workers) use the same server."""
    kind = db_kind(kind)
    if kind == "sqlite":
        with _environ(HARNESS_DB="sqlite"):
            yield None
        return
    check_client(kind)
    url = configured_url(kind)
    srv = None
    if url is None:
        srv = SERVERS[kind](port=_port())
        url = srv.start()
        version = srv.version
    else:
        version = server_version(url)
    try:
        with _environ(HARNESS_DB=kind, HARNESS_DB_URL=url,
                      HARNESS_DB_SERVER=version):
            yield url
    finally:
        if srv is not None:
            srv.stop()


@contextlib.contextmanager
def _environ(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_OWN: dict = {}   # kind -> (context manager, url), started by a world
_LOCK = threading.Lock()


def admin_url(kind: str) -> str:
    """The server a world of ``kind`` uses: the configured one, else one
    this process starts on first use and removes when it exits."""
    url = configured_url(kind)
    if url is not None:
        return url
    with _LOCK:
        if kind not in _OWN:
            cm = server(kind)
            url = cm.__enter__()
            _OWN[kind] = (cm, url)
            atexit.register(_stop_own, kind)
        return _OWN[kind][1]


def _stop_own(kind):
    cm, _ = _OWN.pop(kind, (None, None))
    if cm is not None:
        cm.__exit__(None, None, None)


def server_version(url: str) -> str:
    import sqlalchemy
    check_client(url.split(":", 1)[0].split("+", 1)[0])
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            return describe_connection(conn)
    except sqlalchemy.exc.DBAPIError as exc:
        raise EngineError(
            "cannot connect to the database server at %s (%s); start it or "
            "fix HARNESS_DB_URL" % (engine.url.render_as_string(
                hide_password=True), str(exc.orig).splitlines()[0][:160])
        ) from None
    finally:
        engine.dispose()


# ----------------------------------------------------------------------
# Naming an engine
# ----------------------------------------------------------------------
def describe_connection(conn) -> str:
    """``MariaDB 10.11.19``, ``PostgreSQL 15.18``, ``SQLite 3.40.1``."""
    dialect = conn.dialect
    info = dialect.server_version_info or ()
    nums = [str(x) for x in info if isinstance(x, int)][:3]
    if dialect.name == "mysql":
        name = "MariaDB" if getattr(dialect, "is_mariadb", False) else "MySQL"
    elif dialect.name == "postgresql":
        name = "PostgreSQL"
    else:
        import sqlite3
        return "SQLite %s" % sqlite3.sqlite_version
    return "%s %s" % (name, ".".join(nums))


def short_name(full: str) -> str:
    """``MariaDB 10.11.19`` -> ``MariaDB 10.11``."""
    name, _, version = full.partition(" ")
    return "%s %s" % (name, ".".join(version.split(".")[:2])) if version \
        else name


@functools.lru_cache(maxsize=None)
def _engine_name(engine) -> str:
    with engine.connect() as conn:
        return short_name(describe_connection(conn))


def engine_name(engine) -> str:
    """The short name of the engine behind a SQLAlchemy engine."""
    if engine.dialect.name == "sqlite":
        import sqlite3
        return short_name("SQLite %s" % sqlite3.sqlite_version)
    return _engine_name(engine)


# ----------------------------------------------------------------------
# Databases: provisioned once per process, reset for every world
# ----------------------------------------------------------------------
@dataclasses.dataclass
class Database:
    """One provisioned database (oslo.db's ``ProvisionedDatabase``) and
    the rows its schema was created with."""
    name: str                       # main, api, placement
    resource: object
    provisioned: object
    built: bool = False
    tables: tuple = ()              # every table, dependencies first
    template: dict = dataclasses.field(default_factory=dict)
    sequences: dict = dataclasses.field(default_factory=dict)
    metadata: object = None
    reset_seconds: float = 0.0
    resets: int = 0

    @property
    def engine(self):
        return self.provisioned.engine

    @property
    def enginefacade(self):
        return self.provisioned.enginefacade

    def restore(self, build):
        """Make the database as its schema left it: the first time run
        ``build()`` and remember the rows it wrote; afterwards truncate
        what worlds wrote and put those rows back."""
        if not self.built:
            build()
            self._snapshot()
            self.built = True
            return
        started = time.perf_counter()
        self._reset()
        self.reset_seconds += time.perf_counter() - started
        self.resets += 1

    def _snapshot(self):
        import sqlalchemy as sa
        meta = sa.MetaData()
        with self.engine.connect() as conn:
            meta.reflect(bind=conn)
            self.metadata = meta
            self.tables = tuple(t.name for t in meta.sorted_tables)
            for table in meta.sorted_tables:
                rows = [dict(r) for r in
                        conn.execute(sa.select(table)).mappings()]
                if rows:
                    self.template[table.name] = rows
            if self.engine.dialect.name == "postgresql":
                for name in self.tables:
                    seq = conn.exec_driver_sql(
                        "SELECT c.column_name, pg_get_serial_sequence("
                        "quote_ident(%(t)s), c.column_name) FROM "
                        "information_schema.columns c WHERE c.table_name = "
                        "%(t)s AND c.table_schema = current_schema()",
                        {"t": name}).fetchall()
                    self.sequences[name] = [(col, s) for col, s in seq if s]

    def _reset(self):
        engine = self.engine
        quote = engine.dialect.identifier_preparer.quote
        with engine.begin() as conn:
            probe = " UNION ALL ".join(
                "(SELECT '%s' FROM %s LIMIT 1)" % (t, quote(t))
                for t in self.tables)
            dirty = {r[0] for r in conn.exec_driver_sql(probe)}
            changed = [t for t in self.tables
                       if t in dirty or t in self.template]
            if not changed:
                return
            mode = None
            if engine.dialect.name == "mysql":
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
                for t in changed:
                    conn.exec_driver_sql("TRUNCATE TABLE %s" % quote(t))
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
                # Template rows keep their ids, and Placement's resource
                # classes start at id 0, which MySQL otherwise reads as
                # "the next auto-increment value" (Placement sets this mode
                # itself when it writes them).  Whether the pooled
                # connection still carries the mode from Placement's own
                # sync is luck: a connection left behind by an interrupted
                # trial made the next world fail with a duplicate id 1.
                mode = conn.exec_driver_sql(
                    "SELECT @@SESSION.sql_mode").scalar()
                conn.exec_driver_sql(
                    "SET SESSION sql_mode = %(m)s",
                    {"m": ",".join(filter(None, (
                        mode, "NO_AUTO_VALUE_ON_ZERO")))})
            else:
                conn.exec_driver_sql(
                    "TRUNCATE %s RESTART IDENTITY CASCADE"
                    % ", ".join(quote(t) for t in changed))
            for t in changed:
                rows = self.template.get(t)
                if rows:
                    conn.execute(self.metadata.tables[t].insert(), rows)
                    for col, seq in self.sequences.get(t, ()):
                        conn.exec_driver_sql(
                            "SELECT setval(%%(s)s, (SELECT max(%s) FROM %s))"
                            % (quote(col), quote(t)), {"s": seq})
            if mode is not None:
                conn.exec_driver_sql("SET SESSION sql_mode = %(m)s",
                                     {"m": mode})

    def drop(self):
        self.resource.finishedWith(self.provisioned)


def _fewer_round_trips(engine):
    """Drop two oslo.db engine habits that cost a world on a real server
    ~40% of its time and change nothing Nova does: the ``SELECT 1`` ping
    on every pool checkout (a local server this process owns does not go
    away under it) and the ``time.sleep(0)`` on every check-in (it yields
    to eventlet greenthreads, which the harness does not run; on a loaded
    machine each sleep gives the CPU away)."""
    import sqlalchemy
    from oslo_db.sqlalchemy import engines as oslo_engines
    if sqlalchemy.event.contains(engine, "checkin",
                                 oslo_engines._thread_yield):
        sqlalchemy.event.remove(engine, "checkin", oslo_engines._thread_yield)
    engine.pool._pre_ping = False


class Provisioned:
    """The three databases of this process on one server."""

    def __init__(self, kind: str, url: str):
        self.kind = kind
        self.url = url
        self.databases: dict[str, Database] = {}
        self.version = None

    def database(self, name: str, facade) -> Database:
        db = self.databases.get(name)
        if db is None:
            import uuid
            from unittest import mock
            from oslo_db.sqlalchemy import provision
            # The opportunistic route: the backend of this kind is our
            # server (what OS_TEST_DBAPI_ADMIN_CONNECTION sets up at import).
            # (SQLAlchemy's make_url: oslo.db's own alias arrived after
            # 2023.1's oslo.db)
            from sqlalchemy.engine import make_url
            backend = provision.Backend.backends_by_database_type.get(
                self.kind)
            if backend is None or str(backend.url) != str(
                    make_url(self.url)):
                provision.Backend.backends_by_database_type[self.kind] = \
                    provision.Backend(self.kind, make_url(self.url))
            resource = provision.DatabaseResource(self.kind, facade)
            # oslo.db draws the name from the global `random`, which
            # Hypothesis and pytest-randomly reseed: unique names instead.
            with mock.patch.object(provision, "_random_ident",
                                   lambda: "harness_%s_%s" % (
                                       name, uuid.uuid4().hex[:12])):
                try:
                    provisioned = resource.getResource()
                except Exception as exc:  # noqa: BLE001 - one clear line
                    raise EngineError(
                        "cannot create the %s database on %s (%s: %s); "
                        "check the server and HARNESS_DB_URL" % (
                            name, self.kind, type(exc).__name__,
                            str(exc).splitlines()[0][:160])) from None
            _fewer_round_trips(provisioned.engine)
            db = self.databases[name] = Database(name, resource, provisioned)
        return db

    def drop(self):
        for db in list(self.databases.values()):
            try:
                db.drop()
            except Exception:  # noqa: BLE001 - the server may be gone
                pass
        self.databases.clear()


_PROVISIONED: dict = {}


def provisioned(kind: str) -> Provisioned:
    """This process's databases on the ``kind`` server."""
    check_client(kind)
    url = admin_url(kind)
    prov = _PROVISIONED.get(kind)
    if prov is not None and prov.url != url:   # another server since
        _drop_provisioned(kind)
        prov = None
    if prov is None:
        prov = _PROVISIONED[kind] = Provisioned(kind, url)
        # registered after admin_url's own hook: runs first (LIFO)
        atexit.register(_drop_provisioned, kind)
    return prov


def _drop_provisioned(kind):
    prov = _PROVISIONED.pop(kind, None)
    if prov is not None:
        prov.drop()


def nova_database(kind: str, database: str):
    """Nova's main or API database on a real engine: a fixture used like
    Nova's ``Database`` fixture."""
    return _nova_database_class()(kind, database)


@functools.lru_cache(maxsize=None)
def _nova_database_class():
    import fixtures

    class _RealNovaDatabase(fixtures.Fixture):
        def __init__(self, kind, database="main"):
            super().__init__()
            assert database in ("main", "api"), database
            self.kind, self.database = kind, database

        def _setUp(self):
            from nova.db.api import api as api_db_api
            from nova.db import migration
            from nova.db.main import api as main_db_api
            from oslo_db.sqlalchemy import test_fixtures as db_fixtures

            mod = main_db_api if self.database == "main" else api_db_api
            db = provisioned(self.kind).database(self.database,
                                                 mod.context_manager)
            self.useFixture(db_fixtures.ReplaceEngineFacadeFixture(
                mod.context_manager, db.enginefacade))
            db.restore(lambda: migration.db_sync(database=self.database))
            self.db = db

    return _RealNovaDatabase
