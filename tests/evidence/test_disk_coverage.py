"""Every file and every partition of a disk image is found (issue 14): partitions TSK would hide behind one bogus
MBR entry, partitions with no readable file system, logical and GPT partitions, orphans, deleted directories,
`$`-named user files, symbolic links, exFAT, HFS+ (with a resource fork) and ISO 9660. The Sleuth Kit's own `fls -r` is
the reference: every regular file it lists (allocated, deleted, orphaned) is an item of the report."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_disk_image import ENV, run

from hashwarden.config import ScanSettings
from hashwarden.scan import run_scan

DATA = Path(__file__).resolve().parents[1] / "data"
TOOLS = ["mformat", "mcopy", "mmd", "mdeltree", "mkfs.fat", "mkfs.ext4", "debugfs", "mkntfs", "ntfscp", "sfdisk",
         "genisoimage", "fls", "mkfs.exfat"]
MiB = 1 << 20


def _png(seed: int) -> bytes:
    """A small benign PNG of coloured noise, different for each seed."""
    pixels = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _fat(work: Path, name: str, files: dict[str, bytes], size: str = "16M") -> Path:
    """A FAT16 image holding `files` ('dir/name': content), directories made as needed."""
    run("truncate", "-s", size, name, cwd=work)
    run("mkfs.fat", "-F", "16", name, cwd=work)
    made: set[str] = set()
    for index, (path, content) in enumerate(files.items()):
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in made:
                run("mmd", "-i", name, f"::/{folder}", cwd=work)
                made.add(folder)
        source = work / f"{name}.{index}"
        source.write_bytes(content)
        run("mcopy", "-i", name, str(source), f"::/{path}", cwd=work)
    return work / name


def _disk(work: Path, name: str, label: str, volumes: dict[int, Path], size: str = "64M") -> Path:
    """A raw disk partitioned by sfdisk (`label`), with file system images written at the given sectors."""
    run("truncate", "-s", size, name, cwd=work)
    run("sfdisk", "-q", name, cwd=work, stdin=label)
    for sector, image in volumes.items():
        run("dd", f"if={image}", f"of={name}", "bs=512", f"seek={sector}", "conv=notrunc", "status=none", cwd=work)
    return work / name


def _patch(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def _entry(kind: int, start: int, count: int) -> bytes:
    return struct.pack("<B3sB3sII", 0, b"\0" * 3, kind, b"\0" * 3, start, count)


def _exfat_checksum(data: bytes, skip: tuple[int, ...] = ()) -> int:
    """exFAT's 16-bit rotate-and-add checksum (entry sets skip their own checksum field, bytes 2 and 3)."""
    total = 0
    for index, byte in enumerate(data):
        if index not in skip:
            total = (((total & 1) << 15) + (total >> 1) + byte) & 0xFFFF
    return total


class _ExFat:
    """Writes files into an image made by `mkfs.exfat`, which has no tool to put files in without mounting it (and
    FUSE needs root): the directory entry set (file, stream extension, names) with its checksum and name hash,
    the clusters' FAT chain and their allocation-bitmap bits, as the exFAT specification (sections 6-7) lays
    them out. Enough for ASCII names and contiguous clusters, all this test needs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.image = bytearray(path.read_bytes())
        fat_offset, _, heap_offset, _, self.root = struct.unpack_from("<5I", self.image, 0x50)
        sector = 1 << self.image[0x6C]
        self.cluster_size = sector << self.image[0x6D]
        self.fat, self.heap = fat_offset * sector, heap_offset * sector
        entry = self._entries(self.root).index(0x81)  # the allocation bitmap's own directory entry
        self.bitmap = self._offset(self.root) + entry * 32
        self.bitmap = self._offset(struct.unpack_from("<I", self.image, self.bitmap + 20)[0])

    def _offset(self, cluster: int) -> int:
        return self.heap + (cluster - 2) * self.cluster_size

    def _entries(self, cluster: int) -> list[int]:
        start = self._offset(cluster)
        return [self.image[start + i] for i in range(0, self.cluster_size, 32)]

    def _allocate(self, size: int) -> int:
        """The first run of free clusters for `size` bytes, marked used and chained in the FAT."""
        count, first = max(1, -(-size // self.cluster_size)), 2
        while any(self.image[self.bitmap + (c - 2) // 8] >> ((c - 2) % 8) & 1 for c in range(first, first + count)):
            first += 1
        for cluster in range(first, first + count):
            self.image[self.bitmap + (cluster - 2) // 8] |= 1 << ((cluster - 2) % 8)
            following = cluster + 1 if cluster + 1 < first + count else 0xFFFFFFFF
            struct.pack_into("<I", self.image, self.fat + cluster * 4, following)
        return first

    def add(self, name: str, data: bytes = b"", directory: int | None = None, is_dir: bool = False) -> int:
        """Puts file (or empty directory) `name` into `directory` (a first cluster; the root by default) and
        returns its first cluster. The directory is assumed to fit in its one cluster."""
        length = self.cluster_size if is_dir else len(data)
        first = self._allocate(length)
        start = self._offset(first)
        self.image[start:start + len(data)] = data
        units = name.encode("utf-16-le")
        parts = [units[i:i + 30].ljust(30, b"\0") for i in range(0, len(units), 30)]
        name_hash = _exfat_checksum(name.upper().encode("utf-16-le"))
        stamp = (46 << 25) | (1 << 21) | (1 << 16)  # 2026-01-01 00:00:00
        entries = [struct.pack("<BBHHH3I", 0x85, 1 + len(parts), 0, 0x10 if is_dir else 0x20, 0, stamp, stamp, stamp)
                   .ljust(32, b"\0"),
                   struct.pack("<BBBBHHQIIQ", 0xC0, 0x01, 0, len(name), name_hash, 0, length, 0, first, length)]
        entries += [bytes([0xC1, 0]) + part for part in parts]
        entry_set = bytearray(b"".join(entries))
        struct.pack_into("<H", entry_set, 2, _exfat_checksum(bytes(entry_set), skip=(2, 3)))
        folder = self.root if directory is None else directory
        free = self._entries(folder).index(0x00)
        slot = self._offset(folder) + free * 32
        self.image[slot:slot + len(entry_set)] = entry_set
        return first

    def save(self) -> Path:
        self.path.write_bytes(self.image)
        return self.path


@pytest.fixture(scope="module")
def disks(tmp_path_factory) -> dict:
    """The evidence folder of doctored and ordinary disk images, and the content planted in them."""
    missing = [t for t in TOOLS if not shutil.which(t, path=ENV["PATH"])]
    if missing:
        pytest.fail(f"tools missing (make test installs them): {missing}")
    work = tmp_path_factory.mktemp("coverage")
    evidence = work / "evidence"
    evidence.mkdir()
    png = {n: _png(n) for n in range(1, 14)}
    # 15: one bogus entry (starting far beyond the end) beside a valid FAT at LBA 2048
    fat1 = _fat(work, "fat1.img", {"pic.png": png[1]})
    bogus = _disk(work, "bogus.img", "label: dos\nstart=2048, size=32768, type=6\n", {2048: fat1}, "40M")
    _patch(bogus, 446 + 16, _entry(0x07, 0x7FFFFF00, 2048))
    # 2: a partition whose boot sector is zeroed, before an intact one
    fat2 = _fat(work, "fat2.img", {"second.png": png[2]})
    zeroed = _disk(work, "zeroed.img", "label: dos\nstart=2048, size=32768, type=6\nstart=36864, size=32768, type=6\n",
                   {2048: fat1, 36864: fat2})
    _patch(zeroed, 2048 * 512, bytes(512))
    # GPT: a FAT partition and a Microsoft reserved one (no file system)
    _disk(work, "gpt.img", "label: gpt\nstart=2048, size=32768, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n"
          "start=36864, size=8192, type=E3C9E316-0B5C-4DB8-817D-F92DF00215AE\n", {2048: fat1})
    # an extended partition: logical partitions 5 and 6, the chain of EBRs then made to loop back to the first
    ext = "label: dos\nstart=2048, size=32768, type=6\nstart=36864, size=81920, type=5\n" \
          "start=38912, size=32768, type=6\nstart=73728, size=32768, type=6\n"
    _disk(work, "logical.img", ext, {2048: fat1, 38912: fat2, 73728: _fat(work, "fat3.img", {"third.png": png[3]})})
    looping = _disk(work, "looping.img", ext, {2048: fat1, 38912: fat2})
    second_ebr = 36864 + struct.unpack_from("<I", (work / "looping.img").read_bytes(), 36864 * 512 + 446 + 16 + 8)[0]
    _patch(looping, second_ebr * 512 + 446 + 16, _entry(0x05, 0, 81920))  # its link: the first EBR again
    _patch(looping, second_ebr * 512 + 446 + 16 + 8, struct.pack("<I", 0))
    # an entry overlapping another: partition 2 starts where partition 1 does
    overlap = _disk(work, "overlap.img", "label: dos\nstart=2048, size=32768, type=6\n", {2048: fat1})
    _patch(overlap, 446 + 16, _entry(0x0C, 2048, 16384))
    for image in ("bogus.img", "zeroed.img", "gpt.img", "logical.img", "looping.img", "overlap.img"):
        shutil.move(work / image, evidence / image)
    # file systems: `$` names, a deleted directory, an orphan, a symbolic link
    fat = _fat(work, "fat.img", {"$RECYCLE.BIN/$RABC123.png": png[4], "$x.png": png[5], "gone/in.png": png[6]})
    run("mdeltree", "-i", "fat.img", "::/gone", cwd=work)
    shutil.move(fat, evidence / "fat.img")
    src = work / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a.png").write_bytes(png[7])
    (src / "$x.png").write_bytes(png[8])
    (src / "orphan.png").write_bytes(png[9])
    (src / "link").symlink_to("d/a.png")
    run("mkfs.ext4", "-q", "-F", "-d", "src", "ext4.img", "8M", cwd=work)
    inode = re.search(r"Inode: (\d+)", subprocess.run(["debugfs", "-R", "stat /orphan.png", "ext4.img"], cwd=work,
                                                       env=ENV, capture_output=True, text=True).stdout).group(1)
    # the name is removed and its directory slot reused, the inode freed: only TSK's orphan search finds it
    run("debugfs", "-w", "-f", "-", "ext4.img", cwd=work,
        stdin=f"unlink /orphan.png\nwrite {src / '$x.png'} zzzzzz.png\nfreei <{inode}>\n")
    shutil.move(work / "ext4.img", evidence / "ext4.img")
    run("truncate", "-s", "16M", "ntfs.img", cwd=work)
    run("mkntfs", "-q", "-F", "-Q", "ntfs.img", cwd=work)
    (work / "n.png").write_bytes(png[10])
    run("ntfscp", "-q", "ntfs.img", "n.png", "/$x.png", cwd=work)
    shutil.move(work / "ntfs.img", evidence / "ntfs.img")
    (work / "iso" / "sub").mkdir(parents=True)
    (work / "iso" / "sub" / "cd.png").write_bytes(png[11])
    run("truncate", "-s", "16M", str(evidence / "exfat.img"), cwd=work)
    run("mkfs.exfat", str(evidence / "exfat.img"), cwd=work)
    exfat = _ExFat(evidence / "exfat.img")
    exfat.add("top.png", png[12])
    exfat.add("inner.png", png[13], directory=exfat.add("Photos", is_dir=True))
    exfat.save()
    run("genisoimage", "-quiet", "-R", "-J", "-o", str(evidence / "cd.iso"), "iso", cwd=work)
    (evidence / "hfsplus.raw").write_bytes(gzip.decompress((DATA / "dfvfs" / "hfsplus.raw.gz").read_bytes()))
    return {"evidence": evidence, "md5": {n: hashlib.md5(data).hexdigest() for n, data in png.items()}}


@pytest.fixture(scope="module")
def items(disks, tmp_path_factory) -> dict:
    from hashwarden.store import open_store

    tmp = tmp_path_factory.mktemp("scan")
    store = open_store(f"sqlite:///{tmp / 'hw.db'}")
    run_scan([str(disks["evidence"])], "COVERAGE", tmp / "out", store, ScanSettings(allow_empty=True, workers=1))
    store.dispose()
    return {i["path"]: i for i in json.loads((tmp / "out" / "report.json").read_text())["items"]}


def test_a_bogus_entry_does_not_hide_the_valid_partition(items, disks) -> None:
    assert items["bogus.img/p1/pic.png"]["md5"] == disks["md5"][1]
    bogus = items["bogus.img/p2"]
    assert bogus["status"] == "error"
    assert bogus["error"] == ("partition 2 (offset 1099511496704, 1048576 bytes, MBR type 0x07): starts beyond the "
                              "end of the image (41943040 bytes): not read")


def test_a_partition_without_file_system_is_an_error_item_and_the_next_is_read(items, disks) -> None:
    zeroed = items["zeroed.img/p1"]
    assert zeroed["status"] == "error" and zeroed["container"] == ["zeroed.img"]
    assert zeroed["error"].startswith("partition 1 (offset 1048576, 16777216 bytes, MBR type 0x06): "
                                      "no readable file system: ")
    assert items["zeroed.img/p2/second.png"]["md5"] == disks["md5"][2]
    assert not any(p.startswith("zeroed.img/p1/") for p in items)


def test_gpt_partitions_read_and_the_one_without_file_system_named(items, disks) -> None:
    assert items["gpt.img/p1/pic.png"]["md5"] == disks["md5"][1]
    assert items["gpt.img/p2"]["error"].startswith(
        "partition 2 (offset 18874368, 4194304 bytes, GPT type Microsoft reserved): no readable file system")


def test_logical_partitions_numbered_from_5(items, disks) -> None:
    md5 = disks["md5"]
    assert items["logical.img/p1/pic.png"]["md5"] == md5[1]
    assert items["logical.img/p5/second.png"]["md5"] == md5[2]
    assert items["logical.img/p6/third.png"]["md5"] == md5[3]
    assert not any(i["status"] == "error" for p, i in items.items() if p.startswith("logical.img"))


def test_a_looping_extended_chain_ends_and_is_reported(items, disks) -> None:
    assert items["looping.img/p5/second.png"]["md5"] == disks["md5"][2]
    table = items["looping.img/$partition-table"]
    assert table["status"] == "error"
    assert table["error"] == "partition table (MBR): extended partition chain loops back to the EBR at sector 36864: " \
                             "chain stopped"


def test_overlapping_partitions_both_read_and_the_overlap_reported(items, disks) -> None:
    assert items["overlap.img/p1/pic.png"]["md5"] == items["overlap.img/p2/pic.png"]["md5"] == disks["md5"][1]
    assert items["overlap.img/p2"]["error"] == ("partition 2 (offset 1048576, 8388608 bytes, MBR type 0x0c): overlaps "
                                                "partition 1 (offset 1048576, 16777216 bytes, MBR type 0x06)")


def test_dollar_names_are_user_files_and_metadata_is_not(items, disks) -> None:
    md5 = disks["md5"]
    assert items["fat.img/$RECYCLE.BIN/$RABC123.png"]["md5"] == md5[4]
    assert items["fat.img/$x.png"]["md5"] == md5[5]
    assert items["ext4.img/$x.png"]["md5"] == md5[8]
    assert items["ntfs.img/$x.png"]["md5"] == md5[10]
    listed = {p.split("/", 1)[1] for p in items
              if p.startswith(("ntfs.img/", "fat.img/", "hfsplus.raw/", "exfat.img/"))}
    for metadata in ("$MFT", "$MFTMirr", "$LogFile", "$Bitmap", "$Boot", "$UpCase", "$Secure:$SDS", "$BadClus:$Bad",
                     "$Extend/$ObjId:$O", "$MBR", "$FAT1", "$FAT2", "$CatalogFile", "$ExtentsFile", "$ALLOC_BITMAP",
                     "$UPCASE_TABLE"):
        assert metadata not in listed
    assert not any(p.startswith("ntfs.img/$OrphanFiles/") for p in items)  # MFT records 16-23: reserved, empty


def test_deleted_directory_and_orphan_files_are_found(items, disks) -> None:
    md5 = disks["md5"]
    in_deleted_dir = items["fat.img/_one/_n.png"]  # FAT keeps the names without their first byte
    assert in_deleted_dir["deleted"] is True and in_deleted_dir["md5"] == md5[6]
    [orphan] = [i for p, i in items.items() if p.startswith("ext4.img/$OrphanFiles/OrphanFile-")]
    assert orphan["deleted"] is True and orphan["md5"] == md5[9] and orphan["status"] != "error"


def test_symbolic_links_are_items_with_their_target(items) -> None:
    for path, target in (("ext4.img/link", "d/a.png"), ("hfsplus.raw/a_link", "a_directory/another_file")):
        link = items[path]
        assert link["link"] == target and link["size"] == 0 and link["status"] != "error"
        assert link["note"] == f"symbolic link to {target}: no content of its own, not read"


def test_hfs_plus_files_and_resource_fork(items) -> None:
    text = {"hfsplus.raw/a_directory/another_file": b"This is another file.\n",
            "hfsplus.raw/a_directory/a_file": b"This is a text file.\n\nWe should be able to parse it.\n",
            "hfsplus.raw/a_directory/a_resourcefork:rsrc": b"My resource fork\n"}
    for path, content in text.items():
        assert items[path]["md5"] == hashlib.md5(content).hexdigest()
    assert items["hfsplus.raw/passwords.txt"]["size"] == 116


def test_exfat_files(items, disks) -> None:
    """exFAT through TSK: files in the root and in a directory, written into the image by `_ExFat`."""
    assert items["exfat.img/top.png"]["md5"] == disks["md5"][12]
    assert items["exfat.img/Photos/inner.png"]["md5"] == disks["md5"][13]
    assert items["exfat.img/Photos/inner.png"]["media"] == "image"


def test_iso9660_files(items, disks) -> None:
    """An optical-media image file is read as an archive (libarchive: Rock Ridge and Joliet names)."""
    assert items["cd.iso!/sub/cd.png"]["md5"] == disks["md5"][11]


def _fls_regular_files(image: Path, offset_sectors: int = 0) -> set[str]:
    """Paths of the regular files `fls -r -p` lists (allocated, deleted, orphaned), without file-system metadata:
    NTFS MFT records below 24 and what `$Extend` holds, exFAT's bitmap and up-case table, HFS+ catalog ids below 16
    (TSK's virtual FAT files are type 'v', not 'r')."""
    out = subprocess.run(["fls", "-r", "-p", "-o", str(offset_sectors), str(image)], env=ENV, capture_output=True,
                         text=True, check=True, errors="surrogateescape").stdout
    files = set()
    for line in out.splitlines():
        match = re.match(r"^(.)/(.) (?:\* )?(\d+)[^\t]*\t(.*)$", line)
        if not match or match.group(2) != "r":
            continue
        address, path = int(match.group(3)), match.group(4)
        ntfs_metadata = image.name.startswith("ntfs") and (address < 24 or path.startswith("$Extend/"))
        exfat_metadata = image.name.startswith("exfat") and path in ("$ALLOC_BITMAP", "$UPCASE_TABLE")
        if ntfs_metadata or exfat_metadata or (image.name.startswith("hfs") and address < 16):
            continue
        files.add(path)
    return files


@pytest.mark.parametrize("image, prefix, offset", [
    ("fat.img", "fat.img", 0), ("ext4.img", "ext4.img", 0), ("ntfs.img", "ntfs.img", 0),
    ("hfsplus.raw", "hfsplus.raw", 0), ("exfat.img", "exfat.img", 0), ("cd.iso", "cd.iso!", 0),
    ("logical.img", "logical.img/p6", 73728),
])
def test_every_regular_file_fls_lists_is_an_item(items, disks, image: str, prefix: str, offset: int) -> None:
    expected = _fls_regular_files(disks["evidence"] / image, offset)
    assert expected  # the reference saw files at all
    missing = {path for path in expected if f"{prefix}/{path}" not in items}
    assert not missing
    assert all(items[f"{prefix}/{path}"]["status"] != "error" for path in expected)
