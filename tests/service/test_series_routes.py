"""`GET/POST /v1/series`, `GET/POST /v1/victims` and their links (issue 18): the same records and refusals as
`hashwarden series|victim ...` (one implementation), 404 for an unknown code, 409 for a duplicate, codes and
flags only."""

from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from hashwarden.cli import app
from hashwarden.store.schema import audit
from tests.service.conftest import DIGEST_ONLY, Service

MEDIA = {"sha256": "a" * 64, "md5": "b" * 32}


def post(service: Service, path: str, body: object, role: str = "analyst"):
    return service.client.post(path, json=body, headers={"Authorization": f"Bearer {service.keys[role]}"})


def get(service: Service, path: str, role: str = "analyst", **params: object):
    return service.client.get(path, params=params, headers={"Authorization": f"Bearer {service.keys[role]}"})


def cli_list(service: Service, what: str) -> list[dict]:
    url = service.engine.url.render_as_string(hide_password=False)
    done = CliRunner().invoke(app, [what, "list", "--json", "--db", url])
    assert done.exit_code == 0, done.output
    return [json.loads(line) for line in done.output.splitlines()]


def test_create_link_and_list_as_the_commands_show_them(service: Service) -> None:
    made = post(service, "/v1/series", {"code": "S/0042", "name": "Blue room", "agency": "NCA"})
    assert made.status_code == 201, made.text
    assert made.json()["code"] == "S/0042" and made.json()["media"] == 0
    victim = post(service, "/v1/victims", {"code": "V-7", "identified": True, "agency": "NCA", "date": "2026-03-01"})
    assert victim.status_code == 201 and victim.json()["identified"] is True
    linked = post(service, "/v1/series/S/0042/links", MEDIA)
    assert linked.status_code == 200 and linked.json() == {"linked": [{"media": "sha256:" + "a" * 64, "new": True}]}
    again = post(service, "/v1/series/S/0042/links", MEDIA)  # linking twice: no error, nothing written
    assert again.json() == {"linked": [{"media": "sha256:" + "a" * 64, "new": False}]}
    by_set = post(service, "/v1/series/S/0042/links", {"set": "known", **{"md5": DIGEST_ONLY["md5"]}})
    assert by_set.status_code == 200 and [link["new"] for link in by_set.json()["linked"]] == [True]
    assert post(service, "/v1/victims/V-7/links", {"series": "S/0042"}).json() == {"series": "S/0042", "new": True}
    assert post(service, "/v1/victims/V-7/links", {"md5": "c" * 32}).json() == {"media": "md5:" + "c" * 32,
                                                                                  "new": True}
    series = get(service, "/v1/series").json()
    assert series == {"series": cli_list(service, "series")}
    assert series["series"][0]["media"] == 2 and series["series"][0]["victims"] == ["V-7"]
    victims = get(service, "/v1/victims").json()
    assert victims == {"victims": cli_list(service, "victim")}
    assert victims["victims"][0]["series"] == ["S/0042"] and victims["victims"][0]["media"] == 1
    with service.engine.connect() as conn:
        actions = [row.action for row in conn.execute(select(audit.c.action).order_by(audit.c.id))]
    assert [a for a in actions if a.startswith(("series.", "victim."))] == [
        "series.create", "victim.create", "series.link", "series.link", "victim.link", "victim.link"]


def test_unknown_codes_are_404_and_duplicates_409(service: Service) -> None:
    assert post(service, "/v1/series", {"code": "S-1"}).status_code == 201
    assert post(service, "/v1/victims", {"code": "V-1"}).status_code == 201
    for path, body in (("/v1/series", {"code": "S-1"}), ("/v1/victims", {"code": "V-1"})):
        response = post(service, path, body)
        assert response.status_code == 409 and "exists" in response.json()["error"]
    for path, body in (("/v1/series/S-9/links", MEDIA), ("/v1/victims/V-9/links", {"series": "S-1"}),
                       ("/v1/victims/V-1/links", {"series": "S-9"}),
                       ("/v1/series/S-1/links", {"set": "no-such-set"})):
        response = post(service, path, body)
        assert response.status_code == 404 and set(response.json()) == {"error"}, (path, body, response.text)


def test_refusals_name_the_field(service: Service) -> None:
    assert post(service, "/v1/series", {"code": "S-1"}).status_code == 201
    assert post(service, "/v1/victims", {"code": "V-1"}).status_code == 201
    for path, body, field in (
            ("/v1/series", {"code": "-bad"}, "code"),
            ("/v1/victims", {"code": "V-2", "date": "2026-03-01"}, "identified"),
            ("/v1/victims", {"code": "V-2", "identified": True, "date": "2999-01-01"}, "date"),
            ("/v1/victims/V-1/links", {"series": "S-1", "md5": "b" * 32}, "series"),
            ("/v1/victims/V-1/links", {}, "series"),
            ("/v1/series/S-1/links", {}, "hash")):
        response = post(service, path, body)
        assert response.status_code == 422 and response.json()["error"].startswith(f"field {field}:"), (
            path, body, response.text)
    for path, body in (("/v1/victims", {"code": "V-3", "name": "a person's name"}),  # codes and flags only
                       ("/v1/victims", {"code": "V-3", "date_of_birth": "2010-01-01"}),
                       ("/v1/series/S-1/links", {"md5": "not-hex"})):
        response = post(service, path, body)
        assert response.status_code == 422, (path, body)
    assert [v["code"] for v in get(service, "/v1/victims").json()["victims"]] == ["V-1"]


def test_the_lists_page_by_code_for_analysts_only(service: Service) -> None:
    for code in ("b", "A", "c", "a"):
        assert post(service, "/v1/series", {"code": code}).status_code == 201
    first = get(service, "/v1/series", limit=3).json()
    assert [s["code"] for s in first["series"]] == ["A", "a", "b"] and first["next"] == "b"
    rest = get(service, "/v1/series", limit=3, after="b").json()
    assert [s["code"] for s in rest["series"]] == ["c"] and "next" not in rest
    for role in ("matcher", "examiner", "admin"):
        assert get(service, "/v1/series", role=role).status_code == 403
        assert post(service, "/v1/victims", {"code": "V-9"}, role=role).status_code == 403
