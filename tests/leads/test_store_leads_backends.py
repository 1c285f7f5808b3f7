"""The store's side of leads across cases on both backends: the columns a case item is searched by (migration
0012, filled for items stored before it), and series and cross-case leads read through them."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import select

from hashwarden.grading.votes import cast_votes
from hashwarden.leads.across import add_store_leads
from hashwarden.store import open_store
from hashwarden.store.cases import save_case
from hashwarden.store.db import _alembic_config
from hashwarden.store.devices import device_digest
from hashwarden.store.identities import create_agency, create_user
from hashwarden.store.records import Vote
from hashwarden.store.schema import case_item
from hashwarden.store.series import create_series, link_series_media

NEAR = "ab" * 32
MEMBER_PDQ = "cd" * 32
CAMERA = {"make": "Canon", "model": "EOS 5D", "serial": "SN-9"}


def _items() -> list[dict[str, Any]]:
    return [{"path": "x/new.jpg", "status": "unknown", "media": "image", "pdq": NEAR, "pdq_quality": 88,
             "metadata": CAMERA, "matches": []},
            {"path": "x/member.jpg", "status": "known", "media": "image", "md5": "5" * 32, "pdq_quality": 70,
             "metadata": {"make": "Nikon", "model": "D850", "software": "Ver.1.10"}, "matches": []}]


def test_case_items_carry_quality_and_device_through_0012(store_url: str) -> None:
    engine = open_store(store_url)
    with engine.begin() as conn:
        create_agency(conn, "Force B")
        create_user(conn, "bob", "Force B", "examiner")
        case_id = save_case(conn, "Force B", "bob", {"case": "OP", "items": _items()})
    expected = [(88, device_digest(("serial", "Canon/SN-9"))),
                (70, device_digest(("make_model_software", "Nikon/D850/Ver.1.10")))]
    read = select(case_item.c.pdq_quality, case_item.c.device).where(case_item.c.case_id == case_id) \
        .order_by(case_item.c.position)
    with engine.connect() as conn:
        assert [tuple(row) for row in conn.execute(read)] == expected
    config = _alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0011")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with engine.connect() as conn:  # filled again from the items' JSON
        assert [tuple(row) for row in conn.execute(read)] == expected
    engine.dispose()


def test_series_and_cross_case_leads_on_each_backend(store_engine: Any) -> None:
    """A series linked by md5 alone takes its PDQ from a vote on the same media, and its device from the case item
    with that md5; a near copy and a photo by that camera in a new case get both leads, and the stored case is
    named."""
    with store_engine.begin() as conn:
        create_agency(conn, "Force B")
        create_user(conn, "bob", "Force B", "examiner")
        case_id = save_case(conn, "Force B", "bob", {"case": "OP-B", "items": _items()})
        cast_votes(conn, [Vote("uk-sentencing", "A", "r1", md5="5" * 32, pdq=MEMBER_PDQ)])
        create_series(conn, "S-9", "Nine")
        link_series_media(conn, "S-9", {"md5": "5" * 32})
    items = [{"path": "near.jpg", "status": "unknown", "media": "image", "pdq": MEMBER_PDQ[:-2] + "cc",
              "pdq_quality": 90, "matches": []},
             {"path": "camera.jpg", "status": "unknown", "media": "image", "pdq": NEAR, "pdq_quality": 90,
              "metadata": {"make": "Nikon", "model": "D850", "software": "Ver.1.10"}, "matches": []}]
    with store_engine.connect() as conn:
        add_store_leads(conn, items, viewer_agency=-1)
    assert items[0]["leads"] == [{"kind": "series", "series": "S-9", "name": "Nine", "by": "pdq", "distance": 1,
                                  "members": 1}]
    by_kind = {(lead["kind"], lead["by"]): lead for lead in items[1]["leads"]}
    assert by_kind[("series", "make_model_software")]["series"] == "S-9"
    assert by_kind[("cross_case", "pdq")]["cases"] == [{"case_id": case_id, "case": "OP-B", "agency": "Force B",
                                                        "items": 1, "distance": 0}]  # no paths: another agency
    assert by_kind[("cross_case", "make_model_software")]["cases"] == [
        {"case_id": case_id, "case": "OP-B", "agency": "Force B", "items": 1, "known": 1}]
