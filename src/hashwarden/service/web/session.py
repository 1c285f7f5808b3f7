"""The pages' login: a form asking for the API key, which it keeps in a cookie for the pages (/ui) only.

`POST /ui/login` checks the key as the gatekeeper checks a Bearer key (`auth.authenticate_key`: a bad key spends a
token of the address's failed-authentication bucket, none left is 429), then sets `KEY_COOKIE`: HttpOnly (no
script reads it; the pages have none anyway), SameSite=Strict (a page of another site that links or posts here
does not send it), Path=/ui, Secure when the request came over https. The gatekeeper takes it as the key on /ui/
paths only, never on /v1/: an API call is authenticated by its Bearer header alone, which a browser never adds by
itself. CSRF: every page is a GET that changes nothing, and the two POSTs (login, logout) refuse a request the
browser marks as coming from another site (`Sec-Fetch-Site`), so another site cannot log a browser into its own key.

The form is read from the body by hand (URL-encoded, at most `MAX_FORM_BYTES`): a key is some 80 characters.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from starlette.responses import Response

from hashwarden.service.auth import Refusal, authenticate_key, record_request
from hashwarden.report.page import text
from hashwarden.service.web.html import (COOKIE_PATH, HOME_PATH, KEY_COOKIE, LOGIN_PATH, forget_key, page, redirect,
                                         refusal)

router = APIRouter(include_in_schema=False)

MAX_FORM_BYTES = 2048  # the login form: one key of ~80 characters, URL-encoded
_FORM = "application/x-www-form-urlencoded"


@router.get(LOGIN_PATH)
def login_form() -> Response:
    """The form asking for the key."""
    return _form()


@router.post(LOGIN_PATH)
async def login(request: Request) -> Response:
    """Check the key sent; on a valid one keep it in the cookie and go to the start page (303), else the form
    again saying why (401), or the refusal (403 another site's form, 413 a body too large, 429 too many failures)."""
    if _cross_site(request):
        return refusal(403, "a login from another site's page is refused")
    body = await _body(request)
    if body is None:
        return refusal(413, f"the login form takes at most {MAX_FORM_BYTES} bytes")
    key = _field(body, "key") if request.headers.get("content-type", "").startswith(_FORM) else ""
    identity = await authenticate_key(request.scope, key, request.app.state.failed_auth)
    if isinstance(identity, Refusal):
        if identity.status == 401:
            return _form("That key is not valid (unknown, revoked or mistyped).", status=401)
        return refusal(identity.status, identity.message, identity.headers)
    await record_request(request.app.state, identity, f"POST {LOGIN_PATH}", "ok", {})
    answer = redirect(HOME_PATH)
    answer.set_cookie(KEY_COOKIE, key, path=COOKIE_PATH, httponly=True, samesite="strict",
                      secure=request.url.scheme == "https")
    return answer


@router.post("/ui/logout")
def logout(request: Request) -> Response:
    """Forget the key in the browser and go back to the form."""
    if _cross_site(request):
        return refusal(403, "a logout from another site's page is refused")
    answer = redirect(LOGIN_PATH)
    forget_key(answer)
    return answer


def _form(error: str | None = None, status: int = 200) -> Response:
    shown = f"<p class=\"error\" role=\"alert\">{text(error)}</p>" if error else ""
    return page("Log in", f"""{shown}
<p>Pages for analysts and examiners: statistics, the disputed grades, series and victims, a case's leads. Hashes and
judgements only: these pages never contain imagery.</p>
<form class="login" method="post" action="{LOGIN_PATH}">
<label for="key">API key (from <code>hashwarden user create</code>)</label>
<input type="password" id="key" name="key" autocomplete="off" required>
<button type="submit">Log in</button>
</form>""", status=status)


def _cross_site(request: Request) -> bool:
    """Whether the browser says the request comes from another site's page (a client that is not a browser sends
    no such header: it can send any key it has anyway)."""
    return request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none")


async def _body(request: Request) -> bytes | None:
    """The body, or None when it is longer than MAX_FORM_BYTES (read no further than that)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    return body


def _field(body: bytes, name: str) -> str:
    try:
        values = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
    except ValueError:  # more fields than the form has
        return ""
    return (values.get(name) or [""])[0].strip()
