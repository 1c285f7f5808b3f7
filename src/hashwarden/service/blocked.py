"""`GET /blocked`: the block page, answered with its status (403, or 451), no key needed.

The block host a blocked domain's DNS answer points to (response policy zones: a CNAME to the block host) shows
this page, so a person sent there learns why and where to get help instead of meeting a fake error
(urllist/block_page.py). Every blocked visitor gets the same page: nothing of the URL or the entry, and no audit
row (a visitor is not a caller of the API). `serve --block-page FILE` sets its wording.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

router = APIRouter()


@router.get("/blocked", response_class=HTMLResponse, include_in_schema=False)
def blocked(request: Request) -> HTMLResponse:
    page = request.app.state.block_page
    return HTMLResponse(request.app.state.block_page_html, status_code=page.status, headers=page.headers())


class BlockHosts:
    """ASGI middleware, outermost: a request for one of the block page's `hosts` (its Host header, port left out)
    is answered with the block page at any path and method, before any key is asked for. A browser a response
    policy zone sent there (a CNAME to the block host) asks for the blocked URL's own path, not `/blocked`."""

    def __init__(self, app: ASGIApp, hosts: tuple[str, ...], page: str, status: int, headers: dict[str, str]
                 ) -> None:
        self.app, self.hosts = app, frozenset(hosts)
        self.page, self.status, self.headers = page, status, headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.hosts:
            host = Headers(scope=scope).get("host", "").rsplit(":", 1)[0].rstrip(".").lower()
            if host in self.hosts:
                await HTMLResponse(self.page, status_code=self.status, headers=self.headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)
