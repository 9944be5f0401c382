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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import IO, Any, Protocol

from analyzer.core.records import (
    CaptureRecord,
    ConnectionRecord,
    ExchangeRecord,
    ServerRecord,
    capture_row,
    connection_row,
    exchange_row,
    server_row,
)
from analyzer.core.schema import CAPTURE, CONNECTION, EXCHANGE, SCHEMA, SERVER
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
    sections: list[tuple[str, Iterable[Any], Callable[[Any], dict[str, Any]]]] = [
        ("captures", a.capture_records, capture_dict),
        ("connections", a.connection_records, connection_dict),
        ("exchanges", a.exchange_records if a.spool is None else (), exchange_dict),
        ("servers", a.server_records, server_dict),
    ]
    write = fh.write
    for name, rows, to_dict in sections:
        write(f',\n "{name}": ['.encode())
        if name == "exchanges" and a.spool is not None:
            # already encoded when spooled (exchanges on disk: a large or live analysis)
            write(b"\n ]" if a.spool.write_lines(write) else b"]")
            continue
        lines: Iterable[bytes] = (dumps(to_dict(r)) for r in rows)
        first = True
        for line in lines:
            # (joining batches of lines before writing measured slower, not faster)
            write(b"\n  " if first else b",\n  ")
            write(line)
            first = False
        write(b"]" if first else b"\n ]")
    write(b"\n}\n")
