"""Signed checkpoints of the audit chain: the anchor outside the database.

Why: whoever can write the database can rewrite the whole chain with recomputed hashes, and `audit verify` alone
would pass. A checkpoint is a small statement (rows, head hash, each set's recorded content, time, tool version)
signed with an Ed25519 key kept outside the database. `verify_checkpoint` then proves that the chain still starts
with the checkpointed prefix: the row at the checkpointed count must hash to the checkpointed head, which binds
every row before it (each row hashes the one before), and so the set contents those rows recorded.

The checkpoint file holds the statement, the public key (raw, base64) with its SHA-256 fingerprint, and the
signature over the statement's canonical JSON. A signature checked only against the key inside the file proves
integrity, not origin (a forger signs with their own key): give `--public-key` (the file `audit keygen` writes
beside the private key), or compare the printed fingerprint with the one recorded when the key was made.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.engine import Connection

from hashwarden import __version__
from hashwarden.errors import AuditError
from hashwarden.store import audit
from hashwarden.store.db import utc_now
from hashwarden.store.records import canonical_json

FORMAT = "hashwarden-audit-checkpoint/1"


def keygen(path: str | os.PathLike[str]) -> str:
    """Write a new Ed25519 private key (PEM, PKCS#8) to `path` with mode 0600, and its public key to
    `path.pub`; return the public key's fingerprint. An existing file is never overwritten.

    Raises:
        AuditError: the file exists or cannot be written.
    """
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _write_new(Path(path), private, 0o600)
    _write_new(Path(f"{os.fspath(path)}.pub"), public, 0o644)
    return fingerprint(key.public_key())


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise AuditError(f"{path}: exists; not overwritten") from exc
    except OSError as exc:
        raise AuditError(f"{path}: cannot create ({exc.strerror})") from exc
    with os.fdopen(fd, "wb") as fp:
        fp.write(data)


def fingerprint(public: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex: what an examiner compares by eye."""
    return hashlib.sha256(_raw(public)).hexdigest()


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_private(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Raises: AuditError: unreadable, or not an unencrypted Ed25519 private key in PEM."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as exc:
        raise AuditError(f"{path}: cannot read the key ({exc.strerror})") from exc
    except (ValueError, TypeError) as exc:
        raise AuditError(f"{path}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditError(f"{path}: not an Ed25519 key (make one with `hashwarden audit keygen`)")
    return key


def load_public(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """Raises: AuditError: unreadable, or not an Ed25519 public key in PEM."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except OSError as exc:
        raise AuditError(f"{path}: cannot read the public key ({exc.strerror})") from exc
    except (ValueError, TypeError) as exc:
        raise AuditError(f"{path}: not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError(f"{path}: not an Ed25519 public key")
    return key


def create(conn: Connection, key: Ed25519PrivateKey) -> dict[str, Any]:
    """Verify the chain and the data, then sign a statement of what they are now.

    Raises:
        AuditError: the chain or a set's entries do not verify (a checkpoint must never bless tampering).
    """
    result = audit.verify(conn)
    if not result.ok:
        raise AuditError("the audit log does not verify; no checkpoint written: " + "; ".join(result.problems))
    sets: dict[str, Any] = {}
    for contents in result.contents.values():  # in row order: the latest recorded content per set wins
        for set_id, content in contents.items():
            sets[str(set_id)] = {"name": content.name, "entries": content.entries,
                                 "fingerprint": content.fingerprint()}
    statement = {"format": FORMAT, "rows": result.rows, "head": result.head_hash, "sets": sets,
                 "time": utc_now(), "tool_version": __version__}
    signature = key.sign(canonical_json(statement).encode("utf-8"))
    return {"statement": statement, "public_key": base64.b64encode(_raw(key.public_key())).decode("ascii"),
            "fingerprint": fingerprint(key.public_key()), "signature": base64.b64encode(signature).decode("ascii")}


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Raises: AuditError: unreadable or not a checkpoint file."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        statement = document["statement"]
        if statement.get("format") != FORMAT:
            raise AuditError(f"{path}: not a hashwarden audit checkpoint (format {statement.get('format')!r})")
        int(statement["rows"]), str(statement["head"]), dict(statement["sets"])
        str(document["public_key"]), str(document["signature"])
    except OSError as exc:
        raise AuditError(f"{path}: cannot read the checkpoint ({exc.strerror})") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AuditError(f"{path}: malformed checkpoint ({type(exc).__name__}: {exc})") from exc
    return document


def check_signature(document: dict[str, Any], path: str, trusted: Ed25519PublicKey | None = None) -> str:
    """Verify the checkpoint's signature; return the signing key's fingerprint.

    Raises:
        AuditError: bad signature, or signed by another key than `trusted`.
    """
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(document["public_key"], validate=True))
        signature = base64.b64decode(document["signature"], validate=True)
    except ValueError as exc:
        raise AuditError(f"{path}: malformed public key or signature ({exc})") from exc
    if trusted is not None and _raw(trusted) != _raw(public):
        raise AuditError(f"{path}: signed by key {fingerprint(public)}, not by the trusted key {fingerprint(trusted)}")
    try:
        public.verify(signature, canonical_json(document["statement"]).encode("utf-8"))
    except InvalidSignature as exc:
        raise AuditError(f"{path}: signature does not verify (the checkpoint was altered)") from exc
    return fingerprint(public)


def compare(statement: dict[str, Any], result: audit.AuditVerification) -> list[str]:
    """What differs between a (signature-checked) checkpoint and the chain now: the prefix it covers must be
    unchanged, and the set contents recorded in that prefix must be the checkpointed ones."""
    rows, head = int(statement["rows"]), str(statement["head"])
    at = statement.get("time", "?")
    if rows == 0:
        return []
    if result.rows < rows:
        return [f"checkpoint of {at} covers {rows} audit rows but only {result.rows} are present (rows removed)"]
    if result.chain.get(rows) != head:
        return [f"audit row {rows} does not hash to the head checkpointed at {at}: history before the checkpoint "
                f"was rewritten"]
    recorded: dict[str, str] = {}
    for row_id, contents in result.contents.items():
        if row_id <= rows:
            for set_id, content in contents.items():
                recorded[str(set_id)] = content.fingerprint()
    problems = []
    for set_id, value in statement["sets"].items():
        if recorded.get(set_id) != value.get("fingerprint"):
            problems.append(f"set {value.get('name')!r}: recorded content differs from the checkpoint of {at}")
    return problems


def verify_with(conn: Connection, path: str | os.PathLike[str],
                public_key: str | os.PathLike[str] | None = None) -> tuple[audit.AuditVerification, str]:
    """`audit verify` plus a checkpoint: the chain and data as usual, then the checkpointed prefix; returns the
    verification (its problems include the checkpoint's) and the signing key's fingerprint.

    Raises:
        AuditError: the checkpoint file is unreadable, malformed, altered or signed by another key.
    """
    document = load(path)
    signer = check_signature(document, os.fspath(path), load_public(public_key) if public_key else None)
    result = audit.verify(conn)
    result.problems.extend(compare(document["statement"], result))
    return result, signer
