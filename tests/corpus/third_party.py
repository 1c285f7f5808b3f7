"""Third-party forensic test images (tests/data/third_party, see its NOTICE), their reference listings, and the
comparison of a hashwarden report with them.

Why a reference tool and not hard-coded lists: what "every file" means is whatever The Sleuth Kit (disk images)
or 7-Zip (archives) finds in the same bytes today, so the lists are computed when the test runs:

- disk images: `mmls` for the partitions, `fls -r -p -l` per file system, `icat` per regular file for its MD5.
  QCOW2 is first converted to raw by `qemu-img` (Debian's TSK 4.11 has no QCOW support).
- archives and compressed streams: `7z l -slt` for the members, `7z x -so` per member for its MD5.
- a member that is itself a disk image or an archive is listed in turn (one level), as `member/…` or `member!/…`.

Paths are compared relative to the evidence file, the way the report writes them: `p1/dir/a` for the first
partition holding a file system (no `pN/` without a partition table), `dir/a` for an archive member.
Left out of the reference on purpose: directories, symbolic and hard links (their target is listed), NTFS
metadata (MFT records below 24 and `$Extend/…`; hashwarden skips them as not user data), FAT volume labels,
and deleted names whose inode is gone (inode 0: nothing left to read).
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "third_party"
ENV = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin", "LC_ALL": "C.UTF-8"}
# Reference tools and the Debian packages holding them (also in the Makefile's TEST_TOOLS).
TOOLS = {"fls": "sleuthkit", "icat": "sleuthkit", "mmls": "sleuthkit", "fsstat": "sleuthkit", "7z": "p7zip-full", "qemu-img": "qemu-utils"}
# 7-Zip prompts for a password on encrypted archives; a wrong one makes it fail instead (hashwarden holds none).
NO_PASSWORD = "-pnot-the-password"
TIMEOUT = 120


@dataclass(frozen=True)
class Evidence:
    """One third-party image as it is scanned: its file name, the shipped files (segments, in order; `.xz` ones
    are decompressed first), and how its reference is made ('disk', 'qcow2', 'archive' or 'stream')."""

    name: str
    project: str
    kind: str
    segments: tuple[str, ...] = ()
    why: str = ""

    @property
    def files(self) -> tuple[str, ...]:
        return self.segments or (self.name,)


EVIDENCE: list[Evidence] = [
    # disk images: raw, split raw, E01 (single and multi-segment), VMDK, VHD, QCOW2; MBR with an extended chain
    Evidence("ímynd.dd", "dfvfs", "disk", why="ext2, a non-ASCII image name"),
    Evidence("syslog_image.dd", "plaso", "disk", why="ext2 with deleted files"),
    Evidence("tsk_volume_system.raw", "pytsk", "disk", why="MBR with an extended partition chain"),
    Evidence("ext2.splitraw.000", "dfvfs", "disk", ("ext2.splitraw.000", "ext2.splitraw.001"), "split raw"),
    Evidence("ext2.E01", "dfvfs", "disk", why="EWF"),
    Evidence("ext2.split.E01", "dfvfs", "disk", ("ext2.split.E01", "ext2.split.E02"), "EWF in two segments"),
    Evidence("image.E01", "plaso", "disk", why="EWF"),
    Evidence("image-split.E01", "plaso", "disk", ("image-split.E01", "image-split.E02"),
             "EWF in two segments of an MBR disk with an extended partition"),
    Evidence("hfsplus.raw", "dfvfs", "disk", why="HFS+"),
    Evidence("iso9660.raw", "dfvfs", "disk", why="ISO 9660"),
    Evidence("ext2.vmdk", "dfvfs", "disk", why="VMDK"),
    Evidence("image.vmdk", "plaso", "disk", why="VMDK"),
    Evidence("image.vhd", "dfvfs", "disk", why="VHD"),
    Evidence("ext2.qcow2", "dfvfs", "qcow2", why="QCOW2"),
    Evidence("image.qcow2", "plaso", "qcow2", why="QCOW2"),
    Evidence("windows_volume.qcow2", "dfvfs", "qcow2", why="NTFS in QCOW2"),
    Evidence("vsstest.qcow2", "plaso", "qcow2", why="NTFS with volume shadow copies in QCOW2"),
    # archives
    Evidence("syslog.zip", "dfvfs", "archive"),
    Evidence("with_directory.zip", "dfvfs", "archive"),
    Evidence("absolute_paths.zip", "dfvfs", "archive", why="absolute member names"),
    Evidence("mixed_paths.zip", "dfvfs", "archive", why="absolute and relative member names"),
    Evidence("$II3DF3L.zip", "plaso", "archive", why="a Recycle Bin name"),
    Evidence("with_directory.tar", "dfvfs", "archive"),
    Evidence("absolute_paths.tar", "dfvfs", "archive", why="absolute member names"),
    Evidence("mixed_paths.tar", "dfvfs", "archive", why="absolute and relative member names"),
    Evidence("syslog.tgz", "dfvfs", "archive"),
    Evidence("iso9660.raw.tar", "plaso", "archive", why="a disk image inside a tar"),
    Evidence("syslog.bin.cpio", "dfvfs", "archive", why="cpio, old binary"),
    Evidence("syslog.odc.cpio", "dfvfs", "archive", why="cpio, odc"),
    Evidence("syslog.newc.cpio", "dfvfs", "archive", why="cpio, newc"),
    Evidence("syslog.crc.cpio", "dfvfs", "archive", why="cpio, crc"),
    Evidence("syslog.gz", "dfvfs", "stream"),
    Evidence("syslog.bz2", "dfvfs", "stream"),
    Evidence("syslog.xz", "dfvfs", "stream"),
    Evidence("syslog.lzma", "dfvfs", "stream", why="LZMA-alone"),
    Evidence("syslog.Z", "dfvfs", "stream", why="compress (LZW)"),
    # 7z cases from py7zr's tests
    *[Evidence(f"{name}.7z", "py7zr", "archive", why=why) for name, why in [
        ("empty", "no members"), ("zerosize", "a zero-byte member"), ("solid", "solid"),
        ("umlaut-solid", "non-ASCII names, solid"), ("umlaut-non_solid", "non-ASCII names"),
        ("symlink", "symbolic links"), ("longpath", "a long member path"),
        ("root_path_arcname", "a member named from the root"), ("hidden_linux_file", "dot file"),
        ("hidden_linux_folder", "dot folder"), ("test_folder", "folders"),
        ("data_corrupted", "corrupted data"), ("crc_corrupted", "a wrong CRC"),
        ("encrypted_1", "encrypted content"), ("filename_encryption", "encrypted headers"),
        ("github_14", "a member without a stored name"), ("github_14_multi", "members without stored names"),
        ("copy", "COPY method"), ("deflate", "Deflate"), ("deflate64", "Deflate64"), ("ppmd", "PPMd"),
        ("lzma2bcj", "LZMA2 + BCJ"), ("lzma_bcj_x86", "LZMA + BCJ x86"), ("bzip2_2", "BZip2"),
        ("zstd", "Zstandard"), ("lz4", "LZ4"), ("extra_payload_data", "bytes after the archive"),
        ("test_1", "plain LZMA2"),
    ]],
    Evidence("archive.7z.001", "py7zr", "archive", ("archive.7z.001", "archive.7z.002"), "a 7z in two volumes"),
]


def by_name(name: str) -> Evidence:
    return next(e for e in EVIDENCE if e.name == name)


def missing_tools() -> list[str]:
    return sorted({pkg for tool, pkg in TOOLS.items() if not shutil.which(tool, path=ENV["PATH"])})


def materialize(evidence: Evidence, folder: Path) -> Path:
    """The evidence's files (decompressed where shipped as .xz) in `folder`, which is what gets scanned."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in evidence.files:
        shipped = DATA / evidence.project / name
        target = folder / name
        if shipped.exists():
            shutil.copyfile(shipped, target)
        else:
            with lzma.open(DATA / evidence.project / f"{name}.xz") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return folder


# ------------------------------------------------------------------------------------------------ references


@dataclass
class RefFile:
    """One regular file the reference tool lists: its path relative to the evidence, MD5 (None: the reference
    could not read it either) and whether it is deleted."""

    rel: str
    md5: str | None
    deleted: bool = False
    note: str = ""
    any_name: bool = False  # a name the reference made up (a stream's content, a 7z member stored without one)


@dataclass
class Reference:
    files: list[RefFile] = field(default_factory=list)
    error: str | None = None  # the reference tool could not list the evidence at all
    unreadable: list[str] = field(default_factory=list)  # partitions where TSK finds no file system


def _run(*command: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], env=ENV, capture_output=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL)


def _md5_of_output(*command: str | Path) -> tuple[str | None, str]:
    """MD5 of a command's standard output streamed, or None and its complaint when it fails."""
    digest = hashlib.md5()
    with subprocess.Popen([str(c) for c in command], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):
            digest.update(chunk)
        err = proc.stderr.read().decode("utf-8", "backslashreplace")
        code = proc.wait(timeout=TIMEOUT)
    if code != 0:
        return None, err.strip().splitlines()[-1] if err.strip() else f"exit {code}"
    return digest.hexdigest(), ""


def _text(raw: bytes) -> str:
    """Tool output as text: UTF-8, undecodable bytes as \\xNN."""
    return raw.decode("utf-8", "backslashreplace")


def _report_name(raw: bytes) -> str:
    """A name as the report writes it (hashwarden's display_name): undecodable bytes as \\xNN, a literal
    backslash doubled."""
    return raw.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


_MMLS_ROW = re.compile(rb"^\d+:\s+\d+:\d+\s+(\d+)\s+(\d+)\s+(\d+)\s")
_FLS_HEAD = re.compile(r"^(?P<name_type>[-\w])/(?P<meta_type>[-\w])\s+(?P<deleted>\*\s+)?(?P<inode>[\d-]+)(?:\(realloc\))?:$")


def _volumes(segments: list[Path]) -> tuple[list[int], int] | None:
    """Start sectors of the partitions mmls allocates, and the sector size; None when there is no table."""
    done = _run("mmls", "-a", *segments)
    if done.returncode != 0:
        return None
    sector = 512
    unit = re.search(rb"Units are in (\d+)-byte sectors", done.stdout)
    if unit:
        sector = int(unit.group(1))
    starts = [int(m.group(1)) for line in done.stdout.splitlines() if (m := _MMLS_ROW.match(line)) and int(m.group(3))]
    return (starts, sector) if starts else None


def _fls(segments: list[Path], start: int, sector: int, prefix: str) -> list[RefFile] | None:
    """Regular files of the file system at sector `start`, or None when TSK finds no file system there."""
    where = ["-o", str(start), "-b", str(sector)] if start else []
    done = _run("fls", "-r", "-p", "-l", *where, *segments)
    if done.returncode != 0:
        return None
    fstype = _text(_run("fsstat", "-t", *where, *segments).stdout).strip()
    files = []
    for raw in done.stdout.splitlines():
        raw_fields = raw.split(b"\t")
        fields = [_text(raw_fields[0]), *(_report_name(f) for f in raw_fields[1:2])]
        head = _FLS_HEAD.match(fields[0])
        if not head or len(fields) < 2:
            continue
        path, inode, deleted = fields[1], head["inode"], bool(head["deleted"])
        regular = head["meta_type"] == "r" or (head["meta_type"] == "-" and head["name_type"] == "r")
        top = path.split("/", 1)[0]
        # metadata (hashwarden's rule too), by file system and record number, never by a leading `$`: NTFS MFT
        # records below 24 (16-23 appear as orphans) and the $Extend tree, HFS+ catalog ids below 16
        record = int(inode.split("-")[0]) if inode.split("-")[0].isdigit() else None
        metadata = record is not None and ((fstype == "ntfs" and record < 24) or (fstype.startswith("hfs") and record < 16))
        if not regular or inode in ("0", "") or metadata or (fstype == "ntfs" and top == "$Extend") \
                or path.endswith("(Volume Label Entry)"):
            continue
        md5, note = _md5_of_output("icat", *where, *segments, inode)
        files.append(RefFile(prefix + path, md5, deleted, note))
    return files


def disk_reference(segments: list[Path], work: Path, qcow2: bool = False, prefix: str = "") -> Reference:
    """What The Sleuth Kit lists in a disk image (a QCOW2 is converted to raw in `work` first)."""
    if qcow2:
        raw = work / (segments[0].name + ".raw")
        done = _run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", segments[0], raw)
        if done.returncode != 0:
            return Reference(error=f"qemu-img: {_text(done.stderr).strip()}")
        segments = [raw]
    volumes = _volumes(segments)
    if volumes is None:
        files = _fls(segments, 0, 512, prefix)
        return Reference(files) if files is not None else Reference(error="fls: no file system")
    starts, sector = volumes
    found, number, unreadable = [], 0, []
    for start in starts:
        files = _fls(segments, start, sector, f"{prefix}p{number + 1}/")
        if files is None:
            unreadable.append(f"sector {start}")
            continue
        number += 1
        found.extend(files)
    if not number:
        return Reference(error="fls: no file system in any partition", unreadable=unreadable)
    return Reference(found, unreadable=unreadable)


def _7z_entries(archive: Path) -> tuple[str, list[dict[str, str]], str | None]:
    """The archive's type as 7-Zip names it, its entries' properties, and 7-Zip's complaint if it failed."""
    done = _run("7z", "l", "-slt", NO_PASSWORD, archive)
    head, _, body = done.stdout.partition(b"\n----------\n")
    kind = re.search(rb"^Type = (.*)$", head, re.M)
    blocks, current = [], {}
    for raw in body.splitlines() + [b""]:
        line = _text(raw)
        if not line.strip():
            if current:
                blocks.append(current)
            current = {}
            continue
        key, sep, value = line.partition(" = ")
        if sep:
            current[key] = value
    error = None
    if done.returncode != 0:
        error = "7z: " + " ".join(_text(done.stdout + done.stderr).split())[-200:]
    return (_text(kind.group(1)) if kind else ""), blocks, error


STREAMS = ("gzip", "bzip2", "xz", "zstd")


def archive_reference(archive: Path, work: Path, stream: bool = False, prefix: str = "", depth: int = 0) -> Reference:
    """What 7-Zip lists in an archive or a compressed stream; a member that is a disk image or an archive is
    listed in turn (one level down). A compressed tar (.tgz, .tar.xz) is listed as the tar it holds, as tar does."""
    kind, entries, error = _7z_entries(archive)
    if kind in STREAMS and len(entries) == 1 and not stream and depth == 0:
        inner = work / f"stream-{archive.name}"
        with open(inner, "wb") as fp:
            subprocess.run(["7z", "x", "-so", NO_PASSWORD, str(archive)], stdout=fp, stderr=subprocess.DEVNULL,
                           env=ENV, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        if _7z_entries(inner)[0] == "tar":
            return archive_reference(inner, work, prefix=prefix, depth=depth)
    files = []
    names = [entry.get("Path") for entry in entries]
    for entry in entries:
        if entry.get("Path") and names.count(entry.get("Path")) > 1:
            # extracting by a name stored twice gives both members at once: the reference cannot tell them apart,
            # so each must be listed (md5 None: being listed is enough)
            files.append(RefFile(prefix + entry["Path"].replace("\\", "\\\\"), None, note="name stored twice"))
            continue
        if entry.get("Folder") == "+" or entry.get("Attributes", "").startswith("D") \
                or entry.get("Symbolic Link") or entry.get("Hard Link") or " l" in entry.get("Attributes", ""):
            continue
        member = entry.get("Path") or archive.stem  # a stream (or a 7z member without a name) is named for the file
        md5, note = _md5_of_output("7z", "x", "-so", "-spd", NO_PASSWORD, archive, "--", member) \
            if entry.get("Path") else _md5_of_output("7z", "x", "-so", NO_PASSWORD, archive)
        made_up = stream or not entry.get("Path") or (kind == "7z" and member == archive.stem)
        files.append(RefFile(prefix + member.replace("\\", "\\\\"), md5, note=note, any_name=made_up))
        if md5 and depth == 0 and not stream:
            files.extend(_nested(archive, member, work, prefix))
    if not entries and error:
        return Reference(error=error)
    return Reference(files)


def _nested(archive: Path, member: str, work: Path, prefix: str) -> list[RefFile]:
    inner = work / f"nested-{hashlib.md5(member.encode()).hexdigest()}"
    with open(inner, "wb") as fp:
        subprocess.run(["7z", "x", "-so", "-spd", NO_PASSWORD, str(archive), "--", member], stdout=fp,
                       stderr=subprocess.DEVNULL, env=ENV, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    with open(inner, "rb") as fp:
        fp.seek(32769)
        optical = fp.read(5) == b"CD001"  # an ISO 9660 image is read as an archive (libarchive), `member!/...`
    disk = disk_reference([inner], work, prefix=f"{prefix}{member}/") if not optical else Reference(error="iso")
    if not disk.error:
        return disk.files
    kind = _run("7z", "l", "-slt", NO_PASSWORD, inner)
    if kind.returncode == 0 and re.search(rb"^Type = (zip|tar|7z|gzip|bzip2|xz|cpio|Iso)$", kind.stdout, re.M):
        return archive_reference(inner, work, prefix=f"{prefix}{member}!/", depth=1).files
    return []


def reference(evidence: Evidence, folder: Path, work: Path) -> Reference:
    """The reference listing of a materialized evidence."""
    work.mkdir(parents=True, exist_ok=True)
    segments = [folder / name for name in evidence.files]
    if evidence.kind in ("disk", "qcow2"):
        return disk_reference(segments, work, qcow2=evidence.kind == "qcow2")
    return archive_reference(segments[0], work, stream=evidence.kind == "stream")


# ------------------------------------------------------------------------------------------------- the scan


def scan(folder: Path, out: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    """hashwarden's report items of a folder, scanned as a library with a throw-away store; a scan that raises
    is returned as its error (so one image's crash does not hide the others)."""
    from hashwarden.config import ScanSettings
    from hashwarden.scan import run_scan
    from hashwarden.store import open_store

    out.mkdir(parents=True, exist_ok=True)
    engine = open_store(f"sqlite:///{out / 'hw.db'}")
    try:
        run_scan([str(folder)], "THIRD-PARTY", out / "case", engine, ScanSettings(allow_empty=True, workers=1, verify_after=False))
    except Exception as exc:  # noqa: BLE001 - a crash is the finding
        return {}, f"scan crashed: {type(exc).__name__}: {exc}"
    finally:
        engine.dispose()
    items = json.loads((out / "case" / "report.json").read_text(encoding="utf-8"))["items"]
    # a name stored twice in one archive gives two items with one path: keep both (the second keyed apart)
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        key, n = item["path"], 1
        while key in found:
            n += 1
            key = f"{item['path']}\0{n}"
        found[key] = item
    return found, None


# ------------------------------------------------------------------------------------------------ comparison


@dataclass
class Comparison:
    evidence: str
    reference: int
    in_report: int
    agreed: int
    missing: list[str]
    extra: list[str]
    error: str | None = None  # the scan crashed, or the reference could not list and the report says nothing
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.missing and self.error is None

    def describe(self) -> str:
        lines = [f"{self.evidence}: {self.agreed}/{self.reference} reference files agree"]
        if self.error:
            lines.append(f"  error: {self.error}")
        if self.note:
            lines.append(f"  note: {self.note}")
        lines += [f"  missing: {m}" for m in self.missing]
        return "\n".join(lines)


def compare(evidence: Evidence, ref: Reference, items: dict[str, dict[str, Any]], scan_error: str | None) -> Comparison:
    """Every reference file must be a report item at the same relative path with the same MD5 and deleted flag
    (a stream's one file: the same MD5 under the stream, whatever it is named)."""
    inside = {path: item for path, item in items.items()
              if item["path"].startswith((evidence.name + "/", evidence.name + "!/"))}
    by_rel: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key, item in inside.items():
        item = {**item, "key": key}
        path = item["path"]
        rel = path[len(evidence.name) + (2 if path.startswith(evidence.name + "!/") else 1):]
        by_rel[rel].append(item)
    inside = {key: {**item, "key": key} for key, item in inside.items()}
    used: set[str] = set()
    missing, agreed = [], 0
    for want in ref.files:
        candidates = list(inside.values()) if want.any_name else by_rel.get(want.rel, [])
        match = next((i for i in candidates if i["key"] not in used and i.get("md5") == want.md5
                      and bool(i.get("deleted")) == want.deleted), None)
        if match is None and want.md5 is None:  # unreadable for the reference too: being listed is enough
            match = next((i for i in candidates if i["key"] not in used), None)
        if match is not None:
            used.add(match["key"])
            agreed += 1
            continue
        flag = " (deleted)" if want.deleted else ""
        if candidates:
            seen = "; ".join(f"md5 {i.get('md5')} deleted={bool(i.get('deleted'))} error={i.get('error')!r}"
                             for i in candidates)
            missing.append(f"{want.rel}{flag}: reference md5 {want.md5}, report has {seen}")
        else:
            missing.append(f"{want.rel}{flag}: not in the report (reference md5 {want.md5}{', ' + want.note if want.note else ''})")
    error = scan_error
    said = items.get(evidence.name, {}).get("error") or any(i.get("error") for i in inside.values())
    if error is None and ref.error and evidence.kind != "archive" and not said:
        # a disk image TSK cannot read must say so; a file 7-Zip cannot open may simply not be an archive
        error = f"the reference cannot list it ({ref.error}) and the report gives no error for it"
    notes = [f"reference: {ref.error}"] if ref.error else []
    if ref.unreadable:
        notes.append(f"no file system at {', '.join(ref.unreadable)}; report {'says so' if said else 'is silent'}")
    extra = sorted(set(inside) - used)
    return Comparison(evidence.name, len(ref.files), len(inside), agreed, missing, extra, error, "; ".join(notes))


def compare_one(evidence: Evidence, base: Path) -> Comparison:
    """Materialize, list with the reference tool, scan with hashwarden and compare, all under `base`."""
    folder = materialize(evidence, base / "evidence")
    ref = reference(evidence, folder, base / "work")
    items, error = scan(folder, base / "out")
    return compare(evidence, ref, items, error)
