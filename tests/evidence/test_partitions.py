"""The MBR/EBR/GPT parser: tables made by sfdisk read as mmls (The Sleuth Kit) reads them, and every damaged or
doctored entry (beyond the end, truncated, overlapping, a looping or endless extended chain, a damaged GPT header,
an absurd GPT entry count) kept apart and reported instead of hiding the rest."""

from __future__ import annotations

import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from test_disk_image import ENV, run

from hashwarden.config import MAX_LOGICAL_PARTITIONS
from hashwarden.evidence.partitions import looks_like_boot_sector, plausible_mbr, read_partitions

MiB = 1 << 20


class SparseDisk:
    """A disk image of `size` bytes held as the few sectors written to it (the rest reads as zeros)."""

    def __init__(self, size: int) -> None:
        self.size, self.blocks = size, {}

    def put(self, offset: int, data: bytes) -> None:
        self.blocks[offset] = data

    def read(self, offset: int, size: int) -> bytes:
        size = max(0, min(size, self.size - offset))
        out = bytearray(size)
        for at, data in self.blocks.items():
            low, high = max(at, offset), min(at + len(data), offset + size)
            if low < high:
                out[low - offset : high - offset] = data[low - at : high - at]
        return bytes(out)


def boot_record(*entries: tuple[int, int, int]) -> bytes:
    """An MBR or EBR with (type, first sector, sector count) entries."""
    sector = bytearray(512)
    for index, (kind, start, count) in enumerate(entries):
        sector[446 + 16 * index : 462 + 16 * index] = struct.pack("<B3sB3sII", 0, b"\0" * 3, kind, b"\0" * 3,
                                                                 start, count)
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def table_of(disk: SparseDisk):
    return read_partitions(disk.read, disk.size)


def placed(table) -> list[tuple[int, int, int]]:
    return [(v.number, v.offset, v.length) for v in table.volumes]


def mmls_partitions(image: Path) -> list[tuple[int, int]]:
    """(offset, length) in bytes of each partition mmls lists (its rows with a table:slot, not Meta/unallocated)."""
    out = subprocess.run(["mmls", str(image)], env=ENV, capture_output=True, text=True, check=True).stdout
    rows = re.findall(r"^\d+:\s+\d+(?::\d+)?\s+(\d+)\s+\d+\s+(\d+)", out, re.M)
    return [(int(start) * 512, int(length) * 512) for start, length in rows]


@pytest.mark.parametrize("label", [
    "label: dos\nstart=2048, size=8192, type=c\nstart=10240, size=40960, type=5\n"
    "start=12288, size=4096, type=83\nstart=18432, size=4096, type=7\nstart=24576, size=2048, type=b\n"
    "start=51200, size=8192, type=83\n",
    "label: gpt\nstart=2048, size=8192, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name=\"data\"\n"
    "start=20480, size=4096, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n"
    "start=30720, size=2048, type=E3C9E316-0B5C-4DB8-817D-F92DF00215AE\n",
], ids=["mbr-extended", "gpt"])
def test_tables_made_by_sfdisk_read_as_mmls_reads_them(tmp_path: Path, label: str) -> None:
    run("truncate", "-s", "64M", "disk.img", cwd=tmp_path)
    run("sfdisk", "-q", "disk.img", cwd=tmp_path, stdin=label)
    data = (tmp_path / "disk.img").read_bytes()
    table = read_partitions(lambda offset, size: data[offset : offset + size], len(data))
    assert table.problems == [] and all(v.readable and not v.problems for v in table.volumes)
    assert [(v.offset, v.length) for v in table.volumes] == mmls_partitions(tmp_path / "disk.img")
    if table.scheme == "MBR":  # numbered as Linux numbers them: slots 1-4, logical partitions from 5
        assert [v.number for v in table.volumes] == [1, 5, 6, 7, 3]
        assert table.volumes[2].describe() == "partition 6 (offset 9437184, 2097152 bytes, logical, MBR type 0x07)"
    else:
        assert [v.number for v in table.volumes] == [1, 2, 3]
        assert table.volumes[0].kind == "GPT type Microsoft basic data, name 'data'"
        assert table.volumes[2].kind == "GPT type Microsoft reserved"


def test_entry_beyond_the_end_is_reported_and_the_others_kept() -> None:
    disk = SparseDisk(40 * MiB)
    disk.put(0, boot_record((0x06, 2048, 32768), (0x07, 0x7FFFFF00, 2048), (0x0C, 40 * 2048 - 100, 1000)))
    table = table_of(disk)
    assert table.scheme == "MBR" and table.problems == []
    first, bogus, truncated = table.volumes
    assert (first.number, first.offset, first.available, first.readable, first.problems) == (1, MiB, 16 * MiB, True, ())
    assert bogus.readable is False and bogus.number == 2
    assert bogus.problems == ("starts beyond the end of the image (41943040 bytes): not read",)
    assert truncated.readable is True and truncated.available == 100 * 512
    assert "ends beyond the end of the image" in truncated.problems[0]


def test_overlapping_entries_are_both_kept_and_the_overlap_said() -> None:
    disk = SparseDisk(64 * MiB)
    disk.put(0, boot_record((0x06, 2048, 32768), (0x83, 2048 + 16384, 32768), (0x83, 70000, 1000)))
    first, second, third = table_of(disk).volumes
    assert first.problems == () and third.problems == ()
    assert second.readable and second.problems == (f"overlaps {first.describe()}",)


def test_looping_extended_chain_stops_and_is_reported() -> None:
    disk = SparseDisk(64 * MiB)
    base = 10240
    disk.put(0, boot_record((0x0C, 2048, 8192), (0x05, base, 40960)))
    disk.put(base * 512, boot_record((0x83, 2048, 4096), (0x05, 8192, 8192)))  # next EBR at base + 8192
    disk.put((base + 8192) * 512, boot_record((0x07, 2048, 4096), (0x05, 0 + 16384, 8192)))
    disk.put((base + 16384) * 512, boot_record((0x0B, 2048, 2048), (0x05, 8192, 8192)))  # ... back to the second
    table = table_of(disk)
    assert placed(table) == [(1, MiB, 4 * MiB), (5, (base + 2048) * 512, 2 * MiB),
                             (6, (base + 8192 + 2048) * 512, 2 * MiB), (7, (base + 16384 + 2048) * 512, MiB)]
    assert table.problems == [f"extended partition chain loops back to the EBR at sector {base + 8192}: chain stopped"]


def test_endless_extended_chain_is_cut_off() -> None:
    disk = SparseDisk(2 << 30)
    base = 2048
    disk.put(0, boot_record((0x05, base, 4_000_000)))
    for index in range(MAX_LOGICAL_PARTITIONS + 50):  # each EBR new, with a tiny partition and a link to the next
        disk.put((base + index * 8) * 512, boot_record((0x83, 4, 4), (0x05, (index + 1) * 8, 8)))
    table = table_of(disk)
    assert len(table.volumes) == MAX_LOGICAL_PARTITIONS
    assert table.problems == [f"extended partition chain longer than {MAX_LOGICAL_PARTITIONS} EBRs: chain stopped "
                              f"at sector {base + MAX_LOGICAL_PARTITIONS * 8}"]


def test_broken_extended_chain_is_reported() -> None:
    disk = SparseDisk(64 * MiB)
    disk.put(0, boot_record((0x05, 2048, 40960)))
    disk.put(2048 * 512, boot_record((0x83, 2048, 4096), (0x05, 200000, 8)))  # the next EBR lies past the end
    table = table_of(disk)
    assert placed(table) == [(5, 4096 * 512, 2 * MiB)]
    assert table.problems == ["EBR at sector 202048 (offset 103448576) beyond the end of the image: chain stopped"]


def _gpt_disk(tmp_path: Path) -> bytearray:
    run("truncate", "-s", "32M", "gpt.img", cwd=tmp_path)
    run("sfdisk", "-q", "gpt.img", cwd=tmp_path, stdin="label: gpt\nstart=2048, size=8192\nstart=20480, size=4096\n")
    return bytearray((tmp_path / "gpt.img").read_bytes())


def test_damaged_gpt_header_falls_back_to_the_backup(tmp_path: Path) -> None:
    data = _gpt_disk(tmp_path)
    expected = placed(read_partitions(lambda o, n: bytes(data[o : o + n]), len(data)))
    data[512 + 56] ^= 0xFF  # a byte of the disk GUID: the primary header's CRC32 no longer holds
    table = read_partitions(lambda o, n: bytes(data[o : o + n]), len(data))
    assert placed(table) == expected == [(1, MiB, 4 * MiB), (2, 10 * MiB, 2 * MiB)]
    assert "GPT primary header at offset 512: header CRC32" in table.problems[0]
    assert table.problems[1] == f"the backup header at offset {len(data) - 512} is used"


def test_absurd_gpt_entry_count_is_bounded(tmp_path: Path) -> None:
    data = _gpt_disk(tmp_path)
    header = bytearray(data[512:604])
    header[80:84] = struct.pack("<I", 0xFFFFFFFF)  # four billion entries, with a header CRC that holds
    header[16:20] = b"\0\0\0\0"
    header[16:20] = struct.pack("<I", zlib.crc32(header))
    data[512:604] = header
    table = read_partitions(lambda o, n: bytes(data[o : o + n]), len(data))
    assert [v.number for v in table.volumes] == [1, 2]
    assert table.problems == ["GPT declares 4294967295 entries of 128 bytes: only the first 8192 are read"]


def test_protective_mbr_without_gpt_is_reported() -> None:
    disk = SparseDisk(64 * MiB)
    disk.put(0, boot_record((0xEE, 1, 64 * 2048 - 1), (0x83, 4096, 2048)))
    table = table_of(disk)
    assert placed(table) == [(2, 2 * MiB, MiB)]
    assert "protective MBR (type 0xee) but no valid GPT header" in table.problems[0]


def test_file_system_boot_sectors_are_not_partition_tables(tmp_path: Path) -> None:
    run("truncate", "-s", "16M", "fat.img", cwd=tmp_path)
    run("mkfs.fat", "-F", "16", "fat.img", cwd=tmp_path)
    data = (tmp_path / "fat.img").read_bytes()
    boot = data[:512]
    assert looks_like_boot_sector(boot) and not plausible_mbr(boot)
    table = read_partitions(lambda o, n: data[o : o + n], len(data))
    assert table.scheme is None and table.volumes == []
    assert plausible_mbr(boot_record((0x83, 2048, 2048)))
    assert not plausible_mbr(bytes(512)) and not plausible_mbr(boot_record())
