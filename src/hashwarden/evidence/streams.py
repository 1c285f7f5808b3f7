"""The one base of hashwarden's read-only streams (member windows, bomb guards, pipes from child readers).

Each such stream implements `read(size)` alone; this base supplies what `io` asks of a readable raw stream
(`readable`, and `readinto` in terms of `read`), so buffered readers, `tarfile` and `hashlib` loops can use it.
"""

from __future__ import annotations

import io
from typing import Any


class ReadStream(io.RawIOBase):
    """A readable raw stream defined by its `read(size)`."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read and drop what the consumer left unread: the next entry of a shared stream (a pipe from a child
        reader) follows this one's last byte. A damaged rest is dropped with it (its error was the consumer's)."""
        try:
            while self.read(1 << 20):
                pass
        except OSError:
            pass
