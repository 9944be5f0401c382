"""exchanges: pairing requests with responses (RFC 9112 §9.3.2 pipelining, 1xx interim
responses) and the per-exchange accounting that ends up in the exchange records."""

from __future__ import annotations

import pytest

from analyzer.core.exchanges import MAX_PENDING
from tests import builders as b

MODES = ["whole", "bytes", "split7"]
OK0 = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def _resp(status: int, body: bytes = b"", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %d X\r\n%sContent-Length: %d\r\n\r\n%s" % (status, extra, len(body), body)


@pytest.mark.parametrize("mode", MODES)
def test_pipelined_requests_are_paired_in_order(mode) -> None:
    reqs = (
        b"GET /1 HTTP/1.1\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\n"
        b"POST /3 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcDELETE /4 HTTP/1.1\r\n\r\n"
    )
    resps = (
        _resp(200, b"one")
        + b"HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n"  # HEAD: no body follows
        + _resp(201, b"three")
        + _resp(404)
    )
    conv = b.talk([(0, reqs), (1, resps)], mode)
    assert [(e.index, e.method, e.target, e.status) for e in conv.exchanges] == [
        (1, "GET", "/1", 200),
        (2, "HEAD", "/2", 200),
        (3, "POST", "/3", 201),
        (4, "DELETE", "/4", 404),
    ]
    assert conv.anomalies == {}
    assert not conv.pending


def test_responses_arriving_while_requests_still_come() -> None:
    conv = b.talk(
        [
            (0, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"),
            (1, _resp(200)),
            (0, b"GET /3 HTTP/1.1\r\n\r\n"),
            (1, _resp(301) + _resp(302)),
        ]
    )
    assert [(e.target, e.status) for e in conv.exchanges] == [("/1", 200), ("/2", 301), ("/3", 302)]


def test_interim_responses_are_counted_on_their_exchange() -> None:
    conv = b.talk(
        [
            (0, b"PUT /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"),
            (1, b"HTTP/1.1 100 Continue\r\n\r\n"),
            (0, b"hi"),
            (1, b"HTTP/1.1 102 Processing\r\n\r\n" + _resp(200)),
            (0, b"GET /b HTTP/1.1\r\n\r\n"),
            (1, _resp(200)),
        ]
    )
    assert [(e.target, e.status, e.interim_responses) for e in conv.exchanges] == [
        ("/a", 200, 2),
        ("/b", 200, 0),
    ]
    assert (conv.requests, conv.responses, conv.interim) == (2, 2, 2)


def test_interim_without_request_is_an_anomaly_not_an_exchange() -> None:
    conv = b.talk([(1, b"HTTP/1.1 100 Continue\r\n\r\n")])
    assert conv.exchanges == []
    assert conv.anomalies == {"interim-response-without-request": 1}
    assert conv.interim == 1 and conv.responses == 0


def test_response_without_request_makes_an_orphan_exchange() -> None:
    conv = b.talk(
        [
            (1, _resp(200, b"abc")),
            (0, b"GET /late HTTP/1.1\r\n\r\n"),
            (1, _resp(204)),
        ]
    )
    assert [(e.index, e.method, e.status) for e in conv.exchanges] == [
        (1, None, 200),
        (2, "GET", 204),
    ]
    assert conv.anomalies == {"response-without-request": 1}
    assert (conv.requests, conv.responses) == (1, 2)


def test_more_than_max_pending_requests_is_an_anomaly() -> None:
    n = MAX_PENDING + 20
    reqs = b"".join(b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(n))
    conv = b.talk([(0, reqs)])
    assert conv.requests == n and len(conv.exchanges) == n
    assert conv.anomalies == {"too-many-pending-requests": 20}
    assert len(conv.pending) == MAX_PENDING
    # responses still pair with the oldest request kept
    conv2 = b.talk([(0, reqs), (1, _resp(200))])
    answered = [e.target for e in conv2.exchanges if e.status == 200]
    assert answered == ["/20"]


def test_connection_header_tokens_and_timestamps() -> None:
    conv = b.talk(
        [
            (0, b"GET / HTTP/1.1\r\nConnection: Keep-Alive, Upgrade\r\n\r\n"),
            (1, _resp(200, b"x", b"Connection: CLOSE\r\n")),
        ]
    )
    ex = conv.exchanges[0]
    assert ex.request_connection == "keep-alive, upgrade"
    assert ex.response_connection == "close"
    # talk() advances time 1 ms per piece: request at 1.000, response at 1.001
    assert ex.request_ts == pytest.approx(1.0)
    assert ex.response_ts == pytest.approx(1.001)
    assert ex.response_end_ts == pytest.approx(1.001)
    assert ex.request_end_ts == pytest.approx(1.0)


def test_request_and_response_timestamps_are_those_of_the_first_byte() -> None:
    req = b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"
    resp = _resp(200, b"0123456789")
    conv = b.talk([(0, req), (1, resp)], "bytes")
    ex = conv.exchanges[0]
    assert ex.request_ts == pytest.approx(1.0)
    assert ex.request_end_ts == pytest.approx(1.0 + (len(req) - 1) * 0.001)
    first_resp = 1.0 + len(req) * 0.001
    assert ex.response_ts == pytest.approx(first_resp)
    assert ex.response_end_ts == pytest.approx(first_resp + (len(resp) - 1) * 0.001)


def test_upgrade_marks_the_conversation_and_stops_both_readers() -> None:
    conv = b.talk(
        [
            (
                0,
                b"GET /chat HTTP/1.1\r\nUpgrade: h2c\r\n"
                b"Connection: Upgrade, HTTP2-Settings\r\n\r\n",
            ),
            (1, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"),
            (0, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            (1, b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"),
        ]
    )
    assert conv.upgraded and conv.is_http
    assert [(e.method, e.status, e.framing) for e in conv.exchanges] == [("GET", 101, "tunnel")]
    assert conv.anomalies == {}


# ---- through the flow table: what the exchange records say about the connection
def test_exchange_records_from_a_connection() -> None:
    c = b.Conversation().handshake()
    c.exchange(b"GET /a HTTP/1.1\r\n\r\n", _resp(200, b"aa"))
    c.exchange(b"GET /b HTTP/1.1\r\n\r\n", _resp(200, b"bb"))
    c.close(first=1)
    (conn,) = b.run(c)
    assert [(e.connection, e.index, e.target) for e in conn.exchanges] == [
        ("C1", 1, "/a"),
        ("C1", 2, "/b"),
    ]
    assert [e.opened_connection for e in conn.exchanges] == [True, False]
    assert [e.closed_connection for e in conn.exchanges] == [False, True]
    assert conn.label == "persistent" and conn.requests == 2 and conn.responses == 2


def test_no_handshake_means_no_exchange_opened_it() -> None:
    c = b.Conversation().mid_stream()
    c.exchange(b"GET /a HTTP/1.1\r\n\r\n", _resp(200))
    (conn,) = b.run(c)
    assert [e.opened_connection for e in conn.exchanges] == [False]
    assert [e.closed_connection for e in conn.exchanges] == [False]  # still open
    assert conn.label == "per-request" and conn.closed_by == "open"


def test_software_fields_come_from_the_first_request_and_final_response() -> None:
    conv = b.talk(
        [
            (0, b"PUT /a HTTP/1.1\r\nUser-Agent: Go-http-client/1.1\r\n"
                b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"),
            (1, b"HTTP/1.1 100 Continue\r\n\r\n"),
            (0, b"hi"),
            (1, b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nVia: 1.1 edge\r\n"
                b"Content-Length: 0\r\n\r\n"),
            (0, b"GET /b HTTP/1.1\r\nUser-Agent: curl/8\r\nX-Forwarded-For: 10.0.0.9\r\n\r\n"),
            (1, b"HTTP/1.1 200 OK\r\nServer: other\r\nContent-Length: 0\r\n\r\n"),
        ]
    )
    # a 100 Continue names no server: the final response does; later messages change
    # nothing (the connection keeps the first of each)
    assert (conv.user_agent, conv.server_software, conv.via) == (
        "Go-http-client/1.1", "nginx/1.22.1", "1.1 edge"
    )
    assert conv.forwarded is False
