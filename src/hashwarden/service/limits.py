"""Request limits. For now the body size: a body above MAX_REQUEST_BYTES is refused with 413, before it is read
when its Content-Length says so, else as soon as the bytes received pass the limit (a chunked body cannot get
round it). Starlette's own body limit answers in plain text; every error of this API is `{"error": message}`.
Rate limits and timeouts (issue 17, item 6) are still to come here."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """ASGI middleware: at most `max_bytes` of request body."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return f"request body above {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"error": self._message()}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # raised inside the route: the app's handler answers in JSON
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited, send)
