"""The audit log proves the data too: sets' content digests recorded at every change and recomputed by `audit
verify`, signed checkpoints that anchor the chain outside the database, and the examiner as the actor.

All hashes are made up here (md5 of "made-up N", tests.formats.test_nsrl's fake rows).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update

from hashwarden.errors import AuditError
from hashwarden.formats.exchange import import_file
from hashwarden.store import audit, checkpoint, digest
from hashwarden.store.schema import audit as audit_table
from hashwarden.store.schema import audit_head, entry, vpdq_frame
from hashwarden.store.records import canonical_json
from tests.formats.test_nsrl import fake, minimal_db
from tests.formats.test_nsrl import insert as delta_insert
from tests.test_cli import hw


def _md5(i: int) -> str:
    return hashlib.md5(b"made-up %d" % i).hexdigest()


def _import_md5s(engine, tmp_path: Path, set_name: str, numbers: range, name: str = "list.md5") -> None:
    path = tmp_path / name
    path.write_text("".join(f"{_md5(i)}  file{i}.jpg\n" for i in numbers))
    import_file(engine, "md5sum", path, set_name)


def _verify(engine) -> audit.AuditVerification:
    with engine.connect() as conn:
        return audit.verify(conn)


@pytest.fixture
def two_sets(store_engine, tmp_path: Path):
    """Sets `alpha` (10 entries, then 5 more of which 2 repeat) and `beta` (3 entries), imported legitimately."""
    _import_md5s(store_engine, tmp_path, "alpha", range(10))
    _import_md5s(store_engine, tmp_path, "alpha", range(8, 13), "more.md5")
    _import_md5s(store_engine, tmp_path, "beta", range(100, 103), "beta.md5")
    return store_engine


def test_legitimate_imports_verify_and_the_digest_is_what_a_recompute_gives(two_sets) -> None:
    result = _verify(two_sets)
    assert result.ok and result.sets == 2 and not result.notes, result.problems
    with two_sets.connect() as conn:
        alpha = audit.recorded_content(conn, 1)
        assert alpha is not None and alpha.entries == 13
        assert alpha == digest.current(conn, 1)  # incremental (sum of the imports' terms) == full recompute


@pytest.mark.parametrize("tamper", [
    pytest.param(lambda c: c.execute(update(entry).where(entry.c.id == 3).values(md5=bytes(16))), id="md5-edited"),
    pytest.param(lambda c: c.execute(update(entry).where(entry.c.id == 3).values(category="1")), id="category"),
    pytest.param(lambda c: c.execute(delete(entry).where(entry.c.id == 3)), id="deleted"),
    pytest.param(lambda c: c.execute(insert(entry).values(set_id=1, md5=bytes(16), created_at="x")), id="inserted"),
    pytest.param(lambda c: c.execute(update(entry).where(entry.c.id == 3).values(set_id=2)), id="moved-to-beta"),
    pytest.param(lambda c: c.execute(insert(vpdq_frame).values(entry_id=3, frame=0, quality=90, pdq=bytes(32),
                                                                timestamp=0.0)), id="vpdq-frame-added"),
])
def test_entries_changed_behind_hashwardens_back_are_named(two_sets, tamper) -> None:
    with two_sets.begin() as conn:
        tamper(conn)
    result = _verify(two_sets)
    assert not result.ok
    assert any(p.startswith("set 'alpha': entries changed outside hashwarden since ") for p in result.problems)


def test_md5_edited_with_plain_sqlite3_fails_audit_verify_naming_the_set(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    (tmp_path / "l.md5").write_text("".join(f"{_md5(i)}  f{i}\n" for i in range(5)))
    hw("import", "md5sum", str(tmp_path / "l.md5"), "--set", "seized-2024", db=db)
    assert "entries of 1 set(s) match" in hw("audit", "verify", db=db).stdout
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE entry SET md5 = ? WHERE id = 2", (bytes.fromhex(_md5(99)),))
    result = hw("audit", "verify", db=db, check=False)
    assert result.returncode == 1
    assert "set 'seized-2024': entries changed outside hashwarden since" in result.stderr


def test_tampering_before_an_import_stays_detected_after_it(two_sets, tmp_path: Path) -> None:
    """The digest is carried forward from the last recorded one, never re-read from the table: a later import
    must not bless an earlier edit."""
    with two_sets.begin() as conn:
        conn.execute(delete(entry).where(entry.c.id == 3))
    _import_md5s(two_sets, tmp_path, "alpha", range(50, 52), "later.md5")
    assert any("set 'alpha'" in p for p in _verify(two_sets).problems)


def test_nsrl_delta_insert_delete_update_verify(store_engine, tmp_path: Path) -> None:
    import_file(store_engine, "nsrl", minimal_db(tmp_path / "RDS_minimal.db"), "nsrl")
    sha256_1, sha1_2, sha1_3 = fake(1)[0], fake(2)[1], fake(3)[1]
    delta = tmp_path / "delta.sql"
    delta.write_text(
        "BEGIN TRANSACTION;\n" + delta_insert(10) + delta_insert(11)
        + f"DELETE FROM FILE WHERE sha256 = '{sha256_1}';\n"
        + f"DELETE FROM FILE WHERE sha256 = '{fake(11)[0]}';\n"  # one this delta inserted
        + f"UPDATE FILE SET file_size = 7 WHERE sha1 = '{sha1_3}';\n"  # size is covered by the digest
        + f"UPDATE FILE SET sha256 = '{fake(20)[0]}' WHERE sha1 = '{sha1_2}';\nCOMMIT;\n")
    result, _ = import_file(store_engine, "nsrl", delta, "nsrl")
    assert (result.added, result.deleted, result.updated) == (2, 2, 2)
    verification = _verify(store_engine)
    assert verification.ok and verification.sets == 1, verification.problems
    with store_engine.connect() as conn:
        assert audit.recorded_content(conn, 1) == digest.current(conn, 1)


def _rewrite_chain_from(conn, first: int) -> None:
    """What someone who can write the database does: recompute every row hash from `first` on, and the head."""
    prev = conn.execute(select(audit_table.c.row_hash).where(audit_table.c.id == first - 1)).scalar_one()
    for row in conn.execute(select(audit_table).where(audit_table.c.id >= first).order_by(audit_table.c.id)).all():
        new = audit.row_hash(row.id, row.ts, row.actor, row.action, row.details, prev, row.host)
        conn.execute(update(audit_table).where(audit_table.c.id == row.id).values(prev_hash=prev, row_hash=new))
        prev = new
    conn.execute(update(audit_head).values(head_hash=prev))


def _forge_entry_and_chain(engine) -> None:
    """Delete an alpha entry, put the digest that now holds into alpha's last import row, rebuild the chain."""
    with engine.begin() as conn:
        conn.execute(delete(entry).where(entry.c.id == 3))
        forged = digest.current(conn, 1).to_json()
        rows = conn.execute(select(audit_table).order_by(audit_table.c.id)).all()
        last = max(r.id for r in rows if json.loads(r.details).get("content", {}).get("set_id") == 1)
        details = json.loads(next(r.details for r in rows if r.id == last))
        conn.execute(update(audit_table).where(audit_table.c.id == last).values(
            details=canonical_json({**details, "content": forged})))
        _rewrite_chain_from(conn, last)


def test_chain_rewritten_after_a_checkpoint_fails_only_with_the_checkpoint(two_sets, tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "examiner.pem"
    key_file.parent.mkdir()
    checkpoint.keygen(key_file)
    with two_sets.connect() as conn:
        document = checkpoint.create(conn, checkpoint.load_private(key_file))
    saved = tmp_path / "checkpoint.json"
    saved.write_text(json.dumps(document))
    with two_sets.connect() as conn:
        assert checkpoint.verify_with(conn, saved, f"{key_file}.pub")[0].ok  # untouched: passes
    _forge_entry_and_chain(two_sets)
    assert _verify(two_sets).ok  # the forgery is consistent: the chain alone cannot tell
    with two_sets.connect() as conn:
        result, _ = checkpoint.verify_with(conn, saved, f"{key_file}.pub")
    assert not result.ok
    assert any("history before the checkpoint was rewritten" in p for p in result.problems), result.problems


def test_checkpoint_refuses_to_sign_a_log_that_does_not_verify(two_sets, tmp_path: Path) -> None:
    checkpoint.keygen(tmp_path / "k.pem")
    with two_sets.begin() as conn:
        conn.execute(delete(entry).where(entry.c.id == 3))
    with two_sets.connect() as conn, pytest.raises(AuditError, match="does not verify"):
        checkpoint.create(conn, checkpoint.load_private(tmp_path / "k.pem"))


def _flip_first_byte(signature: str) -> str:
    raw = bytearray(base64.b64decode(signature))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode("ascii")


@pytest.mark.parametrize("alter", [
    pytest.param(lambda d: d.update(signature=_flip_first_byte(d["signature"])), id="signature"),
    pytest.param(lambda d: d["statement"].update(rows=d["statement"]["rows"] - 1), id="statement"),
    pytest.param(lambda d: d["statement"].update(head="0" * 64), id="head"),
])
def test_a_tampered_checkpoint_is_refused(two_sets, tmp_path: Path, alter) -> None:
    checkpoint.keygen(tmp_path / "k.pem")
    with two_sets.connect() as conn:
        document = checkpoint.create(conn, checkpoint.load_private(tmp_path / "k.pem"))
    alter(document)
    (tmp_path / "cp.json").write_text(json.dumps(document))
    with two_sets.connect() as conn, pytest.raises(AuditError, match="cp.json: signature does not verify"):
        checkpoint.verify_with(conn, tmp_path / "cp.json")


def test_a_checkpoint_signed_by_another_key_is_refused(two_sets, tmp_path: Path) -> None:
    """A forger re-signs with a key of their own: the embedded key verifies, the examiner's does not match."""
    checkpoint.keygen(tmp_path / "examiner.pem")
    checkpoint.keygen(tmp_path / "forger.pem")
    with two_sets.connect() as conn:
        document = checkpoint.create(conn, checkpoint.load_private(tmp_path / "forger.pem"))
    (tmp_path / "cp.json").write_text(json.dumps(document))
    with two_sets.connect() as conn, pytest.raises(AuditError, match="not by the trusted key"):
        checkpoint.verify_with(conn, tmp_path / "cp.json", tmp_path / "examiner.pem.pub")


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(tmp_path: Path) -> None:
    checkpoint.keygen(tmp_path / "k.pem")
    assert stat.S_IMODE(os.stat(tmp_path / "k.pem").st_mode) == 0o600
    with pytest.raises(AuditError, match="exists; not overwritten"):
        checkpoint.keygen(tmp_path / "k.pem")


def test_actor_is_the_configured_examiner_and_host_its_own_field(store_engine, tmp_path: Path,
                                                                 monkeypatch) -> None:
    monkeypatch.setenv("HASHWARDEN_EXAMINER", "  DC Jane Roe 4471 ")
    _import_md5s(store_engine, tmp_path, "alpha", range(3))
    monkeypatch.delenv("HASHWARDEN_EXAMINER")
    _import_md5s(store_engine, tmp_path, "alpha", range(3, 5), "more.md5")
    with store_engine.connect() as conn:
        rows = conn.execute(select(audit_table.c.actor, audit_table.c.host).order_by(audit_table.c.id)).all()
    assert [actor for actor, _ in rows[:2]] == ["DC Jane Roe 4471"] * 2  # set.create and import
    assert rows[2].actor.endswith("(OS user; no examiner name configured)") and "@" not in rows[2].actor
    assert all(host for _, host in rows)
    assert _verify(store_engine).ok  # the host is part of each row's hash


def test_cli_keygen_checkpoint_and_verify_with_examiner(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    (tmp_path / "l.md5").write_text(f"{_md5(1)}  a\n")
    hw("--examiner", "Examiner A", "import", "md5sum", str(tmp_path / "l.md5"), "--set", "s", db=db)
    with sqlite3.connect(db) as conn:
        assert {actor for (actor,) in conn.execute("SELECT actor FROM audit")} == {"Examiner A"}
    hw("audit", "keygen", "--out", str(tmp_path / "k.pem"), db=db)
    hw("audit", "checkpoint", "--key", str(tmp_path / "k.pem"), "-o", str(tmp_path / "cp.json"), db=db)
    out = hw("audit", "verify", "--checkpoint", str(tmp_path / "cp.json"), "--public-key", str(tmp_path / "k.pem.pub"),
             db=db).stdout
    assert "checkpoint verified" in out
    document = json.loads((tmp_path / "cp.json").read_text())
    document["statement"]["time"] = "2000-01-01T00:00:00.000000Z"
    (tmp_path / "cp.json").write_text(json.dumps(document))
    result = hw("audit", "verify", "--checkpoint", str(tmp_path / "cp.json"), db=db, check=False)
    assert result.returncode == 1 and "AuditError:" in result.stderr and "signature does not verify" in result.stderr
