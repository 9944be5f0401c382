"""The live view of `keepalive sniff`, fed from a flow table (no socket needed)."""

from __future__ import annotations

from rich.console import Console

from analyzer.core.flows import FlowTable
from analyzer.output.live import LiveView, verdict_so_far
from tests import builders as b

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
REQ = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def test_rows_per_server_and_recent_connections() -> None:
    table = FlowTable("live:lo")
    reused = b.Conversation(("10.0.0.1", 40000), t0=0.0).handshake()
    for _ in range(4):
        reused.exchange(REQ, OK)
    once = b.Conversation(("10.0.0.1", 40001), ("10.0.0.3", 8080), t0=0.5).handshake()
    once.exchange(REQ, OK).close(0)
    buf, recs = b.records(b.merge(reused.frames(), once.frames()))
    table.feed(buf, recs)
    view = LiveView("lo")
    console = Console(width=140, record=True, color_system=None)
    console.print(view.update(table))
    text = console.export_text()
    assert "10.0.0.2:80" in text and "10.0.0.3:8080" in text
    row = next(line for line in text.splitlines() if "10.0.0.2:80 " in line and "│" in line)
    assert " 0.25 " in row and "reused" in row  # 1 handshake for 4 requests
    assert "C1" in text and "C2" in text and "persistent" in text and "client" in text


def test_verdict_so_far() -> None:
    # (persistent, per-request) connections so far, as labels.label names them
    assert verdict_so_far(0, 0)[0] == "—"
    assert verdict_so_far(3, 0)[0] == "reused"
    assert verdict_so_far(0, 10)[0] == "not reused"
    assert verdict_so_far(7, 3)[0] == "partly reused"
