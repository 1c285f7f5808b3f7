"""Publish -> subscribe through a signed TUF repository (distribution/, issue 19): round trips, deltas, offline copies,
http, key rotation, and every refusal (tampered, replayed, expired, wrongly signed) leaving the database unchanged."""

from __future__ import annotations

import io
import json

import functools
import http.server
import os
import shutil
import stat
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from hashwarden.distribution import keygen, publish, rotate_key, subscribe
from hashwarden.errors import DistributionError
from hashwarden.formats.jsonl import line_of
from hashwarden.signals.vpdq import VpdqFrame
from hashwarden.store import live, open_store, overlay
from hashwarden.store.audit import verify
from hashwarden.store.hashsets import create_set, get_set, iter_entries
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord
from hashwarden.store.revision import entry_keys, revise_set
from hashwarden.store.schema import entry, vpdq_frame


def _pdq(n: int) -> str:
    return f"{n:064x}"[::-1]


def _frames(n: int) -> list[VpdqFrame]:
    return [VpdqFrame(i, 90, _pdq(1000 + 10 * n + i), float(i)) for i in range(3)]


class World:
    """A publisher's store with two sets (PDQ images, vPDQ videos), its keys and repository, and a subscriber."""

    def __init__(self, root: Path) -> None:
        self.dir = root
        root.mkdir(parents=True, exist_ok=True)
        self.publisher = open_store(f"sqlite:///{root / 'publisher.db'}")
        self.subscriber = open_store(f"sqlite:///{root / 'station.db'}")
        self.keys = root / "keys"
        self.repo = root / "repo"
        keygen(self.keys)
        with self.publisher.begin() as conn:
            create_set(conn, "alerts", "alert", "IWF", category_scheme="uk-sentencing")
            create_set(conn, "videos", "alert")
        import_entries(self.publisher, "alerts", [
            EntryRecord(md5=f"{i:032x}", pdq=_pdq(i), pdq_quality=90, category="A") for i in range(1, 6)], {})
        import_entries(self.publisher, "videos", [
            EntryRecord(vpdq=_frames(1), line=1),  # known by its frames alone
            EntryRecord(md5=f"{77:032x}", vpdq=_frames(2), category="B", line=2)], {})

    def publish(self, *sets: str, **options) -> object:
        return publish(self.publisher, self.repo, self.keys, list(sets or ("alerts", "videos")), **options)

    def subscribe(self, repo: str | Path | None = None, engine=None, root: Path | None = None) -> object:
        return subscribe(engine or self.subscriber, str(repo or self.repo), root or self.root_file)

    @property
    def root_file(self) -> Path:
        """The root.json handed to subscribers out of band: version 1, kept aside."""
        kept = self.dir / "handed-over-root.json"
        if not kept.exists():
            shutil.copy(self.repo / "metadata" / "1.root.json", kept)
        return kept


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def lines(engine, name: str) -> set[str]:
    with engine.connect() as conn:
        return {line_of(record) for record in iter_entries(conn, get_set(conn, name).id, frames=True)}


def state(engine) -> tuple:
    """Everything a refused subscribe must leave as it was."""
    with engine.connect() as conn:
        return (conn.execute(text("SELECT * FROM hash_set ORDER BY id")).all(),
                conn.execute(text("SELECT * FROM entry ORDER BY id")).all(),
                conn.execute(text("SELECT * FROM vpdq_frame ORDER BY entry_id, frame")).all(),
                conn.execute(text("SELECT * FROM entry_recent ORDER BY id")).all(),
                conn.execute(text("SELECT * FROM vpdq_frame_recent ORDER BY entry_id, frame")).all(),
                conn.execute(text("SELECT * FROM entry_gone ORDER BY id")).all(),
                conn.execute(text("SELECT * FROM subscription ORDER BY set_id")).all(),
                conn.execute(text("SELECT count(*) FROM audit")).scalar_one())


def change_alerts(world: World) -> None:
    """Remove entry 1, regrade entry 2 (a removal and an addition), add entry 9."""
    with world.publisher.begin() as conn:
        target = get_set(conn, "alerts")
        ids = {keys[0]: id_ for id_, keys, _category, _provenance in entry_keys(conn, target.id)}
        revise_set(conn, target, [ids[f"{1:032x}"], ids[f"{2:032x}"]], [
            EntryRecord(md5=f"{2:032x}", pdq=_pdq(2), pdq_quality=90, category="B"),
            EntryRecord(md5=f"{9:032x}", pdq=_pdq(9), pdq_quality=70, category="C")],
            fmt="test", file="", version="x", details={})


def test_round_trip_of_two_sets_with_pdq_and_vpdq(world: World) -> None:
    done = world.publish()
    assert [(s.name, s.version, s.entries) for s in done.sets] == [("alerts", 1, 5), ("videos", 1, 2)]
    result = world.subscribe()
    assert [(u.name, u.old, u.new, u.how, u.added) for u in result.updated] == [
        ("alerts", None, 1, "full", 5), ("videos", None, 1, "full", 2)]
    for name in ("alerts", "videos"):
        assert lines(world.subscriber, name) == lines(world.publisher, name)
    with world.subscriber.connect() as conn:
        alerts = get_set(conn, "alerts")
        assert (alerts.kind, alerts.source, alerts.category_scheme, alerts.version) == ("alert", "IWF",
                                                                                         "uk-sentencing", "1")
        assert conn.execute(text("SELECT count(*) FROM vpdq_frame")).scalar_one() == 6
        assert verify(conn).ok  # every change audited, with the sets' content digests
        actions = [a for (a,) in conn.execute(text("SELECT action FROM audit ORDER BY id"))]
    assert actions[-1] == "subscribe"
    assert world.subscribe().current == ["alerts", "videos"]  # nothing new: nothing changed


def test_republish_sends_a_delta_and_a_removal_removes(world: World) -> None:
    world.publish()
    world.subscribe()
    change_alerts(world)
    done = world.publish()
    assert [(s.name, s.version, s.removed, s.added) for s in done.sets] == [("alerts", 2, 2, 2)]
    assert done.unchanged == ["videos"]
    result = world.subscribe()
    assert [(u.name, u.old, u.new, u.how, u.removed, u.added) for u in result.updated] == [
        ("alerts", 1, 2, "deltas", 2, 2)]
    assert lines(world.subscriber, "alerts") == lines(world.publisher, "alerts")
    with world.subscriber.connect() as conn:
        md5s = {bytes(v).hex() for (v,) in live.rows(conn, select(entry.c.md5).where(
            entry.c.set_id == get_set(conn, "alerts").id))}
        assert f"{1:032x}" not in md5s and f"{9:032x}" in md5s
        assert [row.category for row in live.rows(conn, select(entry.c.category).where(
            entry.c.md5 == bytes.fromhex(f"{2:032x}")))] == ["B"]
        assert verify(conn).ok
    # a subscriber that never held version 1 takes the full snapshot of version 2
    late = open_store(f"sqlite:///{world.dir / 'late.db'}")
    assert [u.how for u in world.subscribe(engine=late).updated] == ["full", "full"]
    assert lines(late, "alerts") == lines(world.publisher, "alerts")


def test_a_delta_removes_videos_with_their_frames(world: World) -> None:
    """Videos removed by a delta (one known by its frames alone, one by md5 with frames) take their frames with
    them, and the set's content digest subtracts those frames' terms: `audit verify` recomputes it."""
    world.publish()
    world.subscribe()
    with world.publisher.begin() as conn:
        target = get_set(conn, "videos")
        gone = [id_ for id_, _keys, _c, _p in entry_keys(conn, target.id)]
        revise_set(conn, target, gone, [EntryRecord(md5=f"{78:032x}", vpdq=_frames(3), category="A", line=1)],
                   fmt="test", file="", version="x", details={})
    world.publish("videos")
    assert [(u.name, u.how, u.removed, u.added) for u in world.subscribe().updated] == [("videos", "deltas", 2, 1)]
    assert lines(world.subscriber, "videos") == lines(world.publisher, "videos")
    with world.subscriber.begin() as conn:
        live_frames = select(func.count()).select_from(vpdq_frame)
        assert live.count(conn, live_frames) == 3  # the delta went to the overlay: the frames gone are not seen
        assert verify(conn).ok
        overlay.merge(conn)
        assert conn.execute(live_frames).scalar_one() == 3  # and merged, they are gone from the table
        assert verify(conn).ok


def test_deltas_of_several_versions_are_chained(world: World) -> None:
    world.publish("alerts")
    world.subscribe()
    for n in (20, 21, 22):
        import_entries(world.publisher, "alerts", [EntryRecord(md5=f"{n:032x}")], {})
        world.publish("alerts")
    assert [(u.old, u.new, u.how, u.added) for u in world.subscribe().updated] == [(1, 4, "deltas", 3)]
    assert lines(world.subscriber, "alerts") == lines(world.publisher, "alerts")


def _flip(path: Path, at: int = -20) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["delta", "snapshot-metadata", "timestamp"])
def test_a_flipped_byte_is_refused_and_the_database_is_unchanged(world: World, where: str) -> None:
    world.publish()
    world.subscribe()
    change_alerts(world)
    world.publish()
    metadata = world.repo / "metadata"
    if where == "delta":
        for file in (world.repo / "targets" / "sets" / "alerts").glob("*.delta-1-2.jsonl.gz"):
            _flip(file)
        expected = "hash or length mismatch"
    elif where == "snapshot-metadata":
        _flip(metadata / "2.snapshot.json", at=60)
        expected = "hash or length mismatch"
    else:
        _flip(metadata / "timestamp.json", at=30)  # inside the signature
        expected = "bad signature"
    before = state(world.subscriber)
    with pytest.raises(DistributionError, match=expected) as refused:
        world.subscribe()
    print(refused.value)
    assert "nothing was changed" in str(refused.value)
    assert state(world.subscriber) == before


def test_an_old_snapshot_replayed_is_refused(world: World) -> None:
    world.publish()
    old = world.dir / "old-metadata"
    shutil.copytree(world.repo / "metadata", old)
    change_alerts(world)
    world.publish()
    world.subscribe()
    before = state(world.subscriber)
    shutil.rmtree(world.repo / "metadata")
    shutil.copytree(old, world.repo / "metadata")  # a mirror (or an attacker) serving version 1 again
    with pytest.raises(DistributionError, match="rollback"):
        world.subscribe()
    assert state(world.subscriber) == before


def test_an_expired_timestamp_is_refused(world: World) -> None:
    world.publish(now=datetime.now(timezone.utc) - timedelta(days=2))  # its timestamp ran out a day ago
    before = state(world.subscriber)
    with pytest.raises(DistributionError, match="expired"):
        world.subscribe()
    assert state(world.subscriber) == before
    world.publish()  # the daily re-sign: a publish with nothing new signs a fresh timestamp
    assert [u.name for u in world.subscribe().updated] == ["alerts", "videos"]


def test_metadata_signed_with_a_wrong_key_is_refused(world: World) -> None:
    from securesystemslib.signer import CryptoSigner
    from tuf.api.metadata import Metadata

    world.publish()
    root_file = world.root_file
    change_alerts(world)
    world.publish()
    timestamp = Metadata.from_file(str(world.repo / "metadata" / "timestamp.json"))
    timestamp.signatures.clear()
    timestamp.sign(CryptoSigner.generate_ed25519())  # an attacker's key, which root does not name
    timestamp.to_file(str(world.repo / "metadata" / "timestamp.json"))
    before = state(world.subscriber)
    with pytest.raises(DistributionError, match="bad signature"):
        world.subscribe(root=root_file)
    assert state(world.subscriber) == before


def test_a_root_of_another_repository_is_refused(world: World, tmp_path: Path) -> None:
    world.publish()
    other = World(tmp_path / "other")
    other.publish()
    with pytest.raises(DistributionError, match="bad signature"):
        world.subscribe(root=other.root_file)
    assert state(world.subscriber)[0] == []


def test_a_subscriber_with_the_old_root_follows_a_key_rotation(world: World) -> None:
    world.publish()
    world.root_file  # noqa: B018 - handed over at version 1
    world.subscribe()
    assert rotate_key(world.repo, world.keys, "timestamp")["root"] == 2
    assert rotate_key(world.repo, world.keys, "snapshot")["root"] == 3
    assert (world.keys / "timestamp.pem.1.old").exists()
    change_alerts(world)
    world.publish()  # signed with the new keys
    assert [u.new for u in world.subscribe().updated] == [2]
    assert lines(world.subscriber, "alerts") == lines(world.publisher, "alerts")
    fresh = open_store(f"sqlite:///{world.dir / 'fresh.db'}")  # starts from root version 1 too
    assert [u.name for u in world.subscribe(engine=fresh).updated] == ["alerts", "videos"]
    stale = world.dir / "stale-keys"
    shutil.copytree(world.keys, stale)
    (stale / "timestamp.pem").unlink()
    shutil.copy(world.keys / "timestamp.pem.1.old", stale / "timestamp.pem")
    with pytest.raises(DistributionError, match="timestamp key .* not one root version 3"):
        publish(world.publisher, world.repo, stale, ["alerts"])


def test_an_offline_copy_of_the_repository_works(world: World) -> None:
    world.publish()
    media = world.dir / "usb" / "hw-repo"
    shutil.copytree(world.repo, media)
    assert [u.name for u in world.subscribe(repo=media).updated] == ["alerts", "videos"]
    change_alerts(world)
    world.publish()
    shutil.rmtree(media)
    shutil.copytree(world.repo, media)
    assert [(u.old, u.new) for u in world.subscribe(repo=f"file://{media}").updated] == [(1, 2)]
    assert lines(world.subscriber, "alerts") == lines(world.publisher, "alerts")


def test_subscribe_over_http(world: World) -> None:
    world.publish()
    handler = functools.partial(_QuietHandler, directory=str(world.repo))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        assert [u.name for u in world.subscribe(repo=url).updated] == ["alerts", "videos"]
    finally:
        server.shutdown()
        server.server_close()
    assert lines(world.subscriber, "videos") == lines(world.publisher, "videos")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_the_service_serves_the_repository_under_repo_without_a_key(world: World) -> None:
    from fastapi.testclient import TestClient

    from hashwarden.service.app import create_app

    world.publish()
    client = TestClient(create_app(world.publisher, repo_dir=str(world.repo)))
    answer = client.get("/repo/metadata/timestamp.json")
    assert answer.status_code == 200
    assert answer.content == (world.repo / "metadata" / "timestamp.json").read_bytes()
    assert client.get("/repo/metadata/").status_code == 404  # no listings
    assert client.get("/v1/sets").status_code == 401  # the API still needs its key
    assert TestClient(create_app(world.publisher)).get("/repo/metadata/timestamp.json").status_code == 404


def test_keys_are_private_and_never_inside_the_repository(world: World) -> None:
    for role in ("root", "targets", "snapshot", "timestamp"):
        assert stat.S_IMODE(os.stat(world.keys / f"{role}.pem").st_mode) == 0o600
    with pytest.raises(DistributionError, match="exists"):
        keygen(world.keys)
    inside = world.repo / "keys"
    keygen(inside)
    with pytest.raises(DistributionError, match="inside the repository"):
        publish(world.publisher, world.repo, inside, ["alerts"])
    shutil.rmtree(inside)
    world.publish()
    assert not list(world.repo.rglob("*.pem"))  # nothing private is published


def test_refusals_of_sets_that_cannot_follow(world: World) -> None:
    world.publish()
    with world.subscriber.begin() as conn:
        create_set(conn, "alerts", "alert")  # a local set of the same name
    before = state(world.subscriber)
    with pytest.raises(DistributionError, match="exists here and is not a subscription"):
        world.subscribe()
    assert state(world.subscriber) == before
    with world.publisher.begin() as conn:
        create_set(conn, "bad name/..", "alert")
    with pytest.raises(DistributionError, match="cannot be published"):
        world.publish("bad name/..")


def test_every_role_key_can_be_rotated(world: World) -> None:
    world.publish()
    world.root_file  # noqa: B018 - handed over at version 1
    world.subscribe()
    for number, role in enumerate(("root", "targets", "snapshot", "timestamp"), start=2):
        assert rotate_key(world.repo, world.keys, role)["root"] == number
    change_alerts(world)
    world.publish()
    assert [u.new for u in world.subscribe().updated] == [2]
    with pytest.raises(DistributionError, match="role must be one of"):
        rotate_key(world.repo, world.keys, "mirror")


def test_a_pruned_chain_of_deltas_means_the_full_list(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashwarden.distribution.publisher as publisher

    monkeypatch.setattr(publisher, "TUF_KEPT_DELTAS", 1)
    world.publish("alerts")
    world.subscribe()
    for n in (30, 31):
        import_entries(world.publisher, "alerts", [EntryRecord(md5=f"{n:032x}")], {})
        world.publish("alerts")
    assert [(u.old, u.new, u.how) for u in world.subscribe().updated] == [(1, 3, "full")]
    assert lines(world.subscriber, "alerts") == lines(world.publisher, "alerts")
    with world.subscriber.connect() as conn:
        assert verify(conn).ok


def test_the_cli_sets_the_expiries(world: World) -> None:
    from tuf.api.metadata import Metadata
    from typer.testing import CliRunner

    from hashwarden.cli import app

    done = CliRunner().invoke(app, ["--db", str(world.dir / "publisher.db"), "publish", "--repo", str(world.repo),
                                    "--keys", str(world.keys), "--set", "alerts", "--timestamp-days", "0.5",
                                    "--snapshot-days", "2"])
    assert done.exit_code == 0, done.output
    assert "published alerts version 1: 5 entries" in done.output
    now = datetime.now(timezone.utc)
    timestamp = Metadata.from_file(str(world.repo / "metadata" / "timestamp.json")).signed
    snapshot = Metadata.from_file(str(world.repo / "metadata" / "1.snapshot.json")).signed
    assert timedelta(hours=11) < timestamp.expires - now <= timedelta(hours=12)
    assert timedelta(days=1.9) < snapshot.expires - now <= timedelta(days=2)


def test_a_subscriber_on_each_backend(world: World, store_engine, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Full lists and deltas applied in one transaction on SQLite and PostgreSQL (its metadata cache under the user's
    cache directory, keyed by the database URL)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    world.publish()
    world.subscribe(engine=store_engine)
    change_alerts(world)
    world.publish()
    assert [u.how for u in world.subscribe(engine=store_engine).updated] == ["deltas"]
    for name in ("alerts", "videos"):
        assert lines(store_engine, name) == lines(world.publisher, name)
    with store_engine.connect() as conn:
        assert verify(conn).ok


def test_plain_md5sum_and_pdq_lists_are_published_for_other_clients(world: World) -> None:
    """Subscribers without hashwarden: each version also as md5sum and PDQ lines (gzip), listed with their hashes in
    the signed targets metadata like every file, so any TUF client verifies them."""
    import gzip
    import hashlib

    from tuf.api.metadata import Metadata

    world.publish()
    change_alerts(world)
    world.publish()
    targets = Metadata.from_file(str(world.repo / "metadata" / "2.targets.json")).signed.targets
    assert "sets/alerts/v2.md5.gz" in targets and "sets/alerts/v2.pdq.gz" in targets
    assert "sets/alerts/v1.md5.gz" not in targets  # only the newest version's lists are listed
    listed = targets["sets/alerts/v2.md5.gz"]
    stored = world.repo / "targets" / "sets" / "alerts" / f"{listed.hashes['sha256']}.v2.md5.gz"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == listed.hashes["sha256"]
    md5s = gzip.decompress(stored.read_bytes()).decode().split()
    assert sorted(md5s) == sorted(f"{i:032x}" for i in (2, 3, 4, 5, 9))
    pdq = targets["sets/alerts/v2.pdq.gz"]
    pdq_lines = gzip.decompress((world.repo / "targets" / "sets" / "alerts" /
                                 f"{pdq.hashes['sha256']}.v2.pdq.gz").read_bytes()).decode().splitlines()
    assert f"{_pdq(9)},70" in pdq_lines and len(pdq_lines) == 5


def test_a_vics_document_is_published_with_each_version_for_viewer_tools(world: World) -> None:
    """Each version also as one VICS 2.0 #Media document (gzip, signed like every target) where VICS can carry the
    set's categories: the codes in the scheme's own region, the hashes as Project VIC writes them, no imagery field.
    A set it cannot carry (uk-sentencing's letters; an ungraded set holding a category that is no VICS code) gets
    none, and the index says why."""
    import gzip
    import json

    from tuf.api.metadata import Metadata

    from hashwarden.formats import ReadReport
    from hashwarden.formats.vics.reader import read as read_vics

    with world.publisher.begin() as conn:
        create_set(conn, "projectvic", "alert", "VIC", category_scheme="vics-us")
    import_entries(world.publisher, "projectvic", [
        EntryRecord(md5=f"{i:032x}", pdq=_pdq(i), pdq_quality=90, category=str(1 + i % 2)) for i in range(20, 24)], {})
    world.publish("alerts", "videos", "projectvic")
    targets = Metadata.from_file(str(world.repo / "metadata" / "1.targets.json")).signed.targets
    listed = targets["sets/projectvic/v1.vics.json.gz"]
    raw = gzip.decompress((world.repo / "targets" / "sets" / "projectvic" /
                           f"{listed.hashes['sha256']}.v1.vics.json.gz").read_bytes())
    media = json.loads(raw)["value"]
    assert {m["MD5"]: m["Category"] for m in media} == {f"{i:032X}": 1 + i % 2 for i in range(20, 24)}
    assert not any(key in m for m in media for key in ("Miniature", "Thumbnail"))
    report = ReadReport()
    read_back = list(read_vics(io.BytesIO(raw), "published.vics.json", report))  # our own reader takes it back
    assert sorted(r.md5 for r in read_back) == [f"{i:032x}" for i in range(20, 24)]
    assert report.meta.get("region") == "US", report.meta
    assert "sets/alerts/v1.vics.json.gz" not in targets and "sets/videos/v1.vics.json.gz" not in targets
    stored = next((world.repo / "targets" / "sets").glob("*.index.json"))
    index = json.loads(stored.read_text())
    assert "uk-sentencing" in index["sets"]["alerts"]["plain_refused"]["vics.json"]
    assert "not an integer code" in index["sets"]["videos"]["plain_refused"]["vics.json"]
    assert sorted(index["sets"]["projectvic"]["plain"]) == ["md5", "pdq", "vics.json"]


def test_serve_repo_reaches_each_worker(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve --repo` hands the directory to each uvicorn worker through $HASHWARDEN_REPO."""
    import gc

    from fastapi.testclient import TestClient

    from hashwarden.service.app import app_from_environment

    world.publish()
    monkeypatch.setenv("HASHWARDEN_DB", str(world.publisher.url.render_as_string(hide_password=False)))
    monkeypatch.setenv("HASHWARDEN_REPO", str(world.repo))
    try:
        client = TestClient(app_from_environment())
        root = (world.repo / "metadata" / "1.root.json").read_bytes()
        assert client.get("/repo/metadata/1.root.json").content == root
    finally:
        gc.unfreeze()


def test_a_malformed_index_is_refused_in_words(world: World) -> None:
    """A signed index with a delta going backwards (a publisher's bug) is a message, not a loop or a traceback."""
    from hashwarden.config import Expiries
    from hashwarden.distribution.publisher import _Repository

    world.publish()
    world.subscribe()
    change_alerts(world)
    world.publish()
    repo = _Repository.open(world.repo, world.keys, Expiries(), None)
    repo.index["sets"]["alerts"]["deltas"].append({"from": 2, "to": 2, "path": "sets/alerts/x"})
    repo.write_index()
    repo.sign(targets=True)
    before = state(world.subscriber)
    with pytest.raises(DistributionError, match="a delta that is not from one version to a later one"):
        world.subscribe()
    assert state(world.subscriber) == before


def test_a_failed_first_publish_leaves_a_repository_that_can_be_published(world: World) -> None:
    from hashwarden.errors import StoreError

    with pytest.raises(StoreError, match="no hash set named 'missing'"):
        world.publish("missing")
    assert not (world.repo / "metadata" / "timestamp.json").exists()
    assert [s.name for s in world.publish("alerts").sets] == ["alerts"]
    assert [u.name for u in world.subscribe().updated] == ["alerts"]


def test_all_sets_or_none(world: World) -> None:
    """The second set failing inside the transaction takes the first set's applied delta back with it."""
    world.publish()
    world.subscribe()
    change_alerts(world)
    with world.publisher.begin() as conn:  # the publisher drops the video known by md5 77
        target = get_set(conn, "videos")
        gone = [id_ for id_, keys, _c, _p in entry_keys(conn, target.id) if keys[0] == f"{77:032x}"]
        revise_set(conn, target, gone, [], fmt="test", file="", version="x", details={})
    world.publish()
    with world.subscriber.begin() as conn:  # ... which the station's copy lost already, behind subscribe's back
        target = get_set(conn, "videos")
        gone = [id_ for id_, keys, _c, _p in entry_keys(conn, target.id) if keys[0] == f"{77:032x}"]
        revise_set(conn, target, gone, [], fmt="test", file="", version="1", details={})
    before = state(world.subscriber)
    with pytest.raises(DistributionError, match="'videos': .* removes 1 entries this database's copy does not hold"):
        world.subscribe()
    assert state(world.subscriber) == before  # alerts, applied first, is back at version 1 too


_SUBSCRIBE_AND_LIST_MODULES = """
import json, sys
sys.argv = ["hashwarden", *json.loads(sys.argv[1])]
from hashwarden.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
print("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def test_a_subscriber_process_loads_neither_the_publisher_nor_numpy(world: World) -> None:
    """`hashwarden subscribe` reads lists and applies deltas. The publisher's modules and NumPy (the publisher's
    delta comparison and exports, a bulk import's prefix check, the JSON reader's check of deep nesting) were loaded
    by every run: an up-to-date subscribe took 0.60 s, 0.47 s without them (medians of 11). Seen in a fresh
    process that applies a delta."""
    import json
    import subprocess
    import sys

    world.publish()
    world.subscribe()
    change_alerts(world)
    world.publish()
    args = ["--db", str(world.dir / "station.db"), "subscribe", "--repo", str(world.repo), "--root",
            str(world.root_file)]
    run = subprocess.run([sys.executable, "-c", _SUBSCRIBE_AND_LIST_MODULES, json.dumps(args)], capture_output=True,
                         text=True, timeout=120)
    ended = json.loads(run.stderr.strip().rsplit("\n", 1)[-1])
    assert ended["code"] in (0, None), run.stderr[-2000:]
    assert "version 1 -> version 2" in run.stdout  # the delta was applied there
    assert lines(world.subscriber, "alerts") == lines(world.publisher, "alerts")
    loaded = set(ended["modules"])
    assert "hashwarden.distribution.lists" in loaded  # it read the published lists...
    assert {"numpy", "hashwarden.distribution.publisher"} & loaded == set()  # ...and nothing of the publisher's


def test_a_delta_waits_in_the_overlay_until_merged(world: World) -> None:
    """`hashwarden subscribe` applies a delta to the overlay (store/overlay.py): `set show` counts what waits there,
    `set merge` folds it into the set (audited), and neither changes what the set holds."""
    from typer.testing import CliRunner

    from hashwarden.cli import app

    def hw(*args: str) -> str:
        done = CliRunner().invoke(app, ["--db", str(world.dir / "station.db"), *args])
        assert done.exit_code == 0, done.output
        return done.output

    world.publish()
    world.subscribe()
    change_alerts(world)
    world.publish()
    hw("subscribe", "--repo", str(world.repo), "--root", str(world.root_file))
    held = lines(world.subscriber, "alerts")
    assert held == lines(world.publisher, "alerts")
    assert json.loads(hw("set", "show", "alerts", "--json"))["unmerged"] == 4  # 2 removed, 2 added
    assert "merged 2 added and 2 removed entries into the sets" in hw("set", "merge")
    assert json.loads(hw("set", "show", "alerts", "--json"))["unmerged"] == 0
    assert lines(world.subscriber, "alerts") == held
    assert "intact" in hw("audit", "verify")
    with world.subscriber.connect() as conn:
        assert conn.execute(text("SELECT action FROM audit ORDER BY id DESC LIMIT 1")).scalar_one() == "overlay.merge"
