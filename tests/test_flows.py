"""flows: 4-tuple → connection, roles, port reuse, TCP control events, expiry.

Conversations are built packet by packet with exact sequence numbers and fed to a
FlowTable; expected values follow from who sent which SYN/FIN/RST (RFC 9293 §3.5, §3.6).
"""

from __future__ import annotations

import pytest

from analyzer.core.flows import FlowTable
from tests import builders as b

REQ = b"GET /r HTTP/1.1\r\nHost: s\r\n\r\n"
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def _one(conns):  # type: ignore[no-untyped-def]
    assert len(conns) == 1, conns
    return conns[0]


@pytest.mark.parametrize("linktype", [1, 113, 101, 0])
def test_full_connection_record(linktype) -> None:
    c = b.Conversation(("10.0.0.1", 51234), ("10.0.0.2", 80)).handshake()
    c.exchange(REQ, RESP).exchange(REQ, RESP).close(first=0)
    conn = _one(b.run(c, linktype))
    assert (conn.client, conn.server) == ("10.0.0.1:51234", "10.0.0.2:80")
    assert conn.handshake_seen and (conn.syn, conn.synack) == (1, 1)
    assert (conn.fin_client, conn.fin_server, conn.rst_client, conn.rst_server) == (1, 1, 0, 0)
    assert conn.closed_by == "client"
    assert (conn.requests, conn.responses, conn.label) == (2, 2, "persistent")
    assert conn.client_bytes == 2 * len(REQ) and conn.server_bytes == 2 * len(RESP)
    assert conn.missing_bytes == 0 and conn.anomalies == {}
    assert conn.packets == len(c.segments)
    assert conn.start == pytest.approx(c.segments[0].ts)
    assert conn.end == pytest.approx(c.segments[-1].ts)
    assert conn.handshake_rtt == pytest.approx(c.dt, abs=1e-6)


def test_roles_come_from_the_syn_not_the_ports() -> None:
    """The SYN sender is the client, even from port 80 to a high port."""
    c = b.Conversation(("10.0.0.9", 80), ("10.0.0.8", 60000)).handshake()
    c.exchange(REQ, RESP)
    conn = _one(b.run(c))
    assert (conn.client, conn.server) == ("10.0.0.9:80", "10.0.0.8:60000")
    assert conn.requests == 1 and conn.responses == 1


def test_synack_without_syn_still_names_the_server() -> None:
    c = b.Conversation(("10.0.0.1", 40000), ("10.0.0.2", 8080)).handshake()
    c.exchange(REQ, RESP)
    c.drop(0)  # the capture missed the SYN
    conn = _one(b.run(c))
    assert (conn.client, conn.server) == ("10.0.0.1:40000", "10.0.0.2:8080")
    assert (conn.syn, conn.synack) == (0, 1)
    assert not conn.handshake_seen
    assert conn.requests == 1 and conn.responses == 1


def test_mid_stream_role_from_request_line_with_client_port_lower() -> None:
    """No handshake, the client's port (1000) is below the server's (8080): the request
    line, not the port order, makes 10.0.0.1 the client."""
    c = b.Conversation(("10.0.0.1", 1000), ("10.0.0.2", 8080)).mid_stream()
    c.ack(1)  # a pure ACK from the server comes first: it must not fix the roles
    c.exchange(REQ, RESP).exchange(REQ, RESP)
    conn = _one(b.run(c))
    assert (conn.client, conn.server) == ("10.0.0.1:1000", "10.0.0.2:8080")
    assert not conn.handshake_seen and conn.syn == 0
    assert (conn.requests, conn.responses) == (2, 2)
    assert conn.client_bytes == 2 * len(REQ) and conn.server_bytes == 2 * len(RESP)
    assert conn.anomalies == {}


def test_mid_stream_role_from_status_line() -> None:
    """The capture starts inside the server's response: the status line names the server."""
    c = b.Conversation(("10.0.0.1", 80), ("10.0.0.2", 50000)).mid_stream()
    c.response(RESP)
    c.exchange(REQ, RESP)
    conn = _one(b.run(c))
    assert (conn.client, conn.server) == ("10.0.0.1:80", "10.0.0.2:50000")
    assert conn.responses == 2 and conn.requests == 1
    assert conn.anomalies.get("response-without-request") == 1


def test_mid_stream_fin_before_roles_are_known() -> None:
    """A FIN counted before the first payload settles the roles follows the swap."""
    c = b.Conversation(("10.0.0.1", 1000), ("10.0.0.2", 8080)).mid_stream()
    c.fin(1)  # server FIN first, while the flow still thinks the lower port is the server
    c.request(REQ)
    conn = _one(b.run(c))
    assert conn.client == "10.0.0.1:1000"
    assert (conn.fin_client, conn.fin_server) == (0, 1)
    assert conn.closed_by == "server"


def test_mid_stream_without_http_uses_the_lower_port_as_server() -> None:
    c = b.Conversation(("10.0.0.1", 40000), ("10.0.0.2", 443)).mid_stream()
    c.send(1, b"\x16\x03\x03\x00\x10" + bytes(16))
    conn = _one(b.run(c))
    assert conn.server == "10.0.0.2:443"
    assert conn.label == "unused" and conn.protocol == "tls"  # a handshake record only


def test_port_reuse_new_isn_makes_two_connections() -> None:
    first = b.Conversation(client_isn=100, server_isn=9000).handshake()
    first.exchange(REQ, RESP).close(first=0)
    second = b.Conversation(client_isn=777_777, server_isn=55_555, t0=first.t + 0.5)
    second.handshake().exchange(REQ, RESP).close(first=1)
    conns = b.run(first.frames() + second.frames())
    assert [c.id for c in conns] == ["C1", "C2"]
    assert [(c.syn, c.synack, c.requests, c.closed_by) for c in conns] == [
        (1, 1, 1, "client"),
        (1, 1, 1, "server"),
    ]
    assert all(c.client == "10.0.0.1:51234" for c in conns)
    assert conns[0].end < conns[1].start


def test_retransmitted_syn_is_one_connection() -> None:
    c = b.Conversation().handshake()
    c.duplicate(0, to=1)  # SYN, SYN (same ISN), SYN-ACK, ACK
    c.exchange(REQ, RESP)
    conn = _one(b.run(c))
    assert conn.syn == 2 and conn.synack == 1
    assert conn.requests == 1


def test_fin_and_rst_counting_per_side() -> None:
    c = b.Conversation().handshake().exchange(REQ, RESP)
    c.fin(1)
    c.duplicate(len(c.segments) - 1)  # the server retransmits its FIN
    c.fin(0)
    c.rst(0)
    conn = _one(b.run(c))
    assert (conn.fin_client, conn.fin_server, conn.rst_client, conn.rst_server) == (1, 2, 1, 0)
    assert conn.closed_by == "server"  # the first teardown packet


@pytest.mark.parametrize(("side", "expected"), [(0, "client-rst"), (1, "server-rst")])
def test_closed_by_rst(side, expected) -> None:
    c = b.Conversation().handshake().exchange(REQ, RESP).rst(side)
    conn = _one(b.run(c))
    assert conn.closed_by == expected
    assert (conn.rst_client, conn.rst_server) == ((1, 0) if side == 0 else (0, 1))
    assert conn.exchanges[-1].closed_connection


def test_open_at_end_of_capture() -> None:
    c = b.Conversation().handshake().exchange(REQ, RESP)
    conn = _one(b.run(c))
    assert conn.closed_by == "open" and not conn.expired
    assert not conn.exchanges[-1].closed_connection


def test_labels_unused_and_not_http() -> None:
    unused = b.Conversation(client_isn=1).handshake().close()
    assert _one(b.run(unused)).label == "unused"
    tls = b.Conversation(client_isn=2).handshake()
    tls.send(0, b"\x16\x03\x01\x00\x40\x01" + bytes(range(1, 64))).close()
    conn = _one(b.run(tls))
    assert conn.label == "unused" and conn.requests == 0  # TLS: a handshake, no request
    other = b.Conversation(client_isn=3).handshake()
    other.send(0, b"\x00\x01binary protocol\r\n").close()
    conn = _one(b.run(other))
    assert conn.label == "not-http" and conn.protocol == "unknown"


def test_ipv6_endpoints() -> None:
    c = b.Conversation(("2001:db8::1", 51000), ("2001:db8::80", 80)).handshake()
    c.exchange(REQ, RESP).close()
    conn = _one(b.run(c))
    assert (conn.client, conn.server) == ("[2001:db8::1]:51000", "[2001:db8::80]:80")
    assert conn.requests == 1 and conn.closed_by == "client"


def test_vlan_and_other_link_layers_take_the_general_path() -> None:
    c = b.Conversation().handshake().exchange(REQ, RESP).close()
    plain = _one(b.run(c))
    for kw in ({"vlans": [10]}, {"vlans": [10, 20], "qinq": True}, {"mpls": 2}):
        conn = _one(b.run(c.frames(1, **kw)))
        assert (conn.client, conn.requests, conn.closed_by) == (
            plain.client,
            plain.requests,
            plain.closed_by,
        )


def test_capture_loss_counts_missing_bytes() -> None:
    body = bytes(range(65, 91)) * 200  # 5200 bytes
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    c = b.Conversation().handshake().request(REQ).response(resp, mss=1000)
    c.exchange(REQ, RESP)
    lost = c.data_indexes(1)[2]  # a segment in the middle of the first body
    size = len(c.segments[lost].payload)
    c.drop(lost)
    conn = _one(b.run(c))
    assert conn.missing_bytes == size
    assert conn.anomalies.get("missing-bytes") == 1
    assert [e.status for e in conn.exchanges] == [200, 200]  # framing survived the gap


def test_snaplen_cut_counts_missing_bytes() -> None:
    body = b"x" * 3000
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n" + body
    c = b.Conversation().handshake().request(REQ).response(resp, mss=1460)
    c.exchange(REQ, RESP)
    full = sum(len(s.payload) for s in c.segments)
    conns = b.run(c, snaplen=54 + 100)  # Ethernet+IPv4+TCP headers and 100 payload bytes
    conn = _one(conns)
    captured = sum(min(len(s.payload), 100) for s in c.segments)
    assert conn.missing_bytes == full - captured
    assert [e.status for e in conn.exchanges] == [200, 200]


def test_skipped_frames_and_tcp_packet_count() -> None:
    c = b.Conversation().handshake().exchange(REQ, RESP)
    frames = c.frames()
    udp = b.ethernet(b.ipv4("10.0.0.1", "10.0.0.3", b.udp(5353, 5353, b"mdns"), proto=17))
    arp = b.ethernet(b.arp(), etype=0x0806)
    mixed = [frames[0], (frames[0][0], udp), (frames[0][0], arp)] + frames[1:]
    buf, recs = b.records(mixed)
    table = FlowTable(capture="t")
    table.feed(buf, recs)
    conns = table.finish()
    assert table.tcp_packets == len(frames)
    assert table.skipped == {"udp": 1, "not-ip": 1}
    assert _one(conns).requests == 1


def test_connections_are_numbered_by_first_packet() -> None:
    a = b.Conversation(("10.0.0.1", 50001), t0=100.0).handshake()
    bb = b.Conversation(("10.0.0.1", 50002), t0=100.0005).handshake()
    a.exchange(REQ, RESP)
    bb.exchange(REQ, RESP).close()  # finishes first, numbered second
    conns = b.run(b.merge(a.frames(), bb.frames()), batch=1)
    assert [(c.id, c.client) for c in conns] == [("C1", "10.0.0.1:50001"), ("C2", "10.0.0.1:50002")]


def test_first_id_offsets_the_numbering() -> None:
    c = b.Conversation().handshake()
    buf, recs = b.records(c.frames())
    table = FlowTable(capture="t", first_id=7)
    table.feed(buf, recs)
    assert [r.id for r in table.finish()] == ["C7"]


def test_idle_connection_expires_with_a_small_idle_timeout() -> None:
    idle = b.Conversation(("10.0.0.1", 50001), t0=1000.0).handshake().exchange(REQ, RESP)
    busy = b.Conversation(("10.0.0.1", 50002), t0=1100.0).handshake().exchange(REQ, RESP)
    conns = b.run(idle.frames() + busy.frames(), idle_timeout=30.0, batch=1)
    by_client = {c.client: c for c in conns}
    gone = by_client["10.0.0.1:50001"]
    assert gone.expired and gone.closed_by == "open"
    assert gone.end < 1100.0
    assert not by_client["10.0.0.1:50002"].expired  # still active at the end
    assert len(conns) == 2


def test_idle_expiry_does_not_happen_with_default_timeout() -> None:
    idle = b.Conversation(("10.0.0.1", 50001), t0=1000.0).handshake().exchange(REQ, RESP)
    busy = b.Conversation(("10.0.0.1", 50002), t0=1100.0).handshake().exchange(REQ, RESP)
    conns = b.run(idle.frames() + busy.frames(), batch=1)
    assert not any(c.expired for c in conns)


def _idle_then_resume() -> list[tuple[float, bytes]]:
    """Connection A talks, is silent 120 s, talks again; connection B sends a packet in
    the middle of A's silence (capture time moves on)."""
    a = b.Conversation(("10.0.0.1", 50001), t0=1000.0).handshake().exchange(REQ, RESP)
    a.idle(120.0)
    a.exchange(REQ, RESP)
    other = b.Conversation(("10.0.0.1", 50002), t0=1060.0).handshake()
    return b.merge(a.frames(), other.frames())


def test_traffic_after_idle_expiry_is_a_new_connection() -> None:
    """Zeek's inactivity timeout: a connection silent longer than idle_timeout is finished;
    later packets on its 4-tuple start a new (mid-stream) connection."""
    conns = b.run(_idle_then_resume(), idle_timeout=30.0, batch=1)
    a = [c for c in conns if c.client == "10.0.0.1:50001"]
    assert len(a) == 2
    assert a[0].expired and a[0].requests == 1 and a[0].handshake_seen
    assert not a[1].handshake_seen and a[1].requests == 1


def test_idle_expiry_does_not_depend_on_batching() -> None:
    frames = _idle_then_resume()
    per_packet = b.run(frames, idle_timeout=30.0, batch=1)
    one_batch = b.run(frames, idle_timeout=30.0)
    assert b.summary(one_batch) == b.summary(per_packet)
    assert len(one_batch) == len(per_packet)


def test_closed_connections_are_finished_after_the_linger() -> None:
    c = b.Conversation(("10.0.0.1", 50001), t0=0.0).handshake().exchange(REQ, RESP).close()
    later = b.Conversation(("10.0.0.1", 50002), t0=100.0).handshake()
    frames = c.frames() + later.frames()
    buf, recs = b.records(frames[: len(c.segments)])
    table = FlowTable(capture="t", close_linger=5.0)
    table.feed(buf, recs)
    assert len(table.open) == 1  # closed, but lingering for late packets
    buf, recs = b.records(frames[len(c.segments) :])
    table.feed(buf, recs)
    assert [r.client for r in table.records] == ["10.0.0.1:50001"]
    assert not table.records[0].expired
    assert len(table.finish()) == 2


def test_progress_and_recent_for_a_live_view() -> None:
    """Per server so far (finished and open connections together) and the latest
    connections, labelled as their records will be."""
    persistent = b.Conversation(("10.0.0.1", 50001), t0=0.0).handshake()
    persistent.exchange(REQ, RESP).exchange(REQ, RESP)
    once = b.Conversation(("10.0.0.1", 50002), t0=0.5).handshake().exchange(REQ, RESP).close(1)
    fresh = b.Conversation(("10.0.0.1", 50003), ("10.0.0.3", 8080), t0=0.7).handshake()
    buf, recs = b.records(b.merge(persistent.frames(), once.frames(), fresh.frames()))
    table = FlowTable(capture="t", close_linger=0.1)
    table.feed(buf, recs)
    later = b.Conversation(("10.0.0.1", 50004), t0=20.0).handshake()  # sweeps "once" away
    buf, recs = b.records(later.frames())
    table.feed(buf, recs)
    assert [r.id for r in table.records] == ["C2"]
    p = table.progress()
    # open, conns, handshakes, requests, persistent, per-request, TLS full, TLS resumed
    assert p["10.0.0.2:80"] == (2, 3, 3, 3, 1, 1, 0, 0)
    assert p["10.0.0.2:80"].persistent == 1 and p["10.0.0.2:80"].per_request == 1
    assert p["10.0.0.3:8080"] == (1, 1, 1, 0, 0, 0, 0, 0)
    assert table.recent(3) == [
        ("C2", "10.0.0.1:50002", "10.0.0.2:80", 1, "per-request", "server"),
        ("C3", "10.0.0.1:50003", "10.0.0.3:8080", 0, "…", "open"),
        ("C4", "10.0.0.1:50004", "10.0.0.2:80", 0, "…", "open"),
    ]


def test_tcp_packets_are_counted_at_the_end_of_each_batch() -> None:
    c = b.Conversation().handshake().exchange(REQ, RESP)
    udp = b.ethernet(b.ipv4("10.0.0.1", "10.0.0.3", b.udp(53, 53, b"q"), proto=17))
    frames = c.frames()
    buf, recs = b.records([frames[0], (frames[0][0], udp), *frames[1:]])
    table = FlowTable(capture="t")
    for i, (ts, lt, off, caplen, _wire) in enumerate(recs):
        table.frame(buf, ts, lt, off, caplen, i)
    assert table.tcp_packets == 0  # (not yet: the batch is not over)
    table.end_batch(recs[-1][0], len(recs))
    assert table.tcp_packets == len(frames) and table.skipped == {"udp": 1}


def test_a_connection_open_again_after_a_rst_is_not_swept_at_that_rst_linger() -> None:
    """A RST in the handshake, then the retransmitted SYN carries the connection on: the
    sweep must not finish it when the RST's linger is over (another connection's packets
    move the clock on while it is quiet)."""
    c = b.Conversation(("10.0.0.1", 50001), t0=0.0)
    c.emit(0, b.SYN)
    c.emit(1, b.SYN | b.ACK)
    c.rst(0)
    c.emit(0, b.SYN)
    c.emit(1, b.SYN | b.ACK)
    c.ack(0)
    c.exchange(REQ, RESP).idle(30.0).exchange(REQ, RESP).close()
    other = b.Conversation(("10.0.0.1", 50002), t0=15.0).handshake().exchange(REQ, RESP)
    for batch in (None, 1):
        conns = b.run(b.merge(c.frames(), other.frames()), batch=batch, close_linger=5.0)
        conn = [x for x in conns if x.client == "10.0.0.1:50001"]
        assert len(conn) == 1 and len(conns) == 2
        assert (conn[0].requests, conn[0].closed_by, conn[0].syn) == (2, "client", 2)


def test_a_syn_ack_with_a_new_isn_before_any_data_restarts_the_server_stream() -> None:
    c = b.Conversation(server_isn=1234)
    c.emit(0, b.SYN)
    c.emit(1, b.SYN | b.ACK)
    c.isn[1] = 987_654_321
    c.emit(1, b.SYN | b.ACK)  # the server's second try, with a new ISN
    c.ack(0)
    c.exchange(REQ, RESP)
    conn = _one(b.run(c))
    assert (conn.synack, conn.responses, conn.missing_bytes) == (2, 1, 0)
