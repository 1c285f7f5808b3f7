"""The URL list through the signed repository (distribution/, issue 19): `publish --urls` -> `subscribe`, full and by
delta, the plain lists for other clients, refusals leaving sets and URLs unchanged, one transaction for both."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from hashwarden.cli import app
from hashwarden.distribution import publish
from hashwarden.errors import DistributionError
from hashwarden.store import open_store
from hashwarden.store.audit import verify
from hashwarden.store.db import _alembic_config
from hashwarden.store.subscriptions import held_url_version, held_versions
from hashwarden.store.urls import NewUrlEntry, add_entries, iter_entries, remove_entries, set_appeal
from hashwarden.urls import expression_hash
from tests.distribution.test_distribution import World, _flip, change_alerts, lines
from tests.distribution.test_distribution import state as set_state

URLS = [  # (url checked, its entry)
    ("http://bad.example.org/any/thing.jpg", NewUrlEntry("bad.example.org/", "domain", "A", "hotline", "IWF")),
    ("http://host.example.net/gallery/7.jpg", NewUrlEntry("host.example.net/gallery/", "path", "B")),
    ("http://pics.example.com/a.jpg?x=1", NewUrlEntry("pics.example.com/a.jpg?x=1", "page", None, None, None,
                                                      "ab" * 32)),
]
NEW_URL = ("http://new.example.org/p.png", NewUrlEntry("new.example.org/p.png", "image", "C"))


class UrlWorld(World):
    """World's sets, and a URL list at the publisher."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        with self.publisher.begin() as conn:
            add_entries(conn, [entry for _url, entry in URLS])

    def publish(self, *sets: str, **options) -> object:
        return super().publish(*sets, **{"urls": True, **options})


@pytest.fixture
def world(tmp_path: Path) -> UrlWorld:
    return UrlWorld(tmp_path)


def state(engine) -> tuple:
    """Sets and URL list: everything a refused subscribe must leave as it was."""
    with engine.connect() as conn:
        return set_state(engine) + (conn.execute(text("SELECT * FROM url_entry ORDER BY id")).all(),
                                    conn.execute(text("SELECT * FROM url_subscription")).all())


def cli(*args: str) -> object:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def checked(db: Path, urls: list[str]) -> list[dict]:
    """`url check --json` of `urls` against database `db`."""
    done = cli("--db", db, "url", "check", "--json", *urls)
    assert done.exit_code in (0, 1), done.output
    return [json.loads(line) for line in done.output.splitlines()]


def entries(engine) -> list[dict]:
    """The current entries as a subscriber must hold them (the store's own times and versions left out)."""
    keep = ("public_id", "expression", "kind", "category", "source", "reporter", "evidence_sha256", "appeal")
    with engine.connect() as conn:
        return sorted(({name: getattr(e, name) for name in keep} for e in iter_entries(conn)),
                      key=lambda e: e["public_id"])


def export(world: World, fmt: str) -> str:
    """`url export --format fmt` of the publisher."""
    out = world.dir / f"export.{fmt}"
    done = cli("--db", world.dir / "publisher.db", "url", "export", "--format", fmt, "-o", out)
    assert done.exit_code == 0, done.output
    return out.read_text()


def target_file(world: World, path: str) -> Path:
    from tuf.api.metadata import Metadata

    timestamp = Metadata.from_file(str(world.repo / "metadata" / "timestamp.json")).signed
    snapshot = Metadata.from_file(str(world.repo / "metadata" /
                                      f"{timestamp.snapshot_meta.version}.snapshot.json")).signed
    targets = Metadata.from_file(str(world.repo / "metadata" /
                                     f"{snapshot.meta['targets.json'].version}.targets.json")).signed.targets
    listed = targets[path]
    directory, _, base = path.rpartition("/")
    return world.repo / "targets" / directory / f"{listed.hashes['sha256']}.{base}"


def change_urls(world: UrlWorld) -> None:
    """At the publisher: remove the path entry, add an image entry, open an appeal on the domain entry."""
    with world.publisher.begin() as conn:
        remove_entries(conn, [URLS[1][1].sha256], reason="taken down")
        add_entries(conn, [NEW_URL[1]])
        set_appeal(conn, URLS[0][1].sha256, "open")


def test_url_list_round_trip_answers_the_same_entry_ids(world: UrlWorld) -> None:
    done = world.publish()
    assert (done.urls.name, done.urls.version, done.urls.entries) == ("urls", 1, 3)
    result = world.subscribe()
    assert (result.urls.old, result.urls.new, result.urls.how, result.urls.added) == (None, 1, "full", 3)
    assert [u.name for u in result.updated] == ["alerts", "videos"]
    assert entries(world.subscriber) == entries(world.publisher)
    urls = [url for url, _entry in URLS] + ["http://clean.example.org/"]
    answers = checked(world.dir / "station.db", urls)
    assert answers == checked(world.dir / "publisher.db", urls)
    assert [a["listed"] for a in answers] == [True, True, True, False] and all(a.get("entry") for a in answers[:3])
    with world.subscriber.connect() as conn:
        held = held_url_version(conn)
        assert (held.version, held.local_version) == (1, 1)
        assert verify(conn).ok
        last = json.loads(conn.execute(text("SELECT details FROM audit ORDER BY id DESC LIMIT 1")).scalar_one())
        actions = [a for (a,) in conn.execute(text("SELECT action FROM audit ORDER BY id"))]
    assert actions[-2:] == ["url.add", "subscribe"]
    assert last["urls"] == {"from": None, "to": 1, "how": "full", "removed": 0, "added": 3}
    again = world.subscribe()
    assert again.urls is None and again.urls_current


def test_a_url_delta_removes_adds_and_follows_an_appeal(world: UrlWorld) -> None:
    world.publish()
    world.subscribe()
    change_urls(world)
    done = world.publish()
    assert done.sets == [] and (done.urls.version, done.urls.removed, done.urls.added) == (2, 2, 2)
    result = world.subscribe()
    assert (result.urls.old, result.urls.new, result.urls.how, result.urls.removed, result.urls.added) == (
        1, 2, "deltas", 1, 1)  # the appeal is the same entry, not a removal and an addition
    assert entries(world.subscriber) == entries(world.publisher)
    answers = checked(world.dir / "station.db", [URLS[1][0], NEW_URL[0]])
    assert [a["listed"] for a in answers] == [False, True]  # the removal unlists
    assert answers == checked(world.dir / "publisher.db", [URLS[1][0], NEW_URL[0]])
    with world.subscriber.connect() as conn:
        assert verify(conn).ok
        assert held_url_version(conn).version == 2
        actions = [a for (a,) in conn.execute(text("SELECT action FROM audit ORDER BY id"))]
    assert actions[-4:] == ["url.remove", "url.add", "url.appeal", "subscribe"]


def test_the_url_list_alone_and_unchanged(world: UrlWorld) -> None:
    done = publish(world.publisher, world.repo, world.keys, [], urls=True)
    assert done.sets == [] and done.urls.version == 1
    result = world.subscribe()
    assert result.updated == [] and result.urls.added == 3
    with world.subscriber.connect() as conn:
        assert held_versions(conn) == {}
    again = publish(world.publisher, world.repo, world.keys, [], urls=True)
    assert again.urls is None and again.urls_unchanged
    output = cli("--db", world.dir / "publisher.db", "publish", "--repo", world.repo, "--keys", world.keys,
                 "--urls").output
    assert "the URL list: unchanged since its last version" in output


def test_plain_lists_sha256_always_plaintext_only_with_the_flag(world: UrlWorld) -> None:
    from tuf.api.metadata import Metadata

    world.publish()
    targets = Metadata.from_file(str(world.repo / "metadata" / "1.targets.json")).signed.targets
    assert "urls/v1.sha256.gz" in targets and "urls/v1.txt.gz" not in targets
    exported = export(world, "sha256")
    assert gzip.decompress(target_file(world, "urls/v1.sha256.gz").read_bytes()).decode() == exported
    assert len(exported.split()) == 3
    assert not [p for p in (world.repo / "targets" / "urls").iterdir() if p.name.endswith(".txt.gz")]
    done = cli("--db", world.dir / "publisher.db", "publish", "--repo", world.repo, "--keys", world.keys,
               "--urls-plaintext")
    assert done.exit_code == 0, done.output
    assert "published the URL list version 2: 3 entries (delta: 0 removed, 0 added)" in done.output
    expressions = export(world, "expressions")
    assert gzip.decompress(target_file(world, "urls/v2.txt.gz").read_bytes()).decode() == expressions
    assert sorted(expressions.split()) == sorted(entry.expression for _url, entry in URLS)
    done = world.publish()  # the plaintext turned off again: a new version without it
    assert done.urls.version == 3 and (done.urls.removed, done.urls.added) == (0, 0)
    targets = Metadata.from_file(str(world.repo / "metadata" / "3.targets.json")).signed.targets
    assert "urls/v3.sha256.gz" in targets and not [path for path in targets if path.endswith(".txt.gz")]


def test_each_line_carries_the_entry_and_its_public_id(world: UrlWorld) -> None:
    world.publish()
    lines_ = gzip.decompress(target_file(world, "urls/v1.jsonl.gz").read_bytes()).decode().splitlines()
    published = sorted((json.loads(line) for line in lines_), key=lambda e: e["public_id"])
    assert published == [{k: v for k, v in e.items() if v is not None} for e in entries(world.publisher)]
    index = json.loads(target_file(world, "urls/index.json").read_bytes())
    assert (index["version"], index["entries"], index["full"], index["plain"]) == (
        1, 3, "urls/v1.jsonl.gz", {"sha256": "urls/v1.sha256.gz"})


@pytest.mark.parametrize("what", ["delta", "full"])
def test_a_tampered_url_file_is_refused_and_nothing_changes(world: UrlWorld, what: str) -> None:
    world.publish()
    if what == "delta":
        world.subscribe()
        change_urls(world)
        change_alerts(world)
        world.publish()
        _flip(target_file(world, "urls/delta-1-2.jsonl.gz"))
    else:
        _flip(target_file(world, "urls/v1.jsonl.gz"))
    before = state(world.subscriber)
    name = "delta-1-2" if what == "delta" else "v1"
    with pytest.raises(DistributionError, match=f"hash or length mismatch.*urls/{name}"):
        world.subscribe()
    assert state(world.subscriber) == before


def test_an_old_url_list_replayed_is_refused(world: UrlWorld) -> None:
    world.publish()
    old = world.dir / "old-metadata"
    shutil.copytree(world.repo / "metadata", old)
    change_urls(world)
    world.publish()
    world.subscribe()
    before = state(world.subscriber)
    shutil.rmtree(world.repo / "metadata")
    shutil.copytree(old, world.repo / "metadata")
    with pytest.raises(DistributionError, match="rollback"):
        world.subscribe()
    assert state(world.subscriber) == before


def test_sets_and_urls_in_one_transaction(world: UrlWorld) -> None:
    """A failure in the URL part, applied after the sets, takes the sets' applied deltas back with it."""
    world.publish()
    world.subscribe()
    change_alerts(world)
    change_urls(world)
    world.publish()
    with world.subscriber.begin() as conn:  # the station's copy loses the path entry behind subscribe's back,
        conn.execute(text("UPDATE url_entry SET removed_at = 'x' WHERE sha256 = :h"),  # its version untouched
                     {"h": expression_hash(URLS[1][1].expression)})
    before = state(world.subscriber)
    with pytest.raises(DistributionError, match="removes 1 URL entries this database's list does not hold"):
        world.subscribe()
    assert state(world.subscriber) == before  # alerts still at version 1
    with world.subscriber.connect() as conn:
        assert held_versions(conn)["alerts"][1] == 1


def test_a_url_list_changed_locally_is_refused_and_no_urls_skips_it(world: UrlWorld) -> None:
    world.publish()
    world.subscribe()
    done = cli("--db", world.dir / "station.db", "url", "add", "http://local.example.org/x.jpg", "--kind", "page")
    assert done.exit_code == 0, done.output
    change_alerts(world)
    change_urls(world)
    world.publish()
    before = state(world.subscriber)
    with pytest.raises(DistributionError, match="URL list here was changed after subscribing"):
        world.subscribe()
    assert state(world.subscriber) == before
    done = cli("--db", world.dir / "station.db", "subscribe", "--repo", world.repo, "--root", world.root_file,
               "--no-urls")
    assert done.exit_code == 0, done.output
    assert "alerts: version 1 -> version 2 (deltas" in done.output and "URL list" not in done.output
    assert lines(world.subscriber, "alerts") == lines(world.publisher, "alerts")


def test_a_local_url_list_is_not_overwritten(world: UrlWorld) -> None:
    world.publish()
    with world.subscriber.begin() as conn:
        add_entries(conn, [NEW_URL[1]])
    before = state(world.subscriber)
    with pytest.raises(DistributionError, match="holds entries of its own and is not a subscription"):
        world.subscribe()
    assert state(world.subscriber) == before


def test_a_pruned_url_chain_means_the_full_list(world: UrlWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashwarden.distribution.publisher as publisher

    monkeypatch.setattr(publisher, "TUF_KEPT_DELTAS", 1)
    world.publish()
    world.subscribe()
    change_urls(world)
    world.publish()
    with world.publisher.begin() as conn:
        add_entries(conn, [NewUrlEntry("more.example.org/", "domain")])
    world.publish()
    result = world.subscribe()
    assert (result.urls.old, result.urls.new, result.urls.how, result.urls.removed, result.urls.added) == (
        1, 3, "full", 1, 2)
    assert entries(world.subscriber) == entries(world.publisher)


def test_the_cli_publishes_and_subscribes_the_url_list(world: UrlWorld) -> None:
    done = cli("--db", world.dir / "publisher.db", "publish", "--repo", world.repo, "--keys", world.keys,
               "--set", "alerts", "--urls")
    assert done.exit_code == 0, done.output
    assert "published the URL list version 1: 3 entries" in done.output
    done = cli("--db", world.dir / "station.db", "subscribe", "--repo", world.repo, "--root", world.root_file)
    assert done.exit_code == 0, done.output
    assert "the URL list: new -> version 1 (full: 0 removed, 3 added)" in done.output
    done = cli("--db", world.dir / "station.db", "subscribe", "--repo", world.repo, "--root", world.root_file)
    assert "the URL list: current" in done.output


def test_migration_0015_down_and_up(tmp_path: Path) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = open_store(url)
    config = _alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0014")
    with engine.connect() as conn:
        assert not inspect(conn).has_table("url_subscription") and inspect(conn).has_table("subscription")
    engine.dispose()
    engine = open_store(url)
    with engine.connect() as conn:
        assert inspect(conn).has_table("url_subscription")
    engine.dispose()


def test_a_malformed_url_line_is_refused_in_words(world: UrlWorld) -> None:
    """A signed URL list with a line that is no entry (a publisher's bug) is a message naming the line."""
    from hashwarden.config import Expiries
    from hashwarden.distribution.publisher import _Repository

    world.publish()
    world.subscribe()
    repo = _Repository.open(world.repo, world.keys, Expiries(), None)
    bad = world.dir / "bad.jsonl.gz"
    bad.write_bytes(gzip.compress(b'{"expression": "a.example.org/", "kind": "domain", "public_id": "zz"}\n'))
    repo._add_target("urls/v2.jsonl.gz", bad)
    repo.url_index = {**repo.url_index, "version": 2, "full": "urls/v2.jsonl.gz", "deltas": []}
    repo.write_url_index()
    repo.sign(targets=True)
    before = state(world.subscriber)
    with pytest.raises(DistributionError, match=r"urls/v2.jsonl.gz:1: public_id is not 32 lowercase hex digits"):
        world.subscribe()
    assert state(world.subscriber) == before


def test_a_url_subscriber_on_each_backend(world: UrlWorld, store_engine, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    world.publish()
    assert world.subscribe(engine=store_engine).urls.how == "full"
    change_urls(world)
    world.publish()
    assert world.subscribe(engine=store_engine).urls.how == "deltas"
    assert entries(store_engine) == entries(world.publisher)
    with store_engine.connect() as conn:
        assert held_url_version(conn).version == 2 and verify(conn).ok
