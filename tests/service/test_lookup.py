"""`POST /v1/lookup` (issue 17): the contract's shapes, the same answers as `hashwarden match` on the same hashes,
the batch and body limits, and the audit row it leaves (who and how many, never the hashes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from hashwarden.cli import app as cli_app
from hashwarden.config import MAX_LOOKUP_ITEMS, MAX_REQUEST_BYTES
from hashwarden.service.lookup import LookupResponse
from hashwarden.store.schema import audit
from tests.service.conftest import DIGEST_ONLY, Service

# The fields the contract allows in a match (`transform` says which dihedral form of a PDQ matched).
MATCH_FIELDS = {"set", "kind", "method", "distance", "transform", "category", "entry"}


def queries(service: Service) -> list[dict[str, Any]]:
    """Hash lines as `hashwarden hash --dihedral` writes them: exact hits by each digest alone, misses, the
    rotated copy with its 8 forms and without them, the known PDQ at a quality below 50, an unrelated PDQ."""
    known, turned, other = service.known, service.turned, service.other
    return [
        {"md5": known["md5"]}, {"sha1": known["sha1"]}, {"sha256": known["sha256"].upper()},
        {"md5": DIGEST_ONLY["md5"]}, {"md5": "0" * 32}, {"sha256": "f" * 64},
        {"pdq": turned["pdq"], "pdq_quality": turned["pdq_quality"], "pdq_dihedral": turned["pdq_dihedral"]},
        {"pdq": turned["pdq"], "pdq_quality": turned["pdq_quality"]},
        {"pdq": known["pdq"], "pdq_quality": 10},
        {"pdq": other["pdq"], "pdq_quality": other["pdq_quality"], "pdq_dihedral": other["pdq_dihedral"]},
        {"md5": known["md5"], "pdq": known["pdq"]},
    ]


def as_lookup_item(line: dict[str, Any]) -> dict[str, Any]:
    return {("quality" if key == "pdq_quality" else key): value for key, value in line.items()}


def match_command(service: Service, lines: list[dict[str, Any]], tmp_path: Path) -> list[list[dict[str, Any]]]:
    """What `hashwarden match` says about the lines, run as the command on the service's store."""
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    url = service.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli_app, ["match", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"),
                                          "--quiet", "--db", url])
    assert result.exit_code == 0, result.output
    return [json.loads(line)["matches"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]


def test_lookup_answers_as_hashwarden_match_does(service: Service, tmp_path: Path) -> None:
    lines = queries(service)
    expected = match_command(service, lines, tmp_path)
    response = service.post("/v1/lookup", {"items": [as_lookup_item(line) for line in lines]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(lines)))
    shown = [[{k: v for k, v in m.items() if k in MATCH_FIELDS and v is not None} for m in matches]
             for matches in expected]
    assert [r["matches"] for r in results] == shown
    # sent without FastAPI's validation against the response model (lookup.py): it must be that model's answer
    assert LookupResponse.model_validate(response.json()).model_dump(exclude_none=True) == response.json()
    # and what that is, so that an answer both got wrong the same way cannot pass
    methods = [[m["method"] for m in r["matches"]] for r in results]
    assert methods == [["md5"], ["sha1"], ["sha256"], ["md5"], [], [], ["pdq"], [], [], [], ["md5"]]
    (turned,) = results[6]["matches"]
    assert turned["transform"] in ("rot90", "rot270") and turned["distance"] <= 31 and turned["category"] == "A"
    assert results[3]["matches"][0]["category"] == "B"
    assert expected[0][0]["series"] == "series-1"  # the command shows the series; the API does not


def test_the_contract_shapes_exactly(service: Service) -> None:
    response = service.post("/v1/lookup", {"items": [
        {"sha256": service.known["sha256"]}, {"pdq": service.known["pdq"], "quality": 90}, {"md5": "0" * 32}]})
    assert response.status_code == 200 and set(response.json()) == {"results"}
    exact, near, miss = response.json()["results"]
    assert set(exact) == {"index", "matches"} and exact["index"] == 0
    assert exact["matches"] == [{"set": "known", "kind": "alert", "method": "sha256", "category": "A",
                                 "entry": exact["matches"][0]["entry"]}]
    assert isinstance(exact["matches"][0]["entry"], int)
    assert near["matches"] == [{"set": "known", "kind": "alert", "method": "pdq", "distance": 0,
                                "transform": "orig", "category": "A", "entry": exact["matches"][0]["entry"]}]
    assert miss == {"index": 2, "matches": []}


def test_malformed_items_are_422_with_a_json_error(service: Service) -> None:
    for body in ({"items": [{"md5": "xyz"}]}, {"items": [{"pdq": "a" * 63}]}, {"items": [{}]},
                 {"items": [{"md5": "0" * 32, "colour": "red"}]}, {"items": [{"quality": 80}]},
                 {"items": [{"pdq": "a" * 64, "quality": 101}]}, {"items": "md5"}, {}):
        response = service.post("/v1/lookup", body)
        assert response.status_code == 422, body
        assert set(response.json()) == {"error"} and response.json()["error"], body
    with service.engine.connect() as conn:  # an authenticated caller's refused request is on the record too
        rows = [json.loads(row.details) for row in conn.execute(
            select(audit.c.details).where(audit.c.action == "service.request"))]
    assert rows == [{"agency": "Hotline A", "role": "matcher", "endpoint": "POST /v1/lookup", "outcome": "error"}] * 8


def test_batch_limit(service: Service) -> None:
    at_limit = {"items": [{"md5": f"{i:032x}"} for i in range(MAX_LOOKUP_ITEMS)]}
    response = service.post("/v1/lookup", at_limit)
    assert response.status_code == 200 and len(response.json()["results"]) == MAX_LOOKUP_ITEMS
    at_limit["items"].append({"md5": "0" * 32})
    refused = service.post("/v1/lookup", at_limit)
    assert refused.status_code == 422 and "items" in refused.json()["error"]


def test_a_body_above_the_size_limit_is_413(service: Service) -> None:
    body = b'{"items": [{"md5": "' + b"0" * MAX_REQUEST_BYTES + b'"}]}'
    response = service.client.post("/v1/lookup", content=body, headers={
        "Authorization": f"Bearer {service.keys['matcher']}", "Content-Type": "application/json"})
    assert response.status_code == 413 and set(response.json()) == {"error"}
    chunked = service.client.post("/v1/lookup", content=(body[i:i + (1 << 20)] for i in range(0, len(body), 1 << 20)),
                                  headers={"Authorization": f"Bearer {service.keys['matcher']}",
                                           "Content-Type": "application/json"})
    assert chunked.status_code == 413 and set(chunked.json()) == {"error"}  # no Content-Length to go by


def test_each_lookup_is_audited_without_its_hashes(service: Service) -> None:
    miss = "0123456789abcdef" * 2
    items = [{"sha256": service.known["sha256"]}, {"md5": miss}, {"pdq": service.known["pdq"], "quality": 90}]
    for role in ("matcher", "analyst"):
        assert service.post("/v1/lookup", {"items": items}, role=role).status_code == 200
    with service.engine.connect() as conn:
        rows = conn.execute(select(audit).where(audit.c.action == "service.request").order_by(audit.c.id)).all()
    assert [(row.actor, json.loads(row.details)) for row in rows] == [
        (f"{role}-user", {"agency": "Hotline A", "role": role, "endpoint": "POST /v1/lookup", "outcome": "ok",
                          "items": 3, "matches": 2}) for role in ("matcher", "analyst")]
    with service.engine.connect() as conn:
        logged = " ".join(row.details for row in conn.execute(select(audit.c.details)))
    for value in (service.known["sha256"], service.known["pdq"], miss):
        assert value not in logged
    for key in service.keys.values():  # nor the keys the requests came with
        assert key.split("_", 2)[2] not in logged
