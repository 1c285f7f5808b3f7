"""How every analysts' page is drawn and answered: one layout, one style block, the security headers.

A page is built as the case report and stats.html are (report/page.py): `PAGE_HEAD` with its policy, every value
through `text`, one style block allowed by its hash, no script, no imagery (no `<img>`, no `data:` URI: the pages
show hashes and judgements only). Served, the policy is also a header, with what a `<meta>` policy cannot say
(`frame-ancestors 'none'`: no other site frames a page to trick a click), and forms may post only to the service
itself (`form-action 'self'`: the login form, the logout button, the statistics filter). Every answer here is
`no-store` (pages hold case data and must not stay in a shared cache or the browser's), `nosniff`, no referrer.

No FastAPI here: the gatekeeper (service/auth.py) answers a refused page with `refusal`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.responses import HTMLResponse, RedirectResponse, Response

from hashwarden.report.page import PAGE_HEAD, csp, fill_page, text
from hashwarden.store.identities import Identity

UI_PREFIX = "/ui/"  # the pages' paths: the only ones where KEY_COOKIE is a key (service/auth.py)
KEY_COOKIE = "hw_key"  # the key the login form keeps in the browser (HttpOnly, SameSite=Strict, Path=/ui)
LOGIN_PATH = "/ui/login"
HOME_PATH = "/ui/"
COOKIE_PATH = "/ui"

_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY"}

CSS = """
:root { color-scheme: light; --line: #d0d4da; --muted: #5f6670; --bg-alt: #f5f6f8; --accent: #2451c9; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #16191d; }
header.bar { display: flex; flex-wrap: wrap; gap: .4em 1em; align-items: center; padding: .5em 1em;
  background: #1f2a44; color: #fff; }
header.bar a { color: #fff; }
header.bar .who { margin-left: auto; font-size: .9em; }
header.bar form { margin: 0; }
nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .3em 1em; }
main { padding: 0 1em 2em; max-width: 80em; }
h1 { font-size: 1.4em; margin: .8em 0 .3em; }
h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
h3 { font-size: 1em; margin: .8em 0 .3em; }
a { color: var(--accent); }
.muted { color: var(--muted); }
.error { color: #b3261e; font-weight: 600; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--bg-alt); font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.hash { font-family: ui-monospace, monospace; font-size: .85em; overflow-wrap: anywhere; }
.cc { font-size: .8em; border: 1px solid var(--line); padding: 0 2px; }
section, article { margin-bottom: 1.5em; }
article { border: 1px solid var(--line); border-radius: 4px; padding: .5em .8em; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; margin: .4em 0; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
ul.leads, ul.sides, ul.sides ul { margin: .2em 0; padding-left: 1.2em; }
ul.sides li { overflow-wrap: anywhere; }
form.login label, form.filter label { display: block; margin: .5em 0 .2em; }
input[type=password], input[type=text] { width: 100%; max-width: 32em; padding: .4em; font: inherit; }
form.filter { display: flex; flex-wrap: wrap; gap: .2em 1em; align-items: flex-end; }
form.filter input { width: 12em; }
button { font: inherit; padding: .3em .9em; margin-top: .5em; }
header.bar button { margin: 0; }
.pager { margin: 1em 0; }
"""


def page(title: str, body: str, identity: Identity | None = None, nav: Iterable[tuple[str, str]] = (),
         css: str = "", status: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """The page `title` with `body` (HTML; its values already through `text`), the bar with `nav` (path, label)
    and the caller, and `css` after the shared style (a chart's): answered with its policy and headers."""
    style = CSS + css
    bar = ""
    if identity is not None:
        links = "".join(f'<li><a href="{path}">{text(label)}</a></li>' for path, label in nav)
        bar = (f'<header class="bar"><nav><ul><li><a href="{HOME_PATH}">hashwarden</a></li>{links}</ul></nav>'
               f'<span class="who">{text(identity.user)} ({text(identity.agency)}, {text(identity.role)})</span>'
               '<form method="post" action="/ui/logout"><button type="submit">Log out</button></form></header>')
    policy = csp(style, form_action="'self'")
    html = fill_page(PAGE_HEAD + "<body>\n@@BAR@@\n<main>\n<h1>@@HEADING@@</h1>\n@@BODY@@\n</main>\n</body>\n</html>\n",
                     {"CSP": policy, "CSS": style, "TITLE": f"hashwarden: {text(title)}", "HEADING": text(title),
                      "BAR": bar, "BODY": body})
    return HTMLResponse(html, status_code=status, headers={**security_headers(policy), **(headers or {})})


def security_headers(policy: str) -> dict[str, str]:
    """The headers of every answer under /ui/: the page's policy (with `frame-ancestors`, which only a header can
    carry) and the rest of `_HEADERS`."""
    return {"Content-Security-Policy": policy + "; frame-ancestors 'none'", **_HEADERS}


def redirect(path: str) -> RedirectResponse:
    """303 to `path` (a page after a form's POST, or the login form), with the pages' headers."""
    return RedirectResponse(path, status_code=303, headers=security_headers("default-src 'none'"))


def refusal(status: int, message: str, headers: Mapping[str, str] | None = None, had_key: bool = False) -> Response:
    """A page refused: no valid key (401) goes to the login form (forgetting a cookie that holds a bad key);
    anything else is a page saying why, with the status and its headers (`Retry-After`)."""
    if status == 401:
        answer = redirect(LOGIN_PATH)
        if had_key:
            forget_key(answer)
        return answer
    shown = {key: value for key, value in (headers or {}).items() if key.lower() != "www-authenticate"}
    return page(f"{status}: refused" if status < 500 else f"{status}: failed",
                f'<p class="error">{text(message)}</p><p><a href="{HOME_PATH}">Back to the start page</a></p>',
                status=status, headers=shown)


def forget_key(response: Response) -> None:
    """Delete the login cookie in the browser (service/auth.py `KEY_COOKIE`)."""
    response.delete_cookie(KEY_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def table(headings: Iterable[str], rows: Iterable[Iterable[str]], numeric: Iterable[int] = ()) -> str:
    """A table in a scrolling box (phone screens): `headings` as text, `rows` of cells already HTML."""
    right = set(numeric)
    head = "".join(f"<th>{text(heading)}</th>" for heading in headings)
    body = "".join("<tr>" + "".join(f'<td class="num">{cell}</td>' if n in right else f"<td>{cell}</td>"
                                    for n, cell in enumerate(row)) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def hashes(found: Mapping[str, Any]) -> str:
    """A media's hashes (name: hex), each on a line of its own."""
    return "<br>".join(f'<span class="hash">{text(name)} {text(value)}</span>' for name, value in found.items()
                       if value)


def fields(values: Mapping[str, Any]) -> str:
    """Labelled values as a description list (text, `-` for none)."""
    return "<dl>" + "".join(f"<dt>{text(label)}</dt><dd>{text(value if value not in (None, '') else '-')}</dd>"
                            for label, value in values.items()) + "</dl>"


def next_link(path: str, params: Mapping[str, Any]) -> str:
    """The link to a list's next page (the list's own query parameters and its cursor)."""
    query = urlencode({key: value for key, value in params.items() if value is not None})
    return f'<p class="pager"><a href="{text(path)}?{text(query)}" rel="next">Next page</a></p>'
