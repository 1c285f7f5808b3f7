"""The hostile corpus: crafted, benign inputs that attack a scanner's time, memory and bookkeeping.

Every input is made here by code (nothing is shipped): text, zeros, random bytes from a fixed seed, solid-colour
images, and file systems built with the Debian tools the other tests use (mtools, dosfstools, sfdisk, ewfacquire,
genisoimage, 7z). `build(folder)` writes them all and returns what the scan must show for each. Each input is
one function whose docstring names the attack; each stays small on disk (< 5 MB) however much it expands to.

Expectations are deliberately about outcomes, not wording: a file found with its MD5 at a report path, an error
somewhere on the input or under it, a member listed as skipped. Where hashwarden's exact path for a nested item
is not pinned down, a path suffix is used (`Expect.found_suffix`).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import random
import shutil
import struct
import subprocess
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ENV = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin", "MTOOLS_SKIP_CHECK": "1"}
TOOLS = {"mkfs.fat": "dosfstools", "mcopy": "mtools", "mmd": "mtools", "sfdisk": "fdisk",
         "ewfacquire": "ewf-tools", "genisoimage": "genisoimage", "7z": "p7zip-full"}
HELLO = b"hello from a benign crafted file\n"
HOST_SECRET = b"a file outside the corpus that no link may make the scanner read\n"
MiB = 1 << 20


@dataclass
class Expect:
    """What the report must show for one crafted input (`name` is its file or folder in the corpus)."""

    name: str
    attack: str = ""
    found: dict[str, str] = field(default_factory=dict)  # exact report path -> md5
    found_suffix: dict[str, str] = field(default_factory=dict)  # report path under `name` ending so -> md5
    error: bool = False  # some item at `name` or under it carries an error
    skipped: list[str] = field(default_factory=list)  # report paths listed as skipped
    distinct: int = 0  # at least this many distinct items under `name` (names that must not collide)
    not_md5: list[str] = field(default_factory=list)  # MD5s no item may have (content read through a link)
    pdq: list[str] = field(default_factory=list)  # report paths that must carry a PDQ hash (decoded within bounds)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _run(*command: str | Path, cwd: Path, stdin: bytes | None = None) -> None:
    subprocess.run([str(c) for c in command], cwd=cwd, env=ENV, input=stdin, check=True, capture_output=True)


def _zip(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def _fat(work: Path, name: str, files: dict[str, bytes], size_mb: int = 2, bits: int = 12) -> Path:
    """A FAT image holding `files` (paths with '/' become folders), built with mtools: no root, no mount.
    FAT12 by default (small); FAT16 needs 4 MB even with 512-byte clusters."""
    image = work / name
    _run("truncate", "-s", f"{size_mb}M", image, cwd=work)
    _run("mkfs.fat", "-F", str(bits), "-s", "1", "-n", "CRAFTED", image, cwd=work)
    for path, data in files.items():
        parts = path.split("/")
        for depth in range(1, len(parts)):
            subprocess.run(["mmd", "-i", str(image), "::/" + "/".join(parts[:depth])], env=ENV, capture_output=True)
        source = work / f"src-{md5(path.encode())}"
        source.write_bytes(data)
        _run("mcopy", "-i", image, source, "::/" + path, cwd=work)
    return image


# ------------------------------------------------------------------------------------------ compressed streams


def truncated_gzip(d: Path) -> Expect:
    """A .gz cut in the middle of its deflate stream (Python's gzip raises EOFError)."""
    data = gzip.compress(random.Random(1).randbytes(200_000))
    (d / "truncated.txt.gz").write_bytes(data[: len(data) // 2])
    return Expect("truncated.txt.gz", error=True)


def tar_gz_cut_mid_member(d: Path) -> Expect:
    """A .tar.gz cut inside its second member: the first member is whole and must still be found."""
    first, second = HELLO * 10, random.Random(2).randbytes(300_000)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("first.txt", first), ("second.bin", second)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    (d / "cut.tar.gz").write_bytes(raw[: len(raw) * 2 // 3])
    return Expect("cut.tar.gz", found={"cut.tar.gz!/first.txt": md5(first)}, error=True)


def gzip_bomb(d: Path) -> Expect:
    """1 GiB of zeros gzipped into ~1 MB (ratio ~1000): must be cut off, not inflated into memory or disk."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(16 * MiB)
    parts = [compressor.compress(chunk) for _ in range(64)]
    (d / "zeros.gz").write_bytes(b"".join(parts) + compressor.flush())
    return Expect("zeros.gz", error=True)


def _repeated_stream(one: bytes, times: int) -> bytes:
    return one * times  # bzip2, xz, zstd and gzip all read concatenated streams as one


def bzip2_bomb(d: Path) -> Expect:
    """1 GiB of zeros as 64 concatenated bzip2 streams of 16 MiB each (a few KB on disk)."""
    (d / "zeros.bz2").write_bytes(_repeated_stream(bz2.compress(bytes(16 * MiB), 9), 64))
    return Expect("zeros.bz2", error=True)


def xz_bomb(d: Path) -> Expect:
    """1 GiB of zeros as 64 concatenated xz streams."""
    (d / "zeros.xz").write_bytes(_repeated_stream(lzma.compress(bytes(16 * MiB)), 64))
    return Expect("zeros.xz", error=True)


def zstd_bomb(d: Path) -> Expect:
    """4 GiB of zeros as 256 concatenated zstd frames."""
    import zstandard

    (d / "zeros.zst").write_bytes(_repeated_stream(zstandard.ZstdCompressor(level=19).compress(bytes(16 * MiB)), 256))
    return Expect("zeros.zst", error=True)


def gzip_wrong_crc(d: Path) -> Expect:
    """A gzip stream whose CRC-32 trailer is wrong: the content is whole but not what was stored."""
    data = bytearray(gzip.compress(HELLO * 100))
    data[-8] ^= 0xFF
    (d / "badcrc.txt.gz").write_bytes(bytes(data))
    return Expect("badcrc.txt.gz", error=True)


def gzip_trailing_garbage(d: Path) -> Expect:
    """A gzip stream followed by random bytes (Python's gzip raises on the 'next member')."""
    data = gzip.compress(HELLO) + random.Random(3).randbytes(5000)
    (d / "garbage.txt.gz").write_bytes(data)
    return Expect("garbage.txt.gz")


def truncated_xz(d: Path) -> Expect:
    """An .xz cut short."""
    data = lzma.compress(random.Random(4).randbytes(100_000))
    (d / "truncated.bin.xz").write_bytes(data[:-5000])
    return Expect("truncated.bin.xz", error=True)


def gzip_nested_30_deep(d: Path) -> Expect:
    """A file gzipped 30 times over: nesting past the depth limit must end with an error, not a stack overflow."""
    data = HELLO
    for _ in range(30):
        data = gzip.compress(data, mtime=0)
    (d / "deep.gz").write_bytes(data)
    return Expect("deep.gz", error=True)


# ------------------------------------------------------------------------------------------------------ zip


def zip_2000_empty_members(d: Path) -> Expect:
    """2,000 empty members: bookkeeping per member must stay cheap, and every one is listed."""
    (d / "empties.zip").write_bytes(_zip([(f"e/{i:04d}.txt", b"") for i in range(2000)]))
    return Expect("empties.zip", found={"empties.zip!/e/1999.txt": md5(b"")}, distinct=2000)


def zip_overlapping_members(d: Path) -> Expect:
    """A zip bomb by overlap (Fifield 2019): 500 central-directory entries share one local header whose deflate
    stream inflates to 4 MiB of zeros, so 20 KB on disk claims 2 GB. Overlapping members must be refused."""
    payload = bytes(4 * MiB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = compressor.compress(payload) + compressor.flush()
    name = b"zeros.bin"
    crc = zlib.crc32(payload)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(stream), len(payload), len(name), 0) + name
    body = local + stream
    central = b""
    count = 500
    for _ in range(count):
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(stream), len(payload),
                               len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(body), 0)
    (d / "overlap.zip").write_bytes(body + central + end)
    return Expect("overlap.zip", error=True)


def zip_nested_42_style(d: Path) -> Expect:
    """42.zip in small: 16 zips of 16 zips of 16 zips of 16 files of 1 MiB zeros (64 GiB, 65,536 leaves) in
    ~100 KB. Must be cut with an error on a container, within the time and memory bounds."""
    leaf = _zip([(f"{i:x}.bin", bytes(MiB)) for i in range(16)])
    level = leaf
    for depth in range(3):
        level = _zip([(f"l{depth}-{i:x}.zip", level) for i in range(16)])
    (d / "nested42.zip").write_bytes(level)
    return Expect("nested42.zip", error=True)


def zip_symlinks(d: Path) -> Expect:
    """Zip members flagged as Unix symbolic links to a host file and to ../..: no link may be followed."""
    buffer = io.BytesIO()
    secret = d.parent / "host-secret.txt"
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, target in (("link-abs", str(secret)), ("link-up", "../../host-secret.txt")):
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            info.create_system = 3
            archive.writestr(info, target)
        archive.writestr("plain.txt", HELLO)
    (d / "links.zip").write_bytes(buffer.getvalue())
    return Expect("links.zip", found={"links.zip!/plain.txt": md5(HELLO)}, not_md5=[md5(HOST_SECRET)])


def zip_wrong_crc(d: Path) -> Expect:
    """A stored member whose data was altered after its CRC-32 was written."""
    data = bytearray(_zip([("a.txt", HELLO * 50)], zipfile.ZIP_STORED))
    data[40] ^= 0x01
    (d / "badcrc.zip").write_bytes(bytes(data))
    return Expect("badcrc.zip", error=True)


def zip_encrypted_flag(d: Path) -> Expect:
    """A member with the encryption bit set (hashwarden holds no passwords): listed with an error."""
    data = bytearray(_zip([("secret.txt", HELLO)], zipfile.ZIP_STORED))
    data[6] |= 0x01  # local header flags
    at = data.rfind(b"PK\x01\x02")
    data[at + 8] |= 0x01  # central directory flags
    (d / "encrypted.zip").write_bytes(bytes(data))
    return Expect("encrypted.zip", error=True)


def zip_lying_sizes(d: Path) -> Expect:
    """The central directory claims a member of 4 GB whose stored data is 33 bytes."""
    data = bytearray(_zip([("liar.txt", HELLO)], zipfile.ZIP_STORED))
    at = data.rfind(b"PK\x01\x02")
    data[at + 24 : at + 28] = struct.pack("<I", 0xFFFFFFF0)
    (d / "liar.zip").write_bytes(bytes(data))
    return Expect("liar.zip", error=True)


def zip_central_directory_lost(d: Path) -> Expect:
    """The end-of-central-directory record points past the end: members must be recovered from local headers."""
    data = bytearray(_zip([("kept.txt", HELLO), ("also.txt", HELLO * 2)]))
    at = data.rfind(b"PK\x05\x06")
    data[at + 16 : at + 20] = struct.pack("<I", 0x7FFFFFFF)
    (d / "nocd.zip").write_bytes(bytes(data))
    return Expect("nocd.zip", found={"nocd.zip!/kept.txt": md5(HELLO), "nocd.zip!/also.txt": md5(HELLO * 2)})


def zip_long_and_hostile_names(d: Path) -> Expect:
    """Members named ../../etc/x, /abs, C:\\win, a 4,000-character path and one with a newline: labels only."""
    names = ["../../etc/evil.txt", "/abs/olute.txt", "C:\\Windows\\x.txt", "d/" * 2000 + "deep.txt", "new\nline.txt"]
    (d / "names.zip").write_bytes(_zip([(n, HELLO + n.encode()) for n in names]))
    # a literal backslash is doubled in report paths, so raw names stay distinct
    return Expect("names.zip", found={"names.zip!/" + n.replace("\\", "\\\\"): md5(HELLO + n.encode()) for n in names})


def disk_image_inside_zip(d: Path) -> Expect:
    """A FAT image stored in a zip: the files of the image are evidence too."""
    work = d.parent / "work-zipdisk"
    work.mkdir(exist_ok=True)
    image = _fat(work, "fat.img", {"inzip/hello.txt": HELLO})
    (d / "disk.zip").write_bytes(_zip([("fat.img", image.read_bytes())]))
    return Expect("disk.zip", found_suffix={"/inzip/hello.txt": md5(HELLO)})


# ------------------------------------------------------------------------------------------------------ tar


def _tar(members: list[tarfile.TarInfo | tuple[str, bytes]], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                archive.addfile(info, io.BytesIO(member[1]))
    return buffer.getvalue()


def tar_special_members(d: Path) -> Expect:
    """A tar with a FIFO, character and block devices, a hard link and symbolic links (one to a host file):
    nothing is opened on the host, the regular file is found and the special members are reported skipped."""
    specials = []
    for name, kind in (("fifo", tarfile.FIFOTYPE), ("null", tarfile.CHRTYPE), ("sda", tarfile.BLKTYPE)):
        info = tarfile.TarInfo(name)
        info.type = kind
        specials.append(info)
    for name, target, kind in (("hard", "plain.txt", tarfile.LNKTYPE),
                               ("soft", str(d.parent / "host-secret.txt"), tarfile.SYMTYPE),
                               ("up", "../../../host-secret.txt", tarfile.SYMTYPE)):
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        specials.append(info)
    (d / "special.tar").write_bytes(_tar([("plain.txt", HELLO), *specials]))
    return Expect("special.tar", found={"special.tar!/plain.txt": md5(HELLO)}, skipped=["special.tar!/fifo"],
                  not_md5=[md5(HOST_SECRET)])


def tar_backslash_and_non_utf8_names(d: Path) -> Expect:
    """Names with a literal backslash, with a byte that is not UTF-8 (0xE9), and the literal text '\\xe9' that the
    report's escaping of that byte would produce: four different members must stay four different items."""
    names = ["dir\\file.txt", "caf\udce9.txt", "caf\\xe9.txt", "a\\x5cb.txt", "a\\b.txt"]
    members = [(n, HELLO + str(i).encode()) for i, n in enumerate(names)]
    (d / "escapes.tar").write_bytes(_tar(members))
    return Expect("escapes.tar", found={"escapes.tar!/dir\\\\file.txt": md5(HELLO + b"0")}, distinct=len(names))


def tar_size_beyond_end(d: Path) -> Expect:
    """A member header declaring 8 GB while the file ends after 1 KB."""
    data = bytearray(_tar([("big.bin", HELLO * 30)], fmt=tarfile.USTAR_FORMAT))
    data[124:136] = b"77777777777\0"  # size field, octal: 8 GiB - 1
    checksum = sum(data[:148]) + 8 * 32 + sum(data[156:512])
    data[148:156] = b"%06o\0 " % checksum
    (d / "huge-member.tar").write_bytes(bytes(data[:2048]))
    return Expect("huge-member.tar", error=True)


def tar_4000_members(d: Path) -> Expect:
    """4,000 one-byte members: enumeration and bookkeeping stay bounded."""
    (d / "many.tar").write_bytes(_tar([(f"m/{i:05d}", bytes([i % 256])) for i in range(4000)]))
    return Expect("many.tar", found={"many.tar!/m/03999": md5(bytes([3999 % 256]))}, distinct=4000)


# ------------------------------------------------------------------------------------------------------- 7z


def sevenzip_member_without_name(d: Path) -> Expect:
    """A 7z whose member has no stored name (7-Zip's `-si`): py7zr raises TypeError while reading the header."""
    _run("7z", "a", "-si", "-bd", d / "noname.7z", cwd=d, stdin=HELLO)
    return Expect("noname.7z", found_suffix={"": md5(HELLO)})


def sevenzip_truncated(d: Path) -> Expect:
    """A 7z cut in half: its header (at the end) is gone."""
    import py7zr

    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        archive.writestr(random.Random(5).randbytes(50_000), "noise.bin")
    raw = buffer.getvalue()
    (d / "truncated.7z").write_bytes(raw[: len(raw) // 2])
    return Expect("truncated.7z", error=True)


def sevenzip_bomb(d: Path) -> Expect:
    """A 7z whose one member expands to 1 GiB of zeros (py7zr has no member stream: it must not be held whole)."""
    with subprocess.Popen(["head", "-c", str(1024 * MiB), "/dev/zero"], stdout=subprocess.PIPE) as zeros:
        subprocess.run(["7z", "a", "-sizeros.bin", "-bd", "-mx=1", str(d / "zeros.7z")], stdin=zeros.stdout,
                       env=ENV, check=True, capture_output=True)
    return Expect("zeros.7z", error=True)


# ------------------------------------------------------------------------------------------------- images


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring_100k_square(d: Path) -> Expect:
    """A PNG whose header declares 100,000 x 100,000 pixels (30 GB decoded) in a few hundred bytes."""
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
    data = b"\x89PNG\r\n\x1a\n" + header + _png_chunk(b"IDAT", zlib.compress(bytes(1000))) + _png_chunk(b"IEND", b"")
    (d / "huge.png").write_bytes(data)
    return Expect("huge.png", error=True)


def tiff_float_14000_square_deflate(d: Path) -> Expect:
    """A float32 TIFF of 14,000 x 14,000 (784 MB decoded) in one deflate strip of ~800 KB of zeros."""
    width = height = 14_000
    compressor = zlib.compressobj(9)
    row_block = bytes(width * 4 * 100)
    strip = b"".join(compressor.compress(row_block) for _ in range(height // 100)) + compressor.flush()
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 32), (259, 3, 1, 8), (262, 3, 1, 1),
               (273, 4, 1, 0), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, len(strip)), (339, 3, 1, 3)]
    ifd_at = 8
    data_at = ifd_at + 2 + 12 * len(entries) + 4
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        value = data_at if tag == 273 else value
        ifd += struct.pack("<HHI", tag, kind, count) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
    (d / "float.tif").write_bytes(b"II*\0" + struct.pack("<I", ifd_at) + ifd + b"\0\0\0\0" + strip)
    # scaled to 8 bits tile by tile, it fits the per-worker decode budget (~1 GB): hashed, within the memory bound
    return Expect("float.tif", pdq=["float.tif"])


def gif_declaring_65535_square(d: Path) -> Expect:
    """A GIF whose screen and frame declare 65,535 x 65,535 pixels."""
    frame = struct.pack("<HHHHB", 0, 0, 65535, 65535, 0)
    data = b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0) + b"," + frame + b"\x08\x02\x4c\x01\x00;"
    (d / "huge.gif").write_bytes(data)
    return Expect("huge.gif")


def jpeg_truncated(d: Path) -> Expect:
    """A JPEG of a solid colour cut in half."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (40, 120, 200)).save(buffer, "JPEG", quality=90)
    raw = buffer.getvalue()
    (d / "cut.jpg").write_bytes(raw[: len(raw) // 2])
    return Expect("cut.jpg", error=True)


# -------------------------------------------------------------------------------------------- disk images


def _mbr(entries: list[tuple[int, int, int]], disk_id: int = 0x1234ABCD) -> bytes:
    """A boot sector with up to four (type, first LBA, sectors) entries."""
    table = b"".join(struct.pack("<B3sB3sII", 0, b"\0\0\0", kind, b"\0\0\0", lba, count)
                     for kind, lba, count in entries)
    return bytes(440) + struct.pack("<IH", disk_id, 0) + table.ljust(64, b"\0") + b"\x55\xaa"


def mbr_bogus_entry_and_fat(d: Path) -> Expect:
    """An MBR whose first entry lies beyond the end of the disk, and a valid FAT at LBA 2048: the FAT's files are
    found anyway."""
    work = d.parent / "work-bogus"
    work.mkdir(exist_ok=True)
    fat = _fat(work, "fat.img", {"found.txt": HELLO})
    data = bytearray(_mbr([(0x07, 50_000_000, 1_000_000), (0x06, 2048, fat.stat().st_size // 512)]))
    data += bytes(2048 * 512 - len(data)) + fat.read_bytes()
    (d / "bogus-mbr.img").write_bytes(bytes(data))
    return Expect("bogus-mbr.img", found_suffix={"/found.txt": md5(HELLO)})


def mbr_looping_extended_chain(d: Path) -> Expect:
    """An extended partition whose EBR points back at itself: the chain must be walked once."""
    data = bytearray(_mbr([(0x05, 1, 4095)]) + bytes(4095 * 512))
    data[512:1024] = _mbr([(0x83, 1, 100), (0x05, 0, 4095)], disk_id=0)  # next EBR at offset 0: itself
    (d / "loop-ebr.img").write_bytes(bytes(data))
    return Expect("loop-ebr.img")


def gpt_absurd_entry_count(d: Path) -> Expect:
    """A GPT header (valid CRCs) claiming 4,294,967,295 partition entries of 128 bytes."""
    sectors = 4096
    protective = _mbr([(0xEE, 1, sectors - 1)])
    count, entry_size = 0xFFFFFFFF, 128
    entries_crc = zlib.crc32(bytes(512))
    header = struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0, 1, sectors - 1, 34, sectors - 34,
                         b"\x11" * 16, 2, count, entry_size, entries_crc)
    header = header[:16] + struct.pack("<I", zlib.crc32(header)) + header[20:]
    (d / "gpt-absurd.img").write_bytes(protective + header.ljust(512, b"\0") + bytes((sectors - 2) * 512))
    return Expect("gpt-absurd.img")


def fat_directory_loop(d: Path) -> Expect:
    """A FAT16 folder holding an entry that points back at the folder itself: walked once, reported."""
    work = d.parent / "work-loop"
    work.mkdir(exist_ok=True)
    image = _fat(work, "fat.img", {"sub/inner.txt": HELLO}, size_mb=4, bits=16)
    data = bytearray(image.read_bytes())
    # find the 'SUB' entry in the root directory and its cluster, then plant 'LOOP' in sub pointing to it
    at = data.find(b"SUB        \x10")
    cluster = struct.unpack("<H", data[at + 26 : at + 28])[0]
    boot = data[:512]
    per_sector = struct.unpack("<H", boot[11:13])[0]
    per_cluster = boot[13]
    reserved = struct.unpack("<H", boot[14:16])[0]
    fats, root_entries = boot[16], struct.unpack("<H", boot[17:19])[0]
    fat_sectors = struct.unpack("<H", boot[22:24])[0]
    first_data = reserved + fats * fat_sectors + root_entries * 32 // per_sector
    sub_at = (first_data + (cluster - 2) * per_cluster) * per_sector
    slot = sub_at
    while data[slot] != 0:  # the first free entry of the folder
        slot += 32
    data[slot : slot + 32] = b"LOOP       \x10" + bytes(14) + struct.pack("<H", cluster) + bytes(4)
    (d / "fat-loop.img").write_bytes(bytes(data))
    return Expect("fat-loop.img", found_suffix={"/sub/inner.txt": md5(HELLO)}, error=True)


def fat_cluster_chain_loop(d: Path) -> Expect:
    """A file whose FAT cluster chain loops back on itself: reading it must stop at its size."""
    work = d.parent / "work-chain"
    work.mkdir(exist_ok=True)
    content = random.Random(6).randbytes(20_000)
    image = _fat(work, "fat.img", {"chain.bin": content}, size_mb=4, bits=16)
    data = bytearray(image.read_bytes())
    at = data.find(b"CHAIN   BIN")
    first = struct.unpack("<H", data[at + 26 : at + 28])[0]
    reserved = struct.unpack("<H", data[14:16])[0]
    fat_at = reserved * 512
    # the last cluster of the file points back at its first one
    cluster = first
    while struct.unpack("<H", data[fat_at + 2 * cluster : fat_at + 2 * cluster + 2])[0] < 0xFFF8:
        cluster = struct.unpack("<H", data[fat_at + 2 * cluster : fat_at + 2 * cluster + 2])[0]
    data[fat_at + 2 * cluster : fat_at + 2 * cluster + 2] = struct.pack("<H", first)
    (d / "fat-chain.img").write_bytes(bytes(data))
    return Expect("fat-chain.img")


def partition_with_zeroed_boot_sector(d: Path) -> Expect:
    """An MBR partition whose boot sector was wiped, next to a readable one: the readable one is found, the
    wiped one is reported."""
    work = d.parent / "work-zeroed"
    work.mkdir(exist_ok=True)
    good = _fat(work, "good.img", {"kept.txt": HELLO})
    wiped = bytearray(_fat(work, "wiped.img", {"lost.txt": HELLO * 2}).read_bytes())
    wiped[:512] = bytes(512)
    sectors = good.stat().st_size // 512
    data = bytearray(_mbr([(0x06, 128, sectors), (0x06, 128 + sectors, sectors)]))
    data += bytes(128 * 512 - len(data)) + good.read_bytes() + bytes(wiped)
    (d / "wiped-part.img").write_bytes(bytes(data))
    return Expect("wiped-part.img", found_suffix={"/kept.txt": md5(HELLO)}, error=True)


def _e01(work: Path, raw: Path, name: str) -> Path:
    _run("ewfacquire", "-q", "-u", "-t", work / name, "-C", "CASE", "-D", "crafted", "-E", "1", "-e", "t", "-N",
         "none", "-f", "encase6", "-c", "deflate:fast", raw, cwd=work)
    return work / f"{name}.E01"


def e01_truncated(d: Path) -> Expect:
    """An E01 cut in half (its table and hashes at the end are gone)."""
    work = d.parent / "work-e01"
    work.mkdir(exist_ok=True)
    e01 = _e01(work, _fat(work, "fat.img", {"noise.bin": random.Random(7).randbytes(MiB)}), "trunc")
    data = e01.read_bytes()
    (d / "truncated.E01").write_bytes(data[: len(data) // 2])
    return Expect("truncated.E01", error=True)


def zip_in_fat_in_e01(d: Path) -> Expect:
    """A zip inside a FAT file system inside an E01: three containers deep, the text file is evidence."""
    work = d.parent / "work-nest"
    work.mkdir(exist_ok=True)
    fat = _fat(work, "fat.img", {"box/inner.zip": _zip([("deep/hello.txt", HELLO)])})
    shutil.copyfile(_e01(work, fat, "nest"), d / "nest.E01")
    return Expect("nest.E01", found_suffix={"inner.zip!/deep/hello.txt": md5(HELLO)})


def iso9660_image(d: Path) -> Expect:
    """An ISO 9660 (+Joliet) image of a text file, made by genisoimage."""
    work = d.parent / "work-iso"
    (work / "root" / "docs").mkdir(parents=True, exist_ok=True)
    (work / "root" / "docs" / "readme.txt").write_bytes(HELLO)
    _run("genisoimage", "-quiet", "-J", "-r", "-o", d / "disc.iso", work / "root", cwd=work)
    return Expect("disc.iso", found_suffix={"readme.txt": md5(HELLO)})


def split_raw_missing_segment(d: Path) -> Expect:
    """The first segment of a split raw image whose file system extends into a second segment that is absent."""
    work = d.parent / "work-split"
    work.mkdir(exist_ok=True)
    fat = _fat(work, "fat.img", {"a.txt": HELLO}, size_mb=8, bits=16)
    (d / "lonely.001").write_bytes(fat.read_bytes()[: 4 * MiB])
    return Expect("lonely.001")


# ------------------------------------------------------------------------------------------ names and noise


def empty_files(d: Path) -> Expect:
    """Zero-byte files named as every container type."""
    folder = d / "empty"
    folder.mkdir()
    for name in ("empty.zip", "empty.7z", "empty.E01", "empty.tar.gz", "empty.img", "empty.gz", "empty.jpg"):
        (folder / name).write_bytes(b"")
    return Expect("empty", found={f"empty/{n}": md5(b"") for n in ("empty.zip", "empty.E01", "empty.7z")})


def random_bytes_named_as_containers(d: Path) -> Expect:
    """Random bytes named .zip, .7z, .E01, .gz, .tar, .img, .001: hashed as files, never a crash."""
    folder = d / "random"
    folder.mkdir()
    rng = random.Random(8)
    found = {}
    for name in ("r.zip", "r.7z", "r.E01", "r.gz", "r.tar", "r.img", "r.001", "r.dd"):
        data = rng.randbytes(100_000)
        (folder / name).write_bytes(data)
        found[f"random/{name}"] = md5(data)
    return Expect("random", found=found)


def magic_then_noise(d: Path) -> Expect:
    """Right magic, then noise: zip, 7z, EWF, gzip, xz, bzip2, zstd and GPT signatures in front of random bytes."""
    folder = d / "magic"
    folder.mkdir()
    rng = random.Random(9)
    magics = {"m.zip": b"PK\x03\x04", "m.7z": b"7z\xbc\xaf\x27\x1c", "m.E01": b"EVF\x09\x0d\x0a\xff\x00",
              "m.gz": b"\x1f\x8b\x08\x00", "m.xz": b"\xfd7zXZ\x00", "m.bz2": b"BZh9", "m.zst": b"\x28\xb5\x2f\xfd",
              "m.vhd": b"conectix", "m.qcow2": b"QFI\xfb"}
    for name, magic in magics.items():
        (folder / name).write_bytes(magic + rng.randbytes(60_000))
    (folder / "m-gpt.img").write_bytes(bytes(512) + b"EFI PART" + rng.randbytes(60_000))
    return Expect("magic", found={f"magic/{n}": md5((folder / n).read_bytes()) for n in magics})


def name_with_newline_and_control_characters(d: Path) -> Expect:
    """A file name holding a newline, a tab and an escape character."""
    name = "line\nbreak\tand\x1b[31mred.txt"
    (d / name).write_bytes(HELLO)
    return Expect(name, found={name: md5(HELLO)})


def host_secret_outside_corpus(d: Path) -> None:
    """Not an input: the host file that links in the corpus point at (outside the scanned folder)."""
    (d.parent / "host-secret.txt").write_bytes(HOST_SECRET)


INPUTS: list[Callable[[Path], Expect]] = [
    truncated_gzip, tar_gz_cut_mid_member, gzip_bomb, bzip2_bomb, xz_bomb, zstd_bomb, gzip_wrong_crc,
    gzip_trailing_garbage, truncated_xz, gzip_nested_30_deep,
    zip_2000_empty_members, zip_overlapping_members, zip_nested_42_style, zip_symlinks, zip_wrong_crc,
    zip_encrypted_flag, zip_lying_sizes, zip_central_directory_lost, zip_long_and_hostile_names,
    disk_image_inside_zip,
    tar_special_members, tar_backslash_and_non_utf8_names, tar_size_beyond_end, tar_4000_members,
    sevenzip_member_without_name, sevenzip_truncated, sevenzip_bomb,
    png_declaring_100k_square, tiff_float_14000_square_deflate, gif_declaring_65535_square, jpeg_truncated,
    mbr_bogus_entry_and_fat, mbr_looping_extended_chain, gpt_absurd_entry_count, fat_directory_loop,
    fat_cluster_chain_loop, partition_with_zeroed_boot_sector, e01_truncated, zip_in_fat_in_e01, iso9660_image,
    split_raw_missing_segment,
    empty_files, random_bytes_named_as_containers, magic_then_noise, name_with_newline_and_control_characters,
]


def missing_tools() -> list[str]:
    return sorted({pkg for tool, pkg in TOOLS.items() if not shutil.which(tool, path=ENV["PATH"])})


def build(corpus: Path) -> dict[str, Expect]:
    """Write every input into `corpus` (which must not exist; its parent gets work folders and the host file)."""
    corpus.mkdir(parents=True)
    host_secret_outside_corpus(corpus)
    expects = {}
    for make in INPUTS:
        expect = make(corpus)
        expect.attack = (make.__doc__ or "").strip().splitlines()[0]
        expects[expect.name] = expect
    return expects
