"""decode: link layer → IPv4/IPv6 → TCP fields, for every supported link type.

Expected values come from the headers the builders write (RFC 791, RFC 8200, RFC 9293,
tcpdump's link-type table), never from the decoder's own output.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.core.decode import (
    ACK,
    FIN,
    NOT_LOCATED,
    PSH,
    REASONS,
    RST,
    SUPPORTED_LINKTYPES,
    SYN,
    decode,
    endpoint,
    locate,
    reverse_key,
)
from tests import builders as b

PAYLOAD = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"
SEQ, ACKN = 0xFFFFFF00, 0x12345678
V4 = ("192.0.2.1", "198.51.100.7", 40001, 8080)
V6 = ("2001:db8::1", "2001:db8::2:7", 40001, 8080)


def _segment(payload: bytes = PAYLOAD, flags: int = PSH | ACK, **kw: object) -> bytes:
    return b.tcp(V4[2], V4[3], SEQ, ACKN, flags, payload, **kw)  # type: ignore[arg-type]


def _v4(payload: bytes = PAYLOAD, **kw: object) -> bytes:
    return b.ipv4(V4[0], V4[1], _segment(payload), **kw)  # type: ignore[arg-type]


def _v6(payload: bytes = PAYLOAD, **kw: object) -> bytes:
    return b.ipv6(V6[0], V6[1], _segment(payload), **kw)  # type: ignore[arg-type]


def _key(addrs: tuple[str, str, int, int]) -> bytes:
    import ipaddress

    return (
        ipaddress.ip_address(addrs[0]).packed
        + ipaddress.ip_address(addrs[1]).packed
        + struct.pack("!HH", addrs[2], addrs[3])
    )


def _fields(buf: bytes, r: object) -> tuple[object, ...]:
    """(key, seq, ack, flags, captured payload, seglen) from a decode tuple."""
    assert isinstance(r, tuple), r
    key, seq, ack, flags, ps, pe, seglen = r
    return (key, seq, ack, flags, buf[ps:pe], seglen)


# (id, linktype, frame builder taking an IP packet)
LINKS = [
    ("ethernet", 1, lambda ip: b.ethernet(ip)),
    ("ethernet-padded", 1, lambda ip: b.ethernet(ip, pad_to=len(ip) + 40)),
    ("vlan", 1, lambda ip: b.ethernet(ip, vlans=[10])),
    ("qinq", 1, lambda ip: b.ethernet(ip, vlans=[100, 10], qinq=True)),
    ("vlan-x3", 1, lambda ip: b.ethernet(ip, vlans=[1, 2, 3])),
    ("vlan-x5-qinq", 1, lambda ip: b.ethernet(ip, vlans=[5, 4, 3, 2, 1], qinq=True)),
    ("mpls", 1, lambda ip: b.ethernet(ip, mpls=1)),
    ("mpls-x3", 1, lambda ip: b.ethernet(ip, mpls=3)),
    ("vlan-mpls", 1, lambda ip: b.ethernet(ip, vlans=[7], mpls=2)),
    ("sll", 113, b.sll),
    ("sll2", 276, b.sll2),
    ("null-le", 0, lambda ip: b.null(ip, "<")),
    ("null-be", 0, lambda ip: b.null(ip, ">")),
    ("loop", 108, lambda ip: b.null(ip, ">")),
    ("loop-le", 108, lambda ip: b.null(ip, "<")),
    ("raw-101", 101, lambda ip: ip),
    ("raw-12", 12, lambda ip: ip),
    ("raw-14", 14, lambda ip: ip),
    ("nflog", 239, b.nflog),
    # serial links and PPPoE (issue 16): PPP with and without FF 03, compressed protocol
    # field; PPP_HDLC with FF 03, or Cisco HDLC by its first byte; Cisco HDLC; PPPoE
    ("ppp", 9, b.ppp),
    ("ppp-ff03", 9, lambda ip: b.ppp(ip, hdlc=True)),
    ("ppp-compressed", 9, lambda ip: b.ppp(ip, compressed=True)),
    ("ppp-hdlc", 50, lambda ip: b.ppp(ip, hdlc=True)),
    ("ppp-hdlc-cisco", 50, b.cisco_hdlc),
    ("c-hdlc", 104, b.cisco_hdlc),
    ("c-hdlc-broadcast", 104, lambda ip: b.cisco_hdlc(ip, address=0x8F)),
    ("c-hdlc-mpls", 104, lambda ip: b.cisco_hdlc(b"\x00\x06\x41\x40" + ip, etype=0x8847)),
    ("ppp-ether", 51, b.pppoe),
    ("pppoe", 1, b.pppoe_ethernet),
    ("pppoe-padded", 1, lambda ip: b.pppoe_ethernet(ip, pad_to=len(ip) + 60)),
    ("pppoe-vlan", 1, lambda ip: b.pppoe_ethernet(ip, vlans=[7])),
    ("pppoe-ff03-compressed", 1, lambda ip: b.pppoe_ethernet(ip, compressed=True)),
    ("pppoe-sll", 113, lambda ip: b.sll(b.pppoe(ip), etype=0x8864)),
    ("pppoe-sll2", 276, lambda ip: b.sll2(b.pppoe(ip), etype=0x8864)),
]


@pytest.mark.parametrize(("name", "lt", "wrap"), LINKS, ids=[x[0] for x in LINKS])
@pytest.mark.parametrize("family", ["v4", "v6"])
def test_every_link_type_gives_the_same_tcp_fields(name, lt, wrap, family) -> None:
    ip = _v4() if family == "v4" else _v6()
    addrs = V4 if family == "v4" else V6
    frame = wrap(ip)
    expected = (_key(addrs), SEQ, ACKN, PSH | ACK, PAYLOAD, len(PAYLOAD))
    assert _fields(frame, decode(frame, 0, len(frame), lt)) == expected
    # Inside a larger buffer, at an offset, followed by junk that must not be read.
    buf = b"\x45" * 13 + frame + b"\x45\x00" * 40
    assert _fields(buf, decode(buf, 13, len(frame), lt)) == expected


@pytest.mark.parametrize(("lt", "ip"), [(228, "v4"), (229, "v6")])
def test_ipv4_and_ipv6_link_types(lt, ip) -> None:
    pkt = _v4() if ip == "v4" else _v6()
    addrs = V4 if ip == "v4" else V6
    assert _fields(pkt, decode(pkt, 0, len(pkt), lt))[:1] == (_key(addrs),)


@pytest.mark.parametrize("family", [24, 28, 30, 10])
def test_bsd_null_ipv6_families_of_every_os(family) -> None:
    for order in "<>":
        frame = b.null(_v6(), order, family)
        assert _fields(frame, decode(frame, 0, len(frame), 0))[0] == _key(V6)


def test_flow_key_is_directional_and_reverse_key_swaps() -> None:
    fwd = b.ethernet(b.ipv4(V4[0], V4[1], b.tcp(V4[2], V4[3], 1, 0, SYN)))
    rev = b.ethernet(b.ipv4(V4[1], V4[0], b.tcp(V4[3], V4[2], 9, 2, SYN | ACK)))
    k1 = decode(fwd, 0, len(fwd), 1)[0]  # type: ignore[index]
    k2 = decode(rev, 0, len(rev), 1)[0]  # type: ignore[index]
    assert k1 != k2
    assert reverse_key(k1) == k2 and reverse_key(k2) == k1
    k6 = _key(V6)
    assert reverse_key(reverse_key(k6)) == k6
    assert reverse_key(k6) == _key((V6[1], V6[0], V6[3], V6[2]))
    assert endpoint(k1, False) == "192.0.2.1:40001"
    assert endpoint(k1, True) == "198.51.100.7:8080"
    assert endpoint(k6, False) == "[2001:db8::1]:40001"
    assert endpoint(k6, True) == "[2001:db8::2:7]:8080"


@pytest.mark.parametrize("flags", [SYN, SYN | ACK, ACK, FIN | ACK, RST, RST | ACK, PSH | ACK])
def test_flags_pass_through(flags) -> None:
    frame = b.ethernet(b.ipv4(V4[0], V4[1], b.tcp(1, 2, 3, 4, flags)))
    r = decode(frame, 0, len(frame), 1)
    assert isinstance(r, tuple)
    assert r[3] == flags and r[6] == 0 and r[4] == r[5]


@pytest.mark.parametrize("optlen", [4, 12, 40])
def test_ipv4_options_are_skipped(optlen) -> None:
    ip = b.ipv4(V4[0], V4[1], _segment(), options=b"\x94\x04\x00\x00" + b"\x01" * (optlen - 4))
    assert ip[0] & 0x0F == 5 + optlen // 4
    frame = b.ethernet(ip)
    assert _fields(frame, decode(frame, 0, len(frame), 1))[4:] == (PAYLOAD, len(PAYLOAD))


def test_tcp_options_are_skipped() -> None:
    seg = b.tcp(1, 2, 3, 4, ACK, b"abc", options=b"\x02\x04\x05\xb4\x01\x03\x03\x07")
    frame = b.ethernet(b.ipv4(V4[0], V4[1], seg))
    assert _fields(frame, decode(frame, 0, len(frame), 1))[4:] == (b"abc", 3)


@pytest.mark.parametrize(
    "ext",
    [
        [(0, b"\x01\x04\0\0\0\0")],  # hop-by-hop with a PadN option
        [(43, b"\x00\x00\0\0\0\0")],  # routing, segments left 0
        [(60, b"")],  # destination options
        [(0, b""), (43, b"\0" * 6 + b"\0" * 16), (60, b"\0" * 12)],  # chained, longer
        [(51, b"\0" * 10)],  # authentication header (4-octet units)
        [(0, b""), (51, b"\0" * 14), (60, b"")],
    ],
    ids=["hbh", "routing", "dstopts", "chain", "ah", "hbh-ah-dstopts"],
)
def test_ipv6_extension_headers_are_walked(ext) -> None:
    frame = b.ethernet(_v6(ext=ext))
    assert _fields(frame, decode(frame, 0, len(frame), 1)) == (
        _key(V6),
        SEQ,
        ACKN,
        PSH | ACK,
        PAYLOAD,
        len(PAYLOAD),
    )


@pytest.mark.parametrize(
    "ext",
    [[(0, b""), (44, b"\x00\x01")], [(44, b"\x00\x09")], [(60, b""), (44, b"\x00\x08")]],
    ids=["offset-0-more", "offset-8-more", "offset-8-last"],
)
def test_ipv6_fragment_header_is_skipped_as_fragment(ext) -> None:
    frame = b.ethernet(_v6(ext=ext))
    assert decode(frame, 0, len(frame), 1) == "ip-fragment"


@pytest.mark.parametrize(
    "ext",
    [[(44, b"")], [(44, b"\x00\x00\xde\xad\xbe\xef")], [(60, b""), (44, b"")],
     [(0, b""), (44, b"\x00\x06"), (60, b"")]],  # (the 2 reserved bits are not M)
    ids=["atomic", "atomic-id", "dstopts-atomic", "hbh-atomic-reserved-dstopts"],
)
def test_ipv6_atomic_fragment_is_a_whole_packet(ext) -> None:
    """RFC 6946: a Fragment header with offset 0 and M 0 is no fragment at all: the
    packet is read through it, in Ethernet or anything else (never by the fast path,
    whose key must be contiguous)."""
    expected = (_key(V6), SEQ, ACKN, PSH | ACK, PAYLOAD, len(PAYLOAD))
    for lt, wrap in ((1, b.ethernet), (101, lambda ip: ip), (9, b.ppp)):
        frame = wrap(_v6(ext=ext))
        assert _fields(frame, decode(frame, 0, len(frame), lt)) == expected
        assert locate(frame, 0, len(frame), lt) == NOT_LOCATED
    cut = b.ethernet(_v6(ext=ext))
    at = 54 + 8 * [k for k, _ in ext].index(44)  # the Fragment header (others: 8 bytes)
    assert decode(cut[: at + 7], 0, at + 7, 1) == "truncated-ip"


@pytest.mark.parametrize("frag", [0x2000, 0x2000 | 10, 10, 0x4000 | 3])
def test_ipv4_fragments(frag) -> None:
    """MF set or a nonzero offset is a fragment (RFC 791); DF alone is not."""
    frame = b.ethernet(_v4(frag=frag))
    assert decode(frame, 0, len(frame), 1) == "ip-fragment"


def test_ipv4_dont_fragment_alone_is_not_a_fragment() -> None:
    frame = b.ethernet(_v4(frag=0x4000))
    assert isinstance(decode(frame, 0, len(frame), 1), tuple)
    frame = b.ethernet(_v4(frag=0))
    assert isinstance(decode(frame, 0, len(frame), 1), tuple)


def test_udp_arp_icmp_and_other_skips() -> None:
    u4 = b.ethernet(b.ipv4(V4[0], V4[1], b.udp(53, 53, b"q"), proto=17))
    assert decode(u4, 0, len(u4), 1) == "udp"
    u6 = b.ethernet(b.ipv6(V6[0], V6[1], b.udp(53, 53, b"q"), nxt=17))
    assert decode(u6, 0, len(u6), 1) == "udp"
    u6x = b.ethernet(b.ipv6(V6[0], V6[1], b.udp(53, 53, b"q"), nxt=17, ext=[(0, b"")]))
    assert decode(u6x, 0, len(u6x), 1) == "udp"
    a = b.ethernet(b.arp(), etype=0x0806)
    assert decode(a, 0, len(a), 1) == "not-ip"
    icmp = b.ethernet(b.ipv4(V4[0], V4[1], b"\x08\0\0\0\0\0\0\0", proto=1))
    assert decode(icmp, 0, len(icmp), 1) == "not-tcp"
    nonext = b.ethernet(b.ipv6(V6[0], V6[1], b"", nxt=59))
    assert decode(nonext, 0, len(nonext), 1) == "not-tcp"
    s = b.sll(b.arp(), etype=0x0806)
    assert decode(s, 0, len(s), 113) == "not-ip"
    s2 = b.sll2(b.arp(), etype=0x0806)
    assert decode(s2, 0, len(s2), 276) == "not-ip"
    n = b.null(_v4(), family=7)
    assert decode(n, 0, len(n), 0) == "not-ip"
    r = b"\x12" + _v4()[1:]
    assert decode(r, 0, len(r), 101) == "not-ip"
    assert decode(_v4(), 0, len(_v4()), 105) == "linktype-105"


def test_bad_headers_are_skip_reasons() -> None:
    ip = bytearray(_v4())
    ip[0] = 0x44  # IHL 4 words < 20 bytes
    assert decode(bytes(ip), 0, len(ip), 101) == "bad-ip-header"
    ip = bytearray(_v4())
    ip[20 + 12] = 0x40  # TCP data offset 4 words < 20 bytes
    assert decode(bytes(ip), 0, len(ip), 101) == "bad-tcp-header"
    # Ethertype says IPv4, header says version 6
    frame = b.ethernet(_v6(), etype=0x0800)
    assert decode(frame, 0, len(frame), 1) == "bad-ip-header"


def test_tso_total_length_zero_trusts_the_frame() -> None:
    """Captures on the sending host with TSO show IPv4 total length 0 (RFC 791 would call
    it invalid); the payload is what the frame holds."""
    frame = b.ethernet(_v4(total=0))
    assert _fields(frame, decode(frame, 0, len(frame), 1))[4:] == (PAYLOAD, len(PAYLOAD))


def test_snaplen_cut_payload_announces_the_full_length() -> None:
    big = bytes(range(1, 201)) * 5  # 1000 bytes, no zeros
    frame = b.ethernet(_v4(big))
    cut = 14 + 20 + 20 + 100
    r = decode(frame[:cut], 0, cut, 1)
    key, seq, ack, flags, captured, seglen = _fields(frame[:cut], r)
    assert captured == big[:100]
    assert seglen == 1000 > len(captured)
    # cut inside the TCP options: nothing captured, the whole payload is announced
    seg = b.tcp(1, 2, 3, 4, ACK, big, options=b"\x01" * 12)
    frame = b.ethernet(b.ipv4(V4[0], V4[1], seg))
    r = decode(frame, 0, 14 + 20 + 20, 1)
    if isinstance(r, tuple):
        assert r[5] - r[4] == 0 and r[6] == 1000
    else:
        assert r.startswith("truncated")


TRUNC_CASES = [(name, lt, wrap, fam) for name, lt, wrap in LINKS for fam in ("v4", "v6")] + [
    ("v6-ext", 1, lambda ip: b.ethernet(ip), "v6ext"),
    ("v4-opts", 1, lambda ip: b.ethernet(ip), "v4opt"),
]


@pytest.mark.parametrize(
    ("name", "lt", "wrap", "fam"), TRUNC_CASES, ids=[f"{c[0]}-{c[3]}" for c in TRUNC_CASES]
)
def test_truncated_frames_at_every_length_never_raise(name, lt, wrap, fam) -> None:
    if fam == "v4":
        ip = _v4()
    elif fam == "v6":
        ip = _v6()
    elif fam == "v6ext":
        ip = _v6(ext=[(0, b""), (43, b"\0" * 14), (51, b"\0" * 6), (60, b"")])
    else:
        ip = _v4(options=b"\x01" * 16)
    frame = wrap(ip)
    full = decode(frame, 0, len(frame), lt)
    assert isinstance(full, tuple)
    payload_at = full[4]
    for n in range(len(frame)):
        cut = frame[:n]
        r = decode(cut, 0, n, lt)  # reading past n would raise IndexError / struct.error
        if n < payload_at:
            # Headers incomplete. With the TCP header whole but options cut, a tuple is
            # allowed as long as it claims no captured bytes.
            if isinstance(r, tuple):
                assert r[5] - r[4] == 0 and r[6] == len(PAYLOAD)
            else:
                assert isinstance(r, str) and r
        else:
            assert isinstance(r, tuple), (n, r)
            assert cut[r[4] : r[5]] == PAYLOAD[: n - payload_at]
            assert r[6] == len(PAYLOAD)


def test_supported_linktypes_all_decode() -> None:
    built = {1, 113, 276, 0, 108, 101, 12, 14, 239, 228, 229, 9, 50, 51, 104}
    assert built == set(SUPPORTED_LINKTYPES)
    for lt in built:
        ip = _v6() if lt == 229 else _v4()
        frame = b.link(lt, ip)
        assert isinstance(decode(frame, 0, len(frame), lt), tuple), lt


def test_nflog_without_payload_tlv() -> None:
    frame = b"\x02\x00\x00\x00" + struct.pack("<HH", 8, 10) + b"pfx\0"
    assert decode(frame, 0, len(frame), 239) == "nflog-no-payload"
    zero = b"\x02\x00\x00\x00" + struct.pack("<HH", 0, 9)
    assert decode(zero, 0, len(zero), 239) == "nflog-no-payload"


def test_mpls_carrying_something_else() -> None:
    frame = b.ethernet(b"\x00" * 40, mpls=1)
    assert decode(frame, 0, len(frame), 1) == "mpls-not-ip"


# ---- tunnels: the connection is the inner one (RFC 7348, RFC 2784/2890, RFC 4380)
def _inner_v4() -> bytes:
    return _v4()


def _outer(udp_or_gre: bytes, proto: int = 17) -> bytes:
    return b.ethernet(b.ipv4("10.9.9.1", "10.9.9.2", udp_or_gre, proto=proto))


def _same_as_inner(frame: bytes, inner: bytes, inner_lt: int) -> None:
    want = decode(inner, 0, len(inner), inner_lt)
    got = decode(frame, 0, len(frame), 1)
    assert isinstance(got, tuple) and isinstance(want, tuple)
    assert got[:4] == want[:4]  # key, seq, ack, flags
    assert frame[got[4] : got[5]] == PAYLOAD and got[6] == len(PAYLOAD)


def test_vxlan() -> None:
    inner = b.ethernet(_inner_v4())
    vxlan = struct.pack("!BxxxI", 0x08, 42 << 8)
    _same_as_inner(_outer(b.udp(50000, 4789, vxlan + inner)), inner, 1)


def test_vxlan_without_vni_flag_is_plain_udp() -> None:
    inner = b.ethernet(_inner_v4())
    frame = _outer(b.udp(50000, 4789, b"\0" * 8 + inner))
    assert decode(frame, 0, len(frame), 1) == "udp"


def test_ayiya_ipv6() -> None:
    inner = _v6()
    # idlen 4 (16-byte identity), siglen 5 (20-byte signature), next header 41 (IPv6)
    hdr = bytes([0x41, 0x52, 0x11, 41]) + b"\0" * 4 + b"\1" * 16 + b"\2" * 20
    _same_as_inner(_outer(b.udp(5072, 53796, hdr + inner)), inner, 101)


def test_teredo_with_origin_indication() -> None:
    inner = _v6()
    origin = b"\0\0" + b"\x12\x34" + b"\0" * 4
    _same_as_inner(_outer(b.udp(3544, 40000, origin + inner)), inner, 101)


@pytest.mark.parametrize("ptype, lt", [(0x0800, 101), (0x6558, 1)])
def test_gre_with_key(ptype: int, lt: int) -> None:
    inner = _inner_v4() if lt == 101 else b.ethernet(_inner_v4())
    gre = struct.pack("!HHI", 0x2000, ptype, 7)  # key present
    _same_as_inner(_outer(gre + inner, proto=47), inner, lt)


def test_tunnels_nested_too_deep_are_skipped() -> None:
    frame = b.ethernet(_inner_v4())
    vx = struct.pack("!BxxxI", 0x08, 1 << 8)
    for _ in range(3):
        frame = b.ethernet(b.ipv4("10.9.9.1", "10.9.9.2", b.udp(1, 4789, vx + frame), proto=17))
    assert decode(frame, 0, len(frame), 1) == "tunnel-too-deep"



# ---- encapsulations found lacking on real captures (issue 12, item 6c) ------------------
# 802.2 LLC/SNAP (RFC 1042), GRE-in-UDP (RFC 8086), GTP-U (3GPP TS 29.281) and Teredo on
# any port (RFC 4380): the frame is built byte by byte here, the connection is the inner one.
TEREDO_V6 = ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:db8::2:7", 40001, 8080)


def _ethertype(ip: bytes) -> int:
    return 0x86DD if ip[0] >> 4 == 6 else 0x0800


def _snap(ip: bytes, vlans: tuple[int, ...] = (), ethertype: int | None = None) -> bytes:
    """IEEE 802.3: the type field is the length of the LLC/SNAP header and packet."""
    etype = _ethertype(ip) if ethertype is None else ethertype
    llc = b"\xaa\xaa\x03" + b"\x00\x00\x00" + struct.pack("!H", etype) + ip
    return b.ethernet(llc, vlans=vlans, etype=len(llc))


def _gre_in_udp(inner: bytes, ptype: int | None = None, key: bool = False) -> bytes:
    ptype = _ethertype(inner) if ptype is None else ptype
    gre = struct.pack("!HH", 0x2000 if key else 0, ptype) + (struct.pack("!I", 77) if key else b"")
    return _outer(b.udp(49152, 4754, gre + inner))


def _gtp_u(
    inner: bytes,
    *,
    seq: int | None = None,
    npdu: int | None = None,
    ext: tuple[tuple[int, bytes], ...] = (),
    mtype: int = 0xFF,
    flags: int = 0x30,  # version 1, PT 1 (GTP)
    next_ext_without_e: int = 0,
    trailer: bytes = b"",
) -> bytes:
    """A GTPv1-U header (TS 29.281 §5.1) and ``inner``; ``ext`` is a chain of (type,
    content) extension headers, each padded to a multiple of 4 bytes (§5.2)."""
    if ext:
        flags |= 0x04
    if seq is not None:
        flags |= 0x02
    if npdu is not None:
        flags |= 0x01
    opt = b""
    if flags & 0x07:
        first = ext[0][0] if ext else next_ext_without_e
        opt = struct.pack("!HBB", seq or 0, npdu or 0, first)
        for i, (_kind, content) in enumerate(ext):
            nxt = ext[i + 1][0] if i + 1 < len(ext) else 0
            content += b"\0" * (-(len(content) + 2) % 4)
            opt += bytes([(len(content) + 2) // 4]) + content + bytes([nxt])
    body = opt + inner
    return struct.pack("!BBHI", flags, mtype, len(body), 0x1234) + body + trailer


def _gtp_frame(inner: bytes, **kw: object) -> bytes:
    return _outer(b.udp(2152, 2152, _gtp_u(inner, **kw)))  # type: ignore[arg-type]


def _teredo_any_port(inner: bytes, origin: bool = False, auth: bool = False) -> bytes:
    pre = b"\0\0" + b"\x12\x34" + b"\0" * 4 if origin else b""
    if auth:  # authentication indicator (RFC 4380 §5.1.1): ID length 2, auth length 3
        pre = b"\0\x01\x02\x03" + b"id" + b"abc" + b"\0" * 8 + b"\x00" + pre
    return _outer(b.udp(51413, 50123, pre + inner))  # a relay and a client's mapped port


# (id, wrap: IP packet -> Ethernet frame, family of the inner packet); "teredo" is IPv6
# with a Teredo (2001::/32) address, which Teredo away from UDP 3544 needs.
NEW_ENCAPSULATIONS = [
    ("snap", _snap, "v4"),
    ("snap-v6", _snap, "v6"),
    ("snap-vlan", lambda ip: _snap(ip, vlans=(10,)), "v4"),
    ("snap-qinq-v6", lambda ip: _snap(ip, vlans=(100, 10)), "v6"),
    ("gre-in-udp", _gre_in_udp, "v4"),
    ("gre-in-udp-v6-key", lambda ip: _gre_in_udp(ip, key=True), "v6"),
    ("gre-in-udp-ethernet", lambda ip: _gre_in_udp(b.ethernet(ip), 0x6558), "v4"),
    ("gtp-u", _gtp_frame, "v4"),
    ("gtp-u-v6", _gtp_frame, "v6"),
    ("gtp-u-seq", lambda ip: _gtp_frame(ip, seq=7), "v4"),
    # E unset: the next-extension byte is not read even when it is not 0
    ("gtp-u-npdu-stray-next", lambda ip: _gtp_frame(ip, npdu=3, next_ext_without_e=0x85), "v4"),
    # 5G: a PDU session container (0x85); then a chain of two extension headers
    ("gtp-u-ext", lambda ip: _gtp_frame(ip, ext=((0x85, b"\x00\x09"),)), "v4"),
    ("gtp-u-ext-chain",
     lambda ip: _gtp_frame(ip, seq=1, ext=((0x85, b"\x10\x01"), (0x40, b"\0" * 5))), "v6"),
    ("gtp-u-padding", lambda ip: _gtp_frame(ip, trailer=b"\xee" * 6), "v4"),
    ("teredo-any-port", _teredo_any_port, "teredo"),
    ("teredo-any-port-origin", lambda ip: _teredo_any_port(ip, origin=True), "teredo"),
    ("teredo-any-port-auth-origin", lambda ip: _teredo_any_port(ip, auth=True, origin=True),
     "teredo"),
    # issue 16: ERSPAN I/II/III in GRE, Geneve, VXLAN-GPE
    ("gre-erspan-i", lambda ip: _outer(b.gre(b.ethernet(ip), 0x88BE), 47), "v4"),
    ("erspan-ii", lambda ip: _outer(b.erspan2(b.ethernet(ip)), 47), "v4"),
    ("erspan-ii-v6-vlan", lambda ip: _outer(b.erspan2(b.ethernet(ip, vlans=[30])), 47), "v6"),
    ("erspan-iii", lambda ip: _outer(b.erspan3(b.ethernet(ip)), 47), "v4"),
    ("erspan-iii-platform", lambda ip: _outer(b.erspan3(b.ethernet(ip), platform=True), 47),
     "v6"),
    ("erspan-iii-ip-frame", lambda ip: _outer(b.erspan3(ip, ft=2), 47), "v4"),
    ("geneve", lambda ip: _outer(b.udp(50000, 6081, b.geneve(b.ethernet(ip)))), "v4"),
    ("geneve-options", lambda ip: _outer(b.udp(50000, 6081, b.geneve(
        b.ethernet(ip), options=b"\x01\x02\x03\x02" + b"\xaa" * 8))), "v6"),
    ("geneve-ipv4", lambda ip: _outer(b.udp(50000, 6081, b.geneve(ip, ptype=0x0800))), "v4"),
    ("geneve-ipv6", lambda ip: _outer(b.udp(50000, 6081, b.geneve(ip, ptype=0x86DD))), "v6"),
    ("vxlan-gpe-ipv4", lambda ip: _outer(b.udp(50000, 4790, b.vxlan_gpe(ip, 1))), "v4"),
    ("vxlan-gpe-ipv6", lambda ip: _outer(b.udp(50000, 4790, b.vxlan_gpe(ip, 2))), "v6"),
    ("vxlan-gpe-ethernet",
     lambda ip: _outer(b.udp(50000, 4790, b.vxlan_gpe(b.ethernet(ip), 3))), "v4"),
]
ENCAPSULATION_IDS = [c[0] for c in NEW_ENCAPSULATIONS]
ENDS = {"v4": V4, "v6": V6, "teredo": TEREDO_V6}


def _inner(family: str) -> bytes:
    src, dst, sport, dport = ENDS[family]
    return b.ip_packet(src, dst, b.tcp(sport, dport, SEQ, ACKN, PSH | ACK, PAYLOAD))


@pytest.mark.parametrize(("name", "wrap", "family"), NEW_ENCAPSULATIONS, ids=ENCAPSULATION_IDS)
def test_new_encapsulations_give_the_inner_tcp_fields(name, wrap, family) -> None:
    inner = _inner(family)
    frame = wrap(inner)
    _same_as_inner(frame, inner, 101)
    expected = (_key(ENDS[family]), SEQ, ACKN, PSH | ACK, PAYLOAD, len(PAYLOAD))
    assert _fields(frame, decode(frame, 0, len(frame), 1)) == expected
    # at an offset inside a larger buffer, junk after it never read
    buf = b"\x45" * 7 + frame + b"\x45\x00" * 40
    assert _fields(buf, decode(buf, 7, len(frame), 1)) == expected


def test_new_encapsulations_inside_ipv6_outer_headers() -> None:
    for udp in (b.udp(49152, 4754, struct.pack("!HH", 0, 0x0800) + _v4()),
                b.udp(2152, 2152, _gtp_u(_v4()))):
        frame = b.ethernet(b.ipv6("2001:db8::a", "2001:db8::b", udp, nxt=17))
        _same_as_inner(frame, _v4(), 101)


def test_llc_that_is_not_snap_or_ip_is_not_ip() -> None:
    stp = b"\x42\x42\x03" + b"\0" * 35  # spanning tree BPDU
    frame = b.ethernet(stp, etype=len(stp))
    assert decode(frame, 0, len(frame), 1) == "not-ip"
    arp = _snap(b.arp(), ethertype=0x0806)
    assert decode(arp, 0, len(arp), 1) == "not-ip"
    cisco = bytearray(_snap(_v4()))
    cisco[17:20] = b"\x00\x00\x0c"  # a SNAP OUI other than 00-00-00
    assert decode(bytes(cisco), 0, len(cisco), 1) == "not-ip"


def test_gtp_u_that_carries_no_user_packet() -> None:
    echo = _outer(b.udp(2152, 2152, _gtp_u(b"", mtype=1, seq=1)))  # echo request
    assert decode(echo, 0, len(echo), 1) == "udp"
    gtp_prime = _outer(b.udp(2152, 2152, _gtp_u(_v4(), flags=0x20)))  # PT 0: GTP'
    assert decode(gtp_prime, 0, len(gtp_prime), 1) == "udp"
    v2 = _outer(b.udp(2152, 2152, _gtp_u(_v4(), flags=0x48)))  # version 2
    assert decode(v2, 0, len(v2), 1) == "udp"
    ppp = _gtp_frame(b"\xff\x03\x00\x21" + _v4())  # a G-PDU carrying PPP
    assert decode(ppp, 0, len(ppp), 1) == "not-ip"
    zero = bytearray(_gtp_frame(_v4(), ext=((0x85, b"\x00\x09"),)))
    zero[14 + 20 + 8 + 12] = 0  # an extension header of length 0
    assert decode(bytes(zero), 0, len(zero), 1) == "bad-gtp-header"


def test_gre_in_udp_only_on_its_destination_port_and_with_ip() -> None:
    gre = struct.pack("!HH", 0, 0x0800) + _v4()
    back = _outer(b.udp(4754, 49152, gre))  # 4754 as the source: any UDP flow's port
    assert decode(back, 0, len(back), 1) == "udp"
    other = _gre_in_udp(b"\0" * 40, ptype=0x880B)  # GRE carrying PPP
    assert decode(other, 0, len(other), 1) == "gre-not-ip"


def test_teredo_on_any_port_only_when_unmistakable() -> None:
    # An IPv6 packet in UDP on ports of no tunnel, but with no Teredo (2001::/32) address:
    plain = _outer(b.udp(51413, 50123, _v6()))
    assert decode(plain, 0, len(plain), 1) == "udp"
    # A Teredo address, but the IPv6 payload length does not fill the UDP payload:
    longer = _outer(b.udp(51413, 50123, _inner("teredo") + b"\0\0"))
    assert decode(longer, 0, len(longer), 1) == "udp"
    # On the Teredo server port the old rule stands: a payload that starts like IPv6.
    server = _outer(b.udp(3544, 40000, _v6()))
    _same_as_inner(server, _v6(), 101)


def test_new_tunnels_count_toward_the_depth_limit() -> None:
    frame = _v4()
    for _ in range(3):
        frame = b.ipv4("10.9.9.1", "10.9.9.2", b.udp(2152, 2152, _gtp_u(frame)), proto=17)
    frame = b.ethernet(frame)
    assert decode(frame, 0, len(frame), 1) == "tunnel-too-deep"
    gtp_in_gre_in_udp = b.ethernet(b.ipv4("10.9.9.1", "10.9.9.2", b.udp(
        1, 4754, struct.pack("!HH", 0, 0x0800) + b.ipv4(
            "10.8.8.1", "10.8.8.2", b.udp(2152, 2152, _gtp_u(_v4())), proto=17)), proto=17))
    _same_as_inner(gtp_in_gre_in_udp, _v4(), 101)


# What a cut inside each new header is named; anything else is a reason named for the
# layer that was cut (or "udp": Teredo away from 3544 is only recognised whole).
CUT_REASONS = {
    "snap": "truncated-link", "gre": "truncated-gre", "gtp": "truncated-gtp",
    "erspan": "truncated-erspan", "geneve": "truncated-geneve", "vxlan": "truncated-vxlan",
}


@pytest.mark.parametrize(("name", "wrap", "family"), NEW_ENCAPSULATIONS, ids=ENCAPSULATION_IDS)
def test_new_encapsulations_cut_at_every_length_never_raise(name, wrap, family) -> None:
    frame = wrap(_inner(family))
    full = decode(frame, 0, len(frame), 1)
    assert isinstance(full, tuple)
    payload_at = full[4]
    reasons = set()
    for n in range(len(frame)):
        cut = frame[:n]
        r = decode(cut, 0, n, 1)  # reading past n would raise IndexError / struct.error
        if n < payload_at:
            assert isinstance(r, str) and r, (n, r)
            reasons.add(r)
        else:
            assert isinstance(r, tuple), (n, r)
            assert cut[r[4] : r[5]] == PAYLOAD[: n - payload_at]
            assert r[6] == len(PAYLOAD)
    own = CUT_REASONS.get(name.split("-")[0])
    assert own is None or own in reasons, reasons
    assert reasons <= {"truncated-link", "truncated-ip", "truncated-udp", "truncated-gre",
                       "truncated-gtp", "truncated-tcp", "udp", "truncated-erspan",
                       "truncated-geneve", "truncated-vxlan"}, reasons


@pytest.mark.parametrize(("name", "wrap", "family"), NEW_ENCAPSULATIONS, ids=ENCAPSULATION_IDS)
def test_new_encapsulations_whole_and_cut_through_analyze(tmp_path, name, wrap, family) -> None:
    """Through the whole pipeline: a conversation inside the encapsulation is the inner
    connection, and every cut copy of a frame is counted in ``captures[].skipped``."""
    import analyzer

    src, dst, sport, dport = ENDS[family]
    c = b.Conversation((src, sport), (dst, dport)).handshake()
    c.exchange(b"GET /in HTTP/1.1\r\nHost: h\r\n\r\n", b"HTTP/1.1 204 No Content\r\n\r\n")
    c.close()
    frames = [(ts, wrap(ip)) for ts, ip in c.frames(b.LT_RAW)]
    whole = analyzer.analyze(b.write(tmp_path / "whole.pcap", b.pcap(frames))).to_dict()
    cap = whole["captures"][0]
    assert cap["skipped"] == {} and cap["tcp_packets"] == len(frames)
    (conn,) = whole["connections"]
    assert (conn["client"], conn["server"], conn["requests"]) == (
        endpoint(_key(ENDS[family]), False), endpoint(_key(ENDS[family]), True), 1)
    # every cut of the request's frame before its payload: skipped, each with a reason
    ts, frame = next((ts, f) for ts, f in frames if b"GET /in" in f)
    cuts = [(ts + i * 1e-6, frame[:i]) for i in range(frame.index(b"GET /in"))]
    cut = analyzer.analyze(b.write(tmp_path / "cut.pcap", b.pcap(cuts))).to_dict()
    cap = cut["captures"][0]
    assert cap["packets"] == len(cuts) and not cap["truncated"]
    assert cap["tcp_packets"] == 0 and sum(cap["skipped"].values()) == len(cuts), cap


# ---- the fast path: locate() gives what decode() gives, for the frames it takes
def _located(buf: bytes, off: int, caplen: int, lt: int = 1) -> tuple[object, ...] | None:
    ks, ke, seq, ack, flags, ps, pe, seglen = locate(buf, off, caplen, lt)
    if ks < 0:
        return None
    return (buf[ks:ke], seq, ack, flags, buf[ps:pe], seglen)


FAST = [
    ("v4", lambda: b.ethernet(_v4())),
    ("v6", lambda: b.ethernet(_v6())),
    ("v4-no-payload", lambda: b.ethernet(_v4(b""))),
    ("v4-tcp-options", lambda: b.ethernet(b.ipv4(*V4[:2], _segment(options=b"\x02\x04\x05\xb4")))),
    ("v6-tcp-options", lambda: b.ethernet(b.ipv6(*V6[:2], _segment(options=b"\x01" * 12)))),
    ("v4-padded", lambda: b.ethernet(_v4(b"x"), pad_to=60)),
]


@pytest.mark.parametrize("name,build", FAST, ids=[f[0] for f in FAST])
def test_locate_agrees_with_decode(name: str, build) -> None:  # type: ignore[no-untyped-def]
    frame = build()
    buf = b"\xee" * 7 + frame + b"\xee" * 7  # a decoder that reads past the frame is caught
    got = _located(buf, 7, len(frame))
    assert got is not None
    assert got == _fields(buf, decode(buf, 7, len(frame), 1))
    addrs = V6 if name.startswith("v6") else V4
    assert got[0] == _key(addrs)


@pytest.mark.parametrize("name,build", FAST[:2], ids=[f[0] for f in FAST[:2]])
def test_locate_with_the_payload_cut_by_the_snaplen(name: str, build) -> None:  # type: ignore[no-untyped-def]
    frame = build()
    for cut in range(len(frame) - len(PAYLOAD), len(frame)):
        buf = frame[:cut] + b"\xee" * 7
        got = _located(buf, 0, cut)
        assert got is not None and got == _fields(buf, decode(buf, 0, cut, 1))
        assert got[5] == len(PAYLOAD)  # announced, not captured


NOT_FAST = [
    ("vlan", 1, lambda: b.ethernet(_v4(), vlans=[10])),
    ("ip-options", 1, lambda: b.ethernet(_v4(options=b"\x01\x01\x01\x00"))),
    ("fragment", 1, lambda: b.ethernet(_v4(frag=0x2000))),
    ("tso-length-0", 1, lambda: b.ethernet(_v4(total=0))),
    ("udp", 1, lambda: b.ethernet(b.ipv4(V4[0], V4[1], b.udp(1, 2, b"x"), proto=17))),
    ("v6-extension", 1,
     lambda: b.ethernet(b.ipv6(*V6[:2], _segment(), nxt=0, ext=[b.ipv6_ext(6)]))),
    ("short", 1, lambda: b.ethernet(_v4())[:53]),
    ("sll", 113, lambda: b.sll(_v4())),
    ("raw", 101, lambda: _v4()),
]


@pytest.mark.parametrize("name,lt,build", NOT_FAST, ids=[f[0] for f in NOT_FAST])
def test_locate_leaves_the_rest_to_decode(name: str, lt: int, build) -> None:  # type: ignore[no-untyped-def]
    frame = build()
    assert locate(frame, 0, len(frame), lt) == NOT_LOCATED


# ---- issue 16: serial links, PPPoE, ERSPAN, Geneve, VXLAN-GPE -----------------------------
def test_new_layers_that_carry_no_ip_are_named_reasons() -> None:
    ip = _v4()
    discovery = b.ethernet(struct.pack("!BBHH", 0x11, 0x09, 0, 4) + b"\x01\x01\0\0", etype=0x8863)
    lcp = b.pppoe_ethernet(b"\x01\x01\x00\x04", proto=0xC021)
    ipcp = b.ppp(b"\x01\x01\x00\x04", hdlc=True, proto=0x8021)
    slarp = b.cisco_hdlc(b"\0" * 18, etype=0x8035)
    cases = [
        (1, discovery, "pppoe-discovery"),
        (1, lcp, "not-ip"),
        (1, b.pppoe_ethernet(ip, code=0x09), "bad-pppoe-header"),  # PADI code in a session
        (1, b.ethernet(b"\x12" + b.pppoe(ip)[1:], etype=0x8864), "bad-pppoe-header"),
        (1, b.ethernet(b.pppoe(ip)[:4] + b"\0\0" + b.pppoe(ip)[6:], etype=0x8864),
         "bad-pppoe-header"),  # length 0
        (9, ipcp, "not-ip"),
        (50, ipcp, "not-ip"),
        (104, slarp, "not-ip"),
        (51, b"\x11\x00\x12\x34\x00\x06" + b"\xc0\x21\x01\x01\x00\x04", "not-ip"),
        (1, _outer(b.udp(1, 6081, b.geneve(b"\0" * 40, ptype=0x894F))), "tunnel-not-ip"),
        (1, _outer(b.udp(1, 6081, b"\x40" + b.geneve(b.ethernet(ip))[1:])), "udp"),  # version 1
        (1, _outer(b.udp(1, 4790, b.vxlan_gpe(b"\0" * 40, 4))), "tunnel-not-ip"),  # NSH
        (1, _outer(b.udp(1, 4790, b"\x2c" + b.vxlan_gpe(ip, 1)[1:])), "udp"),  # version 2
        (1, _outer(b.udp(1, 4790, b"\x00" + b.vxlan_gpe(ip, 1)[1:])), "udp"),  # no I, no P
        (1, _outer(b.erspan3(b.ethernet(ip), ft=5), 47), "tunnel-not-ip"),
        (1, _outer(b"\x10\x00\x88\xbe\0\0\0\1" + b"\x20" + b"\0" * 7 + b.ethernet(ip), 47),
         "bad-erspan-header"),  # type II header of version 2
        (1, _outer(b.gre(b"\x10" + b"\0" * 11 + b.ethernet(ip), 0x22EB), 47),
         "bad-erspan-header"),  # type III header of version 1
    ]
    for lt, frame, reason in cases:
        assert decode(frame, 0, len(frame), lt) == reason, (lt, reason)
        assert reason in REASONS


def test_pppoe_length_bounds_the_packet() -> None:
    """PPPoE's length, not the Ethernet padding, ends the packet: with an IPv4 total
    length of 0 (TSO) the payload stops where PPPoE says."""
    frame = b.pppoe_ethernet(_v4(total=0), pad_to=200)
    assert _fields(frame, decode(frame, 0, len(frame), 1))[4:] == (PAYLOAD, len(PAYLOAD))
    assert locate(frame, 0, len(frame), 1) == NOT_LOCATED  # never the fast path


def test_vxlan_gpe_without_p_flag_is_ethernet() -> None:
    inner = b.ethernet(_v4())
    frame = _outer(b.udp(50000, 4790, b"\x08\0\0\0" + struct.pack("!I", 9 << 8) + inner))
    _same_as_inner(frame, inner, 1)


def test_tunnel_ports_either_way_but_gre_in_udp() -> None:
    """Replies come from the tunnel port: VXLAN, VXLAN-GPE, Geneve, GTP-U, AYIYA and
    Teredo are recognised by source port too; GRE-in-UDP only by destination (RFC 8086)."""
    inner = _v4()
    for udp in (b.udp(6081, 50000, b.geneve(inner, ptype=0x0800)),
                b.udp(4790, 50000, b.vxlan_gpe(inner, 1))):
        _same_as_inner(_outer(udp), inner, 101)


def test_every_reason_is_listed() -> None:
    """Every skip reason the decoder can give is in REASONS (the docs' table), and a link
    type not read is ``linktype-N``."""
    import re

    from tests.conftest import ROOT

    source = (ROOT / "analyzer" / "core" / "decode.py").read_text()  # (compiled: no __file__)
    given = set(re.findall(r'return "([a-z0-9-]+)"', source))
    assert given <= set(REASONS), given - set(REASONS)
    assert decode(b"\0" * 60, 0, 60, 4242) == "linktype-4242"


def _reason_or_sane(r: object, off: int, caplen: int) -> None:
    if isinstance(r, str):
        assert r in REASONS or r.startswith("linktype-"), r
    else:
        assert isinstance(r, tuple)
        key, _seq, _ack, _flags, ps, pe, seglen = r
        assert len(key) in (12, 36) and seglen >= 0 and off <= ps <= pe
        # the bytes it calls payload are in the frame (a header whose options the
        # snaplen cut claims none: its payload "starts" past the end)
        assert pe == ps or pe <= off + caplen


# the frames with a valid header stack: every link type and every tunnel
STACKS = [(f"{name}-{fam}", lt, wrap((_v4 if fam == "v4" else _v6)()))
          for name, lt, wrap in LINKS for fam in ("v4", "v6")] + [
    (name, 1, wrap(_inner(fam))) for name, wrap, fam in NEW_ENCAPSULATIONS]


@settings(max_examples=400, deadline=None)
@given(stack=st.sampled_from(STACKS), data=st.data())
def test_any_prefix_then_random_bytes_is_a_result_or_a_reason(stack, data) -> None:
    """A valid header stack cut anywhere and followed by anything (other protocols,
    types, lengths, options): a sane tuple or a listed reason, never an exception."""
    _name, lt, frame = stack
    n = data.draw(st.integers(0, len(frame)), label="cut")
    tail = data.draw(st.binary(max_size=80), label="tail")
    pad = data.draw(st.binary(max_size=5), label="before")
    body = frame[:n] + tail
    buf = pad + body + b"\xee" * 8  # bytes after the frame must never be read
    _reason_or_sane(decode(buf, len(pad), len(body), lt), len(pad), len(body))
    _reason_or_sane(decode(buf, len(pad), n, lt), len(pad), n)


@pytest.mark.parametrize("stack", STACKS, ids=[s[0] for s in STACKS])
def test_every_prefix_is_a_result_or_a_reason(stack) -> None:
    _name, lt, frame = stack
    for n in range(len(frame) + 1):
        _reason_or_sane(decode(frame[:n] + b"\xee" * 4, 0, n, lt), 0, n)


# ---- golden: what tshark reads from the same bytes (skipped where tshark is absent)
TSHARK_OFF = {
    "loop-le-v4": "tshark reads LOOP (108) in network byte order only",
    "loop-le-v6": "tshark reads LOOP (108) in network byte order only",
    "erspan-iii-ip-frame": "Wireshark 4.0 shows an ERSPAN III frame of type 2 (IP) as data",
}


def _tshark_ports(tmp_path: Path, frames: list[tuple[int, bytes]]) -> list[str]:
    """tshark's ``tcp.srcport tcp.dstport`` per frame (Teredo on any port: its heuristic
    on, as this decoder's content check): one capture, and one tshark run, per link type."""
    out: dict[int, str] = {}
    for lt in sorted({lt for lt, _f in frames}):
        mine = [i for i, (t, _f) in enumerate(frames) if t == lt]
        path = b.write(tmp_path / f"lt{lt}.pcap",
                       b.pcap([(1.0 + i, frames[i][1]) for i in mine], lt))
        p = subprocess.run(
            ["tshark", "-o", "teredo.heuristic_teredo:TRUE", "-r", path, "-T", "fields",
             "-e", "tcp.srcport", "-e", "tcp.dstport"],
            capture_output=True, text=True, timeout=120, check=True,
        )
        lines = p.stdout.split("\n")[: len(mine)]
        out.update(zip(mine, (line.strip() for line in lines), strict=True))
    return [out[i] for i in range(len(frames))]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_reads_the_same_inner_ports(tmp_path: Path) -> None:
    cases = [(name, lt, frame) for name, lt, frame in STACKS if name not in TSHARK_OFF]
    got = _tshark_ports(tmp_path, [(lt, frame) for _n, lt, frame in cases])
    for (name, lt, frame), ports in zip(cases, got, strict=True):
        r = decode(frame, 0, len(frame), lt)
        assert isinstance(r, tuple), name
        ours = f"{r[0][-4] << 8 | r[0][-3]}\t{r[0][-2] << 8 | r[0][-1]}"
        assert ports == ours, (name, ports, ours)


# ---- end to end: an HTTP exchange through each new layer is one connection, one request
def _http_frames(wrap, lt: int, family: str = "v4") -> bytes:  # type: ignore[no-untyped-def]
    src, dst, sport, dport = ENDS[family]
    c = b.Conversation((src, sport), (dst, dport)).handshake()
    c.exchange(b"GET /tunnelled HTTP/1.1\r\nHost: h\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c.close()
    return b.pcap([(ts, wrap(ip)) for ts, ip in c.frames(b.LT_RAW)], lt)


END_TO_END = [
    ("pppoe", 1, b.pppoe_ethernet),
    ("pppoe-v6", 1, b.pppoe_ethernet, "v6"),
    ("ppp", 9, lambda ip: b.ppp(ip, hdlc=True)),
    ("cisco-hdlc", 104, b.cisco_hdlc),
    ("erspan-ii", 1, lambda ip: _outer(b.erspan2(b.ethernet(ip)), 47)),
    ("erspan-iii", 1, lambda ip: _outer(b.erspan3(b.ethernet(ip), platform=True), 47)),
    ("geneve", 1, lambda ip: _outer(b.udp(50000, 6081, b.geneve(b.ethernet(ip)))), "v6"),
    ("vxlan-gpe", 1, lambda ip: _outer(b.udp(50000, 4790, b.vxlan_gpe(ip, 1)))),
]


@pytest.mark.parametrize("case", END_TO_END, ids=[c[0] for c in END_TO_END])
def test_http_through_each_new_layer_end_to_end(case) -> None:
    import analyzer

    name, lt, wrap, *fam = case
    family = fam[0] if fam else "v4"
    d = analyzer.analyze_bytes(_http_frames(wrap, lt, family), name=f"{name}.pcap").to_dict()
    cap = d["captures"][0]
    assert cap["skipped"] == {} and cap["tcp_packets"] == cap["packets"], cap
    (conn,) = d["connections"]
    assert (conn["client"], conn["server"]) == (
        endpoint(_key(ENDS[family]), False), endpoint(_key(ENDS[family]), True))
    assert (conn["requests"], conn["responses"], conn["handshake_seen"]) == (1, 1, True)
    (ex,) = d["exchanges"]
    assert (ex["method"], ex["target"], ex["status"]) == ("GET", "/tunnelled", 200)
