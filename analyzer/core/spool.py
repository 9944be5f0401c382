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

from analyzer.core.records import ExchangeRecord, exchange_fill


class LineSpool:
    """Encoded exchanges to ``write`` (a file's); the runs of each open connection.

    ``pos`` is where the next line goes (no ``tell()`` per run); ``cid`` the connection
    of the run being written and ``run`` its runs so far (the current one not closed
    yet); ``open`` the runs of every open connection, by id."""

    def __init__(
        self, encode: Callable[[dict[str, Any]], bytes], write: Callable[[bytes], Any],
        pos: int,
    ) -> None:
        self.encode = encode
        self.write = write
        self.pos = pos
        self.cid: str | None = None
        self.run: list[int] = []
        self.open: dict[str, list[int]] = {}
        self.row: dict[str, Any] = {}  # refilled for each line (records.exchange_fill)

    def add(self, ex: ExchangeRecord) -> None:
        """Store one finished exchange (the flow table's ``spool`` callback)."""
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
