"""A throw-away PostgreSQL cluster for one test session, so the store is tested on PostgreSQL as well as SQLite.

`PgCluster.start()` runs initdb into a new temporary folder and starts the server there: unix socket inside that
folder, TCP on 127.0.0.1 at a free port, password authentication, durability switched off (fsync, synchronous
commit, full-page writes: the data is thrown away). `stop()` shuts it down and removes the folder.

PostgreSQL refuses to run as root (initdb, pg_ctl and postgres all check), and CI runs as root: then the server
runs as the `postgres` user that the Debian package creates (else `nobody`), and the folder is chowned to it.
Binaries come from Debian's /usr/lib/postgresql/<version>/bin (not on PATH), else from an `initdb` on PATH.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

MIN_VERSION = 15
SERVER_USERS = ("postgres", "nobody")  # who runs the server when the tests run as root
SUPERUSER = "hashwarden"
TEST_DATABASE = "hashwarden_test"
STARTUP_ATTEMPTS = 3  # a free port found by bind(0) can be taken by someone else before the server binds it

# The data is thrown away at the end of the session: durability only costs time.
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "'256MB'",  # bounds the folder's size (WAL) during the 1M-row COPY test
    "max_connections": "50",
    "shared_buffers": "'64MB'",
}


class PgUnavailable(Exception):
    """No PostgreSQL could be started here; the message says why (and what to install)."""


def find_bindir() -> Path:
    """The newest Debian PostgreSQL (>= MIN_VERSION) bin folder, else the folder of an `initdb` on PATH.

    Raises:
        PgUnavailable: no initdb found, or only too old a version.
    """
    found: list[tuple[int, Path]] = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        version = Path(initdb).parents[1].name
        if version.isdigit():
            found.append((int(version), Path(initdb).parent))
    if found:
        version, bindir = max(found)
        if version >= MIN_VERSION:
            return bindir
        raise PgUnavailable(f"PostgreSQL {version} found in {bindir}; hashwarden needs {MIN_VERSION}+")
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise PgUnavailable("no PostgreSQL server binaries (initdb) found: install the Debian package `postgresql`")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: None (ourselves) unless we are root, which PostgreSQL refuses."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PgUnavailable(f"running as root and none of the users {', '.join(SERVER_USERS)} exists to run PostgreSQL")


@dataclass
class PgCluster:
    """A running private server: `fresh_database()` before each test, `url()`/`connect()` for anything else."""

    root: Path
    bindir: Path
    port: int
    password: str
    user: pwd.struct_passwd | None
    _created: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @classmethod
    def start(cls) -> PgCluster:
        """initdb into a new temporary folder and start the server on a free local port.

        Raises:
            PgUnavailable: no binaries, no user to run them as, or initdb/start failed (the log tail is included).
        """
        bindir = find_bindir()
        user = _server_user()
        try:
            root = Path(tempfile.mkdtemp(prefix="hashwarden-pg-"))
        except OSError as exc:
            raise PgUnavailable(f"no temporary folder for the cluster: {exc}") from exc
        cluster = cls(root, bindir, 0, secrets.token_hex(16), user)
        try:
            if user is not None:
                os.chown(root, user.pw_uid, user.pw_gid)
            cluster._initdb()
            for attempt in range(1, STARTUP_ATTEMPTS + 1):
                cluster.port = _free_port()
                try:
                    cluster._start_server()
                    break
                except PgUnavailable:
                    if attempt == STARTUP_ATTEMPTS:
                        raise
        except OSError as exc:
            cluster.stop()
            raise PgUnavailable(f"cannot prepare {root}: {exc}") from exc
        except BaseException:
            cluster.stop()
            raise
        atexit.register(cluster.stop)  # also when the session ends without running fixture teardown
        return cluster

    def _run(self, *args: str) -> None:
        """Run a PostgreSQL program as the server user; its output goes into the error when it fails."""
        command = [str(self.bindir / args[0]), *args[1:]]
        as_user = {}
        if self.user is not None:
            as_user = dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        try:
            done = subprocess.run(
                command, cwd=self.root, capture_output=True, text=True, timeout=120,
                env={**os.environ, "LC_ALL": "C", "LANG": "C"}, **as_user,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise PgUnavailable(f"{args[0]} could not run: {exc}") from exc
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()[-2000:]
            raise PgUnavailable(f"{' '.join(args[:2])} failed (exit {done.returncode}): {output}{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return "\nserver log:\n" + "".join(self.log.read_text(errors="replace").splitlines(True)[-20:])
        except OSError:
            return ""

    def _initdb(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.user is not None:
            os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "--username", SUPERUSER, "--pwfile", str(pwfile),
            "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync",
        )
        pwfile.unlink()
        # The server owns postgresql.conf; appending keeps its owner.
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# hashwarden test cluster\n")
            for key, value in SERVER_SETTINGS.items():
                conf.write(f"{key} = {value}\n")

    def _start_server(self) -> None:
        options = f"-p {self.port} -k {self.root}"
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options)

    def stop(self) -> None:
        """Stop the server at once (the data is discarded) and remove its folder; safe to call twice."""
        if (self.data / "postmaster.pid").exists():  # also after a start that pg_ctl gave up waiting for
            try:
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
            except PgUnavailable:
                pass  # removing the folder below still makes the server exit (it rechecks its lock file)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        """A SQLAlchemy URL for `database` (psycopg 3 driver)."""
        return f"postgresql+psycopg://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        """A psycopg connection (autocommit) as the cluster's superuser."""
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password, dbname=database,
            autocommit=True,
        )

    def fresh_database(self) -> str:
        """The URL of the session's test database, emptied: its `public` schema dropped and created again.

        Any connection a previous test left open is closed first (it could hold locks). This is ~20 ms, where a
        CREATE DATABASE per test costs 50-300 ms (it copies template1 whole).
        """
        if not self._created:
            with self.connect() as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEST_DATABASE)))
            self._created = True
        with self.connect(TEST_DATABASE) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        return self.url(TEST_DATABASE)
