"""The exchanges of a file analysis, kept on disk in the JSON report's order (issue 6).

Exchanges are most of what an analysis holds (a 10M-packet capture makes ~1M of them),
while the classifier needs only each connection's ``exchange_count`` and
``last_exchange``. So :func:`analyzer.analyze` hands every finished exchange to an
:class:`ExchangeStore` (the flow table's ``spool`` callback) and keeps none in the
connection records.

What is stored
    Each exchange is encoded at once, exactly as the JSON report encodes it
    (:func:`analyzer.output.jsonout.encoder` of ``exchange_dict``), as one line (JSON
    escapes every newline inside strings). Its connection id is not final yet:
    connections are numbered by first packet over all files and partitions after the
    pass (:func:`analyzer.api._renumber`), so the line starts with the flow table's own
    id, ``{"connection":"C7",…``, which is swapped for the final one on the way out.
    (``{"`` occurs in such a line only at its start: inside a JSON string every ``"`` is
    escaped.) Lines go to an anonymous temporary file in ``TMPDIR``, gone when the store
    is closed or collected, or the process exits.

The index
    The lines of one connection arrive in runs: a long connection spills its oldest
    exchanges while it runs (:data:`analyzer.core.exchanges.KEEP`), the rest come when it
    is finished, and other connections' lines come in between. Per run the store keeps
    two int64s: the run's connection and its offset in the file (a run ends where the
    next one starts). During a group's pass the connection is the flow table's number
    (``C<num>``); :meth:`ExchangeStore.resolve` turns it into the connection's ``first``
    ordinal (the record it started at, counted over every record read: stable across
    groups and partitions). :meth:`ExchangeStore.seal`, given the renumbered connections,
    sorts the runs by (``first``, position in the file) — connection order, then index
    order — and notes each run's final id.

Reading
    :meth:`ExchangeStore.write_lines` writes the report's exchanges section: per run one
    read and one ``replace`` that puts the final id at the head of every line (the bytes
    ``write_json`` prints for the exchange in memory). :meth:`ExchangeStore.records`
    decodes them back into :class:`ExchangeRecord` objects (DataFrames, CSV, HAR, …):
    JSON gives back every float, int and string as it was.

Partitions (``analyze(jobs=N)``, dask) each fill a store of their own; the parent
:meth:`ExchangeStore.adopt`\\ s their lines and index (``first`` is the same in every
process), so the result is the one of a single process, to the byte.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from analyzer.core.records import ConnectionRecord, ExchangeRecord
from analyzer.output.jsonout import encoder, exchange_dict

BUFFER = 1 << 20  # bytes of lines written to the file at once

# What a partition sends back (ExchangeStore.export): its lines (the bytes, or the path
# of its file when the parent can read it there) and its index (per run: the
# connection's ``first``, the offset).
Exported = tuple[bytes | str, "array[int]", "array[int]"]


class ExchangeStore:
    """Encoded exchanges in a temporary file, with a per-run index (module docstring)."""

    def __init__(self, directory: str | None = None) -> None:
        """``directory``: write a named file there (a worker whose parent will adopt it
        by path) instead of an anonymous one."""
        if directory is None:
            self._fh = tempfile.TemporaryFile("w+b", buffering=BUFFER)  # noqa: SIM115
            self.path: str | None = None
        else:
            fd, self.path = tempfile.mkstemp(suffix=".exchanges", dir=directory)
            self._fh = open(fd, "w+b", buffering=BUFFER)  # noqa: SIM115
        dumps = encoder()
        self._prefix = dumps({"connection": ""})[:-2]  # b'{"connection":"'
        self._encode = _line_encoder(dumps)
        self._pos = 0  # where the next line goes (no tell() per run)
        self._to_dict = exchange_dict
        self._write = self._fh.write
        self._keys = array("q")  # per run: the connection (flow number, then `first`)
        self._starts = array("q")  # per run: where its lines start in the file
        self._cid: str | None = None  # the connection of the run being written
        self._order = array("q")  # after seal(): the runs in the report's order
        self._ids: list[str] = []  # … and each one's final connection id

    # ---- writing (during the pass)
    def add(self, ex: ExchangeRecord) -> None:
        """Store one finished exchange (the flow table's ``spool`` callback)."""
        line = self._encode(self._to_dict(ex))
        cid = ex.connection
        if cid != self._cid:  # a new run
            self._keys.append(int(cid[1:]))
            self._starts.append(self._pos)
            self._cid = cid
        self._pos += len(line)
        self._write(line)

    def mark(self) -> int:
        """A new flow table (group of files) starts: its connection numbers start again
        at 1. Returns where its runs will start, for :meth:`resolve`."""
        self._cid = None
        return len(self._keys)

    def resolve(self, mark: int, records: Sequence[ConnectionRecord]) -> None:
        """The flow table of the runs since ``mark`` is finished: ``records`` are its
        connections ordered by number (``C1`` … ``Cn``, as ``FlowTable.finish`` gives
        them), ``first`` final. Key those runs by ``first``."""
        self._cid = None
        if not records:
            return
        if records[0].id != "C1" or records[-1].id != f"C{len(records)}":
            raise RuntimeError("exchange store: connections not numbered 1..n")
        keys = self._keys
        for r in range(mark, len(keys)):
            keys[r] = records[keys[r] - 1].first

    def export(self) -> Exported:
        """This (worker's) store for :meth:`adopt`: its file's path when it has one (the
        store then no longer deletes it), else its bytes."""
        self._fh.flush()
        if self.path is not None:
            data: bytes | str = self.path
            self.path = None
        else:
            self._fh.seek(0)
            data = self._fh.read()
        return data, self._keys, self._starts

    def adopt(self, part: Exported) -> None:
        """Append a partition's exported lines and index (keyed by ``first``); a file
        given by path is deleted once copied."""
        data, keys, starts = part
        self._cid = None
        self._fh.seek(0, os.SEEK_END)
        base = self._fh.tell()
        if isinstance(data, str):
            with open(data, "rb") as src:
                shutil.copyfileobj(src, self._fh, BUFFER)
            os.unlink(data)
        else:
            self._fh.write(data)
        self._pos = self._fh.tell()
        self._keys.extend(keys)
        self._starts.extend(array("q", [s + base for s in starts]))

    # ---- after the pass
    def seal(self, connections: Sequence[ConnectionRecord]) -> None:
        """``connections`` are final (ids given, sorted by ``first``): order the runs as
        the report lists exchanges, each with its connection's id."""
        self._cid = None
        self._fh.flush()
        keys = self._keys
        n = len(keys)
        # one sort of plain ints: (first, run) packed as first * n + run
        packed = sorted([k * n + r for r, k in enumerate(keys)])
        order = array("q")
        ids: list[str] = []
        conns = iter(connections)
        c: ConnectionRecord | None = None
        for v in packed:
            k, r = divmod(v, n)
            while c is None or c.first != k:
                c = next(conns, None)
                if c is None:
                    raise RuntimeError(f"exchange store: no connection starts at {k}")
            order.append(r)
            ids.append(c.id)
        del packed
        self._order, self._ids = order, ids
        self._keys = array("q")

    @property
    def size(self) -> int:
        """Bytes of stored lines."""
        self._fh.flush()
        return os.fstat(self._fh.fileno()).st_size

    def _runs(self) -> Iterator[tuple[str, bytes]]:
        """(final id, its lines) per run, in the report's order (after :meth:`seal`)."""
        end = self.size  # (flushes)
        if not end:
            return
        fd = self._fh.fileno()
        starts = self._starts
        last = len(starts) - 1
        pread = os.pread
        # pread, not a memory map: mapped pages of the file would count in the RSS (+40 MB
        # at 1M packets) for no measurable gain in time
        for r, cid in zip(self._order, self._ids, strict=True):
            start = starts[r]
            yield cid, pread(fd, (starts[r + 1] if r < last else end) - start, start)

    def write_lines(self, write: Callable[[bytes], Any]) -> bool:
        """Write the exchanges as ``write_json`` lists them (a newline and two spaces
        before the first line, a comma, newline and two spaces before each next one);
        says whether there was any."""
        prefix = self._prefix
        sep = b",\n  "
        first = True
        out: list[bytes] = []  # written ~1 MiB at a time
        size = 0
        for cid, blob in self._runs():
            i = blob.index(b",")  # every line of a run has the same head: blob[:i]
            head = prefix + cid.encode() + b'"'
            out.append((b"\n  " if first else sep) + head)
            body = blob[i:-1].replace(b"\n" + blob[:i], sep + head)
            out.append(body)
            first = False
            size += len(body)
            if size > BUFFER:
                write(b"".join(out))
                out.clear()
                size = 0
        if out:
            write(b"".join(out))
        return not first

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
                d["connection"] = cid
                yield ExchangeRecord(**d)

    def attach(self, connections: Sequence[ConnectionRecord]) -> None:
        """Put the exchanges back into their connections' ``exchanges`` lists (a small
        analysis keeps them in memory, as before); each list's last item is the
        connection's ``last_exchange`` itself."""
        it = iter(connections)
        c: ConnectionRecord | None = None
        for ex in self.records():
            if c is None or c.id != ex.connection:
                c = next(it)
                while c.id != ex.connection:
                    c = next(it)
                c.exchanges = []
            c.exchanges.append(ex)
        for c in connections:
            if c.exchanges and c.last_exchange is not None:
                c.exchanges[-1] = c.last_exchange

    def close(self) -> None:
        self._fh.close()
        if self.path is not None:  # a worker's named file nobody adopted
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self.path = None


def _line_encoder(dumps: Callable[..., bytes]) -> Callable[[Any], bytes]:
    """``encode(d)``: ``d`` encoded as the report encodes it, and a newline."""
    if getattr(dumps, "__module__", "") == "orjson":
        import functools

        import orjson

        return functools.partial(dumps, option=orjson.OPT_APPEND_NEWLINE)
    return lambda d: dumps(d) + b"\n"


def _loads() -> Callable[[bytes], Any]:
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency
        import json

        return json.loads
    return orjson.loads  # type: ignore[no-any-return]
