"""The finished connections of an analysis (:class:`ConnectionStore`): in memory up to a
limit, past it on disk in sorted blocks merged on the way out, so memory follows open
connections, not the capture's size; a worker's connections travel to its parent as plain
values or as the blocks of its store."""

from __future__ import annotations

import itertools
import marshal
import os
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import attrgetter
from typing import IO, Any, overload

from analyzer.core.classify import CODES
from analyzer.core.flows import SPOOLED
from analyzer.core.readback import block_values, final, merged, rebuild, rows
from analyzer.core.records import (
    ConnectionRecord,
    connection_fill,
    connection_from_values,
    connection_values,
)
from analyzer.core.schema import CONNECTION
from analyzer.store.files import append_file, encoder, export_file, remove_file, temp_file

# Where fields are in a connection packed as plain values (records.connection_values),
# by name: the key the blocks are sorted and merged by, and the exchange runs.
FIRST = CONNECTION.index("first")
RUNS = CONNECTION.index("exchange_runs")
assert FIRST < RUNS  # (readback.block_values shifts both in one new tuple)

# An analysis with more finished connections than this keeps them on disk (a 1M-packet
# capture of the benchmark makes ~29k, ~0.9 KB each in memory; a 10M one ten times that).
MEMORY_CONNECTIONS = 32768
# Captures bigger than this (all files together) put their connections on disk from the
# start: they will have many (a 6.7 GB capture of the benchmark has ~300k), and filling
# memory with MEMORY_CONNECTIONS first would only raise the peak.
STREAM_BYTES = 1 << 30
BLOCK = 8192  # connections sorted and written at once, once on disk
# From this many connections on, the report's connections section is drafted or half
# written by a second process when the analysis may use more than one (--jobs;
# analyzer.output.jsonout, analyzer.pipeline.finish): below, a fork costs more than it saves.
ASIDE_CONNECTIONS = 8192
CHUNK = 64  # connections per piece of a block (what a merge holds per block)

# A connection as plain values: records.connection_values (compiled with the core), and
# back. `first` leads (the merge's key: FIRST).
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
        self._fshift: list[int] = []  # … and to its connections' ``first`` (a span's)
        self._n = 0
        self.codes: bytearray | None = None  # the diagnoses, by position
        # the exchange runs of every connection, in order, noted by a whole iteration on
        # disk (the report's connections section) for :meth:`runs` (its exchanges section)
        # to read without merging the blocks again: per connection, how many offsets, then
        # them (8 bytes each: ~7 MB for 300k connections)
        self._runs_seen: array[int] | None = None

    def add(self, c: ConnectionRecord) -> None:
        self._runs_seen = None
        self._mem.append(c)
        self._n += 1
        if self._fh is None and self.limit is not None and self._n > self.limit:
            self._file()
        if self._fh is not None and len(self._mem) >= BLOCK:
            self._spill()

    def _file(self) -> IO[bytes]:
        if self._fh is None:
            self._fh, self.path = temp_file(self.directory, ".connections")
        return self._fh

    @property
    def spilled(self) -> bool:
        return self._fh is not None

    def export(self) -> ConnectionsExported:
        """This (worker's, sealed, spilled) store for :meth:`adopt`: its file's path when
        it has one (the store then no longer deletes it), else its bytes."""
        data = export_file(self._file(), self.path)
        self.path = None
        return data, self._blocks, self._n

    def adopt(self, part: ConnectionsExported, shift: int, first: int = 0) -> None:
        """Take in a worker's exported connections (a file given by path is deleted once
        copied); ``shift``: where its exchanges landed in this analysis' exchange store;
        ``first``: what to add to their ``first`` (a span's: analyzer.spans)."""
        self._runs_seen = None
        data, blocks, n = part
        base = append_file(self._file(), data)
        for pieces in blocks:
            self._blocks.append([(offset + base, size) for offset, size in pieces])
            self._shift.append(shift)
            self._fshift.append(first)
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
            self._fshift.append(0)

    def seal(self) -> None:
        """No more connections: the last block goes to disk."""
        if self._fh is not None and self._mem:
            self._spill()
        if self._fh is not None:
            self._fh.flush()

    def __len__(self) -> int:
        return self._n

    def _merged(self) -> Iterator[tuple[Any, ...]]:
        assert self._fh is not None
        fd = self._fh.fileno()
        blocks = [
            block_values(fd, p, shift, first, FIRST, RUNS)
            for p, shift, first in zip(self._blocks, self._shift, self._fshift, strict=True)
        ]
        return merged(blocks, FIRST)

    def __iter__(self) -> Iterator[ConnectionRecord]:
        if self._fh is None:
            return iter(self._mem)
        # the exchange runs are noted by the first whole read (for runs())
        return rebuild(self._merged(), self.codes, CODES, SPOOLED, RUNS,
                       noted=self._noted if self._runs_seen is None else None)

    def _noted(self, seen: array[int]) -> None:
        self._runs_seen = seen

    def rows(self, lo: int = 0, hi: int = -1) -> Iterator[dict[str, Any]]:
        """On disk: the connections at positions ``lo`` to ``hi`` (-1: the end) as their
        JSON objects (the report's section), none rebuilt as a record; one dict refilled
        for each. A whole read notes the exchange runs, as iterating does."""
        if self._fh is None:
            raise RuntimeError("connection store: the connections are in memory")
        whole = lo == 0 and hi < 0 and self._runs_seen is None
        return rows(self._merged(), self.codes, CODES, RUNS, lo, hi,
                    noted=self._noted if whole else None)

    def between(self, lo: int, hi: int) -> Iterator[ConnectionRecord]:
        """The connections at positions ``lo`` to ``hi`` (excluded), as iterating gives
        them; those before ``lo`` are merged past without being rebuilt."""
        if self._fh is None:
            return iter(self._mem[lo:hi])
        return rebuild(self._merged(), self.codes, CODES, SPOOLED, RUNS, lo, hi)

    def pick(self, wanted: set[int]) -> dict[int, ConnectionRecord]:
        """The connections at the positions ``wanted``, read in one merge as far as the
        last of them (the others are merged past without being rebuilt)."""
        if self._fh is None:
            return {i: self._mem[i] for i in wanted}
        found: dict[int, ConnectionRecord] = {}
        if not wanted:
            return found
        last = max(wanted)
        codes = self.codes
        for i, t in enumerate(self._merged()):
            if i in wanted:
                found[i] = final(t, i, codes, CODES, SPOOLED)
                if i >= last:
                    break
        return found

    def runs(self) -> Iterator[tuple[str, list[int] | None]]:
        """Each connection's final id and exchange runs, in order, read from disk
        without rebuilding the records (in memory, the records themselves have them)."""
        if self._fh is None:
            raise RuntimeError("connection store: the connections are in memory")
        seen = self._runs_seen
        if seen is not None:  # noted by a whole iteration: no second merge
            at = 0
            for i in range(1, self._n + 1):
                k = seen[at]
                yield f"C{i}", seen[at + 1:at + 1 + k].tolist() if k else None
                at += 1 + k
            return
        merged = self._merged()
        for i, t in enumerate(merged, 1):
            yield f"C{i}", t[RUNS]

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
        remove_file(self.path)
        self.path = None


# ---- the report's connections section (analyzer.output.jsonout)
# A draft of the section (write_draft) has each connection's diagnosis as this; the
# report puts the diagnosis in as it copies the draft (readback.put_marks). The key is
# the object's own (no nested object has it) and a string value cannot hold it: orjson
# escapes a quote inside a string, so ``diagnosis"`` never appears there unescaped.
DRAFT_MARK = b'"diagnosis":null'


def connection_lines(
    conns: Iterable[ConnectionRecord], lo: int, hi: int, dumps: Callable[[Any], bytes],
    draft: bool = False,
) -> Iterator[bytes]:
    """The connections at positions ``lo`` to ``hi`` (-1: the end), each encoded as its
    JSON object: from a store on disk, straight from their stored values (no record
    rebuilt for the row); otherwise from the records, one dict refilled for all.
    ``draft``: each with its diagnosis null (:data:`DRAFT_MARK`), whatever it is."""
    if isinstance(conns, ConnectionStore) and conns.spilled:
        for d in conns.rows(lo, hi):
            if draft:
                d["diagnosis"] = None
            yield dumps(d)
        return
    if isinstance(conns, ConnectionStore) and (lo or hi >= 0):
        conns = conns.between(lo, hi)
    elif isinstance(conns, list):
        conns = conns[lo:hi if hi >= 0 else None]
    row: dict[str, Any] = {}
    for c in conns:
        connection_fill(row, c)
        if draft:
            row["diagnosis"] = None
        yield dumps(row)


def write_connection_lines(
    conns: Iterable[ConnectionRecord], write: Callable[[bytes], Any],
    dumps: Callable[[Any], bytes], lo: int = 0, hi: int = -1, draft: bool = False,
    first: bool = True,
) -> bool:
    """The connections at positions ``lo`` to ``hi`` (:func:`connection_lines`) as the
    report's connections section lists them: a newline and two spaces before the first
    line (``first``; else a comma too, as before each next one). Says whether there was
    any."""
    sep = b"\n  " if first else b",\n  "
    wrote = False
    for line in connection_lines(conns, lo, hi, dumps, draft):
        write(sep)
        write(line)
        sep = b",\n  "
        wrote = True
    return wrote


def write_draft(conns: Iterable[ConnectionRecord], write: Callable[[bytes], Any]) -> None:
    """The report's connections section between its brackets, each diagnosis null:
    written by a second process while the connections are diagnosed
    (``analyze(write_ahead=True)``, --jobs); the ids must be final."""
    write_connection_lines(conns, write, encoder(), draft=True)


def diagnosis_codes(conns: Iterable[ConnectionRecord]) -> bytearray:
    """Each connection's diagnosis, in order, as its place in ``CODES`` (a store on
    disk has them so already)."""
    if isinstance(conns, ConnectionStore) and conns.spilled:
        if conns.codes is None:
            raise RuntimeError("connection store: not diagnosed")
        return conns.codes
    place = {name: k for k, name in enumerate(CODES)}
    return bytearray(place[c.diagnosis] for c in conns)
