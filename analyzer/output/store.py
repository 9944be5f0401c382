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
    pass (:func:`analyzer.api._renumber`, or their place in a :class:`ConnectionStore`
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
    :meth:`ExchangeStore.write_lines` writes the report's exchanges section: per run one
    read and one ``replace`` that puts the final id at the head of every line (the bytes
    ``write_json`` prints for the exchange in memory). :meth:`ExchangeStore.records`
    decodes them back into :class:`ExchangeRecord` objects (DataFrames, CSV, HAR, …):
    JSON gives back every float, int and string as it was.

Partitions (``analyze(jobs=N)``, dask) each fill a store of their own; the parent
:meth:`ExchangeStore.adopt`\\ s their lines and shifts their connections' runs by where
they landed, so the result is the one of a single process, to the byte.
"""

from __future__ import annotations

import heapq
import itertools
import marshal
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import attrgetter, itemgetter
from typing import IO, Any, overload

from analyzer.core.classify import CODES
from analyzer.core.flows import SPOOLED
from analyzer.core.records import (
    ConnectionRecord,
    ExchangeRecord,
    connection_from_values,
    connection_values,
)
from analyzer.output.jsonout import encoder, exchange_dict

BUFFER = 1 << 20  # bytes of lines written to the file at once

# What a partition sends back (ExchangeStore.export): its lines, as bytes or as the path
# of its file when the parent can read it there.
Exported = bytes | str
Runs = Iterable[tuple[str, list[int] | None]]  # per connection in order: id, its runs


# ---- the temporary files of both stores (a worker's is named, for its parent to adopt)


def _temp_file(directory: str | None, suffix: str) -> tuple[IO[bytes], str | None]:
    """An anonymous temporary file in TMPDIR, or, with ``directory``, a named one there;
    and its path (None: anonymous)."""
    if directory is None:
        return tempfile.TemporaryFile("w+b", buffering=BUFFER), None  # noqa: SIM115
    fd, path = tempfile.mkstemp(suffix=suffix, dir=directory)
    return open(fd, "w+b", buffering=BUFFER), path  # noqa: SIM115


def _export(fh: IO[bytes], path: str | None) -> bytes | str:
    """A worker's file for its parent: its path when named, else its bytes."""
    fh.flush()
    if path is not None:
        return path
    fh.seek(0)
    return fh.read()


def _append(fh: IO[bytes], data: bytes | str) -> int:
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


def _remove(path: str | None) -> None:
    """A worker's named file that nobody adopted."""
    if path is not None:
        try:
            os.unlink(path)
        except OSError:
            pass


class ExchangeStore:
    """Encoded exchanges in a temporary file; each connection notes where its own are
    (module docstring)."""

    def __init__(self, directory: str | None = None) -> None:
        """``directory``: write a named file there (a worker whose parent will adopt it
        by path) instead of an anonymous one."""
        self._fh, self.path = _temp_file(directory, ".exchanges")
        dumps = encoder()
        self._prefix = dumps({"connection": ""})[:-2]  # b'{"connection":"'
        self._encode = _line_encoder(dumps)
        self._pos = 0  # where the next line goes (no tell() per run)
        self._to_dict = exchange_dict
        self._write = self._fh.write
        self._cid: str | None = None  # the connection of the run being written …
        self._run: list[int] = []  # … its runs so far (the current one not closed yet)
        self._open: dict[str, list[int]] = {}  # runs of the open connections
        self._order: Callable[[], Runs] | None = None  # the connections, once final

    # ---- writing (during the pass)
    def add(self, ex: ExchangeRecord) -> None:
        """Store one finished exchange (the flow table's ``spool`` callback)."""
        line = self._encode(self._to_dict(ex))
        cid = ex.connection
        if cid != self._cid:  # a new run
            if self._cid is not None:
                self._run.append(self._pos)  # the previous run ends here
            run = self._open.get(cid)
            if run is None:
                run = self._open[cid] = []
            run.append(self._pos)
            self._run, self._cid = run, cid
        self._pos += len(line)
        self._write(line)

    def take(self, cid: str) -> list[int] | None:
        """The connection (the flow table's id) is finished: its runs, [start, end, …]
        offsets of its lines (None: it had no exchange)."""
        run = self._open.pop(cid, None)
        if run is not None and cid == self._cid:
            run.append(self._pos)  # the current run is its own: it ends here
            self._cid = None
        return run

    def mark(self) -> None:
        """A new flow table (group of files) starts: its connection ids start again at
        ``C1``. Every connection of the last one must have been taken."""
        if self._open:
            raise RuntimeError(f"exchange store: {len(self._open)} connection(s) not taken")
        self._cid = None

    def export(self) -> Exported:
        """This (worker's) store for :meth:`adopt`: its file's path when it has one (the
        store then no longer deletes it), else its bytes."""
        data = _export(self._fh, self.path)
        self.path = None
        return data

    def adopt(self, data: Exported) -> int:
        """Append a partition's exported lines (a file given by path is deleted once
        copied); returns the offset they start at (add it to its connections' runs)."""
        self._cid = None
        base = _append(self._fh, data)
        self._pos = self._fh.tell()
        return base

    # ---- after the pass
    def seal(self, order: Callable[[], Runs]) -> None:
        """``order()`` gives the final connections in order, each as (id, its runs): the
        report lists their exchanges so."""
        self._cid = None
        self._fh.flush()
        self._order = order

    @property
    def size(self) -> int:
        """Bytes of stored lines."""
        self._fh.flush()
        return os.fstat(self._fh.fileno()).st_size

    def _runs(self) -> Iterator[tuple[str, bytes]]:
        """(final id, its lines) per run, in the report's order (after :meth:`seal`)."""
        if self._order is None:
            raise RuntimeError("exchange store: not sealed")
        if not self.size:  # (flushes) no exchange: no need to read the connections
            return
        fd = self._fh.fileno()
        pread = os.pread
        # pread, not a memory map: mapped pages of the file would count in the RSS (+40 MB
        # at 1M packets) for no measurable gain in time
        for cid, runs in self._order():
            if runs:
                for k in range(0, len(runs), 2):
                    start = runs[k]
                    yield cid, pread(fd, runs[k + 1] - start, start)

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
        loads = _loads()
        fd = self._fh.fileno()
        self._fh.flush()
        for c in connections:
            runs = c.exchange_runs
            if not runs:
                continue
            c.exchanges = []
            for k in range(0, len(runs), 2):
                blob = os.pread(fd, runs[k + 1] - runs[k], runs[k])
                for d in loads(b"[" + blob[:-1].replace(b"\n", b",") + b"]"):
                    d["connection"] = c.id
                    c.exchanges.append(ExchangeRecord(**d))
            if c.last_exchange is not None:
                c.exchanges[-1] = c.last_exchange

    def close(self) -> None:
        self._fh.close()
        _remove(self.path)
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


# ---- connections

# An analysis with more finished connections than this keeps them on disk (a 1M-packet
# capture of the benchmark makes ~29k, ~0.9 KB each in memory; a 10M one ten times that).
MEMORY_CONNECTIONS = 32768
# Captures bigger than this (all files together) put their connections on disk from the
# start: they will have many (a 6.7 GB capture of the benchmark has ~300k), and filling
# memory with MEMORY_CONNECTIONS first would only raise the peak.
STREAM_BYTES = 1 << 30
BLOCK = 8192  # connections sorted and written at once, once on disk
CHUNK = 64  # connections per piece of a block (what a merge holds per block)

# A connection as plain values: records.connection_values (compiled with the core), and
# back. `first` leads (the merge's key).
pack_connection = connection_values


def unpack_connection(t: tuple[Any, ...]) -> ConnectionRecord:
    return connection_from_values(t, SPOOLED)


# A worker's connections on disk, for its parent (ConnectionStore.export): its file (path
# or bytes), its blocks, how many connections.
ConnectionsExported = tuple[bytes | str, list[list[tuple[int, int]]], int]


class ConnectionStore(Sequence[ConnectionRecord]):
    """The finished connections of an analysis, in memory up to ``limit``; past it on
    disk, so memory follows open connections, not the capture's size.

    On disk, connections are written in blocks of :data:`BLOCK`, each sorted by
    ``first`` (marshal, in pieces of :data:`CHUNK`), to an anonymous temporary file in
    ``TMPDIR``. Iterating merges the blocks: the connections in order of first packet,
    each with its final id (``C1``, ``C2``, … by position) and, once :attr:`codes` is
    set (:func:`analyzer.core.classify.classify`), its diagnosis. What stays in memory
    is one block being filled and a piece per block during a merge.
    """

    def __init__(self, limit: int | None = -1, directory: str | None = None) -> None:
        """``limit``: how many stay in memory (-1: :data:`MEMORY_CONNECTIONS`; None: all).
        ``directory``: the file goes there, named (a worker's, for its parent to adopt)."""
        self.limit = MEMORY_CONNECTIONS if limit == -1 else limit
        self.directory = directory
        self.path: str | None = None
        self._mem: list[ConnectionRecord] = []
        self._fh: IO[bytes] | None = None
        self._blocks: list[list[tuple[int, int]]] = []  # per block: (offset, size) per piece
        self._shift: list[int] = []  # per block: what to add to its exchange runs
        self._n = 0
        self.codes: bytearray | None = None  # the diagnoses, by position

    def add(self, c: ConnectionRecord) -> None:
        self._mem.append(c)
        self._n += 1
        if self._fh is None and self.limit is not None and self._n > self.limit:
            self._file()
        if self._fh is not None and len(self._mem) >= BLOCK:
            self._spill()

    def _file(self) -> IO[bytes]:
        if self._fh is None:
            self._fh, self.path = _temp_file(self.directory, ".connections")
        return self._fh

    @property
    def spilled(self) -> bool:
        return self._fh is not None

    def export(self) -> ConnectionsExported:
        """This (worker's, sealed, spilled) store for :meth:`adopt`: its file's path when
        it has one (the store then no longer deletes it), else its bytes."""
        data = _export(self._file(), self.path)
        self.path = None
        return data, self._blocks, self._n

    def adopt(self, part: ConnectionsExported, shift: int) -> None:
        """Take in a worker's exported connections (a file given by path is deleted once
        copied); ``shift``: where its exchanges landed in this analysis' exchange store."""
        data, blocks, n = part
        base = _append(self._file(), data)
        for pieces in blocks:
            self._blocks.append([(offset + base, size) for offset, size in pieces])
            self._shift.append(shift)
        self._n += n

    @property
    def records(self) -> list[ConnectionRecord]:
        """The connections, when in memory (in the order added)."""
        if self._fh is not None:
            raise RuntimeError("connection store: the connections are on disk")
        return self._mem

    def _spill(self) -> None:
        """Write what is in memory as sorted blocks."""
        assert self._fh is not None
        mem = sorted(self._mem, key=attrgetter("first"))
        self._mem = []
        fh = self._fh
        fh.seek(0, os.SEEK_END)
        for b in range(0, len(mem), BLOCK):
            block = mem[b:b + BLOCK]
            pieces = []
            for p in range(0, len(block), CHUNK):
                data = marshal.dumps([pack_connection(c) for c in block[p:p + CHUNK]])
                pieces.append((fh.tell(), len(data)))
                fh.write(data)
            self._blocks.append(pieces)
            self._shift.append(0)

    def seal(self) -> None:
        """No more connections: the last block goes to disk."""
        if self._fh is not None and self._mem:
            self._spill()
        if self._fh is not None:
            self._fh.flush()

    def __len__(self) -> int:
        return self._n

    def _block(self, pieces: list[tuple[int, int]], shift: int) -> Iterator[tuple[Any, ...]]:
        assert self._fh is not None
        fd = self._fh.fileno()
        for offset, size in pieces:
            if not shift:
                yield from marshal.loads(os.pread(fd, size, offset))
                continue
            for t in marshal.loads(os.pread(fd, size, offset)):  # a worker's
                runs = t[32]
                if runs:
                    t = (*t[:32], [x + shift for x in runs], *t[33:])
                yield t

    def _merged(self) -> Iterator[tuple[Any, ...]]:
        blocks = (self._block(p, shift) for p, shift in zip(self._blocks, self._shift, strict=True))
        return heapq.merge(*blocks, key=itemgetter(0))

    def __iter__(self) -> Iterator[ConnectionRecord]:
        if self._fh is None:
            yield from self._mem
            return
        codes = self.codes
        merged = self._merged()
        for i, t in enumerate(merged):
            c = unpack_connection(t)
            c.id = cid = f"C{i + 1}"
            if c.last_exchange is not None:
                c.last_exchange.connection = cid
            if codes is not None:
                c.diagnosis = CODES[codes[i]]
            yield c

    def runs(self) -> Iterator[tuple[str, list[int] | None]]:
        """Each connection's final id and exchange runs, in order, read from disk
        without rebuilding the records (in memory, the records themselves have them)."""
        if self._fh is None:
            raise RuntimeError("connection store: the connections are in memory")
        merged = self._merged()
        for i, t in enumerate(merged, 1):
            yield f"C{i}", t[32]

    @overload
    def __getitem__(self, k: int) -> ConnectionRecord: ...
    @overload
    def __getitem__(self, k: slice) -> list[ConnectionRecord]: ...
    def __getitem__(self, k: int | slice) -> ConnectionRecord | list[ConnectionRecord]:
        """One connection or a slice of them (a merge up to there: fine for the first
        few, slow for many)."""
        if isinstance(k, slice):
            if k.step is None and (k.start or 0) >= 0 and (k.stop is None or k.stop >= 0):
                return list(itertools.islice(self, k.start, k.stop))
            return list(self)[k]
        if k < 0:
            k += self._n
        if not 0 <= k < self._n:
            raise IndexError(k)
        return next(itertools.islice(self, k, None))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        _remove(self.path)
        self.path = None
