"""Rotated captures are stitched (issue 6): the parts of one capture, cut with
``editcap -c`` as ``tcpdump -C``/``-G`` would cut it, give the same connections,
exchanges and servers as the whole — a connection that crosses a file boundary is one
connection. Overlapping captures of the same traffic are never merged."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

import analyzer
from analyzer.capture.files import CaptureFile, first_timestamp
from analyzer.core.decode import reverse_key
from analyzer.core.flows import FlowTable, partition_of
from tests import builders as b
from tests.conftest import CAPTURES, needs_editcap, split_capture

# Captures whose persistent connections are longer than one part at these cuts.
STITCHED = [
    ("go-drain.pcap", 2), ("go-drain.pcap", 3), ("go-drain.pcap", 4),
    ("pipelined.pcap", 3), ("ab-keepalive.pcap", 2), ("ab-keepalive.pcap", 4),
    ("curl-multi.pcapng", 3), ("requests-session.pcap", 3), ("ipv6.pcap", 2),
    ("nginx-request-limit.pcap", 4), ("expect-100.pcap", 2), ("go-leak.pcap", 3),
    ("zeek/wikipedia.pcap", 3),
]


def _without_capture(a: analyzer.Analysis) -> tuple[list[dict], list[dict], list[dict]]:
    d = a.to_dict()
    for c in d["connections"]:
        del c["capture"]
    return d["connections"], d["exchanges"], d["servers"]


def _packets(path: Path) -> int:
    return sum(len(records) for _, records in CaptureFile(str(path)).batches())


@needs_editcap
@pytest.mark.parametrize(("name", "parts"), STITCHED, ids=[f"{n}/{p}" for n, p in STITCHED])
def test_parts_equal_the_whole(name: str, parts: int, tmp_path: Path) -> None:
    whole_path = CAPTURES / name
    files = split_capture(whole_path, tmp_path, parts)
    assert len(files) == parts
    whole = analyzer.analyze(str(whole_path))
    split = analyzer.analyze([str(f) for f in files])
    assert _without_capture(split) == _without_capture(whole)
    # one capture record per file, their counts adding up to the whole's
    assert [c.path for c in split.capture_records] == [str(f) for f in files]
    assert [c.packets for c in split.capture_records] == [_packets(f) for f in files]
    for field in ("packets", "tcp_packets", "missing_bytes"):
        assert sum(getattr(c, field) for c in split.capture_records) == getattr(
            whole.capture_records[0], field
        )
    # a connection really spans files: it goes on after the next file's first packet
    firsts = [first_timestamp(str(f)) for f in files]
    names = [str(f) for f in files]
    spanning = [
        c for c in split.connection_records
        if names.index(c.capture) + 1 < len(files)
        and c.end >= firsts[names.index(c.capture) + 1]  # type: ignore[operator]
    ]
    assert spanning
    # each connection names the file where its first packet is
    for c in split.connection_records:
        k = names.index(c.capture)
        assert firsts[k] <= c.start  # type: ignore[operator]
        assert k + 1 == len(files) or c.start <= firsts[k + 1]  # type: ignore[operator]


@needs_editcap
def test_parts_in_any_order_and_gzipped(tmp_path: Path) -> None:
    files = split_capture(CAPTURES / "go-drain.pcap", tmp_path, 4)
    files[1] = _gzipped(files[1])
    shuffled = files[:]
    random.Random(6).shuffle(shuffled)
    assert shuffled != files
    whole = analyzer.analyze(str(CAPTURES / "go-drain.pcap"))
    split = analyzer.analyze([str(f) for f in shuffled])
    assert _without_capture(split) == _without_capture(whole)
    (conn,) = split.connection_records
    assert conn.capture == str(files[0]) and conn.requests == 10
    assert conn.packets == 37 > max(c.packets for c in split.capture_records)
    # the captures section keeps the order the files were named in
    assert [c.path for c in split.capture_records] == [str(f) for f in shuffled]


def _gzipped(p: Path) -> Path:
    gz = p.with_name(p.name + ".gz")
    gz.write_bytes(gzip.compress(p.read_bytes()))
    p.unlink()
    return gz


def test_overlapping_captures_are_not_merged() -> None:
    """The same traffic captured twice (here: the same file given twice) is two groups,
    analysed apart: twice the connections, never one connection with doubled packets."""
    one = analyzer.analyze(str(CAPTURES / "go-drain.pcap"))
    two = analyzer.analyze([str(CAPTURES / "go-drain.pcap")] * 2)
    assert len(two.connection_records) == 2 * len(one.connection_records) == 2
    assert [c.id for c in two.connection_records] == ["C1", "C2"]
    first, second = _without_capture(one)[0][0], _without_capture(two)[0]
    for c in second:
        assert {**c, "id": "C1"} == first
    (server,) = two.server_records
    assert server.connections == 2 and server.requests == 20


@needs_editcap
def test_overlap_in_the_middle_starts_a_new_group(tmp_path: Path) -> None:
    """The whole capture, then its three parts: the first part starts before the whole
    ends, so it starts a second group, which the other parts continue — two connections
    of 37 packets (the parts stitched), not four."""
    files = split_capture(CAPTURES / "go-drain.pcap", tmp_path, 3)
    a = analyzer.analyze([str(CAPTURES / "go-drain.pcap")] + [str(f) for f in files])
    assert [(c.id, c.packets, c.requests) for c in a.connection_records] == [
        ("C1", 37, 10), ("C2", 37, 10)
    ]
    assert a.connection_records[0].capture == str(CAPTURES / "go-drain.pcap")
    assert a.connection_records[1].capture == str(files[0])
    assert [c.tcp_packets for c in a.capture_records] == [37, 13, 13, 11]


def test_separate_captures_are_numbered_by_first_packet() -> None:
    """Two unrelated captures named newest first: ids follow the time of first packet."""
    drain, leak = CAPTURES / "go-drain.pcap", CAPTURES / "go-leak.pcap"
    assert first_timestamp(str(drain)) < first_timestamp(str(leak))  # type: ignore[operator]
    a = analyzer.analyze([str(leak), str(drain)])
    starts = [c.start for c in a.connection_records]
    assert starts == sorted(starts)
    assert [c.capture for c in a.connection_records] == [str(drain)] + [str(leak)] * 10
    assert [e.connection for e in a.exchange_records][:10] == ["C1"] * 10
    assert [c.path for c in a.capture_records] == [str(leak), str(drain)]
    # the ordinal that numbers them is internal: in no output
    assert all("first" not in c for c in a.to_dict()["connections"])
    assert "first" not in a.connections.columns


@pytest.mark.parametrize(
    "name", ["go-drain.pcap", "curl-multi.pcapng", "ipv6.pcap", "zeek/wikipedia.pcap"]
)
def test_first_timestamp_is_the_readers(name: str, tmp_path: Path) -> None:
    path = CAPTURES / name
    _, records = next(CaptureFile(str(path)).batches())
    assert first_timestamp(str(path)) == records[0][0]
    gz = tmp_path / (path.name + ".gz")
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert first_timestamp(str(gz)) == records[0][0]


def test_first_timestamp_of_a_capture_without_packets(tmp_path: Path) -> None:
    head = (CAPTURES / "go-drain.pcap").read_bytes()[:24]
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(head)
    assert first_timestamp(str(empty)) is None
    a = analyzer.analyze([str(empty), str(CAPTURES / "go-drain.pcap")])
    assert len(a.connection_records) == 1
    assert a.capture_records[0].packets == 0


def test_first_timestamp_raises_like_the_reader(tmp_path: Path) -> None:
    bad = tmp_path / "notes.pcap"
    bad.write_text("hello\n")
    with pytest.raises(analyzer.CaptureError, match="not a pcap"):
        first_timestamp(str(bad))
    with pytest.raises(analyzer.CaptureError, match="not a pcap"):
        analyzer.analyze([str(CAPTURES / "go-drain.pcap"), str(bad)])


# ---- the pieces: partitions, first-packet ordinals, the final sweep

REQ = b"GET /r HTTP/1.1\r\nHost: s\r\n\r\n"
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def test_partition_is_the_same_for_both_directions() -> None:
    rng = random.Random(1)
    for alen in (4, 16):
        for _ in range(500):
            key = bytes(rng.randrange(256) for _ in range(2 * alen + 4))
            for count in (2, 3, 7):
                assert partition_of(key, count) == partition_of(reverse_key(key), count)
    # ephemeral ports spread over the partitions
    keys = [bytes([10, 0, 0, 1, 10, 0, 0, 2]) + p.to_bytes(2, "big") + b"\x00\x50"
            for p in range(50000, 50030)]
    assert {partition_of(k, 3) for k in keys} == {0, 1, 2}


def _many_connections() -> list[tuple[float, bytes]]:
    convs = [
        b.Conversation(("10.0.0.1", 50000 + i), t0=1000.0 + i * 0.0005)
        .handshake().exchange(REQ, RESP).exchange(REQ, RESP).close()
        for i in range(12)
    ]
    return b.merge(*(c.frames() for c in convs))


@pytest.mark.parametrize("count", [2, 3, 5])
def test_partitions_together_are_the_whole(count: int) -> None:
    frames = _many_connections()
    whole = b.run(frames)
    buf, recs = b.records(frames)
    parts = []
    tcp = 0
    for i in range(count):
        table = FlowTable(capture="t", partition=(i, count))
        table.feed(buf, recs)
        parts.extend(table.finish())
        tcp += table.tcp_packets
        assert table.fed == len(recs) and table.now == recs[-1][0]
    assert tcp == len(recs)
    assert sum(1 for c in parts) == len(whole) == 12
    assert sorted(c.first for c in parts) == [c.first for c in whole]
    parts.sort(key=lambda c: c.first)
    assert [(c.client, c.packets, c.requests, c.start) for c in parts] == [
        (c.client, c.packets, c.requests, c.start) for c in whole
    ]


def test_first_counts_every_record_across_batches() -> None:
    frames = _many_connections()
    for batch in (1, 3, 1000):
        conns = b.run(frames, batch=batch)
        # the first packet of each connection is its SYN: find it among the frames
        syn_index = [i for i, (_, f) in enumerate(frames) if f[47] == 0x02]
        assert [c.first for c in conns] == syn_index


@pytest.mark.parametrize("batch", [1, 2, 5, None])
def test_idle_expiry_at_the_end_does_not_depend_on_batching(batch: int | None) -> None:
    """A connection idle past the timeout when the capture ends is expired, as a sweep
    would have found it, wherever the last batch started."""
    idle = b.Conversation(("10.0.0.1", 50001), t0=1000.0).handshake().exchange(REQ, RESP)
    busy = b.Conversation(("10.0.0.1", 50002), t0=1004.0, dt=0.1).handshake()
    busy.exchange(REQ, RESP)
    conns = b.run(idle.frames() + busy.frames(), idle_timeout=3.0, batch=batch)
    by_client = {c.client: c for c in conns}
    assert by_client["10.0.0.1:50001"].expired
    assert by_client["10.0.0.1:50001"].held_until == by_client["10.0.0.1:50001"].end
    assert not by_client["10.0.0.1:50002"].expired



def test_other_experiments_are_analysed_apart_unless_merged() -> None:
    """Two captures of different experiments (names of no common rotated series) that
    follow each other in time: each gets verdicts of its own, and says so; --merge stitches
    them as one capture, --separate splits even a series."""
    drain, leak = str(CAPTURES / "go-drain.pcap"), str(CAPTURES / "go-leak.pcap")
    apart = analyzer.analyze([leak, drain])
    assert [c.group for c in apart.capture_records] == [1, 0]
    assert {s.server: s.capture for s in apart.server_records} == {
        "127.0.0.1:18101": drain, "127.0.0.1:18102": leak}
    (said,) = apart.capture_records[0].warnings
    assert said.startswith("analysed apart from go-drain.pcap") and "--merge" in said
    merged = analyzer.analyze([leak, drain], merge=True)
    assert [c.group for c in merged.capture_records] == [0, 0]
    assert all(s.capture is None for s in merged.server_records)
    assert merged.capture_records[0].warnings[0].startswith("stitched to go-drain.pcap")
    # the same experiment twice, one after the other, on the same server: merged, one
    # verdict over both; apart, one per file
    for s in apart.server_records:
        assert s.verdict == {"127.0.0.1:18101": "reused", "127.0.0.1:18102": "not-reused"}[
            s.server]


@needs_editcap
def test_a_rotated_series_is_stitched_and_separate_splits_it(tmp_path: Path) -> None:
    files = [str(f) for f in split_capture(CAPTURES / "go-drain.pcap", tmp_path, 3)]
    whole = analyzer.analyze(files)
    assert len({c.group for c in whole.capture_records}) == 1
    (conn,) = whole.connection_records
    assert conn.requests == 10
    apart = analyzer.analyze(files, merge=False)
    assert [c.group for c in apart.capture_records] == [0, 1, 2]
    assert len(apart.connection_records) > 1  # the connection is cut at each file


def _shifted(src: Path, dst: Path, seconds: int) -> Path:
    """A classic pcap with every record ``seconds`` later (the same run, repeated)."""
    import struct

    data = bytearray(src.read_bytes())
    little = data[:4] == b"\xd4\xc3\xb2\xa1"
    fmt = "<I" if little else ">I"
    p = 24
    while p + 16 <= len(data):
        (ts,) = struct.unpack_from(fmt, data, p)
        struct.pack_into(fmt, data, p, ts + seconds)
        (caplen,) = struct.unpack_from(fmt, data, p + 8)
        p += 16 + caplen
    dst.write_bytes(bytes(data))
    return dst


def test_the_same_server_in_two_runs_gets_two_verdicts(tmp_path: Path) -> None:
    """run1.pcap and run2.pcap name one series, but the second starts two minutes after
    the first ended: two runs of an experiment, each with its verdict for the same
    server (records per group, not per endpoint); --merge makes them one."""
    one = _shifted(CAPTURES / "go-leak.pcap", tmp_path / "run1.pcap", 0)
    leak_later = _shifted(CAPTURES / "go-leak.pcap", tmp_path / "run2.pcap", 120)
    a = analyzer.analyze([str(one), str(leak_later)])
    assert [c.group for c in a.capture_records] == [0, 1]
    verdicts = [(s.server, s.capture, s.verdict) for s in a.server_records]
    assert verdicts == [("127.0.0.1:18102", str(one), "not-reused"),
                        ("127.0.0.1:18102", str(leak_later), "not-reused")]
    assert "a minute after it ended" in a.capture_records[1].warnings[0]
    merged = analyzer.analyze([str(one), str(leak_later)], merge=True)
    (s,) = merged.server_records
    assert s.requests == 20 and s.capture is None
