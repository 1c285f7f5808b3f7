"""Run a reader we cannot interrupt in a child process, and stream what it reads back through a pipe.

Why: a C library reading hostile input can spin forever without reading another byte (Debian's libarchive 3.6.2
loops on a crafted XAR file with a doubled link) or crash the process. Python cannot interrupt code running inside
a C call, so such a reader runs in a forked child: the parent reads its output with a time limit, and a child that
says nothing for `CHILD_STALL_SECONDS` is killed and its container reported, while the scan goes on. Fork (not spawn) so
the child already holds the container's bytes (an archive held in memory is not copied) and starts in a few ms.

The child yields `Entry` headers each followed by the entry's content in chunks; the parent turns them back into a
stream per entry. Nothing is written anywhere but the pipe.
"""

from __future__ import annotations

import io
import os
import pickle
import select
import signal
import struct
from collections.abc import Callable, Iterator
from typing import Any

from hashwarden.config import CHILD_STALL_SECONDS
from hashwarden.errors import EvidenceReadError
from hashwarden.evidence.streams import ReadStream

_HEADER, _DATA, _END, _ERROR, _DONE = b"H", b"D", b"E", b"X", b"Z"
_FRAME = struct.Struct("<cI")
_CHUNK = 1 << 16


class _Sender:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def send(self, kind: bytes, payload: bytes = b"") -> None:
        view = memoryview(_FRAME.pack(kind, len(payload)) + payload)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]


def stream_in_child(produce: Callable[[], Iterator[tuple[Any, Iterator[bytes] | None]]], what: str
                    ) -> Iterator[tuple[Any, io.RawIOBase | None]]:
    """(header, stream) pairs of what `produce()` yields in a forked child: `header` is any picklable value, and the
    stream (None when the child gave no content) reads the chunks the child sent for it. A stream is valid until
    the next pair is requested.

    Raises:
        EvidenceReadError: the child reported an error (its message), stalled (killed after the stall limit), or
            died; `what` names the container in the message.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: produce, send, and leave without running any of the parent's cleanup
        import faulthandler

        faulthandler.disable()  # a crash here is reported by the parent, not dumped as the parent's stacks
        os.close(read_fd)
        sender = _Sender(write_fd)
        status = 0
        try:
            for header, chunks in produce():
                sender.send(_HEADER, pickle.dumps((header, chunks is not None)))
                if chunks is not None:
                    try:
                        for chunk in chunks:
                            for start in range(0, len(chunk), _CHUNK):
                                sender.send(_DATA, bytes(chunk[start:start + _CHUNK]))
                    except Exception as exc:  # noqa: BLE001 - this entry's error, then the next entry
                        sender.send(_ERROR, str(exc).encode("utf-8", "replace"))
                        continue
                    sender.send(_END)
            sender.send(_DONE)
        except BrokenPipeError:
            status = 1  # the parent stopped reading: nothing left to do
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
            try:
                sender.send(_ERROR, f"{exc}".encode("utf-8", "replace") or type(exc).__name__.encode())
                sender.send(_DONE)
            except OSError:
                status = 1
        finally:
            os._exit(status)
    os.close(write_fd)
    reader = _Receiver(read_fd, pid, what, CHILD_STALL_SECONDS)
    try:
        while True:
            kind, payload = reader.frame()
            if kind == _DONE:
                return
            if kind == _ERROR:
                raise EvidenceReadError(payload.decode("utf-8", "replace") or "the reader failed")
            header, has_content = pickle.loads(payload)  # noqa: S301 - our own child's output, never evidence
            if not has_content:
                yield header, None
                continue
            stream = _EntryStream(reader)
            yield header, stream
            stream.drain()
    finally:
        reader.close()


class PipeReader:
    """A child's pipe read with a stall limit: `read(size)` gives `size` bytes, or fewer only once the pipe has
    ended (`ended`); nothing arriving for `stall` seconds raises `stalled` as an EvidenceReadError. Also used for
    7-Zip's output (evidence/sevenzip.py)."""

    def __init__(self, fd: int, stall: float, stalled: str) -> None:
        self._fd, self._stall, self._stalled = fd, stall, stalled
        self._buffer = bytearray()
        self.ended = False
        # poll, not select: select() refuses a descriptor numbered 1024 or more, which a long-running process
        # (the service, a scan of many sources) can hand out; poll has no such bound.
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def read(self, size: int) -> bytes:
        while len(self._buffer) < size and not self.ended:
            self._more()
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        return chunk

    def lines(self) -> Iterator[bytes]:
        """The pipe's lines without their line feeds (the last one may have none)."""
        while True:
            while b"\n" not in self._buffer and not self.ended:
                self._more()
            if not self._buffer:
                return
            end = self._buffer.find(b"\n")
            end = len(self._buffer) if end < 0 else end
            line = bytes(self._buffer[:end])
            del self._buffer[:end + 1]
            yield line

    def _more(self) -> None:
        if not self._poll.poll(self._stall * 1000):  # milliseconds; a closed pipe is ready too (POLLHUP)
            raise EvidenceReadError(self._stalled)
        data = os.read(self._fd, 1 << 20)
        if not data:
            self.ended = True
        self._buffer += data


class _Receiver:
    def __init__(self, fd: int, pid: int, what: str, stall: float) -> None:
        self._fd, self._pid, self._what = fd, pid, what
        self._pipe = PipeReader(fd, stall, f"the archive reader made no progress for {stall:.0f} s on {what}: "
                                           "stopped (a damaged or crafted archive)")
        self._closed = False

    def _exactly(self, size: int) -> bytes:
        try:
            data = self._pipe.read(size)
        except EvidenceReadError:  # stalled: the child is stopped before the error goes up
            self.close()
            raise
        if len(data) < size:
            status = self.close()
            raise EvidenceReadError(f"the archive reader stopped on {self._what} ({status})")
        return data

    def frame(self) -> tuple[bytes, bytes]:
        kind, length = _FRAME.unpack(self._exactly(_FRAME.size))
        return kind, self._exactly(length)

    def close(self) -> str:
        if self._closed:
            return "closed"
        self._closed = True
        os.close(self._fd)
        try:
            os.kill(self._pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(self._pid, 0)
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) != signal.SIGKILL:
            return f"killed by signal {os.WTERMSIG(status)}"
        return f"exit status {os.waitstatus_to_exitcode(status)}"


class _EntryStream(ReadStream):
    """One entry's content, as the child sends it; an entry the child could not read raises OSError here."""

    def __init__(self, receiver: _Receiver) -> None:
        self._receiver = receiver
        self._pending = b""
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        want = 1 << 20 if size is None or size < 0 else size
        while len(self._pending) < want and not self._ended:
            kind, payload = self._receiver.frame()
            if kind == _DATA:
                self._pending += payload
            elif kind == _END:
                self._ended = True
            elif kind == _ERROR:
                self._ended = True
                raise OSError(5, payload.decode("utf-8", "replace"))
            else:
                raise EvidenceReadError("the archive reader sent an entry out of order")
        chunk, self._pending = self._pending[:want], self._pending[want:]
        return chunk
