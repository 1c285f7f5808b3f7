"""`GET /v1/stats`: the object `hashwarden stats --json` prints, for analysts, its parameters checked (on both
backends)."""

from __future__ import annotations

import json
import subprocess
import sys

from hashwarden.grading.stats import StatsQuery, compute_stats, parse_age_groups
from hashwarden.grading.votes import cast_votes
from hashwarden.store.records import Vote
from tests.grading.test_stats import vote_all
from tests.service.conftest import Service


def get(service: Service, role: str = "analyst", **params: str):  # noqa: ANN201 - an httpx response
    return service.client.get("/v1/stats", params=params, headers={"Authorization": f"Bearer {service.keys[role]}"})


def test_the_answer_is_the_library_s(service: Service) -> None:
    vote_all(service.engine, [{"category": "A", "age_band": "14-15", "sex": "female"},
                              {"category": "B", "age_band": "7-10", "capture_device": "webcam"}])
    vote_all(service.engine, [{"category": "C"}], reviewers=("one",), start=2)
    answer = get(service, age_groups="0-10,11-15")
    assert answer.status_code == 200
    with service.engine.connect() as conn:
        expected = compute_stats(conn, StatsQuery(age_groups=parse_age_groups("0-10,11-15")))
    assert answer.json() == json.loads(json.dumps(expected))
    assert answer.json()["total"] == 3 and answer.json()["by_age_group"]["0-10"]["total"] == 1
    assert get(service, status="confirmed").json()["total"] == 2
    assert get(service, since="2999-01-01").json()["total"] == 0


def test_refused_parameters_are_named(service: Service) -> None:
    for params, status, field in (({"age_groups": "0-12"}, 422, "age_groups"), ({"since": "yesterday"}, 422, "since"),
                                  ({"status": "agreed"}, 422, "status"), ({"scheme": "nope"}, 422, "scheme"),
                                  ({"set": "no-such-set"}, 404, "set")):
        answer = get(service, **params)
        assert answer.status_code == status and answer.json()["error"].startswith(f"field {field}:"), params


def test_the_known_set_restricts_and_names_its_series(service: Service) -> None:
    """The conftest's set `known` holds the known image, series "series-1"."""
    known = service.known
    vote_all(service.engine, [{"category": "A"}])  # a media outside the set
    with service.engine.begin() as conn:
        cast_votes(conn, [Vote(scheme="uk-sentencing", category="A", reviewer=f"r{n}", md5=known["md5"])
                          for n in range(3)])
    whole, in_set = get(service).json(), get(service, set="known").json()
    assert whole["total"] == 2 and in_set["total"] == 1
    assert set(in_set["by"]["series"]) == {"series-1"}


def test_the_cli_prints_the_same_object(service: Service, tmp_path) -> None:  # noqa: ANN001
    vote_all(service.engine, [{"category": "B"}])
    url = service.engine.url.render_as_string(hide_password=False)
    printed = subprocess.run([sys.executable, "-m", "hashwarden", "--db", url, "stats", "--json"],
                             capture_output=True, text=True, check=True).stdout
    assert json.loads(printed) == get(service).json()
