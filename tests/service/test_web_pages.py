"""The analysts' pages in process (both backends): who sees which page (redirect, 403, 404), the login form and its
cookie (never a key on /v1/), what each page shows, hostile text as text, the headers and policy, the audit rows.
The same pages in Chromium: test_web_browser.py."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest
from sqlalchemy import select

from hashwarden.store.identities import ROLES, create_agency, create_user
from hashwarden.store.schema import audit
from tests.service.conftest import Service
from tests.service.web_data import (CONFIRMED_SHA256, DISPUTED_SHA256, HOSTILE, INDICATIVE_SHA256, UNKNOWN_MD5,
                                    VICTIM_MEDIA_MD5, fill_pages)

ANALYST, CASES = ("analyst",), ("examiner", "analyst")
# Every page, who may see it (the API twin's roles).
PAGES = {"/ui/": ROLES, "/ui/stats": ANALYST, "/ui/grades/disputed": ANALYST, "/ui/series": ANALYST,
         "/ui/series/S-1": ANALYST, "/ui/victims": ANALYST, "/ui/victims/V-1": ANALYST, "/ui/cases": CASES,
         "/ui/cases/{case}": CASES}


@pytest.fixture
def web(service: Service) -> tuple[Service, int]:
    return service, fill_pages(service.engine)


def view(service: Service, path: str, key: str | None = None, **params: Any) -> Any:
    """GET a page as a browser holding `key` in the login cookie (none: not logged in)."""
    service.client.cookies.clear()
    headers = {"Cookie": f"hw_key={key}"} if key is not None else {}
    return service.client.get(path, headers=headers, params=params or None, follow_redirects=False)


def as_role(service: Service, path: str, role: str = "analyst", **params: Any) -> Any:
    return view(service, path, service.keys[role], **params)


def pages(case_id: int) -> dict[str, tuple[str, ...]]:
    return {path.format(case=case_id): roles for path, roles in PAGES.items()}


def test_each_page_for_each_role(web: tuple[Service, int]) -> None:
    service, case_id = web
    service.client.app.state.failed_auth.rate = 1e6  # a bad cookie a page: past the burst of failed keys
    for path, roles in pages(case_id).items():
        answer = view(service, path)
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/login", path
        assert "set-cookie" not in answer.headers  # nothing to forget
        for bad in ("hw_000000000000_x", service.revoked["analyst"]):
            answer = view(service, path, bad)
            assert answer.status_code == 303 and answer.headers["location"] == "/ui/login", path
            assert 'hw_key=""' in answer.headers["set-cookie"] and "Max-Age=0" in answer.headers["set-cookie"]
        for role in ROLES:
            answer = as_role(service, path, role)
            if role in roles:
                assert answer.status_code == 200, (path, role, answer.text)
            else:
                assert answer.status_code == 403, (path, role)
                assert "text/html" in answer.headers["content-type"] and "may not use this endpoint" in answer.text
            check_page(answer)


def test_another_agency_s_case_is_404_as_a_missing_one(web: tuple[Service, int]) -> None:
    service, case_id = web
    with service.engine.begin() as conn:
        create_agency(conn, "Force B")
        other = create_user(conn, "b-analyst", "Force B", "analyst")
    for path in (f"/ui/cases/{case_id}", f"/ui/cases/{case_id + 1000}"):
        answer = view(service, path, other if path.endswith(str(case_id)) else service.keys["analyst"])
        assert answer.status_code == 404 and "text/html" in answer.headers["content-type"]
        assert "CASE-WEB" not in answer.text
        check_page(answer)
    assert "CASE-WEB" not in view(service, "/ui/cases", other).text
    for path in ("/ui/series/NOPE", "/ui/victims/NOPE", "/ui/no-such-page"):
        answer = as_role(service, path)
        assert answer.status_code == 404 and "text/html" in answer.headers["content-type"], path


def test_a_bad_parameter_is_a_page_naming_it(web: tuple[Service, int]) -> None:
    service, _ = web
    for path, params, field in (("/ui/stats", {"since": "yesterday"}, "since"),
                                ("/ui/stats", {"set": "no-such-set"}, "set"), ("/ui/cases", {"limit": "0"}, "limit")):
        answer = as_role(service, path, **params)
        assert answer.status_code in (404, 422) and "text/html" in answer.headers["content-type"]
        assert field in answer.text
        check_page(answer)


def test_login_sets_the_cookie_and_logout_clears_it(web: tuple[Service, int]) -> None:
    service, _ = web
    client = service.client
    form = client.get("/ui/login")
    assert form.status_code == 200 and 'name="key"' in form.text and 'action="/ui/login"' in form.text
    check_page(form)
    answer = client.post("/ui/login", data={"key": service.keys["analyst"]}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"hw_key={service.keys['analyst']};")
    assert {"HttpOnly", "Path=/ui", "SameSite=strict"} <= {part.strip() for part in cookie.split(";")}
    assert "secure" not in cookie.lower()  # over http; over https: below
    client.cookies.clear()
    client.cookies.set("hw_key", service.keys["analyst"], path="/ui")
    assert client.get("/ui/stats").status_code == 200  # the cookie the browser keeps is the key on /ui/
    out = client.post("/ui/logout", follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert 'hw_key=""' in out.headers["set-cookie"] and "Path=/ui" in out.headers["set-cookie"]
    secure = client.post("https://testserver/ui/login", data={"key": service.keys["examiner"]},
                         follow_redirects=False)
    assert secure.status_code == 303 and "Secure" in secure.headers["set-cookie"]
    with service.engine.connect() as conn:
        rows = conn.execute(select(audit.c.actor, audit.c.details).where(audit.c.action == "service.request")).all()
    assert [(actor, '"POST /ui/login"' in details) for actor, details in rows] == [("analyst-user", True),
                                                                                   ("analyst-user", False),
                                                                                   ("examiner-user", True)]


def test_a_bad_key_shows_the_form_again_and_spends_a_failed_auth_token(web: tuple[Service, int]) -> None:
    service, _ = web
    bucket = service.client.app.state.failed_auth
    bucket.burst, bucket.rate = 2, 1e-6  # two failures allowed from this address
    answer = service.client.post("/ui/login", data={"key": "hw_000000000000_guess"}, follow_redirects=False)
    assert answer.status_code == 401 and "That key is not valid" in answer.text and 'name="key"' in answer.text
    assert "set-cookie" not in answer.headers
    check_page(answer)
    assert service.client.get("/v1/stats", headers={"Authorization": "Bearer nope"}).status_code == 401
    refused = service.client.post("/ui/login", data={"key": service.keys["analyst"]}, follow_redirects=False)
    assert refused.status_code == 429 and "retry-after" in refused.headers and "set-cookie" not in refused.headers
    check_page(refused)
    assert service.client.get("/v1/stats", headers={"Authorization": "Bearer nope"}).status_code == 429


def test_login_refuses_another_site_s_form_and_a_large_body(web: tuple[Service, int]) -> None:
    service, _ = web
    cross = service.client.post("/ui/login", data={"key": service.keys["analyst"]},
                                headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False)
    assert cross.status_code == 403 and "set-cookie" not in cross.headers
    assert service.client.post("/ui/logout", headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
    same = service.client.post("/ui/login", data={"key": service.keys["analyst"]},
                               headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False)
    assert same.status_code == 303
    large = service.client.post("/ui/login", data={"key": "x" * 5000}, follow_redirects=False)
    assert large.status_code == 413 and "set-cookie" not in large.headers
    json_key = service.client.post("/ui/login", json={"key": service.keys["analyst"]}, follow_redirects=False)
    assert json_key.status_code == 401  # only the form's encoding


def test_the_cookie_is_no_key_for_the_api(web: tuple[Service, int]) -> None:
    service, case_id = web
    cookie = {"Cookie": f"hw_key={service.keys['analyst']}"}
    for path in ("/v1/stats", "/v1/series", "/v1/grades", f"/v1/cases/{case_id}"):
        service.client.cookies.clear()
        answer = service.client.get(path, headers=cookie)
        assert answer.status_code == 401 and set(answer.json()) == {"error"}, path
    bearer = {"Authorization": f"Bearer {service.keys['analyst']}"}
    assert service.client.get("/v1/stats", headers=bearer).status_code == 200


def test_the_pages_are_not_in_the_openapi(service: Service) -> None:
    assert not [path for path in service.client.get("/openapi.json").json()["paths"] if path.startswith("/ui")]


def test_what_the_pages_show(web: tuple[Service, int]) -> None:
    service, case_id = web
    home = as_role(service, "/ui/", "examiner").text
    assert 'href="/ui/cases"' in home and 'href="/ui/stats"' not in home
    assert "reads no data" in as_role(service, "/ui/", "admin").text
    stats = as_role(service, "/ui/stats").text
    assert "Statistics: 2 graded media" in stats and stats.count("<svg") >= 2 and 'id="by-category"' in stats
    assert all(f'name="{name}"' in stats for name in ("scheme", "status", "since", "until", "set", "age_groups"))
    assert "Statistics: 1 graded media" in as_role(service, "/ui/stats", status="confirmed").text  # not disputed
    disputed = as_role(service, "/ui/grades/disputed").text
    assert DISPUTED_SHA256 in disputed and CONFIRMED_SHA256 not in disputed and INDICATIVE_SHA256 not in disputed
    assert disputed.count("reviewer-") == 3 and "Hotline A" in disputed
    series = as_role(service, "/ui/series").text
    assert 'href="/ui/series/S%2F2"' in series and 'href="/ui/victims/V-1"' in series
    one = as_role(service, "/ui/series/S-1").text
    assert "Beach series" in one and DISPUTED_SHA256 in one and 'href="/ui/victims/V-1"' in one
    assert "Second series" in as_role(service, "/ui/series/S%2F2").text
    victim = as_role(service, "/ui/victims/V-2").text
    assert VICTIM_MEDIA_MD5 in victim and "<dd>no</dd>" in victim
    identified = as_role(service, "/ui/victims/V-1").text
    assert "2021-03-04" in identified and 'href="/ui/series/S-1"' in identified
    cases = as_role(service, "/ui/cases", "examiner").text
    assert f'href="/ui/cases/{case_id}"' in cases and "CASE-WEB" in cases
    case = as_role(service, f"/ui/cases/{case_id}", "examiner").text
    assert "known.jpg" not in case  # unknown items only
    assert case.index("DCIM&#47;a.jpg") < case.index("Downloads&#47;c.jpg")  # the report's order
    assert UNKNOWN_MD5 in case and "Canon&#47;SN123" in case and "EOS 5D" in case
    assert "cluster: by near_duplicate, burst; cluster c1; count 1; items DCIM&#47;b.jpg" in case
    assert "future_kind: case 77; evidence same sha256; items x&#47;c.jpg" in case  # a kind the page does not know


def test_lists_page_with_a_next_link(web: tuple[Service, int]) -> None:
    service, case_id = web
    first = as_role(service, f"/ui/cases/{case_id}", limit="1").text
    assert "<h3>#2 DCIM&#47;a.jpg</h3>" in first and "#3 " not in first and "Downloads" not in first
    link = re.search(r'href="([^"]+)" rel="next"', first)
    assert link is not None
    second = as_role(service, link.group(1).replace("&amp;", "&").replace("&#47;", "/")).text
    assert "#2 " not in second and "<h3>#3 DCIM&#47;&lt;script&gt;" in second and "Downloads" not in second
    series = as_role(service, "/ui/series", limit="1").text
    assert "S-1" in series and "S%2F2" not in series and 'rel="next"' in series


def test_hostile_text_is_shown_as_text(web: tuple[Service, int]) -> None:
    service, case_id = web
    for path in ("/ui/series/S-1", "/ui/grades/disputed", f"/ui/cases/{case_id}"):
        answer = as_role(service, path)
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;&#47;script&gt;" in answer.text, path
        check_page(answer)


def test_page_views_are_audited_as_api_calls(web: tuple[Service, int]) -> None:
    service, case_id = web
    for path in ("/ui/stats", f"/ui/cases/{case_id}"):
        as_role(service, path)
    as_role(service, "/ui/stats", "examiner")  # refused: no row
    view(service, "/ui/stats")
    with service.engine.connect() as conn:
        rows = conn.execute(select(audit.c.actor, audit.c.details).where(audit.c.action == "service.request")
                            .order_by(audit.c.id)).all()
    assert [actor for actor, _ in rows] == ["analyst-user", "analyst-user"]
    assert '"endpoint":"GET /ui/stats"' in rows[0].details and '"items":2' in rows[0].details
    assert '"endpoint":"GET /ui/cases/{id}"' in rows[1].details and '"agency":"Hotline A"' in rows[1].details


def check_page(answer: Any) -> None:
    """What every page answer carries: the policy (as a header, and in the page with the hash of its one style
    block), the other headers, and no script, imagery or `data:` URI."""
    headers = answer.headers
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    policy = headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'none'", "img-src 'none'", "form-action 'self'",
                      "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in policy, directive
    if answer.status_code in (301, 302, 303):
        return
    page = answer.text
    style = re.findall(r"<style>(.*?)</style>", page, flags=re.S)
    assert len(style) == 1
    digest = base64.b64encode(hashlib.sha256(style[0].encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy
    assert f"style-src 'sha256-{digest}'" in re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"',
                                                      page).group(1)
    lowered = page.lower()
    assert "<script" not in lowered and "<img" not in lowered and not re.search(r"data:\S", lowered)
    assert " style=" not in lowered and "<iframe" not in lowered and "<link" not in lowered
    assert HOSTILE not in page and "@@" not in page  # every placeholder filled
