"""`POST /v1/votes` and `GET /v1/grades` (issue 18): votes cast through the API are the votes `hashwarden grade`
casts (reviewer and agency from the key, never the body), refusals name the vote and field, a batch is all or
nothing, and the grades are `grading status --json`'s objects, paged."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from typer.testing import CliRunner

from hashwarden.cli import app
from hashwarden.service.votes import MAX_VOTES
from hashwarden.store.schema import audit, vote
from tests.service.conftest import Service

MEDIA = {"sha256": "a" * 64, "md5": "b" * 32}


def post(service: Service, body: object, role: str = "examiner"):
    return service.client.post("/v1/votes", json=body, headers={"Authorization": f"Bearer {service.keys[role]}"})


def get(service: Service, path: str, role: str = "analyst", **params: object):
    return service.client.get(path, params=params, headers={"Authorization": f"Bearer {service.keys[role]}"})


def votes_stored(service: Service) -> int:
    with service.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(vote)).scalar_one()


def test_votes_cast_through_the_api_appear_in_grading_status_with_the_keys_reviewer(service: Service,
                                                                                      monkeypatch) -> None:
    response = post(service, {"votes": [{**MEDIA, "category": "A", "age_band": "14-15", "sex": "female"},
                                        {"md5": "c" * 32, "scheme": "vics-us", "category": "1"}]})
    assert response.status_code == 201, response.text
    first, second = response.json()["votes"]
    assert first["media"] == "sha256:" + "a" * 64 and second["media"] == "md5:" + "c" * 32
    assert post(service, {"votes": [{"md5": "b" * 32, "category": "B"}]}, role="analyst").status_code == 201
    with service.engine.connect() as conn:
        rows = conn.execute(select(vote).order_by(vote.c.id)).mappings().all()
    assert [(row["reviewer"], row["agency"], row["source"]) for row in rows] == [
        ("examiner-user", "Hotline A", "service"), ("examiner-user", "Hotline A", "service"),
        ("analyst-user", "Hotline A", "service")]
    url = service.engine.url.render_as_string(hide_password=False)
    done = CliRunner().invoke(app, ["grading", "status", "--json", "--db", url])
    assert done.exit_code == 0, done.output
    printed = [json.loads(line) for line in done.output.splitlines()]
    graded = get(service, "/v1/grades").json()
    assert graded == {"grades": printed}  # the same objects as the command prints
    by_media = {g["media"]: g for g in printed}
    assert by_media["sha256:" + "a" * 64]["state"] == "disputed"  # A from the examiner, B from the analyst (by md5)
    assert by_media["sha256:" + "a" * 64]["md5"] == "b" * 32
    sides = by_media["sha256:" + "a" * 64]["sides"]
    assert [(v["reviewer"], v["agency"]) for v in sides["A"]] == [("examiner-user", "Hotline A")]


def test_a_body_naming_a_reviewer_or_agency_is_refused(service: Service) -> None:
    for extra in ({"reviewer": "someone-else"}, {"agency": "Hotline B"}, {"source": "cli"}):
        response = post(service, {"votes": [{**MEDIA, "category": "A", **extra}]})
        assert response.status_code == 422 and "unknown field" in response.json()["error"], extra
    response = post(service, {"votes": [{**MEDIA, "category": "A"}], "reviewer": "someone-else"})
    assert response.status_code == 422
    assert votes_stored(service) == 0


def test_a_refused_vote_is_named_by_position_and_field_and_the_batch_is_not_kept(service: Service) -> None:
    good = {**MEDIA, "category": "A"}
    for bad, field in (({"md5": "d" * 32, "category": "Z"}, "category"),
                       ({"md5": "d" * 32, "category": "A", "age_band": "old"}, "age_band"),
                       ({"md5": "d" * 32, "category": "A", "scheme": "nope"}, "scheme"),
                       ({"category": "A"}, "hash"),
                       ({"md5": "b" * 32, "sha256": "e" * 64, "category": "A"}, None)):  # contradicts vote 0
        response = post(service, {"votes": [good, bad]})
        assert response.status_code == 422, (bad, response.text)
        message = response.json()["error"]
        assert message.startswith("votes.1: " + (f"field {field}:" if field else "")), message
    response = post(service, {"votes": [{"md5": "xyz", "category": "A"}]})  # the schema's hex pattern
    assert response.status_code == 422 and "votes.0.md5" in response.json()["error"]
    assert votes_stored(service) == 0


def test_a_batch_is_bounded_and_counted_in_the_request_audit_row(service: Service) -> None:
    too_many = [{"md5": f"{i:032x}", "category": "A"} for i in range(MAX_VOTES + 1)]
    assert post(service, {"votes": too_many}).status_code == 422
    assert post(service, {"votes": []}).status_code == 422
    assert post(service, {"votes": too_many[:3]}).status_code == 201
    with service.engine.connect() as conn:
        rows = [json.loads(row.details) for row in conn.execute(select(audit).where(
            audit.c.action == "service.request").order_by(audit.c.id))]
        vote_rows = conn.execute(select(func.count()).select_from(audit).where(audit.c.action == "grade.vote")).scalar()
    assert rows[-1]["endpoint"] == "POST /v1/votes" and rows[-1]["votes"] == 3 and rows[-1]["outcome"] == "ok"
    assert vote_rows == 3  # each vote audited by cast_votes
    assert "hash" not in json.dumps(rows[-1]) and "f" * 10 not in json.dumps(rows[-1])


def test_a_second_vote_supersedes_the_reviewers_first(service: Service) -> None:
    assert post(service, {"votes": [{**MEDIA, "category": "A"}]}).status_code == 201
    assert post(service, {"votes": [{"sha256": "a" * 64, "category": "C"}]}).status_code == 201
    (graded,) = get(service, "/v1/grades").json()["grades"]
    assert graded["category"] == "C" and graded["votes"] == 1 and graded["state"] == "indicative"


def test_grades_filter_by_state_and_page(service: Service) -> None:
    batch = [{"md5": f"{i:032x}", "category": "A"} for i in range(5)]
    assert post(service, {"votes": batch}).status_code == 201
    other = [{"md5": f"{1:032x}", "category": "B"}, {"md5": f"{0:032x}", "scheme": "vics-us", "category": "2"}]
    assert post(service, {"votes": other}, role="analyst").status_code == 201
    everything = get(service, "/v1/grades").json()
    assert len(everything["grades"]) == 6 and "next" not in everything
    pages, after = [], None
    while True:
        page = get(service, "/v1/grades", limit=4, **({"after": after} if after else {})).json()
        pages += page["grades"]
        after = page.get("next")
        if after is None:
            break
    assert pages == everything["grades"]
    assert [(g["media"], g["scheme"]) for g in pages][:2] == [("md5:" + "0" * 32, "uk-sentencing"),
                                                             ("md5:" + "0" * 32, "vics-us")]
    disputed = get(service, "/v1/grades", disputed="true").json()["grades"]
    assert [g["media"] for g in disputed] == ["md5:" + f"{1:032x}"]
    assert get(service, "/v1/grades", state="disputed").json()["grades"] == disputed
    assert len(get(service, "/v1/grades", state="indicative").json()["grades"]) == 5
    assert get(service, "/v1/grades", state="confirmed").json() == {"grades": []}
    assert get(service, "/v1/grades", state="nonsense").status_code == 422
    assert get(service, "/v1/grades", role="examiner").status_code == 403
