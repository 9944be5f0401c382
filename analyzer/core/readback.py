"""What the stores give back from disk: connections (:class:`analyzer.store.ConnectionStore`),
the pieces of its sorted blocks merged by a key and the records (or their JSON objects)
rebuilt from their plain values; and the exchanges' lines
(:class:`analyzer.store.ExchangeStore`), read by windows and rewritten with their final
connection ids for the report.

These are the per-connection steps of every read of a store on disk (the classifier's
pass, the report's two big sections): ~300k connections and ~1M exchanges on a
10M-packet capture, read once or twice after the workers are done. So they are compiled
with the core (``analyzer/_compiled.py``), not interpreted generators stacked three deep;
the byte work of a run of lines is in C (``analyzer/core/_lines.c``) when built.
"""

from __future__ import annotations

import heapq
import marshal
import os
from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from analyzer.core.records import (
    ConnectionRecord,
    ExchangeRecord,
    connection_fill_values,
    connection_from_values,
)

# A run's lines rewritten in C (put_run), built with the compiled core (setup.py); absent,
# or with the pure core (analyzer._compiled), its Python twin runs.
_c_put_run: Callable[[bytearray, bytes, int, int, bytes, str, bytes, bytes], int] | None
try:
    from analyzer.core._lines import put_run as _c_put_run
except ImportError:
    _c_put_run = None


def block_values(
    fd: int, pieces: list[tuple[int, int]], shift: int, first: int, first_at: int,
    runs_at: int,
) -> Iterator[tuple[Any, ...]]:
    """The plain values of one block, piece by piece (``(offset, size)`` of marshalled
    lists in the file ``fd``); a worker's (adopted) have ``shift`` added to their exchange
    runs (``runs_at``) and ``first`` to their key (``first_at``), in one new tuple
    (``first_at < runs_at``)."""
    for offset, size in pieces:
        values: list[tuple[Any, ...]] = marshal.loads(os.pread(fd, size, offset))
        if not shift and not first:
            for t in values:
                yield t
            continue
        for t in values:
            runs = t[runs_at]
            if runs and shift:
                t = (*t[:first_at], t[first_at] + first, *t[first_at + 1:runs_at],
                     [x + shift for x in runs], *t[runs_at + 1:])
            elif first:
                t = (*t[:first_at], t[first_at] + first, *t[first_at + 1:])
            yield t


def merged(blocks: list[Iterator[tuple[Any, ...]]], key_at: int) -> Iterator[tuple[Any, ...]]:
    """The blocks' values in order of their ``key_at`` field (each block is sorted by it),
    ties in the order of the blocks: what ``heapq.merge(*blocks, key=itemgetter(key_at))``
    gives."""
    heap: list[list[Any]] = []
    for order, it in enumerate(blocks):
        for t in it:
            heap.append([t[key_at], order, t, it])
            break
    heapq.heapify(heap)
    while len(heap) > 1:
        entry = heap[0]
        yield entry[2]
        it = entry[3]
        got = False
        for t in it:
            entry[0] = t[key_at]
            entry[2] = t
            heapq.heapreplace(heap, entry)
            got = True
            break
        if not got:
            heapq.heappop(heap)
    if heap:
        entry = heap[0]
        yield entry[2]
        for t in entry[3]:
            yield t


def final(
    t: tuple[Any, ...], i: int, codes: bytearray | None, names: tuple[str | None, ...],
    spooled: list[ExchangeRecord],
) -> ConnectionRecord:
    """The connection at position ``i`` from its plain values: its final id
    (``C<i + 1>``) and, with ``codes``, its diagnosis (``names[code]``)."""
    c = connection_from_values(t, spooled)
    c.id = cid = f"C{i + 1}"
    last = c.last_exchange
    if last is not None:
        last.connection = cid
    if codes is not None:
        c.diagnosis = names[codes[i]]
    return c


def _numbered(
    values: Iterator[tuple[Any, ...]], runs_at: int, lo: int, hi: int,
    noted: Callable[[array[int]], None] | None,
) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """The values at positions ``lo`` to ``hi`` (-1: the end), with their position.
    ``noted``: given, once the read went to the end, every connection's exchange runs
    (per connection how many offsets, then them)."""
    seen: array[int] | None = array("q") if noted is not None else None
    i = 0
    for t in values:
        if hi >= 0 and i >= hi:
            return
        if seen is not None:
            runs = t[runs_at]
            if runs:
                seen.append(len(runs))
                seen.extend(runs)
            else:
                seen.append(0)
        if i >= lo:
            yield i, t
        i += 1
    if noted is not None and seen is not None:
        noted(seen)


def rows(
    values: Iterator[tuple[Any, ...]], codes: bytearray | None, names: tuple[str | None, ...],
    runs_at: int, lo: int = 0, hi: int = -1,
    noted: Callable[[array[int]], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """What :func:`rebuild` gives, each as its JSON object (what ``connection_fill`` makes
    of it, its id and diagnosis set as :func:`final` sets them), with no record rebuilt:
    one dict, refilled for each (encode it before taking the next)."""
    row: dict[str, Any] = {}
    for i, t in _numbered(values, runs_at, lo, hi, noted):
        connection_fill_values(row, t)
        row["id"] = f"C{i + 1}"
        if codes is not None:
            row["diagnosis"] = names[codes[i]]
        yield row


def rebuild(
    values: Iterator[tuple[Any, ...]], codes: bytearray | None, names: tuple[str | None, ...],
    spooled: list[ExchangeRecord], runs_at: int, lo: int = 0, hi: int = -1,
    noted: Callable[[array[int]], None] | None = None,
) -> Iterator[ConnectionRecord]:
    """The connections at positions ``lo`` to ``hi`` (-1: the end) of ``values`` (merged
    in order), each with its final id (``C<position + 1>``) and, with ``codes``, its
    diagnosis (``names[code]``); those before ``lo`` are passed without being rebuilt.
    ``noted``: as for :func:`_numbered`."""
    for i, t in _numbered(values, runs_at, lo, hi, noted):
        yield final(t, i, codes, names, spooled)


# ---- the exchange store's lines (analyzer.store.exchanges)
def windows(
    order: Iterable[tuple[str, list[int] | None]], read: Callable[[int, int], bytes],
    window: int, tag_shift: int,
) -> Iterator[tuple[str, bytes, int, int]]:
    """Per run of the connections in ``order`` (id, runs [start, end, …]): its id, and
    the bytes that hold it with where it lies in them (``win[s:e]``). Runs come in the
    connections' order but were written as connections finished: nearby, mostly
    ascending. So one ``read(start, end)`` of ``window`` bytes serves the runs that fall
    in it (a read per run was ~40% of writing the section); a window never spans two
    files (the offsets' bits from ``tag_shift`` up name the file)."""
    win = b""
    lo = hi = 0
    for cid, runs in order:
        if not runs:
            continue
        for k in range(0, len(runs), 2):
            start = runs[k]
            end = runs[k + 1]
            if start < lo or end > hi or (start ^ lo) >> tag_shift:
                lo = start
                win = read(start, max(end, start + window))
                hi = lo + len(win)
                if end > hi:  # (cannot happen: a run is within its file)
                    raise RuntimeError("exchange store: a run past its file's end")
            yield cid, win, start - lo, end - lo


def put_run_py(
    out: bytearray, win: bytes, s: int, e: int, prefix: bytes, cid: str, lead: bytes,
    sep: bytes,
) -> int:
    """Append to ``out`` the run ``win[s:e]`` of lines (each ends in a newline, each starts
    with the same head: all before the first ","), each line's head swapped for
    ``prefix + cid + '"'``, the lines joined by ``sep``, ``lead`` before the first;
    returns how many bytes. The Python twin of the C ``put_run`` (the same bytes)."""
    if not 0 <= s <= e <= len(win):
        raise ValueError("put_run: the run is not within the window")
    blob = win[s:e]
    i = blob.index(b",")
    head = prefix + cid.encode() + b'"'
    piece = lead + head + blob[i:-1].replace(b"\n" + blob[:i], sep + head)
    out += piece
    return len(piece)


def put_run(
    out: bytearray, win: bytes, s: int, e: int, prefix: bytes, cid: str, lead: bytes,
    sep: bytes,
) -> int:
    """:func:`put_run_py`, in C when built."""
    if _c_put_run is None:
        return put_run_py(out, win, s, e, prefix, cid, lead, sep)
    return _c_put_run(out, win, s, e, prefix, cid, lead, sep)


def write_runs(
    runs: Iterator[tuple[str, bytes, int, int]], prefix: bytes,
    write: Callable[[bytes], Any], buffer: int,
) -> bool:
    """The report's exchanges section from :func:`windows`' runs: a newline and two
    spaces before the first line, a comma, newline and two spaces before each next one,
    each line's head made ``prefix`` + its connection's id; written about ``buffer``
    bytes at a time. Says whether there was any line."""
    sep = b",\n  "
    lead = b"\n  "
    out = bytearray()
    first = True
    for cid, win, s, e in runs:
        put_run(out, win, s, e, prefix, cid, lead, sep)
        if first:
            lead = sep
            first = False
        if len(out) > buffer:
            # handed over as it is, not copied (it is never changed after): ``write``
            # takes any bytes-like object (Any: the compiled call checks for bytes)
            handed: Any = out
            write(handed)
            out = bytearray()
    if out:
        last: Any = out
        write(last)
    return not first


# ---- a draft of the report's connections section (analyzer.store.connections.write_draft)
def put_marks(
    read: Callable[[int, int], bytes], size: int, mark: bytes, codes: bytes | bytearray,
    reps: list[bytes], write: Callable[[bytes], Any], window: int,
) -> tuple[int, int]:
    """The bytes ``read(start, end)`` gives of ``[0, size)``, through ``write`` about
    ``window`` at a time, the k-th ``mark`` in them replaced by ``reps[codes[k]]``;
    returns (marks replaced, bytes written). More marks than codes is a ValueError."""
    if not mark or window < len(mark):
        raise ValueError("put_marks: an empty mark, or a window shorter than it")
    keep = len(mark) - 1  # (a mark cut by a window's end is found in the next)
    at = 0
    k = 0
    total = 0
    carry = b""
    while at < size:
        got = read(at, min(size, at + window))
        if not got:
            raise OSError("put_marks: the draft is shorter than it was")
        at += len(got)
        chunk = carry + got if carry else got
        pieces: list[bytes] = []
        p = 0
        q = chunk.find(mark)
        while q >= 0:
            if k >= len(codes):
                raise ValueError("put_marks: more marks than codes")
            pieces.append(chunk[p:q])
            pieces.append(reps[codes[k]])
            k += 1
            p = q + len(mark)
            q = chunk.find(mark, p)
        end = len(chunk) if at >= size else max(p, len(chunk) - keep)
        pieces.append(chunk[p:end])
        carry = chunk[end:]
        data = b"".join(pieces)
        write(data)
        total += len(data)
    return k, total
