"""Tests for the folder evidence source: a hostile seized tree is walked completely, safely and read-only.

Symlinks, FIFOs and sockets are listed as Skipped and never opened; names that are not UTF-8 survive byte for byte;
a 10,000-deep tree (paths far beyond PATH_MAX) is walked with a bounded number of open descriptors; the order is
stable; and a scan leaves every source file's bytes, mtime and atime exactly as they were.

All content is benign: synthetic images from hashwarden.demo.synthetic and short text written here.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hashwarden.config import ScanSettings
from hashwarden.demo.synthetic import scene
from hashwarden.errors import EvidenceReadError
from hashwarden.evidence import FolderItem, FolderSource, Skipped
from hashwarden.config import MAX_OPEN_DIRS
from hashwarden.scan import run_scan
from hashwarden.scan.worker import hash_item
from hashwarden.signals import HashOptions
from hashwarden.store import open_store

WALK_TIMEOUT = 30.0
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOATIME = getattr(os, "O_NOATIME", 0)


# ----------------------------------------------------------------------------------------------------- helpers


def _jpeg_bytes(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    scene(seed, size).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _png_bytes(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    scene(seed, size).save(buffer, format="PNG")
    return buffer.getvalue()


def _in_thread(function: Callable[[], Any], timeout: float = WALK_TIMEOUT) -> Any:
    """Run `function` in a daemon thread; fail (instead of hanging the suite) if it does not return in time."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = function()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"did not finish within {timeout} s (blocked opening a special file?)"
    if "error" in result:
        raise result["error"]
    return result["value"]


def _walk(root: Path | bytes | str) -> list[FolderItem | Skipped]:
    return _in_thread(lambda: list(FolderSource(root).iter_entries()))


def _keys(entries: list[FolderItem | Skipped]) -> list[bytes]:
    return [e.key for e in entries]


def _fds_under(root: Path) -> int:
    """Descriptors this process holds on `root` or anything below it.

    Counting only these (not every descriptor) keeps the count independent of whatever an earlier test in the same
    process left for the garbage collector to close, which would otherwise change the total mid-test."""
    prefix = str(root)
    held = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError as exc:
            # Too long a path for the kernel to spell out: only the deep tree has those. Anything else: closed
            # between the listing and the readlink (the listing's own descriptor).
            held += exc.errno == errno.ENAMETOOLONG
            continue
        held += target == prefix or target.startswith(prefix + os.sep)
    return held


def _read_noatime(path: bytes) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | _NOATIME)
    except PermissionError:
        fd = os.open(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as fp:
        return fp.read()


def _sha256_listing(root: Path) -> dict[bytes, tuple[int, str]]:
    """(size, sha256) of every regular file below root, keyed by its relative path bytes."""
    listing = {}
    base = os.fsencode(root)
    for directory, _dirs, files in os.walk(base):
        for name in files:
            path = os.path.join(directory, name)
            if stat.S_ISREG(os.lstat(path).st_mode):
                data = _read_noatime(path)
                listing[os.path.relpath(path, base)] = (len(data), hashlib.sha256(data).hexdigest())
    return listing


def _tree_paths(root: Path) -> tuple[list[bytes], list[bytes]]:
    """(regular files, directories including root) below root, as absolute path bytes.

    Taken once, before the times are set: listing a directory again would itself update its atime.
    """
    files, dirs = [], []
    base = os.fsencode(root)
    for directory, _subdirs, names in os.walk(base):
        dirs.append(directory)
        files.extend(p for p in (os.path.join(directory, n) for n in names) if stat.S_ISREG(os.lstat(p).st_mode))
    return files, dirs


def _age(paths: list[bytes]) -> None:
    """Give each path an atime far older than its mtime: relatime would then update it on any read."""
    old_atime = 1_000_000_000 * 10**9  # 2001-09-09
    old_mtime = 1_100_000_000 * 10**9  # 2004-11-09
    for path in paths:
        os.utime(path, ns=(old_atime, old_mtime), follow_symlinks=False)


def _times(paths: list[bytes]) -> dict[bytes, tuple[int, int, int]]:
    """(atime_ns, mtime_ns, ctime_ns) of each path, by lstat alone (nothing is read or listed)."""
    result = {}
    for path in paths:
        info = os.lstat(path)
        result[path] = (info.st_atime_ns, info.st_mtime_ns, info.st_ctime_ns)
    return result


# ----------------------------------------------------------------------------------------------- special entries


def test_symlinks_are_listed_as_skipped_and_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside the evidence\n")
    root = tmp_path / "src"
    root.mkdir()
    (root / "real.txt").write_text("a real file\n")
    (root / "to_file").symlink_to(outside / "secret.txt")
    (root / "to_dir").symlink_to(outside, target_is_directory=True)
    (root / "dangling").symlink_to(tmp_path / "does-not-exist")
    (root / "loop").symlink_to("loop")

    entries = _walk(root)

    items = [e for e in entries if isinstance(e, FolderItem)]
    skipped = {e.key: e for e in entries if isinstance(e, Skipped)}
    assert [i.key for i in items] == [b"real.txt"]
    assert set(skipped) == {b"to_file", b"to_dir", b"dangling", b"loop"}
    for entry in skipped.values():
        assert "symbolic link" in entry.reason
        assert entry.path == entry.key.decode()
    # Nothing behind the directory link was listed.
    assert not any(b"secret" in key for key in _keys(entries))


def test_fifo_and_socket_are_skipped_and_never_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "a.txt").write_text("before\n")
    os.mkfifo(root / "pipe")
    (root / "z.txt").write_text("after\n")
    # AF_UNIX paths are limited to ~108 bytes: bind by a relative name from inside the folder.
    monkeypatch.chdir(root)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind("sock")
    monkeypatch.chdir(tmp_path)

    opened: list[Any] = []
    real_open = os.open

    def spy(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        opened.append(os.fsencode(path) if isinstance(path, (str, bytes, os.PathLike)) else path)
        return real_open(path, flags, *args, **kwargs)

    try:
        monkeypatch.setattr(os, "open", spy)
        entries = _walk(root)
        items = {e.key: e for e in entries if isinstance(e, FolderItem)}
        # Hashing what was listed must not touch the special files either.
        rows = _in_thread(lambda: [hash_item((0, item, HashOptions(compute_pdq=False))) for item in items.values()])
    finally:
        monkeypatch.undo()
        server.close()

    skipped = {e.key: e.reason for e in entries if isinstance(e, Skipped)}
    assert set(items) == {b"a.txt", b"z.txt"}
    assert skipped == {b"pipe": "named pipe (FIFO)", b"sock": "socket"}
    assert _keys(entries) == [b"a.txt", b"pipe", b"sock", b"z.txt"]
    assert all(row.get("error") is None for row in rows)
    assert not any(path.endswith((b"pipe", b"sock")) for path in opened if isinstance(path, bytes)), opened


# ------------------------------------------------------------------------------------------------------- names


def test_non_utf8_names_are_found_hashed_and_escaped(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    base = os.fsencode(root)
    picture = _jpeg_bytes(1)
    text = b"inside a badly named folder\n"
    with open(os.path.join(base, b"\xff\xfe.jpg"), "wb") as fp:
        fp.write(picture)
    os.mkdir(os.path.join(base, b"dir\xe9"))
    with open(os.path.join(base, b"dir\xe9", b"caf\xc3\xa9 \x80.txt"), "wb") as fp:
        fp.write(text)

    entries = _walk(root)

    items = {e.key: e for e in entries if isinstance(e, FolderItem)}
    assert set(items) == {b"\xff\xfe.jpg", b"dir\xe9/caf\xc3\xa9 \x80.txt"}
    jpg = items[b"\xff\xfe.jpg"]
    assert jpg.path == "\\xff\\xfe.jpg"
    assert jpg.parts == (b"\xff\xfe.jpg",)
    nested = items[b"dir\xe9/caf\xc3\xa9 \x80.txt"]
    assert nested.path == "dir\\xe9/café \\x80.txt"  # valid UTF-8 stays readable, only bad bytes are escaped
    assert nested.parts == (b"dir\xe9", b"caf\xc3\xa9 \x80.txt")
    for item in (jpg, nested):
        json.dumps(item.path, ensure_ascii=False).encode("utf-8")  # a report can carry it

    row = hash_item((0, jpg, HashOptions()))
    assert row.get("error") is None
    assert row["key"] == b"\xff\xfe.jpg"
    assert row["path"] == "\\xff\\xfe.jpg"
    assert row["md5"] == hashlib.md5(picture).hexdigest()
    assert row["sha256"] == hashlib.sha256(picture).hexdigest()
    assert row["media"] == "image" and row["pdq"]
    with nested.open() as fp:
        assert fp.read() == text


def test_a_name_that_spells_an_escape_never_collides_with_the_escaped_bytes(tmp_path: Path) -> None:
    r"""README: a literal backslash in a name is written `\\`, so two different raw names never give the same path:
    the byte 0xff (written `\xff`) and the four characters `\xff` (written `\\xff`) are two items, two paths."""
    root = tmp_path / "names"
    root.mkdir()
    base = os.fsencode(root)
    for name in (b"a\xff.txt", b"a\\xff.txt", b"b\\.txt"):
        with open(os.path.join(base, name), "wb") as fp:
            fp.write(name)
    paths = {e.key: e.path for e in _walk(root) if isinstance(e, FolderItem)}
    assert paths == {b"a\xff.txt": "a\\xff.txt", b"a\\xff.txt": "a\\\\xff.txt", b"b\\.txt": "b\\\\.txt"}


# ---------------------------------------------------------------------------------------------- the deep tree

DEPTH = 10_000
FILE_DEPTHS = frozenset(range(1, DEPTH + 1, 100)) | {2, 4096, DEPTH}
SIBLING_DEPTHS = frozenset(range(250, DEPTH, 500))


def _deep_key(level: int, *tail: bytes) -> bytes:
    return b"/".join((b"d",) * level + tail)


def _level_content(level: int) -> bytes:
    return f"a file at depth {level}\n".encode()


def _build_deep_tree(root: Path) -> None:
    """root/d/d/.../d (DEPTH levels) built descriptor-relative, so no path handed to the OS exceeds PATH_MAX.

    At each FILE_DEPTHS level: a file `a.txt` (sorted before `d`, so the walk yields it on the way down). At each
    SIBLING_DEPTHS level: a directory `e` with a file `g.bin` (sorted after `d`, so the walk must come back to
    that level, re-opening a directory whose descriptor it had to give up, after the whole deep chain).
    """
    fd = os.open(root, _DIR)
    try:
        for level in range(1, DEPTH + 1):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", _DIR, dir_fd=fd)
            os.close(fd)
            fd = child
            if level in FILE_DEPTHS:
                _write_at(fd, "a.txt", _level_content(level))
            if level in SIBLING_DEPTHS:
                os.mkdir("e", dir_fd=fd)
                sibling = os.open("e", _DIR, dir_fd=fd)
                _write_at(sibling, "g.bin", b"sibling at %d\n" % level)
                os.close(sibling)
    finally:
        os.close(fd)


def _write_at(dir_fd: int, name: str, data: bytes) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dir_fd)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _remove_deep_tree(root: Path) -> None:
    """Delete root/d/d/... iteratively (shutil.rmtree recurses and cannot go 10,000 deep on Python 3.11).

    Each step empties the top directory of its files and small subtrees, moves its `d` child up to the root
    under a new name, and removes the now empty top directory.
    """
    import shutil

    if not (root / "d").exists():
        return
    root_fd = os.open(root, _DIR)
    current, spare = "d", "x"
    try:
        while True:
            fd = os.open(current, _DIR, dir_fd=root_fd)
            has_child = False
            try:
                for name in os.listdir(fd):
                    if name == "d":
                        has_child = True
                    elif stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                        shutil.rmtree(name, dir_fd=fd)
                    else:
                        os.unlink(name, dir_fd=fd)
                if has_child:
                    os.rename("d", spare, src_dir_fd=fd, dst_dir_fd=root_fd)
            finally:
                os.close(fd)
            os.rmdir(current, dir_fd=root_fd)
            if not has_child:
                return
            current, spare = spare, current
    finally:
        os.close(root_fd)


@pytest.fixture(scope="module")
def deep_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("deep")
    _build_deep_tree(root)
    yield root
    _remove_deep_tree(root)


@pytest.mark.heavy
def test_deep_tree_is_walked_completely(deep_tree: Path) -> None:
    assert len(os.fsencode(deep_tree)) + len(_deep_key(DEPTH, b"a.txt")) > 4 * 4096  # far beyond PATH_MAX

    entries = _walk(deep_tree)

    assert not [e for e in entries if isinstance(e, Skipped)]
    expected = {_deep_key(level, b"a.txt") for level in FILE_DEPTHS}
    expected |= {_deep_key(level, b"e", b"g.bin") for level in SIBLING_DEPTHS}
    keys = _keys(entries)
    assert len(keys) == len(set(keys)) == len(expected)
    assert set(keys) == expected
    # Depth-first, byte-sorted: every a.txt on the way down, then the `e` siblings from the deepest one upwards.
    downs = [k for k in keys if k.endswith(b"a.txt")]
    ups = [k for k in keys if k.endswith(b"g.bin")]
    assert keys == downs + ups
    assert downs == sorted(downs, key=len)
    assert ups == sorted(ups, key=len, reverse=True)
    for entry in entries:
        assert isinstance(entry, FolderItem)
        assert entry.path == entry.key.decode()
        assert entry.size > 0


@pytest.mark.heavy
def test_deepest_file_can_be_opened_and_hashed(deep_tree: Path) -> None:
    items = {e.key: e for e in _walk(deep_tree) if isinstance(e, FolderItem)}
    deepest = items[_deep_key(DEPTH, b"a.txt")]
    assert len(deepest.parts) == DEPTH + 1
    content = _level_content(DEPTH)
    with deepest.open() as fp:
        assert fp.read() == content
    row = hash_item((0, deepest, HashOptions()))
    assert row.get("error") is None
    assert row["size"] == len(content)
    assert row["md5"] == hashlib.md5(content).hexdigest()
    assert row["sha256"] == hashlib.sha256(content).hexdigest()
    # And a file up on the way back (reached through a re-opened ancestor) too.
    sibling = items[_deep_key(min(SIBLING_DEPTHS), b"e", b"g.bin")]
    with sibling.open() as fp:
        assert fp.read() == b"sibling at %d\n" % min(SIBLING_DEPTHS)
    # Opening leaves no descriptor behind.
    before = _fds_under(deep_tree)
    for _ in range(3):
        with deepest.open() as fp:
            fp.read()
    assert _fds_under(deep_tree) == before


@pytest.mark.heavy
def test_walk_holds_a_bounded_number_of_descriptors(deep_tree: Path) -> None:
    assert _fds_under(deep_tree) == 0
    peak = 0
    count = 0
    for entry in FolderSource(deep_tree).iter_entries():
        peak = max(peak, _fds_under(deep_tree))
        count += 1
    assert count == len(FILE_DEPTHS) + len(SIBLING_DEPTHS)
    assert peak <= MAX_OPEN_DIRS + 4, f"{peak} descriptors open during the walk"
    assert peak >= min(MAX_OPEN_DIRS, 8)  # the sampling did see the walk hold directories
    assert _fds_under(deep_tree) == 0  # everything released at the end


def test_directories_after_a_branch_deeper_than_max_open_dirs(tmp_path: Path) -> None:
    """Coming back from a branch deeper than MAX_OPEN_DIRS, the walk re-opens closed ancestors (the root included)."""
    root = tmp_path / "src"
    chain = root.joinpath(*["d"] * (MAX_OPEN_DIRS + 6))
    chain.mkdir(parents=True)
    (chain / "bottom.txt").write_text("bottom\n")
    for sibling in (root / "e", root / "d" / "d" / "e", chain.parent.parent / "e"):
        sibling.mkdir()
        (sibling / "f.txt").write_text(f"{sibling}\n")

    keys = _keys(_walk(root))

    depth = MAX_OPEN_DIRS + 6
    assert keys == [
        _deep_key(depth, b"bottom.txt"),
        _deep_key(depth - 2, b"e", b"f.txt"),
        b"d/d/e/f.txt",
        b"e/f.txt",
    ]


def test_abandoned_walk_releases_its_descriptors(tmp_path: Path) -> None:
    path = tmp_path / "src"
    for level in range(1, 40):
        path = path / f"l{level}"
    path.mkdir(parents=True)
    (path / "leaf.txt").write_text("leaf\n")
    (tmp_path / "src" / "l1" / "z.txt").write_text("z\n")
    walk = FolderSource(tmp_path / "src").iter_entries()
    first = next(walk)
    assert first.key.endswith(b"leaf.txt")
    assert _fds_under(tmp_path) > 0
    walk.close()
    assert _fds_under(tmp_path) == 0


# ------------------------------------------------------------------------------------------ wide and ordering


def test_wide_directory_is_fully_listed(tmp_path: Path) -> None:
    root = tmp_path / "wide"
    root.mkdir()
    count = 20_000
    fd = os.open(root, _DIR)
    try:
        for i in range(count):
            _write_at(fd, f"f{i:05d}.bin", b"")
    finally:
        os.close(fd)

    entries = _walk(root)

    assert len(entries) == count
    assert all(isinstance(e, FolderItem) and e.size == 0 for e in entries)
    assert _keys(entries) == [f"f{i:05d}.bin".encode() for i in range(count)]


def test_order_is_byte_sorted_depth_first_and_stable(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    base = os.fsencode(root)
    files = [b"B.txt", b"a.txt", b"a/x.txt", b"a/Z.txt", b"a-b.txt", b"\xc3\xa9.txt", b"\xff.txt", b"_.txt",
             b"\xe2\x82\xac/1", b"\xe2\x82\xac/\xf0\x9f\x99\x82", b"0/0/0/0.txt"]
    for relative in files:
        path = os.path.join(base, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fp:
            fp.write(relative)

    first = _keys(_walk(root))
    second = _keys(_walk(root))

    assert first == second
    # Each directory's entries in byte order, a subdirectory's contents where the subdirectory sorts.
    assert first == [
        b"0/0/0/0.txt", b"B.txt", b"_.txt", b"a/Z.txt", b"a/x.txt", b"a-b.txt", b"a.txt",
        b"\xc3\xa9.txt", b"\xe2\x82\xac/1", b"\xe2\x82\xac/\xf0\x9f\x99\x82", b"\xff.txt",
    ]


# ------------------------------------------------------------------------------------------- the source itself


def test_single_file_source_yields_one_item(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    data = _png_bytes(2)
    path.write_bytes(data)

    entries = _walk(path)

    assert len(entries) == 1
    item = entries[0]
    assert isinstance(item, FolderItem)
    assert item.key == b"photo.png"
    assert item.path == "photo.png"
    assert item.size == len(data)
    with item.open() as fp:
        assert fp.read() == data
    row = hash_item((0, item, HashOptions()))
    assert row["sha256"] == hashlib.sha256(data).hexdigest() and row["media"] == "image"


def test_missing_source_raises_evidence_read_error(tmp_path: Path) -> None:
    with pytest.raises(EvidenceReadError) as caught:
        list(FolderSource(tmp_path / "no-such-folder").iter_entries())
    assert "no-such-folder" in str(caught.value)


def test_special_file_as_source_raises_evidence_read_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(EvidenceReadError):
        _walk(tmp_path / "pipe")


# -------------------------------------------------------------------------------------------------- read-only


def _evidence_tree(root: Path) -> None:
    root.mkdir()
    (root / "one.jpg").write_bytes(_jpeg_bytes(10))
    (root / "two.png").write_bytes(_png_bytes(11))
    (root / "notes.txt").write_text("meeting at noon\n")
    (root / "empty.bin").write_bytes(b"")
    sub = root / "sub" / "deeper"
    sub.mkdir(parents=True)
    (sub / "three.jpg").write_bytes(_jpeg_bytes(12))
    with open(os.path.join(os.fsencode(root / "sub"), b"\xff\xfe.jpg"), "wb") as fp:
        fp.write(_jpeg_bytes(13))


def _scan(root: Path, tmp_path: Path) -> dict[str, Any]:
    engine = open_store(f"sqlite:///{tmp_path / 'hw.db'}")
    try:
        result = run_scan([str(root)], "readonly", tmp_path / "out", engine, ScanSettings(allow_empty=True, workers=1))
    finally:
        engine.dispose()
    return json.loads((result.out_dir / "custody.json").read_text())


def test_scan_leaves_file_contents_mtimes_and_atimes_unchanged(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    _evidence_tree(root)
    contents_before = _sha256_listing(root)
    files, _dirs = _tree_paths(root)
    assert len(files) == 6
    _age(files)
    before = _times(files)

    custody = _scan(root, tmp_path)

    after = _times(files)
    for path, (atime, mtime, ctime) in before.items():
        assert after[path][1] == mtime, f"{path!r}: mtime changed"
        assert after[path][0] == atime, f"{path!r}: atime changed (file read without O_NOATIME?)"
        assert after[path][2] == ctime, f"{path!r}: ctime changed (metadata written)"
    assert _sha256_listing(root) == contents_before
    assert custody["sources"][0]["unchanged"] is True
    assert custody["sources"][0]["files"] == 6


def test_scan_leaves_directory_atimes_unchanged(tmp_path: Path) -> None:
    """Listing a directory reads it: without O_NOATIME on the directory descriptors, relatime updates its atime."""
    root = tmp_path / "evidence"
    _evidence_tree(root)
    _files, dirs = _tree_paths(root)
    assert len(dirs) == 3
    _age(dirs)
    before = _times(dirs)

    _scan(root, tmp_path)

    after = _times(dirs)
    changed = {p.decode(errors="replace"): (before[p], after[p]) for p in dirs if before[p] != after[p]}
    assert not changed, f"directory times changed by the scan (atime, mtime, ctime): {changed}"
