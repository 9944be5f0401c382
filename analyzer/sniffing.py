"""sniff(): the same pipeline fed by a live capture (scapy on a packet socket, Linux),
until a duration, a packet count or Ctrl-C; the packets can be saved as pcap, and
``keepalive analyze`` of that file gives the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from analyzer.analysis import Analysis
from analyzer.core.classify import mark_uncertain
from analyzer.core.flows import IDLE_TIMEOUT, FlowTable
from analyzer.core.keylog import KeyLog
from analyzer.core.records import CaptureRecord, ConnectionRecord
from analyzer.passes import missing_warning


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
    tls_keylog: str | None = None,
) -> Analysis:
    """Capture live (scapy) until ``duration`` seconds, ``count`` packets or Ctrl-C, and
    analyse what was seen exactly as :func:`analyze` would analyse a file of it.

    ``write`` saves those packets as pcap; ``on_tick(table)`` is called about once a
    second (under a lock) for a live view; ``on_start(iface)`` once the socket is open.
    Under sudo the process becomes the invoking user as soon as the socket is open
    (``drop_privileges``), so the files it writes are theirs; ``on_ready()`` runs then,
    before the capture starts (the CLI opens its report file there).
    ``tls_keylog``: the NSS key log the traced programs write as they run
    (SSLKEYLOGFILE): read again whenever a TLS connection's secrets are not in it yet.
    Raises :class:`~analyzer.capture.live.PrivilegeError` without root/CAP_NET_RAW.
    """
    import threading

    from analyzer.capture import live
    from analyzer.pipeline import finish
    from analyzer.store import ConnectionStore, ExchangeStore

    cap = live.LiveCapture(iface, capture_filter(ports, bpf))
    store: ExchangeStore | None = None
    conns: ConnectionStore | None = None
    try:
        # The packet socket is the only thing opened with privileges: under sudo, become
        # the invoking user now, so every file below is theirs (and only where they may).
        if drop_privileges:
            live.drop_privileges()
        # A live capture may run for hours: exchanges go to disk as they complete, and
        # connections past the store's limit too — the same stores as a file analysis.
        store, conns = ExchangeStore(), ConnectionStore()
        if write is not None:
            cap.write_to(write)
        if on_ready is not None:
            on_ready()
        name = f"live:{cap.iface}"
        missing = 0
        anomalies: dict[str, int] = {}

        def finished(c: ConnectionRecord) -> None:
            nonlocal missing
            assert store is not None and conns is not None
            c.exchange_runs = store.take(c.id)
            missing += c.missing_bytes
            for k, v in c.anomalies.items():
                anomalies[k] = anomalies.get(k, 0) + v
            conns.add(c)

        table = FlowTable(
            name, idle_timeout=idle_timeout, spool=store.add, show_secrets=show_secrets,
            on_record=finished,
            keylog=FollowedKeyLog(tls_keylog) if tls_keylog is not None else None,
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
            table.finish()
        warnings = []
        if dropped:
            warnings.append(
                f"the kernel dropped {dropped} of {received + dropped} packets: the result "
                "is incomplete (raise the load limit or narrow the filter with --port)"
            )
        record = capture_record(
            table, name, "live", cap.frames, warnings, missing, anomalies
        )
        record.dropped = dropped
        result = finish([record], conns, store)
        if dropped:
            _dropped(result, dropped)
        return result
    except BaseException:
        if store is not None:
            store.close()
        if conns is not None:
            conns.close()
        raise
    finally:
        cap.close()


def _dropped(result: Analysis, dropped: int) -> None:
    """Packets the kernel dropped can change any diagnosis: each says so."""
    for srv in result.server_records:
        srv.evidence += (
            f" (caution: the kernel dropped {dropped} packets during the capture; "
            "the verdict rests on what was seen)"
        )
        mark_uncertain(
            srv, f"the kernel dropped {dropped} packets during the capture",
            "capture again with a narrower filter (--port) or a lower load",
        )


def capture_record(
    table: FlowTable,
    path: str,
    fmt: str,
    packets: int,
    warnings: list[str],
    missing: int,
    anomalies: dict[str, int],
) -> CaptureRecord:
    """A live capture's record (a file's are built by :func:`~analyzer.passes.run_partition`): its
    counters, and the missing bytes and anomalies of its connections, summed."""
    cap = CaptureRecord(
        path=path,
        format=fmt,
        packets=packets,
        tcp_packets=table.tcp_packets,
        skipped=dict(sorted(table.skipped.items())),
        truncated=False,
        warnings=warnings,
        anomalies=dict(sorted(anomalies.items())),
        missing_bytes=missing,
    )
    if missing:
        cap.warnings.append(missing_warning(missing))
    return cap


class FollowedKeyLog(KeyLog):
    """A key log that programs are still writing: a lookup that misses reads what was
    appended to the file since (a live capture sees a connection's records moments after
    its program wrote the secrets)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.offset = 0
        self._follow()

    def _follow(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return  # not written yet (the program creates it on its first connection)
        end = data.rfind(b"\n") + 1  # whole lines only: the rest is still being written
        if end:
            self.add(data[:end])
            self.offset += end

    def secrets(self, client_random: bytes) -> dict[str, bytes] | None:
        found = super().secrets(client_random)
        if found is None:
            self._follow()
            found = super().secrets(client_random)
        return found
