"""`POST /v1/media` against a real `hashwarden serve` process: a 20 MB upload is hashed without any file being
opened for writing or created (strace attached to all the server's threads for the upload, once it is seen to
trace a file the server serves: only the store's own files may be written),
and its bytes are in no file afterwards; `--max-media-mb` sets the limit."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.test_serve import serving

_WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TMPFILE|O_APPEND|O_TRUNC")
_STORE_FILES = re.compile(r'"[^"]*/hw\.db(-journal|-wal|-shm)?"')


def server_pid(port: int) -> int:
    """The `hashwarden serve` child of this process listening on `port`."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == os.getpid() and b"serve" in cmdline and str(port).encode() in cmdline:
                return int(entry.name)
    raise AssertionError(f"no serve process on port {port}")


def writes(log: str) -> list[str]:
    """The traced calls that create, write, rename or link a file other than the store's own."""
    found = []
    for line in log.splitlines():
        call = re.search(r"\b(openat|open|creat|rename|renameat2?|link|linkat)\(", line)
        if call is None or "resumed>" in line and "(" not in line.split("resumed>")[0]:
            continue
        creating = call.group(1) in ("creat", "rename", "renameat", "renameat2", "link", "linkat")
        if (creating or _WRITE_FLAGS.search(line)) and not _STORE_FILES.search(line):
            found.append(line)
    return found


def test_a_20_mb_upload_touches_no_file(tmp_path: Path, images: dict[str, dict[str, Any]],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    server_tmp = tmp_path / "server-tmp"
    server_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(server_tmp))  # where the server's tempfile would go
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # a lazily imported module must not write its .pyc
    marker = os.urandom(20 << 20)
    upload = (tmp_path / "img" / "known.jpg").read_bytes() + marker
    log = tmp_path / "strace.log"
    with serving(tmp_path, images) as (url, keys):
        headers = {"Authorization": f"Bearer {keys['matcher']}"}
        warm = httpx.post(f"{url}/v1/media", files={"file": (tmp_path / "img" / "other.jpg").read_bytes()},
                          headers=headers, timeout=120)  # lazy imports and the first audit row before tracing
        assert warm.status_code == 200, warm.text
        tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=openat,open,creat,rename,link",
                                   "-o", str(log), "-p", str(server_pid(int(url.rsplit(":", 1)[1])))],
                                  stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(600):  # until the trace shows the server reading a file it serves (bounded)
                assert httpx.get(f"{url}/docs/assets/favicon-32x32.png", timeout=10).status_code == 200
                if log.exists() and "favicon-32x32.png" in log.read_text():
                    break
                time.sleep(0.1)
            else:
                raise AssertionError("strace never saw the server open a file")
            answer = httpx.post(f"{url}/v1/media", files={"file": ("big.jpg", upload)}, headers=headers,
                                timeout=300)
        finally:
            tracer.terminate()
            tracer.communicate(timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["pdq"] == images["known"]["pdq"] and answer.json()["matches"]
    traced = log.read_text()
    assert writes(traced) == []
    assert list(server_tmp.iterdir()) == []
    probe = marker[(10 << 20):(10 << 20) + 4096]  # any 4 KiB of the upload that no other file can hold by chance
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "strace.log":
            assert probe not in path.read_bytes(), f"the upload's bytes are in {path}"


def test_serve_sets_the_media_limit(tmp_path: Path, images: dict[str, dict[str, Any]]) -> None:
    data = (tmp_path / "img" / "known.jpg").read_bytes()
    with serving(tmp_path, images, "--max-media-mb", str(len(data) / 1e6 - 0.000001)) as (url, keys):
        headers = {"Authorization": f"Bearer {keys['matcher']}"}
        answer = httpx.post(f"{url}/v1/media", files={"file": data}, headers=headers, timeout=60)
        assert answer.status_code == 413 and set(answer.json()) == {"error"}
        answer = httpx.post(f"{url}/v1/media", files={"file": data[:-1]}, headers=headers, timeout=60)
        assert answer.status_code != 413


@pytest.mark.heavy
def test_a_slow_upload_is_cut_off_by_the_body_timeout(tmp_path: Path, images: dict[str, dict[str, Any]]) -> None:
    """The media route's larger size cap does not lift the body-read timeout."""
    with serving(tmp_path, images, "--body-timeout", "1") as (url, keys):
        slow = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        slow.sendall((f"POST /v1/media HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {keys['matcher']}\r\n"
                      "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n"
                      '--x\r\nContent-Disposition: form-data; name="file"\r\n\r\n\xff\xd8\xff').encode("latin-1"))
        slow.settimeout(60)  # a bound on waiting, not a timing assertion: the server answers after 1 s
        answer = b""
        while chunk := slow.recv(4096):
            answer += chunk
        slow.close()
    assert answer.startswith(b"HTTP/1.1 408 ") and b'"error"' in answer
