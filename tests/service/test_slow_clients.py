"""A slow client against a real `hashwarden serve`: a body sent a byte a second is cut off by the body-read
timeout (408, connection closed) long before it would be complete, and other requests are served meanwhile."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.conftest import DIGEST_ONLY
from tests.service.test_serve import serving

BODY_BYTES = 120  # at a byte a second the body would take two minutes; the server allows it 2 s


@pytest.mark.heavy
def test_a_byte_a_second_body_is_cut_off_while_others_are_served(tmp_path: Path,
                                                                 images: dict[str, dict[str, Any]]) -> None:
    with serving(tmp_path, images, "--body-timeout", "2") as (url, keys):
        port = int(url.rsplit(":", 1)[1])
        auth = {"Authorization": f"Bearer {keys['matcher']}"}
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall((f"POST /v1/lookup HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {keys['matcher']}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {BODY_BYTES}\r\n\r\n").encode())
        slow.settimeout(1.0)
        answer, sent, served = b"", 0, []
        while sent < BODY_BYTES:
            try:
                chunk = slow.recv(4096)
            except TimeoutError:  # nothing yet: one more byte, and meanwhile another client's requests
                slow.sendall(b" ")
                sent += 1
                served.append(httpx.get(f"{url}/v1/health", timeout=10).status_code)
                served.append(httpx.post(f"{url}/v1/lookup", json={"items": [{"md5": DIGEST_ONLY["md5"]}]},
                                         headers=auth, timeout=10).status_code)
                continue
            if not chunk:
                break  # the server closed the connection
            answer += chunk
        slow.close()
        assert sent < BODY_BYTES, "the server waited for the whole byte-a-second body"
        assert answer.startswith(b"HTTP/1.1 408 ") and b'"error":"request body not received in time: ' in answer
        assert b"(allowed: 2 s plus 1 s per " in answer
        assert served and set(served) == {200}


SLOW_HEADER_CLIENTS = 20


@pytest.mark.heavy
def test_clients_sending_headers_slowly_are_cut_off_while_others_are_served(
        tmp_path: Path, images: dict[str, dict[str, Any]]) -> None:
    """uvicorn itself never times out a request's headers; the service's protocol closes a connection whose
    headers are not complete in --header-timeout. Each slow client keeps sending a header byte every half
    second, so only that timeout (not keep-alive) can end it."""
    with serving(tmp_path, images, "--header-timeout", "2") as (url, keys):
        port = int(url.rsplit(":", 1)[1])
        auth = {"Authorization": f"Bearer {keys['matcher']}"}
        slow = []
        for _ in range(SLOW_HEADER_CLIENTS):
            conn = socket.create_connection(("127.0.0.1", port))
            conn.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            conn.setblocking(False)
            slow.append(conn)
        open_ones, served = set(range(len(slow))), []
        deadline = time.monotonic() + 60  # without the timeout they would still be open then
        while open_ones and time.monotonic() < deadline:
            for index in sorted(open_ones):
                try:
                    slow[index].sendall(b"a")
                    if slow[index].recv(4096) == b"":
                        open_ones.discard(index)  # closed by the server
                except BlockingIOError:
                    pass  # nothing to read: still open
                except OSError:
                    open_ones.discard(index)  # reset by the server
            served.append(httpx.get(f"{url}/v1/health", timeout=10).status_code)
            served.append(httpx.post(f"{url}/v1/lookup", json={"items": [{"md5": DIGEST_ONLY["md5"]}]},
                                     headers=auth, timeout=10).status_code)
            time.sleep(0.5)
        for conn in slow:
            conn.close()
        assert not open_ones, f"{len(open_ones)} slow-header connections were never closed"
        assert served and set(served) == {200}
