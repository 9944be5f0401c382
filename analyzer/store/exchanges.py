"""The exchanges of a file analysis, kept on disk in the JSON report's order (issue 6).

Exchanges are most of what an analysis holds (a 10M-packet capture makes ~1M of them),
while the classifier needs only each connection's ``exchange_count`` and
``last_exchange``. So :func:`analyzer.analyze` hands every finished exchange to an
:class:`ExchangeStore` (the flow table's ``spool`` callback) and keeps none in the
connection records.

What is stored
    Each exchange is encoded at once, exactly as the JSON report encodes it
    (:func:`analyzer.store.files.encoder` of ``exchange_row``), as one line (JSON
    escapes every newline inside strings). Its connection id is not final yet:
    connections are numbered by first packet over all files and partitions after the
    pass (:func:`analyzer.pipeline.renumber`, or their place in a :class:`ConnectionStore`
    on disk), so the line starts with the flow table's own
    id, ``{"connection":"C7",…``, which is swapped for the final one on the way out.
    (``{"`` occurs in such a line only at its start: inside a JSON string every ``"`` is
    escaped.) Lines go to an anonymous temporary file in ``TMPDIR``, gone when the store
    is closed or collected, or the process exits.

Where each connection's exchanges are
    The lines of one connection arrive in runs: a long connection spills its oldest
    exchanges while it runs (:data:`analyzer.core.exchanges.KEEP`), the rest come when it
    is finished, and other connections' lines come in between. The store notes the
    runs of each *open* connection; when the connection is finished, :meth:`take` hands
    them over ([start, end, …] offsets) and they become the connection record's
    ``exchange_runs``. Nothing here grows with the number of connections: the
    connections carry their runs, in memory or in a :class:`ConnectionStore` on disk.

Reading
    :meth:`ExchangeStore.seal` is given the final connections in order (id and runs).
    :meth:`ExchangeStore.write_lines` writes the report's exchanges section: one read
    per window of runs, and per run the final id put at the head of every line
    (:func:`analyzer.core.readback.put_run`, in C when built: the bytes ``write_json``
    prints for the exchange in memory). :meth:`ExchangeStore.records`
    decodes them back into :class:`ExchangeRecord` objects (DataFrames, CSV, HAR, …):
    JSON gives back every float, int and string as it was.

Partitions (``analyze(jobs=N)``, dask) each fill a store of their own; the parent
:meth:`ExchangeStore.adopt`\\ s their lines and shifts their connections' runs by where
they landed, so the result is the one of a single process, to the byte. Spans
(:mod:`analyzer.spans`) each write theirs with a ``tag``: their runs' offsets carry it
above :data:`TAG_SHIFT`, and the parent :meth:`ExchangeStore.mount`\\ s the span's file
under that tag instead of copying it (nothing to shift, nothing copied).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from analyzer.core.readback import windows, write_runs
from analyzer.core.records import ConnectionRecord, ExchangeRecord
from analyzer.core.schema import EXCHANGE
from analyzer.core.spool import LineSpool
from analyzer.store.files import (
    BUFFER,
    append_file,
    encoder,
    export_file,
    remove_file,
    temp_file,
)

# Every stored line starts with the exchange's connection id, swapped for the final one
# on the way out: the first key of its JSON object (schema.EXCHANGE; a test keeps it first).
LEAD_KEY = EXCHANGE.json[0]

# What a partition sends back (ExchangeStore.export): its lines, as bytes or as the path
# of its file when the parent can read it there.
Exported = bytes | str
Runs = Iterable[tuple[str, list[int] | None]]  # per connection in order: id, its runs
# A run's offset is ``tag << TAG_SHIFT`` plus where it lies in that tag's file (tag 0: the
# store's own file; others: a span's, mounted).
TAG_SHIFT = 40
WINDOW = 1 << 20  # bytes read at once when writing the lines out (readback.windows)


class ExchangeStore:
    """Encoded exchanges in a temporary file; each connection notes where its own are
    (module docstring)."""

    def __init__(self, directory: str | None = None, tag: int = 0) -> None:
        """``directory``: write a named file there (a worker whose parent will adopt it
        by path) instead of an anonymous one. ``tag``: the runs' offsets carry it (a
        span's store, which its parent mounts under it)."""
        self._fh, self.path = temp_file(directory, ".exchanges")
        self._base = tag << TAG_SHIFT
        # other files, by tag: (file, path to remove at close or None)
        self._mounts: dict[int, tuple[Any, str | None]] = {}
        dumps = encoder()
        self._prefix = dumps({LEAD_KEY: ""})[:-2]  # b'{"connection":"'
        # the per-exchange writing, compiled with the core: encode, write, note the run
        self._spool = LineSpool(_line_encoder(dumps), self._fh.write, self._base,
                                *_values_encoder(dumps))
        self.add: Callable[[ExchangeRecord], None] = self._spool.add
        self.take: Callable[[str], list[int] | None] = self._spool.take
        self._order: Callable[[], Runs] | None = None  # the connections, once final

    # ---- writing (during the pass): add(exchange), take(connection id) (core.spool)
    # add: store one finished exchange (the flow table's ``spool`` callback).
    # take: the connection (the flow table's id) is finished: its runs, [start, end, …]
    # offsets of its lines (None: it had no exchange).

    def mark(self) -> None:
        """A new flow table (group of files) starts: its connection ids start again at
        ``C1``. Every connection of the last one must have been taken."""
        spool = self._spool
        if spool.open:
            raise RuntimeError(f"exchange store: {len(spool.open)} connection(s) not taken")
        spool.cid = None

    def export(self) -> Exported:
        """This (worker's) store for :meth:`adopt`: its file's path when it has one (the
        store then no longer deletes it), else its bytes."""
        data = export_file(self._fh, self.path)
        self.path = None
        return data

    def mount(self, data: Exported, tag: int) -> None:
        """Read a span's exported lines where they are (a path; bytes go to a file of
        ours) under ``tag``: its connections' runs already carry it."""
        if isinstance(data, str):
            fh: Any = open(data, "rb")  # noqa: SIM115
            self._mounts[tag] = (fh, data)
        else:
            fh, _ = temp_file(None, ".exchanges")
            fh.write(data)
            fh.flush()
            self._mounts[tag] = (fh, None)

    def _reader(self) -> Callable[[int, int], bytes]:
        """``read(start, end)``: the bytes of a run, in whichever file its tag names."""
        self._fh.flush()
        own = self._fh.fileno()
        fds = {tag: fh.fileno() for tag, (fh, _p) in self._mounts.items()}
        pread = os.pread
        mask = (1 << TAG_SHIFT) - 1
        if not fds:
            return lambda start, end: pread(own, end - start, start)

        def read(start: int, end: int) -> bytes:
            tag = start >> TAG_SHIFT
            return pread(fds[tag] if tag else own, end - start, start & mask)

        return read

    def adopt(self, data: Exported) -> int:
        """Append a partition's exported lines (a file given by path is deleted once
        copied); returns the offset they start at (add it to its connections' runs)."""
        self._spool.cid = None
        base = append_file(self._fh, data)
        self._spool.pos = self._fh.tell()
        return base

    # ---- after the pass
    def seal(self, order: Callable[[], Runs]) -> None:
        """``order()`` gives the final connections in order, each as (id, its runs): the
        report lists their exchanges so."""
        self._spool.cid = None
        self._fh.flush()
        self._order = order

    @property
    def size(self) -> int:
        """Bytes of stored lines."""
        self._fh.flush()
        return os.fstat(self._fh.fileno()).st_size + sum(
            os.fstat(fh.fileno()).st_size for fh, _p in self._mounts.values()
        )

    def _windows(self) -> Iterator[tuple[str, bytes, int, int]]:
        """Per run, in the report's order (after :meth:`seal`): the final id, and the bytes
        that hold the run with where it lies in them (:func:`~analyzer.core.readback.windows`:
        one read serves the runs that fall in a window)."""
        if self._order is None:
            raise RuntimeError("exchange store: not sealed")
        if not self.size:  # (flushes) no exchange: no need to read the connections
            return iter(())
        # pread, not a memory map: mapped pages of the file would count in the RSS (+40 MB
        # at 1M packets) for no measurable gain in time
        return windows(self._order(), self._reader(), WINDOW, TAG_SHIFT)

    def _runs(self) -> Iterator[tuple[str, bytes]]:
        """(final id, its lines) per run, in the report's order (after :meth:`seal`)."""
        for cid, win, s, e in self._windows():
            yield cid, win[s:e]

    def write_lines(self, write: Callable[[bytes], Any]) -> bool:
        """Write the exchanges as ``write_json`` lists them (a newline and two spaces
        before the first line, a comma, newline and two spaces before each next one);
        says whether there was any (:func:`~analyzer.core.readback.write_runs`)."""
        return write_runs(self._windows(), self._prefix, write, BUFFER)

    def lines(self) -> Iterator[bytes]:
        """Each exchange as its encoded JSON object, in the report's order."""
        prefix = self._prefix
        for cid, blob in self._runs():
            i = blob.index(b",")
            head = prefix + cid.encode() + b'"'
            for line in blob[:-1].split(b"\n"):
                yield head + line[i:]

    def records(self) -> Iterator[ExchangeRecord]:
        """Each exchange as a record, in the report's order."""
        loads = _loads()
        for cid, blob in self._runs():
            for d in loads(b"[" + blob[:-1].replace(b"\n", b",") + b"]"):
                d[LEAD_KEY] = cid
                yield ExchangeRecord(**d)

    def attach(self, connections: Sequence[ConnectionRecord]) -> None:
        """Put the exchanges back into their connections' ``exchanges`` lists (a small
        analysis keeps them in memory, as before); each list's last item is the
        connection's ``last_exchange`` itself."""
        loads = _loads()
        read = self._reader()
        for c in connections:
            runs = c.exchange_runs
            if not runs:
                continue
            c.exchanges = []
            for k in range(0, len(runs), 2):
                blob = read(runs[k], runs[k + 1])
                for d in loads(b"[" + blob[:-1].replace(b"\n", b",") + b"]"):
                    d[LEAD_KEY] = c.id
                    c.exchanges.append(ExchangeRecord(**d))
            if c.last_exchange is not None:
                c.exchanges[-1] = c.last_exchange

    def close(self) -> None:
        self._fh.close()
        remove_file(self.path)
        self.path = None
        for fh, path in self._mounts.values():
            fh.close()
            remove_file(path)
        self._mounts = {}


def _line_encoder(dumps: Callable[..., bytes]) -> Callable[[Any], bytes]:
    """``encode(d)``: ``d`` encoded as the report encodes it, and a newline."""
    if getattr(dumps, "__module__", "") == "orjson":
        import functools

        import orjson

        return functools.partial(dumps, option=orjson.OPT_APPEND_NEWLINE)
    return lambda d: dumps(d) + b"\n"


def _values_encoder(
    dumps: Callable[..., bytes],
) -> tuple[Callable[[tuple[Any, ...]], bytes] | None, tuple[bytes, ...] | None]:
    """For the spool's lines without a dict per exchange (core.spool.LineSpool): the
    encoder of an exchange's values (a flat JSON array), and its keys, each encoded with
    its colon, in the order of the values. (None, None) when the lines cannot be made so:
    not orjson (whose array and object encodings of a value are the same bytes), or JSON
    keys not in the order of the values."""
    if getattr(dumps, "__module__", "") != "orjson" or list(EXCHANGE.json) != list(
        EXCHANGE.values
    ):
        return None, None
    return dumps, tuple(dumps(k) + b":" for k in EXCHANGE.values)


def _loads() -> Callable[[bytes], Any]:
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency
        import json

        return json.loads
    return orjson.loads  # type: ignore[no-any-return]
