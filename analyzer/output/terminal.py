"""The ``table`` format, the report for people: one verdict block per server endpoint (the
answer), then connections.

The connection table fits the console's width. Rich would squeeze every column of a table
too wide for the terminal, cutting ``127.0.0.1:18102`` down to ``127.…``; but the
endpoints are what a reader looks for. So the client and server columns never wrap, and on
a narrow terminal the table drops its least useful columns first (``DROP_ORDER``) until it
fits at its natural width, and says which it left out. Only when the id and both endpoints
alone are wider than the terminal do the endpoints fold onto a second line (whole, never
cut with an ellipsis).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Final

from rich.console import Console, Group
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from analyzer.analysis import Analysis
    from analyzer.core.records import ConnectionRecord
    from analyzer.output import WriteOptions

VERDICT_STYLE = {
    "reused": "bold green",
    "partly-reused": "bold yellow",
    "not-reused": "bold red",
    "nothing-to-reuse": "bold",
    "no-http": "dim",
}
LABEL_STYLE = {"persistent": "green", "per-request": "red", "unused": "dim", "not-http": "dim"}


@dataclass(frozen=True, slots=True)
class _Column:
    header: str
    justify: str = "left"
    endpoint: bool = False


COLUMNS: Final = (
    _Column("id"), _Column("client", endpoint=True), _Column("server", endpoint=True),
    _Column("start (UTC)"), _Column("dur s", "right"), _Column("hs"),
    _Column("req", "right"), _Column("resp", "right"), _Column("label"),
    _Column("closed by"), _Column("diagnosis"),
)
# Shown when a connection is not cleartext HTTP/1 (TLS, HTTP/2): its protocol and TLS
# handshake, after "hs"; requests estimated from TLS records read "~3".
PROTOCOL: Final = _Column("protocol")
# Left out first on a narrow terminal: what the verdict panels and the other columns
# already say (handshake seen, start time, responses ≈ requests) before what only this
# table says per connection (its label, then its request count). id, client and server
# are never left out.
DROP_ORDER: Final = (
    "hs", "start (UTC)", "protocol", "resp", "dur s", "closed by", "diagnosis", "req", "label",
)
# Wide enough that rich never squeezes a column while the table is measured.
_UNBOUNDED: Final = 1_000_000


def write_table(a: Analysis, fh: IO[bytes], options: WriteOptions) -> None:
    """The ``table`` format on a binary stream: as wide as the user's terminal and in colour
    when the stream is that terminal; otherwise 150 columns, and no colour in a file."""
    text = io.TextIOWrapper(fh, encoding="utf-8", write_through=True)
    if options.interactive:
        console = Console(file=text, force_terminal=True)
    else:
        console = Console(file=text, width=150, no_color=not options.colour)
    render(a, console, options.max_rows)
    text.flush()
    text.detach()  # the stream stays open: it belongs to the caller


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
            f"open at once · {s.clients} client(s)"
            + (f" · TLS handshakes: {s.tls_handshakes_full} full, "
               f"{s.tls_handshakes_resumed} resumed"
               if s.tls_handshakes_full is not None else ""),
            style="dim",
        )
        seen = [
            (k, v) for k, v in (
                ("capture ", s.capture), ("client  ", s.client_software),
                ("server  ", s.server_software), ("proxy   ", s.proxy),
            ) if v
        ]
        body = Group(
            stats,
            *(Text.assemble((k + "  ", "bold"), (v, "dim")) for k, v in seen),
            Text.assemble(("evidence  ", "bold"), s.evidence),
            Text.assemble(("fix       ", "bold"), (s.hint, "yellow" if s.uncertain else "")),
        )
        console.print(Panel(body, title=title, title_align="left", border_style=style or "dim"))
    conns = a.connection_records
    table, left_out = connections_table(conns[:max_connections], console)
    console.print(table)
    if left_out:
        console.print(
            Text(f"(a {console.width}-column terminal: {', '.join(left_out)} not shown; "
                 "--format csv has every column)", style="dim")
        )
    if len(conns) > max_connections:
        console.print(
            Text(f"… {len(conns) - max_connections} more connections (use --format json "
                 "or csv for all)", style="dim")
        )


def _cells(c: ConnectionRecord) -> dict[str, str | Text]:
    return {
        "id": c.id,
        "client": c.client,
        "server": c.server,
        "start (UTC)": datetime.fromtimestamp(c.start, tz=timezone.utc).strftime(
            "%H:%M:%S.%f")[:-3],
        "dur s": f"{c.end - c.start:.3f}",
        "hs": "yes" if c.handshake_seen else "no",
        "req": f"~{c.requests}" if c.requests_estimated else str(c.requests),
        "protocol": _protocol(c),
        "resp": str(c.responses),
        "label": Text(c.label, style=LABEL_STYLE.get(c.label, "")),
        "closed by": c.closed_by,
        "diagnosis": c.diagnosis or "",
    }


def _protocol(c: ConnectionRecord) -> str:
    """The connection's protocol, with its TLS handshake (full, resumed, failed)."""
    text = c.protocol or ""
    if c.tls is not None and c.tls.get("handshake"):
        text += f" {c.tls['handshake']}"
    return text


def _table(
    rows: Sequence[dict[str, str | Text]], shown: Sequence[_Column], fold: bool = False
) -> Table:
    t = Table(title="connections", title_justify="left", show_lines=False, pad_edge=False)
    for col in shown:
        if col.endpoint and not fold:
            t.add_column(col.header, no_wrap=True)
        elif col.endpoint:
            t.add_column(col.header, overflow="fold")
        else:
            t.add_column(col.header, justify=col.justify)  # type: ignore[arg-type]
    for row in rows:
        t.add_row(*(row[col.header] for col in shown))
    return t


def connections_table(
    conns: Sequence[ConnectionRecord], console: Console
) -> tuple[Table, list[str]]:
    """The connection table for this console's width, and the headers left out to fit."""
    rows = [_cells(c) for c in conns]
    width = console.width
    shown = list(COLUMNS)
    if any(c.protocol not in (None, "http/1.x", "unknown") for c in conns):
        shown.insert(shown.index(COLUMNS[5]) + 1, PROTOCOL)
    left_out: list[str] = []
    unbounded = console.options.update_width(_UNBOUNDED)
    headers = {col.header for col in shown}
    for header in (None, *(h for h in DROP_ORDER if h in headers)):
        if header is not None:
            shown = [col for col in shown if col.header != header]
            left_out.append(header)
        table = _table(rows, shown)
        if Measurement.get(console, unbounded, table).maximum <= width:
            return table, left_out
    return _table(rows, shown, fold=True), left_out
