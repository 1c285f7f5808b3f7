"""MBR (with its chain of extended boot records) and GPT partition tables, parsed from raw bytes.

Why our own parser: The Sleuth Kit refuses a whole MBR when one entry is bogus (say, it starts beyond the end of
the image), and its fallback reads the image as one volume, so every valid partition goes unread. A suspect can
hide a partition that way on purpose. Here each entry is checked on its own against the image size: plausible
entries become volumes to read, and whatever is wrong (an entry beyond the end, a truncated or overlapping
partition, a looping extended chain, a damaged GPT header) is returned as a problem to report, never dropped.

Everything is read through a `read(offset, size) -> bytes` callable and the image size, so any container (raw,
split raw, E01, a disk image nested in another) can be parsed. Reads are bounded: one sector per MBR/EBR, at most
`MAX_LOGICAL_PARTITIONS` EBRs, and at most `MAX_GPT_ENTRY_BYTES` of GPT entries.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from hashwarden.config import MAX_GPT_ENTRY_BYTES, MAX_LOGICAL_PARTITIONS

Reader = Callable[[int, int], bytes]

MBR_SECTOR = 512
EXTENDED_TYPES = frozenset({0x05, 0x0F, 0x85})
GPT_PROTECTIVE = 0xEE

GPT_TYPES = {
    "c12a7328-f81f-11d2-ba4b-00a0c93ec93b": "EFI system",
    "e3c9e316-0b5c-4db8-817d-f92df00215ae": "Microsoft reserved",
    "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7": "Microsoft basic data",
    "de94bba4-06d1-4d40-a16a-bfd50179d6ac": "Windows recovery",
    "5808c8aa-7e8f-42e0-85d2-e1e90434cfb3": "Windows LDM metadata",
    "af9b60a0-1431-4f62-bc68-3311714a69ad": "Windows LDM data",
    "21686148-6449-6e6f-744e-656564454649": "BIOS boot",
    "0fc63daf-8483-4772-8e79-3d69d8477de4": "Linux filesystem",
    "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f": "Linux swap",
    "e6d6d379-f507-44c2-a23c-238f2a3df928": "Linux LVM",
    "a19d880f-05fc-4d3b-a006-743f0f84911e": "Linux RAID",
    "ca7d7ccb-63ed-4c53-861c-1742536059cc": "LUKS",
    "48465300-0000-11aa-aa11-00306543ecac": "Apple HFS+",
    "7c3457ef-0000-11aa-aa11-00306543ecac": "Apple APFS",
    "53746f72-6167-11aa-aa11-00306543ecac": "Apple Core Storage",
    "426f6f74-0000-11aa-aa11-00306543ecac": "Apple boot",
}


@dataclass(frozen=True)
class Volume:
    """One partition entry: where it lies and what the table calls it.

    `number` is what `fdisk`/Linux would call it: MBR slots 1-4, logical partitions 5, 6, ... in chain order,
    GPT entry index + 1 (0 for the whole image, when there is no table). `length` is what the table declares;
    `available` what the image holds of it. An entry with `readable` false is not read (it lies outside the
    image), and `problems` say what is wrong with it.
    """

    number: int
    offset: int
    length: int
    scheme: str  # 'MBR', 'GPT', a TSK volume system name, or '' for the whole image
    kind: str  # 'MBR type 0x0c', 'GPT type Microsoft basic data', ...
    available: int
    readable: bool = True
    problems: tuple[str, ...] = ()

    def describe(self) -> str:
        """'partition 3 (offset 1048576, 33554432 bytes, MBR type 0x0c)': what an examiner looks up in mmls."""
        return f"partition {self.number} (offset {self.offset}, {self.length} bytes, {self.kind})"


@dataclass
class PartitionTable:
    """What a partition table holds: `scheme` 'MBR' or 'GPT' (None when the image has neither), every entry
    found (read or not), and the problems of the table as a whole (checksums, a looping or broken chain)."""

    scheme: str | None
    volumes: list[Volume] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def looks_like_boot_sector(sector: bytes) -> bool:
    """True for the first sector of a FAT, exFAT or NTFS file system (a volume boot record, not an MBR).

    Their boot code fills the bytes where an MBR keeps its entries, so the file system's own marks decide first,
    as The Sleuth Kit does: the OEM name of NTFS/exFAT, FAT's type strings, or a sane BIOS parameter block.
    """
    if len(sector) < 512:
        return False
    if sector[3:11] in (b"NTFS    ", b"EXFAT   ") or sector[54:59] in (b"FAT12", b"FAT16") or sector[82:87] == b"FAT32":
        return True
    bytes_per_sector, per_cluster, reserved, fats = struct.unpack_from("<HBHB", sector, 11)
    return (sector[0] in (0xEB, 0xE9) and bytes_per_sector in (512, 1024, 2048, 4096)
            and per_cluster in (1, 2, 4, 8, 16, 32, 64, 128) and reserved > 0 and fats in (1, 2))


def plausible_mbr(sector: bytes) -> bool:
    """An MBR, not noise nor a boot sector: the 0x55AA signature, boot flags 0x00/0x80 in all four entries, and
    at least one entry with a type."""
    if len(sector) < 512 or sector[510:512] != b"\x55\xaa" or looks_like_boot_sector(sector):
        return False
    entries = [sector[446 + 16 * i : 462 + 16 * i] for i in range(4)]
    return all(e[0] in (0, 0x80) for e in entries) and any(e[4] != 0 for e in entries)


def read_partitions(read: Reader, size: int) -> PartitionTable:
    """The MBR or GPT of an image of `size` bytes, every entry checked against the image; `scheme` None when
    the image has neither (a bare file system, or another kind of table).

    A GPT wins when its header is valid (a hybrid MBR beside it is ignored, as Linux does); a protective MBR
    with no valid GPT header falls back to the MBR's other entries, with the problem said.
    """
    sector0 = _read(read, 0, MBR_SECTOR)
    mbr = plausible_mbr(sector0)
    protective = mbr and any(entry[1] == GPT_PROTECTIVE for entry in _mbr_entries(sector0))
    gpt = _read_gpt(read, size)
    if gpt is not None:
        return gpt
    if not mbr:
        return PartitionTable(None)
    table = PartitionTable("MBR")
    if protective:
        table.problems.append("protective MBR (type 0xee) but no valid GPT header, primary or backup: "
                              "the MBR's other entries are read")
    candidates: list[Volume] = []
    for slot, (boot, kind, start, count) in enumerate(_mbr_entries(sector0), start=1):
        if kind == GPT_PROTECTIVE or (kind == 0 and start == 0 and count == 0):
            continue
        if kind in EXTENDED_TYPES:
            if count == 0 or start * MBR_SECTOR >= size:
                candidates.append(_volume(slot, start, count, "MBR", f"extended, MBR type 0x{kind:02x}", size))
                continue
            candidates.extend(_logical(read, size, start, count, 5 + sum(v.number >= 5 for v in candidates),
                                       table.problems))
            continue
        label = f"MBR type 0x{kind:02x}" + (" (marked unused)" if kind == 0 else "")
        candidates.append(_volume(slot, start, count, "MBR", label, size))
    table.volumes = _overlaps(candidates)
    return table


def _read(read: Reader, offset: int, size: int) -> bytes:
    try:
        data = read(offset, size)
    except (OSError, RuntimeError, ValueError):
        return b""
    return data or b""


def _mbr_entries(sector: bytes) -> list[tuple[int, int, int, int]]:
    """(boot flag, type, first sector, sector count) of the four entries of an MBR or EBR."""
    return [(e[0], e[4], *struct.unpack_from("<II", e, 8))
            for e in (sector[446 + 16 * i : 462 + 16 * i] for i in range(4))]


def _volume(number: int, start: int, count: int, scheme: str, kind: str, size: int, sector: int = MBR_SECTOR,
            problems: tuple[str, ...] = ()) -> Volume:
    """A volume from an entry in sectors, checked against the image size."""
    offset, length = start * sector, count * sector
    if count == 0:
        return Volume(number, offset, 0, scheme, kind, 0, False, (*problems, "zero length: nothing to read"))
    if offset >= size:
        return Volume(number, offset, length, scheme, kind, 0, False,
                      (*problems, f"starts beyond the end of the image ({size} bytes): not read"))
    available = min(length, size - offset)
    if available < length:
        problems = (*problems, f"ends beyond the end of the image ({size} bytes): only the first {available} "
                               "bytes are there (a truncated image?)")
    return Volume(number, offset, length, scheme, kind, available, True, problems)


def _logical(read: Reader, size: int, base: int, count: int, first_number: int,
             problems: list[str]) -> list[Volume]:
    """The logical partitions of an extended partition starting at sector `base`: each EBR holds one logical
    partition (relative to that EBR) and a link to the next EBR (relative to `base`). The chain is followed
    at most `MAX_LOGICAL_PARTITIONS` times and never twice through the same EBR."""
    volumes: list[Volume] = []
    seen: set[int] = set()
    ebr = base
    while True:
        if ebr in seen:
            problems.append(f"extended partition chain loops back to the EBR at sector {ebr}: chain stopped")
            break
        if len(seen) >= MAX_LOGICAL_PARTITIONS:
            problems.append(f"extended partition chain longer than {MAX_LOGICAL_PARTITIONS} EBRs: "
                            f"chain stopped at sector {ebr}")
            break
        seen.add(ebr)
        sector = _read(read, ebr * MBR_SECTOR, MBR_SECTOR)
        if len(sector) < MBR_SECTOR or sector[510:512] != b"\x55\xaa":
            where = "beyond the end of the image" if ebr * MBR_SECTOR >= size else "without the 0x55AA signature"
            problems.append(f"EBR at sector {ebr} (offset {ebr * MBR_SECTOR}) {where}: chain stopped")
            break
        entries = _mbr_entries(sector)
        _, kind, start, length = entries[0]
        if kind != 0 or length != 0:
            outside = ()
            if start + ebr < base or start + ebr + length > base + count:
                outside = (f"lies outside its extended partition (sectors {base}-{base + count - 1})",)
            volumes.append(_volume(first_number + len(volumes), ebr + start, length, "MBR",
                                   f"logical, MBR type 0x{kind:02x}", size, problems=outside))
        _, next_kind, next_start, _ = entries[1]
        if next_kind not in EXTENDED_TYPES:  # a link of 0 points back at the first EBR: a loop, caught above
            break
        ebr = base + next_start
    return volumes


def _read_gpt(read: Reader, size: int) -> PartitionTable | None:
    """The GPT of the image when it has a primary or backup header (sector size 512 or 4096); None when it has
    neither. The primary header is used unless it is damaged and the backup is sound; a damaged header is still
    used when nothing better exists (its entries may be intact), with the problem said."""
    for sector in (512, 4096):
        primary = _gpt_header(read, size, sector, sector)
        backup_at = (size // sector - 1) * sector
        backup = None
        if (primary is None or primary[1]) and backup_at > sector:
            backup = _gpt_header(read, size, backup_at, sector)
        if primary is None and backup is None:
            continue
        problems: list[str] = []
        chosen = primary
        if primary is None:
            problems.append(f"GPT primary header missing at offset {sector}: the backup header at offset "
                            f"{backup_at} is used")
            chosen = backup
        elif primary[1]:
            problems.append(f"GPT primary header at offset {sector}: {primary[1]}")
            if backup is not None and not backup[1]:
                problems.append(f"the backup header at offset {backup_at} is used")
                chosen = backup
        assert chosen is not None
        if chosen is backup and backup[1]:
            problems.append(f"GPT backup header at offset {backup_at}: {backup[1]}")
        return _gpt_entries(read, size, sector, chosen[0], problems)
    return None


def _gpt_header(read: Reader, size: int, offset: int, sector: int) -> tuple[dict[str, int], str] | None:
    """The fields of a GPT header at `offset` and what is wrong with it ('' when nothing); None when there is
    no 'EFI PART' signature there."""
    data = _read(read, offset, sector)
    if len(data) < 92 or data[:8] != b"EFI PART":
        return None
    header_size, crc = struct.unpack_from("<II", data, 12)
    first_usable, last_usable = struct.unpack_from("<QQ", data, 40)
    entries_lba, count, entry_size, entries_crc = struct.unpack_from("<QIII", data, 72)
    header = {"first_usable": first_usable, "last_usable": last_usable, "entries_lba": entries_lba,
              "count": count, "entry_size": entry_size, "entries_crc": entries_crc}
    if not 92 <= header_size <= sector:
        return header, f"header size {header_size} outside 92-{sector}"
    computed = zlib.crc32(data[:16] + b"\0\0\0\0" + data[20:header_size])
    if computed != crc:
        return header, f"header CRC32 0x{crc:08x} stored, 0x{computed:08x} computed (damaged or edited)"
    return header, ""


def _gpt_entries(read: Reader, size: int, sector: int, header: dict[str, int], problems: list[str]) -> PartitionTable:
    table = PartitionTable("GPT", problems=problems)
    entry_size, count = header["entry_size"], header["count"]
    if entry_size < 128 or entry_size % 8:
        table.problems.append(f"GPT entry size {entry_size} is not a multiple of 8 of at least 128: entries not read")
        return table
    if entry_size * count > MAX_GPT_ENTRY_BYTES:
        kept = MAX_GPT_ENTRY_BYTES // entry_size
        table.problems.append(f"GPT declares {count} entries of {entry_size} bytes: only the first {kept} are read")
        count = kept
    at = header["entries_lba"] * sector
    data = _read(read, at, entry_size * count) if at < size else b""
    if len(data) < entry_size * count:
        table.problems.append(f"GPT entry array at offset {at} is cut short by the end of the image: "
                              f"{len(data) // entry_size} of {count} entries read")
    elif count == header["count"] and zlib.crc32(data) != header["entries_crc"]:
        table.problems.append(f"GPT entry array CRC32 0x{header['entries_crc']:08x} stored, "
                              f"0x{zlib.crc32(data):08x} computed (damaged or edited): entries read anyway")
    candidates = []
    for index in range(len(data) // entry_size):
        entry = data[index * entry_size : (index + 1) * entry_size]
        if entry[:16] == b"\0" * 16:
            continue
        type_guid = str(uuid.UUID(bytes_le=entry[:16]))
        first, last = struct.unpack_from("<QQ", entry, 32)
        name = entry[56:128].decode("utf-16-le", "replace").split("\0", 1)[0]
        kind = f"GPT type {GPT_TYPES.get(type_guid, type_guid)}" + (f", name {name!r}" if name else "")
        if last < first:
            candidates.append(Volume(index + 1, first * sector, 0, "GPT", kind, 0, False,
                                     (f"ends (sector {last}) before it starts (sector {first}): not read",)))
            continue
        outside = ()
        if first < header["first_usable"] or last > header["last_usable"]:
            outside = (f"lies outside the GPT's usable sectors {header['first_usable']}-{header['last_usable']}",)
        candidates.append(_volume(index + 1, first, last - first + 1, "GPT", kind, size, sector, outside))
    table.volumes = _overlaps(candidates)
    return table


def _overlaps(volumes: list[Volume]) -> list[Volume]:
    """The volumes with a problem added to each one that overlaps an earlier-numbered readable one (both are
    read: which of them is genuine is for the examiner to decide)."""
    out: list[Volume] = []
    for volume in volumes:
        clashes = tuple(
            f"overlaps {other.describe()}" for other in out
            if volume.readable and other.readable
            and volume.offset < other.offset + other.available and other.offset < volume.offset + volume.available)
        out.append(Volume(volume.number, volume.offset, volume.length, volume.scheme, volume.kind,
                          volume.available, volume.readable, volume.problems + clashes))
    return out
