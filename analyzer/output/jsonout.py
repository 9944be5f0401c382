"""The JSON contract of DESIGN.md (schema ``keepalive-analyzer/1``).

Required fields come first, in the contract's order; additions follow. Never rename.

:func:`write_json` streams: one record per line, each encoded by the C encoder
so a million-packet analysis is
written without building the whole document in memory. orjson encodes when installed
(about 10x the standard encoder); the standard library's json is the fallback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import IO, TYPE_CHECKING, Any

from analyzer.core.records import connection_row, exchange_row

if TYPE_CHECKING:
    from analyzer.api import Analysis


CAPTURE_FIELDS = (
    "path", "format", "packets", "tcp_packets", "skipped", "truncated", "warnings",
    # additions
    "anomalies", "missing_bytes", "dropped", "group",
)
CONNECTION_FIELDS = (
    "id", "capture", "client", "server", "start", "end", "handshake_seen", "syn", "synack",
    "fin_client", "fin_server", "rst_client", "rst_server", "closed_by", "requests",
    "responses", "interim_responses", "label", "upgraded", "missing_bytes", "diagnosis",
    # additions
    "packets", "client_bytes", "server_bytes", "teardown_ts", "handshake_rtt", "expired",
    "anomalies", "user_agent", "server_software", "forwarded", "via",
)
EXCHANGE_FIELDS = (
    "connection", "index", "method", "target", "version", "status", "request_ts",
    "response_ts", "opened_connection", "closed_connection",
    # additions
    "response_end_ts", "response_version", "request_connection", "response_connection",
    "framing", "interim_responses", "request_end_ts", "reason",
)
SERVER_FIELDS = (
    "server", "clients", "connections", "requests", "handshakes", "handshakes_per_request",
    "max_concurrent", "verdict", "diagnosis", "evidence", "hint",
    # additions
    "persistent", "per_request", "request_limit", "idle_timeout", "diagnoses",
    "client_software", "server_software", "proxy", "extra_handshakes", "uncertain",
    "capture",
)


def _maker(fields: tuple[str, ...]) -> Callable[[Any], dict[str, Any]]:
    get = attrgetter(*fields)

    def to_dict(record: Any) -> dict[str, Any]:
        return dict(zip(fields, get(record), strict=True))

    return to_dict


capture_dict = _maker(CAPTURE_FIELDS)
connection_dict = connection_row  # a dict literal: compiled with the core, twice as fast
exchange_dict = exchange_row
server_dict = _maker(SERVER_FIELDS)


def analysis_dict(a: Analysis) -> dict[str, Any]:
    from analyzer.api import SCHEMA

    return {
        "schema": SCHEMA,
        "captures": [capture_dict(c) for c in a.capture_records],
        "connections": [connection_dict(c) for c in a.connection_records],
        "exchanges": [exchange_dict(e) for e in a.exchange_records],
        "servers": [server_dict(s) for s in a.server_records],
    }


def encoder() -> Callable[[Any], bytes]:
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency; stay usable without
        enc = json.JSONEncoder(check_circular=False).encode
        return lambda obj: enc(obj).encode()
    return orjson.dumps  # type: ignore[no-any-return]


def write_json(a: Analysis, fh: IO[bytes]) -> None:
    """Write the whole document to the binary file ``fh``, one record per line."""
    import gc

    from analyzer.api import SCHEMA

    enabled = gc.isenabled()
    gc.disable()  # many short-lived dicts, no cycles: collections would only cost time
    try:
        _write(a, fh, SCHEMA)
    finally:
        if enabled:
            gc.enable()


def _write(a: Analysis, fh: IO[bytes], schema: str) -> None:
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
