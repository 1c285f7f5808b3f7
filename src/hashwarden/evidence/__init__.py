"""Evidence sources: they yield items (a location and a way to read its bytes), read-only, knowing nothing of hashing."""

from hashwarden.evidence.folder import FolderItem, FolderSource, Skipped

__all__ = ["FolderItem", "FolderSource", "Skipped"]
