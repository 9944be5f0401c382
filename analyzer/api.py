"""The public API: :func:`analyze` a capture (or several) into an :class:`Analysis`.

This module wires the pipeline together: capture → decode → flows → streams → http1 →
exchanges → classify → records, and offers the records as pandas DataFrames (imported
only when asked for) and as the JSON contract of DESIGN.md.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import json
import os
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import attrgetter
from typing import IO, TYPE_CHECKING, Any

from analyzer.capture.canonical import BackendCapture, open_backend
from analyzer.capture.files import CaptureFile, Record, first_timestamp, open_capture
from analyzer.core.classify import diagnose
from analyzer.core.flows import IDLE_TIMEOUT, FlowTable
from analyzer.core.records import (
    CaptureRecord,
    ConnectionRecord,
    ExchangeRecord,
    ServerRecord,
)
from analyzer.errors import AnalyzerError

if TYPE_CHECKING:
    import pandas as pd

    from analyzer.core.classify import Classification
    from analyzer.output.spool import ExchangeSpool
    from analyzer.output.store import ConnectionStore, ExchangeStore

SCHEMA = "keepalive-analyzer/1"
# An analysis whose exchanges encode to at most this many bytes keeps them in memory, in
# their connections' ``exchanges`` (as small analyses always did); a larger one keeps
# them on disk (analyzer.output.store) and reads them back when asked.
INLINE_BYTES = 4 << 20


class Analysis:
    """The result of an analysis: captures, connections, exchanges and servers.

    ``connections``, ``exchanges`` and ``servers`` are pandas DataFrames with declared
    dtypes (typed even when empty); the plain records are in ``*_records``.

    The exchanges of a large analysis (and of a live capture) are on disk, in ``spool``:
    ``exchange_records`` reads them back, and the connections' ``exchanges`` lists are
    empty (each keeps ``exchange_count`` and ``last_exchange``). The connections of an
    analysis with more than ``store.MEMORY_CONNECTIONS`` of them, or of input files over
    ``store.STREAM_BYTES`` in all, are on disk too:
    ``connection_records`` is then a :class:`~analyzer.output.store.ConnectionStore`
    (iterate it, ``len()`` it, index or slice it; ``list()`` loads them all). The
    temporary files go with the Analysis.
    """

    def __init__(
        self,
        captures: list[CaptureRecord],
        connections: Sequence[ConnectionRecord],
        servers: list[ServerRecord],
        spool: ExchangeSpool | ExchangeStore | None = None,
    ) -> None:
        self.capture_records = captures
        self.connection_records = connections
        self.server_records = servers
        self.spool = spool  # exchanges on disk (large or live), else in the connections

    @property
    def exchange_records(self) -> list[ExchangeRecord]:
        """Every exchange (read back from the spool when there is one)."""
        if self.spool is not None:
            return list(self.spool.records())
        return [e for c in self.connection_records for e in c.exchanges]

    @property
    def exchange_count(self) -> int:
        return sum(c.exchange_count for c in self.connection_records)

    @property
    def connections(self) -> pd.DataFrame:
        from analyzer import tables

        return tables.connections_frame(self.connection_records)

    @property
    def exchanges(self) -> pd.DataFrame:
        from analyzer import tables

        return tables.exchanges_frame(self.exchange_records)

    @property
    def servers(self) -> pd.DataFrame:
        from analyzer import tables

        return tables.servers_frame(self.server_records)

    def to_dict(self) -> dict[str, Any]:
        from analyzer.output.jsonout import analysis_dict

        return analysis_dict(self)

    def to_json(self, indent: int | None = None) -> str:
        """The JSON contract as a string: one record per line, or ``indent``-ed."""
        if indent is not None:
            return json.dumps(self.to_dict(), indent=indent)
        import io

        from analyzer.output.jsonout import write_json

        buf = io.BytesIO()
        write_json(self, buf)
        return buf.getvalue().decode()

    def write_json(self, fh: IO[bytes]) -> None:
        """Stream the JSON contract to a file opened in binary mode."""
        from analyzer.output.jsonout import write_json

        write_json(self, fh)

    def __repr__(self) -> str:
        return (
            f"<Analysis captures={len(self.capture_records)} "
            f"connections={len(self.connection_records)} "
            f"exchanges={self.exchange_count} servers={len(self.server_records)}>"
        )


def analyze(
    paths: str | Iterable[str],
    *,
    idle_timeout: float = IDLE_TIMEOUT,
    on_warning: Callable[[str], None] | None = None,
    show_secrets: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
    backend: str = "native",
    jobs: int | None = None,
    dask: str | None = None,
    merge: bool | None = None,
) -> Analysis:
    """Analyse one capture file or several (pcap, pcapng, optionally .gz).

    Several files are one capture cut in parts (tcpdump ``-C``/``-G``, ``editcap -c``)
    when they follow each other: they are read in order of their first packet, and a
    file whose first packet is not earlier than the last packet read before it continues
    that capture, so a connection that crosses a file boundary is one connection. A file
    that starts earlier (overlapping captures of the same traffic, e.g. client and server
    side) starts a new, separate group. So does, by default (``merge`` None), a file
    whose name is not of the same rotated series as the one before it (``before.pcap``
    then ``after.pcap``: two experiments; ``dump.pcap``, ``dump.pcap1``: one capture);
    ``merge=True`` stitches every file that follows the one before it, ``merge=False``
    analyses every file apart. Each group gets verdicts of its own (``servers[].capture``
    names the group's first file when there are several) and each file says in its
    warnings how it was taken. Connections are numbered C1, C2, … in order of first
    packet (group by group); each names the file where it started.

    Raises :class:`~analyzer.errors.CaptureError` (one line naming the file and the
    problem) for a file that cannot be read; a truncated capture gives what it held,
    with a warning in ``captures[].warnings`` (and to ``on_warning``). Secrets in request
    targets (URL userinfo, token-like query values) are masked unless ``show_secrets``.
    ``on_progress(path, bytes_read, packets)`` is called after each chunk (~1 MiB; not
    with ``jobs`` > 1 or ``dask``).
    ``backend``: ``native`` (our own readers), ``scapy`` or ``pyshark`` (docs/backends.md).

    ``jobs``: run that many partitions in as many processes. Connections are split by
    their 4-tuple; every process reads every packet, keeps its own connections' state,
    and the results are merged: the same result as ``jobs=1``, to the byte. ``dask``:
    the address of a dask.distributed scheduler (``tcp://host:8786``) whose workers run
    the partitions instead (``jobs`` of them, default: the cluster's threads); the files
    must be readable by the workers at the same path (``pip install
    keepalive-analyzer[dask]``). Worker processes are started fresh (forkserver), so a
    script that calls ``analyze(jobs=N)`` does it under ``if __name__ == "__main__":``.
    """
    from analyzer.output.store import ConnectionStore, ExchangeStore

    paths = [paths] if isinstance(paths, str) else [str(p) for p in paths]
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise AnalyzerError(f"jobs must be a whole number of at least 1, not {jobs!r}")
    enabled = gc.isenabled()
    gc.disable()  # the pass makes no cycles worth collecting; saves a few percent
    store = ExchangeStore()  # the exchanges, on disk (memory follows open connections)
    conns = ConnectionStore(_connections_limit(paths))  # the connections: on disk when many
    try:
        order = _file_order(paths, backend)
        breaks = _breaks(paths, order, merge)
        if dask is not None:
            # workers elsewhere: absolute paths (the files must be there at the same path)
            sources = [os.path.abspath(p) for p in paths]
            parts = _run_dask(dask, jobs, (paths, sources, order, idle_timeout, show_secrets,
                                           backend, breaks), store, conns)
        elif jobs is not None and jobs > 1:
            parts = _run_processes(jobs, (paths, paths, order, idle_timeout, show_secrets,
                                          backend, breaks), store, conns)
        else:
            parts = [_partition(paths, paths, order, idle_timeout, show_secrets, backend,
                                breaks, 0, 1, on_progress=on_progress, store=store,
                                conns=conns)]
        captures = _merge(parts)
        _say_groups(captures, order, breaks)
        if on_warning is not None:
            for cap in captures:
                for w in cap.warnings:
                    on_warning(f"{cap.path}: {w}")
        return _finish(captures, conns, store)
    except BaseException:
        store.close()
        conns.close()
        raise
    finally:
        if enabled:
            gc.enable()


def _finish(
    captures: list[CaptureRecord], conns: ConnectionStore, store: ExchangeStore
) -> Analysis:
    """All connections are in: number them, diagnose them, order their exchanges."""
    conns.seal()
    connections: list[ConnectionRecord] | ConnectionStore = conns
    groups = {c.path: c.group for c in captures} if len({c.group for c in captures}) > 1 else None
    if not conns.spilled:
        connections = conns.records
        _renumber(connections)
        servers = diagnose(connections, groups)
    else:
        # two passes over the connections on disk: by id (mostly by start too), else put
        # in order of start through a window, else (by id is far from by start:
        # overlapping files, a clock that went back) sorted in memory, not flat
        found = _classify_on_disk(conns, groups)
        if found is not None:
            conns.codes = found.codes
            servers = found.servers
        else:
            connections = list(conns)
            conns.close()
            servers = diagnose(connections, groups)
    return Analysis(captures, connections, servers, _settle(store, conns, connections))


def _classify_on_disk(
    conns: ConnectionStore, groups: dict[str, int] | None
) -> Classification | None:
    from analyzer.core.classify import OutOfOrder, by_start, classify

    try:
        return classify(lambda: enumerate(conns), len(conns), groups)
    except OutOfOrder:
        pass
    try:
        return classify(lambda: by_start(enumerate(conns)), len(conns), groups)
    except OutOfOrder:
        return None


def _connections_limit(paths: list[str]) -> int:
    """How many finished connections stay in memory: none for a big capture (its
    connections go to disk from the start), else the store's default."""
    from analyzer.output import store

    size = 0
    for p in paths:
        try:
            size += os.path.getsize(p)
        except OSError:
            pass  # (reading it will say what is wrong)
    return 0 if size > store.STREAM_BYTES else -1


def _settle(
    store: ExchangeStore,
    conns: ConnectionStore,
    connections: list[ConnectionRecord] | ConnectionStore,
) -> ExchangeStore | None:
    """The connections are final: order the stored exchanges by them. A small analysis
    takes its exchanges back into memory (``INLINE_BYTES``)."""
    if isinstance(connections, list):
        store.seal(lambda: ((c.id, c.exchange_runs) for c in connections))
    else:  # on disk: read again, in order, when the report is
        store.seal(conns.runs)
    if not isinstance(connections, list) or store.size > INLINE_BYTES:
        return store
    store.attach(connections)
    store.close()
    return None


def _say_groups(captures: list[CaptureRecord], order: list[int], breaks: list[int]) -> None:
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
                "seen twice?)"
            )


def _series_name(path: str) -> str:
    """A file's name without its digits: the parts of one rotated capture (tcpdump -C/-G
    ``dump.pcap``, ``dump.pcap1`` …; editcap ``out_00000_20261202….pcap``) share it."""
    name = os.path.basename(path)
    if name.endswith(".gz"):  # one part compressed, the others not: still one series
        name = name[:-3]
    return re.sub(r"\d+", "", name)


def _breaks(paths: list[str], order: list[int], merge: bool | None) -> list[int]:
    """The files that start a group of their own, besides those that overlap the files
    before them (:func:`_partition` finds those while reading). ``merge`` None: a file
    whose name is not of the same series as the one read before it is another experiment
    (``a.pcap`` then ``b.pcap``), analysed apart; True: none (files that follow each
    other are one capture); False: every file."""
    if merge is True:
        return []
    if merge is False:
        return list(order[1:])
    return [
        j for i, j in zip(order, order[1:], strict=False)
        if _series_name(paths[i]) != _series_name(paths[j])
    ]


def _file_order(paths: list[str], backend: str) -> list[int]:
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
_RUNS = ("pcap", "pcap.gz")  # formats whose records FlowTable.feed_pcap walks itself


def _chunks(
    cf: CaptureFile | BackendCapture,
) -> Iterator[tuple[float | None, Callable[[FlowTable], int]]]:
    """A capture chunk by chunk: the time of the chunk's first packet, and how to feed
    the chunk to a table (returns its packets). Classic pcap comes as runs of records
    the table walks itself (no tuple per packet); the rest as record lists."""
    if isinstance(cf, CaptureFile) and cf.format in _RUNS:
        little, scale, lt = cf.little_endian, cf.ts_scale, cf.linktype
        for buf, start, end, _n in cf.runs():

            def run(t: FlowTable, b: bytes = buf, s: int = start, e: int = end) -> int:
                return t.feed_pcap(b, s, e, little, scale, lt)

            yield cf.record_ts(buf, start), run
        return
    for buf, records in cf.batches():

        def batch(t: FlowTable, b: bytes = buf, r: list[Record] = records) -> int:
            t.feed(b, r)
            return len(r)

        yield (records[0][0] if records else None), batch
# what every partition is given: paths, paths to open, order, idle_timeout, show_secrets,
# backend
PartArgs = tuple[list[str], list[str], list[int], float, bool, str, list[int]]


def _partition(
    paths: list[str],
    sources: list[str],
    order: list[int],
    idle_timeout: float,
    show_secrets: bool,
    backend: str,
    breaks: list[int],
    index: int,
    count: int,
    on_progress: Callable[[str, int, int], None] | None = None,
    fileobjs: dict[int, IO[bytes]] | None = None,
    store: ExchangeStore | None = None,
    *,
    conns: ConnectionStore,
) -> Part:
    """One partition (``index`` of ``count``) of the whole analysis: every file, in
    ``order``, grouped as :func:`analyze` says. Runs in this process or in a worker
    (process pool, dask): arguments and result pickle. Returns per file (in the order
    given) its counters — TCP packets, missing bytes and anomalies of *this* partition's
    connections; packets, skips, warnings of the file. This partition's connections go
    to ``conns`` as they finish, ``capture`` set and ``first`` counted over all records
    read (the merge numbers them by it); their exchanges go to ``store``, and each
    connection notes where (``exchange_runs``)."""
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

        def close_group(table: FlowTable) -> int:
            table.finish()
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
            chunks = _chunks(cf)
            first = next(chunks, None)
            first_ts = first[0] if first is not None else None
            overlaps = first_ts is not None and table is not None and table.fed and (
                first_ts < table.now
            )
            if table is None or overlaps or i in breaks:
                # Not a continuation (its first packet is earlier than the last one read,
                # or it is another experiment: _breaks): a separate group, with a table of
                # its own.
                group += 1
                if table is not None:
                    base = close_group(table)
                if store is not None:
                    store.mark()
                table = FlowTable(
                    path, idle_timeout=idle_timeout, show_secrets=show_secrets,
                    partition=(index, count), spool=store.add if store is not None else None,
                    on_record=finished,
                )
                los, files = [], []
            table.capture = path
            los.append(table.fed)
            files.append(i)
            tcp0, skipped0 = table.tcp_packets, dict(table.skipped)
            packets = 0
            if first is not None:
                for _ts, feed in itertools.chain((first,), chunks):
                    n = feed(table)
                    if on_progress is not None:
                        packets += n
                        on_progress(path, cf.bytes_read, packets)
            skipped: dict[str, int] = {}
            if index == 0:  # what is not TCP is every partition's: partition 0 counts it
                for reason, n in table.skipped.items():
                    if n != skipped0.get(reason, 0):
                        skipped[reason] = n - skipped0.get(reason, 0)
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


def _merge(parts: list[Part]) -> list[CaptureRecord]:
    """The partitions' counters as one: per file, partition 0's record (it counted what
    is not TCP) plus the others' TCP counters."""
    captures = parts[0]
    for k, cap in enumerate(captures):
        for caps in parts[1:]:
            other = caps[k]
            cap.tcp_packets += other.tcp_packets
            cap.missing_bytes += other.missing_bytes
            for a, n in other.anomalies.items():
                cap.anomalies[a] = cap.anomalies.get(a, 0) + n
        cap.anomalies = dict(sorted(cap.anomalies.items()))
        if cap.missing_bytes:
            cap.warnings.append(_missing_warning(cap.missing_bytes))
    return captures


# What a worker sends back: each record as plain values (store.pack_connection: its
# fields in declaration order, the same in both processes: same source), so the parent
# rebuilds them with its own classes — compiled (mypyc) or not on either side, which
# pickled objects would not survive. Tuples of ints, floats and strings pickle ~5x faster
# than dicts or objects. The exchanges travel as the worker's exchange store (encoded
# lines, ExchangeStore.export); each connection says where its own are.
Wire = tuple[list[tuple[Any, ...]], Any, Any]

_CAPTURE_FIELDS = tuple(f.name for f in dataclasses.fields(CaptureRecord))
_capture_tuple = attrgetter(*_CAPTURE_FIELDS)


def _run_part(
    args: PartArgs, index: int, count: int, directory: str | None = None,
    limit: int | None = None,
) -> Wire:
    """One partition in a worker (process pool, dask): importable, so it pickles. Its
    exchanges come back as its store's file in ``directory`` (a parent on the same
    machine reads it there), or as bytes; its connections as plain values, or, past
    ``limit`` of them (ConnectionStore; None: no limit), as the blocks of a connection
    store, by file or bytes the same way."""
    from analyzer.output.store import ConnectionStore, ExchangeStore, pack_connection

    store = ExchangeStore(directory)
    conns = ConnectionStore(limit, directory)
    try:
        caps = _partition(*args, index, count, store=store, conns=conns)
        conns.seal()
        if conns.spilled:
            out: Any = conns.export()
        else:
            out = [pack_connection(c) for c in conns.records]
        return [_capture_tuple(c) for c in caps], out, store.export()
    finally:
        store.close()
        conns.close()


def _unwire(wire: Wire, store: ExchangeStore, conns: ConnectionStore) -> Part:
    """A worker's result as records: its connections join ``conns``, its exchanges
    ``store`` (and the connections' exchange runs are shifted to where they landed)."""
    from analyzer.output.store import unpack_connection

    caps, packed, exchanges = wire
    base = store.adopt(exchanges)
    if isinstance(packed, tuple):  # on disk (ConnectionStore.export)
        conns.adopt(packed, base)
    else:
        for t in packed:
            c = unpack_connection(t)
            if c.exchange_runs:
                c.exchange_runs = [x + base for x in c.exchange_runs]
            conns.add(c)
    return [CaptureRecord(*c) for c in caps]


def _run_processes(
    jobs: int, args: PartArgs, store: ExchangeStore, conns: ConnectionStore
) -> list[Part]:
    """The partitions in a pool of ``jobs`` processes (started fresh: no fork of a
    process that may hold threads). Their exchange files go to a temporary directory of
    ours, removed when done (whatever happens to the workers)."""
    import multiprocessing
    import tempfile
    from concurrent.futures import ProcessPoolExecutor

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method))
    with tempfile.TemporaryDirectory(prefix="keepalive-") as directory:
        try:
            futures = [
                pool.submit(_run_part, args, i, jobs, directory, conns.limit)
                for i in range(jobs)
            ]
            futures.reverse()
            parts = []
            while futures:  # in order; each result dropped once unwired
                parts.append(_unwire(futures.pop().result(), store, conns))
            return parts
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


DASK_CONNECT_TIMEOUT = 5.0  # seconds to reach the scheduler
DASK_WORKERS_TIMEOUT = 60.0  # seconds to wait for a first worker, if none has joined


def _run_dask(
    address: str, jobs: int | None, args: PartArgs, store: ExchangeStore,
    conns: ConnectionStore,
) -> list[Part]:
    """The partitions as tasks on a dask.distributed cluster (imported only now)."""
    try:
        from distributed import Client
    except ImportError:
        raise AnalyzerError(
            "--dask needs dask.distributed: pip install 'keepalive-analyzer[dask]'"
        ) from None
    _probe_scheduler(address)
    try:
        client = Client(address, timeout=DASK_CONNECT_TIMEOUT, set_as_default=False)
    except Exception as e:  # OSError, TimeoutError, …
        raise AnalyzerError(
            f"cannot reach the dask scheduler at {address}: {_one_line(e)}"
        ) from None
    with client:
        threads = sum(client.nthreads().values())
        if not threads:
            try:
                client.wait_for_workers(1, timeout=DASK_WORKERS_TIMEOUT)
            except Exception:
                raise AnalyzerError(
                    f"the dask scheduler at {address} has no workers (none joined within "
                    f"{DASK_WORKERS_TIMEOUT:.0f} s): start some with `dask worker {address}`"
                ) from None
            threads = sum(client.nthreads().values())
        n = jobs or max(1, threads)
        futures = [
            client.submit(_run_part, args, i, n, None, conns.limit, pure=False)  # a fresh key
            for i in range(n)
        ]
        try:
            return [_unwire(f.result(), store, conns) for f in futures]  # one at a time
        except ImportError as e:
            raise AnalyzerError(
                f"a dask worker cannot run the analysis ({_one_line(e)}): install "
                "keepalive-analyzer where the workers run"
            ) from None


def _probe_scheduler(address: str) -> None:
    """Fail fast, in one line, on a bad address or a closed port: a dask Client that
    fails to connect waits out its timeout, and again when it is collected."""
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, loc = parse_address(address)
        if scheme not in ("tcp", "tls"):
            return  # inproc://, ucx://: let the Client try
        host, port = parse_host_port(loc)
    except ValueError as e:
        raise AnalyzerError(f"bad dask scheduler address {address!r}: {_one_line(e)}") from None
    try:
        socket.create_connection((host, port), timeout=DASK_CONNECT_TIMEOUT).close()
    except OSError as e:
        why = e.strerror or _one_line(e) if not isinstance(e, TimeoutError) else (
            f"no answer within {DASK_CONNECT_TIMEOUT:.0f} s"
        )
        raise AnalyzerError(
            f"cannot reach the dask scheduler at {address}: {why} (start one with "
            "`dask scheduler`, then workers with `dask worker ADDRESS`)"
        ) from None
    if scheme != "tcp":
        return  # TLS needs the cluster's security settings: the Client has them
    # Something listens: ask it who it is (a Client talking to something else waits
    # forever).
    import asyncio

    from distributed.comm import connect

    async def identify() -> object:
        comm = await connect(address, timeout=DASK_CONNECT_TIMEOUT)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    try:
        who = asyncio.run(asyncio.wait_for(identify(), DASK_CONNECT_TIMEOUT))
    except Exception:  # a timeout, garbage read as a message, …
        who = None
    if not isinstance(who, dict) or who.get("type") != "Scheduler":
        raise AnalyzerError(
            f"no dask scheduler answers at {address} (something else listens there)"
        )


def _one_line(e: BaseException) -> str:
    s = str(e).strip() or type(e).__name__
    return s.splitlines()[0]


def _missing_warning(missing: int) -> str:
    return (
        f"{missing} bytes of TCP payload were not in the capture "
        "(loss or snaplen); verdicts rest on what was seen"
    )


def _capture_record(
    table: FlowTable,
    conns: list[ConnectionRecord],
    path: str,
    fmt: str,
    packets: int,
    truncated: bool,
    warnings: list[str],
) -> CaptureRecord:
    cap = CaptureRecord(
        path=path,
        format=fmt,
        packets=packets,
        tcp_packets=table.tcp_packets,
        skipped=dict(sorted(table.skipped.items())),
        truncated=truncated,
        warnings=warnings,
    )
    for c in conns:
        cap.missing_bytes += c.missing_bytes
        for k, v in c.anomalies.items():
            cap.anomalies[k] = cap.anomalies.get(k, 0) + v
    if cap.missing_bytes:
        cap.warnings.append(_missing_warning(cap.missing_bytes))
    return cap


def _renumber(connections: list[ConnectionRecord]) -> None:
    """Ids follow the first packet across all files and partitions (DESIGN: "order of
    first packet, stable"), whatever order the files were named in: ``first`` counts every
    record read, group after group."""
    connections.sort(key=attrgetter("first"))
    for i, c in enumerate(connections, 1):
        cid = f"C{i}"
        if c.id == cid:
            continue
        c.id = cid
        for e in c.exchanges:
            e.connection = cid
        if c.last_exchange is not None:
            c.last_exchange.connection = cid

def capture_filter(ports: Iterable[int] = (), bpf: str | None = None) -> str:
    """The BPF filter of a live capture: TCP, on these ports, and the user's own."""
    f = "tcp"
    ports = list(ports)
    if ports:
        f += " and (" + " or ".join(f"port {int(p)}" for p in ports) + ")"
    if bpf:
        f = f"({f}) and ({bpf})"
    return f


def sniff(
    iface: str | None = None,
    *,
    ports: Iterable[int] = (),
    bpf: str | None = None,
    duration: float | None = None,
    count: int | None = None,
    write: str | None = None,
    idle_timeout: float = IDLE_TIMEOUT,
    on_tick: Callable[[FlowTable], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    on_ready: Callable[[], None] | None = None,
    drop_privileges: bool = True,
    show_secrets: bool = False,
) -> Analysis:
    """Capture live (scapy) until ``duration`` seconds, ``count`` packets or Ctrl-C, and
    analyse what was seen exactly as :func:`analyze` would analyse a file of it.

    ``write`` saves those packets as pcap; ``on_tick(table)`` is called about once a
    second (under a lock) for a live view; ``on_start(iface)`` once the socket is open.
    Under sudo the process becomes the invoking user as soon as the socket is open
    (``drop_privileges``), so the files it writes are theirs; ``on_ready()`` runs then,
    before the capture starts (the CLI opens its report file there).
    Raises :class:`~analyzer.capture.live.PrivilegeError` without root/CAP_NET_RAW.
    """
    import threading

    from analyzer.capture import live
    from analyzer.output.spool import ExchangeSpool

    cap = live.LiveCapture(iface, capture_filter(ports, bpf))
    spool = None
    try:
        # The packet socket is the only thing opened with privileges: under sudo, become
        # the invoking user now, so every file below is theirs (and only where they may).
        if drop_privileges:
            live.drop_privileges()
        spool = ExchangeSpool()  # a live capture may run for hours: exchanges go to disk
        if write is not None:
            cap.write_to(write)
        if on_ready is not None:
            on_ready()
        name = f"live:{cap.iface}"
        table = FlowTable(
            name, idle_timeout=idle_timeout, spool=spool.add, show_secrets=show_secrets
        )
        lock = threading.Lock()

        def on_batch(buf: bytes, records: list[tuple[float, int, int, int, int]]) -> None:
            with lock:
                table.feed(buf, records)

        def tick() -> None:
            if on_tick is not None:
                with lock:
                    on_tick(table)

        cap.run(
            on_batch, duration=duration, count=count, tick=tick,
            started=(lambda: on_start(cap.iface)) if on_start is not None else None,
        )
        received, dropped = cap.close()
        with lock:
            conns = table.finish()
        warnings = []
        if dropped:
            warnings.append(
                f"the kernel dropped {dropped} of {received + dropped} packets: the result "
                "is incomplete (raise the load limit or narrow the filter with --port)"
            )
        record = _capture_record(table, conns, name, "live", cap.frames, False, warnings)
        record.dropped = dropped
        servers = diagnose(conns)
        if dropped:
            for srv in servers:
                srv.evidence += (
                    f" (caution: the kernel dropped {dropped} packets during the capture; "
                    "the verdict rests on what was seen)"
                )
        return Analysis([record], conns, servers, spool)
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    finally:
        cap.close()


def analyze_bytes(data: bytes, name: str = "<bytes>") -> Analysis:
    """Analyse a capture held in memory (tests, fuzzing): the same path as a file."""
    import io

    from analyzer.output.store import ConnectionStore, ExchangeStore

    store = ExchangeStore()
    conns = ConnectionStore()
    try:
        part = _partition([name], [name], [0], IDLE_TIMEOUT, False, "native", [], 0, 1,
                          fileobjs={0: io.BytesIO(data)}, store=store, conns=conns)
        return _finish(_merge([part]), conns, store)
    except BaseException:
        store.close()
        conns.close()
        raise
