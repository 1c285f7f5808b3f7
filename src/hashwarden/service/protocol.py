"""uvicorn's HTTP/1.1 protocol (h11) with a bound on the time a client takes to send a request's headers.

uvicorn (0.55) arms no timer when a connection opens, and its keep-alive timer is cancelled by the first byte of
the next request: a client sending its headers a byte at a time ("slowloris") holds the connection, its buffers and
a file descriptor for as long as it likes, and enough of them exhaust the process's descriptors. Here a connection
waiting for request headers, when it opens and again after each answer, is closed if they are not complete within
`header_timeout_seconds`; once they are, the body-read timeout takes over (limits.BodyLimit).

`hashwarden serve` names this class for uvicorn (`http=`), which imports it in each worker; the timeout comes from
$HASHWARDEN_SERVICE_LIMITS, which `serve` sets for its workers (the default without it).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from hashwarden.config import ENV_SERVICE_LIMITS, ServiceLimits


@functools.cache
def header_timeout() -> float:
    return ServiceLimits(**json.loads(os.environ.get(ENV_SERVICE_LIMITS, "{}"))).header_timeout_seconds


class HeaderTimeoutProtocol(H11Protocol):
    """H11Protocol that closes a connection whose request headers are not complete in time."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the headers are in (or the connection failed)
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:  # waiting for the next request
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(header_timeout(), self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.info("closed a connection whose request headers took over %g s", header_timeout())
            self.transport.close()
