"""`hashwarden serve` as a real process on a free loopback port: health without a key, a lookup with one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from hashwarden.store import open_store
from tests.service.conftest import DIGEST_ONLY, add_users, fill

PROJECT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_health(url: str, server: subprocess.Popen[Any], verify: Any = True) -> httpx.Response:
    deadline = time.monotonic() + 120  # a bound on waiting for start-up, not a timing assertion
    while True:
        assert server.poll() is None, server.communicate()[1]
        try:
            return httpx.get(f"{url}/v1/health", timeout=5, verify=verify)
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)


@contextmanager
def serving(tmp_path: Path, images: dict[str, dict[str, Any]], *options: str,
            verify: Any = None) -> Iterator[tuple[str, dict[str, str]]]:
    """`hashwarden serve *options` over the test store (tmp_path/hw.db) on a free loopback port: its URL and the
    users' keys. With `verify` (an ssl context trusting the test CA), the options serve TLS and the URL is https."""
    db = tmp_path / "hw.db"
    engine = open_store(f"sqlite:///{db}")
    fill(engine, images["known"])
    keys, _ = add_users(engine)
    engine.dispose()
    server, url = start_serve(str(db), *options)
    try:
        if verify is not None:
            url = url.replace("http://", "https://", 1)
        health = wait_for_health(url, server, True if verify is None else verify)
        assert health.status_code == 200 and health.json()["store"] == "sqlite"
        yield url, keys
    finally:
        server.terminate()
        server.communicate(timeout=60)


def start_serve(db: str, *options: str, port: int | None = None, output: Any = subprocess.PIPE,
                global_options: tuple[str, ...] = ()) -> tuple[subprocess.Popen[Any], str]:
    """`hashwarden *global_options serve --db db *options` started on a free loopback port (or `port`), its stdout
    and stderr to `output`: the process and its URL (wait for it with `wait_for_health`)."""
    port = port or free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen([sys.executable, "-m", "hashwarden", *global_options, "serve", "--db", db, "--port", str(port),
                               *options], env=env, stdout=output, stderr=output, text=True)
    return server, f"http://127.0.0.1:{port}"


def test_serve_answers_health_and_lookup_over_http(tmp_path: Path, images: dict[str, dict[str, Any]]) -> None:
    with serving(tmp_path, images) as (url, keys):
        body = {"items": [{"md5": DIGEST_ONLY["md5"]}, {"sha256": "f" * 64}]}
        assert httpx.post(f"{url}/v1/lookup", json=body).status_code == 401
        found = httpx.post(f"{url}/v1/lookup", json=body, headers={"Authorization": f"Bearer {keys['matcher']}"})
        assert found.status_code == 200
        assert [[m["method"] for m in r["matches"]] for r in found.json()["results"]] == [["md5"], []]


def test_serve_options_set_the_rate_limit(tmp_path: Path, images: dict[str, dict[str, Any]]) -> None:
    with serving(tmp_path, images, "--rate", "0.01", "--burst", "2") as (url, keys):
        body = {"items": [{"md5": DIGEST_ONLY["md5"]}]}
        answers = [httpx.post(f"{url}/v1/lookup", json=body, headers={"Authorization": f"Bearer {keys['matcher']}"})
                   for _ in range(3)]
        assert [answer.status_code for answer in answers] == [200, 200, 429]
        assert answers[2].headers["retry-after"] == "100"  # one token at 0.01/s


def test_serve_refuses_a_store_without_alert_entries(tmp_path: Path) -> None:
    open_store(f"sqlite:///{tmp_path / 'empty.db'}").dispose()
    result = subprocess.run([sys.executable, "-m", "hashwarden", "serve", "--db", str(tmp_path / "empty.db"),
                             "--port", str(free_port())], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(PROJECT / "src")})
    assert result.returncode == 1 and result.stderr.startswith("ScanError:")
