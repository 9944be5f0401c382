"""The live view of ``keepalive sniff``: one row per server endpoint, refreshed each second.

Rates come from the difference between two snapshots of the flow table; the verdict "so
far" is read from the labels of the server's connections so far
(:mod:`analyzer.core.labels`), in the words of classify's verdicts; the full diagnosis
comes with the final report.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from analyzer.core.flows import FlowTable, ServerSoFar


def verdict_so_far(persistent: int, per_request: int) -> tuple[str, str]:
    """The verdict a server's connection labels point to so far, and its style: classify's
    verdicts (``reused``, ``not-reused``, ``partly-reused``) as if every per-request
    connection had cost a reconnect — the final report also weighs which did (a client's
    single request costs nothing). ``—`` until a connection has carried an exchange."""
    if not (persistent or per_request):
        return "—", "dim"
    if not per_request:
        return "reused", "green"
    if not persistent:
        return "not reused", "red"
    return "partly reused", "yellow"


class LiveView:
    """Turns successive flow-table snapshots into a rich renderable."""

    def __init__(self, iface: str, recent: int = 8) -> None:
        self.iface = iface
        self.recent = recent
        self.started = time.monotonic()
        self._last: dict[str, ServerSoFar] = {}
        self._last_t = self.started
        self.renderable: Group = Group(Text(f"sniffing on {iface} …", style="dim"))

    def update(self, table: FlowTable) -> Group:
        now = time.monotonic()
        dt = max(now - self._last_t, 1e-6)
        snap = table.progress()
        t = Table(
            title=f"live on {self.iface} · {now - self.started:.0f} s · "
            f"{table.tcp_packets} TCP packets (Ctrl-C for the report)",
            title_justify="left",
        )
        tls = any(v.tls_full or v.tls_resumed for v in snap.values())
        for col in ("server", "open", "conns", "new conn/s", "req/s", "handshakes/req",
                    *(("TLS full/resumed",) if tls else ()), "so far"):
            t.add_column(col, justify="left" if col in ("server", "so far") else "right")
        for server, now_ in sorted(snap.items(), key=lambda kv: -kv[1].requests):
            prev = self._last.get(server)
            conns, hs, reqs = now_.connections, now_.handshakes, now_.requests
            verdict, style = verdict_so_far(now_.persistent, now_.per_request)
            t.add_row(
                server, str(now_.open), str(conns),
                f"{(conns - (prev.connections if prev else 0)) / dt:.1f}",
                f"{(reqs - (prev.requests if prev else 0)) / dt:.1f}",
                f"{hs / reqs:.2f}" if reqs else "—",
                *((f"{now_.tls_full}/{now_.tls_resumed}",) if tls else ()),
                Text(verdict, style=style),
            )
        self._last, self._last_t = snap, now
        r = Table(title="recent connections", title_justify="left")
        for col in ("id", "client", "server", "req", "label", "closed by"):
            r.add_column(col)
        for cid, client, server, reqs, label, closed in table.recent(self.recent):
            r.add_row(cid, client, server, str(reqs), label, closed)
        self.renderable = Group(t, r)
        return self.renderable
