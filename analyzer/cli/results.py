"""Running an analysis and writing its result, as the commands do: warnings and a progress
bar on stderr; the result in a registered format (:mod:`analyzer.output`) on stdout, in
``--output``, or in a file opened earlier.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from analyzer import leaving
from analyzer.capture import get_backend
from analyzer.cli.shared import warn
from analyzer.errors import AnalyzerError
from analyzer.output import WriteOptions, get_format

if TYPE_CHECKING:
    from analyzer.analysis import Analysis


def analyze_files(
    captures: list[Path], idle_timeout: float, show_secrets: bool, quiet: bool,
    backend: str = "native", jobs: int | None = None, dask: str | None = None,
    merge: bool | None = None, tls_keylog: Path | None = None, write_ahead: bool = False,
) -> Analysis:
    """analyze() with warnings on stderr and, for long files on a terminal, a progress bar
    (one process only: partitions elsewhere report nothing on the way)."""
    from analyzer.output import progress
    from analyzer.pipeline import analyze

    paths = [str(p) for p in captures]
    # The analysis makes no reference cycles, and this process ends after the output: a
    # cyclic collection over a million records would cost time and free nothing.
    gc.disable()
    sequential = dask is None and (jobs is None or jobs == 1)
    with contextlib.ExitStack() as stack:
        on_progress = None
        # backends that read by packet report nothing; partitions run elsewhere
        if (sequential and get_backend(backend).reports_progress
                and progress.wanted(paths, quiet)):
            on_progress = stack.enter_context(progress.progress_bar(paths))
        return analyze(
            paths, idle_timeout=idle_timeout, on_warning=warn, show_secrets=show_secrets,
            on_progress=on_progress, backend=backend, jobs=jobs, dask=dask, merge=merge,
            tls_keylog=tls_keylog, write_ahead=write_ahead,
        )


def emit(
    result: Analysis, format: str, output: Path | None, max_rows: int,
    opened: IO[bytes] | None = None,
) -> None:
    """Write the result in the named format to stdout, --output, or a file opened early."""
    leaving.keep(result)  # (not freed object by object when the process is dropped)
    chosen = get_format(format)
    if chosen.files is not None:
        if opened is not None:
            opened.close()
        if output is None:
            raise AnalyzerError(f"--format {chosen.name} needs {chosen.files}")
        for path in chosen.file_writer()(result, output).values():
            print(f"keepalive: wrote {path}", file=sys.stderr)
        return
    options = WriteOptions(
        max_rows=max_rows, interactive=output is None and sys.stdout.isatty(),
        colour=output is None,
    )
    with open_output(output, opened) as fh:
        chosen.stream_writer()(result, fh, options)


def create(output: Path) -> IO[bytes]:
    """``output`` opened for writing; an error is one line.

    What was in it is gone as with ``open(output, "wb")``, but a regular file is cut to
    one byte, not to nothing, and to what was written when it is closed
    (:class:`_Rewritten`): ext4 writes back at once, on close, a file that was truncated
    to nothing and written again (its ``auto_da_alloc``, a guard for programs that
    replace a file without ``fsync``), which took 0.2–0.25 s of a 700 MB report rewritten
    in place, measured. A file that is new (or empty) is not truncated at all: a
    truncation to nothing of an empty file arms the same write-back (0.18–0.23 s at close
    for 450 MB written after it, measured; none without it). The file's inode, links and
    mode stay; a FIFO or a device is written as it is."""
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as e:
        raise AnalyzerError(f"{output}: cannot write: {e.strerror or e}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # (nothing to cut: written as it is)
            return open(fd, "wb")  # noqa: SIM115
        if os.fstat(fd).st_size > 1:  # (only what is there to cut: see above)
            os.ftruncate(fd, 1)
        return _Rewritten(io.FileIO(fd, "w"))
    except OSError as e:
        os.close(fd)
        raise AnalyzerError(f"{output}: cannot write: {e.strerror or e}") from None


class _Rewritten(io.BufferedWriter):
    """A regular file written from its start and cut where the writing ended when it is
    closed (see :func:`create`), however the writing ended; not truncated when nothing
    lies past that end (a truncation to nothing arms ext4's write-back on close)."""

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.flush()
        finally:
            try:
                fd = self.fileno()  # (its position: sendfile may have moved it too)
                end = os.lseek(fd, 0, os.SEEK_CUR)
                if os.fstat(fd).st_size > end:
                    os.ftruncate(fd, end)
            finally:
                super().close()


@contextlib.contextmanager
def open_output(output: Path | None, opened: IO[bytes] | None = None) -> Iterator[IO[bytes]]:
    """stdout's byte stream (no --output, or ``-o -``), the --output file, or the file
    opened early; a file is closed at the end."""
    if opened is not None:
        with opened:
            yield opened
        return
    if output is None or str(output) == "-":
        sys.stdout.flush()
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with create(output) as fh:
        yield fh
