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
(:mod:`analyzer.store.aside`); the exchanges section is aside too when the pipeline
started it so (``analyze(write_ahead=True)``, ``Analysis.exchanges_aside``). Same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import IO, Any, Protocol

from analyzer.core.records import (
    CaptureRecord,
    ConnectionRecord,
    ExchangeRecord,
    ServerRecord,
    capture_row,
    connection_fill,
    connection_row,
    exchange_fill,
    exchange_row,
    server_row,
)
from analyzer.core.schema import CAPTURE, CONNECTION, EXCHANGE, SCHEMA, SERVER
from analyzer.store.aside import Aside
from analyzer.store.connections import ConnectionStore
from analyzer.store.files import encoder


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


# From this many connections on, half their section is written aside (module docstring)
# when the analysis may use more than one process: below, a fork costs more than it saves.
ASIDE_CONNECTIONS = 8192

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
    exchanges: Aside | None = getattr(a, "exchanges_aside", None)
    try:
        _sections(a, fh, dumps, exchanges)
    finally:
        if exchanges is not None:
            exchanges.close()
            a.exchanges_aside = None  # type: ignore[attr-defined]


def _sections(
    a: Records, fh: IO[bytes], dumps: Callable[[Any], bytes], exchanges: Aside | None
) -> None:
    sections: list[tuple[str, Iterable[Any], Callable[[Any], dict[str, Any]]]] = [
        ("captures", a.capture_records, capture_dict),
        # (each line encoded at once: one dict refilled for all, not a dict per row; the
        # connections' by _connection_lines)
        ("connections", a.connection_records, connection_dict),
        ("exchanges", a.exchange_records if a.spool is None else (), partial(exchange_fill, {})),
        ("servers", a.server_records, server_dict),
    ]
    write = fh.write
    for name, rows, to_dict in sections:
        write(f',\n "{name}": ['.encode())
        if name == "exchanges" and a.spool is not None:
            # already encoded when spooled (exchanges on disk: a large or live analysis)
            if exchanges is not None:
                written = exchanges.copy_to(fh)
            else:
                written = a.spool.write_lines(write)
            write(b"\n ]" if written else b"]")
            continue
        if name == "connections" and _connections_aside(a, fh, dumps):
            write(b"\n ]")
            continue
        lines: Iterable[bytes] = (
            _connection_lines(rows, 0, -1, dumps) if name == "connections"
            else (dumps(to_dict(r)) for r in rows)
        )
        first = True
        for line in lines:
            # (joining batches of lines before writing measured slower, not faster)
            write(b"\n  " if first else b",\n  ")
            write(line)
            first = False
        write(b"]" if first else b"\n ]")
    write(b"\n}\n")



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

    def second(write: Callable[[bytes], Any]) -> None:
        sep = b",\n  "
        for line in _connection_lines(conns, half, n, dumps):
            write(sep)
            write(line)

    fh.flush()
    aside = Aside.start(second)
    if aside is None:
        return False
    try:
        write = fh.write
        first = True
        for line in _connection_lines(conns, 0, half, dumps):
            write(b"\n  " if first else b",\n  ")
            write(line)
            first = False
        aside.copy_to(fh)
    finally:
        aside.close()
    return True


def _connection_lines(
    conns: Iterable[ConnectionRecord], lo: int, hi: int, dumps: Callable[[Any], bytes]
) -> Iterator[bytes]:
    """The connections at positions ``lo`` to ``hi`` (-1: the end), each encoded: from a
    store on disk, straight from their stored values (no record rebuilt for the row);
    otherwise from the records, one dict refilled for all."""
    if isinstance(conns, ConnectionStore) and conns.spilled:
        for d in conns.rows(lo, hi):
            yield dumps(d)
        return
    if isinstance(conns, ConnectionStore) and (lo or hi >= 0):
        conns = conns.between(lo, hi)
    elif isinstance(conns, list):
        conns = conns[lo:hi if hi >= 0 else None]
    row: dict[str, Any] = {}
    for c in conns:
        yield dumps(connection_fill(row, c))
