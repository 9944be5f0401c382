"""streams: one direction's byte stream — order, retransmission, overlap, wraparound, gaps.

A recording sink rebuilds what the stream passed on; gaps are kept as ``None`` markers of
their length, so a test sees exactly which bytes were delivered and which were declared
missing (RFC 9293 §3.4 sequence arithmetic, §3.10.7.4 segment trimming).
"""

from __future__ import annotations

from analyzer.core.streams import MAX_PENDING_SEGMENTS, Stream

MASK = 0xFFFFFFFF
DATA = bytes((i % 251) + 1 for i in range(4000))  # no zero bytes anywhere


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def data(self, buf: bytes, start: int, end: int, ts: float) -> None:
        assert 0 <= start < end <= len(buf), (start, end, len(buf))
        self.events.append(("data", bytes(buf[start:end])))

    def gap(self, n: int, ts: float) -> None:
        assert n > 0
        self.events.append(("gap", n))

    def eof(self, ts: float) -> None:
        self.events.append(("eof", ts))

    @property
    def delivered(self) -> bytes:
        return b"".join(v for k, v in self.events if k == "data")  # type: ignore[misc]

    def layout(self) -> list[tuple[int, int, str]]:
        """(offset, length, kind) runs in stream order."""
        out = []
        pos = 0
        for k, v in self.events:
            if k == "data":
                out.append((pos, len(v), "data"))  # type: ignore[arg-type]
                pos += len(v)  # type: ignore[arg-type]
            elif k == "gap":
                out.append((pos, v, "gap"))  # type: ignore[arg-type]
                pos += v  # type: ignore[operator]
        return out

    def image(self) -> bytes:
        """The stream with gaps shown as '?' (DATA holds no '?' bytes below 0x3f... it may,
        so tests compare runs, not this, where it matters)."""
        out = bytearray()
        for k, v in self.events:
            if k == "data":
                out += v  # type: ignore[operator]
            elif k == "gap":
                out += b"?" * v  # type: ignore[operator]
        return bytes(out)

    def eofs(self) -> int:
        return sum(1 for k, _ in self.events if k == "eof")


def stream(isn: int = 1000) -> tuple[Stream, Sink]:
    st = Stream()
    sink = Sink()
    st.sink = sink
    st.start(isn)
    return st, sink


def seg(
    st: Stream,
    seq: int,
    data: bytes,
    seglen: int | None = None,
    fin: bool = False,
    ts: float = 1.0,
) -> bytes:
    """Feed one segment, framed by junk in the buffer (which must never be delivered)."""
    buf = b"\0\0\0JUNK" + data + b"JUNK\0\0"
    st.segment(seq & MASK, buf, 7, 7 + len(data), len(data) if seglen is None else seglen, ts, fin)
    return buf


def check_matches_data(sink: Sink, base: int = 0) -> None:
    """Every delivered run equals DATA at its offset: nothing invented, no zeros."""
    img = sink.image()
    for off, n, kind in sink.layout():
        if kind == "data":
            assert img[off : off + n] == DATA[base + off : base + off + n]
            assert 0 not in img[off : off + n]


def test_in_order_segments_are_passed_on_without_copying() -> None:
    st, sink = stream()
    buf = seg(st, 1000, DATA[:100])
    seg(st, 1100, DATA[100:250])
    assert sink.delivered == DATA[:250]
    assert st.offset == 250 and st.missing == 0 and not st.pending
    # zero-copy: the first data event came from the very buffer the frame was in
    st2 = Stream()
    seen = []

    class S(Sink):
        def data(self, b: bytes, s: int, e: int, ts: float) -> None:
            seen.append(b)

    st2.sink = S()
    st2.start(5)
    st2.segment(5, buf, 7, 107, 100, 1.0, False)
    assert seen[0] is buf


def test_stream_starts_at_first_segment_without_start() -> None:
    st = Stream()
    sink = Sink()
    st.sink = sink
    st.segment(777, b"abc", 0, 3, 3, 1.0, False)
    st.segment(780, b"def", 0, 3, 3, 1.0, False)
    assert sink.delivered == b"abcdef"


def test_retransmission_is_delivered_once() -> None:
    st, sink = stream()
    seg(st, 1000, DATA[:100])
    seg(st, 1000, DATA[:100])
    seg(st, 1100, DATA[100:200])
    seg(st, 1050, DATA[50:150])
    assert sink.delivered == DATA[:200]
    assert st.retransmitted == 200
    assert st.missing == 0


def test_overlap_first_copy_wins() -> None:
    """RFC 9293 §3.10.7.4: bytes already received are trimmed from a later segment, even
    when the later copy says something else."""
    st, sink = stream()
    seg(st, 1000, b"A" * 10)
    seg(st, 1005, b"B" * 10)  # 5 old bytes (ignored, although different), 5 new ones
    assert sink.delivered == b"A" * 10 + b"B" * 5
    assert st.retransmitted == 5 and st.offset == 15


def test_out_of_order_waits_for_the_hole() -> None:
    st, sink = stream()
    seg(st, 1200, DATA[200:300])
    seg(st, 1100, DATA[100:200])
    assert sink.events == []  # nothing yet: the first 100 bytes are missing
    seg(st, 1000, DATA[:100])
    assert sink.delivered == DATA[:300]
    assert st.missing == 0 and not st.pending and st.pending_bytes == 0


def test_out_of_order_overlapping_pending_segments() -> None:
    st, sink = stream()
    seg(st, 1150, DATA[150:300])
    seg(st, 1100, DATA[100:200])  # overlaps the pending one
    seg(st, 1250, DATA[250:400])
    seg(st, 1000, DATA[:100])
    assert sink.delivered == DATA[:400]
    assert st.missing == 0 and not st.pending and st.pending_bytes == 0


def test_sequence_wraparound() -> None:
    isn = 0xFFFFFF00  # 256 bytes before the wrap
    st, sink = stream(isn)
    seg(st, isn, DATA[:200])
    seg(st, isn + 300, DATA[300:600])  # after the wrap, out of order
    seg(st, isn + 200, DATA[200:300])  # crosses 2**32
    seg(st, isn + 250, DATA[250:350])  # retransmission across the wrap
    assert sink.delivered == DATA[:600]
    assert st.next_raw == (isn + 600) & MASK
    assert st.offset == 600 and st.missing == 0


def test_wraparound_gap_found_by_peer_ack() -> None:
    isn = 0xFFFFFFF0
    st, sink = stream(isn)
    seg(st, isn, DATA[:10])
    seg(st, isn + 30, DATA[30:50])  # 20 bytes lost across the wrap
    st.acked((isn + 50) & MASK, 2.0)
    assert sink.layout() == [(0, 10, "data"), (10, 20, "gap"), (30, 20, "data")]
    assert st.missing == 20
    check_matches_data(sink)


def test_gap_detected_when_the_peer_acknowledges_past_it() -> None:
    """The receiver acknowledged bytes the capture never saw: the capture lost them."""
    st, sink = stream()
    seg(st, 1000, DATA[:100])
    seg(st, 1200, DATA[200:300])
    st.acked(1100, 2.0)  # not past the hole: nothing happens
    assert sink.layout() == [(0, 100, "data")]
    st.acked(1300, 2.0)
    assert sink.layout() == [(0, 100, "data"), (100, 100, "gap"), (200, 100, "data")]
    assert st.missing == 100
    check_matches_data(sink)


def test_ack_ending_inside_the_hole_declares_only_that_part() -> None:
    st, sink = stream()
    seg(st, 1300, DATA[300:400])
    st.acked(1150, 2.0)  # the receiver had 150 bytes we never saw
    assert sink.layout() == [(0, 150, "gap")]
    seg(st, 1150, DATA[150:300])
    assert sink.layout() == [(0, 150, "gap"), (150, 150, "data"), (300, 100, "data")]
    check_matches_data(sink)


def test_old_or_duplicate_acks_change_nothing() -> None:
    st, sink = stream()
    seg(st, 1000, DATA[:100])
    seg(st, 1200, DATA[200:300])
    st.acked(1000, 2.0)
    st.acked(900, 2.0)
    st.acked((1100 - 0x80000000) & MASK, 2.0)  # "behind" in signed arithmetic
    assert sink.layout() == [(0, 100, "data")]
    assert st.missing == 0


def test_gap_at_flush() -> None:
    st, sink = stream()
    seg(st, 1000, DATA[:50])
    seg(st, 1100, DATA[100:150])
    seg(st, 1300, DATA[300:310])
    st.flush(9.0)
    assert sink.layout() == [
        (0, 50, "data"),
        (50, 50, "gap"),
        (100, 50, "data"),
        (150, 150, "gap"),
        (300, 10, "data"),
    ]
    assert sink.events[-1] == ("eof", 9.0) and sink.eofs() == 1
    assert st.missing == 200
    check_matches_data(sink)
    st.flush(10.0)
    assert sink.eofs() == 1  # eof once


def test_snaplen_cut_segment_counts_missing_bytes() -> None:
    st, sink = stream()
    seg(st, 1000, DATA[:40], seglen=100)  # 100 on the wire, 40 captured
    seg(st, 1100, DATA[100:150])
    assert sink.layout() == [(0, 40, "data"), (40, 60, "gap"), (100, 50, "data")]
    assert st.missing == 60 and st.offset == 150
    check_matches_data(sink)


def test_snaplen_cut_out_of_order_and_retransmitted() -> None:
    st, sink = stream()
    seg(st, 1100, DATA[100:120], seglen=100)  # pending, cut
    seg(st, 1000, DATA[:100])
    assert sink.layout() == [(0, 100, "data"), (100, 20, "data"), (120, 80, "gap")]
    # a cut retransmission that overlaps more than was captured
    seg(st, 1150, DATA[150:160], seglen=100)  # bytes 150..250: 50 old, 50 new, none captured
    assert sink.layout()[-1] == (200, 50, "gap")
    assert st.missing == 130
    check_matches_data(sink)


def test_fin_gives_eof_after_the_data_before_it() -> None:
    st, sink = stream()
    seg(st, 1100, DATA[100:200], fin=True)  # FIN arrives first, out of order
    assert sink.eofs() == 0
    seg(st, 1000, DATA[:100])
    assert sink.delivered == DATA[:200]
    assert sink.events[-1][0] == "eof" and sink.eofs() == 1


def test_bare_fin_and_retransmitted_fin() -> None:
    st, sink = stream()
    seg(st, 1000, DATA[:10])
    seg(st, 1010, b"", fin=True)
    seg(st, 1010, b"", fin=True)
    assert sink.delivered == DATA[:10] and sink.eofs() == 1


def test_fin_after_a_lost_segment_waits_for_the_ack_or_flush() -> None:
    st, sink = stream()
    seg(st, 1000, DATA[:10])
    seg(st, 1020, DATA[20:30], fin=True)
    assert sink.eofs() == 0
    st.acked(1031, 3.0)  # the peer acknowledges the data and the FIN
    assert sink.layout() == [(0, 10, "data"), (10, 10, "gap"), (20, 10, "data")]
    assert sink.eofs() == 1


def test_pending_is_bounded() -> None:
    """Holes that never fill cannot hold unbounded memory: past the bound the oldest hole
    becomes a gap."""
    st, sink = stream()
    for i in range(MAX_PENDING_SEGMENTS + 10):
        seg(st, 1000 + 2 * i + 1, DATA[2 * i + 1 : 2 * i + 2])  # every other byte
    assert len(st.pending) <= MAX_PENDING_SEGMENTS + 1
    assert st.missing > 0
    check_matches_data(sink)
    st.flush(2.0)
    assert not st.pending and st.pending_bytes == 0


def test_pending_bytes_accounting_survives_replaced_segments() -> None:
    """An out-of-order segment later retransmitted *longer* at the same sequence number
    (common with TSO/GRO coalescing) replaces the pending copy. The byte count of pending
    data must drop back to 0 once the hole fills, or it creeps up until the 1 MiB bound
    trips and declares false gaps on a lossless stream."""
    st, sink = stream()
    base = 1000
    for _ in range(2500):  # 2500 * 500 replaced bytes > MAX_PENDING_BYTES
        seg(st, base + 100, DATA[100:600])
        seg(st, base + 100, DATA[100:1300])  # the same start, longer
        seg(st, base, DATA[:100])
        base += 1300
    assert st.pending_bytes == 0
    assert st.missing == 0
    assert sink.delivered == DATA[:1300] * 2500


def test_zero_length_segments_and_keepalive_probes_are_harmless() -> None:
    st, sink = stream()
    seg(st, 1000, DATA[:10])
    seg(st, 1009, b"")  # TCP keep-alive: seq one below, no data
    seg(st, 1009, DATA[9:10])  # keep-alive probe with one old byte
    seg(st, 1010, DATA[10:20])
    assert sink.delivered == DATA[:20] and st.missing == 0


def test_delivers_says_whether_a_segment_goes_to_the_sink_at_once() -> None:
    """What the flow table asks before it chooses a protocol from a segment's bytes."""
    s = Stream()
    assert s.delivers(12345)  # the first segment starts the stream wherever it is
    s.start(MASK - 1)
    assert s.delivers(MASK - 1) and not s.delivers(0) and not s.delivers(MASK - 2)
    sink = Sink()
    s.sink = sink
    s.segment(MASK - 1, DATA, 0, 4, 4, 1.0, False)  # wraps past 2**32
    assert s.delivers(2) and not s.delivers(MASK - 1)
    s.segment(10, DATA, 0, 4, 4, 1.0, False)  # out of order: pending
    assert s.delivers(2)
