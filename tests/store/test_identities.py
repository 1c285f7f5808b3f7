"""Agencies, users and keys in the store (issue 17): the key is shown once and kept only as a salted hash, a key
authenticates its user until revoked or rotated, every change is audited and the audit chain still verifies."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select

from hashwarden.errors import StoreError
from hashwarden.store import audit
from hashwarden.store.identities import (
    Identity, authenticate, create_agency, create_user, describe_user, list_users, revoke_user, rotate_user,
)
from hashwarden.store.schema import api_user


def test_users_keys_and_their_audit(store_engine) -> None:
    with store_engine.begin() as conn:
        create_agency(conn, "Hotline A")
        key = create_user(conn, "filter", "Hotline A", "matcher")
        other = create_user(conn, "analyst-1", "Hotline A", "analyst")
    with store_engine.connect() as conn:
        assert authenticate(conn, key) == Identity("filter", "Hotline A", "matcher")
        assert authenticate(conn, other) == Identity("analyst-1", "Hotline A", "analyst")
        prefix, key_id, secret = key.split("_", 2)
        for wrong in (key[:-1], key + "x", f"{prefix}_{key_id}_{other.split('_', 2)[2]}", "", "hw__x", "Bearer " + key):
            assert authenticate(conn, wrong) is None, wrong
        assert [(u.name, u.role, u.revoked_at) for u in list_users(conn)] == [
            ("analyst-1", "analyst", None), ("filter", "matcher", None)]
    with store_engine.begin() as conn:
        new_key = rotate_user(conn, "filter")
    with store_engine.connect() as conn:
        assert authenticate(conn, key) is None and authenticate(conn, new_key).user == "filter"
    with store_engine.begin() as conn:
        revoke_user(conn, "filter")
    with store_engine.connect() as conn:
        assert authenticate(conn, new_key) is None and authenticate(conn, other) is not None
        assert next(u for u in list_users(conn) if u.name == "filter").revoked_at is not None
        rows = [(r.action, r.actor, json.loads(r.details)) for r in conn.execute(select(audit.audit))]
        assert [action for action, _, _ in rows] == ["agency.create", "user.create", "user.create", "user.rotate",
                                                     "user.revoke"]
        assert rows[1][2] == {"user": "filter", "agency": "Hotline A", "role": "matcher", "key_id": key_id}
        assert audit.verify(conn).ok


def test_keys_are_never_stored_or_audited_in_clear(store_engine, store_url: str) -> None:
    with store_engine.begin() as conn:
        create_agency(conn, "A")
        keys = [create_user(conn, "u", "A", "examiner")]
        keys.append(rotate_user(conn, "u"))
    secrets = [key.split("_", 2)[2] for key in keys]
    everything = MetaData()
    everything.reflect(store_engine)
    with store_engine.connect() as conn:
        dumped = repr([conn.execute(select(table)).all() for table in everything.sorted_tables])
        stored = conn.execute(select(api_user.c.key_hash)).scalar()
    assert stored.startswith("pbkdf2_sha256$") and len(stored.split("$")[2]) == 32  # a 16-byte salt
    for secret in secrets:
        assert secret not in dumped and secret.encode() not in dumped.encode()
    if store_url.startswith("sqlite"):  # and not in any page of the file
        store_engine.dispose()
        raw = b"".join(p.read_bytes() for p in Path(store_url.removeprefix("sqlite:///")).parent.glob("hashwarden.db*"))
        assert all(secret.encode() not in raw for secret in secrets)


def test_two_keys_of_one_secret_length_have_different_salts(store_engine) -> None:
    with store_engine.begin() as conn:
        create_agency(conn, "A")
        create_user(conn, "a", "A", "matcher")
        create_user(conn, "b", "A", "matcher")
        salts = [h.split("$")[2] for h in conn.execute(select(api_user.c.key_hash)).scalars()]
    assert len(set(salts)) == 2


def test_refusals(store_engine) -> None:
    with store_engine.begin() as conn:
        create_agency(conn, "A")
        create_user(conn, "u", "A", "admin")
        revoke_user(conn, "u")
    for action, message in (
        (lambda c: create_agency(c, "A"), "exists"), (lambda c: create_agency(c, " "), "empty"),
        (lambda c: create_user(c, "u", "A", "matcher"), "exists"),
        (lambda c: create_user(c, "v", "B", "matcher"), "no agency"),
        (lambda c: create_user(c, "v", "A", "root"), "role must be one of matcher, examiner, analyst, admin"),
        (lambda c: revoke_user(c, "u"), "revoked"), (lambda c: rotate_user(c, "u"), "revoked"),
        (lambda c: revoke_user(c, "nobody"), "no user"), (lambda c: describe_user(c, "nobody"), "no user"),
    ):
        with store_engine.begin() as conn, pytest.raises(StoreError, match=message):
            action(conn)
    with store_engine.connect() as conn:
        assert [row.action for row in conn.execute(select(audit.audit))] == ["agency.create", "user.create",
                                                                              "user.revoke"]


def _matcher_counting_pbkdf2(store_engine, monkeypatch) -> tuple[str, list[int]]:  # noqa: ANN001
    """A matcher key of user "filter", and a list that grows by one for each PBKDF2 of a key from now on."""
    from hashwarden.store import identities

    with store_engine.begin() as conn:
        create_agency(conn, "Hotline A")
        key = create_user(conn, "filter", "Hotline A", "matcher")
    hashed: list[int] = []
    real_hash = identities._hash
    monkeypatch.setattr(identities, "_hash", lambda *args: hashed.append(1) or real_hash(*args))
    return key, hashed


def test_verified_keys_spare_pbkdf2_but_not_the_revocation_check(store_engine, monkeypatch) -> None:
    """A key verified once authenticates again without PBKDF2; a wrong secret under the same key id, a rotated
    key and a revoked key are refused as without the cache (the service's VerifiedKeys, service/auth.py)."""
    from hashwarden.store import identities

    key, hashed = _matcher_counting_pbkdf2(store_engine, monkeypatch)
    verified = identities.VerifiedKeys(size=2)
    prefix, key_id, secret = key.split("_", 2)
    with store_engine.connect() as conn:
        assert authenticate(conn, key, verified).user == "filter" and len(hashed) == 1
        assert authenticate(conn, key, verified).user == "filter" and len(hashed) == 1  # remembered
        wrong = f"{prefix}_{key_id}_{secret[:-1]}{'y' if secret.endswith('x') else 'x'}"
        assert authenticate(conn, wrong, verified) is None and len(hashed) == 2
    with store_engine.begin() as conn:
        new_key = rotate_user(conn, "filter")
    with store_engine.connect() as conn:
        assert authenticate(conn, key, verified) is None
        assert authenticate(conn, new_key, verified).user == "filter"
        assert authenticate(conn, new_key, verified).user == "filter"
    with store_engine.begin() as conn:
        revoke_user(conn, "filter")
    with store_engine.connect() as conn:
        assert authenticate(conn, new_key, verified) is None  # at once, though the key is remembered


def test_authenticate_verified_answers_only_a_remembered_live_key_and_never_hashes(store_engine, monkeypatch) -> None:
    """The service's event-loop check (service/auth.py): an identity only for a key VerifiedKeys holds for the
    user's current stored hash; None, without PBKDF2, for a key not verified yet, a wrong one, a rotated one and a
    revoked one (the user row is read every time, so revocation counts from the next request)."""
    from hashwarden.store import identities

    key, hashed = _matcher_counting_pbkdf2(store_engine, monkeypatch)
    verified = identities.VerifiedKeys()
    quick = identities.authenticate_verified
    with store_engine.connect() as conn:
        assert quick(conn, key, verified) is None and hashed == []  # not verified yet: ask authenticate
        assert authenticate(conn, key, verified).user == "filter" and len(hashed) == 1
        assert quick(conn, key, verified) == authenticate(conn, key, verified)
        assert quick(conn, key, verified).user == "filter" and len(hashed) == 1
        assert quick(conn, key[:-1] + ("y" if key.endswith("x") else "x"), verified) is None
        assert quick(conn, "not-a-key", verified) is None and len(hashed) == 1
    with store_engine.begin() as conn:
        new_key = rotate_user(conn, "filter")
    with store_engine.connect() as conn:
        assert quick(conn, key, verified) is None  # the old key's id is gone
        assert authenticate(conn, new_key, verified).user == "filter"
        assert quick(conn, new_key, verified).user == "filter"
    with store_engine.begin() as conn:
        revoke_user(conn, "filter")
    with store_engine.connect() as conn:
        assert quick(conn, new_key, verified) is None and len(hashed) == 3  # at once, though remembered (the 3: one
        # authenticate per key and the rotation's hash of the new key)


def test_driver_reads_answer_as_a_pooled_connection_and_see_a_revocation_at_once(store_engine) -> None:
    """The service's event-loop reads on SQLite (store/db.py DriverReads): the same identity as a pooled
    connection, read-only, and a revocation committed by another connection refused at the very next read."""
    from hashwarden.store import identities
    from hashwarden.store.db import driver_reads

    reads = driver_reads(store_engine)
    if store_engine.dialect.name != "sqlite":
        assert reads is None  # PostgreSQL: read through the pool, in a worker thread
        return
    with store_engine.begin() as conn:
        create_agency(conn, "Hotline A")
        key = create_user(conn, "filter", "Hotline A", "matcher")
    verified = identities.VerifiedKeys()
    with store_engine.connect() as conn:
        assert identities.authenticate_verified(reads, key, verified) is None  # not verified yet
        expected = authenticate(conn, key, verified)
    assert identities.authenticate_verified(reads, key, verified) == expected
    assert identities.authenticate_verified(reads, "hw_000000000000_nothing", verified) is None
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reads.first("DELETE FROM api_user", ())
    with store_engine.begin() as conn:
        revoke_user(conn, "filter")
    assert identities.authenticate_verified(reads, key, verified) is None
