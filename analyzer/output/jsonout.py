"""The JSON document of an analysis: DESIGN.md's contract (schema ``keepalive-analyzer/1``).

Every object's keys are its record's output fields as :mod:`analyzer.core.schema`
declares them: the contract's first, in its order, then the additions. Never rename.
The objects are built by the dict literals :mod:`analyzer.core.records` generates from
the schema (compiled with the core, twice as fast to encode as a record read field by
field).

:func:`write_json` streams: one record per line, each encoded by the C encoder
so a million-packet analysis is
written without building the whole document in memory. orjson encodes when installed
(about 10x the standard encoder; :func:`analyzer.store.files.encoder`); the standard
library's json is the fallback.

With ``--jobs`` (an analysis whose ``jobs`` > 1) and many connections (in memory or on
disk), a second process writes the second half of the connections section aside
(:mod:`analyzer.store.aside`). When the pipeline started a draft of the connections
section while diagnosing them (``analyze(write_ahead=True)``,
``Analysis.connections_draft``: each diagnosis null), the section is the draft with the
diagnoses put in; the draft's size and the diagnoses tell, before it is copied, where
the exchanges section will start, so a second process writes that section there, in the
file, meanwhile (in place: nothing copied after it), when the document goes to a file
that can be written at an offset. Same bytes.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Callable, Iterable
from functools import partial
from typing import IO, Any, Protocol

from analyzer.core.classify import CODES
from analyzer.core.readback import put_marks
from analyzer.core.records import (
    CaptureRecord,
    ConnectionRecord,
    ExchangeRecord,
    ServerRecord,
    capture_row,
    connection_row,
    exchange_fill,
    exchange_row,
    server_row,
)
from analyzer.core.schema import CAPTURE, CONNECTION, EXCHANGE, SCHEMA, SERVER
from analyzer.store.aside import Aside
from analyzer.store.connections import (
    ASIDE_CONNECTIONS,
    DRAFT_MARK,
    ConnectionStore,
    diagnosis_codes,
    write_connection_lines,
)
from analyzer.store.files import BUFFER, encoder


class Lines(Protocol):
    """Exchanges already encoded, on disk (:class:`analyzer.store.ExchangeStore`)."""

    def write_lines(self, write: Callable[[bytes], Any]) -> bool: ...


class Records(Protocol):
    """An analysis' records, what a document is written from: an
    :class:`analyzer.analysis.Analysis`, named by what it has (the analysis imports this
    module, not the other way round)."""

    @property
    def capture_records(self) -> Iterable[CaptureRecord]: ...
    @property
    def connection_records(self) -> Iterable[ConnectionRecord]: ...
    @property
    def exchange_records(self) -> Iterable[ExchangeRecord]: ...
    @property
    def server_records(self) -> Iterable[ServerRecord]: ...
    @property
    def spool(self) -> Lines | None: ...


# each JSON object's keys, in order
CAPTURE_FIELDS = CAPTURE.json
CONNECTION_FIELDS = CONNECTION.json
EXCHANGE_FIELDS = EXCHANGE.json
SERVER_FIELDS = SERVER.json

capture_dict = capture_row
connection_dict = connection_row
exchange_dict = exchange_row
server_dict = server_row


def analysis_dict(a: Records) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "captures": [capture_dict(c) for c in a.capture_records],
        "connections": [connection_dict(c) for c in a.connection_records],
        "exchanges": [exchange_dict(e) for e in a.exchange_records],
        "servers": [server_dict(s) for s in a.server_records],
    }


def write_json(a: Records, fh: IO[bytes]) -> None:
    """Write the whole document to the binary file ``fh``, one record per line."""
    import gc

    enabled = gc.isenabled()
    gc.disable()  # many short-lived dicts, no cycles: collections would only cost time
    try:
        _write(a, fh, SCHEMA)
    finally:
        if enabled:
            gc.enable()


def _write(a: Records, fh: IO[bytes], schema: str) -> None:
    dumps = encoder()
    fh.write(b'{"schema": ' + dumps(schema))
    draft: Aside | None = getattr(a, "connections_draft", None)
    placed: list[Aside] = []  # the exchanges section, being written in place
    try:
        _sections(a, fh, dumps, draft, placed)
        if placed and not placed[0].status:  # (abandoned: cut what it wrote past the end)
            fh.truncate()
    finally:
        for part in placed:
            part.close()
        if draft is not None:
            draft.close()
            a.connections_draft = None  # type: ignore[attr-defined]


def _sections(
    a: Records, fh: IO[bytes], dumps: Callable[[Any], bytes], draft: Aside | None,
    placed: list[Aside],
) -> None:
    sections: list[tuple[str, Iterable[Any], Callable[[Any], dict[str, Any]]]] = [
        ("captures", a.capture_records, capture_dict),
        # (each line encoded at once: one dict refilled for all, not a dict per row; the
        # connections' by write_connection_lines)
        ("connections", a.connection_records, connection_dict),
        ("exchanges", a.exchange_records if a.spool is None else (), partial(exchange_fill, {})),
        ("servers", a.server_records, server_dict),
    ]
    write = fh.write
    exchanges_at = -1  # where the exchanges section's lines start, when placed
    for name, rows, to_dict in sections:
        write(f',\n "{name}": ['.encode())
        if name == "exchanges" and a.spool is not None:
            # already encoded when spooled (exchanges on disk: a large or live analysis)
            written = _placed_exchanges(fh, placed, exchanges_at)
            if written is None:
                written = a.spool.write_lines(write)
            write(b"\n ]" if written else b"]")
            continue
        if name == "connections" and draft is not None and draft.wait():
            exchanges_at, written = _from_draft(a, fh, dumps, draft, placed)
            write(b"\n ]" if written else b"]")
            continue
        if name == "connections":
            written = (_connections_aside(a, fh, dumps)
                       or write_connection_lines(rows, write, dumps))
            write(b"\n ]" if written else b"]")
            continue
        first = True
        for line in (dumps(to_dict(r)) for r in rows):
            # (joining batches of lines before writing measured slower, not faster)
            write(b"\n  " if first else b",\n  ")
            write(line)
            first = False
        write(b"]" if first else b"\n ]")
    write(b"\n}\n")



def _from_draft(
    a: Records, fh: IO[bytes], dumps: Callable[[Any], bytes], draft: Aside,
    placed: list[Aside],
) -> tuple[int, bool]:
    """The connections section's lines from the draft, their diagnoses put in (module
    docstring); before them, where the exchanges' lines will start is reckoned and, in a
    file that can be written at an offset, a second process starts writing them there
    (``placed``). Returns that offset (-1: not placed) and whether there was a line."""
    conns = a.connection_records
    codes = diagnosis_codes(conns)
    reps = [DRAFT_MARK.replace(b"null", dumps(name)) for name in CODES]
    size = draft.size
    body = size + sum(  # the section's lines, the diagnoses put in
        codes.count(k) * (len(rep) - len(DRAFT_MARK)) for k, rep in enumerate(reps)
    )
    at = _offset(fh)
    spool = a.spool
    start = -1
    if at >= 0 and spool is not None and body:
        start = at + body + len(b'\n ],\n "exchanges": [')
        part = Aside.start(spool.write_lines, into=(fh.fileno(), start))
        if part is None:
            start = -1
        else:
            placed.append(part)
    marks, wrote = put_marks(draft.read, size, DRAFT_MARK, codes, reps, fh.write, BUFFER)
    if marks != len(codes) or wrote != body:  # (a draft not of these connections: a bug)
        raise RuntimeError(
            f"the connections' draft had {marks} diagnoses for {len(codes)} connections")
    return start, wrote > 0


def _offset(fh: IO[bytes]) -> int:
    """Where ``fh`` writes next, when it is a regular file that a second process can
    write at an offset (not opened to append); else -1."""
    try:
        fd = fh.fileno()
        if (not fh.seekable() or not stat.S_ISREG(os.fstat(fd).st_mode)
                or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND):
            return -1
        return fh.tell()
    except (AttributeError, OSError, ValueError):  # (io.BytesIO: no descriptor)
        return -1


def _placed_exchanges(fh: IO[bytes], placed: list[Aside], start: int) -> bool | None:
    """The exchanges section's lines written in place by a second process: once it is
    done, ``fh`` goes on past them; whether there were any. None: written here instead
    (none placed, or it failed: what it wrote is written again over it, and a tail of
    it past the document's end is cut when the document ends)."""
    if not placed:
        return None
    n = placed[0].length() if fh.tell() == start else None
    if n is None:
        placed[0].close()
        return None
    fh.seek(start + n)
    return n > 0


def _connections_aside(a: Records, fh: IO[bytes], dumps: Callable[[Any], bytes]) -> bool:
    """The connections section's lines, the second half written aside (module
    docstring); False (nothing written) when not worth it or not possible."""
    conns = a.connection_records
    if getattr(a, "jobs", 1) < 2 or not isinstance(conns, (ConnectionStore, list)):
        return False
    n = len(conns)
    if n < max(2, ASIDE_CONNECTIONS):
        return False
    half = n // 2

    fh.flush()
    aside = Aside.start(partial(write_connection_lines, conns, dumps=dumps, lo=half, hi=n,
                                first=False))
    if aside is None:
        return False
    try:
        write_connection_lines(conns, fh.write, dumps, 0, half)
        aside.copy_to(fh)
    finally:
        aside.close()
    return True
