"""Votes: checked field by field, one current vote per reviewer per media (the older kept), one identity per media
named by different hashes, audited; concurrent writers on both backends."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from hashwarden.errors import GradingError
from hashwarden.grading.votes import cast_votes, check_vote, hash_kind
from hashwarden.store import audit
from hashwarden.store.schema import vote as vote_table
from hashwarden.store.votes import Vote, iter_votes, media_votes

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
GOOD = Vote(scheme="uk-sentencing", category="A", reviewer="r1", md5=MD5)


@pytest.mark.parametrize(("change", "field"), [
    ({"category": "D"}, "category"),
    ({"category": ""}, "category"),
    ({"scheme": "vics-us", "category": "A"}, "category"),
    ({"scheme": "no-such-scheme"}, "scheme"),
    ({"age_band": "5-9"}, "age_band"),
    ({"age_band": "Adult"}, "age_band"),
    ({"sex": "girl"}, "sex"),
    ({"self_generated": "true"}, "self_generated"),
    ({"capture_device": "tablet"}, "capture_device"),
    ({"redistributed": "maybe"}, "redistributed"),
    ({"reviewer": " "}, "reviewer"),
    ({"reviewer": "x" * 201}, "reviewer"),
    ({"agency": "x" * 201}, "agency"),
    ({"note": "x" * 4097}, "note"),
    ({"md5": None}, "hash"),
    ({"md5": "abc"}, "md5"),
    ({"sha256": "zz" * 32}, "sha256"),
    ({"pdq": "0" * 63}, "pdq"),
])
def test_a_malformed_vote_is_refused_naming_its_field(change: dict, field: str) -> None:
    with pytest.raises(GradingError) as caught:
        check_vote(replace(GOOD, **change))
    assert caught.value.field == field
    assert str(caught.value).startswith(f"field {field}: ")


def test_categories_follow_the_scheme_open_schemes_take_any_code() -> None:
    assert check_vote(replace(GOOD, scheme="vics-us", category="0")).category == "0"
    assert check_vote(replace(GOOD, scheme="vics-uk", category="7")).category == "7"
    assert check_vote(replace(GOOD, md5=MD5.upper())).md5 == MD5


def test_hash_kind_by_length() -> None:
    assert [hash_kind(h) for h in (MD5, SHA1, SHA256)] == ["md5", "sha1", "sha256"]
    with pytest.raises(GradingError, match="field hash"):
        hash_kind("abc")


def test_a_batch_with_one_bad_vote_stores_nothing(store_engine) -> None:
    with pytest.raises(GradingError, match="field sex"):
        with store_engine.begin() as conn:
            cast_votes(conn, [GOOD, replace(GOOD, reviewer="r2", sex="x")])
    with store_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(vote_table)).scalar() == 0


def test_a_new_vote_supersedes_the_reviewers_last_and_keeps_it(store_engine) -> None:
    with store_engine.begin() as conn:
        first, = cast_votes(conn, [GOOD])
    with store_engine.begin() as conn:
        other, = cast_votes(conn, [replace(GOOD, reviewer="r2")])
        same_name_elsewhere, = cast_votes(conn, [replace(GOOD, agency="Force B")])
    with store_engine.begin() as conn:
        second, = cast_votes(conn, [replace(GOOD, category="B", note="on second look")])
    with store_engine.connect() as conn:
        history = media_votes(conn, first.media)
        current = list(iter_votes(conn, current_only=True))
        result = audit.verify(conn)
    assert [v.id for v in history] == [first.id, other.id, same_name_elsewhere.id, second.id]
    assert history[0].superseded_by == second.id and history[0].superseded_at == second.voted_at
    assert history[0].category == "A" and history[-1].note == "on second look"
    assert sorted(v.id for v in current) == [other.id, same_name_elsewhere.id, second.id]
    assert result.ok and result.rows == 4, result.problems


def test_every_vote_is_an_audit_row_naming_it_and_its_digest(store_engine) -> None:
    with store_engine.begin() as conn:
        first, = cast_votes(conn, [GOOD])
        second, = cast_votes(conn, [replace(GOOD, category="C")])
    with store_engine.connect() as conn:
        rows = conn.execute(select(audit.audit.c.action, audit.audit.c.details).order_by(audit.audit.c.id)).all()
    assert [action for action, _ in rows] == ["grade.vote", "grade.vote"]
    assert f'"vote":{second.id}' in rows[1].details and f'"supersedes":{first.id}' in rows[1].details
    assert second.digest() in rows[1].details and MD5 not in rows[1].details


@pytest.mark.parametrize(("tamper", "problem"), [
    ("UPDATE vote SET category = 'C' WHERE id = 1", "vote 1: changed outside hashwarden since audit row 1"),
    ("UPDATE vote SET superseded_by = 2 WHERE id = 1", "vote 1: superseded by 2, but the audit records 3"),
    ("DELETE FROM vote WHERE id = 2", "vote 2 (audit row 2) was removed outside hashwarden"),
    ("INSERT INTO vote (media, md5, scheme, category, age_band, sex, self_generated, capture_device, redistributed,"
     " reviewer, agency, source, voted_at) SELECT media, md5, scheme, 'C', age_band, sex, self_generated,"
     " capture_device, redistributed, 'r9', agency, source, voted_at FROM vote WHERE id = 2",
     "vote 4: no audit row records it (added outside hashwarden)"),
])
def test_audit_verify_finds_votes_changed_behind_its_back(store_engine, tamper: str, problem: str) -> None:
    with store_engine.begin() as conn:
        cast_votes(conn, [GOOD, replace(GOOD, reviewer="r2"), replace(GOOD, category="B")])
    with store_engine.connect() as conn:
        clean = audit.verify(conn)
    assert clean.ok and clean.votes == 3
    with store_engine.begin() as conn:
        conn.exec_driver_sql(tamper)
    with store_engine.connect() as conn:
        result = audit.verify(conn)
    assert any(found.startswith(problem) for found in result.problems), result.problems


def test_media_named_by_other_hashes_is_one_media(store_engine) -> None:
    """The key comes from the earlier votes sharing a hash; else the strongest hash given."""
    with store_engine.begin() as conn:
        both, = cast_votes(conn, [replace(GOOD, md5=MD5, sha256=SHA256)])
        by_md5, = cast_votes(conn, [replace(GOOD, reviewer="r2", md5=MD5)])
        by_sha1, = cast_votes(conn, [replace(GOOD, reviewer="r3", md5=MD5, sha1=SHA1)])
        by_sha1_only, = cast_votes(conn, [replace(GOOD, reviewer="r4", md5=None, sha1=SHA1)])
        by_pdq, = cast_votes(conn, [replace(GOOD, md5=None, pdq=PDQ)])
    assert both.media == f"sha256:{SHA256}"
    assert by_md5.media == by_sha1.media == by_sha1_only.media == both.media
    assert by_pdq.media == f"pdq:{PDQ}"


def test_hashes_contradicting_earlier_votes_or_naming_two_media_are_refused(store_engine) -> None:
    with store_engine.begin() as conn:
        cast_votes(conn, [replace(GOOD, md5=MD5, sha256=SHA256)])
        cast_votes(conn, [replace(GOOD, md5=None, sha1=SHA1)])  # another media, by sha1 alone
    with pytest.raises(GradingError, match="field md5: .* differs from the md5 earlier votes give"):
        with store_engine.begin() as conn:
            cast_votes(conn, [replace(GOOD, md5="00" * 16, sha256=SHA256)])
    with pytest.raises(GradingError, match="field hash: .* two different media"):
        with store_engine.begin() as conn:
            cast_votes(conn, [replace(GOOD, md5=MD5, sha1=SHA1)])


def test_concurrent_conflicting_votes_of_one_reviewer_leave_one_current(store_engine) -> None:
    """Writers all inside their transaction at once, each voting differently as the same reviewer on the same
    media (named by different hashes): every vote is stored, exactly one is current, the others superseded."""
    writers = 6
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []
    hashes = [{"md5": MD5, "sha256": SHA256}, {"md5": MD5}, {"md5": MD5, "sha1": SHA1}]  # all share the md5

    def write(worker: int) -> None:
        try:
            with store_engine.begin() as conn:
                barrier.wait(timeout=30)
                given = Vote(scheme="uk-sentencing", category="ABC"[worker % 3], reviewer="same", agency="A",
                             **hashes[worker % 3])
                cast_votes(conn, [given])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(worker,), daemon=True) for worker in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "vote writers deadlocked"
    assert errors == []
    with store_engine.connect() as conn:
        every = list(iter_votes(conn))
        current = [v for v in every if v.superseded_at is None]
        assert audit.verify(conn).ok
    assert len(every) == writers and len({v.media for v in every}) == 1
    assert len(current) == 1
    assert sorted(v.superseded_by for v in every if v.superseded_by) == sorted(v.id for v in every)[1:]
