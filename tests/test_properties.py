"""Hypothesis invariants over the whole core, each stated in one line:

1. any segmentation of a conversation gives the same exchanges;
2. any causal reordering plus duplication of its segments (no loss) gives the same exchanges;
3. arbitrary bytes as TCP payload, either direction, never raise: a label, maybe anomalies;
4. arbitrary bytes as a capture file: analyze() returns or raises CaptureError, nothing else;
5. arbitrary frames of every link type: decode() returns a tuple or a str, never raises;
6. a stream fed any segments (with loss, overlap, reordering) delivers only real bytes, at
   their offsets, and accounts for every byte as delivered or missing.
"""

from __future__ import annotations

import gzip
import os
import random
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import analyzer
from analyzer.core.decode import SUPPORTED_LINKTYPES, decode
from analyzer.core.flows import FlowTable
from analyzer.core.streams import Stream
from analyzer.errors import CaptureError
from tests import builders as b

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- the conversation of properties 1 and 2: pipelining, chunked, 100-continue, HEAD
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: yes\r\n\r\n"
)
STEPS = [
    (0, b"GET /1 HTTP/1.1\r\nHost: s\r\n\r\nGET /2 HTTP/1.1\r\nHost: s\r\n\r\n"),
    (1, b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHTTP/1.1 500" + CHUNKED),
    (0, b"PUT /3 HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n"),
    (1, b"HTTP/1.1 100 Continue\r\n\r\n"),
    (0, b"0123456789"),
    (1, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
    (0, b"HEAD /4 HTTP/1.1\r\n\r\n"),
    (1, b"HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n"),
    (0, b"POST /5 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
    (1, b"HTTP/1.0 204 No Content\r\n\r\n"),
]
EXPECTED = [
    [
        ("GET", "/1", 200, 0),
        ("GET", "/2", 200, 0),
        ("PUT", "/3", 201, 1),
        ("HEAD", "/4", 200, 0),
        ("POST", "/5", 204, 0),
    ]
]


def _conversation(sizes: list[list[int]] | None = None, isn: tuple[int, int] = (1000, 2000)):
    c = b.Conversation(client_isn=isn[0], server_isn=isn[1]).handshake()
    for i, (side, data) in enumerate(STEPS):
        c.send(side, data, sizes[i] if sizes else None)
    return c.close(first=0)


def test_the_fixed_conversation_itself() -> None:
    conns = b.run(_conversation())
    assert b.summary(conns) == EXPECTED
    assert conns[0].anomalies == {} and conns[0].interim_responses == 1


isns = st.sampled_from([0, 1000, 0xFFFFFFFF, 0xFFFFFF80, 0x7FFFFFFF, 0x80000000])


@FAST
@given(
    sizes=st.lists(
        st.lists(st.integers(1, 40), max_size=12), min_size=len(STEPS), max_size=len(STEPS)
    ),
    isn=st.tuples(isns, isns),
)
def test_any_segmentation_gives_the_same_exchanges(sizes, isn) -> None:
    conns = b.run(_conversation(sizes, isn))
    assert b.summary(conns) == EXPECTED
    assert conns[0].missing_bytes == 0 and conns[0].anomalies == {}


@FAST
@given(
    seed=st.integers(0, 2**32),
    duplicates=st.integers(0, 8),
    isn=st.tuples(isns, isns),
    chunk=st.integers(3, 30),
)
def test_any_causal_reordering_and_duplication_gives_the_same_exchanges(
    seed, duplicates, isn, chunk
) -> None:
    c = _conversation([[chunk] * 20] * len(STEPS), isn)
    c.shuffle(random.Random(seed), duplicates)
    conns = b.run(c)
    assert b.summary(conns) == EXPECTED
    assert conns[0].missing_bytes == 0 and conns[0].anomalies == {}
    assert conns[0].closed_by == "client"


# ---- 3: arbitrary payloads
HTTPISH = [
    b"GET / HTTP/1.1\r\n",
    b"HEAD /x HTTP/1.0\r\n",
    b"CONNECT h:443 HTTP/1.1\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 100 Continue\r\n",
    b"HTTP/1.1 101 Up\r\n",
    b"http/1.1 204 x\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Content-Length: 1, 2\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Connection: close\r\n",
    b"\r\n",
    b"\n",
    b"0\r\n",
    b"5;x=y\r\nhello\r\n",
    b"ffffffffffffffffff\r\n",
    b"GET /09\r\n",
    b"\x16\x03\x01",
    b"zz\r\n",
    b"X: y\r\n\r\n",
]
payload = st.lists(st.one_of(st.sampled_from(HTTPISH), st.binary(max_size=40)), max_size=25).map(
    b"".join
)


@FAST
@given(
    chunks=st.lists(st.tuples(st.integers(0, 1), payload), min_size=1, max_size=6),
    seg=st.integers(1, 64),
    handshake=st.booleans(),
    ports=st.sampled_from([(51000, 80), (80, 51000), (8080, 1000)]),
)
def test_arbitrary_payload_never_raises(chunks, seg, handshake, ports) -> None:
    c = b.Conversation(("10.0.0.1", ports[0]), ("10.0.0.2", ports[1]))
    c.handshake() if handshake else c.mid_stream()
    for side, data in chunks:
        if data:
            c.send(side, data, mss=seg)
    c.close(first=chunks[0][0])
    conns = b.run(c)
    assert len(conns) == 1
    conn = conns[0]
    assert conn.label in ("persistent", "per-request", "unused", "not-http")
    n = len(conn.exchanges)
    assert conn.label == ("persistent" if n >= 2 else "per-request" if n == 1 else conn.label)
    assert all(isinstance(k, str) and v > 0 for k, v in conn.anomalies.items())
    assert conn.missing_bytes == 0


@FAST
@given(chunks=st.lists(st.tuples(st.integers(0, 1), payload), max_size=8))
def test_arbitrary_bytes_straight_into_the_http_readers(chunks) -> None:
    for mode in ("whole", "bytes"):
        conv = b.talk(chunks, mode)
        assert conv.requests >= 0 and len(conv.exchanges) >= conv.requests


# ---- 4: arbitrary capture files
def _valid_frames() -> list[tuple[float, bytes]]:
    c = b.Conversation().handshake()
    c.exchange(b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    return c.close().frames()


PCAP = b.pcap(_valid_frames())
PCAPNG = b.pcapng(_valid_frames(), [(1, 9)])


def _mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    out = bytearray(data)
    for pos, val in flips:
        out[pos % len(out)] = val
    return bytes(out[:cut] if cut is not None else out)


files = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda tail: PCAP[:24] + tail, st.binary(max_size=300)),
    st.builds(lambda tail: PCAPNG[:100] + tail, st.binary(max_size=300)),
    st.builds(
        _mutate,
        st.sampled_from([PCAP, PCAPNG]),
        st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
        st.none() | st.integers(0, 2000),
    ),
)


@settings(max_examples=150, deadline=None)
@given(data=files, gz=st.booleans())
def test_arbitrary_capture_files_return_or_raise_capture_error(data, gz) -> None:
    fd, path = tempfile.mkstemp(suffix=".pcap.gz" if gz else ".pcap")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(gzip.compress(data, mtime=0) if gz else data)
        try:
            a = analyzer.analyze(path)
        except CaptureError as e:
            assert path in str(e)
        else:
            cap = a.capture_records[0]
            assert cap.tcp_packets + sum(cap.skipped.values()) == cap.packets
            if cap.truncated:
                assert cap.warnings
    finally:
        os.unlink(path)


# ---- 5: arbitrary frames
IP_PACKETS = [
    b.ipv4("10.0.0.1", "10.0.0.2", b.tcp(1, 2, 3, 4, b.ACK, b"data")),
    b.ipv4(
        "10.0.0.1",
        "10.0.0.2",
        b.tcp(1, 2, 3, 4, b.ACK, b"x", options=b"\x01" * 8),
        options=b"\x01" * 8,
    ),
    b.ipv6("::1", "::2", b.tcp(1, 2, 3, 4, b.ACK, b"data"), ext=[(0, b""), (60, b"")]),
    b.ipv6("::1", "::2", b.tcp(1, 2, 3, 4, b.ACK, b"data")),
]
LINKTYPES = sorted(SUPPORTED_LINKTYPES) + [105]


def _frame_for(lt: int, ip: bytes) -> bytes:
    return b.link(lt, ip) if lt in SUPPORTED_LINKTYPES else ip


frames = st.one_of(
    st.tuples(st.sampled_from(LINKTYPES), st.binary(max_size=120)),
    st.builds(
        lambda lt, ip, flips, cut: (lt, _mutate(_frame_for(lt, ip), flips, cut)),
        st.sampled_from(LINKTYPES),
        st.sampled_from(IP_PACKETS),
        st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=4),
        st.none() | st.integers(0, 150),
    ),
)


@settings(max_examples=300, deadline=None)
@given(frame=frames, pad=st.binary(max_size=8))
def test_decode_returns_a_tuple_or_a_reason(frame, pad) -> None:
    lt, data = frame
    buf = pad + data + b"\xff" * 64  # bytes after the frame that must not be taken as payload
    r = decode(buf, len(pad), len(data), lt)
    if isinstance(r, str):
        assert r
        return
    key, seq, ack, flags, ps, pe, seglen = r
    end = len(pad) + len(data)
    assert len(key) in (12, 36)
    assert 0 <= seq <= 0xFFFFFFFF and 0 <= ack <= 0xFFFFFFFF and 0 <= flags <= 0xFF
    assert ps == pe or len(pad) <= ps < pe <= end
    assert 0 <= pe - ps <= seglen


@settings(max_examples=200, deadline=None)
@given(batch=st.lists(frames, max_size=12))
def test_flow_table_survives_arbitrary_frames(batch) -> None:
    buf = bytearray()
    recs = []
    for lt, data in batch:
        buf += b"\xee"
        recs.append((1.0, lt, len(buf), len(data), len(data)))
        buf += data
    table = FlowTable(capture="t")
    table.feed(bytes(buf), recs)
    conns = table.finish()
    assert table.tcp_packets + sum(table.skipped.values()) == len(batch)
    assert all(c.label in ("persistent", "per-request", "unused", "not-http") for c in conns)


# ---- 6: streams deliver only real bytes
DATA = bytes((i % 251) + 1 for i in range(600))


class _Sink:
    def __init__(self) -> None:
        self.pos = 0
        self.delivered = 0
        self.eofs = 0

    def data(self, buf: bytes, s: int, e: int, ts: float) -> None:
        chunk = bytes(buf[s:e])
        assert 0 not in chunk  # never zeros (nothing invented to fill a hole)
        assert chunk == DATA[self.pos : self.pos + len(chunk)]
        self.pos += len(chunk)
        self.delivered += len(chunk)

    def gap(self, n: int, ts: float) -> None:
        assert n > 0
        self.pos += n

    def eof(self, ts: float) -> None:
        self.eofs += 1


segments = st.lists(
    st.tuples(
        st.integers(0, 599), st.integers(0, 80), st.integers(0, 80), st.booleans()
    ),  # start, length, captured (snaplen), then an ACK of the highest end so far?
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(segs=segments, isn=isns)
def test_stream_delivers_only_real_bytes_at_their_offsets(segs, isn) -> None:
    st_ = Stream()
    sink = _Sink()
    st_.sink = sink
    st_.start(isn)
    high = 0
    for start, n, cap, ack in segs:
        n = min(n, len(DATA) - start)
        cap = min(cap, n)
        # zero bytes around the captured part: taking more than [ps:pe] would be caught
        buf = b"\0" * 5 + DATA[start : start + cap] + b"\0" * 5
        st_.segment((isn + start) & 0xFFFFFFFF, buf, 5, 5 + cap, n, 1.0, False)
        high = max(high, start + n)
        if ack:
            st_.acked((isn + high) & 0xFFFFFFFF, 1.0)
    st_.flush(2.0)
    assert sink.eofs == 1
    assert not st_.pending and st_.pending_bytes == 0
    assert sink.pos == st_.offset  # every byte accounted as delivered or missing
    assert sink.delivered + st_.missing == st_.offset
