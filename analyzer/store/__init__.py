"""Where finished exchanges and connections wait for the report: on disk when there are
many, shared by file analyses, ``--jobs`` workers and live capture."""

from __future__ import annotations

from analyzer.store.connections import (
    MEMORY_CONNECTIONS,
    STREAM_BYTES,
    ConnectionStore,
    pack_connection,
    unpack_connection,
)
from analyzer.store.exchanges import ExchangeStore

__all__ = [
    "MEMORY_CONNECTIONS", "STREAM_BYTES", "ConnectionStore", "ExchangeStore",
    "pack_connection", "unpack_connection",
]
