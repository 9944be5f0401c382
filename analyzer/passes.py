"""One pass of the core over the input files: the order they are read in, the groups
they form (one capture stitched from rotated parts, or other experiments apart), and the
pass itself — every file, chunk by chunk, fed to a flow table that keeps one partition's
connections (:func:`run_partition`; all of them with one process).

Theory of operation
-------------------
:func:`file_order` reads each file's first packet and sorts by it; :func:`breaks_of`
says which files start a group of their own by name (another experiment), and
:func:`run_partition` adds those that overlap the files before them, as it reads. Each
group gets a flow table of its own; finished connections go to the connection store and
their exchanges to the exchange store as they finish. The per-file counters come back as
capture records, which :func:`merge_parts` adds up over the partitions.
"""

from __future__ import annotations

import gc
import itertools
import os
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Final

from analyzer import leaving
from analyzer.capture import open_backend
from analyzer.capture.canonical import BackendCapture
from analyzer.capture.files import (
    CaptureFile,
    Record,
    first_timestamp,
    open_capture,
    pcapng_secrets,
)
from analyzer.capture.keylogs import read_keylog
from analyzer.capture.pcapwalk import walk_pcap
from analyzer.core.flows import FlowTable
from analyzer.core.keylog import KeyLog
from analyzer.core.records import CaptureRecord, ConnectionRecord
from analyzer.errors import AnalyzerError

if TYPE_CHECKING:
    from analyzer.store import ConnectionStore, ExchangeStore


# A file of the same series that starts this many seconds after the files before it ended
# is another run (v1.pcap, v2.pcap) unless the user merges.
SERIES_GAP = 60.0


@dataclass(frozen=True)
class PartitionSpec:
    """What every partition of one analysis is given (it pickles: workers get it)."""

    paths: list[str]  # the files as the user named them (records name these)
    sources: list[str]  # the files to open (absolute paths for workers elsewhere)
    order: list[int]  # indexes into paths, in the order they are read (file_order)
    idle_timeout: float
    show_secrets: bool
    backend: str  # native, scapy or pyshark
    breaks: list[int]  # files that start a group of their own (breaks_of)
    stitch_gap: float = SERIES_GAP  # inf: never split by time (--merge)
    # an NSS key log's contents (--tls-keylog; never in a repr: workers' error reports
    # print their arguments), or its path for workers that read it themselves (Dask)
    tls_keylog: bytes | None = field(default=None, repr=False)
    tls_keylog_path: str | None = None


def say_groups(captures: list[CaptureRecord], order: list[int], breaks: list[int]) -> None:
    """Say out loud how several files were taken: stitched as one capture, or apart."""
    if len(captures) < 2:
        return
    for i, j in zip(order, order[1:], strict=False):
        prev, cap = captures[i], captures[j]
        before = os.path.basename(prev.path)
        if cap.group == prev.group:
            cap.warnings.append(
                f"stitched to {before} as one capture (it follows it; --separate to "
                "analyse the files apart)"
            )
        elif j in breaks:
            cap.warnings.append(
                f"analysed apart from {before}: another experiment (its name is not of "
                "the same rotated series; --merge to analyse the files as one capture)"
            )
        else:
            cap.warnings.append(
                f"analysed apart from {before}: it overlaps it in time (the same traffic "
                "seen twice?) or starts more than a minute after it ended (another run; "
                "--merge to analyse the files as one capture)"
            )


def series_name(path: str) -> str:
    """A file's name without its digits: the parts of one rotated capture (tcpdump -C/-G
    ``dump.pcap``, ``dump.pcap1`` …; editcap ``out_00000_20261202….pcap``) share it."""
    name = os.path.basename(path)
    if name.endswith(".gz"):  # one part compressed, the others not: still one series
        name = name[:-3]
    return re.sub(r"\d+", "", name)


def breaks_of(paths: list[str], order: list[int], merge: bool | None) -> list[int]:
    """The files that start a group of their own, besides those that overlap the files
    before them (:func:`run_partition` finds those while reading). ``merge`` None: a file
    whose name is not of the same series as the one read before it is another experiment
    (``a.pcap`` then ``b.pcap``), analysed apart; True: none (files that follow each
    other are one capture); False: every file."""
    if merge is True:
        return []
    if merge is False:
        return list(order[1:])
    return [
        j for i, j in zip(order, order[1:], strict=False)
        if series_name(paths[i]) != series_name(paths[j])
    ]


def file_order(paths: list[str], backend: str) -> list[int]:
    """The files in the order they are read: by first packet, then as named. Reads only
    each file's headers up to its first packet; an unreadable file raises here, before
    any work. A file without packets goes first (it changes nothing), and so does one
    only a backend can read (its first packet decides its group when it is read)."""
    if len(paths) < 2:
        return list(range(len(paths)))
    firsts: list[float] = []
    for p in paths:
        try:
            ts = first_timestamp(p)
        except AnalyzerError:
            if backend == "native":
                raise
            ts = None  # the backend may read what our reader does not; it will say
        firsts.append(float("-inf") if ts is None else ts)
    return sorted(range(len(paths)), key=lambda i: (firsts[i], i))


Part = list[CaptureRecord]  # what a partition gives: per file, its counters
# Skip reasons of a partition's own connections, counted by each partition (the others,
# what is not TCP, every partition sees alike and partition 0 counts)
OWN_SKIPS: Final = frozenset({"late-after-close"})
_RUNS = ("pcap", "pcap.gz")  # formats whose records pcapwalk.walk_pcap walks in place


def _chunks(
    cf: CaptureFile | BackendCapture,
) -> Iterator[tuple[float | None, Callable[[FlowTable], int]]]:
    """A capture chunk by chunk: the time of the chunk's first packet, and how to feed
    the chunk to a table (returns its packets). Classic pcap comes as runs of records
    walked in place (:func:`~analyzer.capture.pcapwalk.walk_pcap`: no tuple per packet);
    the rest as record lists."""
    if isinstance(cf, CaptureFile) and cf.format in _RUNS:
        little, scale, lt = cf.little_endian, cf.ts_scale, cf.linktype
        for buf, start, end, _n in cf.runs():

            def run(t: FlowTable, b: bytes = buf, s: int = start, e: int = end) -> int:
                return walk_pcap(t, b, s, e, little, scale, lt)

            yield cf.record_ts(buf, start), run
        return
    for buf, records in cf.batches():

        def batch(t: FlowTable, b: bytes = buf, r: list[Record] = records) -> int:
            t.feed(b, r)
            return len(r)

        yield (records[0][0] if records else None), batch


def run_partition(
    spec: PartitionSpec,
    index: int,
    count: int,
    on_progress: Callable[[str, int, int], None] | None = None,
    fileobjs: dict[int, IO[bytes]] | None = None,
    store: ExchangeStore | None = None,
    *,
    conns: ConnectionStore,
) -> Part:
    """One partition (``index`` of ``count``) of the whole analysis: every file, in
    ``spec.order``, grouped as :func:`analyzer.pipeline.analyze` says. Runs in this
    process or in a worker (process pool, dask): arguments and result pickle. Returns
    per file (in the order given) its counters — TCP packets, missing bytes and
    anomalies of *this* partition's connections; packets, skips, warnings of the file.
    This partition's connections go to ``conns`` as they finish, ``capture`` set and
    ``first`` counted over all records read (the merge numbers them by it); their
    exchanges go to ``store``, and each connection notes where (``exchange_runs``)."""
    paths, sources, order, breaks = spec.paths, spec.sources, spec.order, spec.breaks
    idle_timeout, show_secrets, backend = spec.idle_timeout, spec.show_secrets, spec.backend
    enabled = gc.isenabled()
    gc.disable()
    try:
        caps: dict[int, CaptureRecord] = {}
        missing: dict[int, int] = {}  # per file: missing bytes of connections started there
        anomalies: dict[int, dict[str, int]] = {}  # … and their anomalies
        table: FlowTable | None = None
        los: list[int] = []  # per file of the current group: the ordinal of its first record
        files: list[int] = []  # … and the file's index
        base = 0  # records read in the groups before the current one
        group = -1  # the current group's number

        def finished(c: ConnectionRecord) -> None:
            """A connection of the current group is finished."""
            i = files[bisect_right(los, c.first) - 1]  # the file of its first packet
            c.capture = paths[i]
            c.first += base
            if store is not None:
                c.exchange_runs = store.take(c.id)
            if c.missing_bytes:
                missing[i] = missing.get(i, 0) + c.missing_bytes
            if c.anomalies:
                acc = anomalies.setdefault(i, {})
                for k, v in c.anomalies.items():
                    acc[k] = acc.get(k, 0) + v
            conns.add(c)

        keylog: KeyLog | None = None
        keys = spec.tls_keylog
        if keys is None and spec.tls_keylog_path is not None:
            keys = read_keylog(spec.tls_keylog_path)
        if keys is not None:
            keylog = KeyLog()
            keylog.add(keys)
        keyed = keylog is not None
        secrets_taken = 0  # of the current file's Decryption Secrets Blocks

        def close_group(table: FlowTable) -> int:
            table.finish()
            leaving.keep(table)  # (what is left in it need not be freed: analyzer.leaving)
            return base + table.fed

        for i in order:
            path = paths[i]
            fileobj = fileobjs.get(i) if fileobjs else None
            cf: CaptureFile | BackendCapture = (
                open_capture(sources[i], fileobj) if backend == "native"
                else open_backend(sources[i], backend)
            )
            if isinstance(cf, CaptureFile):
                cf.path = path  # its warnings and errors name the file as the user did
            if not isinstance(cf, CaptureFile) and spec.backend != "native":
                # a backend reads the packets; the pcapng's secrets come from our reader
                found = pcapng_secrets(sources[i])
                if found:
                    if keylog is None:
                        keylog = KeyLog()
                    for text in found:
                        keylog.add(text)
                    if table is not None:
                        table.keylog = keylog
            chunks = _chunks(cf)
            first = next(chunks, None)
            first_ts = first[0] if first is not None else None
            overlaps = first_ts is not None and table is not None and table.fed and (
                first_ts < table.now
            )
            later = first_ts is not None and table is not None and table.fed and (
                first_ts - table.now > spec.stitch_gap
            )
            if table is None or overlaps or later or i in breaks:
                # Not a continuation (its first packet is earlier than the last one read,
                # or much later, or it is another experiment by name: breaks_of): a
                # separate group, with a table of its own.
                group += 1
                if table is not None:
                    base = close_group(table)
                if store is not None:
                    store.mark()
                table = FlowTable(
                    path, idle_timeout=idle_timeout, show_secrets=show_secrets,
                    partition=(index, count), spool=store.add if store is not None else None,
                    on_record=finished, keylog=keylog,
                    by_hosts=keyed,  # TLS session memory (analyzer.core.partition)
                )
                los, files = [], []
            table.capture = path
            los.append(table.fed)
            files.append(i)
            tcp0, skipped0 = table.tcp_packets, dict(table.skipped)
            packets = 0
            secrets_taken = 0
            if first is not None:
                for _ts, feed in itertools.chain((first,), chunks):
                    dsb = getattr(cf, "secrets", None)
                    if dsb and len(dsb) > secrets_taken:
                        # a pcapng's Decryption Secrets Blocks, read with the chunk: its
                        # packets (and the later files') decrypt with them
                        if keylog is None:
                            keylog = KeyLog()
                        for text in dsb[secrets_taken:]:
                            keylog.add(text)
                        secrets_taken = len(dsb)
                        table.keylog = keylog
                    n = feed(table)
                    if on_progress is not None:
                        packets += n
                        on_progress(path, cf.bytes_read, packets)
            skipped: dict[str, int] = {}
            for reason, n in table.skipped.items():
                # what is not TCP is every partition's: partition 0 counts it; a late
                # packet of a finished connection only its connection's partition
                if n != skipped0.get(reason, 0) and (index == 0 or reason in OWN_SKIPS):
                    skipped[reason] = n - skipped0.get(reason, 0)
            if index == 0:
                for reason, n in getattr(cf, "skipped", {}).items():  # a backend's
                    skipped[reason] = skipped.get(reason, 0) + n
            caps[i] = CaptureRecord(
                path=path, format=cf.format, packets=cf.packets,
                tcp_packets=table.tcp_packets - tcp0, skipped=dict(sorted(skipped.items())),
                truncated=cf.truncated, warnings=list(cf.warnings), group=group,
            )
        if table is not None:
            close_group(table)
        for i, cap in caps.items():
            cap.missing_bytes = missing.get(i, 0)
            cap.anomalies = anomalies.get(i, {})
        return [caps[i] for i in range(len(paths))]
    finally:
        if enabled:
            gc.enable()


def merge_parts(parts: list[Part]) -> list[CaptureRecord]:
    """The partitions' counters as one: per file, partition 0's record (it counted what
    is not TCP) plus the others' TCP counters."""
    captures = parts[0]
    for k, cap in enumerate(captures):
        for caps in parts[1:]:
            other = caps[k]
            cap.tcp_packets += other.tcp_packets
            for reason, n in other.skipped.items():  # (OWN_SKIPS)
                cap.skipped[reason] = cap.skipped.get(reason, 0) + n
            cap.missing_bytes += other.missing_bytes
            for a, n in other.anomalies.items():
                cap.anomalies[a] = cap.anomalies.get(a, 0) + n
        cap.skipped = dict(sorted(cap.skipped.items()))
        cap.anomalies = dict(sorted(cap.anomalies.items()))
        if cap.missing_bytes:
            cap.warnings.append(missing_warning(cap.missing_bytes))
    return captures


def missing_warning(missing: int) -> str:
    return (
        f"{missing} bytes of TCP payload were not in the capture "
        "(loss or snaplen); verdicts rest on what was seen"
    )
