"""``keepalive sniff``: capture live (:func:`analyzer.sniff`), a live view on the way, and
the report of ``analyze`` when it stops."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Annotated

import typer

from analyzer.cli.results import create, emit
from analyzer.cli.shared import FormatName, MaxRows, ShowSecrets, TlsKeylog, chosen, warn
from analyzer.output import get_format


def sniff(
    iface: Annotated[
        str | None, typer.Option("--iface", "-i", help="interface (default: the loopback)")
    ] = None,
    port: Annotated[
        list[int] | None,
        typer.Option("--port", "-p", min=1, max=65535, help="TCP port to watch (repeatable)"),
    ] = None,
    bpf: Annotated[
        str | None, typer.Option("--filter", help="extra BPF filter, ANDed with the ports")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(min=0.001, help="stop after this many seconds")
    ] = None,
    count: Annotated[
        int | None, typer.Option(min=1, help="stop after this many packets")
    ] = None,
    write: Annotated[
        Path | None, typer.Option("--write", "-w", help="also save the packets as pcap")
    ] = None,
    format: Annotated[
        FormatName, typer.Option("--format", "-f", help="final report format")
    ] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the report to this file")
    ] = None,
    idle_timeout: Annotated[
        float, typer.Option(help="expire connections idle this long (seconds)")
    ] = 300.0,
    max_rows: MaxRows = 40,
    show_secrets: ShowSecrets = False,
    tls_keylog: TlsKeylog = None,
) -> None:
    """Capture live (needs root or CAP_NET_RAW) and report like analyze when it stops.

    Stops on Ctrl-C, --duration or --count. On a terminal a live table shows each server's
    open connections, new connections/s, requests/s and handshakes per request.

    Example: sudo .venv/bin/keepalive sniff --port 8080 --duration 30 --write run.pcap
    """
    from analyzer.sniffing import capture_filter
    from analyzer.sniffing import sniff as run

    def started(name: str) -> None:
        print(f"keepalive: sniffing on {name} (filter: {capture_filter(port or (), bpf)})",
              file=sys.stderr, flush=True)

    # The report file is opened once privileges are dropped (it belongs to the invoking
    # user) and before the capture starts (a bad path fails at once, not after an hour).
    opened: list[IO[bytes]] = []

    def ready() -> None:
        if output is not None and str(output) != "-" and get_format(chosen(format)).files is None:
            opened.append(create(output))

    with _live_view(iface) as tick:
        result = run(
            iface, ports=port or (), bpf=bpf, duration=duration, count=count,
            write=str(write) if write is not None else None, idle_timeout=idle_timeout,
            on_tick=tick, on_start=started, on_ready=ready, show_secrets=show_secrets,
            tls_keylog=str(tls_keylog) if tls_keylog is not None else None,
        )
    for cap in result.capture_records:
        for w in cap.warnings:
            warn(w)
    emit(result, chosen(format), output, max_rows, opened[0] if opened else None)


@contextlib.contextmanager
def _live_view(iface: str | None) -> Iterator[Callable[[object], None]]:
    """The ``on_tick`` callback: on a terminal (stdout and stderr both), it redraws a live
    table on stderr (:class:`analyzer.output.live.LiveView`); elsewhere it does nothing."""
    if not (sys.stderr.isatty() and sys.stdout.isatty()):
        yield lambda table: None
        return
    from rich.console import Console
    from rich.live import Live

    from analyzer.output.live import LiveView

    view = LiveView(iface or "loopback")
    live = Live(view.renderable, console=Console(stderr=True), auto_refresh=False,
                transient=False)
    live.start()
    try:
        yield lambda table: live.update(view.update(table), refresh=True)  # type: ignore[arg-type]
    finally:
        live.stop()
