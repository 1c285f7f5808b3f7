"""Formats read through libarchive (RAR 4/5, CAB, cpio, LHA, XAR, 7z, ISO 9660, .Z, .lzma), on libarchive's own test
archives (tests/data/libarchive, BSD licence): members found with their content, links as links, encryption and
damage reported in words, and a reader that loops forever stopped without stopping the scan."""

from __future__ import annotations

import binascii
import hashlib
import json
import time
from pathlib import Path

import pytest

from hashwarden.config import ScanSettings
from hashwarden.evidence import isolated
from hashwarden.scan import run_scan

DATA = Path(__file__).parent.parent / "data" / "libarchive"
TEST_TXT = b"test text document\r\n"  # libarchive's test_read_format_rar.c
CAB_FILE1 = b" " * 26 + b"file 1 contents\nhello\nhello\nhello\n"  # test_read_format_cab.c


def uudecode(text: bytes) -> bytes:
    """The payload of a uuencoded file (upstream keeps its test archives so)."""
    out, started = [], False
    for line in text.splitlines():
        if not started:
            started = line.startswith(b"begin ")
            continue
        if line.strip() == b"end":
            break
        if not line.strip() or line == b"`":
            continue
        try:
            out.append(binascii.a2b_uu(line))
        except binascii.Error:  # lines padded by some encoders: decode the declared length only
            out.append(binascii.a2b_uu(line[: (((line[0] - 32) & 63) * 4 + 5) // 3]))
    return b"".join(out)


def evidence(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "evidence"
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_bytes(uudecode((DATA / f"{name}.uu").read_bytes()))
    return folder


def scan(folder: Path, tmp_path: Path, store, workers: int = 1) -> dict[str, dict]:
    run_scan([str(folder)], "LA", tmp_path / "out", store, ScanSettings(allow_empty=True, workers=workers, verify_after=False))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    return {item["path"]: item for item in report["items"]} | {
        f"skipped:{entry['path']}": entry for entry in report["skipped"]}


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_rar4_members_and_link(tmp_path: Path, fresh_store) -> None:
    items = scan(evidence(tmp_path, "test_read_format_rar.rar"), tmp_path, fresh_store)
    assert items["test_read_format_rar.rar"]["format"] == "rar"
    assert items["test_read_format_rar.rar!/test.txt"]["md5"] == md5(TEST_TXT)
    assert items["test_read_format_rar.rar!/testdir/test.txt"]["md5"] == md5(TEST_TXT)
    link = items["test_read_format_rar.rar!/testlink"]
    assert link["link"] == "test.txt" and link["md5"] is None and "link to test.txt" in link["note"]
    assert "error" not in items["test_read_format_rar.rar"]


def test_rar5_stored_and_symlinks(tmp_path: Path, fresh_store) -> None:
    items = scan(evidence(tmp_path, "test_read_format_rar5_stored.rar", "test_read_format_rar5_symlink.rar"),
                 tmp_path, fresh_store)
    stored = items["test_read_format_rar5_stored.rar!/helloworld.txt"]
    assert stored["size"] == 29 and stored["md5"] and stored["status"] == "unknown"
    assert items["test_read_format_rar5_symlink.rar!/file.txt"]["size"] == 5
    assert items["test_read_format_rar5_symlink.rar!/symlink.txt"]["link"] == "file.txt"
    assert items["test_read_format_rar5_symlink.rar!/dirlink"]["link"] == "dir"


def test_encrypted_rar_members_say_so(tmp_path: Path, fresh_store) -> None:
    items = scan(evidence(tmp_path, "test_read_format_rar_encryption_data.rar"), tmp_path, fresh_store)
    members = {p: i for p, i in items.items() if p.startswith("test_read_format_rar_encryption_data.rar!/")}
    assert set(members) == {"test_read_format_rar_encryption_data.rar!/foo.txt",
                            "test_read_format_rar_encryption_data.rar!/bar.txt"}
    assert all(i["status"] == "error" and i["error"] == "encrypted" for i in members.values())


def test_multi_volume_rar_part_is_named_in_words(tmp_path: Path, fresh_store) -> None:
    items = scan(evidence(tmp_path, "test_read_splitted_rar_aa"), tmp_path, fresh_store)
    top = items["test_read_splitted_rar_aa"]
    assert top["status"] == "error"
    # libarchive's test file is a byte-split (split(1)) RAR, not a RAR volume: its main header has no volume flag,
    # so it is an archive that ends early, and not called a multi-volume part
    assert top["error"] == "RAR archive cannot be read further: the archive ends early or is damaged (libarchive " \
        "gave no reason)"
    assert "(" not in top["error"].split(":", 1)[0] and "None" not in top["error"]


def test_cab_cpio_lha_xar_iso_and_compressed_streams(tmp_path: Path, fresh_store) -> None:
    names = ["test_read_format_cab_1.cab", "test_read_format_cpio_bin_le.cpio", "test_read_format_lha_lh6.lzh",
             "test_read_format_xar_base64_oob.xar", "test_read_format_iso.iso.Z", "test_read_format_raw.data.Z",
             "test_compat_lzma_1.tlz", "test_read_format_7zip_copy.7z"]
    items = scan(evidence(tmp_path, *names), tmp_path, fresh_store)
    assert items["test_read_format_cab_1.cab!/dir1/file1"]["md5"] == md5(CAB_FILE1)
    assert items["test_read_format_cab_1.cab!/empty"]["size"] == 0
    assert items["test_read_format_cpio_bin_le.cpio!/file1111222233334444"]["size"] == 5
    assert items["test_read_format_lha_lh6.lzh!/file1"]["size"] == 60
    assert items["test_read_format_lha_lh6.lzh!/dir2/symlink1"]["link"]
    assert "test_read_format_xar_base64_oob.xar!/abc" in items
    assert items["test_read_format_raw.data.Z!/test_read_format_raw.data"]["md5"]  # a single compressed file
    assert {p for p in items if p.startswith("test_compat_lzma_1.tlz!/")} >= {
        "test_compat_lzma_1.tlz!/f1", "test_compat_lzma_1.tlz!/d1/f3"}
    assert items["test_read_format_7zip_copy.7z!/file1"]["size"] == 60
    assert "test_read_format_iso.iso.Z" in items  # an empty ISO 9660 image inside .Z: opened, nothing inside
    assert not any(i.get("error") for p, i in items.items() if not p.startswith("skipped:"))


def test_damaged_archives_are_errors_in_words_and_the_scan_goes_on(tmp_path: Path, fresh_store) -> None:
    damaged = ["test_read_format_7zip_malformed.7z", "test_read_format_7zip_malformed2.7z",
               "test_read_format_7zip_entries_oom.7z", "test_read_format_7zip_folders_oom.7z",
               "test_read_format_rar5_truncated_huff.rar", "test_read_format_rar_invalid1.rar",
               "test_read_format_rar_symlink_huge.rar"]
    folder = evidence(tmp_path, *damaged, "test_read_format_7zip_encryption.7z")
    (folder / "good.txt").write_bytes(b"fine")
    items = scan(folder, tmp_path, fresh_store)
    for name in damaged:
        errors = [i["error"] for p, i in items.items() if p.split("!/")[0] == name and i.get("error")]
        assert errors, name
        for error in errors:
            assert "archive_p=" not in error and "errno=" not in error and not error.startswith("("), error
    assert items["test_read_format_7zip_encryption.7z!/bar.txt"]["error"] == "encrypted"
    assert items["good.txt"]["status"] == "unknown"


def test_a_reader_that_loops_forever_is_stopped(tmp_path: Path, fresh_store, monkeypatch) -> None:
    """Debian's libarchive 3.6.2 spins without reading on this XAR file: the child reading it is killed after the
    stall limit, the file gets an error, and the other files are scanned."""
    monkeypatch.setattr(isolated, "CHILD_STALL_SECONDS", 2.0)
    folder = evidence(tmp_path, "test_read_format_xar_doublelink.xar", "test_read_format_cab_1.cab")
    started = time.monotonic()
    items = scan(folder, tmp_path, fresh_store)
    assert time.monotonic() - started < 120  # a guard against a hang, not a speed claim
    xar = items["test_read_format_xar_doublelink.xar"]
    from libarchive.ffi import version_number

    if version_number() <= 3_006_002:  # Debian 12's libarchive loops on it (the one make test installs)
        assert (xar["status"], xar["error"]) == ("error", (
            "xar archive cannot be read further: the archive reader made no progress for 2 s on "
            "test_read_format_xar_doublelink.xar (xar): stopped (a damaged or crafted archive)"))
    else:  # a newer libarchive reads it: then it is no error at all
        assert xar.get("error") is None, xar["error"]
    assert items["test_read_format_cab_1.cab!/dir1/file1"]["md5"] == md5(CAB_FILE1)


@pytest.mark.heavy
def test_a_crashing_reader_costs_only_its_container(tmp_path: Path, fresh_store, monkeypatch) -> None:
    """A native crash inside the reader (SIGSEGV simulated in the child) is that archive's error."""
    import os
    import signal

    from hashwarden.evidence import archive

    def crash(container, fmt, name):  # noqa: ANN001
        os.kill(os.getpid(), signal.SIGSEGV)
        yield  # pragma: no cover

    monkeypatch.setattr(archive, "_libarchive_entries", crash)
    folder = evidence(tmp_path, "test_read_format_cab_1.cab")
    (folder / "good.txt").write_bytes(b"fine")
    items = scan(folder, tmp_path, fresh_store)
    assert "signal 11" in items["test_read_format_cab_1.cab"]["error"]
    assert items["good.txt"]["status"] == "unknown"


def test_ar_archive_members(tmp_path: Path, fresh_store) -> None:
    """docs/architecture.md lists ar among libarchive's formats: a Unix ar archive (as `ar rc` writes it: a global
    header, then a 60-byte header per member, data padded to an even length) gives its members with their md5."""
    members = {"first.txt": b"an odd-length member\n!", "second.bin": bytes(range(256)) * 3}
    data = b"!<arch>\n"
    for name, content in members.items():
        data += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(content):<10}`\n".encode() + content
        data += b"\n" * (len(content) % 2)
    folder = tmp_path / "evidence"
    folder.mkdir()
    (folder / "lib.a").write_bytes(data)
    items = scan(folder, tmp_path, fresh_store)
    assert {name: items[f"lib.a!/{name}"]["md5"] for name in members} == {n: md5(c) for n, c in members.items()}
    assert items["lib.a"]["status"] != "error"


def test_a_child_pipe_numbered_above_1024_is_read() -> None:
    """A long-running process (the service, a scan of many sources) can hold more than 1024 descriptors; the pipe
    of an archive reader or of 7-Zip numbered above it must be read like any other (select() refused it:
    "filedescriptor out of range in select()", and every archive of that process failed), and still stop a
    child that sends nothing."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    high = 1500
    if soft <= high:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    read_end, write_end = os.pipe()
    try:
        os.dup2(read_end, high)
        os.write(write_end, b"first\nsecond")
        os.close(write_end)
        write_end = -1
        assert list(isolated.PipeReader(high, 5.0, "stalled").lines()) == [b"first", b"second"]
        silent_read, silent_write = os.pipe()
        os.dup2(silent_read, high + 1)
        try:
            with pytest.raises(isolated.EvidenceReadError, match="stalled"):
                isolated.PipeReader(high + 1, 0.2, "stalled").read(1)
        finally:
            for fd in (silent_read, silent_write, high + 1):
                os.close(fd)
    finally:
        for fd in (read_end, write_end, high):
            if fd >= 0:
                os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
