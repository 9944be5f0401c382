"""The three capture backends give the same answer (issue 4).

native (our readers and decoder), scapy (scapy's readers and layers) and pyshark
(Wireshark's dissectors through tshark) must give *identical* connection, exchange and
server tables — the JSON records, minus the capture path — on every capture in
captures/ and every Zeek trace of captures/zeek/expected.json. Each backend is an
independent check of our own decoding.

Where a backend cannot decode something the comparison is excluded *by name* below, and
the output must say so (a warning and ``backend-undecoded`` in ``captures[].skipped``).

pyshark runs one tshark per file (~0.35 s of tshark start-up each): the files are spread
over worker processes so the whole cross-check stays within seconds.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import analyzer
from analyzer.errors import AnalyzerError
from tests import builders as b
from tests.conftest import CAPTURES, ROOT

ZEEK = CAPTURES / "zeek"
CORPUS = json.loads((ZEEK / "expected.json").read_text())
FILES = sorted(
    [str(p.relative_to(CAPTURES)) for p in CAPTURES.glob("*.pcap*")]
    + [
        str((ZEEK / t["trace"].removeprefix("traces/")).relative_to(CAPTURES))
        for t in CORPUS["traces"]
    ]
)
TUNNELS = [f for f in FILES if f.startswith("zeek/tunnels/")]

# (backend, capture) pairs that cannot be identical, each with its reason.
EXCLUDED = {
    ("scapy", "zeek/nflog-http.pcap"): "scapy has no layer for link type 239 (NFLOG)",
    ("scapy", "zeek/tunnels/ayiya3.pcap"): "scapy has no AYIYA (UDP 5072) tunnel layer",
}


def _tables(rel: str, backend: str) -> dict[str, Any]:
    d = analyzer.analyze(str(CAPTURES / rel), backend=backend).to_dict()
    for c in d["connections"]:
        c.pop("capture", None)
    return d


def _all_tables(backend: str) -> dict[str, dict[str, Any]]:
    with ProcessPoolExecutor(max_workers=min(4, os.cpu_count() or 1) + 1) as pool:
        return dict(zip(FILES, pool.map(_tables, FILES, [backend] * len(FILES)), strict=True))


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, dict[str, Any]]]:
    return {b: _all_tables(b) for b in ("native", "scapy", "pyshark")}


def test_every_capture_is_covered() -> None:
    assert len(FILES) >= 48 and len(TUNNELS) == 2


@pytest.mark.parametrize("backend", ["scapy", "pyshark"])
@pytest.mark.parametrize("rel", FILES)
def test_same_tables_as_native(
    results: dict[str, dict[str, dict[str, Any]]], backend: str, rel: str
) -> None:
    native = results["native"][rel]
    other = results[backend][rel]
    cap = other["captures"][0]
    if (backend, rel) in EXCLUDED:
        # Not identical, and it says why: a warning naming what it could not dissect.
        assert cap["skipped"].get("backend-undecoded"), EXCLUDED[(backend, rel)]
        assert any("does not dissect" in w for w in cap["warnings"]), cap["warnings"]
        return
    assert native["connections"], rel  # every capture has something to compare
    for table in ("connections", "exchanges", "servers"):
        assert other[table] == native[table], (backend, rel, table)
    assert cap["packets"] == native["captures"][0]["packets"]
    assert cap["tcp_packets"] == native["captures"][0]["tcp_packets"]


@pytest.mark.parametrize("rel", TUNNELS)
def test_pyshark_follows_tunnels(
    results: dict[str, dict[str, dict[str, Any]]], rel: str
) -> None:
    """The two tunnel traces pass Zeek's expectations with --backend pyshark."""
    trace = next(t for t in CORPUS["traces"] if t["trace"] == "traces/" + rel[len("zeek/"):])
    conns = results["pyshark"][rel]["connections"]
    for x in trace["connections"]:
        def ep(ip: str, port: int) -> str:
            return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"

        client = ep(x["client_ip"], x["client_port"])
        server = ep(x["server_ip"], x["server_port"])
        c = next(c for c in conns if (c["client"], c["server"]) == (client, server))
        assert c["requests"] in x["acceptable_http_transactions"]
        label = "no-http" if c["label"] in ("unused", "not-http") else c["label"]
        assert label in x["acceptable_labels"]
        assert (c["syn"], c["synack"]) == (x["syn"], x["synack"])
        assert c["fin_client"] + c["fin_server"] == x["fin"]
        assert c["rst_client"] + c["rst_server"] == x["rst"]


def test_pyshark_asks_tshark_for_raw_segments_in_ek() -> None:
    from analyzer.capture import pyshark_backend as pb

    assert pb.PREFS["tcp.desegment_tcp_streams"] == "FALSE"
    assert pb.PREFS["http.desegment_body"] == "FALSE"
    params = pb.fast_parameters()
    assert "tcp.seq_raw" in params and "tcp.ack_raw" in params and "tcp.payload" in params
    cap = pb._file_capture(pb._import_pyshark(), str(CAPTURES / "go-leak.pcap"))
    try:
        args = cap.get_parameters()
        assert cap._use_ek and "-e" in args and "tcp.desegment_tcp_streams:FALSE" in args
    finally:
        cap.close()


def test_unknown_backend() -> None:
    with pytest.raises(AnalyzerError, match="unknown backend"):
        analyzer.analyze(str(CAPTURES / "go-leak.pcap"), backend="wireshark")


def test_missing_file_same_error_on_every_backend() -> None:
    for backend in ("scapy", "pyshark"):
        with pytest.raises(AnalyzerError, match="no such file"):
            analyzer.analyze(str(CAPTURES / "nope.pcap"), backend=backend)


def _cli(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child whose environment ``code`` has altered first."""
    prog = code + "\nfrom analyzer.cli import main\nsys.argv = ['keepalive', *sys.argv[1:]]\nmain()"
    return subprocess.run(
        [sys.executable, "-c", "import sys\n" + prog, *args],
        capture_output=True, text=True, cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("backend", "block", "words"),
    [
        ("scapy", "sys.modules['scapy'] = None", ["pip install", "scapy"]),
        ("pyshark", "sys.modules['pyshark'] = None", ["pip install", "[pyshark]"]),
        ("pyshark", "import shutil; shutil.which = lambda *a, **k: None",
         ["apt-get install tshark"]),
    ],
)
def test_missing_pieces_are_one_line(backend: str, block: str, words: list[str]) -> None:
    p = _cli(block, "analyze", str(CAPTURES / "go-leak.pcap"), "--backend", backend)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keepalive: error: "), p.stderr
    for w in words:
        assert w in lines[0]


def test_cli_backend_option(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    p = _cli("", "analyze", str(CAPTURES / "go-leak.pcap"), "--backend", "scapy",
             "-f", "json", "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert json.loads(out.read_text())["servers"][0]["diagnosis"] == "leak"


def test_native_imports_neither_library() -> None:
    code = (
        "import sys, analyzer; analyzer.analyze(sys.argv[1], backend='native'); "
        "print(','.join(m for m in ('scapy', 'pyshark') if m in sys.modules))"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, str(CAPTURES / "go-drain.pcap")],
        capture_output=True, text=True, check=True,
    )
    assert p.stdout.strip() == ""


def test_a_cut_gzip_gives_what_it_held_on_every_backend(tmp_path: Path) -> None:
    import gzip

    # a capture big enough that gzip cannot hold it in its first block: repeat the records
    records = (CAPTURES / "go-leak.pcap").read_bytes()[24:]
    data = (CAPTURES / "go-leak.pcap").read_bytes()[:24] + records * 40
    packed = gzip.compress(data)
    cut = tmp_path / "cut.pcap.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    seen = {}
    for backend in ("native", "scapy", "pyshark"):
        a = analyzer.analyze(str(cut), backend=backend)
        cap = a.capture_records[0]
        assert cap.truncated and cap.warnings, backend
        seen[backend] = cap.packets
    assert seen["native"] > 0
    assert seen["scapy"] == seen["native"]


# ---- records longer than 65,535 bytes (issue 12, item 6a) -------------------------------
# Loopback captures with TSO/GRO hold frames past 64 KiB (tcpdump's snaplen is 262,144):
# 65,549 bytes is the largest IPv4 packet (total length 65,535) on Ethernet; past that the
# sending host writes IPv4 total length 0, and IPv6 uses a jumbo payload option (RFC 2675).
def _jumbo_hbh(length: int) -> tuple[int, bytes]:
    return (0, struct.pack("!BBI", 0xC2, 4, length))  # hop-by-hop: Jumbo Payload option


def _big_record_frames(family: str, frame_len: int) -> list[tuple[float, bytes]]:
    """Two keep-alive exchanges; the first response is one frame of ``frame_len`` bytes."""
    v6 = family == "v6"
    client, server = (("fd00::1", 51000), ("fd00::2", 80)) if v6 else (
        ("10.0.0.1", 51000), ("10.0.0.2", 80))
    headers = 14 + (40 + 8 if v6 and frame_len > 65589 else 40 if v6 else 20) + 20
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
    size = frame_len - headers
    body = size
    for _ in range(3):  # the body's length has as many digits as the answer
        body = size - len(head % body)
    response = head % body + bytes(range(256)) * (body // 256) + b"x" * (body % 256)
    c = (
        b.Conversation(client, server).handshake()
        .request(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n").response(response)
        .request(b"GET /small HTTP/1.1\r\nHost: h\r\n\r\n")
        .response(b"HTTP/1.1 204 No Content\r\n\r\n").close()
    )
    frames = []
    for s in c.segments:
        (src, sport), (dst, dport) = c.ends if s.side == 0 else c.ends[::-1]
        seg = b.tcp(sport, dport, s.seq, s.ack, s.flags, s.payload)
        if not v6:
            ip = b.ipv4(src, dst, seg, total=0 if 20 + len(seg) > 65535 else None)
        elif len(seg) > 65535:
            ip = b.ipv6(src, dst, seg, ext=[_jumbo_hbh(8 + len(seg))], plen=0)
        else:
            ip = b.ipv6(src, dst, seg)
        frames.append((s.ts, b.ethernet(ip)))
    assert max(len(f) for _, f in frames) == frame_len
    return frames


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize(
    ("family", "frame_len"),
    [("v4", 65549), ("v4", 70000), ("v6", 65589), ("v6", 70000), ("v4", 262144)],
)
def test_scapy_reads_records_longer_than_64k(
    tmp_path: Path, fmt: str, family: str, frame_len: int
) -> None:
    frames = _big_record_frames(family, frame_len)
    data = b.pcap(frames) if fmt == "pcap" else b.pcapng(frames)
    path = b.write(tmp_path / f"big.{fmt}", data)
    native = analyzer.analyze(path, backend="native").to_dict()
    scapy = analyzer.analyze(path, backend="scapy").to_dict()
    for d in (native, scapy):
        cap = d["captures"][0]
        assert cap["packets"] == len(frames) and not cap["truncated"], cap
        assert cap["warnings"] == [] and cap["skipped"] == {}, cap
        assert [(x["target"], x["status"]) for x in d["exchanges"]] == [
            ("/big", 200), ("/small", 204)]
        assert d["connections"][0]["missing_bytes"] == 0
        for c in d["connections"]:
            c.pop("capture", None)
    for table in ("connections", "exchanges", "servers"):
        assert scapy[table] == native[table], table
    assert scapy["captures"][0]["tcp_packets"] == native["captures"][0]["tcp_packets"]


def test_scapy_reports_a_cut_or_corrupt_long_record_like_native(tmp_path: Path) -> None:
    frames = _big_record_frames("v4", 70000)
    data = b.pcap(frames)
    i = next(i for i, (_, f) in enumerate(frames) if len(f) == 70000)
    big_at = data.find(frames[i][1])
    assert big_at > 0
    cut = b.write(tmp_path / "cut.pcap", data[: big_at + 40000])
    # the same record announcing more than any snaplen: corrupt, reading stops there
    bad = bytearray(data)
    struct.pack_into("<I", bad, big_at - 8, 300_000)
    corrupt = b.write(tmp_path / "corrupt.pcap", bytes(bad))
    for path, word in ((cut, "truncated"), (corrupt, "corrupt")):
        seen = []
        for backend in ("native", "scapy"):
            cap = analyzer.analyze(path, backend=backend).capture_records[0]
            assert cap.truncated and any(word in w for w in cap.warnings), cap.warnings
            seen.append(cap.packets)
        assert seen == [i, i], (path, seen)


# ---- the encapsulations of issue 12, item 6c, on every backend ---------------------------
# Wireshark and scapy dissect 802.2 LLC/SNAP, GRE-in-UDP and GTP-U too, so the three agree.
# Not compared: Teredo away from UDP 3544, which the native decoder recognises by its form
# (as Zeek's protocol detection does) but Wireshark's Teredo heuristic is off by default and
# scapy has no Teredo layer: both count those packets as ``udp``.
def _encapsulated(wrap: Any, tmp_path: Path, name: str) -> str:
    c = b.Conversation(("10.0.0.1", 51234), ("10.0.0.2", 80)).handshake()
    c.exchange(b"GET /in HTTP/1.1\r\nHost: h\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c.close()
    frames = [(ts, wrap(ip)) for ts, ip in c.frames(b.LT_RAW)]
    return b.write(tmp_path / f"{name}.pcap", b.pcap(frames))


def _wrappers() -> dict[str, Any]:
    from tests import test_decode as d

    return {
        "snap-vlan": lambda ip: d._snap(ip, vlans=(10,)),
        "gre-in-udp": lambda ip: d._gre_in_udp(ip),
        "gre-in-udp-ethernet": lambda ip: d._gre_in_udp(b.ethernet(ip), 0x6558),
        "gtp-u": lambda ip: d._gtp_frame(ip, seq=9),
        "gtp-u-pdu-session": lambda ip: d._gtp_frame(ip, ext=((0x85, b"\x00\x09"),)),
    }


@pytest.mark.parametrize("name", sorted(_wrappers()))
def test_new_encapsulations_same_on_every_backend(tmp_path: Path, name: str) -> None:
    path = _encapsulated(_wrappers()[name], tmp_path, name)
    native = _tables_of(path, "native")
    assert native["connections"][0]["client"] == "10.0.0.1:51234"
    assert native["connections"][0]["requests"] == 1
    for backend in ("scapy", "pyshark"):
        other = _tables_of(path, backend)
        for table in ("connections", "exchanges", "servers"):
            assert other[table] == native[table], (backend, table)
        assert other["captures"][0]["skipped"] == native["captures"][0]["skipped"] == {}


def test_scapy_says_which_gtp_u_packets_it_cannot_dissect(tmp_path: Path) -> None:
    """scapy's GTP layer stops at a chain of extension headers: counted, with a warning."""
    from tests import test_decode as d

    chain = ((0x85, b"\x10\x01"), (0xC0, b"\x00\x05"))  # PDU session container, PDCP number
    path = _encapsulated(lambda ip: d._gtp_frame(ip, ext=chain), tmp_path, "chain")
    native = _tables_of(path, "native")
    assert native["connections"][0]["requests"] == 1
    cap = _tables_of(path, "scapy")["captures"][0]
    assert cap["skipped"] == {"backend-undecoded": native["captures"][0]["tcp_packets"]}
    assert any("does not dissect some GTP-U extension headers" in w for w in cap["warnings"])


def _tables_of(path: str, backend: str) -> dict[str, Any]:
    d = analyzer.analyze(path, backend=backend).to_dict()
    for c in d["connections"]:
        c.pop("capture", None)
    return d
