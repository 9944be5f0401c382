"""http2: HTTP/2 frames, streams and exchanges (RFC 9113, RFC 7541, RFC 7540 §3.2).

Conversations are built frame by frame here (a 9-byte header packer and one
:class:`hpack.Encoder` per side, encoding in wire order) and fed to an
:class:`H2Conversation` in steps: ``(side, bytes)`` (0: client → server), or ``(side, n)``
for n bytes lost. Every step gets its own time (1.0, 2.0, …), so the result may depend on
the steps, never on how a step is cut into segments: the property tests cut each step at
arbitrary points and expect the very same exchanges, facts and anomalies.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hpack import Encoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.core.exchanges import KEEP
from analyzer.core.http2 import (
    ANOMALIES,
    CONTINUATION,
    DATA,
    GOAWAY,
    HEADERS,
    MAX_HEADER_BLOCK,
    PING,
    PREFACE,
    PRIORITY,
    PUSH_PROMISE,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    H2Conversation,
    error_name,
)
from analyzer.core.records import ExchangeRecord, exchange_values
from tests.conftest import ROOT

CLIENT, SERVER = 0, 1
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

Step = tuple[int, "bytes | int"]


# ---------------------------------------------------------------- frame builders
def frame(ftype: int, flags: int = 0, sid: int = 0, payload: bytes = b"") -> bytes:
    """RFC 9113 §4.1: length (24), type, flags, R + stream id (31), payload."""
    head = len(payload).to_bytes(3, "big") + bytes((ftype, flags)) + sid.to_bytes(4, "big")
    return head + payload


def settings_frame(params: dict[int, int] | None = None, ack: bool = False) -> bytes:
    pairs = (params or {}).items()
    payload = b"".join(k.to_bytes(2, "big") + v.to_bytes(4, "big") for k, v in pairs)
    return frame(SETTINGS, ACK if ack else 0, 0, payload)


def data(sid: int, body: bytes = b"", end: bool = False, pad: int | None = None) -> bytes:
    if pad is None:
        return frame(DATA, END_STREAM if end else 0, sid, body)
    return frame(DATA, (END_STREAM if end else 0) | PADDED, sid, bytes((pad,)) + body + b"\0" * pad)


def rst(sid: int, code: int = 8) -> bytes:
    return frame(RST_STREAM, 0, sid, code.to_bytes(4, "big"))


def goaway(last: int, code: int = 0, debug: bytes = b"") -> bytes:
    return frame(GOAWAY, 0, 0, last.to_bytes(4, "big") + code.to_bytes(4, "big") + debug)


def ping(ack: bool = False) -> bytes:
    return frame(PING, ACK if ack else 0, 0, b"12345678")


def window_update(sid: int = 0, increment: int = 65535) -> bytes:
    return frame(WINDOW_UPDATE, 0, sid, increment.to_bytes(4, "big"))


def priority(sid: int) -> bytes:
    return frame(PRIORITY, 0, sid, b"\0\0\0\0\x10")


def request_fields(
    path: str = "/", method: str = "GET", authority: str = "example.com", extra: Sequence = ()
) -> list[tuple[str, str]]:
    fields = [(":method", method), (":scheme", "http"), (":authority", authority)]
    if path:
        fields.append((":path", path))
    return fields + list(extra)


def response_fields(status: int = 200, extra: Sequence = ()) -> list[tuple[str, str]]:
    return [(":status", str(status))] + list(extra)


class Peer:
    """One side's header compression context; blocks are encoded in the order called,
    which must be the order they go on the wire."""

    def __init__(self) -> None:
        self.encoder = Encoder()

    def headers(
        self, sid: int, fields: Iterable[tuple[str, str]], end: bool = False, *,
        pad: int | None = None, prio: bool = False, pieces: int = 1, huffman: bool = True,
    ) -> bytes:
        """HEADERS (+ CONTINUATION when ``pieces`` > 1) carrying one header block."""
        block = self.encoder.encode(list(fields), huffman=huffman)
        cut = [len(block) * i // pieces for i in range(pieces + 1)]
        frags = [block[cut[i] : cut[i + 1]] for i in range(pieces)]
        flags = (END_STREAM if end else 0) | (END_HEADERS if pieces == 1 else 0)
        payload = frags[0]
        if prio:
            flags |= PRIORITY_FLAG
            payload = b"\x80\0\0\0\x20" + payload
        if pad is not None:
            flags |= PADDED
            payload = bytes((pad,)) + payload + b"\0" * pad
        out = frame(HEADERS, flags, sid, payload)
        for i in range(1, pieces):
            out += frame(CONTINUATION, END_HEADERS if i == pieces - 1 else 0, sid, frags[i])
        return out

    def push(self, sid: int, promised: int, fields: Iterable[tuple[str, str]]) -> bytes:
        block = self.encoder.encode(list(fields))
        return frame(PUSH_PROMISE, END_HEADERS, sid, promised.to_bytes(4, "big") + block)


def opening(client_settings: dict[int, int] | None = None,
            server_settings: dict[int, int] | None = None) -> list[Step]:
    return [
        (CLIENT, PREFACE + settings_frame(client_settings)),
        (SERVER, settings_frame(server_settings) + settings_frame(ack=True)),
        (CLIENT, settings_frame(ack=True)),
    ]


# ---------------------------------------------------------------- feeding
def pieces_of(chunk: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(chunk)})
    out, last = [], 0
    for p in points + [len(chunk)]:
        out.append(chunk[last:p])
        last = p
    return [p for p in out if p] or ([chunk] if chunk else [])


def talk(
    steps: Sequence[Step], cuts: Sequence[Sequence[int]] | None = None, *, eof: bool = True,
    conv: H2Conversation | None = None, **kw: Any,
) -> H2Conversation:
    """Feed ``steps`` to a conversation; ``cuts[i]``: where step i is cut into segments.
    Each segment sits in a buffer between junk bytes that must never be read."""
    if conv is None:
        conv = H2Conversation(cid="C1", **kw)
    readers = (conv.requests_reader, conv.responses_reader)
    ts = 1.0
    for i, (side, chunk) in enumerate(steps):
        ts = 1.0 + i
        if isinstance(chunk, int):
            readers[side].gap(chunk, ts)
            continue
        for piece in pieces_of(chunk, cuts[i] if cuts is not None else ()):
            buf = b"\0\0\x05\x01junk" + piece + b"\xff\xffjunk"
            readers[side].data(buf, 8, 8 + len(piece), ts)
    if eof:
        conv.requests_reader.eof(ts + 1)
        conv.responses_reader.eof(ts + 1)
    check_invariants(conv)
    return conv


def bytewise(steps: Sequence[Step]) -> list[list[int]]:
    return [list(range(len(c))) if isinstance(c, bytes) else [] for _, c in steps]


def snapshot(conv: H2Conversation, spooled: Sequence[ExchangeRecord] = ()) -> tuple:
    return (
        [exchange_values(e) for e in list(spooled) + conv.exchanges],
        conv.facts(),
        dict(conv.anomalies),
        (conv.count, conv.requests, conv.responses, conv.interim, conv.user_agent,
         conv.server_software, conv.forwarded, conv.via),
    )


def check_invariants(conv: H2Conversation) -> None:
    """What holds whatever the bytes were."""
    facts = conv.facts()
    assert set(facts) == {
        "streams", "max_concurrent_streams", "settings_max_concurrent_streams", "rst_streams",
        "rst_by_client", "rst_by_server", "pushes", "goaway_by", "goaway_last_stream",
        "goaway_error", "goaway_ts", "pings", "settings",
    }
    assert facts["streams"] == conv.count
    assert facts["rst_streams"] == facts["rst_by_client"] + facts["rst_by_server"]
    assert facts["goaway_by"] in (None, "client", "server")
    assert 0 <= conv.open == len(conv.streams) <= conv.max_open <= conv.count
    assert conv.requests <= conv.count and conv.responses <= conv.count
    indices = [e.index for e in conv.exchanges]
    assert indices == sorted(set(indices)) and all(0 < i <= conv.count for i in indices)
    for e in conv.exchanges:
        assert isinstance(e.stream, int) and e.stream % 2 == 1
        assert e.status is None or 100 <= e.status <= 999
    assert set(conv.anomalies) <= set(ANOMALIES), conv.anomalies
    assert conv.upgraded is False or conv.count >= 1
    assert not conv.close_delimited


def brief(conv: H2Conversation) -> list[tuple]:
    return [(e.index, e.stream, e.method, e.target, e.status) for e in conv.exchanges]


# ---------------------------------------------------------------- basics
def test_a_request_and_its_response() -> None:
    c, s = Peer(), Peer()
    steps = opening(server_settings={3: 128}) + [
        (CLIENT, c.headers(
            1, request_fields("/a?token=s3cret", extra=[("user-agent", "Go-http-client/2.0")]),
            end=True,
        )),
        (SERVER, s.headers(1, response_fields(200, [("server", "nginx/1.25")]))
         + data(1, b"x" * 5000) + data(1, b"", end=True)),
    ]
    conv = talk(steps)
    [ex] = conv.exchanges
    assert (ex.connection, ex.index, ex.stream, ex.method, ex.target, ex.version) == (
        "C1", 1, 1, "GET", "/a?token=REDACTED", "2"
    )
    assert (ex.status, ex.response_version, ex.interim_responses) == (200, "2", 0)
    assert (ex.request_ts, ex.request_end_ts, ex.response_ts, ex.response_end_ts) == (
        4.0, 4.0, 5.0, 5.0
    )
    assert ex.opened_connection
    assert (conv.requests, conv.responses, conv.interim, conv.count) == (1, 1, 0, 1)
    assert conv.user_agent == "Go-http-client/2.0" and conv.server_software == "nginx/1.25"
    assert not conv.forwarded and conv.via is None
    assert conv.anomalies == {}
    assert conv.facts() == {
        "streams": 1, "max_concurrent_streams": 1, "settings_max_concurrent_streams": 128,
        "rst_streams": 0, "rst_by_client": 0, "rst_by_server": 0, "pushes": 0,
        "goaway_by": None, "goaway_last_stream": None, "goaway_error": None,
        "goaway_ts": None, "pings": 0, "settings": 2,
    }
    assert conv.is_http and conv.handshake_seen and not conv.upgraded


def test_show_secrets_keeps_the_target_and_connect_names_its_authority() -> None:
    c, s = Peer(), Peer()
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields("/a?token=s3cret"), end=True)),
        (CLIENT, c.headers(3, request_fields("", "CONNECT", "db.internal:5432"))),
        (SERVER, s.headers(1, response_fields(204), end=True) + s.headers(3, response_fields(200))),
    ]
    conv = talk(steps, show_secrets=True)
    assert brief(conv) == [
        (1, 1, "GET", "/a?token=s3cret", 204), (2, 3, "CONNECT", "db.internal:5432", 200)
    ]


def test_proxy_fields_of_the_first_request_and_via_of_the_first_response() -> None:
    c, s = Peer(), Peer()
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields(extra=[("x-forwarded-for", "10.1.1.1")]), end=True)),
        (SERVER, s.headers(1, response_fields(200, [("via", "1.1 varnish")]), end=True)),
    ]
    conv = talk(steps)
    assert conv.forwarded and conv.via == "1.1 varnish" and conv.user_agent is None


def test_every_step_cut_at_every_byte_gives_the_same_result() -> None:
    c, s = Peer(), Peer()
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields("/p", "POST"), pad=7, prio=True, pieces=3)
         + data(1, b"body", pad=3) + data(1, b"", end=True)),
        (SERVER, s.headers(1, response_fields(100)) + s.headers(1, response_fields(201))
         + data(1, b"ok") + s.headers(1, [("grpc-status", "0")], end=True)),
    ]
    whole = talk(steps)
    assert brief(whole) == [(1, 1, "POST", "/p", 201)] and whole.anomalies == {}
    assert snapshot(talk(steps, bytewise(steps))) == snapshot(whole)


# ---------------------------------------------------------------- frame types
def test_data_end_stream_ends_each_side() -> None:
    c, s = Peer(), Peer()
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields("/up", "PUT"))),
        (CLIENT, data(1, b"a" * 100) + data(1, b"b", end=True, pad=10)),
        (SERVER, s.headers(1, response_fields(200))),
        (SERVER, data(1, b"c" * 100, end=True)),
    ]
    conv = talk(steps)
    [ex] = conv.exchanges
    assert (ex.request_ts, ex.request_end_ts, ex.response_ts, ex.response_end_ts) == (
        4.0, 5.0, 6.0, 7.0
    )
    assert conv.open == 0 and conv.max_open == 1


def test_headers_padding_and_priority_are_stripped() -> None:
    c, s = Peer(), Peer()
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields("/padded"), end=True, pad=200, prio=True)),
        (SERVER, s.headers(1, response_fields(200), end=True, pad=0)),
        (CLIENT, c.headers(3, request_fields("/padded2"), end=True, pad=3)),
        (SERVER, s.headers(3, response_fields(404), end=True, prio=True)),
    ]
    conv = talk(steps)
    assert brief(conv) == [(1, 1, "GET", "/padded", 200), (2, 3, "GET", "/padded2", 404)]
    assert conv.anomalies == {}


def test_padding_longer_than_the_frame_is_an_anomaly_and_counting_goes_on() -> None:
    c, s = Peer(), Peer()
    block = c.encoder.encode(request_fields())
    bad = frame(HEADERS, END_HEADERS | END_STREAM | PADDED, 1, b"\xff" + block)
    steps = opening() + [
        (CLIENT, bad + c.headers(3, request_fields("/next"), end=True)),
        (SERVER, s.headers(1, response_fields(200), end=True)
         + s.headers(3, response_fields(200), end=True)),
    ]
    conv = talk(steps)
    assert conv.anomalies == {"bad-padding": 1}
    # hpack state of the client is lost: its blocks are no longer decoded, but counted
    assert brief(conv) == [(1, 1, None, None, 200), (2, 3, None, None, 200)]
    assert conv.requests == 2 and conv.open == 0


def test_priority_window_update_and_unknown_frames_are_ignored() -> None:
    c, s = Peer(), Peer()
    steps = opening() + [
        (CLIENT, priority(1) + c.headers(1, request_fields(), end=True) + window_update(0)
         + frame(0xFA, 0xFF, 7, b"extension")),
        (SERVER, window_update(1) + frame(0x10, 0, 0, b"")
         + s.headers(1, response_fields(200), end=True)),
    ]
    conv = talk(steps)
    assert brief(conv) == [(1, 1, "GET", "/", 200)] and conv.anomalies == {}


def test_rst_stream_ends_a_stream_and_is_counted_per_side() -> None:
    c, s = Peer(), Peer()
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields("/slow"), end=True)
         + c.headers(3, request_fields("/big"), end=True)),
        (SERVER, s.headers(3, response_fields(200)) + data(3, b"x" * 1000)),
        (CLIENT, rst(3, 8)),  # CANCEL: the client stopped reading
        (SERVER, rst(1, 7)),  # REFUSED_STREAM
        (SERVER, rst(9, 5)),  # on a stream never opened: counted, nothing else
    ]
    conv = talk(steps)
    assert brief(conv) == [(1, 1, "GET", "/slow", None), (2, 3, "GET", "/big", 200)]
    one, three = conv.exchanges
    assert one.response_end_ts == 7.0 and one.response_ts is None
    assert three.response_ts == 5.0 and three.response_end_ts == 6.0
    f = conv.facts()
    assert (f["rst_streams"], f["rst_by_client"], f["rst_by_server"]) == (3, 1, 2)
    assert conv.open == 0 and f["max_concurrent_streams"] == 2
    assert (conv.requests, conv.responses) == (2, 1)


def test_settings_acks_are_not_counted_and_bad_lengths_are_anomalies() -> None:
    steps = [
        (CLIENT, PREFACE + settings_frame({4: 1 << 20, 2: 0})),
        (SERVER, settings_frame({3: 250, 5: 1 << 20}) + settings_frame(ack=True)),
        (CLIENT, settings_frame(ack=True) + frame(SETTINGS, 0, 0, b"\0\x03\0\0")),
        (SERVER, frame(SETTINGS, ACK, 0, b"\0" * 6) + settings_frame({5: 100})),
    ]
    conv = talk(steps)
    assert conv.facts()["settings"] == 4
    assert conv.facts()["settings_max_concurrent_streams"] == 250
    assert conv.anomalies == {
        "bad-frame-length": 1, "settings-ack-with-payload": 1, "bad-max-frame-size": 1
    }


def test_settings_max_frame_size_lets_larger_frames_through() -> None:
    c, s = Peer(), Peer()
    big = b"z" * 100_000
    steps = opening(client_settings={5: 1 << 17}) + [
        (CLIENT, c.headers(1, request_fields(), end=True)),
        (SERVER, s.headers(1, response_fields(200)) + data(1, big, end=True)),
    ]
    conv = talk(steps)
    assert brief(conv) == [(1, 1, "GET", "/", 200)] and conv.anomalies == {}
    # without the setting, a frame over 16384 bytes stops that direction
    steps = opening() + steps[3:]
    conv = talk(steps)
    assert conv.anomalies == {"frame-too-large": 1}
    assert conv.exchanges[0].response_end_ts is None and conv.open == 1


def test_push_promise_is_counted_and_pushed_streams_are_not_exchanges() -> None:
    c, s = Peer(), Peer()
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields("/index.html"), end=True)),
        (SERVER, s.push(1, 2, request_fields("/style.css", extra=[("x-pushed", "yes")]))
         + s.headers(1, response_fields(200, [("x-pushed", "yes")])) + data(1, b"<html>", end=True)
         + s.headers(2, response_fields(200, [("x-pushed", "yes")])) + data(2, b"css", end=True)),
        (CLIENT, c.headers(3, request_fields("/next"), end=True)),
        (SERVER, s.headers(3, response_fields(304, [("x-pushed", "yes")]), end=True)),
    ]
    conv = talk(steps)
    assert brief(conv) == [(1, 1, "GET", "/index.html", 200), (2, 3, "GET", "/next", 304)]
    assert conv.facts()["pushes"] == 1 and conv.anomalies == {}
    assert conv.facts()["max_concurrent_streams"] == 1


def test_push_promise_from_the_client_is_an_anomaly() -> None:
    c = Peer()
    conv = talk(opening() + [(CLIENT, c.push(1, 2, request_fields()))])
    assert conv.anomalies == {"push-promise-from-client": 1} and conv.facts()["pushes"] == 0


def test_pings_count_without_their_acks() -> None:
    conv = talk(opening() + [
        (CLIENT, ping() + ping()), (SERVER, ping(ack=True) + ping(ack=True) + ping())
    ])
    assert conv.facts()["pings"] == 3 and conv.anomalies == {}
    conv = talk(opening() + [(CLIENT, frame(PING, 0, 0, b"1234"))])
    assert conv.anomalies == {"bad-frame-length": 1}


@pytest.mark.parametrize(
    ("who", "last", "code", "name"),
    [(SERVER, 7, 0, "NO_ERROR"), (CLIENT, 0, 0xB, "ENHANCE_YOUR_CALM"), (SERVER, 3, 0x1F, "0x1f")],
)
def test_goaway_says_who_the_last_stream_and_the_error(
    who: int, last: int, code: int, name: str
) -> None:
    c, s = Peer(), Peer()
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields(), end=True)),
        (SERVER, s.headers(1, response_fields(200), end=True)),
        (who, goaway(last, code, b"debug data" * 1000)),
        (1 - who, goaway(99, 2)),  # the second GOAWAY does not change who started
    ]
    f = talk(steps).facts()
    assert (f["goaway_by"], f["goaway_last_stream"], f["goaway_error"]) == (
        "client" if who == CLIENT else "server", last, name
    )


def test_error_names() -> None:
    assert error_name(0) == "NO_ERROR" and error_name(0xD) == "HTTP_1_1_REQUIRED"
    assert error_name(0xE) == "0xe" and error_name(0xFFFFFFFF) == "0xffffffff"


def test_goaway_too_short_is_an_anomaly() -> None:
    conv = talk(opening() + [(SERVER, frame(GOAWAY, 0, 0, b"\0\0\0\1"))])
    assert conv.anomalies == {"bad-frame-length": 1}
    assert conv.facts()["goaway_by"] == "server" and conv.facts()["goaway_last_stream"] is None


def test_frames_on_the_wrong_stream_are_anomalies() -> None:
    ping_on_1 = ping()[:5] + b"\0\0\0\1" + b"1" * 8
    conv = talk(opening() + [(CLIENT, data(0, b"x") + frame(SETTINGS, 0, 3, b"") + ping_on_1)])
    assert conv.anomalies == {"bad-stream-id": 3}
    assert conv.facts()["settings"] == 2 and conv.facts()["pings"] == 0


# ---------------------------------------------------------------- header blocks
def test_continuation_frames_carry_one_block() -> None:
    c, s = Peer(), Peer()
    extra = [(f"x-h{i}", "v" * 50) for i in range(40)]
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields("/cont", extra=extra), end=True, pieces=5, pad=4)),
        (SERVER, s.headers(1, response_fields(200, extra), pieces=2) + data(1, b"", end=True)),
    ]
    conv = talk(steps)
    assert brief(conv) == [(1, 1, "GET", "/cont", 200)]
    ex = conv.exchanges[0]
    assert ex.request_end_ts == 4.0 and ex.response_end_ts == 5.0 and conv.anomalies == {}


def test_end_stream_on_headers_takes_effect_at_the_end_of_the_block() -> None:
    c = Peer()
    block = c.headers(1, request_fields("/late"), end=True, pieces=2)
    cut = len(block) - 5
    steps = opening() + [(CLIENT, block[:cut]), (CLIENT, block[cut:])]
    ex = talk(steps, eof=False).exchanges[0]
    assert (ex.request_ts, ex.request_end_ts, ex.method) == (4.0, 5.0, "GET")


def test_a_frame_inside_a_block_is_an_anomaly() -> None:
    c, s = Peer(), Peer()
    block = c.headers(1, request_fields("/x"), end=True, pieces=2)
    first_frame_end = 9 + int.from_bytes(block[:3], "big")
    steps = opening() + [
        (CLIENT, block[:first_frame_end] + ping() + block[first_frame_end:]
         + c.headers(3, request_fields("/y"), end=True)),
        (SERVER, s.headers(1, response_fields(200), end=True)
         + s.headers(3, response_fields(200), end=True)),
    ]
    conv = talk(steps)
    assert conv.anomalies == {"continuation-expected": 1, "unexpected-continuation": 1}
    assert brief(conv) == [(1, 1, None, None, 200), (2, 3, None, None, 200)]
    assert conv.open == 0  # END_STREAM of the interrupted block still counted


def test_continuation_on_another_stream_is_an_anomaly() -> None:
    c = Peer()
    block = c.encoder.encode(request_fields())
    steps = opening() + [
        (CLIENT, frame(HEADERS, END_STREAM, 1, block[:4])
         + frame(CONTINUATION, END_HEADERS, 3, block[4:])),
    ]
    conv = talk(steps)
    assert conv.anomalies == {"continuation-expected": 1, "unexpected-continuation": 1}
    assert conv.count == 1


def test_dynamic_table_spans_requests_and_responses() -> None:
    c, s = Peer(), Peer()
    extra = [("user-agent", "curl/8.5.0"), ("x-trace", "t" * 80)]
    fields = request_fields("/same/long/path/" + "p" * 60, extra=extra)
    first = c.headers(1, fields, end=True)
    second = c.headers(3, fields, end=True)
    assert len(second) < len(first) / 4  # indexed from the dynamic table
    r1 = s.headers(1, response_fields(200, [("server", "h2o"), ("x-cache", "HIT " * 20)]), end=True)
    r2 = s.headers(3, response_fields(200, [("server", "h2o"), ("x-cache", "HIT " * 20)]), end=True)
    conv = talk(opening() + [(CLIENT, first), (SERVER, r1), (CLIENT, second), (SERVER, r2)])
    assert [(e.method, e.target, e.status) for e in conv.exchanges] == [
        ("GET", fields[3][1], 200)
    ] * 2
    assert conv.anomalies == {}


@pytest.mark.parametrize("size", [0, 1024, 65536])
def test_header_table_size_follows_the_peers_settings(size: int) -> None:
    c, s = Peer(), Peer()
    s.encoder.header_table_size = size  # the server's encoder obeys the client's SETTINGS
    c.encoder.header_table_size = size
    steps = opening(client_settings={1: size}, server_settings={1: size})
    for sid in (1, 3, 5):
        steps += [
            (CLIENT, c.headers(
                sid, request_fields(f"/{sid}", extra=[("x-big", "b" * 3000)]), end=True
            )),
            (SERVER, s.headers(sid, response_fields(200, [("x-big", "c" * 3000)]), end=True)),
        ]
    conv = talk(steps)
    assert conv.anomalies == {}
    assert [e.target for e in conv.exchanges] == ["/1", "/3", "/5"]


def test_a_table_larger_than_the_peer_allowed_is_a_decoding_error() -> None:
    c = Peer()
    c.encoder.header_table_size = 65536  # the server never allowed more than 4096
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields("/a"), end=True)),
        (CLIENT, c.headers(3, request_fields("/b"), end=True)),
    ]
    conv = talk(steps)
    assert conv.anomalies == {"hpack-decoding-error": 1}
    assert [(e.stream, e.method) for e in conv.exchanges] == [(1, None), (3, None)]


def test_garbage_header_block_is_a_decoding_error() -> None:
    s = Peer()
    steps = opening() + [
        (CLIENT, frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\xff\xff\xff\xff\xff\xff\xff")),
        (SERVER, s.headers(1, response_fields(503), end=True)),
    ]
    conv = talk(steps)
    assert conv.anomalies == {"hpack-decoding-error": 1}
    assert brief(conv) == [(1, 1, None, None, 503)] and conv.open == 0


def test_a_header_block_over_the_bound_is_dropped() -> None:
    c, s = Peer(), Peer()
    huge = [(f"x-huge-{i}", "h" * 70_000) for i in range(4)]  # over 256 KiB compressed
    block = c.headers(1, request_fields("/big", extra=huge), end=True, pieces=40, huffman=False)
    assert len(block) > MAX_HEADER_BLOCK
    steps = opening() + [
        (CLIENT, block + c.headers(3, request_fields("/after"), end=True)),
        (SERVER, s.headers(1, response_fields(431), end=True)
         + s.headers(3, response_fields(200), end=True)),
    ]
    conv = talk(steps)
    assert conv.anomalies == {"header-block-too-large": 1}
    assert brief(conv) == [(1, 1, None, None, 431), (2, 3, None, None, 200)]


def test_interim_responses_and_trailers() -> None:
    c, s = Peer(), Peer()
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields("/up", "POST", extra=[("expect", "100-continue")]))),
        (SERVER, s.headers(1, response_fields(100))),
        (CLIENT, data(1, b"payload") + c.headers(1, [("x-checksum", "abc")], end=True)),
        (SERVER, s.headers(1, response_fields(103)) + s.headers(1, response_fields(200))
         + data(1, b"done") + s.headers(1, [("grpc-status", "0")], end=True)),
    ]
    conv = talk(steps)
    [ex] = conv.exchanges
    assert (ex.status, ex.interim_responses, ex.response_ts, ex.request_end_ts) == (
        200, 2, 7.0, 6.0
    )
    assert (conv.requests, conv.responses, conv.interim) == (1, 1, 2) and conv.anomalies == {}


def test_a_response_without_status_and_an_interim_that_ends_the_stream() -> None:
    c, s = Peer(), Peer()
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields(), end=True)
         + c.headers(3, request_fields(), end=True)),
        (SERVER, s.headers(1, [("server", "x")], end=True)
         + s.headers(3, response_fields(100), end=True)),
    ]
    conv = talk(steps)
    assert conv.anomalies == {"response-without-status": 1, "interim-response-ends-stream": 1}
    assert [(e.status, e.interim_responses) for e in conv.exchanges] == [(None, 0), (None, 1)]
    assert conv.open == 0 and conv.responses == 1


def test_headers_on_closed_streams_and_after_end_stream() -> None:
    c, s = Peer(), Peer()
    steps = opening() + [
        (CLIENT, c.headers(3, request_fields("/3"), end=True)),
        (CLIENT, c.headers(3, [("x-late", "1")])),  # after END_STREAM
        (SERVER, s.headers(3, response_fields(200), end=True)),
        (SERVER, s.headers(3, response_fields(200), end=True)),  # closed
        (CLIENT, c.headers(1, request_fields("/1"), end=True)),  # lower than a used id
        (CLIENT, c.headers(2, request_fields("/2"), end=True)),  # even
    ]
    conv = talk(steps)
    assert brief(conv) == [(1, 3, "GET", "/3", 200)]
    assert conv.anomalies == {
        "headers-after-end-stream": 1, "headers-on-closed-stream": 2,
        "client-headers-on-even-stream": 1,
    }


# ---------------------------------------------------------------- concurrency
def test_max_concurrent_streams_as_seen_on_the_wire() -> None:
    c, s = Peer(), Peer()
    steps = opening(server_settings={3: 100}) + [
        (CLIENT, b"".join(
            c.headers(sid, request_fields(f"/{sid}"), end=True) for sid in (1, 3, 5)
        )),
        (SERVER, s.headers(3, response_fields(200), end=True)),
        (CLIENT, c.headers(7, request_fields("/7"), end=True)),
        (SERVER, s.headers(1, response_fields(200)) + s.headers(5, response_fields(200), end=True)),
        (SERVER, data(1, b"", end=True) + s.headers(7, response_fields(200), end=True)),
    ]
    conv = talk(steps)
    f = conv.facts()
    assert (
        f["streams"], f["max_concurrent_streams"], f["settings_max_concurrent_streams"]
    ) == (4, 3, 100)
    assert [e.stream for e in conv.exchanges] == [1, 3, 5, 7]


# ---------------------------------------------------------------- gaps
def test_gap_in_the_middle_of_a_header_block_loses_hpack_but_counting_goes_on() -> None:
    c, s = Peer(), Peer()
    req1 = c.headers(1, request_fields("/one", extra=[("x-pad", "p" * 100)]), end=True)
    steps = opening() + [
        (CLIENT, req1[:30]), (CLIENT, 40), (CLIENT, req1[70:]),
        (SERVER, s.headers(1, response_fields(200), end=True)),
        (CLIENT, c.headers(3, request_fields("/two"), end=True)),
        (SERVER, s.headers(3, response_fields(404)) + data(3, b"", end=True)),
    ]
    conv = talk(steps)
    assert conv.anomalies == {"gap-in-header-block": 1}
    # the client's blocks are no longer decoded; the server's still are
    assert brief(conv) == [(1, 1, None, None, 200), (2, 3, None, None, 404)]
    assert (conv.requests, conv.responses, conv.open) == (2, 2, 0)
    assert conv.exchanges[0].request_end_ts == 6.0


def test_gap_inside_data_keeps_framing_and_hpack() -> None:
    c, s = Peer(), Peer()
    body = data(1, b"d" * 10_000, end=True)
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields("/a"), end=True)),
        (SERVER, s.headers(1, response_fields(200)) + body[:100]), (SERVER, 5000),
        (SERVER, body[5100:]),
        (CLIENT, c.headers(3, request_fields("/b"), end=True)),
        (SERVER, s.headers(3, response_fields(201), end=True)),
    ]
    conv = talk(steps)
    assert conv.anomalies == {}
    assert brief(conv) == [(1, 1, "GET", "/a", 200), (2, 3, "GET", "/b", 201)]
    assert conv.exchanges[0].response_end_ts == 7.0


def test_gap_ending_exactly_at_a_frame_boundary_keeps_framing() -> None:
    c, s = Peer(), Peer()
    body = data(1, b"d" * 500, end=True)
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields("/a"), end=True)),
        (SERVER, s.headers(1, response_fields(200)) + body[:50]), (SERVER, len(body) - 50),
        (SERVER, ping()),
    ]
    conv = talk(steps)
    assert conv.anomalies == {} and conv.facts()["pings"] == 1
    assert conv.exchanges[0].response_end_ts == 6.0 and conv.open == 0


@pytest.mark.parametrize("noise", [False, True])
def test_gap_across_frames_resynchronises(noise: bool) -> None:
    c, s = Peer(), Peer()
    after = b"\x17junk bytes that are not frames\x00\x00"
    if noise:
        # frame-like noise: streams far above any seen, empty HEADERS (as zeros read); and
        # inside it "00 04 03 00 01 00 00 01 00", a plausible 1027-byte DATA frame whose
        # successor is never seen: the decision waits for the stream's end
        after += rst(0x1000001) * 2 + frame(HEADERS, END_HEADERS, 1) * 2
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields("/a"), end=True)),
        (SERVER, s.headers(1, response_fields(200)) + data(1, b"x" * 300)[:100]),
        (SERVER, 1000),  # the rest of that DATA frame and more: the framing is lost
        (SERVER, after + data(1, b"y" * 20) + data(1, b"", end=True) + rst(5, 0) + goaway(1)),
    ]
    conv = talk(steps)
    assert conv.anomalies == {"gap-lost-framing": 1}
    assert conv.exchanges[0].response_end_ts == (8.0 if noise else 7.0) and conv.open == 0
    f = conv.facts()
    assert (f["rst_by_server"], f["goaway_by"], f["goaway_last_stream"]) == (1, "server", 1)
    assert snapshot(talk(steps, bytewise(steps))) == snapshot(conv)


def test_gap_in_settings_and_goaway_payloads() -> None:
    steps = [
        (CLIENT, PREFACE + settings_frame({4: 1000, 3: 10})[:12]), (CLIENT, 6),
        (CLIENT, settings_frame({4: 1000, 3: 10})[18:]),
        (SERVER, settings_frame() + goaway(5, 0)[:10]), (SERVER, 4), (SERVER, goaway(5, 0)[14:]),
    ]
    conv = talk(steps)
    assert conv.anomalies == {"gap-in-frame": 2}
    f = conv.facts()
    assert (
        f["settings"], f["goaway_by"], f["goaway_last_stream"], f["goaway_error"]
    ) == (2, "server", None, None)


def test_gap_inside_the_preface_keeps_framing() -> None:
    c = Peer()
    steps = [(CLIENT, PREFACE[:5]), (CLIENT, 10), (CLIENT, PREFACE[15:] + settings_frame()),
             (CLIENT, c.headers(1, request_fields(), end=True))]
    conv = talk(steps)
    assert conv.anomalies == {} and brief(conv) == [(1, 1, "GET", "/", None)]


# ---------------------------------------------------------------- midstream, upgrade
def test_midstream_without_preface_makes_orphans_for_earlier_streams() -> None:
    c, s = Peer(), Peer()
    steps = [
        (SERVER, data(5, b"tail of a body", end=True)),
        (SERVER, frame(HEADERS, END_HEADERS, 7, b"")),  # (an empty block decodes to nothing)
        (CLIENT, c.headers(9, request_fields("/nine"), end=True)),
        (SERVER, s.headers(9, response_fields(200), end=True)),
        (SERVER, s.headers(3, response_fields(200), end=True)),  # began before the capture
        (CLIENT, c.headers(3, [("x-trailer", "1")], end=True)),  # ditto: ignored
    ]
    conv = talk(steps, midstream=True)
    assert brief(conv) == [
        (1, 7, None, None, None), (2, 9, "GET", "/nine", 200), (3, 3, None, None, 200)
    ]
    assert not conv.exchanges[0].opened_connection and not conv.handshake_seen
    assert conv.anomalies == {"response-without-request": 2, "response-without-status": 1}
    assert conv.requests == 1 and conv.open == 1  # stream 7's response never ended


def test_midstream_accepts_a_preface_when_there_is_one() -> None:
    c, s = Peer(), Peer()
    steps = opening() + [
        (CLIENT, c.headers(1, request_fields(), end=True)),
        (SERVER, s.headers(1, response_fields(200), end=True)),
    ]
    conv = talk(steps, midstream=True)
    assert brief(conv) == [(1, 1, "GET", "/", 200)] and conv.anomalies == {}
    assert snapshot(talk(steps, bytewise(steps), midstream=True)) == snapshot(conv)


def test_a_bad_preface_stops_the_client_direction() -> None:
    s = Peer()
    steps = [(CLIENT, b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + settings_frame()),
             (SERVER, settings_frame() + s.headers(1, response_fields(200), end=True))]
    conv = talk(steps)
    assert conv.anomalies == {"bad-preface": 1, "response-without-request": 1}
    assert conv.facts()["settings"] == 1


def test_the_server_must_begin_with_settings() -> None:
    conv = talk([(CLIENT, PREFACE + ping()), (SERVER, ping())])
    assert conv.anomalies == {"settings-not-first": 2}


def test_h2c_upgrade_stream_one_is_the_http1_request() -> None:
    from tests import builders as b

    h1 = b.talk([
        (0, b"GET /feed HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"),
        (1, b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"),
    ], eof=False)
    [ex] = h1.exchanges
    assert ex.status == 101 and h1.upgraded
    conv = H2Conversation(cid="C1", preface=True)
    conv.upgraded_request(ex)
    c, s = Peer(), Peer()
    steps = [
        (SERVER, settings_frame({3: 100})
         + s.headers(1, response_fields(200, [("server", "h2o")]))),
        (CLIENT, PREFACE + settings_frame() + settings_frame(ack=True)),
        (SERVER, data(1, b"feed", end=True)),
        (CLIENT, c.headers(3, request_fields("/next"), end=True)),
        (SERVER, s.headers(3, response_fields(200), end=True)),
    ]
    talk(steps, conv=conv)
    one, three = conv.exchanges
    assert (one.index, one.stream, one.method, one.target, one.version) == (
        1, 1, "GET", "/feed", "1.1"
    )
    assert (one.status, one.response_version, one.interim_responses) == (200, "2", 1)
    assert (one.response_ts, one.response_end_ts) == (1.0, 3.0)
    assert (three.index, three.stream, three.target, three.status) == (2, 3, "/next", 200)
    assert (conv.count, conv.requests, conv.responses, conv.interim) == (2, 2, 2, 1)
    assert conv.upgraded and conv.anomalies == {} and conv.server_software == "h2o"
    assert conv.facts()["streams"] == 2 and conv.open == 0


# ---------------------------------------------------------------- owner's interface
def test_spooling_hands_finished_exchanges_over_in_order() -> None:
    c, s = Peer(), Peer()
    spooled: list[ExchangeRecord] = []
    n = KEEP * 3
    steps = opening()
    # stream 1 stays open while many others finish: nothing passes it
    steps.append((CLIENT, c.headers(1, request_fields("/long"), end=True)))
    for k in range(1, n):
        sid = 2 * k + 1
        steps += [(CLIENT, c.headers(sid, request_fields(f"/{sid}"), end=True)),
                  (SERVER, s.headers(sid, response_fields(200), end=True))]
    conv = H2Conversation(cid="C1", spool=spooled.append)
    talk(steps, conv=conv, eof=False)
    assert spooled == [] and len(conv.exchanges) == n
    talk([(SERVER, s.headers(1, response_fields(200), end=True))], conv=conv, eof=False)
    assert len(conv.exchanges) == KEEP
    assert [e.index for e in spooled + conv.exchanges] == list(range(1, n + 1))
    assert all(e.response_end_ts is not None for e in spooled)
    # a stream still open stops the spilling at its exchange
    steps = [(CLIENT, c.headers(2 * n + 1, request_fields("/open"), end=True))]
    for k in range(n + 1, n + 1 + KEEP):
        sid = 2 * k + 1
        steps += [(CLIENT, c.headers(sid, request_fields(f"/{sid}"), end=True)),
                  (SERVER, s.headers(sid, response_fields(200), end=True))]
    talk(steps, conv=conv, eof=False)
    assert conv.exchanges[0].stream == 2 * n + 1 and len(spooled) == n


def test_release_drops_state_and_ignores_late_events() -> None:
    c, s = Peer(), Peer()
    conv = talk(opening() + [(CLIENT, c.headers(1, request_fields(), end=True))], eof=False)
    conv.release()
    assert conv.requests_reader.conv is None and conv.streams == {}
    more = s.headers(1, response_fields(200), end=True)
    conv.responses_reader.data(more, 0, len(more), 9.0)
    conv.responses_reader.gap(10, 9.0)
    conv.requests_reader.eof(9.0)
    assert conv.responses == 0 and conv.exchanges[0].status is None


def test_eof_inside_a_frame_or_a_block() -> None:
    c = Peer()
    block = c.headers(1, request_fields(), pieces=2)
    conv = talk(opening() + [(CLIENT, block[:-3])])
    assert conv.anomalies == {"frame-cut-by-close": 1}
    first = 9 + int.from_bytes(block[:3], "big")
    conv = talk(opening() + [(CLIENT, block[:first])])
    assert conv.anomalies == {"header-block-cut-by-close": 1}


def test_too_many_open_streams_forgets_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    from analyzer.core import http2

    monkeypatch.setattr(http2, "MAX_OPEN_STREAMS", 4)
    c = Peer()
    opens = b"".join(c.headers(sid, request_fields()) for sid in range(1, 13, 2))
    steps = opening() + [(CLIENT, opens)]
    conv = talk(steps)
    assert conv.anomalies == {"too-many-open-streams": 2}
    assert conv.open == 4 and conv.max_open == 4 and conv.count == 6


# ---------------------------------------------------------------- a real implementation
def test_frames_from_the_h2_library() -> None:
    h2c = pytest.importorskip("h2.connection")
    h2config = pytest.importorskip("h2.config")
    client = h2c.H2Connection(h2config.H2Configuration(client_side=True))
    server = h2c.H2Connection(h2config.H2Configuration(client_side=False))
    client.initiate_connection()
    server.initiate_connection()
    steps: list[Step] = []

    def pump() -> None:
        for side, conn, peer in ((CLIENT, client, server), (SERVER, server, client)):
            out = conn.data_to_send()
            if out:
                steps.append((side, out))
                peer.receive_data(out)

    pump()
    pump()
    for i in range(5):
        sid = client.get_next_available_stream_id()
        fields = request_fields(f"/r{i}", extra=[("user-agent", "python-h2")])
        client.send_headers(sid, fields, end_stream=i % 2 == 0)
        if i % 2:
            client.send_data(sid, b"q" * 16384)
            client.send_data(sid, b"q" * 3000, end_stream=True)
        pump()
        server.send_headers(sid, response_fields(200 + i, [("server", "hyper")]))
        server.send_data(sid, b"r" * 1000, end_stream=True)
        pump()
    client.ping(b"pingpong")
    pump()
    pump()
    server.close_connection(last_stream_id=9)
    pump()
    conv = talk(steps)
    assert [(e.stream, e.target, e.status) for e in conv.exchanges] == [
        (1, "/r0", 200), (3, "/r1", 201), (5, "/r2", 202), (7, "/r3", 203), (9, "/r4", 204)
    ]
    assert conv.user_agent == "python-h2" and conv.server_software == "hyper"
    f = conv.facts()
    assert (
        f["pings"], f["goaway_by"], f["goaway_last_stream"], f["goaway_error"]
    ) == (1, "server", 9, "NO_ERROR")
    assert conv.anomalies == {}
    assert snapshot(talk(steps, [[7, 9, 10, 100, 4000] for _ in steps])) == snapshot(conv)


# ---------------------------------------------------------------- generated conversations
def scenario(rng: random.Random) -> tuple[list[Step], dict[str, Any]]:
    """A random valid conversation and what it must give: streams opened in order and
    interleaved, bodies, padding, CONTINUATION, 1xx, trailers, resets, pings, GOAWAY.
    Each event is whole frames; consecutive events of a side may share a step."""
    c, s = Peer(), Peer()
    steps: list[Step] = []

    def emit(side: int, chunk: bytes) -> float:
        if steps and steps[-1][0] == side and rng.random() < 0.5:
            steps[-1] = (side, steps[-1][1] + chunk)  # type: ignore[operator]
        else:
            steps.append((side, chunk))
        return float(len(steps))

    table = rng.choice([None, 0, 512, 8192])
    client_settings = {} if table is None else {1: table}
    if table is not None:
        s.encoder.header_table_size = table
    mcs = rng.choice([None, 3, 100])
    emit(CLIENT, PREFACE + settings_frame(client_settings))
    emit(SERVER, settings_frame({} if mcs is None else {3: mcs}) + settings_frame(ack=True))
    emit(CLIENT, settings_frame(ack=True))
    n = rng.randint(1, 6)
    plans = []
    for k in range(n):
        sid = 2 * k + 1
        method = rng.choice(["GET", "POST", "HEAD"])
        path = f"/s{sid}?q={rng.randint(0, 99)}"
        cq: list[tuple[str, Any]] = []
        sq: list[tuple[str, Any]] = []
        body = rng.random() < 0.4
        trailers = body and rng.random() < 0.3
        cq.append(("headers", not body))
        if body:
            for _ in range(rng.randint(1, 3)):
                cq.append(("data", False))
            if trailers:
                cq.append(("trailers", True))
            else:
                cq.append(("data", True))
        interims = rng.randint(0, 2) if rng.random() < 0.3 else 0
        interim = [rng.choice([100, 103]) for _ in range(interims)]
        status = rng.choice([200, 204, 301, 404, 500])
        for code in interim:
            sq.append(("interim", code))
        rbody = rng.random() < 0.6
        sq.append(("final", (status, not rbody)))
        if rbody:
            for _ in range(rng.randint(0, 3)):
                sq.append(("data", False))
            if rng.random() < 0.3:
                sq.append(("trailers", True))
            else:
                sq.append(("data", True))
        reset = rng.choice([None, None, None, CLIENT, SERVER])
        plans.append({"sid": sid, "method": method, "path": path, "cq": cq, "sq": sq,
                      "reset": reset, "reset_at": rng.randint(1, len(cq) + len(sq)),
                      "interim": interim, "status": status})
    # the expected outcome, computed as the events are emitted
    exp: dict[int, dict[str, Any]] = {}
    open_now = max_open = 0
    rst_client = rst_server = pings = 0
    started = 0
    live = list(range(n))
    while live:
        choices = [k for k in live if k < started or k == started]
        k = rng.choice(choices)
        p = plans[k]
        sid = p["sid"]
        if k == started:
            started += 1
        e = exp.get(sid)
        # the server's events only after the request's HEADERS
        side = CLIENT if not p["sq"] or (p["cq"] and (e is None or rng.random() < 0.5)) else SERVER
        if rng.random() < 0.1:
            pings += 1
            emit(rng.choice([CLIENT, SERVER]), ping() + window_update(0) + ping(ack=True))
        if e is not None and p["reset"] is not None and p["reset_at"] <= e["events"]:
            ts = emit(p["reset"], rst(sid, 8))
            if p["reset"] == CLIENT:
                rst_client += 1
            else:
                rst_server += 1
            if e["response_end_ts"] is None:
                e["response_end_ts"] = ts
            open_now -= 1
            live.remove(k)
            continue
        queue = p["cq"] if side == CLIENT else p["sq"]
        kind, arg = queue.pop(0)
        pad = rng.choice([None, None, 0, 5])
        if side == CLIENT:
            if kind == "headers":
                fields = request_fields(p["path"], p["method"], extra=[("user-agent", "gen/1")])
                chunk = c.headers(
                    sid, fields, end=arg, pad=pad, prio=rng.random() < 0.2,
                    pieces=rng.choice([1, 1, 2, 3]),
                )
            elif kind == "data":
                chunk = data(sid, b"c" * rng.randint(0, 3000), end=arg, pad=pad)
            else:
                chunk = c.headers(sid, [("x-trailer", "t")], end=True, pieces=rng.choice([1, 2]))
        else:
            if kind == "interim":
                chunk = s.headers(sid, response_fields(arg), pad=pad)
            elif kind == "final":
                fields = response_fields(arg[0], [("server", "gen-server")])
                chunk = s.headers(sid, fields, end=arg[1], pad=pad, pieces=rng.choice([1, 1, 2]))
            elif kind == "data":
                chunk = data(sid, b"s" * rng.randint(0, 16000), end=arg, pad=pad)
            else:
                chunk = s.headers(sid, [("grpc-status", "0")], end=True)
        ts = emit(side, chunk)
        if e is None:
            e = exp[sid] = {"request_ts": ts, "request_end_ts": None, "response_ts": None,
                            "response_end_ts": None, "events": 0, "status": None,
                            "interim": 0, "cdone": False, "sdone": False}
            open_now += 1
            max_open = max(max_open, open_now)
        e["events"] += 1
        if kind == "interim":
            e["interim"] += 1
        elif kind == "final":
            e["status"], e["response_ts"] = arg[0], ts
        if (kind in ("headers", "data", "trailers") and arg) or (kind == "final" and arg[1]):
            if side == CLIENT:
                e["cdone"], e["request_end_ts"] = True, ts
            else:
                e["sdone"], e["response_end_ts"] = True, ts
        if e["cdone"] and e["sdone"]:
            open_now -= 1
            live.remove(k)
    goaway_by = rng.choice([None, CLIENT, SERVER])
    if goaway_by is not None:
        emit(goaway_by, goaway(2 * n - 1, 0))
    expected = {
        "exchanges": [
            (i + 1, p["sid"], p["method"], p["path"], exp[p["sid"]]["status"],
             exp[p["sid"]]["interim"], exp[p["sid"]]["request_ts"], exp[p["sid"]]["request_end_ts"],
             exp[p["sid"]]["response_ts"], exp[p["sid"]]["response_end_ts"])
            for i, p in enumerate(plans)
        ],
        "facts": {
            "streams": n, "max_concurrent_streams": max_open,
            "settings_max_concurrent_streams": mcs,
            "rst_streams": rst_client + rst_server, "rst_by_client": rst_client,
            "rst_by_server": rst_server, "pushes": 0,
            "goaway_by": (
                None if goaway_by is None else ("client" if goaway_by == CLIENT else "server")
            ),
            "goaway_last_stream": None if goaway_by is None else 2 * n - 1,
            "goaway_error": None if goaway_by is None else "NO_ERROR",
            "pings": pings, "settings": 2,
        },
    }
    return steps, expected


def outcome(conv: H2Conversation) -> list[tuple]:
    return [
        (e.index, e.stream, e.method, e.target, e.status, e.interim_responses, e.request_ts,
         e.request_end_ts, e.response_ts, e.response_end_ts)
        for e in conv.exchanges
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.data())
def test_generated_conversations_are_read_exactly_however_they_are_cut(
    rng: random.Random, draw: st.DataObject
) -> None:
    steps, expected = scenario(rng)
    whole = talk(steps)
    assert outcome(whole) == expected["exchanges"]
    facts = whole.facts()
    # (when the GOAWAY came: its time, whatever the model's; present exactly with it)
    assert (facts.pop("goaway_ts") is None) == (facts["goaway_by"] is None)
    assert facts == expected["facts"]
    assert whole.anomalies == {}
    assert whole.requests == whole.count == len(expected["exchanges"])
    assert whole.user_agent == "gen/1"
    cuts = [
        draw.draw(st.lists(st.integers(0, len(chunk)), max_size=8))
        if isinstance(chunk, bytes) else []
        for _, chunk in steps
    ]
    assert snapshot(talk(steps, cuts)) == snapshot(whole)


@settings(max_examples=10, deadline=None)
@given(st.randoms(use_true_random=False))
def test_generated_conversations_byte_at_a_time(rng: random.Random) -> None:
    steps, _ = scenario(rng)
    assert snapshot(talk(steps, bytewise(steps))) == snapshot(talk(steps))


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_generated_conversations_with_a_spool(rng: random.Random) -> None:
    steps, _ = scenario(rng)
    whole = talk(steps)
    spooled: list[ExchangeRecord] = []
    conv = H2Conversation(cid="C1", spool=spooled.append)
    # (KEEP is 16 and scenarios have at most 6 streams: spill from 2 on by shrinking it)
    from analyzer.core import http2

    keep = http2.KEEP
    http2.KEEP = 2
    try:
        talk(steps, conv=conv)
    finally:
        http2.KEEP = keep
    assert snapshot(conv, spooled) == snapshot(whole)


# ---------------------------------------------------------------- never crash
@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=600), st.binary(max_size=600), st.booleans(), st.booleans(),
    st.lists(st.integers(1, 64), min_size=1, max_size=6),
)
def test_random_bytes_never_crash(
    client: bytes, server: bytes, with_preface: bool, midstream: bool, sizes: list[int]
) -> None:
    if with_preface:
        client = PREFACE + client
    conv = H2Conversation(midstream=midstream)
    feed_interleaved(conv, client, server, sizes)


def feed_interleaved(conv: H2Conversation, client: bytes, server: bytes, sizes: list[int],
                     gaps: Sequence[tuple[int, int, int]] = ()) -> None:
    """Feed both directions in alternating segments of the given sizes; ``gaps``:
    (side, offset, n) — from that offset of that side on, n bytes are lost instead."""
    readers = (conv.requests_reader, conv.responses_reader)
    streams = [client, server]
    at = [0, 0]
    lost = [sorted((off, n) for s, off, n in gaps if s == side) for side in (0, 1)]
    i = 0
    ts = 0.0
    while at[0] < len(streams[0]) or at[1] < len(streams[1]):
        side = i % 2
        size = sizes[i % len(sizes)]
        i += 1
        ts += 0.5
        chunk = streams[side]
        if at[side] >= len(chunk):
            continue
        while lost[side] and lost[side][0][0] < at[side]:
            lost[side].pop(0)  # (inside an earlier gap)
        end = min(len(chunk), at[side] + size)
        if lost[side] and lost[side][0][0] == at[side]:
            n = lost[side].pop(0)[1]
            readers[side].gap(n, ts)
            at[side] += n
            continue
        if lost[side] and lost[side][0][0] < end:
            end = lost[side][0][0]
        readers[side].data(chunk, at[side], end, ts)
        at[side] = end
    readers[0].eof(ts)
    readers[1].eof(ts)
    check_invariants(conv)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.data())
def test_mutated_conversations_never_crash(rng: random.Random, draw: st.DataObject) -> None:
    steps, _ = scenario(rng)
    sides = [b"".join(c for s, c in steps if s == side and isinstance(c, bytes)) for side in (0, 1)]
    for _ in range(draw.draw(st.integers(1, 6))):
        side = draw.draw(st.integers(0, 1))
        b = bytearray(sides[side])
        if not b:
            continue
        pos = draw.draw(st.integers(0, len(b) - 1))
        op = draw.draw(st.sampled_from(["flip", "delete", "insert", "duplicate", "zero"]))
        n = draw.draw(st.integers(1, 40))
        if op == "flip":
            b[pos] ^= draw.draw(st.integers(1, 255))
        elif op == "delete":
            del b[pos : pos + n]
        elif op == "insert":
            b[pos:pos] = draw.draw(st.binary(min_size=1, max_size=n))
        elif op == "duplicate":
            b[pos:pos] = b[pos : pos + n]
        else:
            b[pos : pos + n] = bytes(len(b[pos : pos + n]))
        sides[side] = bytes(b)
    gaps = draw.draw(st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 3000), st.integers(1, 500)), max_size=3
    ))
    sizes = draw.draw(st.lists(st.integers(1, 2000), min_size=1, max_size=5))
    conv = H2Conversation(midstream=draw.draw(st.booleans()))
    feed_interleaved(conv, sides[0], sides[1], sizes, gaps)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.data())
def test_gaps_never_break_the_counting(rng: random.Random, draw: st.DataObject) -> None:
    """Losing bytes anywhere: no crash, and never a request the conversation did not
    have (once the framing is lost, garbage may look like frames, but the direction's
    blocks are no longer decoded)."""
    steps, expected = scenario(rng)
    sides = [b"".join(c for s, c in steps if s == side and isinstance(c, bytes)) for side in (0, 1)]
    gaps = draw.draw(st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 5000), st.integers(1, 300)), max_size=3
    ))
    conv = H2Conversation()
    feed_interleaved(conv, sides[0], sides[1], [4096], gaps)
    methods = [(e.stream, e.method) for e in conv.exchanges if e.method is not None]
    assert set(methods) <= {(x[1], x[2]) for x in expected["exchanges"]}


def test_fuzz_target_replays_its_seeds() -> None:
    sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
    try:
        import fuzz_http2
    finally:
        sys.path.pop(0)
    seeds = fuzz_http2.seeds()
    assert len(seeds) >= 5
    for seed in seeds:
        fuzz_http2.check(seed)
        for cut in (1, len(seed) // 3, len(seed) - 1):
            fuzz_http2.check(seed[:cut])
