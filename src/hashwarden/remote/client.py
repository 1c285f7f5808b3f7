"""One connection to a hashwarden service: the API key, TLS, timeouts, bounded retries after 429, and every
refusal turned into a `RemoteError` that names the server and quotes its JSON message.

TLS is verified whenever the URL is https (there is no switch to turn it off): `ca_cert` adds trust in a private
CA, as an agency's own service will use, instead of turning the check off.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from hashwarden.config import (
    ENV_KEY, REMOTE_CONNECT_TIMEOUT_SECONDS, REMOTE_MAX_RETRY_AFTER_SECONDS, REMOTE_READ_TIMEOUT_SECONDS,
    REMOTE_RETRIES,
)
from hashwarden.errors import RemoteError


def read_key(key_file: Path | None) -> str:
    """The API key: the first line of `key_file`, else $HASHWARDEN_KEY. Never a command-line argument, which
    `ps` and the shell's history would show to others.

    Raises:
        RemoteError: the key file cannot be read, or there is no key.
    """
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise RemoteError(f"cannot read the key file {key_file}: {getattr(exc, 'strerror', None) or exc}") from exc
        if not key:
            raise RemoteError(f"the key file {key_file} is empty")
        return key
    key = os.environ.get(ENV_KEY, "").strip()
    if not key:
        raise RemoteError(f"no API key: set ${ENV_KEY} or pass --key-file (keys come from `hashwarden user create`)")
    return key


class RemoteClient:
    """Requests to the service at `server` (http:// or https://) with `key`.

    `transport` and `sleep` are for tests (httpx's MockTransport; a sleep that only records the waits);
    `notice` hears of each retry, so a user sees why a run pauses.
    """

    def __init__(self, server: str, key: str, ca_cert: Path | None = None,
                 retries: int = REMOTE_RETRIES, notice: Callable[[str], None] | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.server = server.rstrip("/")
        if not self.server.startswith(("http://", "https://")):
            raise RemoteError(f"--server must be an http:// or https:// URL, not {server!r}")
        self._retries = retries
        self._notice = notice
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.server, headers={"Authorization": f"Bearer {key}"}, transport=transport,
            timeout=httpx.Timeout(REMOTE_READ_TIMEOUT_SECONDS, connect=REMOTE_CONNECT_TIMEOUT_SECONDS),
            verify=_trust(ca_cert))

    def __enter__(self) -> "RemoteClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def post(self, path: str, body: Callable[[], Iterable[bytes]] | None = None, **request: Any) -> Any:
        """POST to `path` (httpx's `json=` or `content=`, or `body`: a new stream of the body's bytes for each
        attempt, sent as it is read), retrying a 429 after its Retry-After; the JSON answer.

        Raises:
            RemoteError: the server cannot be reached, does not answer in time, refuses the request (its status
                and message), or still answers 429 after the retries.
        """
        return self._send("POST", path, body, **request)

    def get(self, path: str, **request: Any) -> Any:
        """GET `path` (httpx's `params=`), retrying a 429 like `post`; the JSON answer.

        Raises:
            RemoteError: as `post`.
        """
        return self._send("GET", path, None, **request)

    def _send(self, method: str, path: str, body: Callable[[], Iterable[bytes]] | None, **request: Any) -> Any:
        for attempt in range(self._retries + 1):
            try:
                response = self._http.request(method, path, **request,
                                              **({} if body is None else {"content": body()}))
            except httpx.TimeoutException as exc:
                raise RemoteError(f"{self.server}: no answer to {method} {path} in time ({type(exc).__name__})"
                                  ) from exc
            except httpx.TransportError as exc:
                raise RemoteError(_unreachable(self.server, exc)) from exc
            if response.status_code == 429 and attempt < self._retries:
                wait = _retry_after(response)
                if wait is not None and wait <= REMOTE_MAX_RETRY_AFTER_SECONDS:
                    if self._notice:
                        self._notice(f"{self.server}: rate limited, retrying in {wait:g} s "
                                     f"({attempt + 1} of {self._retries})")
                    self._sleep(wait)
                    continue
            if response.is_success:
                return response.json()
            raise RemoteError(f"{self.server} refused {method} {path}: {response.status_code} {_message(response)}")
        raise AssertionError("unreachable: the last attempt returns or raises")


def _trust(ca_cert: Path | None) -> ssl.SSLContext | bool:
    """The system's CAs, or only `ca_cert` (a private CA's certificate, PEM)."""
    if ca_cert is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_cert))
    except (OSError, ssl.SSLError) as exc:
        raise RemoteError(f"cannot use --ca-cert {ca_cert}: {getattr(exc, 'strerror', None) or exc}") from exc


def _unreachable(server: str, exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (f"{server}: its TLS certificate is not trusted ({text}); pass --ca-cert with the certificate of "
                "the CA that signed it")
    return f"cannot reach {server}: {text}"


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (the service sends whole seconds), or None when absent or not a number."""
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def _message(response: httpx.Response) -> str:
    """The service's `{"error": message}`, else the start of whatever came back (a proxy's page)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return response.text[:200].strip() or response.reason_phrase
