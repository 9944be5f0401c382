"""Connections read back from disk (:class:`analyzer.store.ConnectionStore`): the pieces of
its sorted blocks, merged by a key, and the records rebuilt from their plain values.

These are the per-connection steps of every read of a store on disk (the classifier's
pass, the report's connections section): ~300k connections on a 10M-packet capture, read
once or twice after the workers are done. So they are compiled with the core
(``analyzer/_compiled.py``), not interpreted generators stacked three deep.
"""

from __future__ import annotations

import heapq
import marshal
import os
from array import array
from collections.abc import Callable, Iterator
from typing import Any

from analyzer.core.records import (
    ConnectionRecord,
    ExchangeRecord,
    connection_fill_values,
    connection_from_values,
)


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


def rows(
    values: Iterator[tuple[Any, ...]], codes: bytearray | None, names: tuple[str | None, ...],
    runs_at: int, lo: int = 0, hi: int = -1,
    noted: Callable[[array[int]], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """What :func:`rebuild` gives, each as its JSON object (what ``connection_fill`` makes
    of it, its id and diagnosis set as :func:`final` sets them), with no record rebuilt:
    one dict, refilled for each (encode it before taking the next)."""
    seen: array[int] | None = array("q") if noted is not None else None
    row: dict[str, Any] = {}
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
            connection_fill_values(row, t)
            row["id"] = f"C{i + 1}"
            if codes is not None:
                row["diagnosis"] = names[codes[i]]
            yield row
        i += 1
    if noted is not None and seen is not None:
        noted(seen)


def rebuild(
    values: Iterator[tuple[Any, ...]], codes: bytearray | None, names: tuple[str | None, ...],
    spooled: list[ExchangeRecord], runs_at: int, lo: int = 0, hi: int = -1,
    noted: Callable[[array[int]], None] | None = None,
) -> Iterator[ConnectionRecord]:
    """The connections at positions ``lo`` to ``hi`` (-1: the end) of ``values`` (merged
    in order), each with its final id (``C<position + 1>``) and, with ``codes``, its
    diagnosis (``names[code]``); those before ``lo`` are passed without being rebuilt.
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
            yield final(t, i, codes, names, spooled)
        i += 1
    if noted is not None and seen is not None:
        noted(seen)
