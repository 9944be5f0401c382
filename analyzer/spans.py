"""Spans: ``--jobs`` and ``--dask`` split the input, not just the connections.

The input (the files in the order they are read, :func:`analyzer.passes.file_order`) is cut
into spans of about equal bytes, each starting on a record boundary; each worker reads only
its span, and past its end only what the connections it owns still need.

Theory of operation
-------------------
*Cutting.* :func:`plan_spans` cuts uncompressed classic pcap files (the format whose
records can be found from the middle: a pcapng, a ``.gz`` or a backend is read by the
partitions of :mod:`analyzer.passes`, every worker reading everything). A cut inside a
file is moved to the next place where a chain of record headers holds together
(:func:`record_boundary`). That guess is never trusted: the worker before reads its span
from a known boundary and says where the first record at or past its end really starts;
a guess that differs (payload bytes that look like records) makes the whole analysis run
in one process instead.

*Owning.* A connection belongs to the span where its first packet is. Each worker starts
with an empty flow table, as if the capture began at its span, and past its span's end
keeps only its own connections (:meth:`~analyzer.core.flows.FlowTable.start_tail`),
skipping other packets with a set lookup, until none is open (or the group of files
ends). What a worker could not know is what the spans before it left open: a connection
going on across the cut looks to it like one that started mid-way. So it reports, for
each connection that did not start with a SYN (``suspects``) and for each late packet,
the positions the parent needs, and the parent (:class:`SpanMerger`), taking the spans in
order, checks them against what the spans before said they kept past their ends (claims),
released and still remembered: a suspect wholly inside another span's claim is that
span's and is dropped; one that starts after it on a 4-tuple that span released there,
or after a connection the worker saw start afresh, stands; anything else — which the
parent cannot prove equal to one process's answer — makes the analysis run in one
process. So the answer is the sequential one, to the byte, or the sequential run gives it.

*Merging.* The parent takes the spans' results in order, as they come, adopting each
one's connections (shifted to the global packet ordinals) and exchanges into its stores:
no worker's result is held past its turn.
"""

from __future__ import annotations

import marshal
import os
import struct
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from analyzer import leaving
from analyzer.capture.files import MAX_RECORD, first_timestamp, open_capture
from analyzer.capture.pcapwalk import walk_pcap
from analyzer.core.decode import reverse_key
from analyzer.core.flows import ENDED_MAX, LATE_AFTER_CLOSE, Flow, FlowTable
from analyzer.core.records import CaptureRecord, ConnectionRecord
from analyzer.passes import PartitionSpec

if TYPE_CHECKING:
    from analyzer.store import ConnectionStore, ExchangeStore

# A span's connections are numbered by ``first`` = (span + 1) << FIRST_SHIFT plus the
# ordinal of their first packet in the span: in order across spans, with nothing to shift.
FIRST_SHIFT = 44
# A span shorter than this is not worth a worker of its own (tests cut finer: plan_spans'
# ``min_bytes``).
MIN_SPAN = 4 << 20
# How far past a cut the reader looks for a record boundary, and how many headers in a row
# must hold together there.
RESYNC_WINDOW = 1 << 20
RESYNC_CHAIN = 24
_PCAP_ORDER = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}

Where = tuple[int, int]  # (position in the reading order, byte offset in that file)


class Unsplittable(Exception):
    """The spans' answer could not be proven the sequential one: run in one process."""


@dataclass(frozen=True)
class SpanPlan:
    """Where each span starts, and each file's group (as one process would form them)."""

    starts: list[Where]  # span k reads from starts[k] to starts[k + 1] (the end: len(order))
    groups: list[int]  # per file (index into paths): its group
    last_ts: list[float | None]  # per file: the time of its last record, as found (None: none)
    sizes: list[int]  # per file: bytes
    first_ts: list[float | None] = field(default_factory=list)  # … and of its first record

    def end(self, k: int, files: int) -> Where:
        return self.starts[k + 1] if k + 1 < len(self.starts) else (files, 24)


@dataclass
class FileCounts:
    """What a span read of one file, in its own part."""

    packets: int = 0
    tcp_packets: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False
    missing_bytes: int = 0
    anomalies: dict[str, int] = field(default_factory=dict)
    last_ts: float | None = None  # the file's last record's time, when this span read it
    first_ts: float | None = None  # … and its first's, when this span read the file's start
    whole_from_start: bool = True  # its own part began at the file's first record


@dataclass
class SpanResult:
    """A worker's span: its records (connections as plain values or exported blocks,
    exchanges exported) and what the parent checks (module docstring). Positions are
    ordinals of records from the span's start."""

    index: int
    start: Where
    count: int = 0  # records in its own part
    next_boundary: Where = (0, 0)  # where the first record at or past its end starts
    files: dict[int, FileCounts] = field(default_factory=dict)
    # (group, packed connection, client key, server key, first, last, prior, start time,
    # file, missing bytes, anomalies)
    suspects: list[tuple[Any, ...]] = field(default_factory=list)
    # (group, client key, ordinal, latest start before it, time, its connection's first
    # packet, file, connections remembered since that one)
    late: list[tuple[int, bytes, int, int, float, int, int, int]] = field(default_factory=list)
    group: int = -1  # the group of its last table (the one past the end)
    tailed: list[tuple[bytes, int, int]] = field(default_factory=list)
    released: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    handed: dict[bytes, tuple[float, int]] = field(default_factory=dict)
    tail_syns: int = 0
    fragments: bool = False
    backwards: bool = False  # a record earlier than the one before it
    # its own records' first and last times and groups (time going back across a cut)
    first_own: tuple[int, float] | None = None
    last_own: tuple[int, float] | None = None
    trimmed_at: int = -1  # where a table first cut its late-packet memory (-1: never)
    bytes_read: int = 0
    connections: Any = None
    exchanges: Any = None


# ---- cutting
def _header(path: str) -> tuple[str, float, int]:
    with open(path, "rb") as fh:
        head = fh.read(24)
    order, scale = _PCAP_ORDER[head[:4]]
    (snaplen,) = struct.unpack_from(order + "I", head, 16)
    return order, scale, snaplen


def record_boundary(buf: bytes, pos: int, order: str, scale: float, snaplen: int,
                    at_eof: bool) -> int:
    """The first offset at or after ``pos`` in ``buf`` where a chain of classic pcap
    record headers holds together (-1: none): each has a captured length within the
    snapshot length and not over its original length, a fraction of a second below one
    second, and a time within a day of the one before; the chain must run for
    :data:`RESYNC_CHAIN` records or end exactly at the end of ``buf`` when that is the
    end of the file (``at_eof``). A guess: the worker before checks it."""
    unpack = struct.Struct(order + "IIII").unpack_from
    limit = min(MAX_RECORD, snaplen) if snaplen else MAX_RECORD
    frac_max = round(1 / scale)
    n = len(buf)
    for cand in range(pos, n - 15):
        p = cand
        links = 0
        prev = -1
        while True:
            if p == n and at_eof and links:
                return cand
            if p + 16 > n:
                break
            sec, frac, incl, orig = unpack(buf, p)
            if frac >= frac_max or incl > limit or incl > orig or orig > (1 << 20):
                break
            if prev >= 0 and abs(sec - prev) > 86400:
                break
            prev = sec
            links += 1
            if links >= RESYNC_CHAIN:
                return cand
            p += 16 + incl
        continue
    return -1


def find_boundary(path: str, offset: int) -> int:
    """The offset of the first record boundary at or after ``offset`` in a classic pcap
    file, as :func:`record_boundary` finds it; the file's size when there is none."""
    order, scale, snaplen = _header(path)
    size = os.path.getsize(path)
    if offset <= 24:
        return 24
    with open(path, "rb") as fh:
        while offset < size:
            fh.seek(offset)
            # a window of candidates, and as much again for the chains that start in it
            # (a chain that runs past the read is not taken: the next window goes on)
            buf = fh.read(2 * RESYNC_WINDOW)
            at = record_boundary(buf, 0, order, scale, snaplen, offset + len(buf) >= size)
            if at >= 0 and at < RESYNC_WINDOW:
                return offset + at
            offset += RESYNC_WINDOW
    return size


def last_timestamp(path: str) -> float | None:
    """The time of a classic pcap file's last record: walked from a boundary found near
    its end (checked by the span that reads the end; None: no record)."""
    order, scale, _snaplen = _header(path)
    size = os.path.getsize(path)
    start = 24
    for back in (1 << 18, 1 << 22, size):
        if size - back > 24:
            at = find_boundary(path, size - back)
            if at < size:
                start = at
                break
        else:
            start = 24
            break
    unpack = struct.Struct(order + "IIII").unpack_from
    last: float | None = None
    with open(path, "rb") as fh:
        fh.seek(start)
        buf = fh.read()
    p = 0
    while p + 16 <= len(buf):
        sec, frac, incl, _orig = unpack(buf, p)
        if incl > MAX_RECORD or p + 16 + incl > len(buf):
            break
        last = sec + frac * scale
        p += 16 + incl
    return last


def splittable(spec: PartitionSpec) -> bool:
    """Whether the input can be read in spans: our reader, no TLS secrets (a resumed
    session decrypts with an earlier connection's), uncompressed classic pcap files."""
    if spec.backend != "native" or spec.tls_keylog is not None or spec.tls_keylog_path:
        return False
    for src in spec.sources:
        try:
            with open(src, "rb") as fh:
                if fh.read(4) not in _PCAP_ORDER:
                    return False
        except OSError:
            return False
    return True


def plan_spans(
    spec: PartitionSpec, count: int, min_bytes: int | None = None
) -> SpanPlan | None:
    """Cut the input into (at most) ``count`` spans of about equal bytes, none under
    ``min_bytes``, and form the groups as one process would (their first and last
    records' times); None when it cannot be read in spans (:func:`splittable`) or makes
    only one."""
    if count < 2 or not splittable(spec):
        return None
    if min_bytes is None:
        min_bytes = MIN_SPAN
    order = spec.order
    sizes = [os.path.getsize(s) for s in spec.sources]
    body = [max(0, sizes[i] - 24) for i in order]
    total = sum(body)
    n = min(count, max(1, total // max(1, min_bytes)))
    if n < 2:
        return None
    lasts = [last_timestamp(s) for s in spec.sources]
    # a file without a whole record (cut short before its first frame ended) feeds nothing:
    # it decides no group (both are checked by the spans that read them)
    firsts = [first_timestamp(s) if lasts[i] is not None else None
              for i, s in enumerate(spec.sources)]
    groups = [0] * len(order)
    group, now, fed = -1, 0.0, False
    for k, i in enumerate(order):
        ft = firsts[i]
        later = ft is not None and fed and (ft < now or ft - now > spec.stitch_gap)
        if k == 0 or later or i in spec.breaks:
            group += 1
            fed = False
        groups[i] = group
        last = lasts[i]
        if ft is not None and last is not None:
            now, fed = last, True
    starts: list[Where] = [(0, 24)]
    acc = 0
    cuts = [total * j // n for j in range(1, n)]
    c = 0
    for k, i in enumerate(order):
        while c < len(cuts) and cuts[c] < acc + body[k]:
            at = find_boundary(spec.sources[i], 24 + cuts[c] - acc)
            where = (k, at) if at < sizes[i] else (k + 1, 24)
            if where > starts[-1] and where < (len(order), 0):
                starts.append(where)
            c += 1
        acc += body[k]
    if len(starts) < 2:
        return None
    return SpanPlan(starts, groups, lasts, sizes, firsts)


# ---- a span, in a worker
def run_span(
    spec: PartitionSpec, plan: SpanPlan, k: int, directory: str | None = None,
    limit: int | None = None,
) -> SpanResult:
    """Span ``k`` in a worker (process pool, dask): its connections and exchanges come
    back as its stores' files in ``directory`` or as bytes (like
    :func:`analyzer.parallel.run_part`), with what the parent checks."""
    import gc

    from analyzer.store import ConnectionStore, ExchangeStore, pack_connection

    store = ExchangeStore(directory, tag=k + 1)  # (its parent mounts it under k + 1)
    conns = ConnectionStore(limit, directory)
    enabled = gc.isenabled()
    gc.disable()
    try:
        res = _walk(spec, plan, k, store, conns)
        conns.seal()
        # plain values travel marshalled: ~5x faster than pickling the tuples
        res.connections = (conns.export() if conns.spilled
                           else marshal.dumps([pack_connection(c) for c in conns.records]))
        res.exchanges = store.export()
        leaving.keep(conns)  # (its records need not be freed: analyzer.leaving)
        return res
    finally:
        store.close()
        conns.close()
        if enabled:
            gc.enable()


def _walk(
    spec: PartitionSpec, plan: SpanPlan, k: int, store: ExchangeStore, conns: ConnectionStore
) -> SpanResult:
    from analyzer.store import pack_connection

    paths, sources, order = spec.paths, spec.sources, spec.order
    start = plan.starts[k]
    end = plan.end(k, len(order))
    res = SpanResult(k, start)
    tag = (k + 1) << FIRST_SHIFT  # the span's connections' ``first``: its tag, then the ordinal
    table: FlowTable | None = None  # the current group's
    los: list[int] = []  # per file of the current table: its first record's ordinal
    files: list[int] = []
    base = 0  # records of the span read by the tables before the current one
    group = -1

    def finished(c: ConnectionRecord) -> None:
        assert table is not None
        flow = table.finished_flow
        assert flow is not None
        j = files[bisect_right(los, c.first) - 1]
        c.capture = paths[j]
        first = base + c.first  # its first packet, counted from the span's start …
        c.first = tag + first  # … in the span's range of the order (spans in input order)
        c.exchange_runs = store.take(c.id)
        if not flow.fresh:
            res.suspects.append((
                group, pack_connection(c), flow.ckey, flow.skey, first,
                base + flow.last_at, base + flow.prior if flow.prior >= 0 else -1,
                flow.start, j, c.missing_bytes, dict(c.anomalies),
            ))
            return
        fc = res.files[j]
        fc.missing_bytes += c.missing_bytes
        for a, n in c.anomalies.items():
            fc.anomalies[a] = fc.anomalies.get(a, 0) + n
        conns.add(c)

    def new_table(path: str) -> FlowTable:
        store.mark()
        t = FlowTable(path, idle_timeout=spec.idle_timeout, show_secrets=spec.show_secrets,
                      spool=store.add, on_record=finished)
        t.ranged = True
        return t

    def close_table(t: FlowTable) -> None:
        nonlocal base
        t.finish()
        leaving.keep(t)  # (what is left in it need not be freed: analyzer.leaving)
        _table_flags(t, res, base)
        res.late.extend(_late(t, group, base, files, los))
        t.late_events.clear()
        base += t.fed

    own = True
    tailed: list[Flow] = []  # the connections open at the span's end
    for pos in range(start[0], len(order)):
        i = order[pos]
        g = plan.groups[i]
        if not own and g != group:
            break  # the group ended: its connections were finished with it
        if own and (pos, 24) >= end:
            res.next_boundary = (pos, 24)
            own = False
            if table is None:
                break
            tailed = _to_tail(table, res, base, group)
            if not tailed:
                break
            if g != group:
                break
        if table is None or g != group:
            if table is not None:
                close_table(table)
            group = g
            table = new_table(paths[i])
            los, files = [], []
        table.capture = paths[i]
        los.append(table.fed)
        files.append(i)
        cf = open_capture(sources[i])
        cf.path = paths[i]
        at = start[1] if pos == start[0] else 24
        if at > 24:
            cf.start_at(at)
        fc = res.files.setdefault(i, FileCounts()) if own else None
        if fc is not None:
            fc.whole_from_start = at <= 24
        packets0, skipped0 = fc.packets if fc is not None else 0, dict(table.skipped)
        little, scale, lt = cf.little_endian, cf.ts_scale, cf.linktype
        stop = False
        for buf, s, e, _n in cf.runs():
            boff = cf.buf_offset
            if res.first_own is None and e > s:
                res.first_own = (group, cf.record_ts(buf, s))
            if fc is not None and at <= 24 and fc.first_ts is None and e > s:
                fc.first_ts = cf.record_ts(buf, s)
            if own and pos == end[0] and boff + e > end[1]:
                cut = s
                while cut < e and boff + cut < end[1]:
                    cut += 16 + _caplen(buf, cut, little)
                n = walk_pcap(table, buf, s, cut, little, scale, lt) if cut > s else 0
                assert fc is not None
                _count(fc, table, packets0, skipped0, n)
                res.next_boundary = (pos, boff + cut)
                own = False
                fc = None
                tailed = _to_tail(table, res, base, group)
                if not tailed:
                    stop = True
                    break
                if cut < e:
                    walk_pcap(table, buf, cut, e, little, scale, lt)
            else:
                n = walk_pcap(table, buf, s, e, little, scale, lt)
                if fc is not None:
                    fc.packets += n
            if not own and not table.open:
                stop = True
                break
        res.bytes_read += cf.bytes_read
        cf.close()
        if fc is not None:  # the whole rest of the file was this span's own
            _count(fc, table, packets0, skipped0, 0)
            fc.truncated = cf.truncated
            fc.warnings = list(cf.warnings)
            fc.last_ts = table.now if fc.packets else None
        if stop:
            break
    if own:  # the input ended inside the span
        res.next_boundary = (len(order), 24)
        own = False
        if table is not None:
            tailed = _to_tail(table, res, base, group)
    if table is not None:
        if table.open:
            table.finish()  # the group (or the input) ended with them open
            table.ended = None  # (nothing follows in this group)
        res.handed = {kk: (u, base + f) for kk, (u, f) in table.handed().items()}
        res.late.extend(_late(table, group, base, files, los))
        res.released = {kk: (base + a, base + f if f >= 0 else -1)
                        for kk, (a, f) in table.released.items()}
        res.tailed = [(f.ckey, base + f.first, base + f.last_at) for f in tailed]
        res.tail_syns = table.tail_syns
        res.group = group
        _table_flags(table, res, base)
    return res


def _to_tail(table: FlowTable, res: SpanResult, base: int, group: int) -> list[Flow]:
    """The span's own records are read: the table goes on for its open connections only,
    which it returns."""
    res.count = base + table.fed
    if table.fed:
        res.last_own = (group, table.now)
    return table.start_tail()


def _fragments(table: FlowTable) -> bool:
    fr = table.fragments
    return bool(fr.completed or fr.datagrams or any(
        r.startswith("ip-fragment") for r in table.skipped
    ))


def _caplen(buf: bytes, p: int, little: bool) -> int:
    b = buf[p + 8:p + 12]
    return int.from_bytes(b, "little" if little else "big")


def _count(fc: FileCounts, table: FlowTable, packets0: int, skipped0: dict[str, int],
           packets: int) -> None:
    """The file's counters over this span's own part: its records, and the TCP ones (all
    but those skipped: the late packets after a close the parent takes off, by the ones
    it keeps)."""
    fc.packets += packets
    tcp = fc.packets - packets0
    for reason, n in table.skipped.items():
        if reason == LATE_AFTER_CLOSE:
            continue  # counted by the parent from the late packets it keeps
        d = n - skipped0.get(reason, 0)
        if d:
            fc.skipped[reason] = fc.skipped.get(reason, 0) + d
            tcp -= d
    fc.tcp_packets += tcp


def _late(table: FlowTable, group: int, base: int, files: list[int], los: list[int]
          ) -> list[tuple[int, bytes, int, int, float, int, int, int]]:
    return [
        (group, ck, base + at, base + prior if prior >= 0 else -1, ts,
         base + src, files[bisect_right(los, at) - 1], gap)
        for ck, at, prior, ts, src, gap in table.late_events
    ]


def _table_flags(table: FlowTable, res: SpanResult, base: int) -> None:
    """What makes a span's table unfit to stand for one process's: time going back, IP
    fragments, a late-packet memory cut down (analyzer.core.flows.ENDED_MAX)."""
    res.backwards = res.backwards or table.backwards > 0
    res.fragments = res.fragments or _fragments(table)
    if table.trimmed_at >= 0 and res.trimmed_at < 0:
        res.trimmed_at = base + table.trimmed_at


# ---- the parent
def canonical(key: bytes) -> bytes:
    """One name for both directions' flow keys."""
    r = reverse_key(key)
    return key if key <= r else r


class SpanMerger:
    """Takes the spans' results in order (module docstring): checks each against the
    spans before it, adopts its records, counts its files."""

    def __init__(self, spec: PartitionSpec, plan: SpanPlan, store: ExchangeStore,
                 conns: ConnectionStore) -> None:
        self.spec, self.plan, self.store, self.conns = spec, plan, store, conns
        self.base = 0
        self.expect: Where = plan.starts[0]
        self.claims: dict[tuple[int, bytes], int] = {}
        self.releases: dict[tuple[int, bytes], int] = {}
        self.handed: dict[tuple[int, bytes], float] = {}
        self.files: dict[int, FileCounts] = {}
        self.bytes_read: list[int] = []
        self.tailed_in = 0  # connections the spans so far followed past their ends
        self.last_own: tuple[int, float] | None = None  # the latest span's last record
        self.trimmed = False  # whether a span so far cut its late-packet memory

    def _carried(self, key: tuple[int, bytes], ts: float) -> int | None:
        """What the spans before left on a 4-tuple: the last packet they claimed past
        this span's start (-1: none), or None when they left nothing."""
        ce = self.claims.get(key, -1)
        if ce < self.base:
            ce = -1
        hand = self.handed.get(key)
        if ce < 0 and (hand is None or hand < ts):
            return None
        return ce

    def take(self, r: SpanResult) -> None:
        from analyzer.store import unpack_connection

        if r.start != self.expect:
            raise Unsplittable(f"span {r.index} started off a record boundary")
        if r.tail_syns or r.fragments or r.backwards:
            raise Unsplittable("a retransmitted SYN, IP fragments or time going back")
        if (r.first_own is not None and self.last_own is not None
                and r.first_own[0] == self.last_own[0] and r.first_own[1] < self.last_own[1]):
            raise Unsplittable("time going back across a cut")
        if r.last_own is not None:
            self.last_own = r.last_own
        base = self.base
        # A span that cut its late-packet memory down (ENDED_MAX) may remember what one
        # process forgot, or forget what it remembers: a connection that started without
        # a SYN after that, or after an earlier span's cut (its hand-over is then partial),
        # is not provably the same.
        trimmed = r.trimmed_at if r.trimmed_at >= 0 else None
        if self.trimmed:
            trimmed = 0
        dropped: set[tuple[tuple[int, bytes], int]] = set()
        kept = []
        for (g, packed, ckey, _skey, first, last, prior, ts, j, missing,
             anomalies) in r.suspects:
            key = (g, canonical(ckey))
            ce = self._carried(key, ts)
            if ce is None:
                if trimmed is not None and first >= trimmed:
                    raise Unsplittable("a connection without a SYN after a memory cut")
                kept.append((packed, j, missing, anomalies))
                continue
            first, last = base + first, base + last
            prior = base + prior if prior >= 0 else -1
            if last <= ce:
                dropped.add((key, first - base))
            elif first <= ce:
                raise Unsplittable("a connection across a cut")
            elif prior > ce or self.releases.get(key) == first:
                kept.append((packed, j, missing, anomalies))
            else:
                raise Unsplittable("a connection after a cut without a start of its own")
        late_kept: list[tuple[tuple[int, bytes], int, int]] = []
        for g, ckey, at, prior, ts, src, j, gap in r.late:
            if gap + self.tailed_in >= ENDED_MAX:
                # one process may have forgotten that connection by then
                raise Unsplittable("a late packet of a connection long finished")
            key = (g, canonical(ckey))
            ce = self._carried(key, ts)
            gat = base + at
            if ce is not None:
                if gat <= ce:
                    continue
                if not (prior >= 0 and base + prior > ce):
                    raise Unsplittable("a late packet after a cut")
            if (key, src) in dropped:
                raise Unsplittable("a late packet of a connection across a cut")
            late_kept.append((key, at, j))
        # the records, as they are: their exchange runs and ``first`` carry the span's tag
        self.store.mount(r.exchanges, r.index + 1)
        packed_all = r.connections
        if isinstance(packed_all, tuple):
            self.conns.adopt(packed_all, 0)
        else:
            for t in marshal.loads(packed_all):
                self.conns.add(unpack_connection(t))
        for packed, j, missing, anomalies in kept:
            self.conns.add(unpack_connection(packed))
            fc = self.files.setdefault(j, FileCounts())
            fc.missing_bytes += missing
            for a, n in anomalies.items():
                fc.anomalies[a] = fc.anomalies.get(a, 0) + n
        # the files
        for i, c in r.files.items():
            fc = self.files.setdefault(i, FileCounts())
            if c.warnings and not c.whole_from_start:
                raise Unsplittable("a warning in a file read from a cut")
            fc.packets += c.packets
            fc.tcp_packets += c.tcp_packets
            for reason, n in c.skipped.items():
                fc.skipped[reason] = fc.skipped.get(reason, 0) + n
            fc.warnings.extend(c.warnings)
            fc.truncated = fc.truncated or c.truncated
            fc.missing_bytes += c.missing_bytes
            for a, n in c.anomalies.items():
                fc.anomalies[a] = fc.anomalies.get(a, 0) + n
            if c.last_ts is not None and c.last_ts != self.plan.last_ts[i]:
                raise Unsplittable("a file's last record is not where it was looked for")
            if c.whole_from_start and c.first_ts != self.plan.first_ts[i] and (
                c.packets or self.plan.first_ts[i] is not None
            ):
                raise Unsplittable("a file's first record is not what the groups assumed")
        for _key, _at, j in late_kept:
            fc = self.files.setdefault(j, FileCounts())
            fc.skipped[LATE_AFTER_CLOSE] = fc.skipped.get(LATE_AFTER_CLOSE, 0) + 1
            fc.tcp_packets -= 1
        # what this span keeps past its end, for the spans after it
        own_end = base + r.count
        for ckey, first, last in r.tailed:
            key = (r.group, canonical(ckey))
            if (key, first) in dropped:
                continue
            if base + last >= own_end:
                self.claims[key] = max(self.claims.get(key, -1), base + last)
        for key, at, _j in late_kept:
            if base + at >= own_end:
                self.claims[key] = max(self.claims.get(key, -1), base + at)
        for ckey, (at, first) in r.released.items():
            key = (r.group, canonical(ckey))
            if first < 0 or (key, first) in dropped:
                continue  # (a release whose connection is unknown or not this span's)
            self.releases[key] = base + at
        for ckey, (until, first) in r.handed.items():
            key = (r.group, canonical(ckey))
            if (key, first) in dropped:
                continue
            self.handed[key] = max(self.handed.get(key, until), until)
        self.tailed_in += len(r.tailed)
        self.trimmed = self.trimmed or r.trimmed_at >= 0
        self.base += r.count
        self.expect = r.next_boundary
        self.bytes_read.append(r.bytes_read)

    def captures(self) -> list[CaptureRecord]:
        """Per file (in the order given), its counters over the spans."""
        spec = self.spec
        if self.expect != (len(spec.order), 24):
            raise Unsplittable("the spans did not reach the end of the input")
        out = []
        for i, path in enumerate(spec.paths):
            fc = self.files.get(i, FileCounts())
            out.append(CaptureRecord(
                path=path, format="pcap", packets=fc.packets, tcp_packets=fc.tcp_packets,
                skipped=dict(sorted(fc.skipped.items())), truncated=fc.truncated,
                warnings=list(fc.warnings), group=self.plan.groups[i],
                missing_bytes=fc.missing_bytes, anomalies=dict(sorted(fc.anomalies.items())),
            ))
        return out


def run_spans(
    results: Iterable[SpanResult], spec: PartitionSpec, plan: SpanPlan,
    store: ExchangeStore, conns: ConnectionStore,
    on_span: Callable[[SpanResult], None] | None = None,
) -> tuple[list[CaptureRecord], list[int]]:
    """Merge the spans' results (in order) into the stores: the per-file counters and
    the bytes each span's worker read. Raises :class:`Unsplittable`."""
    merger = SpanMerger(spec, plan, store, conns)
    for r in results:
        merger.take(r)
        if on_span is not None:
            on_span(r)
    return merger.captures(), merger.bytes_read

