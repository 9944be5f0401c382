"""protocols: a connection's first payload bytes choose its reader.

Each protocol's first bytes are checked whole, cut at every byte boundary (the answer
waits, then never changes) and followed by junk; garbage is ``unknown``. Then the
:class:`Opening` that holds bytes while the answer waits, and whole connections through a
flow table: HTTP/1 as before, an h2c preface or a TLS handshake with no HTTP/1 reader.
Expected values come from RFC 9113 §3.4 (the preface), RFC 8446 §5.1 (record header) and
RFC 9112 §3/§4 (start lines).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzer.core import protocols
from analyzer.core.http1 import looks_like_request
from analyzer.core.protocols import (
    H2C,
    H2C_PREFACE,
    HTTP1,
    MORE,
    SIGNATURES,
    SNIFF_MAX,
    TLS,
    UNKNOWN,
    Opening,
    identify,
    request_line,
    sender,
)
from tests import builders as b

SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # an empty SETTINGS frame (RFC 9113 §6.5)
CLIENT_HELLO = b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03" + bytes(32)
SERVER_HELLO = b"\x16\x03\x03\x00\x5a\x02\x00\x00\x56\x03\x03" + bytes(32)
GET = b"GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

# (id, bytes, from the client, protocol)
FIRST_BYTES = [
    ("h2c-preface", H2C_PREFACE, True, H2C),
    ("h2c-preface-and-settings", H2C_PREFACE + SETTINGS, True, H2C),
    ("tls-client-hello", CLIENT_HELLO, True, TLS),
    ("tls-server-hello", SERVER_HELLO, False, TLS),
    ("ssl3-record", b"\x16\x03\x00\x00\x10", True, TLS),
    ("tls13-record-version", b"\x16\x03\x04\x00\x10", True, TLS),
    ("http-get", GET, True, HTTP1),
    ("http-post", b"POST /api HTTP/1.1\r\nContent-Length: 0\r\n\r\n", True, HTTP1),
    ("http-long-method", b"PROPFIND /dav HTTP/1.1\r\n\r\n", True, HTTP1),
    ("http-pri-1.1", b"PRI * HTTP/1.1\r\nHost: x\r\n\r\n", True, HTTP1),
    ("http-leading-crlf", b"\r\n\r\nGET / HTTP/1.0\r\n\r\n", True, HTTP1),
    ("http-0.9", b"GET /old\r\n", True, HTTP1),
    ("http-lowercase-get", b"get / HTTP/1.1\r\n\r\n", True, HTTP1),
    ("http-status", OK, False, HTTP1),
    ("http-status-lowercase", b"http/1.0 404 Not Found\r\n\r\n", False, HTTP1),
    ("ssh-banner", b"SSH-2.0-OpenSSH_9.6\r\n", True, UNKNOWN),
    ("smtp-banner", b"220 mail.example ESMTP\r\n", False, UNKNOWN),
    # a capture that began after the handshake: application data, then the next record
    ("tls-application-data", (b"\x17\x03\x03\x00\x20" + bytes(32)) * 2, True, TLS),
    ("tls-application-data-then-junk", b"\x17\x03\x03\x00\x20" + bytes(32) + b"GET /",
     True, UNKNOWN),
    ("tls-empty-application-data", b"\x17\x03\x03\x00\x00" + bytes(8), True, UNKNOWN),
    ("tls-bad-version", b"\x16\x03\x05\x00\x10", True, UNKNOWN),
    ("tls-bad-major", b"\x16\x02\x00\x00\x10", True, UNKNOWN),
    ("h2c-from-the-server", H2C_PREFACE, False, UNKNOWN),
    ("request-from-the-server", GET, False, UNKNOWN),
    ("status-from-the-client", OK, True, UNKNOWN),
    ("binary", bytes(range(256)), True, UNKNOWN),
    ("method-too-long", b"A" * 30 + b" / HTTP/1.1\r\n", True, UNKNOWN),
    ("no-version-in-the-window", b"POST /" + b"a" * SNIFF_MAX, True, UNKNOWN),
    ("empty-lines-only", b"\r\n" * (SNIFF_MAX // 2), True, UNKNOWN),
]
IDS = [case[0] for case in FIRST_BYTES]


@pytest.mark.parametrize("name,data,from_client,protocol", FIRST_BYTES, ids=IDS)
def test_first_bytes_whole_and_with_junk_after(name, data, from_client, protocol) -> None:
    assert identify(data, from_client) == protocol
    if protocol != UNKNOWN:
        assert identify(data + b"\xff\x00junk", from_client) == protocol


@pytest.mark.parametrize("name,data,from_client,protocol", FIRST_BYTES, ids=IDS)
def test_every_prefix_waits_or_gives_the_same_answer(name, data, from_client, protocol) -> None:
    """Cut at every byte: a prefix says MORE, or the answer the whole gives — and once it
    has answered, every longer prefix says the same (the choice does not depend on how
    the bytes were segmented)."""
    answered = None
    for n in range(1, min(len(data), SNIFF_MAX) + 1):
        got = identify(data[:n], from_client)
        if answered is not None:
            assert got == answered, (n, got)
        elif got != MORE:
            answered = got
            assert got == protocol, (n, got)
    assert answered == protocol


def test_the_signatures_are_checked_in_order() -> None:
    """h2c before HTTP/1 (the preface is a request line), and the names are the
    vocabulary's (DESIGN.md)."""
    names = [name for name, _matcher in SIGNATURES]
    assert names == [H2C, TLS, HTTP1]
    assert {H2C, TLS, HTTP1, UNKNOWN} == {"h2c", "tls", "http/1.x", "unknown"}
    assert identify(H2C_PREFACE[:16], True) == MORE  # "PRI * HTTP/2.0\r\n": not yet HTTP/1
    assert identify(b"", True) == MORE


def test_only_http1_and_unknown_get_the_http1_reader() -> None:
    assert protocols.HTTP1_READER == {HTTP1, UNKNOWN}


@given(st.binary(max_size=80))
def test_request_line_matches_exactly_when_looks_like_request_does(data: bytes) -> None:
    assert (request_line(data) == protocols.MATCH) == looks_like_request(data)


@given(
    st.sampled_from([b"", b"\r\n", b"\n\r\n"]),
    st.sampled_from([b"GET", b"get", b"POST", b"M-SEARCH", b"X" * 24, b"X" * 25, b"G3T_"]),
    st.sampled_from([b" ", b"\t", b""]),
    st.sampled_from([b"/ HTTP/1.1\r\n", b"/x\r\n", b"* HTTP/2.0\r\n", b"/a b HTTP/1.0", b""]),
)
def test_request_line_on_request_like_bytes(crlf, method, space, rest) -> None:
    data = crlf + method + space + rest
    assert (request_line(data) == protocols.MATCH) == looks_like_request(data)


def test_sender_names_the_side_a_start_line_comes_from() -> None:
    assert sender(GET) == protocols.CLIENT
    assert sender(OK) == protocols.SERVER
    assert sender(b"\x16\x03\x01\x00") == protocols.NEITHER
    assert sender(b"body bytes from the middle of a response") == protocols.NEITHER


# ---- the Opening: holding bytes while the answer waits
class Reader:
    """A sink that records what it is given."""

    def __init__(self, log: list[tuple[object, ...]], side: int) -> None:
        self.log = log
        self.side = side

    def data(self, buf: bytes, start: int, end: int, ts: float) -> None:
        self.log.append((self.side, "data", buf[start:end], ts))

    def gap(self, n: int, ts: float) -> None:
        self.log.append((self.side, "gap", n, ts))

    def eof(self, ts: float) -> None:
        self.log.append((self.side, "eof", ts))


def _opening() -> tuple[Opening, list[str], list[tuple[object, ...]]]:
    chosen: list[str] = []
    log: list[tuple[object, ...]] = []

    def attach(protocol: str) -> protocols.Readers:
        chosen.append(protocol)
        if protocol in protocols.HTTP1_READER:
            return Reader(log, 0), Reader(log, 1)
        return None, None

    return Opening(attach), chosen, log


def _feed(sink: object, data: bytes, cuts: list[int], t0: float = 1.0) -> None:
    """``data`` in pieces cut at ``cuts``, each piece inside junk it must not read."""
    edges = [0, *cuts, len(data)]
    for k, (a, z) in enumerate(zip(edges, edges[1:], strict=False)):
        sink.data(b"\xee" * 5 + data[a:z] + b"\xee" * 5, 5, 5 + z - a, t0 + k)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "data,protocol", [(GET, HTTP1), (H2C_PREFACE + SETTINGS, H2C), (CLIENT_HELLO, TLS),
                      (b"SSH-2.0-x\r\n", UNKNOWN)],
    ids=["http1", "h2c", "tls", "unknown"],
)
def test_opening_split_at_every_byte_chooses_once_and_hands_everything_on(
    data: bytes, protocol: str
) -> None:
    for cut in range(1, len(data)):
        opening, chosen, log = _opening()
        client, _server = opening.sinks()
        _feed(client, data, [cut])
        assert chosen == [protocol]
        if protocol in protocols.HTTP1_READER:
            # every byte, once, in order, each piece with its own time
            assert b"".join(e[2] for e in log) == data  # type: ignore[misc]
            assert [e[3] for e in log] == [1.0, 2.0][: len(log)]
        else:
            assert log == []


def test_opening_one_byte_at_a_time() -> None:
    for data, protocol in ((H2C_PREFACE, H2C), (b"POST /x HTTP/1.1\r\n\r\n", HTTP1)):
        opening, chosen, log = _opening()
        client, _server = opening.sinks()
        _feed(client, data, list(range(1, len(data))))
        assert chosen == [protocol]
        if protocol == HTTP1:
            assert b"".join(e[2] for e in log) == data  # type: ignore[misc]
            assert len(log) == len(data)


def test_opening_replays_both_directions_in_the_order_they_came() -> None:
    """The client's held prefix, then the server's deciding bytes: the readers get them
    in arrival order, as they would have without the wait."""
    opening, chosen, log = _opening()
    client, server = opening.sinks()
    client.data(b"PRI", 0, 3, 1.0)  # could be the h2c preface: held
    assert chosen == [] and log == []
    server.data(OK, 0, len(OK), 2.0)  # a status line: HTTP/1 for the connection
    assert chosen == [HTTP1]
    assert log == [(0, "data", b"PRI", 1.0), (1, "data", OK, 2.0)]
    client.data(b" * HTTP/1.1\r\n\r\n", 0, 15, 3.0)  # after the choice: straight on
    assert log[-1] == (0, "data", b" * HTTP/1.1\r\n\r\n", 3.0)


def test_a_gap_or_the_end_while_waiting_chooses_unknown() -> None:
    for event in ("gap", "eof"):
        opening, chosen, log = _opening()
        client, _server = opening.sinks()
        client.data(b"\x16\x03", 0, 2, 1.0)  # a TLS record header cut short
        if event == "gap":
            client.gap(100, 2.0)
        else:
            client.eof(2.0)
        assert chosen == [UNKNOWN]
        assert log[0] == (0, "data", b"\x16\x03", 1.0)
        assert log[1][:2] == (0, event)


def test_opening_holds_at_most_the_window() -> None:
    opening, chosen, log = _opening()
    client, _server = opening.sinks()
    _feed(client, b"\r\n" * SNIFF_MAX, [1000, 3000, 5000])
    assert chosen == [UNKNOWN]
    assert b"".join(e[2] for e in log) == b"\r\n" * SNIFF_MAX  # type: ignore[misc]


# ---- whole connections through a flow table
def _conn(*steps: tuple[int, bytes, list[int] | None], handshake: bool = True):  # type: ignore[no-untyped-def]
    c = b.Conversation(("10.0.0.1", 40000), ("10.0.0.2", 8080))
    c.handshake() if handshake else c.mid_stream()
    for side, data, sizes in steps:
        c.send(side, data, sizes)
    c.close(0)
    (conn,) = b.run(c)
    return conn


def test_http1_connection_is_read_as_before() -> None:
    conn = _conn((0, GET, None), (1, OK, None), (0, GET, [1]), (1, OK, None))
    assert (conn.requests, conn.responses, conn.label) == (2, 2, "persistent")


@pytest.mark.parametrize("cut", [1, 3, 16, 18, 19])
def test_request_cut_inside_a_preface_prefix_is_still_http1(cut: int) -> None:
    """``P``, ``PRI * HTTP/2.0␍␊`` … could begin the h2c preface: the table waits for
    more bytes, and the request reader then gets them all, as it did before there was a
    table (an HTTP/1 request ``PRI * HTTP/2.0`` whose body is not the preface's)."""
    near = b"PRI * HTTP/2.0\r\n\r\nSX\r\n\r\n"  # differs from the preface at byte 19
    req = b"POST /x HTTP/1.1\r\n\r\n" if cut <= 3 else near
    conn = _conn((0, req, [cut]), (1, OK, None))
    assert (conn.requests, conn.responses, conn.label) == (1, 1, "per-request")
    e = conn.exchanges[0]
    assert (e.method, e.version) == (("POST", "1.1") if cut <= 3 else ("PRI", "2.0"))
    assert conn.anomalies == ({} if cut <= 3 else {"unexpected-data": 1})


@pytest.mark.parametrize("sizes", [None, [1], [5], [16], [23]])
def test_h2c_preface_gets_no_http1_reader(sizes: list[int] | None) -> None:
    conn = _conn((0, H2C_PREFACE + SETTINGS, sizes), (1, SETTINGS, None))
    # read as HTTP/2: no request on it (a preface and SETTINGS only), so unused
    assert (conn.requests, conn.responses, conn.label, conn.protocol) == (0, 0, "unused", "h2c")
    assert conn.anomalies == {}  # nothing was read as a broken HTTP/1 message


@pytest.mark.parametrize("sizes", [None, [1], [2]])
def test_tls_gets_no_http1_reader(sizes: list[int] | None) -> None:
    conn = _conn((0, CLIENT_HELLO, sizes), (1, SERVER_HELLO, None))
    # read as TLS: a handshake that carried no request, so unused
    assert (conn.requests, conn.label, conn.protocol) == (0, "unused", "tls")
    assert conn.closed_by == "client"


def test_server_speaking_first_is_unknown_and_read_as_before() -> None:
    conn = _conn((1, b"220 ready\r\n", None), (0, b"HELO x\r\n", None))
    assert (conn.requests, conn.label) == (0, "not-http")
