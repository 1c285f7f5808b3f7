"""Opening what a file contains: an archive or a disk image is detected from its first bytes and expanded.

One place decides which container reader applies, so the scan treats folders, archives and disk images alike.
"""

from __future__ import annotations

from collections.abc import Iterator

from hashwarden.errors import EvidenceReadError
from hashwarden.evidence.archive import ArchiveMember, MemberRef, archive_format, expand_archive
from hashwarden.evidence.disk_image import (
    HEAD_BYTES,
    RAW_IMAGE_SUFFIXES,
    CarvedFile,
    DiskFile,
    expand_disk,
    image_kind,
)
from hashwarden.evidence.folder import FolderItem


def expand(item: FolderItem, carve: bool = False) -> Iterator[ArchiveMember | DiskFile | CarvedFile]:
    """The items inside `item` when its content is an archive or a disk image (with `carve`, also media carved
    from a disk image's unallocated space); nothing otherwise."""
    try:
        with item.open() as fp:
            head = fp.read(HEAD_BYTES)
    except EvidenceReadError:
        return  # the file itself is hashed, and its read error reported, like any file
    fmt = archive_format(head)
    if fmt:
        yield from expand_archive(item, fmt)
        return
    if head.startswith(b"Rar!\x1a\x07"):  # no pure-Python RAR reader exists: say so instead of staying silent
        yield ArchiveMember(item, (MemberRef("rar", ""),), 0, "RAR archive: not opened (no pure-Python reader)")
        return
    kind = image_kind(head, item.path)
    if kind:
        yield from expand_disk(item, kind, carve_media=carve)
    elif carve and item.path.lower().endswith(RAW_IMAGE_SUFFIXES):
        # named as a raw image but with nothing to recognise: carved as a whole, no file system expected
        yield from expand_disk(item, "raw", carve_media=True, expect_file_system=False)
