"""Evidence sources: they yield items (a location and a way to read its bytes), read-only, knowing nothing of hashing."""

from hashwarden.evidence.archive import ArchiveMember
from hashwarden.evidence.disk_image import CarvedFile, DiskFile
from hashwarden.evidence.folder import FolderItem, FolderSource, Skipped

# What a scan hashes: a file of a folder, a member of an archive (nested or not), or a file in a disk image.
Item = FolderItem | ArchiveMember | DiskFile | CarvedFile

__all__ = ["ArchiveMember", "CarvedFile", "DiskFile", "FolderItem", "FolderSource", "Item", "Skipped"]
