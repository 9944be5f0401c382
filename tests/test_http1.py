"""http1: passive HTTP/1.x message framing (RFC 9112), both directions.

Every case runs whole, one byte at a time, in 7-byte pieces, and with trailing junk after
the last request (which may add an anomaly but must not change the exchanges), through the
real owner (:class:`analyzer.core.exchanges.Conversation`) that pairs the messages.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzer.core.exchanges import Conversation
from analyzer.core.http1 import MAX_HEAD, looks_like_request, looks_like_response
from tests import builders as b

MODES = ["whole", "bytes", "split7", "junk"]
JUNK = b"\x00\x17\x03junk that is not HTTP\xff"

Step = tuple[int, bytes]  # (0: client → server | 1: server → client, bytes)


def talk(steps: Sequence[Step], mode: str = "whole", eof: bool = True) -> Conversation:
    """The builders' talk(), plus the "junk" mode: trailing junk after the last request."""
    steps = list(steps)
    if mode == "junk":
        return b.talk(steps + [(0, JUNK)], "whole", eof)  # type: ignore[no-any-return]
    return b.talk(steps, mode, eof)  # type: ignore[no-any-return]


def exchanges(conv: Conversation) -> list[tuple[object, ...]]:
    return [
        (e.method, e.target, e.version, e.status, e.interim_responses, e.framing)
        for e in conv.exchanges
    ]


def anomalies(conv: Conversation, mode: str) -> dict[str, int]:
    a = dict(conv.anomalies)
    if mode == "junk":
        a.pop("unexpected-data", None)
    return a


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


OK0 = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def test_content_length_bodies_are_skipped_by_count(mode) -> None:
    body = b"GET /fake HTTP/1.1\r\n\r\n"  # looks like a request, but it is a body
    req = b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    resp = b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n%s" % (
        len(b"HTTP/1.1 500 no\r\n\r\n"),
        b"HTTP/1.1 500 no\r\n\r\n",
    )
    conv = talk([(0, req), (1, resp), (0, req), (1, resp)], mode)
    assert exchanges(conv) == [("POST", "/u", "1.1", 201, 0, "length")] * 2
    assert anomalies(conv, mode) == {}
    assert conv.requests == 2 and conv.responses == 2
    assert all(
        e.request_end_ts is not None and e.response_end_ts is not None for e in conv.exchanges
    )


def test_chunked_with_extensions_and_trailers(mode) -> None:
    chunk26 = b"abcdefghijklmnopqrstuvwxyz"
    resp1 = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=val\r\nhello\r\n"
        b'1A; x="q;r" ; y\r\n' + chunk26 + b"\r\n"
        b"0;last\r\nX-Trailer: t\r\nX-Other: o\r\n\r\n"
    )
    resp2 = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    req_chunked = b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nGET \r\n0\r\n\r\n"
    conv = talk([(0, b"GET /a HTTP/1.1\r\n\r\n"), (1, resp1), (0, req_chunked), (1, resp2)], mode)
    assert exchanges(conv) == [
        ("GET", "/a", "1.1", 200, 0, "chunked"),
        ("POST", "/up", "1.1", 200, 0, "chunked"),
    ]
    assert anomalies(conv, mode) == {}
    assert conv.exchanges[0].response_end_ts is not None


def test_chunked_wins_over_content_length_with_an_anomaly(mode) -> None:
    resp = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nhi\r\n0\r\n\r\n"
    )
    conv = talk([(0, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"), (1, resp + OK0)], mode)
    assert [e[3] for e in exchanges(conv)] == [200, 200]
    assert conv.exchanges[0].framing == "chunked"
    assert anomalies(conv, mode) == {"both-transfer-encoding-and-content-length": 1}


def test_head_response_has_no_body(mode) -> None:
    """RFC 9112 §6.3 (1): a response to HEAD ends at its header block, whatever its
    Content-Length says."""
    conv = talk(
        [
            (0, b"HEAD / HTTP/1.1\r\n\r\n"),
            (1, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
            (0, b"GET /2 HTTP/1.1\r\n\r\n"),
            (1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
        ],
        mode,
    )
    assert exchanges(conv) == [
        ("HEAD", "/", "1.1", 200, 0, "none"),
        ("GET", "/2", "1.1", 200, 0, "length"),
    ]
    assert anomalies(conv, mode) == {}


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_have_no_body(mode, status) -> None:
    resp = b'HTTP/1.1 %d X\r\nContent-Length: 50\r\nETag: "e"\r\n\r\n' % status
    conv = talk(
        [(0, b"GET /1 HTTP/1.1\r\n\r\n"), (1, resp), (0, b"GET /2 HTTP/1.1\r\n\r\n"), (1, OK0)],
        mode,
    )
    assert exchanges(conv) == [
        ("GET", "/1", "1.1", status, 0, "none"),
        ("GET", "/2", "1.1", 200, 0, "length"),
    ]
    assert anomalies(conv, mode) == {}


def test_interim_1xx_responses_belong_to_the_exchange(mode) -> None:
    resp = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 102 Processing\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    )
    conv = talk([(0, b"GET / HTTP/1.1\r\n\r\n"), (1, resp)], mode)
    assert exchanges(conv) == [("GET", "/", "1.1", 200, 2, "length")]
    assert conv.interim == 2 and conv.responses == 1


def test_100_continue_is_interim_not_an_exchange(mode) -> None:
    conv = talk(
        [
            (0, b"PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
            (1, b"HTTP/1.1 100 Continue\r\n\r\n"),
            (0, b"data"),
            (1, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
            (0, b"GET /after HTTP/1.1\r\n\r\n"),
            (1, OK0),
        ],
        mode,
    )
    assert exchanges(conv) == [
        ("PUT", "/f", "1.1", 201, 1, "length"),
        ("GET", "/after", "1.1", 200, 0, "length"),
    ]
    assert conv.requests == 2 and conv.responses == 2 and conv.interim == 1
    assert anomalies(conv, mode) == {}


def test_101_upgrade_stops_parsing(mode) -> None:
    ws_frame = b"\x81\x05hello"
    conv = talk(
        [
            (0, b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
            (
                1,
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n\r\n" + ws_frame,
            ),
            (0, b"\x81\x85\x01\x02\x03\x04" + b"GET /no HTTP/1.1\r\n\r\n"),
            (1, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),  # a websocket payload
        ],
        mode,
    )
    assert conv.upgraded
    assert exchanges(conv) == [("GET", "/ws", "1.1", 101, 0, "tunnel")]
    assert conv.requests == 1 and conv.responses == 1
    assert conv.anomalies == {}  # even junk after the upgrade is tunnel data


def test_connect_2xx_is_a_tunnel(mode) -> None:
    tls = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(40))
    conv = talk(
        [
            (0, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
            (1, b"HTTP/1.1 200 Connection Established\r\n\r\n"),
            (0, tls),
            (1, b"\x16\x03\x03\x00\x5a" + bytes(range(90))),
        ],
        mode,
    )
    assert conv.upgraded
    assert exchanges(conv) == [("CONNECT", "example.com:443", "1.1", 200, 0, "tunnel")]
    assert conv.anomalies == {}


def test_connect_refused_is_not_a_tunnel(mode) -> None:
    conv = talk(
        [
            (0, b"CONNECT example.com:443 HTTP/1.1\r\n\r\n"),
            (1, b"HTTP/1.1 407 Proxy Auth\r\nContent-Length: 2\r\n\r\nno"),
            (0, b"GET http://a/ HTTP/1.1\r\n\r\n"),
            (1, OK0),
        ],
        mode,
    )
    assert not conv.upgraded
    assert [e[:4] for e in exchanges(conv)] == [
        ("CONNECT", "example.com:443", "1.1", 407),
        ("GET", "http://a/", "1.1", 200),
    ]


def test_http10_close_delimited_response_ends_at_eof(mode) -> None:
    body = b"no length here\r\n\r\nHTTP/1.1 200 OK\r\n\r\nstill body"
    steps = [(0, b"GET / HTTP/1.0\r\n\r\n"), (1, b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\n" + body)]
    conv = talk(steps, mode)
    assert exchanges(conv) == [("GET", "/", "1.0", 200, 0, "close")]
    ex = conv.exchanges[0]
    assert ex.response_version == "1.0"
    assert ex.response_end_ts is not None and ex.response_end_ts > ex.response_ts
    assert conv.responses == 1
    open_conv = talk(steps, mode, eof=False)
    assert open_conv.exchanges[0].response_end_ts is None  # the body is still running


def test_http09_simple_request(mode) -> None:
    conv = talk([(0, b"GET /old.html\r\n"), (1, b"<html>very old</html>")], mode)
    assert len(conv.exchanges) == 1
    ex = conv.exchanges[0]
    assert (ex.method, ex.target, ex.version) == ("GET", "/old.html", "0.9")
    assert ex.response_version == "0.9" and ex.framing == "close"
    assert not ex.status  # HTTP/0.9 responses have no status line
    assert ex.response_end_ts is not None


def test_http09_request_cut_by_close_without_newline() -> None:
    conv = talk([(0, b"GET /x")])
    assert [(e.method, e.target, e.version) for e in conv.exchanges] == [("GET", "/x", "0.9")]


def test_response_without_request_is_an_orphan_exchange(mode) -> None:
    conv = talk([(1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi" + OK0)], mode)
    assert exchanges(conv) == [(None, None, None, 200, 0, "length")] * 2
    assert anomalies(conv, mode) == {"response-without-request": 2}
    assert conv.requests == 0 and conv.responses == 2


def test_header_block_over_64k_is_an_anomaly(mode) -> None:
    big = b"GET /big HTTP/1.1\r\nX-Big: " + b"a" * (MAX_HEAD + 100) + b"\r\n\r\n"
    conv = talk([(0, big)], mode)
    assert conv.anomalies.get("header-too-large") == 1
    assert conv.requests == 0


def test_header_block_just_under_64k_is_fine(mode) -> None:
    req = b"GET /ok HTTP/1.1\r\nX-Big: " + b"a" * (MAX_HEAD - 100) + b"\r\n\r\n"
    conv = talk([(0, req), (1, OK0)], mode)
    assert [e[:4] for e in exchanges(conv)] == [("GET", "/ok", "1.1", 200)]
    assert anomalies(conv, mode) == {}


def test_content_length_overflow(mode) -> None:
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\nabc" % (2**63 + 5)
    conv = talk([(0, b"GET / HTTP/1.1\r\n\r\n"), (1, resp)], mode)
    assert conv.anomalies.get("content-length-overflow") == 1
    assert exchanges(conv)[0][:4] == ("GET", "/", "1.1", 200)
    req = b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"
    conv = talk([(0, req)], mode)
    assert conv.anomalies.get("content-length-overflow") == 1


def test_conflicting_content_length(mode) -> None:
    """RFC 9112 §6.3 (5): differing Content-Length values are an error; equal repeated
    values are not."""
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello"
    conv = talk([(0, b"GET / HTTP/1.1\r\n\r\n"), (1, resp)], mode)
    assert conv.anomalies.get("conflicting-content-length") == 1
    same = b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nhi"
    conv = talk([(0, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"), (1, same + same)], mode)
    assert [e[3] for e in exchanges(conv)] == [200, 200]
    assert anomalies(conv, mode) == {}


def test_bad_content_length() -> None:
    conv = talk(
        [(0, b"GET / HTTP/1.1\r\n\r\n"), (1, b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")]
    )
    assert conv.anomalies.get("bad-content-length") == 1


def test_content_length_of_non_ascii_digits_is_bad(mode) -> None:
    """Bytes 0xB2, 0xB3, 0xB9 decode (latin-1) to '²', '³', '¹', which str.isdigit takes
    and int() refuses: a bad Content-Length, not a crash (found fuzzing)."""
    for value in (b"6\xb3", b"\xb9", b"1, 1\xb2"):
        resp = b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\n\r\n"
        conv = talk([(0, b"GET / HTTP/1.1\r\n\r\n"), (1, resp)], mode)
        assert conv.anomalies.get("bad-content-length") == 1 or conv.anomalies.get(
            "conflicting-content-length") == 1
        req = b"POST / HTTP/1.1\r\nContent-Length: " + value + b"\r\n\r\n"
        conv = talk([(0, req)], mode)
        assert conv.anomalies.get("bad-content-length") == 1 or conv.anomalies.get(
            "conflicting-content-length") == 1


def test_tls_is_not_http(mode) -> None:
    hello = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(1, 120))
    conv = talk([(0, hello), (1, b"\x16\x03\x03\x00\x7a\x02" + bytes(120))], mode)
    assert conv.exchanges == []
    assert conv.requests_reader.not_http and conv.responses_reader.not_http
    assert anomalies(conv, mode) == {}


def test_leading_crlfs_before_a_request_line_are_ignored(mode) -> None:
    """RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a request."""
    conv = talk(
        [
            (0, b"\r\n\r\n\nGET /a HTTP/1.1\r\n\r\n"),
            (1, OK0),
            (0, b"\r\nGET /b HTTP/1.1\r\n\r\n"),
            (1, OK0),
        ],
        mode,
    )
    assert [e[:4] for e in exchanges(conv)] == [
        ("GET", "/a", "1.1", 200),
        ("GET", "/b", "1.1", 200),
    ]
    assert anomalies(conv, mode) == {}


def test_lower_case_status_line_and_bare_lf(mode) -> None:
    conv = talk(
        [
            (0, b"GET /a HTTP/1.1\nHost: a\n\n"),
            (1, b"http/1.1 200 ok\ncontent-length: 2\n\nhi"),
            (0, b"get /b HTTP/1.1\r\n\r\n"),
            (1, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
        ],
        mode,
    )
    assert [e[:4] for e in exchanges(conv)] == [
        ("GET", "/a", "1.1", 200),
        ("get", "/b", "1.1", 404),
    ]
    assert conv.exchanges[0].response_version == "1.1"


def test_bad_chunk_size_resyncs_on_the_next_response() -> None:
    resp = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    )
    conv = talk([(0, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"), (1, resp)])
    assert conv.anomalies.get("bad-chunk-size") == 1
    assert [e[3] for e in exchanges(conv)] == [200, 200]


@pytest.mark.parametrize("mode", ["whole", "bytes", "split7"])
def test_resync_finds_a_start_line_split_across_segments(mode: str) -> None:
    # Garbage where a request should start; the next request line arrives in pieces.
    reqs = b"GET /1 HTTP/1.1\r\n\r\n" + b"\x16\x03\x01 junk\r\nmore junk\r\n" + (
        b"GET /3 HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    conv = talk([(0, reqs)], mode)
    assert conv.anomalies.get("unexpected-data") == 1
    assert [e.target for e in conv.exchanges] == ["/1", "/3"]


def test_chunk_size_overflow() -> None:
    resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 17 + b"\r\n"
    conv = talk([(0, b"GET / HTTP/1.1\r\n\r\n"), (1, resp)])
    assert conv.anomalies.get("chunk-size-overflow") == 1


def test_message_cut_by_close_and_incomplete_header() -> None:
    conv = talk(
        [(0, b"GET / HTTP/1.1\r\n\r\n"), (1, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc")]
    )
    assert conv.anomalies == {"message-cut-by-close": 1}
    assert conv.exchanges[0].response_end_ts is None
    conv = talk([(0, b"GET / HTTP/1.1\r\nHost: a\r\n")])
    assert conv.anomalies == {"incomplete-header": 1}


# ---- gaps reported by the stream layer
def _gap_conv(req: bytes, resp_parts: Sequence[bytes | int]) -> Conversation:
    conv = Conversation()
    conv.requests_reader.data(req, 0, len(req), 1.0)
    for p in resp_parts:
        if isinstance(p, int):
            conv.responses_reader.gap(p, 2.0)
        else:
            conv.responses_reader.data(p, 0, len(p), 2.0)
    conv.responses_reader.eof(3.0)
    conv.requests_reader.eof(3.0)
    return conv


def test_gap_inside_a_body_keeps_the_framing() -> None:
    conv = _gap_conv(
        b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
        [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", 5, b"cde", OK0],
    )
    assert [e.status for e in conv.exchanges] == [200, 200]
    assert conv.anomalies == {}


def test_gap_ending_exactly_at_the_body_end() -> None:
    conv = _gap_conv(
        b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
        [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", 8, OK0],
    )
    assert [e.status for e in conv.exchanges] == [200, 200]
    assert conv.anomalies == {}


def test_gap_ending_exactly_at_a_chunk_end() -> None:
    """A lost segment that ends where a chunk's data (and its CRLF) ends leaves the reader
    at the next chunk-size line: the framing is intact."""
    conv = _gap_conv(
        b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
        [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123",
            8,  # "456789\r\n"
            b"0\r\n\r\n" + OK0,
        ],
    )
    assert [e.status for e in conv.exchanges] == [200, 200]
    assert conv.anomalies == {}


def test_gap_past_the_body_or_in_a_header_resyncs() -> None:
    conv = _gap_conv(
        b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
        [b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab", 50, b"tail\r\n" + OK0],
    )
    assert conv.anomalies.get("gap-past-message-end") == 1
    assert [e.status for e in conv.exchanges][:2] == [200, 200]
    conv = _gap_conv(b"GET /1 HTTP/1.1\r\n\r\n", [b"HTTP/1.1 200 OK\r\nCont", 9, OK0])
    assert conv.anomalies.get("gap-in-header") == 1


def test_looks_like_request_and_response() -> None:
    assert looks_like_request(b"GET / HTTP/1.1\r\n")
    assert looks_like_request(b"\r\nPOST /x HTTP/1.0\r\n")
    assert looks_like_request(b"GET /old\r\n")  # HTTP/0.9
    assert looks_like_request(b"PROPFIND /d HTTP/1.1\r\n")
    assert not looks_like_request(b"HTTP/1.1 200 OK\r\n")
    assert not looks_like_request(b"\x16\x03\x01\x00")
    assert not looks_like_request(b"SSH-2.0-OpenSSH_9.0\r\n")
    assert looks_like_response(b"HTTP/1.1 200 OK\r\n")
    assert looks_like_response(b"http/1.0 404 x")
    assert not looks_like_response(b"GET / HTTP/1.1")


# The framing fields are read in one pass over the header block's bytes (http1._scan_fields,
# the loop the reader itself runs), not with a case-insensitive regex; the regex stays
# here as the reference they must agree with, on any header block.
_REFERENCE_FIELDS = re.compile(
    rb"\n(content-length|transfer-encoding|connection|keep-alive|user-agent|server|via"
    rb"|x-forwarded-for|x-real-ip|forwarded)[ \t]*:([^\r\n]*)",
    re.IGNORECASE,
)


def _reference_fields(block: bytes) -> tuple[dict[str, str], list[str]]:
    headers: dict[str, str] = {}
    cls: list[str] = []
    for m in _REFERENCE_FIELDS.finditer(block):
        n = m.group(1).lower().decode("latin-1")
        v = m.group(2).strip().decode("latin-1")
        if n == "content-length":
            cls.append(v)
        elif n in ("x-forwarded-for", "x-real-ip", "forwarded"):
            headers[n] = "1"  # only their presence is kept
            continue
        elif n in ("user-agent", "server", "via"):
            v = v[:200]  # (http1.MAX_SOFTWARE)
        headers[n] = headers[n] + ", " + v if n in headers else v
    return headers, cls


_PIECES = [
    b"\r\n", b"\n", b"\r", b" ", b"\t", b":", b",", b"Content-Length", b"content-LENGTH",
    b"Transfer-Encoding", b"connection", b"CONNECTION", b"Keep-Alive", b"chunked", b"close",
    b"12", b"x", b"Connection-Foo", b"\xff", b"HTTP/1.1 200 OK",
    b"User-Agent", b"server", b"Server-Timing", b"VIA", b"Vary", b"X-Forwarded-For",
    b"x-real-ip", b"X-Request-Id", b"Forwarded", b"curl/7.88.1", b"x" * 150,
]


@given(st.lists(st.sampled_from(_PIECES), max_size=40))
def test_fields_agree_with_the_reference_regex(pieces: list[bytes]) -> None:
    from analyzer.core.http1 import _fields

    block = b"".join(pieces)
    assert _fields(block) == _reference_fields(block)


# ==== HTTP/0.9 simple requests: only the exact RFC 1945 §4.1 form (issue 12, item 6b) ====
# Simple-Request = "GET" SP Request-URI CRLF. An HTTP/1.x request line cut short, or junk,
# is not one. (This block belongs to the _try_http09 change; other tests go below it.)
HTTP09_ACCEPTED = [
    (b"GET /\r\n", "/"),
    (b"GET /old.html\n", "/old.html"),  # bare LF (RFC 9112 §2.2)
    (b"GET /a/b?c=d%20e#f\r\n", "/a/b?c=d%20e#f"),
    (b"GET http://example.com/x\r\n", "http://example.com/x"),
    (b"GET HTTP://example.com\r\n", "HTTP://example.com"),  # the scheme is case-insensitive
    (b"GET /caf\xc3\xa9\r\n", "/caf\xc3\xa9"),  # obs-text is tolerated, as in request lines
]
HTTP09_REJECTED = [
    b"T / HTTP\r\n",  # junk: the tail of a request line
    b"GET / HTTP\r\n",  # a request line cut short
    b"GET /HTTP/1.1\r\n",  # "HTTP/" in it: a request line missing a space
    b"GET /x/HTTP/\r\n",
    b"GET http://h/HTTP/1.0\r\n",
    b"get /x\r\n",  # methods are case-sensitive
    b"Get /x\r\n",
    b"POST /x\r\n",
    b"GET  /x\r\n",  # two SP
    b"GET\t/x\r\n",
    b"GET /x \r\n",  # a trailing SP
    b"GET x\r\n",  # neither an abs_path nor an absolute http URI
    b"GET ftp://h/x\r\n",
    b"GET http://\r\n",
    b"GET \r\n",
    b"GET\r\n",
    b"GET /x\x00y\r\n",  # control bytes
    b"GET /x\x1b[0m\r\n",
    b"GET /x\x7f\r\n",
    b"GET /x\r\r\n",
    b"GET /\rx\n",
]


@pytest.mark.parametrize(("line", "target"), HTTP09_ACCEPTED)
@pytest.mark.parametrize("split", ["whole", "bytes", "split7"])
def test_http09_exact_form_is_a_request(line: bytes, target: str, split: str) -> None:
    conv = talk([(0, line), (1, b"<html>very old</html>")], split)
    assert [(e.method, e.target, e.version) for e in conv.exchanges] == [
        ("GET", target, "0.9")]
    assert conv.exchanges[0].response_version == "0.9"


@pytest.mark.parametrize("line", HTTP09_REJECTED)
@pytest.mark.parametrize("split", ["whole", "bytes", "split7"])
def test_http09_lookalikes_are_not_requests(line: bytes, split: str) -> None:
    for eof in (True, False):
        conv = talk([(0, line)], split, eof)
        assert conv.requests == 0 and conv.exchanges == [], (line, eof)


def test_http09_line_followed_by_more_lines_is_still_one_request() -> None:
    """The line is the whole request; what follows it is the next message's start."""
    conv = talk([(0, b"GET /a\r\nGET /b\r\n")])
    assert [(e.target, e.version) for e in conv.exchanges] == [("/a", "0.9"), ("/b", "0.9")]


# The exact form as a regex: the reference the reader must agree with on any line.
_HTTP09_FORM = re.compile(rb"GET (?:/|[Hh][Tt][Tt][Pp]://[^\x00-\x20\x7f])[^\x00-\x20\x7f]*\Z")
_HTTP09_PIECES = [
    b"GET", b"get", b"T", b"POST", b" ", b"  ", b"\t", b"/", b"//", b"http://", b"HTTP://",
    b"h", b"x.html", b"?q=1", b"%20", b"#", b"HTTP", b"HTTP/", b"HTTP/1.1", b"http/1.0",
    b"\r", b"\x00", b"\x1b", b"\x7f", b"\xff", b"\xc3\xa9",
]


def _is_http09_request(stream: bytes) -> bool:
    """The reference: ``stream`` (one line and its end, after any empty-line bytes the
    reader skips) is an HTTP/0.9 simple request."""
    s = stream.lstrip(b"\r\n")
    line = s.split(b"\n", 1)[0]
    if line.endswith(b"\r"):
        line = line[:-1]
    return bool(_HTTP09_FORM.match(line)) and b"HTTP/" not in line[4:].upper()


@given(
    st.sampled_from([b"", b"GET ", b"GET /", b"GET http://"]),
    st.lists(st.sampled_from(_HTTP09_PIECES), max_size=8),
    st.sampled_from([b"\r\n", b"\n", b""]),
    st.sampled_from(["whole", "bytes", "split7"]),
)
def test_garbage_lines_are_requests_only_in_the_exact_form(
    start: bytes, pieces: list[bytes], end: bytes, split: str
) -> None:
    """A line with no LF in it, then CRLF, LF or the close: counted as a request exactly
    when it has the Simple-Request form (a line with no LF after it is only complete at
    the close, which is what ``end == b""`` with EOF means)."""
    stream = start + b"".join(pieces) + end
    conv = talk([(0, stream)], split)
    expected = _is_http09_request(stream)
    assert conv.requests == (1 if expected else 0), stream
    if expected:
        assert [(e.method, e.version) for e in conv.exchanges] == [("GET", "0.9")]


# ---- the header scan: C (analyzer/core/_headscan.c) and its Python twin agree

_NAMES = [
    b"Content-Length", b"content-length", b"CONNECTION", b"Connection", b"Transfer-Encoding",
    b"keep-alive", b"Upgrade", b"User-Agent", b"Server", b"Via", b"X-Forwarded-For",
    b"x-real-ip", b"Forwarded", b"Connection-Foo", b"Content-Type", b"Host", b"Accept",
    b"Up", b"u", b"X-Other", b"Content-Lengths", b"viaduct", b"Fo",
]
_BYTES = st.binary(max_size=12) | st.sampled_from(
    [b" ", b"\t", b"\r", b"\n", b"\r\n", b"\r\n\r\n", b"\n\n", b":", b" HTTP/", b"HTTP/1.1"]
)


@st.composite
def _head_blocks(draw: st.DrawFn) -> bytes:
    first = draw(st.sampled_from([
        b"GET /a HTTP/1.1", b"HTTP/1.1 200 OK", b"POST  /b HTTP/1.0", b"GET /c",
        b"HTTP/1.0 404 Not Found", b"PUT /x y HTTP/1.1 z", b"",
    ]))
    parts = [first]
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.sampled_from(_NAMES))
        sep = draw(st.sampled_from([b":", b" :", b"\t:", b": ", b"", b":\t "]))
        value = draw(_BYTES) + draw(st.binary(max_size=8))
        eol = draw(st.sampled_from([b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"\n\n"]))
        parts.append(name + sep + value + eol)
    tail = draw(st.sampled_from([b"\r\n\r\n", b"\r\n", b"", b"\n\n", b"\r\n\r\nbody"]))
    block = (b"\r\n" if draw(st.booleans()) else b"\n").join(parts[:1]) + b"".join(parts[1:])
    return draw(st.binary(max_size=3)) + block + tail


@given(_head_blocks(), st.booleans(), st.booleans(), st.booleans(), st.integers(0, 3),
       st.integers(0, 3))
def test_c_header_scan_is_the_python_scan(
    block: bytes, fast: bool, is_request: bool, software: bool, lead: int, cut: int
) -> None:
    """Every header block, whole or cut, from any start: the same first line, end and
    fields from the C scanner as from its Python twin (which the pure core runs)."""
    from analyzer import _compiled
    from analyzer.core import http1
    from tests.fuzz.fuzz_headscan import agree

    if http1._c_scan is None:
        if _compiled.compiled():
            pytest.fail("the core is compiled but its C header scan is not built")
        pytest.skip("the C header scan is not built here (pure core)")
    s = min(lead, len(block))
    agree(http1, block, s, max(s, len(block) - cut), fast, is_request, software)


def test_c_header_scan_refuses_a_range_outside_the_buffer() -> None:
    from analyzer.core import http1

    if http1._c_scan is None:
        pytest.skip("the C header scan is not built here (pure core)")
    with pytest.raises(IndexError):
        http1._c_scan(b"GET / HTTP/1.1\r\n\r\n", 0, 99, True, True, True)
    with pytest.raises(TypeError):
        http1._c_scan(bytearray(b"GET / HTTP/1.1\r\n\r\n"), 0, 4, True, True, True)


@pytest.mark.parametrize("is_request", [True, False])
def test_c_header_scan_puts_fields_as_the_python_twin_does(is_request: bool) -> None:
    """scan_into puts the fields in as http1._put does: repeated fields joined with ", ",
    software values cut at MAX_SOFTWARE, fields only present as "1", every
    Content-Length value in order; the first line and end as the twin's."""
    from analyzer.core import http1
    from tests.fuzz.fuzz_headscan import agree

    if http1._c_scan_into is None:
        pytest.skip("the C header scan is not built here (pure core)")
    first = b"GET /x HTTP/1.1" if is_request else b"HTTP/1.1 200 OK"
    block = first + (
        b"\r\nConnection: keep-alive\r\nconnection:  Upgrade \r\nContent-Length: 5\r\n"
        b"Content-Length:7\r\nUser-Agent: " + b"u" * 300 + b"\r\nServer: \xe9t\xe9\r\n"
        b"Via: 1.1 a\r\nVia: 1.1 b\r\nX-Forwarded-For: 10.0.0.1\r\nForwarded: for=x\r\n"
        b"Transfer-Encoding: chunked\r\nKeep-Alive: timeout=5\r\nUpgrade: h2c\r\n\r\nbody"
    )
    for fast in (True, False):
        agree(http1, block, 0, len(block), fast, is_request, True)
        agree(http1, block, 0, len(block), fast, is_request, False)
    headers: dict[str, str] = {}
    cls: list[str] = []
    assert http1._scan_head(block, 0, len(block), True, is_request, True, headers, cls)
    assert headers["connection"] == "keep-alive, Upgrade"
    assert headers["via"] == "1.1 a, 1.1 b" and headers["server"] == "\xe9t\xe9"
    assert headers["user-agent"] == "u" * http1.MAX_SOFTWARE
    assert headers["x-forwarded-for"] == headers["forwarded"] == "1"
    assert cls == ["5", "7"]


def test_c_header_scan_into_checks_its_arguments() -> None:
    from analyzer.core import http1

    if http1._c_scan_into is None:
        pytest.skip("the C header scan is not built here (pure core)")
    from analyzer.core import _headscan

    block = b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"
    with pytest.raises(TypeError):
        _headscan.scan_into(block, 0, len(block), True, True, True, [], [])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _headscan.scan_into(block, 0, len(block), True, True, True, {})  # type: ignore[call-arg]
    with pytest.raises(IndexError):
        _headscan.scan_into(block, 0, 999, True, True, True, {}, [])
    with pytest.raises(ValueError):
        _headscan.configure(("a",), (0,), 0, 1, 3, 200, {}, 4096)
    with pytest.raises(TypeError):
        _headscan.configure([], (), 0, 1, 3, 200, {}, 4096)  # type: ignore[arg-type]
    headers: dict[str, str] = {}
    assert _headscan.scan_into(block, 0, len(block), True, True, True, headers, []) == (
        15, 3, 5, 2, len(block) - 4)  # (le: the first line's LF)
    assert headers == {"connection": "close"}


@pytest.mark.parametrize(("line", "status"), [
    (b"HTTP/1.1 2003333333333333333333", None),  # (more digits than outputs' integers)
    (b"HTTP/1.1 2003333333333333333333 OK", None),
    (b"HTTP/1.1 +200", None),
    (b"HTTP/1.1 2_00", None),
    (b"HTTP/1.1 abc", None),
    (b"HTTP/1.1 1234", 1234),
    (b"HTTP/1.1 200", 200),
])
def test_a_status_is_at_most_nine_digits_or_it_is_bad(line, status) -> None:
    """A status code is digits only, at most 9 of them, or there is none (and a bad status
    line): found by fuzzing, a 22-digit status made the JSON encoder refuse the exchange
    (64-bit integers) and the analysis fail."""
    conv = talk([(0, b"GET / HTTP/1.1\r\n\r\n"), (1, line + b"\r\nContent-Length: 0\r\n\r\n")])
    assert [e.status for e in conv.exchanges] == [status]
    assert ("bad-status-line" in conv.anomalies) is not (status == 200)


def test_a_capture_with_a_huge_status_is_analysed(tmp_path) -> None:
    import json

    import analyzer

    c = b.Conversation().handshake()
    c.exchange(b"GET / HTTP/1.1\r\n\r\n",
               b"HTTP/1.1 " + b"2" * 40 + b"\r\nContent-Length: 0\r\n\r\n")
    c.close()
    a = analyzer.analyze(b.write(tmp_path / "huge-status.pcap", b.pcap(c.frames())))
    (ex,) = json.loads(a.to_json())["exchanges"]
    assert ex["status"] is None
