"""RSTs that do not end a connection, and late packets after one has finished (issue 16).

* RFC 5961 §3 as Linux applies it (tcp_validate_incoming): a RST at the receiver's next
  expected sequence number (RCV.NXT) resets the connection; elsewhere in the window the
  receiver sends a challenge ACK and ignores it; outside the window it ignores it. In
  SYN-SENT only a RST whose ACK acknowledges the SYN counts (RFC 9293 §3.10.7.3).
* A RST in the handshake followed by a retransmitted SYN (same ISN) that completes it:
  one connection, not a connection and a phantom one without SYN.
* A lone FIN, RST or ACK after a connection finished closed (within TIME_WAIT) is a late
  packet of it, counted in ``skipped`` as ``late-after-close``; a new SYN is port reuse.

Conversations are built segment by segment with exact sequence numbers
(:class:`tests.builders.Conversation`); the expected values follow from those numbers.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from analyzer.core.flows import ENDED_MAX, Flow, FlowTable
from tests import builders as b

REQ = b"GET /r HTTP/1.1\r\nHost: s\r\n\r\n"
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def _one(conns):  # type: ignore[no-untyped-def]
    assert len(conns) == 1, [(c.id, c.client, c.handshake_seen, c.closed_by) for c in conns]
    return conns[0]


def _rst_at(c: b.Conversation, side: int, off: int, flags: int = b.RST | b.ACK) -> None:
    """A RST from ``side`` whose sequence number is ``off`` past that side's next one."""
    seg = c.emit(side, flags)
    c.segments[-1] = replace(seg, seq=(seg.seq + off) & b.MASK)


def _table(frames: list[tuple[float, bytes]], batch: int | None = None, **kw: object) -> FlowTable:
    table = FlowTable(capture="t", **kw)  # type: ignore[arg-type]
    step = batch or max(1, len(frames))
    for i in range(0, len(frames), step):
        buf, recs = b.records(frames[i : i + step])
        table.feed(buf, recs)
    table.finish()
    return table


# ---------------------------------------------------------------- RFC 5961: the window
@pytest.mark.parametrize("side", [0, 1])
def test_rst_at_rcv_nxt_ends_the_connection(side: int) -> None:
    c = b.Conversation().handshake().exchange(REQ, RESP)
    c.rst(side)
    c.exchange(REQ, RESP)  # (late segments after it: the connection has ended)
    conn = _one(b.run(c))
    assert conn.closed_by == ("client-rst" if side == 0 else "server-rst")
    assert conn.teardown_ts == pytest.approx(c.segments[9].ts)
    assert conn.anomalies == {}


def test_rst_after_a_fin_at_either_edge_of_it_ends_the_connection() -> None:
    """After the client's FIN, RCV.NXT is past the FIN; Linux also takes RCV.NXT - 1 (the
    FIN's own number) once it has the FIN (tcp_reset_check). One past is challenged."""
    for off, anomalies in ((0, {}), (-1, {}), (1, {"rst-challenged": 1})):
        c = b.Conversation().handshake().exchange(REQ, RESP)
        c.fin(0)
        _rst_at(c, 0, off)
        c.ack(1)
        conn = _one(b.run(c))
        assert (conn.closed_by, conn.rst_client, conn.anomalies) == ("client", 1, anomalies)


def test_rst_in_the_window_but_not_at_rcv_nxt_is_challenged_and_ignored() -> None:
    c = b.Conversation().handshake().exchange(REQ, RESP)
    _rst_at(c, 0, 1000)  # in the window, 1000 past RCV.NXT
    c.ack(1)  # the server's challenge ACK
    c.exchange(REQ, RESP).exchange(REQ, RESP).close(first=0)
    conn = _one(b.run(c))
    assert conn.closed_by == "client"
    assert (conn.requests, conn.label) == (3, "persistent")
    assert (conn.rst_client, conn.fin_client, conn.fin_server) == (1, 1, 1)
    assert conn.anomalies == {"rst-challenged": 1}


def test_an_exact_rst_after_a_challenged_one_ends_the_connection() -> None:
    """The sender really aborted: it answers the challenge ACK with a RST at RCV.NXT."""
    c = b.Conversation().handshake().exchange(REQ, RESP)
    _rst_at(c, 1, 3)
    c.ack(0)  # challenge ACK
    c.rst(1)
    conn = _one(b.run(c))
    assert conn.closed_by == "server-rst" and conn.rst_server == 2
    assert conn.teardown_ts == pytest.approx(c.segments[-1].ts)
    assert conn.anomalies == {"rst-challenged": 1}


@pytest.mark.parametrize("off", [-1, -5000, (1 << 23) + 1, 1 << 31])
def test_rst_outside_the_window_is_ignored(off: int) -> None:
    c = b.Conversation().handshake().exchange(REQ, RESP)
    _rst_at(c, 1, off)
    c.exchange(REQ, RESP).close(first=1)
    conn = _one(b.run(c))
    assert conn.closed_by == "server" and conn.rst_server == 1
    assert conn.requests == 2
    assert conn.anomalies == {"rst-out-of-window": 1}


def test_a_set_aside_rst_with_nothing_after_it_ended_the_connection() -> None:
    """No challenge ACK, nothing at all after it: the receiver took it (the capture missed
    the sender's last bytes, so its RCV.NXT was further on)."""
    c = b.Conversation().handshake().exchange(REQ, RESP)
    _rst_at(c, 0, 200)
    for conns in (b.run(c), b.run(c, idle_timeout=1.0), b.run(c.frames() + _later())):
        conn = [x for x in conns if x.client == "10.0.0.1:51234"][0]
        assert conn.closed_by == "client-rst" and not conn.expired
        assert conn.teardown_ts == pytest.approx(c.segments[-1].ts)
        assert conn.anomalies == {"rst-challenged": 1}


def _later() -> list[tuple[float, bytes]]:
    """Another connection 400 s later (the first one expires on the idle timeout)."""
    return b.Conversation(("10.0.0.1", 40000), t0=1_700_000_400.0).handshake().frames()


def test_rst_without_state_is_taken_as_before() -> None:
    """Captured mid-way, the RST's sender sent nothing yet: its numbers are not known."""
    c = b.Conversation(("10.0.0.1", 50000), ("10.0.0.2", 80)).mid_stream()
    c.request(REQ, ack=False)
    _rst_at(c, 1, 123456)
    conn = _one(b.run(c))
    assert conn.closed_by == "server-rst" and conn.anomalies == {}


# ---------------------------------------------------------------- the handshake
def test_rst_ack_refusing_a_syn_ends_the_connection() -> None:
    c = b.Conversation()
    c.emit(0, b.SYN)
    c.rst(1)  # RST+ACK, ACK = ISN + 1: connection refused
    conn = _one(b.run(c))
    assert conn.handshake_seen and (conn.syn, conn.synack, conn.rst_server) == (1, 0, 1)
    assert (conn.closed_by, conn.label, conn.anomalies) == ("server-rst", "unused", {})


@pytest.mark.parametrize("flags_off", [(b.RST, 0), (b.RST | b.ACK, 1)])
def test_rst_in_syn_sent_that_does_not_acknowledge_the_syn_is_ignored(flags_off) -> None:
    """RFC 9293 §3.10.7.3: in SYN-SENT a RST without ACK, or whose ACK is not the SYN's,
    is dropped; the retransmitted SYN then completes the handshake."""
    flags, off = flags_off
    c = b.Conversation()
    c.emit(0, b.SYN)
    seg = c.emit(1, flags)
    c.segments[-1] = replace(seg, ack=(seg.ack + off) & b.MASK if flags & b.ACK else 0)
    c.emit(0, b.SYN)
    c.emit(1, b.SYN | b.ACK)
    c.ack(0).exchange(REQ, RESP).close()
    conn = _one(b.run(c))
    assert conn.closed_by == "client" and conn.requests == 1
    assert conn.anomalies == {"rst-out-of-window": 1}


def _stale_rst_then_retransmitted_syn(new_server_isn: bool) -> b.Conversation:
    """The issue's case: SYN, SYN-ACK, the client answers with RST, its retransmitted SYN
    (same ISN) gets a SYN-ACK (the server dropped the first: a new ISN) and completes the
    handshake; an exchange, a keep-alive pause longer than the close linger, FIN/FIN."""
    c = b.Conversation(client_isn=70_000, server_isn=900_000)
    c.emit(0, b.SYN)
    c.emit(1, b.SYN | b.ACK)
    c.rst(0)
    c.idle(1.0)
    c.emit(0, b.SYN)  # retransmitted: same ISN
    if new_server_isn:
        c.isn[1] = 4_000_000
    c.emit(1, b.SYN | b.ACK)
    c.ack(0)
    c.exchange(REQ, RESP)
    c.idle(15.0)
    c.close(first=0)
    return c


@pytest.mark.parametrize("new_server_isn", [True, False])
@pytest.mark.parametrize("batch", [None, 1])
def test_rst_before_a_retransmitted_syn_does_not_end_the_connection(
    new_server_isn: bool, batch: int | None
) -> None:
    c = _stale_rst_then_retransmitted_syn(new_server_isn)
    conn = _one(b.run(c, batch=batch))
    assert conn.handshake_seen and (conn.syn, conn.synack) == (2, 2)
    assert (conn.requests, conn.responses, conn.label) == (1, 1, "per-request")
    assert conn.closed_by == "client"
    assert (conn.rst_client, conn.fin_client, conn.fin_server) == (1, 1, 1)
    assert conn.missing_bytes == 0
    assert conn.anomalies == {"rst-before-handshake": 1}
    assert conn.exchanges[0].opened_connection


def test_rst_in_the_handshake_without_a_retry_ends_it() -> None:
    c = b.Conversation()
    c.emit(0, b.SYN)
    c.emit(1, b.SYN | b.ACK)
    c.rst(0)
    conn = _one(b.run(c))
    assert conn.closed_by == "client-rst" and conn.anomalies == {}


# ---------------------------------------------------------------- after the connection
def _closed() -> b.Conversation:
    c = b.Conversation(client_isn=10, server_isn=20_000).handshake().exchange(REQ, RESP)
    return c.close(first=0)


@pytest.mark.parametrize("batch", [None, 1, 4])
def test_late_fin_and_rst_after_a_finished_connection_make_no_record(batch: int | None) -> None:
    c = _closed()
    server_fin = len(c.segments) - 2
    c.idle(20.0)  # past the close linger (10 s), within TIME_WAIT (60 s)
    c.duplicate(server_fin, to=len(c.segments))  # the server retransmits its FIN
    c.segments[-1] = replace(c.segments[-1], ts=c.t)
    c.idle(1.0)
    c.rst(0)  # the client answers it with RST (its socket is gone)
    c.idle(1.0)
    c.ack(0)  # and a late pure ACK
    frames = c.frames()
    table = _table(frames, batch)
    conn = _one(table.records)
    assert conn.closed_by == "client" and conn.requests == 1
    assert (conn.fin_server, conn.rst_client) == (1, 0)  # the record came out before them
    assert table.skipped == {"late-after-close": 3}
    assert table.tcp_packets == len(frames) - 3
    assert table.tcp_packets + sum(table.skipped.values()) == len(frames)


def test_late_packets_after_a_reset_connection_make_no_record() -> None:
    c = b.Conversation().handshake().exchange(REQ, RESP).rst(1)
    c.idle(30.0)
    c.rst(1)
    c.fin(0)
    table = _table(c.frames())
    assert _one(table.records).closed_by == "server-rst"
    assert table.skipped == {"late-after-close": 2}


def test_a_retransmission_of_old_data_after_close_is_late_new_data_is_not() -> None:
    c = _closed()
    resp = c.data_indexes(1)[-1]
    c.idle(20.0)
    c.duplicate(resp, to=len(c.segments))  # the server's last data segment, again
    c.segments[-1] = replace(c.segments[-1], ts=c.t)
    table = _table(c.frames())
    assert len(table.records) == 1 and table.skipped == {"late-after-close": 1}
    c.idle(1.0)
    c.request(REQ, ack=False)  # bytes the connection never carried: not a late packet
    table = _table(c.frames())
    assert [(r.handshake_seen, r.requests) for r in table.records] == [(True, 1), (False, 1)]


def test_a_lone_packet_far_from_the_connection_sequence_numbers_is_not_late() -> None:
    c = _closed()
    c.idle(20.0)
    _rst_at(c, 1, 1 << 30)
    table = _table(c.frames())
    assert len(table.records) == 2 and table.skipped == {}


def test_late_packets_count_only_within_time_wait() -> None:
    c = _closed()
    c.idle(61.0)
    c.fin(1)
    table = _table(c.frames())
    assert len(table.records) == 2  # as before: a connection without SYN
    assert table.skipped == {}


@pytest.mark.parametrize("pause", [5.0, 20.0, 70.0])
def test_a_new_syn_after_a_finished_connection_is_port_reuse(pause: float) -> None:
    first = _closed()
    second = b.Conversation(client_isn=999_999, server_isn=77_777, t0=first.t + pause)
    second.handshake().exchange(REQ, RESP).exchange(REQ, RESP).close(first=1)
    table = _table(first.frames() + second.frames())
    conns = table.records
    assert [(r.id, r.handshake_seen, r.requests, r.closed_by) for r in conns] == [
        ("C1", True, 1, "client"),
        ("C2", True, 2, "server"),
    ]
    assert table.skipped == {}


def test_the_same_isn_after_the_linger_still_starts_a_connection() -> None:
    """A SYN never counts as a late packet, even one with the old ISN."""
    first = _closed()
    again = b.Conversation(client_isn=10, server_isn=20_000, t0=first.t + 20.0)
    again.handshake().exchange(REQ, RESP).close()
    table = _table(first.frames() + again.frames())
    assert [r.handshake_seen for r in table.records] == [True, True]


def _closed_flow(n: int, ts: float) -> Flow:
    key = bytes([10, 0, n >> 8 & 255, n & 255, 10, 0, 0, 2, n >> 8 & 255, n & 255, 0, 80])
    flow = Flow(n, key, key[4:8] + key[:4] + key[10:] + key[8:10], ts)
    flow.closed_ts = ts
    return flow


def test_the_memory_of_finished_connections_is_bounded() -> None:
    table = FlowTable(capture="t")
    most = 0
    for n in range(3 * ENDED_MAX):  # all within TIME_WAIT of each other
        table._remember(_closed_flow(n, 1000.0 + n * 1e-4))
        assert table.ended is not None
        most = max(most, len(table.ended))
    assert most == 2 * ENDED_MAX
    # the latest stay
    assert _closed_flow(3 * ENDED_MAX - 1, 0.0).ckey in table.ended


def test_rst_at_the_syn_own_number_is_not_at_rcv_nxt() -> None:
    """(RCV.NXT - 1 counts only after a FIN: here it is the SYN's number.)"""
    c = b.Conversation().handshake()
    _rst_at(c, 0, -1)
    c.exchange(REQ, RESP)
    conn = _one(b.run(c))
    assert conn.closed_by == "open" and conn.anomalies == {"rst-out-of-window": 1}
