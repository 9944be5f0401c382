"""capture.files: the native pcap/pcapng readers, plain and gzip-compressed.

Every format, byte order and timestamp resolution must give the same packets and times;
truncated and broken files give what they held or one CaptureError naming the file.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import pytest

import analyzer
from analyzer.capture.files import open_capture
from analyzer.errors import CaptureError, UnsupportedLinkType
from tests import builders as b

SEC = 1_700_000_000


def _packets(n: int = 6) -> list[tuple[tuple[int, int], bytes]]:
    """Frames of a short HTTP connection, with nanosecond times whose sub-microsecond part
    is 999 ns (so a reader that drops to microseconds is off by ~1 µs)."""
    c = b.Conversation(client_isn=7, server_isn=99).handshake()
    c.exchange(
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    )
    c.close()
    frames = [f for _, f in c.frames()][:n]
    return [((SEC + i, 123_456_999 + i * 1_000_000), f) for i, f in enumerate(frames)]


def read_all(path: str | Path) -> tuple[object, list[tuple[float, int, bytes, int]]]:
    cf = open_capture(str(path))
    out = []
    for buf, recs in cf.batches():
        for ts, lt, off, caplen, wire in recs:
            out.append((ts, lt, bytes(buf[off : off + caplen]), wire))
    return cf, out


def _expect_ts(ts: tuple[int, int], resolution: str) -> float:
    sec, ns = ts
    if resolution == "us":
        return sec + (ns // 1000) * 1e-6
    return sec + ns * 1e-9


FORMATS = [
    # id, builder(packets) -> bytes, resolution, expected format name
    ("pcap-le-us", lambda p: b.pcap(p, order="<"), "us", "pcap"),
    ("pcap-be-us", lambda p: b.pcap(p, order=">"), "us", "pcap"),
    ("pcap-le-ns", lambda p: b.pcap(p, order="<", nsec=True), "ns", "pcap"),
    ("pcap-be-ns", lambda p: b.pcap(p, order=">", nsec=True), "ns", "pcap"),
    ("pcapng-le-epb-us", lambda p: b.pcapng(p), "us", "pcapng"),
    ("pcapng-be-epb-us", lambda p: b.pcapng(p, order=">"), "us", "pcapng"),
    ("pcapng-le-epb-ns", lambda p: b.pcapng(p, [(1, 9)]), "ns", "pcapng"),
    ("pcapng-be-epb-ns", lambda p: b.pcapng(p, [(1, 9)], order=">"), "ns", "pcapng"),
    ("pcapng-le-pb-us", lambda p: b.pcapng(p, kind="pb"), "us", "pcapng"),
    ("pcapng-be-pb-ns", lambda p: b.pcapng(p, [(1, 9)], kind="pb", order=">"), "ns", "pcapng"),
    ("pcapng-unknown-blocks", lambda p: b.pcapng(p, unknown_block=True), "us", "pcapng"),
]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize(("name", "build", "res", "fmt"), FORMATS, ids=[f[0] for f in FORMATS])
def test_every_format_reads_the_same_packets(tmp_path, name, build, res, fmt, gz) -> None:
    pkts = _packets()
    path = b.write(tmp_path / ("c.cap.gz" if gz else "c.cap"), build(pkts), gz=gz)
    cf, got = read_all(path)
    assert cf.format == fmt + (".gz" if gz else "")  # type: ignore[attr-defined]
    assert cf.packets == len(pkts) and not cf.truncated and cf.warnings == []  # type: ignore[attr-defined]
    assert [(lt, f, w) for _, lt, f, w in got] == [(1, f, len(f)) for _, f in pkts]
    # float epoch seconds near 1.7e9 carry ~0.24 µs; 0.45 µs tells ns from µs truncation
    for (ts, *_), (t, _) in zip(got, pkts, strict=True):
        assert abs(ts - _expect_ts(t, res)) < 4.5e-7, (ts, t)


def test_nanosecond_precision_exactly_at_a_small_epoch(tmp_path) -> None:
    """At small epochs a float holds nanoseconds exactly enough to check to 1e-9."""
    pkts = [((5, 123_456_789), b.ethernet(b.ipv4("10.0.0.1", "10.0.0.2", b.tcp(1, 2, 3))))]
    for data in (b.pcap(pkts, nsec=True), b.pcapng(pkts, [(1, 9)])):
        _, got = read_all(b.write(tmp_path / "n.pcap", data))
        assert abs(got[0][0] - 5.123456789) < 1e-9


def test_pcapng_binary_resolution_and_offset(tmp_path) -> None:
    frame = b.ethernet(b.ipv4("10.0.0.1", "10.0.0.2", b.tcp(1, 2, 3)))
    ts = (SEC, 500_000_000)
    # if_tsresol 0x80|20: units of 2**-20 s
    data = b.shb() + b.idb(1, tsresol=0x80 | 20) + b.epb(0, ts, frame, tsresol=0x80 | 20)
    _, got = read_all(b.write(tmp_path / "bin.pcapng", data))
    assert abs(got[0][0] - (SEC + 0.5)) < 1e-6
    # if_tsoffset: timestamps are relative to the offset (seconds)
    data = b.shb() + b.idb(1, tsoffset=SEC) + b.epb(0, ts, frame, tsoffset=SEC)
    _, got = read_all(b.write(tmp_path / "off.pcapng", data))
    assert abs(got[0][0] - (SEC + 0.5)) < 1e-6


def test_pcapng_two_interfaces_with_different_link_types(tmp_path) -> None:
    ip = b.ipv4("10.0.0.1", "10.0.0.2", b.tcp(1, 2, 3, 0, b.SYN))
    pkts = [
        ((SEC, 0), b.ethernet(ip), None, 0),
        ((SEC, 1000), ip, None, 1),
        ((SEC, 2000), b.sll(ip), None, 2),
        ((SEC, 3000), b.ethernet(ip), None, 0),
    ]
    data = b.pcapng(pkts, [(1, None), (101, 9), (113, None)])
    _, got = read_all(b.write(tmp_path / "two.pcapng", data))
    assert [(lt, f) for _, lt, f, _ in got] == [
        (1, pkts[0][1]),
        (101, ip),
        (113, pkts[2][1]),
        (1, pkts[3][1]),
    ]
    assert abs(got[1][0] - (SEC + 1e-6)) < 4.5e-7


def test_pcapng_simple_packet_blocks_use_interface_zero_and_its_snaplen(tmp_path) -> None:
    frame = b.ethernet(b.ipv4("10.0.0.1", "10.0.0.2", b.tcp(1, 2, 3, 0, b.ACK, b"x" * 100)))
    data = b.shb() + b.idb(1, snaplen=60) + b.spb(frame[:60], len(frame)) + b.spb(frame[:40])
    cf, got = read_all(b.write(tmp_path / "spb.pcapng", data))
    assert [(lt, f, w) for _, lt, f, w in got] == [(1, frame[:60], len(frame)), (1, frame[:40], 40)]


def test_pcapng_several_sections_mixed_byte_order(tmp_path) -> None:
    ip = b.ipv4("10.0.0.1", "10.0.0.2", b.tcp(1, 2, 3, 0, b.SYN))
    s1 = b.shb("<") + b.idb(1, order="<") + b.epb(0, (SEC, 0), b.ethernet(ip), order="<")
    # the second section redeclares interface 0 with another link type, big-endian
    s2 = b.shb(">") + b.idb(101, order=">") + b.epb(0, (SEC + 1, 0), ip, order=">")
    cf, got = read_all(b.write(tmp_path / "s.pcapng", s1 + s2))
    assert [(lt, f) for _, lt, f, _ in got] == [(1, b.ethernet(ip)), (101, ip)]
    assert abs(got[1][0] - (SEC + 1)) < 1e-6
    assert not cf.truncated  # type: ignore[attr-defined]


def test_snaplen_cut_records_keep_the_wire_length(tmp_path) -> None:
    pkts = [(t, f) for t, f in _packets()]
    for data in (b.pcap(pkts, snaplen=64), b.pcapng(pkts, snaplen=64)):
        _, got = read_all(b.write(tmp_path / "s.pcap", data))
        assert [(f, w) for _, _, f, w in got] == [(f[:64], len(f)) for _, f in pkts]


def _pcap_boundaries(pkts: list[tuple[object, bytes]]) -> list[int]:
    bounds = [24]
    for _, f in pkts:
        bounds.append(bounds[-1] + 16 + len(f))
    return bounds


def test_pcap_truncated_at_every_byte(tmp_path) -> None:
    pkts = _packets(4)
    data = b.pcap(pkts)
    bounds = _pcap_boundaries(pkts)
    assert bounds[-1] == len(data)
    path = tmp_path / "t.pcap"
    for n in range(len(data)):
        path.write_bytes(data[:n])
        if n < 24:
            with pytest.raises(CaptureError, match="t.pcap"):
                read_all(path)
            continue
        cf, got = read_all(path)
        whole = sum(1 for x in bounds[1:] if x <= n)
        assert cf.packets == len(got) == whole, n  # type: ignore[attr-defined]
        assert [f for _, _, f, _ in got] == [f for _, f in pkts[:whole]]
        assert cf.truncated == (n not in bounds), n  # type: ignore[attr-defined]
        assert bool(cf.warnings) == cf.truncated  # type: ignore[attr-defined]


def test_pcapng_truncated_at_every_byte(tmp_path) -> None:
    pkts = _packets(3)
    head = b.shb() + b.idb(1)
    blocks = [b.epb(0, t, f) for t, f in pkts]
    data = head + b"".join(blocks)
    bounds = [len(b.shb()), len(head)]
    for blk in blocks:
        bounds.append(bounds[-1] + len(blk))
    path = tmp_path / "t.pcapng"
    for n in range(len(data)):
        path.write_bytes(data[:n])
        try:
            cf, got = read_all(path)
        except CaptureError as e:
            # nothing usable: empty, too short to identify, or a section with no interface
            assert "t.pcapng" in str(e)
            assert n < 4 or n == bounds[0], n
            continue
        whole = sum(1 for x in bounds[2:] if x <= n)
        assert cf.packets == len(got) == whole, n  # type: ignore[attr-defined]
        assert [f for _, _, f, _ in got] == [f for _, f in pkts[:whole]]
        assert cf.truncated == (n not in bounds), n  # type: ignore[attr-defined]


def test_gzip_truncated_at_every_byte_never_raises_anything_else(tmp_path) -> None:
    pkts = _packets(4)
    gz = gzip.compress(b.pcap(pkts), mtime=0)
    path = tmp_path / "t.pcap.gz"
    for n in range(1, len(gz)):
        path.write_bytes(gz[:n])
        try:
            cf, got = read_all(path)
        except CaptureError as e:
            assert "t.pcap.gz" in str(e)
            continue
        assert cf.truncated  # type: ignore[attr-defined]
        assert len(got) == cf.packets <= len(pkts)  # type: ignore[attr-defined]


def test_gzip_missing_only_its_trailer_keeps_every_packet(tmp_path) -> None:
    """A .gz cut before its 8-byte CRC/size trailer still holds every packet; the reader
    must return them (and say the file is truncated), not drop the buffered data."""
    pkts = _packets()
    gz = gzip.compress(b.pcap(pkts), mtime=0)
    cf, got = read_all(b.write(tmp_path / "cut.pcap.gz", gz[:-8]))
    assert cf.truncated  # type: ignore[attr-defined]
    assert [f for _, _, f, _ in got] == [f for _, f in pkts]


def test_corrupt_gzip_is_a_capture_error_or_truncation(tmp_path) -> None:
    gz = bytearray(gzip.compress(b.pcap(_packets()) * 1, mtime=0))
    for i in range(20, min(60, len(gz) - 8)):
        gz[i] ^= 0xFF
    path = b.write(tmp_path / "bad.pcap.gz", bytes(gz))
    try:
        cf, _ = read_all(path)
    except CaptureError as e:
        assert "bad.pcap.gz" in str(e)
    else:
        assert cf.truncated  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("empty.pcap", b"", "empty"),
        ("notes.txt", b"hello, this is a text file\nnot a capture\n" * 3, "text"),
        ("image.pcap", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image"),
        ("fake.pcap.gz", b.pcap(_packets(1)), "not gzip"),
        ("empty.gz", gzip.compress(b""), "empty"),
        ("text.gz", gzip.compress(b"just some text, definitely not pcap\n"), "text"),
        ("short.pcap", b"\xd4\xc3\xb2\xa1\x02\x00", "truncated"),
    ],
)
def test_unreadable_inputs_are_capture_errors_naming_the_file(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=match) as ei:
        open_capture(str(path))
    assert str(path) in str(ei.value)
    with pytest.raises(CaptureError):
        analyzer.analyze(str(path))


def test_directory_and_missing_file(tmp_path) -> None:
    with pytest.raises(CaptureError, match="directory") as ei:
        open_capture(str(tmp_path))
    assert str(tmp_path) in str(ei.value)
    missing = str(tmp_path / "nope.pcap")
    with pytest.raises(CaptureError, match="no such file") as ei:
        analyzer.analyze(missing)
    assert missing in str(ei.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_permissions(tmp_path) -> None:
    p = tmp_path / "secret.pcap"
    p.write_bytes(b.pcap(_packets(1)))
    p.chmod(0)
    with pytest.raises(CaptureError, match="permission"):
        open_capture(str(p))


def test_unsupported_link_type_in_pcap(tmp_path) -> None:
    path = b.write(tmp_path / "wifi.pcap", b.pcap([((SEC, 0), b"\0" * 30)], linktype=105))
    with pytest.raises(UnsupportedLinkType, match="105") as ei:
        analyzer.analyze(path)
    assert isinstance(ei.value, CaptureError)
    assert path in str(ei.value)


def test_unsupported_link_type_in_pcapng_is_a_warning_and_a_skip(tmp_path) -> None:
    ip = b.ipv4("10.0.0.1", "10.0.0.2", b.tcp(1, 2, 3, 0, b.SYN))
    pkts = [((SEC, 0), b"\0" * 30, None, 0), ((SEC, 1000), b.ethernet(ip), None, 1)]
    path = b.write(tmp_path / "mixed.pcapng", b.pcapng(pkts, [(105, None), (1, None)]))
    a = analyzer.analyze(path)
    cap = a.capture_records[0]
    assert cap.packets == 2 and cap.tcp_packets == 1
    assert cap.skipped == {"linktype-105": 1}
    assert any("105" in w for w in cap.warnings)


def test_pcapng_some_interfaces_unsupported_analyses_the_rest(tmp_path) -> None:
    """Issue 16 item 5: the supported interfaces are analysed (one HTTP connection over
    Ethernet and PPP), each unsupported interface gets a warning naming it and its link
    type, and its packets are counted as ``linktype-N``."""
    c = b.Conversation(client_isn=7, server_isn=99).handshake()
    c.exchange(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 204 No Content\r\n\r\n")
    c.close()
    raw = c.frames(b.LT_RAW)
    pkts = []
    for i, (ts, ip) in enumerate(raw):
        iface = 0 if i % 2 == 0 else 3  # the client's side on Ethernet, the server's on PPP
        pkts.append((ts, b.ethernet(ip) if iface == 0 else b.ppp(ip, hdlc=True), None, iface))
        pkts.append((ts + 1e-7, b"\0" * 30, None, 1 + i % 2))  # radiotap / USER0 noise
    ifaces = [(1, None), (127, None), (147, None), (9, None), (127, None)]
    pkts.append((raw[-1][0] + 1, b"\0" * 30, None, 4))  # a second radiotap interface
    path = b.write(tmp_path / "mixed.pcapng", b.pcapng(pkts, ifaces))
    d = analyzer.analyze(path).to_dict()
    cap = d["captures"][0]
    assert cap["packets"] == len(pkts) and cap["tcp_packets"] == len(raw)
    assert cap["skipped"] == {"linktype-127": len(raw) // 2 + 1, "linktype-147": len(raw) // 2}
    assert cap["warnings"] == [
        "interface 1 has unsupported link type 127 (IEEE802_11_RADIOTAP); its packets are "
        "skipped (linktype-127)",
        "interface 2 has unsupported link type 147 (USER0); its packets are skipped "
        "(linktype-147)",
        "interface 4 has unsupported link type 127 (IEEE802_11_RADIOTAP); its packets are "
        "skipped (linktype-127)",
    ]
    (conn,) = d["connections"]
    assert (conn["requests"], conn["handshake_seen"], conn["closed_by"]) == (1, True, "client")


def test_pcapng_with_only_unsupported_interfaces_is_one_error(tmp_path) -> None:
    pkts = [((SEC, 0), b"\0" * 30, None, 0), ((SEC, 1000), b"\0" * 30, None, 1)]
    path = b.write(tmp_path / "radio.pcapng", b.pcapng(pkts, [(127, None), (4242, None)]))
    with pytest.raises(UnsupportedLinkType, match="link type 127 .IEEE802_11_RADIOTAP.") as ei:
        analyzer.analyze(path)
    assert str(ei.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("lt", "words"),
    [(105, ["link type 105 (IEEE802_11)"]), (4242, ["link type 4242;"]),
     (147, ["link type 147 (USER0)"])],
)
def test_cli_unsupported_link_type_is_one_line_exit_2(tmp_path, lt, words) -> None:
    """``keepalive analyze`` on a pcap whose link type we do not read: one line on stderr
    naming the file, the link type and what is supported; exit 2; no traceback."""
    import subprocess
    import sys

    path = b.write(tmp_path / f"lt{lt}.pcap", b.pcap([((SEC, 0), b"\0" * 30)], linktype=lt))
    p = subprocess.run([sys.executable, "-m", "analyzer", "analyze", path],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stdout == "" and "Traceback" not in p.stderr
    (line,) = p.stderr.strip().splitlines()
    assert line.count(path) == 1 and "supported: Ethernet (1)" in line and "PPP (9/50)" in line
    for w in words:
        assert w in line


@pytest.mark.parametrize("lt", [9, 50, 51, 104])
def test_pcap_of_the_new_link_types_is_read(tmp_path, lt) -> None:
    ip = b.ipv4("10.0.0.1", "10.0.0.2", b.tcp(1, 2, 3, 0, b.SYN))
    path = b.write(tmp_path / f"lt{lt}.pcap", b.pcap([((SEC, 0), b.link(lt, ip))], linktype=lt))
    cap = analyzer.analyze(path).capture_records[0]
    assert (cap.packets, cap.tcp_packets, cap.skipped) == (1, 1, {})


def test_pcapng_without_interface_block(tmp_path) -> None:
    path = b.write(tmp_path / "noidb.pcapng", b.shb())
    with pytest.raises(CaptureError, match="interface") as ei:
        analyzer.analyze(path)
    assert path in str(ei.value)


def test_pcapng_packet_for_undeclared_interface(tmp_path) -> None:
    frame = b.ethernet(b.ipv4("10.0.0.1", "10.0.0.2", b.tcp(1, 2, 3)))
    data = b.shb() + b.idb(1) + b.epb(3, (SEC, 0), frame) + b.epb(0, (SEC, 1), frame)
    cf, got = read_all(b.write(tmp_path / "u.pcapng", data))
    assert [f for _, _, f, _ in got] == [frame]
    assert cf.warnings  # type: ignore[attr-defined]


def test_absurd_pcap_record_length_stops_with_a_warning(tmp_path) -> None:
    pkts = _packets(2)
    data = b.pcap(pkts) + struct.pack("<IIII", SEC, 0, 0x7FFFFFF0, 0x7FFFFFF0) + b"\0" * 100
    cf, got = read_all(b.write(tmp_path / "absurd.pcap", data))
    assert [f for _, _, f, _ in got] == [f for _, f in pkts]
    assert cf.truncated and cf.warnings  # type: ignore[attr-defined]
    a = analyzer.analyze(str(tmp_path / "absurd.pcap"))
    assert a.capture_records[0].truncated and a.capture_records[0].packets == 2


def test_absurd_pcapng_block_length_stops_with_a_warning(tmp_path) -> None:
    pkts = _packets(2)
    bad = struct.pack("<II", 6, 0xFFFFFFF0) + b"\0" * 40
    data = b.pcapng(pkts) + bad
    cf, got = read_all(b.write(tmp_path / "absurd.pcapng", data))
    assert [f for _, _, f, _ in got] == [f for _, f in pkts]
    assert cf.truncated and cf.warnings  # type: ignore[attr-defined]


def test_large_capture_spanning_many_read_chunks(tmp_path) -> None:
    """More than one 1 MiB read: records that straddle a chunk boundary are whole."""
    frame = b.ethernet(b.ipv4("10.0.0.1", "10.0.0.2", b.tcp(1, 2, 3, 0, b.ACK, b"z" * 1400)))
    pkts = [((SEC + i, 0), frame) for i in range(2000)]  # ~2.9 MiB
    for data, gz in ((b.pcap(pkts), False), (b.pcapng(pkts), False), (b.pcap(pkts), True)):
        cf, got = read_all(b.write(tmp_path / "big.cap", data, gz=gz))
        assert cf.packets == 2000 and not cf.truncated  # type: ignore[attr-defined]
        assert all(f == frame for _, _, f, _ in got)
        assert [int(t) for t, *_ in got] == [SEC + i for i in range(2000)]


def test_analyze_gives_the_same_answer_for_every_format(tmp_path) -> None:
    c = b.Conversation().handshake()
    c.exchange(b"GET /a HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    c.exchange(b"GET /b HTTP/1.1\r\n\r\n", b"HTTP/1.1 404 NF\r\nContent-Length: 1\r\n\r\nx")
    c.close()
    frames = c.frames()
    results = []
    for i, (data, gz) in enumerate(
        [
            (b.pcap(frames), False),
            (b.pcap(frames, order=">", nsec=True), True),
            (b.pcapng(frames, order=">"), False),
            (b.pcapng(frames, [(1, 9)], kind="pb"), True),
        ]
    ):
        a = analyzer.analyze(b.write(tmp_path / f"f{i}.cap", data, gz=gz))
        cap = a.capture_records[0]
        assert cap.tcp_packets == len(frames)
        results.append([(e.method, e.target, e.status) for e in a.exchange_records])
    assert results == [[("GET", "/a", 200), ("GET", "/b", 404)]] * 4


@pytest.mark.parametrize("order,nsec", [("<", False), (">", False), ("<", True), (">", True)])
def test_the_pcap_walk_feeds_a_table_as_the_record_lists_do(tmp_path, order, nsec) -> None:
    """Classic pcap runs walked in place (capture.pcapwalk) and the same file's record
    lists give a flow table the same frames at the same times: the same records."""
    from analyzer.capture.pcapwalk import walk_pcap
    from analyzer.core.flows import FlowTable

    c = b.Conversation().handshake()
    c.exchange(b"GET /a HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
    c.exchange(b"GET /b HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ny")
    c.close()
    udp = b.ethernet(b.ipv4("10.0.0.1", "10.0.0.3", b.udp(53, 53, b"q"), proto=17))
    path = b.write(tmp_path / "w.pcap", b.pcap([*c.frames(), (c.frames()[0][0], udp)],
                                                order=order, nsec=nsec))
    walked, listed = FlowTable("w"), FlowTable("w")
    cf = open_capture(path)
    n = 0
    for buf, start, end, count in cf.runs():
        n += walk_pcap(walked, buf, start, end, cf.little_endian, cf.ts_scale, cf.linktype)
        assert count
    assert n == cf.packets == len(c.segments) + 1
    for buf, recs in open_capture(path).batches():
        listed.feed(buf, recs)
    for t in (walked, listed):
        assert (t.tcp_packets, t.skipped, t.fed) == (len(c.segments), {"udp": 1}, n)
    assert walked.finish() == listed.finish()
