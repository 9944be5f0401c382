"""The public API: :func:`analyze` a capture (or several) into an :class:`Analysis`.

This module wires the pipeline together: capture → decode → flows → streams → http1 →
exchanges → classify → records, and offers the records as pandas DataFrames (imported
only when asked for) and as the JSON contract of DESIGN.md.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING, Any

from analyzer.capture.canonical import BackendCapture, open_backend
from analyzer.capture.files import CaptureFile, open_capture
from analyzer.core.classify import diagnose
from analyzer.core.flows import IDLE_TIMEOUT, FlowTable
from analyzer.core.records import (
    CaptureRecord,
    ConnectionRecord,
    ExchangeRecord,
    ServerRecord,
)

if TYPE_CHECKING:
    import pandas as pd

    from analyzer.output.spool import ExchangeSpool

SCHEMA = "keepalive-analyzer/1"


class Analysis:
    """The result of an analysis: captures, connections, exchanges and servers.

    ``connections``, ``exchanges`` and ``servers`` are pandas DataFrames with declared
    dtypes (typed even when empty); the plain records are in ``*_records``.
    """

    def __init__(
        self,
        captures: list[CaptureRecord],
        connections: list[ConnectionRecord],
        servers: list[ServerRecord],
        spool: ExchangeSpool | None = None,
    ) -> None:
        self.capture_records = captures
        self.connection_records = connections
        self.server_records = servers
        self.spool = spool  # exchanges on disk (live captures), else in the connections

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
) -> Analysis:
    """Analyse one capture file or several (pcap, pcapng, optionally .gz).

    Raises :class:`~analyzer.errors.CaptureError` (one line naming the file and the
    problem) for a file that cannot be read; a truncated capture gives what it held,
    with a warning in ``captures[].warnings`` (and to ``on_warning``). Secrets in request
    targets (URL userinfo, token-like query values) are masked unless ``show_secrets``.
    ``on_progress(path, bytes_read, packets)`` is called after each chunk (~1 MiB).
    ``backend``: ``native`` (our own readers), ``scapy`` or ``pyshark`` (docs/backends.md).
    """
    if isinstance(paths, str):
        paths = [paths]
    captures: list[CaptureRecord] = []
    connections: list[ConnectionRecord] = []
    next_id = 1
    enabled = gc.isenabled()
    gc.disable()  # the pass makes no cycles worth collecting; saves a few percent
    try:
        for path in paths:
            cap, conns = _analyze_file(
                path, next_id, idle_timeout, show_secrets, on_progress=on_progress,
                backend=backend,
            )
            next_id += len(conns)
            captures.append(cap)
            connections.extend(conns)
            if on_warning is not None:
                for w in cap.warnings:
                    on_warning(f"{path}: {w}")
        if len(captures) > 1:
            _renumber(connections)
        servers = diagnose(connections)
        return Analysis(captures, connections, servers)
    finally:
        if enabled:
            gc.enable()


def _analyze_file(
    path: str,
    first_id: int,
    idle_timeout: float,
    show_secrets: bool = False,
    fileobj: IO[bytes] | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
    backend: str = "native",
) -> tuple[CaptureRecord, list[ConnectionRecord]]:
    cf: CaptureFile | BackendCapture = (
        open_capture(path, fileobj) if backend == "native" else open_backend(path, backend)
    )
    table = FlowTable(
        path, first_id=first_id, idle_timeout=idle_timeout, show_secrets=show_secrets
    )
    packets = 0
    for buf, records in cf.batches():
        table.feed(buf, records)
        if on_progress is not None:
            packets += len(records)
            on_progress(path, cf.bytes_read, packets)
    for reason, n in getattr(cf, "skipped", {}).items():  # what a backend could not use
        table.skipped[reason] = table.skipped.get(reason, 0) + n
    conns = table.finish()
    return _capture_record(
        table, conns, path, cf.format, cf.packets, cf.truncated, list(cf.warnings)
    ), conns


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
        cap.warnings.append(
            f"{cap.missing_bytes} bytes of TCP payload were not in the capture "
            "(loss or snaplen); verdicts rest on what was seen"
        )
    return cap


def _renumber(connections: list[ConnectionRecord]) -> None:
    """Several files: ids follow the first packet across all of them (DESIGN: "order of
    first packet, stable"), whatever order the files were named in."""
    connections.sort(key=lambda c: (c.start, int(c.id[1:])))
    for i, c in enumerate(connections, 1):
        cid = f"C{i}"
        c.id = cid
        for e in c.exchanges:
            e.connection = cid


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

    cap, conns = _analyze_file(name, 1, IDLE_TIMEOUT, fileobj=io.BytesIO(data))
    return Analysis([cap], conns, diagnose(conns))
