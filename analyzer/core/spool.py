"""The writing side of an exchange store (:class:`analyzer.store.ExchangeStore`): each
finished exchange encoded as its JSON line, written, and noted in its connection's runs.

This is the flow table's ``spool``: called for each of the ~1M exchanges of a 10M-packet
capture, from compiled code. So it is compiled with the core (``analyzer/_compiled.py``):
interpreted, this bookkeeping cost as much as encoding the line itself. The store keeps
what is not per exchange (its files, mounting, reading back); the store's module
docstring says what the lines and runs are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from analyzer.core.records import ExchangeRecord, exchange_fill, exchange_values

# A flat JSON array made the object of the exchange's keys, in C (analyzer/core/_lines.c),
# built with the compiled core; absent (or the pure core) each line fills a dict.
_Keyed = Callable[[bytes, tuple[bytes, ...]], bytes]
_c_keyed: _Keyed | None
try:
    from analyzer.core._lines import keyed as _c_keyed
except ImportError:
    _c_keyed = None


class LineSpool:
    """Encoded exchanges to ``write`` (a file's); the runs of each open connection.

    ``pos`` is where the next line goes (no ``tell()`` per run); ``cid`` the connection
    of the run being written and ``run`` its runs so far (the current one not closed
    yet); ``open`` the runs of every open connection, by id."""

    def __init__(
        self, encode: Callable[[dict[str, Any]], bytes], write: Callable[[bytes], Any],
        pos: int, encode_values: Callable[[tuple[Any, ...]], bytes] | None = None,
        heads: tuple[bytes, ...] | None = None,
    ) -> None:
        self.encode = encode
        # Given (orjson, and the exchange's JSON keys in the order of its values): the
        # line is encode_values(exchange_values(ex)), a flat array, made an object by
        # _c_keyed with ``heads`` (each key encoded, and its colon): the bytes ``encode``
        # gives of the filled dict, without filling it.
        self.encode_values = encode_values if _c_keyed is not None else None
        self.heads = heads
        self.write = write
        self.pos = pos
        self.cid: str | None = None
        self.run: list[int] = []
        self.open: dict[str, list[int]] = {}
        self.row: dict[str, Any] = {}  # refilled for each line (records.exchange_fill)

    def add(self, ex: ExchangeRecord) -> None:
        """Store one finished exchange (the flow table's ``spool`` callback)."""
        encode_values = self.encode_values
        heads = self.heads
        if encode_values is not None and heads is not None and _c_keyed is not None:
            line = _c_keyed(encode_values(exchange_values(ex)), heads)
        else:
            line = self.encode(exchange_fill(self.row, ex))
        cid = ex.connection
        if cid != self.cid:  # a new run
            if self.cid is not None:
                self.run.append(self.pos)  # the previous run ends here
            run = self.open.get(cid)
            if run is None:
                run = self.open[cid] = []
            run.append(self.pos)
            self.run = run
            self.cid = cid
        self.pos += len(line)
        self.write(line)

    def take(self, cid: str) -> list[int] | None:
        """The connection (the flow table's id) is finished: its runs, [start, end, …]
        offsets of its lines (None: it had no exchange)."""
        run = self.open.pop(cid, None)
        if run is not None and cid == self.cid:
            run.append(self.pos)  # the current run is its own: it ends here
            self.cid = None
        return run
