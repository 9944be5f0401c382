"""The terminal report on narrow terminals: endpoints stay whole, other columns give way.

Rendered with rich's own ``Console(width=…, record=True)``, the way a terminal of that many
columns would show it, and read back as plain text.
"""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

import analyzer
from analyzer.output.terminal import COLUMNS, DROP_ORDER, render
from tests import builders as b
from tests.conftest import CAPTURES

WIDTHS = [60, 80, 100, 120]
ROW = re.compile(r"^│(C\d+)\s*│")  # a connection's row: │C1 │ client │ server │ …


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> analyzer.Analysis:
    """Go's leak (127.0.0.1:18102) and drained client, plus a keep-alive conversation over
    IPv6 from [2001:db8::1]:51234: the longest endpoints the table has to hold."""
    conv = (
        b.Conversation(("2001:db8::1", 51234), ("2001:db8::80", 8080), t0=1_700_000_000.0)
        .handshake()
        .exchange(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n",
                  b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        .exchange(b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n",
                  b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        .close()
    )
    v6 = b.write(tmp_path_factory.mktemp("v6") / "v6.pcap", b.pcap(conv.frames()))
    return analyzer.analyze([str(CAPTURES / "go-leak.pcap"), str(CAPTURES / "go-drain.pcap"),
                             v6])


def _text(a: analyzer.Analysis, width: int, max_connections: int = 40) -> str:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    render(a, console, max_connections)
    return console.export_text()


def _rows(text: str) -> dict[str, list[str]]:
    """Each connection's cells, by id; a cell folded over several lines is joined up."""
    rows: dict[str, list[str]] = {}
    cells: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("│"):
            cells = None
            continue
        parts = [part.strip() for part in line.split("│")[1:-1]]
        if (m := ROW.match(line)) is not None:
            cells = rows[m.group(1)] = parts
        elif cells is not None and not parts[0]:  # the same row, continued
            for i, part in enumerate(parts):
                cells[i] += part
    return rows


def _header(text: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith("┃"))
    return [part.strip() for part in line.split("┃")[1:-1]]


@pytest.mark.parametrize("width", WIDTHS)
def test_endpoints_stay_whole(mixed: analyzer.Analysis, width: int) -> None:
    text = _text(mixed, width)
    assert max(len(line) for line in text.splitlines()) <= width
    rows = _rows(text)
    conns = mixed.connection_records
    assert len(conns) == 12 and set(rows) == {c.id for c in conns}
    lines = {m.group(1): line for line in text.splitlines() if (m := ROW.match(line))}
    for c in conns:  # both endpoints on the connection's own line, each a whole cell
        assert rows[c.id][1:3] == [c.client, c.server], lines[c.id]
        assert re.search(rf"│ {re.escape(c.client)} +│ {re.escape(c.server)} *│", lines[c.id])
    assert "[2001:db8::1]:51234" in [cells[1] for cells in rows.values()]
    assert "127.0.0.1:18102" in [cells[2] for cells in rows.values()]
    assert "…" not in "".join(lines.values())  # nothing cut with an ellipsis
    for s in mixed.server_records:  # the verdict panels' titles name them whole too
        assert re.search(rf"╭─ {re.escape(s.server)}  ", text), s.server


@pytest.mark.parametrize("width", WIDTHS)
def test_narrow_terminals_leave_out_columns_in_order(
    mixed: analyzer.Analysis, width: int
) -> None:
    text = _text(mixed, width)
    shown = _header(text)
    assert shown == [c.header for c in COLUMNS if c.header in shown]  # in their order
    left_out = sorted((c.header for c in COLUMNS if c.header not in shown),
                      key=DROP_ORDER.index)
    assert {"id", "client", "server"} <= set(shown)
    # the columns go in DROP_ORDER: what is left out is a prefix of it (of the columns
    # there were: the protocol column shows only with TLS or HTTP/2)
    order = [h for h in DROP_ORDER if h != "protocol"]
    assert left_out == order[: len(left_out)]
    if left_out:
        assert f"(a {width}-column terminal: {', '.join(left_out)} not shown;" in " ".join(
            text.split())


def test_ipv4_at_60_columns_keeps_the_label() -> None:
    # the label is the last column to go: at 60 columns go-leak's rows still say per-request
    a = analyzer.analyze(str(CAPTURES / "go-leak.pcap"))
    text = _text(a, 60)
    assert _header(text) == ["id", "client", "server", "label"]
    assert {cells[3] for cells in _rows(text).values()} == {"per-request"}


def test_wide_terminal_shows_every_column(mixed: analyzer.Analysis) -> None:
    text = _text(mixed, 150)  # what the CLI uses when stdout is not a terminal
    assert _header(text) == [c.header for c in COLUMNS]
    assert "not shown" not in text


def test_endpoints_fold_only_when_they_alone_do_not_fit(mixed: analyzer.Analysis) -> None:
    # the id and two IPv6 endpoints need ~50 columns: at 40 they fold, whole, never "…"
    text = _text(mixed, 40)
    assert max(len(line) for line in text.splitlines()) <= 40
    assert "…" not in text[text.index("┏"):]
    rows = _rows(text)
    assert _header(text) == ["id", "client", "server"]
    for c in mixed.connection_records:
        assert rows[c.id][1:3] == [c.client, c.server]


def test_rows_beyond_max_connections_are_counted() -> None:
    a = analyzer.analyze(str(CAPTURES / "go-leak.pcap"))
    text = _text(a, 150, max_connections=5)
    assert len(_rows(text)) == 5 and "… 5 more connections" in text
