"""fragments: IPv4/IPv6 fragments of TCP (and of the UDP/GRE that tunnels ride in) are
reassembled, bounded, and every fragment frame is counted — issue 16, item 2.

The captures are built byte by byte (tests/builders.py: ``fragments``, ``ipv4_fragment``,
``ipv6_fragment``); where tshark is installed, the frames on which it sees the reassembled
TCP segment are the frames on which the analyzer completes the datagram.
"""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import analyzer
from analyzer.core import fragments as fr
from analyzer.core.decode import decode
from analyzer.core.flows import FlowTable
from tests import builders as b

ENDS = {
    "v4": (("192.0.2.1", 40001), ("198.51.100.7", 80)),
    "v6": (("2001:db8::1", 40001), ("2001:db8::2:7", 80)),
}
REQUEST = b"GET /fragmented HTTP/1.1\r\nHost: h\r\nX-Pad: " + b"p" * 300 + b"\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CUTS = [64, 160, 256]  # byte offsets of the request segment's fragments (4 fragments)
FIRST = 3  # the request's first fragment follows the three handshake frames

Frames = list[tuple[float, bytes]]


def _conversation(family: str) -> b.Conversation:
    client, server = ENDS[family]
    c = b.Conversation(client, server).handshake()
    c.exchange(REQUEST, RESPONSE)
    return c.close()


def _capture(family: str, damage: Any = None, ident: int = 0x4242) -> tuple[Frames, int]:
    """The conversation's frames (Ethernet), the request's IP packet replaced by its
    fragments, arranged by ``damage(fragments) -> fragments``; and how many fragments."""
    out: Frames = []
    n = 0
    for ts, ip in _conversation(family).frames(b.LT_RAW):
        if b"GET /fragmented" not in ip:
            out.append((ts, b.ethernet(ip)))
            continue
        pieces = b.fragments(ip, CUTS, ident=ident)
        if damage is not None:
            pieces = damage(pieces)
        n = len(pieces)
        out += [(ts + k * 1e-6, b.ethernet(p)) for k, p in enumerate(pieces)]
    return out, n


def _analyze(frames: Frames) -> dict[str, Any]:
    d: dict[str, Any] = analyzer.analyze_bytes(b.pcap(frames)).to_dict()
    cap = d["captures"][0]
    assert cap["tcp_packets"] + sum(cap["skipped"].values()) == cap["packets"], cap
    return d


def _request_counted(d: dict[str, Any]) -> None:
    (conn,) = d["connections"]
    assert (conn["requests"], conn["responses"], conn["missing_bytes"]) == (1, 1, 0), conn
    (ex,) = d["exchanges"]
    assert (ex["method"], ex["target"], ex["status"]) == ("GET", "/fragmented", 200)


def _payload_of(ip: bytes) -> bytes:
    hl = 40 if ip[0] >> 4 == 6 else (ip[0] & 0x0F) * 4
    return ip[hl:]


def _overlapping(pieces: list[bytes]) -> list[bytes]:
    """A fragment that starts inside the first one and ends inside the second: the
    datagram is discarded (RFC 5722; Linux for IPv4 too)."""
    first = pieces[0]
    v6 = first[0] >> 4 == 6
    src, dst = ENDS["v6" if v6 else "v4"][0][0], ENDS["v6" if v6 else "v4"][1][0]
    data = _payload_of(pieces[1])[:40]
    make = b.ipv6_fragment if v6 else b.ipv4_fragment
    rogue = make(src, dst, b"X" * 24 + data, 40, True)  # [40, 104): over [0,64) and [64,160)
    return [pieces[0], rogue, *pieces[1:]]


FAMILIES = ["v4", "v6"]


# ---- the scenarios of the issue, end to end
@pytest.mark.parametrize("family", FAMILIES)
def test_in_order(family: str) -> None:
    frames, n = _capture(family)
    d = _analyze(frames)
    _request_counted(d)
    assert d["captures"][0]["skipped"] == {"ip-fragment-reassembled": n - 1}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("order", [[3, 2, 1, 0], [1, 3, 0, 2], [0, 3, 1, 2]])
def test_out_of_order(family: str, order: list[int]) -> None:
    frames, n = _capture(family, lambda p: [p[i] for i in order])
    d = _analyze(frames)
    _request_counted(d)
    assert d["captures"][0]["skipped"] == {"ip-fragment-reassembled": n - 1}


@pytest.mark.parametrize("family", FAMILIES)
def test_duplicated(family: str) -> None:
    """A fragment sent twice before the datagram is whole: the copy is dropped (Linux's
    IPFRAG_DUP), the datagram goes on."""
    frames, _n = _capture(family, lambda p: [p[0], p[1], p[0], p[1], p[2], p[3]])
    d = _analyze(frames)
    _request_counted(d)
    assert d["captures"][0]["skipped"] == {
        "ip-fragment-reassembled": 3, "ip-fragment-duplicate": 2}


@pytest.mark.parametrize("family", FAMILIES)
def test_overlapping_discards_the_datagram_and_a_retransmission_recovers(family: str) -> None:
    frames, _n = _capture(family, _overlapping)
    d = _analyze(frames)
    cap = d["captures"][0]
    # the first fragment and the rogue one are discarded with the datagram; the last
    # three start a new datagram, which the first fragment it lacks never completes
    assert cap["skipped"] == {"ip-fragment-overlap": 2, "ip-fragment-incomplete": 3}
    (conn,) = d["connections"]
    assert conn["requests"] == 0  # lost with its datagram (a receiver would drop it too)
    # the client retransmits the segment (fragmented again, a new IP ID): counted
    retx, _ = _capture(family, ident=0x4343)
    at = FIRST + 5  # after the five fragments
    t = frames[at - 1][0] + 0.0005
    again = [(t + k * 1e-6, f) for k, (_ts, f) in enumerate(retx[FIRST : FIRST + 4])]
    d = _analyze(frames[:at] + again + frames[at:])
    assert d["captures"][0]["skipped"] == {
        "ip-fragment-overlap": 2, "ip-fragment-incomplete": 3, "ip-fragment-reassembled": 3}
    _request_counted(d)


@pytest.mark.parametrize("family", FAMILIES)
def test_incomplete_then_expired(family: str) -> None:
    """Fragments whose datagram never completes: held, then expired 30 s on when the next
    fragment arrives; the retransmitted segment, fragmented anew, is counted."""
    frames, _n = _capture(family, lambda p: p[:3])  # the last fragment lost
    d = _analyze(frames)
    cap = d["captures"][0]
    assert cap["skipped"] == {"ip-fragment-incomplete": 3}  # never silently dropped
    assert d["connections"][0]["requests"] == 0
    # 31 s later the client retransmits: the old datagram expires, the new one completes
    retx, _ = _capture(family, ident=0x4343)
    t = frames[FIRST + 2][0] + 31.0
    late = [(t + k * 1e-6, f) for k, (_ts, f) in enumerate(retx[FIRST : FIRST + 4])]
    tail = [(t + 1.0 + k * 1e-3, f) for k, (_ts, f) in enumerate(frames[FIRST + 3 :])]
    d = _analyze(frames[: FIRST + 3] + late + tail)
    cap = d["captures"][0]
    assert cap["skipped"] == {"ip-fragment-expired": 3, "ip-fragment-reassembled": 3}
    _request_counted(d)


@pytest.mark.parametrize("family", FAMILIES)
def test_fragments_cut_by_the_snaplen_report_missing_bytes(family: str) -> None:
    frames, _n = _capture(family)
    # every frame cut to 100 bytes: the fragments hold 46 or 54 bytes of data each
    d = analyzer.analyze_bytes(b.pcap(frames, snaplen=100)).to_dict()
    cap = d["captures"][0]
    assert cap["skipped"] == {"ip-fragment-reassembled": 3}
    (conn,) = d["connections"]
    assert conn["missing_bytes"] > 0


def test_jobs_partitions_agree(tmp_path: Path) -> None:
    """Every partition reassembles every datagram; the connection is counted once, the
    fragments once (by partition 0, with the rest of what is not TCP)."""
    frames = _capture("v4")[0] + [
        (ts + 0.5, f) for ts, f in _capture("v6", lambda p: p[::-1])[0]]
    path = b.write(tmp_path / "frag.pcap", b.pcap(sorted(frames)))
    one = analyzer.analyze(path).to_dict()
    two = analyzer.analyze(path, jobs=2).to_dict()
    assert one["captures"] == two["captures"]
    assert one["connections"] == two["connections"] and len(one["connections"]) == 2
    assert one["captures"][0]["skipped"] == {"ip-fragment-reassembled": 6}


# ---- beyond TCP: tunnels in fragmented UDP and GRE; fragments inside a tunnel
def test_fragmented_udp_carrying_vxlan_is_reassembled_and_followed() -> None:
    inner = b.ethernet(b.ipv4("10.1.1.1", "10.1.1.2", b.tcp(40001, 80, 7, 9, b.PSH | b.ACK,
                                                            b"GET / HTTP/1.1\r\n\r\n" * 20)))
    vx = struct.pack("!BxxxI", 0x08, 5 << 8) + inner
    outer = b.ipv4("10.9.9.1", "10.9.9.2", b.udp(50000, 4789, vx), proto=17)
    pieces = b.fragments(outer, [200])
    t = FlowTable("t")
    buf, recs = b.records([(1.0, b.ethernet(p)) for p in pieces])
    t.feed(buf, recs)
    assert t.skipped == {"ip-fragment-reassembled": 1} and t.tcp_packets == 1
    (conn,) = t.finish()
    assert (conn.client, conn.server) == ("10.1.1.1:40001", "10.1.1.2:80")


def test_fragments_inside_a_tunnel_are_reassembled() -> None:
    ip = b.ipv4("10.1.1.1", "10.1.1.2", b.tcp(40001, 80, 7, 9, b.PSH | b.ACK, b"x" * 200))
    frames = [(1.0 + k, b.ethernet(b.ipv4("10.9.9.1", "10.9.9.2", b.gre(p, 0x0800), proto=47)))
              for k, p in enumerate(b.fragments(ip, [96]))]
    t = FlowTable("t")
    buf, recs = b.records(frames)
    t.feed(buf, recs)
    assert t.skipped == {"ip-fragment-reassembled": 1} and t.tcp_packets == 1
    (conn,) = t.finish()
    assert conn.client_bytes == 200


def test_fragments_of_other_protocols_are_not_held() -> None:
    icmp = b.ipv4("10.0.0.1", "10.0.0.2", b"\x08\0\0\0" + b"z" * 100, proto=1)
    esp6 = b.ipv6("2001:db8::1", "2001:db8::2", b"e" * 100, nxt=50)
    t = FlowTable("t")
    frames = [(1.0, b.ethernet(p)) for p in b.fragments(icmp, [48]) + b.fragments(esp6, [48])]
    buf, recs = b.records(frames)
    t.feed(buf, recs)
    assert t.skipped == {"ip-fragment": 4} and not t.fragments.datagrams


# ---- the reassembler alone: bounds and anomalies
class _Caller:
    """What the flow table does with the reassembler: every reason is counted."""

    def __init__(self, **kw: Any) -> None:
        self.skipped: dict[str, int] = {}
        self.r = fr.Reassembler(self.skipped, **kw)
        self.whole: list[bytes] = []

    def add(self, ip: bytes, ts: float = 1.0) -> str | None:
        frame = b.ethernet(ip)
        got = self.r.add(frame, 0, len(frame), 1, ts)
        if isinstance(got, bytes):
            self.whole.append(got)
            return None
        self.skipped[got] = self.skipped.get(got, 0) + 1
        return got


def _segment(n: int = 400, family: str = "v4") -> bytes:
    (src, sport), (dst, dport) = ENDS[family]
    return b.ip_packet(src, dst, b.tcp(sport, dport, 1000, 2000, b.PSH | b.ACK,
                                       bytes(range(256)) * (n // 256) + b"q" * (n % 256)))


@pytest.mark.parametrize("family", FAMILIES)
def test_the_rebuilt_packet_decodes_as_the_original(family: str) -> None:
    whole = _segment(1000, family)
    c = _Caller()
    for p in b.fragments(whole, [8, 512, 520, 888]):
        c.add(p)
    (got,) = c.whole
    want = decode(whole, 0, len(whole), 101)
    have = decode(got, 0, len(got), 101)
    assert isinstance(want, tuple) and isinstance(have, tuple)
    assert have[:4] == want[:4] and have[6] == want[6]
    assert got[have[4]:have[5]] == whole[want[4]:want[5]]
    assert c.skipped == {"ip-fragment-reassembled": 4} and c.r.held == 0
    assert not c.r.datagrams


@pytest.mark.parametrize("family", FAMILIES)
def test_datagrams_are_told_apart(family: str) -> None:
    """Same addresses, another identification (or, IPv4, another protocol): another
    datagram."""
    a = b.fragments(_segment(300, family), [160], ident=1)
    z = b.fragments(_segment(300, family), [160], ident=2)
    c = _Caller()
    for p in (a[0], z[1], z[0], a[1]):
        c.add(p)
    assert len(c.whole) == 2 and c.skipped == {"ip-fragment-reassembled": 2}


def test_too_many_datagrams_in_progress() -> None:
    c = _Caller(max_datagrams=3)
    for ident in range(5):
        c.add(b.fragments(_segment(), [200], ident=ident)[0])
    assert c.skipped == {"ip-fragment-incomplete": 3, "ip-fragment-too-many": 2}
    c.add(b.fragments(_segment(), [200], ident=0)[1])  # completes one of those held
    assert len(c.whole) == 1


def test_too_many_bytes_held() -> None:
    c = _Caller(max_held=500)
    c.add(b.fragments(_segment(), [200], ident=1)[0])
    c.add(b.fragments(_segment(), [200], ident=2)[0])
    assert c.skipped == {"ip-fragment-incomplete": 1, "ip-fragment-too-many": 1}


@pytest.mark.parametrize("family", FAMILIES)
def test_too_large(family: str) -> None:
    (src, _), (dst, _) = ENDS[family]
    make = b.ipv6_fragment if family == "v6" else b.ipv4_fragment
    c = _Caller()
    c.add(make(src, dst, b"a" * 64, 0, True))
    c.add(make(src, dst, b"b" * 64, 65528, False))  # ends at 65592 > 65535
    assert c.skipped == {"ip-fragment-too-large": 2} and not c.r.datagrams


@pytest.mark.parametrize("family", FAMILIES)
def test_bad_fragments(family: str) -> None:
    (src, _), (dst, _) = ENDS[family]
    make = b.ipv6_fragment if family == "v6" else b.ipv4_fragment
    c = _Caller()
    assert c.add(make(src, dst, b"a" * 20, 0, True)) == "ip-fragment-bad"  # not 8n, M set
    assert c.add(make(src, dst, b"", 8, True)) == "ip-fragment-bad"  # empty
    assert c.add(make(src, dst, b"a" * 16, 0, True)) == "ip-fragment-incomplete"
    assert c.add(make(src, dst, b"c" * 8, 64, False)) == "ip-fragment-incomplete"  # ends 72
    assert c.add(make(src, dst, b"d" * 8, 80, False)) == "ip-fragment-bad"  # another end
    assert c.skipped == {"ip-fragment-bad": 5}  # the datagram's two went with it
    assert c.add(make(src, dst, b"c" * 8, 64, False)) == "ip-fragment-incomplete"
    assert c.add(make(src, dst, b"e" * 16, 72, True)) == "ip-fragment-bad"  # past the end


def test_ipv6_jumbogram_fragment_is_bad() -> None:
    p = bytearray(b.ipv6_fragment("2001:db8::1", "2001:db8::2", b"a" * 16, 0, True))
    p[4:6] = b"\0\0"
    c = _Caller()
    assert c.add(bytes(p)) == "ip-fragment-bad"


def test_expiry_is_by_capture_time_from_the_first_fragment() -> None:
    a = b.fragments(_segment(), [200], ident=1)
    z = b.fragments(_segment(), [200], ident=2)
    c = _Caller()
    c.add(a[0], ts=100.0)
    c.add(z[0], ts=125.0)
    c.add(z[1], ts=129.0)  # 29 s on: the first one is still held
    assert c.skipped == {"ip-fragment-incomplete": 1, "ip-fragment-reassembled": 1}
    c.add(a[1], ts=130.5)  # 30.5 s after its first fragment: expired, starts anew
    assert c.skipped == {
        "ip-fragment-incomplete": 1, "ip-fragment-reassembled": 1, "ip-fragment-expired": 1}
    assert not c.whole[1:]


def test_every_reason_is_listed() -> None:
    import re

    from tests.conftest import ROOT

    source = (ROOT / "analyzer" / "core" / "fragments.py").read_text()
    names = set(re.findall(r'Final = "(ip-fragment[a-z-]*)"', source))
    assert names == set(fr.REASONS) and len(names) == 9


# ---- property: any order, any duplicates, any cuts: the same packet, every frame counted
@settings(max_examples=150, deadline=None)
@given(
    family=st.sampled_from(FAMILIES),
    cuts=st.lists(st.integers(1, 49), min_size=1, max_size=8, unique=True),
    seed=st.integers(0, 2**32 - 1),
    dups=st.integers(0, 3),
)
def test_any_order_and_duplicates_give_the_same_packet(family, cuts, seed, dups) -> None:
    whole = _segment(400, family)
    pieces = b.fragments(whole, sorted(8 * c for c in cuts))
    rnd = random.Random(seed)
    sent = pieces + [rnd.choice(pieces) for _ in range(dups)]
    rnd.shuffle(sent)
    c = _Caller()
    for p in sent:
        c.add(p)
    assert len(c.whole) >= 1
    want = decode(whole, 0, len(whole), 101)
    have = decode(c.whole[0], 0, len(c.whole[0]), 101)
    assert isinstance(want, tuple) and isinstance(have, tuple)
    assert have[:4] == want[:4] and c.whole[0][have[4]:have[5]] == whole[want[4]:want[5]]
    # every frame counted once: the completing one as the packet, the others as reasons
    assert sum(c.skipped.values()) + len(c.whole) == len(sent)


@settings(max_examples=200, deadline=None)
@given(
    family=st.sampled_from(FAMILIES),
    spans=st.lists(st.tuples(st.integers(0, 60), st.integers(1, 12), st.booleans()),
                   min_size=1, max_size=12),
)
def test_arbitrary_fragments_never_raise_and_are_all_counted(family, spans) -> None:
    (src, _), (dst, _) = ENDS[family]
    make = b.ipv6_fragment if family == "v6" else b.ipv4_fragment
    c = _Caller()
    for k, (start, n, more) in enumerate(spans):
        c.add(make(src, dst, bytes([k]) * (8 * n), 8 * start, more), ts=float(k))
    assert sum(c.skipped.values()) + len(c.whole) == len(spans)
    assert c.skipped.get("ip-fragment-incomplete", 0) == sum(
        d.frames for d in c.r.datagrams.values())
    assert c.r.held == sum(d.held for d in c.r.datagrams.values())


# ---- golden: tshark completes the datagram on the same frame
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("order", [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2]])
def test_tshark_reassembles_on_the_same_frame(tmp_path: Path, family: str, order) -> None:
    frames, _n = _capture(family, lambda p: [p[i] for i in order])
    path = b.write(tmp_path / "f.pcap", b.pcap(frames))
    p = subprocess.run(
        ["tshark", "-r", path, "-T", "fields", "-e", "frame.number", "-e", "tcp.srcport",
         "-e", "tcp.dstport", "-e", "http.request.uri"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    rows = [(line.split("\t") + [""] * 4)[:4] for line in p.stdout.splitlines()]
    theirs = [int(r[0]) for r in rows if r[3] == "/fragmented"]
    t = FlowTable("t")
    ours = []
    for i, (ts, f) in enumerate(frames):
        before = t.skipped.get("ip-fragment-reassembled", 0)
        buf, recs = b.records([(ts, f)])
        t.feed(buf, recs)
        if t.skipped.get("ip-fragment-reassembled", 0) > before:
            ours.append(i + 1)
    assert theirs == ours
    # and no frame that tshark shows without TCP ports is a TCP packet here
    assert sum(1 for r in rows if r[1]) == t.tcp_packets
