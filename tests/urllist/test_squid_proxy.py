"""Blocking at a forward proxy with a real squid (Debian package; `make test` installs it): squid on loopback asks
`hashwarden url squid-helper` about every request; a listed page, and any page of a listed domain's subdomains,
is answered with the block page (403, its wording, never the entry) and never reaches the origin; an unlisted page
is served from a tiny local origin server. Everything stays on 127.0.0.1 (squid resolves the test hosts from its
own hosts file and asks no name server); bounded to a minute."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import site
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

import hashwarden
from tests.test_cli import hw

SRC = Path(hashwarden.__file__).resolve().parents[1]
DEADLINE_SECONDS = 60


class Origin(BaseHTTPRequestHandler):
    """The origin: every page says which path it is; the paths asked for are kept."""

    asked: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        Origin.asked.append(self.path)
        body = f"ORIGIN PAGE {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def origin() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Origin.asked = []
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A folder squid's user can use: as root squid runs as `proxy`, which must read the configuration and write
    the database's folder (SQLite's WAL) and the logs."""
    path = Path(tempfile.mkdtemp(prefix="hw-squid-"))
    path.chmod(0o755)
    yield path
    if not os.environ.get("HW_KEEP"): shutil.rmtree(path, ignore_errors=True)


def squid_binary() -> str:
    found = shutil.which("squid", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    assert found, "squid is not installed (Debian package squid; `make test` installs it)"
    return found


def helper_python(env: dict[str, str]) -> str:
    """The interpreter squid runs the helper with: this one, unless squid's user (`proxy`, squid started as root)
    cannot run it (an interpreter under /root); then the system's Python of the same version, given this one's
    packages on PYTHONPATH."""
    if os.geteuid() != 0:
        return sys.executable
    runuser = shutil.which("runuser", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    assert runuser, "runuser (util-linux) is needed to check what squid's user can run"
    probe = subprocess.run([runuser, "-u", "proxy", "--", sys.executable, "-c", "import hashwarden"], env=env,
                           capture_output=True)
    if probe.returncode == 0:
        return sys.executable
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    assert system.exists(), f"squid's user cannot run {sys.executable}, and there is no {system}"
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *site.getsitepackages()])
    return str(system)


def give_to_squid_user(path: Path) -> str:
    """The user squid runs as: `proxy` when started as root (it refuses to stay root), else ourselves."""
    if os.geteuid() != 0:
        return ""
    user = pwd.getpwnam("proxy")
    for item in [path, *path.rglob("*")]:
        os.chown(item, user.pw_uid, user.pw_gid)
    return "cache_effective_user proxy\n"


@contextmanager
def running_squid(workdir: Path, db: Path, started: float) -> Iterator[int]:
    """squid on a free loopback port with the README's squid.conf lines, asking the helper on `db`; its port."""
    hw("url", "block-page", "--squid-dir", str(workdir / "errors"), db=workdir / "unused.db")
    (workdir / "hosts").write_text("127.0.0.1 www.shop.hw-test img.cdn.blocked.hw-test\n")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC)}  # the helper runs this hashwarden
    python = helper_python(env)
    conf = workdir / "squid.conf"
    conf.write_text(f"""\
http_port 127.0.0.1:{port}
pid_filename {workdir}/squid.pid
cache_log {workdir}/cache.log
access_log stdio:{workdir}/access.log
cache_store_log none
cache deny all
cache_mem 8 MB
coredump_dir {workdir}
hosts_file {workdir}/hosts
dns_nameservers 127.0.0.1
pinger_enable off
shutdown_lifetime 0 seconds
error_directory {workdir}/errors
external_acl_type hw concurrency=10 children-max=2 ttl=0 negative_ttl=0 %URI {python} -m hashwarden url squid-helper --db {db}
acl hw_listed external hw
acl hw_unavailable tag hw_unavailable
http_access deny hw_listed hw_unavailable
http_access deny hw_listed
deny_info 503:ERR_HW_UNAVAILABLE hw_unavailable
deny_info 403:ERR_HW_BLOCKED hw_listed
http_access allow localhost
http_access deny all
""")
    with conf.open("a") as fp:
        fp.write(give_to_squid_user(workdir))
    name = f"hwtest{os.getpid()}x{port}"  # squid's service name: its shared memory segments are named after it
    squid = subprocess.Popen([squid_binary(), "-N", "-n", name, "-f", str(conf)], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, squid, started, workdir)
        yield port
    finally:
        squid.terminate()
        try:
            squid.wait(timeout=15)
        except subprocess.TimeoutExpired:
            squid.kill()
            squid.wait()
        for segment in Path("/dev/shm").glob(f"{name}-*"):  # left by a squid that had to be killed
            segment.unlink(missing_ok=True)


@pytest.mark.heavy
def test_squid_blocks_listed_pages_with_the_block_page(workdir: Path, origin: int) -> None:
    started = time.monotonic()
    db = workdir / "db" / "hw.db"
    db.parent.mkdir()
    hw("url", "add", "http://www.shop.hw-test/bad/page.html", "--kind", "page", db=db)
    hw("url", "add", "http://blocked.hw-test/", "--kind", "domain", db=db)
    listed_ids = [json.loads(line)["public_id"] for line in hw("url", "list", "--json", db=db).stdout.splitlines()]
    assert len(listed_ids) == 2
    with running_squid(workdir, db, started) as port:
        with httpx.Client(proxy=f"http://127.0.0.1:{port}", timeout=20) as client:
            listed = client.get(f"http://www.shop.hw-test:{origin}/bad/page.html")
            unlisted = client.get(f"http://www.shop.hw-test:{origin}/good.html")
            subdomain = client.get(f"http://img.cdn.blocked.hw-test:{origin}/a/b.jpg")
        log = (workdir / "cache.log").read_text(errors="replace")
        for blocked in (listed, subdomain):
            assert blocked.status_code == 403, (blocked.status_code, blocked.text[:500], log[-3000:])
            assert "because this page may contain images of child sexual abuse" in blocked.text
            assert "Stop It Now" in blocked.text and "blocked in error, please contact" in blocked.text
            for secret in ("shop.hw-test", "blocked.hw-test", "bad/page", *listed_ids):
                assert secret not in blocked.text  # neither the URL nor anything of the entry
        assert unlisted.status_code == 200, (unlisted.text[:3000], (workdir / "access.log").read_text(), log[-3000:])
        assert unlisted.text == "ORIGIN PAGE /good.html"
        assert Origin.asked == ["/good.html"]  # the blocked pages never reached the origin
        assert time.monotonic() - started < DEADLINE_SECONDS


@pytest.mark.heavy
def test_without_a_usable_list_squid_refuses_with_the_unavailable_page_not_the_block_page(
        workdir: Path, origin: int) -> None:
    """The helper's database is missing (a mistyped path): every page is refused (fail closed), with the honest 503
    page ("could not be checked"), never the block page's claim that the page may contain abuse images."""
    started = time.monotonic()
    missing = workdir / "db" / "missing.db"
    missing.parent.mkdir()
    with running_squid(workdir, missing, started) as port:
        with httpx.Client(proxy=f"http://127.0.0.1:{port}", timeout=20) as client:
            answers = [client.get(f"http://www.shop.hw-test:{origin}/good.html") for _ in range(2)]
        log = (workdir / "cache.log").read_text(errors="replace")
        for answer in answers:
            assert answer.status_code == 503, (answer.status_code, answer.text[:500], log[-3000:])
            assert "could not be checked" in answer.text and "child sexual abuse" not in answer.text
        assert Origin.asked == []  # nothing let through
        assert "no hash database" in log or "cannot read the URL list" in log, log[-3000:]  # said in cache.log
        assert not missing.exists()
        assert time.monotonic() - started < DEADLINE_SECONDS


def wait_for_port(port: int, squid: subprocess.Popen[bytes], started: float, workdir: Path) -> None:
    while True:
        assert squid.poll() is None, (squid.communicate()[0].decode(errors="replace")[-2000:], (workdir / "cache.log").read_text(errors="replace")[-3000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert time.monotonic() - started < DEADLINE_SECONDS, "squid did not start"
            time.sleep(0.2)
