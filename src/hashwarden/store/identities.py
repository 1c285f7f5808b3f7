"""Who may use the service: agencies, API users with one role each, and their keys (issue 17).

A key is `hw_<key id>_<secret>`: the key id is a short random prefix, not secret, unique in the store, so that
authenticating a request is one indexed query; the secret is 256 random bits. Only a salted PBKDF2-HMAC-SHA256
hash of the whole key is stored, in a self-describing string (`pbkdf2_sha256$iterations$salt$hash`), and it is
compared in constant time. The key is shown once, when made (`create_user`, `rotate_user`), and never stored, logged
or audited in clear; the audit records the key id, which names the key without granting anything.

Every change (agency or user created, key revoked or rotated) is appended to the audit log in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hashwarden.config import API_KEY_PBKDF2_ITERATIONS, API_KEYS_VERIFIED_CACHED
from hashwarden.errors import StoreError
from hashwarden.store import audit
from hashwarden.store.db import DriverReads, driver_sql, utc_now
from hashwarden.store.schema import agency, api_user

# What each role may do is decided where the right is used (service/auth.py); the store only knows the names.
ROLES = ("matcher", "examiner", "analyst", "admin")
KEY_PREFIX = "hw"
_SCHEME = "pbkdf2_sha256"


@dataclass(frozen=True)
class Identity:
    """An authenticated caller: the user, its agency and its role."""

    user: str
    agency: str
    role: str


@dataclass(frozen=True)
class UserInfo:
    """A user as `user list` shows it: never its key, only the key's id."""

    name: str
    agency: str
    role: str
    key_id: str
    created_at: str
    key_created_at: str
    revoked_at: str | None


def create_agency(conn: Connection, name: str, retention_days: int | None = None) -> None:
    """Create an agency, its cases kept `retention_days` (None: until it deletes them) (audited).

    Raises:
        StoreError: empty name, an agency of that name exists, or a retention below one day.
    """
    _check_name(name, "agency")
    _check_retention(retention_days)
    try:
        with conn.begin_nested():
            conn.execute(insert(agency).values(name=name, created_at=utc_now(), retention_days=retention_days))
    except IntegrityError as exc:
        raise StoreError(f"an agency named {name!r} exists") from exc
    audit.append(conn, "agency.create", {"agency": name, "retention_days": retention_days})


def set_retention(conn: Connection, name: str, retention_days: int | None) -> None:
    """Keep the agency's cases `retention_days` from now on (None: until deleted); older ones go at the next
    purge (store/cases.py `purge_expired`) (audited).

    Raises:
        StoreError: no such agency, or a retention below one day.
    """
    _check_retention(retention_days)
    changed = conn.execute(update(agency).where(agency.c.name == name).values(retention_days=retention_days))
    if changed.rowcount != 1:
        raise StoreError(f"no agency named {name!r}")
    audit.append(conn, "agency.retention", {"agency": name, "retention_days": retention_days})


def _check_retention(days: int | None) -> None:
    if days is not None and days < 1:
        raise StoreError(f"retention must be at least 1 day, not {days}")


def create_user(conn: Connection, name: str, agency_name: str, role: str) -> str:
    """Create a user of an agency with a role and return its new key: the only time it is seen (audited).

    Raises:
        StoreError: empty name, unknown role or agency, or a user of that name exists.
    """
    _check_name(name, "user")
    if role not in ROLES:
        raise StoreError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    agency_id = conn.execute(select(agency.c.id).where(agency.c.name == agency_name)).scalar()
    if agency_id is None:
        raise StoreError(f"no agency named {agency_name!r}")
    key, key_id, key_hash = _new_key()
    now = utc_now()
    try:
        with conn.begin_nested():
            conn.execute(insert(api_user).values(name=name, agency_id=agency_id, role=role, key_id=key_id,
                                                 key_hash=key_hash, created_at=now, key_created_at=now))
    except IntegrityError as exc:
        raise StoreError(f"a user named {name!r} exists") from exc
    audit.append(conn, "user.create", {"user": name, "agency": agency_name, "role": role, "key_id": key_id})
    return key


def list_users(conn: Connection) -> list[UserInfo]:
    """Every user, revoked ones included, by name."""
    query = select(api_user, agency.c.name.label("agency_name")).join(
        agency, agency.c.id == api_user.c.agency_id).order_by(api_user.c.name)
    return [UserInfo(row.name, row.agency_name, row.role, row.key_id, row.created_at, row.key_created_at,
                     row.revoked_at) for row in conn.execute(query)]


def revoke_user(conn: Connection, name: str) -> None:
    """Revoke a user's key: from this transaction's commit on, it authenticates nobody (audited).

    Raises:
        StoreError: no such user, or already revoked.
    """
    row = _active_user(conn, name)
    conn.execute(update(api_user).where(api_user.c.id == row.id).values(revoked_at=utc_now()))
    audit.append(conn, "user.revoke", {"user": name, "key_id": row.key_id})


def rotate_user(conn: Connection, name: str) -> str:
    """Give a user a new key, which replaces the old one at once, and return it (audited).

    Raises:
        StoreError: no such user, or revoked (a revoked user is not brought back by a rotation).
    """
    row = _active_user(conn, name)
    key, key_id, key_hash = _new_key()
    conn.execute(update(api_user).where(api_user.c.id == row.id).values(
        key_id=key_id, key_hash=key_hash, key_created_at=utc_now()))
    audit.append(conn, "user.rotate", {"user": name, "old_key_id": row.key_id, "key_id": key_id})
    return key


def describe_user(conn: Connection, name: str) -> Identity:
    """The identity of a user by name (what `user create` and `user rotate` print beside the key).

    Raises:
        StoreError: no such user.
    """
    row = conn.execute(select(api_user.c.name, api_user.c.role, agency.c.name.label("agency_name")).join(
        agency, agency.c.id == api_user.c.agency_id).where(api_user.c.name == name)).first()
    if row is None:
        raise StoreError(f"no user named {name!r}")
    return Identity(row.name, row.agency_name, row.role)


class VerifiedKeys:
    """The keys one process has verified, so that `authenticate` does not run PBKDF2 again for a key seen before.

    Remembered by the stored hash they matched, as their SHA-256 (never the key), and compared in constant time.
    The user's row is still read on every request, so a revoked key stops at once; a rotated key has a new id and
    a new stored hash, so the old one finds no row and the new one is verified by PBKDF2 once. A key answered from
    here is answered sooner than one hashed, which tells the caller only that it already held a valid key.
    """

    def __init__(self, size: int = API_KEYS_VERIFIED_CACHED) -> None:
        self._size = size
        self._digests: dict[str, bytes] = {}  # stored hash -> SHA-256 of the key that matched it

    def holds(self, key: str, stored: str) -> bool:
        known = self._digests.get(stored)
        return known is not None and hmac.compare_digest(known, hashlib.sha256(key.encode("utf-8")).digest())

    def remember(self, key: str, stored: str) -> None:
        if len(self._digests) >= self._size:
            self._digests.clear()
        self._digests[stored] = hashlib.sha256(key.encode("utf-8")).digest()


def authenticate(conn: Connection, key: str, verified: VerifiedKeys | None = None) -> Identity | None:
    """The identity a key belongs to, or None (malformed, unknown, wrong or revoked key: the caller cannot tell
    which). One indexed query by key id, then one constant-time comparison of the hashes (PBKDF2, unless
    `verified` holds the key for that stored hash)."""
    row = _user_of_key(conn, key)
    stored = row.key_hash if row is not None else _DUMMY_HASH  # the same work whether the id exists or not
    if row is not None and verified is not None and verified.holds(key, stored):
        matches = True
    else:
        matches = _verify(key, stored)
        if matches and row is not None and verified is not None:
            verified.remember(key, stored)
    if not matches or row is None or row.revoked_at is not None:
        return None
    return Identity(row.name, row.agency_name, row.role)


def authenticate_verified(conn: Connection | DriverReads, key: str, verified: VerifiedKeys) -> Identity | None:
    """The identity of a key that `verified` holds for its user's current stored hash and that is not revoked;
    None when that takes more than the user-row query (a key not verified before, wrong, unknown or revoked): then
    ask `authenticate`, which decides. Never runs PBKDF2, so the service can call it on its event loop (there on
    `DriverReads`, which read the row for a tenth of a pooled connection's cost); the user's row is still read, so a
    revocation or rotation counts from the next request on, in every process."""
    row = _user_of_key(conn, key)
    if row is None or row.revoked_at is not None or not verified.holds(key, row.key_hash):
        return None
    return Identity(row.name, row.agency_name, row.role)


# Read on every service request (store/db.py `driver_sql`: as written, without Core's per-execution work).
_USER_BY_KEY_ID = ("SELECT api_user.name, api_user.role, api_user.key_hash, api_user.revoked_at, "
                   "agency.name AS agency_name FROM api_user JOIN agency ON agency.id = api_user.agency_id "
                   "WHERE api_user.key_id = ?")


class _UserRow(NamedTuple):
    """A row of _USER_BY_KEY_ID read by `DriverReads` (a plain tuple), with the names a Core row has."""

    name: str
    role: str
    key_hash: str
    revoked_at: str | None
    agency_name: str


def _user_of_key(conn: Connection | DriverReads, key: str):  # noqa: ANN202 - a row of _USER_BY_KEY_ID, or None
    """The user row of a well-formed key's id (revoked or not, its secret not checked), or None."""
    key_id = _key_id_of(key)
    if key_id is None:
        return None
    if isinstance(conn, DriverReads):
        found = conn.first(_USER_BY_KEY_ID, (key_id,))
        return None if found is None else _UserRow(*found)
    return conn.exec_driver_sql(driver_sql(conn, _USER_BY_KEY_ID), (key_id,)).first()


def _new_key() -> tuple[str, str, str]:
    """(key, key id, stored hash) of a new random key."""
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return key, key_id, _hash(key, secrets.token_bytes(16), API_KEY_PBKDF2_ITERATIONS)


def _hash(key: str, salt: bytes, iterations: int) -> str:
    derived = hashlib.pbkdf2_hmac("sha256", key.encode("utf-8"), salt, iterations)
    return f"{_SCHEME}${iterations}${salt.hex()}${derived.hex()}"


def _verify(key: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, _ = stored.split("$")
        expected = _hash(key, bytes.fromhex(salt), int(iterations)) if scheme == _SCHEME else ""
    except ValueError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), stored.encode("ascii"))


def _key_id_of(key: str) -> str | None:
    """The key id of a well-formed key, else None (a key of another shape never reaches the database)."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12 or not parts[2]:
        return None
    try:
        int(parts[1], 16)
    except ValueError:
        return None
    return parts[1]


def _active_user(conn: Connection, name: str):  # noqa: ANN202 - a Row of api_user
    row = conn.execute(select(api_user).where(api_user.c.name == name)).first()
    if row is None:
        raise StoreError(f"no user named {name!r}")
    if row.revoked_at is not None:
        raise StoreError(f"user {name!r} was revoked at {row.revoked_at}")
    return row


def _check_name(name: str, what: str) -> None:
    if not name.strip():
        raise StoreError(f"{what} name must not be empty")
    if len(name) > 200:
        raise StoreError(f"{what} name longer than 200 characters")


_DUMMY_HASH = _hash("", b"\0" * 16, API_KEY_PBKDF2_ITERATIONS)
