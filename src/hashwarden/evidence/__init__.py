"""Evidence sources: they yield items (a location and a way to read its bytes), read-only, knowing nothing of hashing.

A folder source lists files (`FolderSource`); `tree.walk` opens one file and everything it contains, in one pass.
"""

from hashwarden.evidence.folder import FolderItem, FolderSource, Skipped

__all__ = ["FolderItem", "FolderSource", "Skipped"]
