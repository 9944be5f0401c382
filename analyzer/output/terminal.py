"""The human report: one verdict block per server endpoint (the answer), then connections."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from analyzer.api import Analysis

VERDICT_STYLE = {
    "reused": "bold green",
    "partly-reused": "bold yellow",
    "not-reused": "bold red",
    "no-http": "dim",
}
LABEL_STYLE = {"persistent": "green", "per-request": "red", "unused": "dim", "not-http": "dim"}


def render(a: Analysis, console: Console, max_connections: int = 40) -> None:
    for cap in a.capture_records:
        skipped = sum(cap.skipped.values())
        line = Text.assemble(
            ("capture ", "dim"), (cap.path, "bold"),
            (f"  {cap.format}, {cap.packets} packets, {cap.tcp_packets} TCP", "dim"),
            (f", {skipped} skipped" if skipped else "", "dim"),
        )
        console.print(line)
        for w in cap.warnings:
            console.print(Text(f"  warning: {w}", style="yellow"))
    if not a.server_records:
        console.print(Text("no TCP connections in the capture", style="yellow"))
        return
    console.print()
    for s in a.server_records:
        style = VERDICT_STYLE.get(s.verdict, "")
        title = Text.assemble((s.server, "bold"), "  ", (s.verdict.upper(), style))
        if s.diagnosis:
            title.append(f"  [{s.diagnosis}]", style="bold")
        stats = Text(
            f"{s.requests} requests · {s.connections} connections · {s.handshakes} handshakes "
            f"· {s.handshakes_per_request:.2f} handshakes/request · max {s.max_concurrent} "
            f"open at once · {s.clients} client(s)",
            style="dim",
        )
        body = Group(
            stats,
            Text.assemble(("evidence  ", "bold"), s.evidence),
            Text.assemble(("fix       ", "bold"), s.hint),
        )
        console.print(Panel(body, title=title, title_align="left", border_style=style or "dim"))
    t = Table(title="connections", title_justify="left", show_lines=False, pad_edge=False)
    for col, kw in (
        ("id", {}), ("client", {}), ("server", {}), ("start (UTC)", {}),
        ("dur s", {"justify": "right"}), ("hs", {}), ("req", {"justify": "right"}),
        ("resp", {"justify": "right"}), ("label", {}), ("closed by", {}), ("diagnosis", {}),
    ):
        t.add_column(col, **kw)  # type: ignore[arg-type]
    conns = a.connection_records
    for c in conns[:max_connections]:
        t.add_row(
            c.id, c.client, c.server,
            datetime.fromtimestamp(c.start, tz=timezone.utc).strftime("%H:%M:%S.%f")[:-3],
            f"{c.end - c.start:.3f}", "yes" if c.handshake_seen else "no",
            str(c.requests), str(c.responses),
            Text(c.label, style=LABEL_STYLE.get(c.label, "")), c.closed_by,
            c.diagnosis or "",
        )
    console.print(t)
    if len(conns) > max_connections:
        console.print(
            Text(f"… {len(conns) - max_connections} more connections (use --format json "
                 "or csv for all)", style="dim")
        )
