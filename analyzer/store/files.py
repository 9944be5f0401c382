"""The temporary files both stores write (anonymous in TMPDIR; named in a directory
when a worker hands its file to its parent) and the JSON line codec they share with the
JSON report (orjson when installed, the standard library's json otherwise)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import IO, Any

BUFFER = 1 << 20  # bytes of lines written to the file at once


def encoder() -> Callable[[Any], bytes]:
    """``dumps(obj) -> bytes``: the report's JSON encoder (orjson, ~10x the standard one)."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency; stay usable without
        import json

        enc = json.JSONEncoder(check_circular=False).encode
        return lambda obj: enc(obj).encode()
    return orjson.dumps  # type: ignore[no-any-return]


def temp_file(directory: str | None, suffix: str) -> tuple[IO[bytes], str | None]:
    """An anonymous temporary file in TMPDIR, or, with ``directory``, a named one there;
    and its path (None: anonymous)."""
    if directory is None:
        return tempfile.TemporaryFile("w+b", buffering=BUFFER), None  # noqa: SIM115
    fd, path = tempfile.mkstemp(suffix=suffix, dir=directory)
    return open(fd, "w+b", buffering=BUFFER), path  # noqa: SIM115


def export_file(fh: IO[bytes], path: str | None) -> bytes | str:
    """A worker's file for its parent: its path when named, else its bytes."""
    fh.flush()
    if path is not None:
        return path
    fh.seek(0)
    return fh.read()


def append_file(fh: IO[bytes], data: bytes | str) -> int:
    """Append an exported file (deleted once copied, when given by path); returns the
    offset it starts at."""
    fh.seek(0, os.SEEK_END)
    base = fh.tell()
    if isinstance(data, str):
        with open(data, "rb") as src:
            shutil.copyfileobj(src, fh, BUFFER)
        os.unlink(data)
    else:
        fh.write(data)
    return base


def remove_file(path: str | None) -> None:
    """A worker's named file that nobody adopted."""
    if path is not None:
        try:
            os.unlink(path)
        except OSError:
            pass
