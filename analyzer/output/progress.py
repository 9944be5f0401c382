"""A progress bar for long captures: packets and MB read, on stderr (rich).

Shown only when stderr is a terminal (never in a pipe, a log or CI) and not ``--quiet``;
fed by :func:`analyzer.analyze`'s ``on_progress(path, bytes_read, packets)`` callback,
which runs once per 1 MiB chunk, so the bar costs nothing per packet.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

ProgressCallback = Callable[[str, int, int], None]
MIN_BYTES = 32 * 1024 * 1024  # smaller inputs finish before a bar would be worth seeing


def wanted(paths: Sequence[str], quiet: bool, force: bool = False) -> bool:
    if quiet:
        return False
    if force:
        return True
    if not sys.stderr.isatty():
        return False
    total = 0
    for p in paths:
        try:
            total += os.path.getsize(p)
        except OSError:
            pass
    return total >= MIN_BYTES


@contextmanager
def progress_bar(paths: Sequence[str]) -> Iterator[ProgressCallback]:
    """A callback for ``analyze(on_progress=...)`` driving a rich bar on stderr."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    sizes: dict[str, int | None] = {}
    for p in paths:
        try:
            # a .gz reports decompressed bytes: its size on disk is no total for them
            sizes[p] = None if p.endswith(".gz") else os.path.getsize(p)
        except OSError:
            sizes[p] = None
    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
        TextColumn("{task.fields[packets]:,} packets"), TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    )
    tasks: dict[str, int] = {}

    def update(path: str, bytes_read: int, packets: int) -> None:
        if path not in tasks:
            tasks[path] = bar.add_task(
                os.path.basename(path), total=sizes.get(path), packets=0
            )
        bar.update(tasks[path], completed=bytes_read, packets=packets)  # type: ignore[arg-type]

    with bar:
        yield update
