"""Evidence sources: they yield items (a location and a way to read its bytes), read-only, knowing nothing of hashing."""

from hashwarden.evidence.archive import ArchiveMember
from hashwarden.evidence.folder import FolderItem, FolderSource, Skipped

# What a scan hashes: a file of a folder, or a member of an archive (nested or not) inside one.
Item = FolderItem | ArchiveMember

__all__ = ["ArchiveMember", "FolderItem", "FolderSource", "Item", "Skipped"]
