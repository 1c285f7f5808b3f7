"""`GET /blocked`: the block page, answered with its status (403, or 451), no key needed.

The block host a blocked domain's DNS answer points to (response policy zones: a CNAME to the block host) shows
this page, so a person sent there learns why and where to get help instead of meeting a fake error
(urllist/block_page.py). Every blocked visitor gets the same page: nothing of the URL or the entry, and no audit
row (a visitor is not a caller of the API). `serve --block-page FILE` sets its wording.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter()


@router.get("/blocked", response_class=HTMLResponse, include_in_schema=False)
def blocked(request: Request) -> HTMLResponse:
    page = request.app.state.block_page
    return HTMLResponse(request.app.state.block_page_html, status_code=page.status,
                        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
