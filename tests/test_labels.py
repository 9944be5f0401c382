"""labels: a connection's label and who closed it (DESIGN.md's vocabulary).

The table of cases comes from DESIGN.md's definitions; then whole connections through a
flow table, whose records and live rows must name a connection the same way.
"""

from __future__ import annotations

import pytest

from analyzer.core import labels
from analyzer.core.flows import FlowTable
from analyzer.core.labels import closed_by, label, label_so_far
from tests import builders as b

REQ = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.mark.parametrize(
    "exchanges,payload,expected",
    [
        (0, False, "unused"),
        (0, True, "not-http"),
        (1, True, "per-request"),
        (2, True, "persistent"),
        (300, True, "persistent"),
    ],
)
def test_label(exchanges: int, payload: bool, expected: str) -> None:
    assert label(exchanges, payload) == expected
    assert expected in labels.LABELS


def test_label_so_far_waits_for_the_first_exchange() -> None:
    assert [label_so_far(n) for n in (0, 1, 2, 5)] == [
        "…", "per-request", "persistent", "persistent"
    ]


@pytest.mark.parametrize(
    "teardown,expected",
    [
        (None, "open"),
        ((0, "fin", 1.0), "client"),
        ((1, "fin", 1.0), "server"),
        ((0, "rst", 1.0), "client-rst"),
        ((1, "rst", 1.0), "server-rst"),
    ],
)
def test_closed_by(teardown: tuple[int, str, float] | None, expected: str) -> None:
    assert closed_by(teardown) == expected
    assert expected in labels.CLOSED_BY


def test_the_vocabulary_agrees_with_the_schema() -> None:
    schema = pytest.importorskip("analyzer.core.schema")
    for name, ours in (("LABELS", labels.LABELS), ("CLOSED_BY", labels.CLOSED_BY)):
        theirs = getattr(schema, name, None)
        if theirs is not None:
            assert tuple(theirs) == tuple(ours), name


@pytest.mark.parametrize(
    "build,expected",
    [
        (lambda c: c.exchange(REQ, OK).exchange(REQ, OK).close(0), ("persistent", "client")),
        (lambda c: c.exchange(REQ, OK).close(1), ("per-request", "server")),
        (lambda c: c.exchange(REQ, OK).rst(1), ("per-request", "server-rst")),
        (lambda c: c.rst(0), ("unused", "client-rst")),
        (lambda c: c.send(0, b"\x00\x01binary"), ("not-http", "open")),
        (lambda c: c.exchange(REQ, OK), ("per-request", "open")),
    ],
    ids=["persistent", "per-request", "reset", "unused", "not-http", "open"],
)
def test_records_and_live_rows_say_the_same(build, expected) -> None:  # type: ignore[no-untyped-def]
    c = build(b.Conversation(("10.0.0.1", 40000), ("10.0.0.2", 80)).handshake())
    table = FlowTable("t")
    buf, recs = b.records(c.frames())
    table.feed(buf, recs)
    (row,) = table.recent(5)  # still open in the table (no linger has passed)
    live_label, live_closed = row[4], row[5]
    (conn,) = table.finish()
    assert (conn.label, conn.closed_by) == expected
    assert live_closed == conn.closed_by
    assert live_label == (conn.label if conn.label in ("persistent", "per-request") else "…")
