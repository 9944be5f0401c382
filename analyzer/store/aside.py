"""Writing aside: a part of a document written by a second process into a temporary file
while this one goes on, then copied in by the kernel (``--jobs``).

The JSON report's two big sections are encoded lines read back from the stores and
rewritten (final connection ids, diagnoses): on a 10M-packet capture about 1 s each,
after the workers are done. With ``--jobs`` they need not wait for each other, nor the
exchanges for the diagnosis: :func:`analyzer.pipeline.finish` starts the exchanges
section aside before diagnosing, and :mod:`analyzer.output.jsonout` writes half the
connections section aside. A part is the bytes ``write_part(write)`` gives, exactly the
bytes the same call would write in this process; a part that fails is written here
again, so the document never depends on the second process.

A part may also be written *in place*: into the document's own file, from an offset
known before the part before it is written (``Aside.start(write_part, into=(fd,
offset))``, by ``pwrite``: the descriptor's position is not moved), so nothing is copied
afterwards; :meth:`Aside.length` says how many bytes it wrote there.

The second process is a ``fork`` of this one: it reads what this one holds (stores,
diagnoses) without anything sent, and ends with ``os._exit`` (no cleanup, no flush of
this process' buffers). There is no aside without ``fork`` or with threads running (a
Dask client, a notebook's kernel): a fork would copy locks other threads hold.
"""

from __future__ import annotations

import os
import struct
import tempfile
import threading
from collections.abc import Callable
from typing import IO, Any

from analyzer.store.files import BUFFER

WritePart = Callable[[Callable[[bytes], Any]], Any]


def can_fork() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1


class Aside:
    """One part being written by a second process (module docstring)."""

    def __init__(self, pid: int, fd: int, write_part: WritePart, placed: bool = False) -> None:
        self.pid = pid
        # the temporary file (unlinked: gone with its last descriptor); placed: the pipe
        # on which the second process says how many bytes it wrote
        self.fd = fd
        self.placed = placed
        self.write_part = write_part
        self.status: bool | None = None  # once waited for: whether it wrote the whole part

    @classmethod
    def start(
        cls, write_part: WritePart, into: tuple[int, int] | None = None
    ) -> Aside | None:
        """Fork a process that writes the part; None when it cannot be (no ``fork``,
        threads running). Flush every buffer this process writes through first.
        ``into``: (descriptor, offset) of a regular file opened for writing (not to
        append): the part goes there (module docstring), not to a temporary file."""
        if not can_fork():
            return None
        if into is None:
            out = tempfile.TemporaryFile("w+b")  # noqa: SIM115
            fd = os.dup(out.fileno())
            out.close()
        else:
            fd, report = os.pipe()
        pid = os.fork()
        if pid == 0:  # the second process: the part to the file, then out, whatever happens
            code = 1
            try:
                if into is None:
                    with open(os.dup(fd), "wb", buffering=BUFFER) as part:
                        write_part(part.write)
                else:
                    placed = _Placed(*into)
                    write_part(placed.write)
                    placed.flush()
                    os.write(report, struct.pack("<q", placed.at - into[1]))
                code = 0
            finally:
                os._exit(code)
        if into is not None:
            os.close(report)
        return cls(pid, fd, write_part, into is not None)

    @property
    def size(self) -> int:
        """Bytes of a part written to a temporary file, once waited for."""
        return os.fstat(self.fd).st_size

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` of a part written to a temporary file."""
        return os.pread(self.fd, end - start, start)

    def length(self) -> int | None:
        """Wait for a part written in place; how many bytes it wrote, None when it
        failed (what it wrote is then to be written again)."""
        if not self.wait():
            return None
        got = os.read(self.fd, 8)
        return struct.unpack("<q", got)[0] if len(got) == 8 else None

    def wait(self) -> bool:
        """Wait for the second process; whether it wrote the whole part."""
        if self.status is None:
            _pid, status = os.waitpid(self.pid, 0)
            self.status = os.waitstatus_to_exitcode(status) == 0
        return self.status

    def copy_to(self, fh: IO[bytes]) -> bool:
        """Put the part into ``fh`` (by the kernel when ``fh`` is a file or a pipe), or,
        when the second process failed, write it here; whether the part had any bytes."""
        if not self.wait():
            size = 0

            def write(b: bytes) -> None:
                nonlocal size
                size += len(b)
                fh.write(b)

            self.write_part(write)
            return size > 0
        size = os.fstat(self.fd).st_size
        fh.flush()
        at = 0
        try:
            out = fh.fileno()
        except (AttributeError, OSError):  # (io.BytesIO: no descriptor)
            out = -1
        if out >= 0:
            try:
                while at < size:
                    sent = os.sendfile(out, self.fd, at, size - at)
                    if not sent:
                        break
                    at += sent
            except OSError:
                pass  # (a descriptor sendfile does not take: copied below)
        while at < size:
            chunk = os.pread(self.fd, min(BUFFER, size - at), at)
            if not chunk:
                raise OSError("a part written aside is shorter than it was")
            fh.write(chunk)
            at += len(chunk)
        return size > 0

    def close(self) -> None:
        """Stop the second process if it still runs (the document was abandoned) and
        drop the file."""
        if self.status is None:
            import signal

            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.status = False
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class _Placed:
    """Writes given in order, to a file from an offset, a buffer at a time (pwrite)."""

    def __init__(self, fd: int, offset: int) -> None:
        self.fd = fd
        self.at = offset  # where the next flush writes
        self.buf = bytearray()

    def write(self, b: bytes) -> None:
        if not self.buf and len(b) >= BUFFER:
            self._put(b)  # (a buffer's worth already: written as it is, not copied)
            return
        self.buf += b
        if len(self.buf) >= BUFFER:
            self.flush()

    def flush(self) -> None:
        self._put(self.buf)
        self.buf = bytearray()

    def _put(self, b: bytes | bytearray) -> None:
        view = memoryview(b)
        done = 0
        while done < len(view):
            done += os.pwrite(self.fd, view[done:], self.at + done)
        view.release()
        self.at += done
