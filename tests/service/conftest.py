"""A store for the service tests, on both backends (`store_engine`): one alert set holding a generated image (all
its digests, its PDQ and, on that entry, a series and a provenance the API must not show), one digest-only entry,
an agency with a user per role and a revoked user per role; and the app over it, in process (FastAPI's TestClient).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hashwarden.api import hash_file
from hashwarden.demo.synthetic import save, scene, variant
from hashwarden.service.app import create_app
from hashwarden.store import create_set
from hashwarden.store.identities import ROLES, create_agency, create_user, revoke_user
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord

DIGEST_ONLY = {"md5": "1" * 32, "sha1": "2" * 40, "sha256": "3" * 64}


@dataclass
class Service:
    engine: Any
    client: TestClient
    keys: dict[str, str]  # role -> key of a valid user with that role
    revoked: dict[str, str]  # role -> key of a revoked user with that role
    known: dict[str, Any]  # `hash_file` of the known image
    turned: dict[str, Any]  # `hash_file` of the same image turned by 90 degrees (not in the store)
    other: dict[str, Any]  # `hash_file` of an unrelated image (not in the store)

    def post(self, path: str, body: Any, role: str = "matcher") -> Any:
        return self.client.post(path, json=body, headers={"Authorization": f"Bearer {self.keys[role]}"})


@pytest.fixture
def images(tmp_path: Path) -> dict[str, dict[str, Any]]:
    for name, image in (("known", scene(21)), ("turned", variant(scene(21), "rot90")), ("other", scene(22))):
        save(image, tmp_path / "img" / f"{name}.jpg")
    return {name: hash_file(tmp_path / "img" / f"{name}.jpg") for name in ("known", "turned", "other")}


def fill(engine: Any, known: dict[str, Any]) -> None:
    with engine.begin() as conn:
        create_set(conn, "known", "alert", category_scheme="uk-sentencing")
    import_entries(engine, "known", [
        EntryRecord(md5=known["md5"], sha1=known["sha1"], sha256=known["sha256"], pdq=known["pdq"],
                    pdq_quality=known["pdq_quality"], category="A", series="series-1", victim_identified=False,
                    provenance="lab-file:12", line=1),
        EntryRecord(**DIGEST_ONLY, category="B", line=2),
    ], {"file": "test"})


def add_users(engine: Any) -> tuple[dict[str, str], dict[str, str]]:
    keys, revoked = {}, {}
    with engine.begin() as conn:
        create_agency(conn, "Hotline A")
        for role in ROLES:
            keys[role] = create_user(conn, f"{role}-user", "Hotline A", role)
            revoked[role] = create_user(conn, f"{role}-gone", "Hotline A", role)
            revoke_user(conn, f"{role}-gone")
    return keys, revoked


@pytest.fixture
def service(store_engine: Any, images: dict[str, dict[str, Any]]) -> Service:
    fill(store_engine, images["known"])
    keys, revoked = add_users(store_engine)
    with TestClient(create_app(store_engine), raise_server_exceptions=False) as client:
        yield Service(store_engine, client, keys, revoked, images["known"], images["turned"], images["other"])
