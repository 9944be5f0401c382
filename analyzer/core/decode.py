"""Link layer → IPv4/IPv6 → TCP fields, for one captured frame.

This is the one decoder: the flow table calls it once per packet — :func:`locate` first,
:func:`decode` for every frame that fast path does not take — so it is written flat: byte
reads or one ``unpack_from`` per header, ints and slices, no objects. :func:`decode`
returns either a tuple of TCP fields or a short string naming why the frame was skipped;
skipped frames are counted per reason in ``captures[].skipped`` and are never an error.

The flow key is the raw bytes of source address, destination address, source port and
destination port (sliced straight from the frame): 12 bytes for IPv4, 36 for IPv6. It is
directional; the reverse key is built only when a new flow is created (:func:`reverse_key`).

Link types (:mod:`analyzer.core.linktypes` says which number is which framing): Ethernet
(1) with any depth of 802.1Q/802.1ad tags and MPLS, and IEEE 802.3 frames carrying IP in
802.2 LLC/SNAP (RFC 1042); BSD loopback NULL (0, host byte order) and LOOP (108, network
order), both byte orders accepted; raw IP (12, 14, 101), IPv4 (228), IPv6 (229); Linux
cooked SLL (113) and SLL2 (276); NFLOG (239). Tunnels carrying TCP are followed (VXLAN,
AYIYA, Teredo, GRE, GRE-in-UDP, GTP-U): the connection is the inner one.

The common frame has a fast path, :func:`locate`: Ethernet, IPv4 without options or IPv6
with TCP as its first next header. It returns only ints — where the flow key lies in the
frame (for IPv4 without options and for IPv6 the addresses and ports are contiguous), the
TCP fields, where the payload lies — so the packet loop can decide the connection's
partition (:mod:`analyzer.core.partition`) before it slices the key, and compiled (mypyc)
the result is a C struct, not a tuple object. Anything else, or anything odd, is for
:func:`decode`, which gives the same fields for the frames both read
(tests/test_decode.py checks it).

LLC/SNAP and the tunnels are off the hot path: only Ethernet frames whose type is not IP
or MPLS reach the SNAP check, and only UDP and GRE packets (skipped unless a tunnel is
found) reach the tunnel code. A header cut by the snaplen is a skip reason like any other
(``truncated-link``, ``truncated-udp``, ``truncated-gre``, ``truncated-gtp``).
"""

from __future__ import annotations

import struct
from typing import Final

from analyzer.core.linktypes import (
    BSD_LOOPBACK,
    ETHERNET,
    FRAMINGS,
    LINKTYPE_ETHERNET,
    LINUX_SLL,
    LINUX_SLL2,
    NFLOG,
    RAW_IP,
    SUPPORTED,
)

SUPPORTED_LINKTYPES: Final = SUPPORTED  # (the name older code imports)

# TCP flag bits (RFC 9293 §3.1)
FIN: Final = 0x01
SYN: Final = 0x02
RST: Final = 0x04
PSH: Final = 0x08
ACK: Final = 0x10

_H = struct.Struct("!H").unpack_from
_I_LE = struct.Struct("<I").unpack_from
_I_BE = struct.Struct("!I").unpack_from
_TCP = struct.Struct("!IIBB").unpack_from  # seq, ack, data offset byte, flags
_IPV4 = struct.Struct("!BxHxxHBB").unpack_from  # ver/ihl, total length, frag, ttl, proto
_NFLOG_TLV = struct.Struct("<HH").unpack_from
_GRE = struct.Struct("!HH").unpack_from
_UDP = struct.Struct("!HHH").unpack_from  # source port, destination port, length
# 802.2 LLC + SNAP (RFC 1042): DSAP AA, SSAP AA, control 03 and the OUI's first byte; the
# OUI's other two bytes (00-00-00: the ethertype follows); the ethertype.
_SNAP = struct.Struct("!IHH").unpack_from
_LLC_SNAP: Final = 0xAAAA0300
# GTPv1-U (3GPP TS 29.281 §5.1): flags (version, PT, E, S, PN), message type, length.
_GTP = struct.Struct("!BBH").unpack_from
_GTP_G_PDU: Final = 0xFF  # a G-PDU carries a user packet (T-PDU); other types signal
# An IPv6 header as Teredo's any-port check reads it: version byte, payload length, first
# 32 bits of the source and of the destination address.
_TEREDO_IPV6 = struct.Struct("!BxxxHxxI12xI").unpack_from
_TEREDO_PREFIX: Final = 0x20010000  # 2001::/32, Teredo addresses (RFC 4380 §2.6)

# UDP ports of the tunnels followed (the IANA assignments)
VXLAN_PORT: Final = 4789  # RFC 7348
AYIYA_PORT: Final = 5072
TEREDO_PORT: Final = 3544  # RFC 4380
GRE_IN_UDP_PORT: Final = 4754  # RFC 8086
GTP_U_PORT: Final = 2152  # 3GPP TS 29.281

# BSD AF_INET6 values differ by OS: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
_NULL_FAMILIES_V6 = frozenset({24, 28, 30, 10})

# IPv6 extension headers we walk over (RFC 8200 §4); 44 is the fragment header.
_IPV6_EXT = frozenset({0, 43, 60, 135, 139, 140})

Decoded = tuple[bytes, int, int, int, int, int, int]
"""(key, seq, ack, flags, payload_start, payload_end, segment_length)"""


Located = tuple[int, int, int, int, int, int, int, int]
"""(key_start, key_end, seq, ack, flags, payload_start, payload_end, segment_length)"""
NOT_LOCATED: Final = (-1, 0, 0, 0, 0, 0, 0, 0)  # not the common frame: decode() it
_FRAMINGS: Final = FRAMINGS


def locate(buf: bytes, off: int, caplen: int, linktype: int) -> Located:
    """The fast path for the common frame ``buf[off:off+caplen]``: Ethernet + IPv4
    without options, or Ethernet + IPv6 with TCP as its first next header (RFC 8200).

    Returns ``(key_start, key_end, seq, ack, flags, payload_start, payload_end, seglen)``:
    the flow key is ``buf[key_start:key_end]`` (addresses and ports, contiguous in these
    frames), the rest as :func:`decode` gives them. ``key_start`` is -1 for any other
    frame, and for anything odd in these: :func:`decode` then says what it is."""
    if linktype != LINKTYPE_ETHERNET or caplen < 54:
        return NOT_LOCATED
    # Byte indexing rather than struct: compiled (mypyc), each is a C read.
    etype = buf[off + 12] << 8 | buf[off + 13]
    if etype == 0x0800:
        doff = buf[off + 46]
        payload = off + 34 + ((doff >> 4) << 2)
        seglen = off + 14 + (buf[off + 16] << 8 | buf[off + 17]) - payload
        if not (
            buf[off + 14] == 0x45 and buf[off + 23] == 6
            and not (buf[off + 20] & 0x3F or buf[off + 21])  # not a fragment
            and doff >= 0x50 and seglen >= 0
        ):
            return NOT_LOCATED
        key = off + 26
        p = off + 38  # the TCP sequence number
    elif etype == 0x86DD and caplen >= 74 and buf[off + 20] == 6:
        # (The version nibble is not checked here, which decode() does: a frame typed
        # IPv6 with another version is taken here, as the fast path always has.)
        plen = buf[off + 18] << 8 | buf[off + 19]
        doff = buf[off + 66]
        payload = off + 54 + ((doff >> 4) << 2)
        seglen = off + 54 + plen - payload
        if not (doff >= 0x50 and seglen >= 0 and plen):
            return NOT_LOCATED
        key = off + 22
        p = off + 58
    else:
        return NOT_LOCATED
    payload_end = payload + seglen
    if payload_end > off + caplen:
        payload_end = off + caplen
    if payload_end < payload:
        payload_end = payload
    return (
        key, p,  # (the key ends where the sequence number starts)
        buf[p] << 24 | buf[p + 1] << 16 | buf[p + 2] << 8 | buf[p + 3],
        buf[p + 4] << 24 | buf[p + 5] << 16 | buf[p + 6] << 8 | buf[p + 7],
        buf[p + 9],
        payload, payload_end, seglen,
    )


def decode(buf: bytes, off: int, caplen: int, linktype: int, depth: int = 0) -> Decoded | str:
    """Decode one frame ``buf[off:off+caplen]`` of the given link type.

    Returns ``(key, seq, ack, flags, payload_start, payload_end, seglen)`` where
    ``payload_start:payload_end`` is the captured TCP payload inside ``buf`` and ``seglen``
    the payload length the IP header announces (larger when the snaplen cut the frame),
    or a skip reason.
    """
    end = off + caplen
    # ---- link layer: find the IP header and its version
    framing = _FRAMINGS.get(linktype, 0)
    if framing == ETHERNET:
        p = off + 12
        if p + 2 > end:
            return "truncated-link"
        etype = _H(buf, p)[0]
        p += 2
        while etype == 0x8100 or etype == 0x88A8 or etype == 0x9100:
            if p + 4 > end:
                return "truncated-link"
            etype = _H(buf, p + 2)[0]
            p += 4
        if etype == 0x0800:
            ip = p
            ver = 4
        elif etype == 0x86DD:
            ip = p
            ver = 6
        elif etype == 0x8847 or etype == 0x8848:
            # MPLS label stack: 4 bytes each until the bottom-of-stack bit.
            while True:
                if p + 4 > end:
                    return "truncated-link"
                bos = buf[p + 2] & 1
                p += 4
                if bos:
                    break
            if p >= end:
                return "truncated-link"
            ver = buf[p] >> 4
            ip = p
            if ver != 4 and ver != 6:
                return "mpls-not-ip"
        elif etype <= 1500:
            # IEEE 802.3: a length, not a type; an 802.2 LLC header follows, and IP rides
            # in SNAP (RFC 1042: AA AA 03, OUI 00-00-00, then the ethertype).
            if p + 8 > end:
                return "truncated-link"
            llc, oui, etype = _SNAP(buf, p)
            if llc != _LLC_SNAP or oui != 0:
                return "not-ip"  # other LLC users: spanning tree, NetBIOS, IPX, ...
            ip = p + 8
            if etype == 0x0800:
                ver = 4
            elif etype == 0x86DD:
                ver = 6
            else:
                return "not-ip"
        else:
            return "not-ip"
    elif framing == LINUX_SLL or framing == LINUX_SLL2:
        if framing == LINUX_SLL:
            if off + 16 > end:
                return "truncated-link"
            etype = _H(buf, off + 14)[0]
            ip = off + 16
        else:
            if off + 20 > end:
                return "truncated-link"
            etype = _H(buf, off)[0]
            ip = off + 20
        if etype == 0x0800:
            ver = 4
        elif etype == 0x86DD:
            ver = 6
        else:
            return "not-ip"
    elif framing == BSD_LOOPBACK:
        if off + 4 > end:
            return "truncated-link"
        fam = _I_LE(buf, off)[0]
        if fam > 0xFFFF:
            fam = _I_BE(buf, off)[0]
        ip = off + 4
        if fam == 2:
            ver = 4
        elif fam in _NULL_FAMILIES_V6:
            ver = 6
        else:
            return "not-ip"
    elif framing == RAW_IP:
        if off >= end:
            return "truncated-link"
        ip = off
        ver = buf[off] >> 4
        if ver != 4 and ver != 6:
            return "not-ip"
    elif framing == NFLOG:
        r = _nflog_payload(buf, off, end)
        if r is None:
            return "nflog-no-payload"
        ip, end = r
        ver = buf[ip] >> 4
        if ver != 4 and ver != 6:
            return "not-ip"
    else:
        return f"linktype-{linktype}"

    # ---- IP
    if ver == 4:
        if ip + 20 > end:
            return "truncated-ip"
        vihl, total, frag, _ttl, proto = _IPV4(buf, ip)
        if vihl >> 4 != 4:
            return "bad-ip-header"
        ihl = (vihl & 0x0F) * 4
        if ihl < 20:
            return "bad-ip-header"
        if frag & 0x3FFF:
            return "ip-fragment"
        if proto != 6:
            if proto == 17 or proto == 47:
                lim = ip + total if total >= ihl else end
                return _tunnel(buf, ip + ihl, lim if lim < end else end, proto, depth)
            return "not-tcp"
        t = ip + ihl
        ip_end = ip + total
        if total < ihl:
            # TSO/GRO captures on the sending host write 0 here; trust the frame.
            if total != 0:
                return "bad-ip-header"
            ip_end = end
        key_a = buf[ip + 12 : ip + 20]
    else:
        if ip + 40 > end:
            return "truncated-ip"
        if buf[ip] >> 4 != 6:
            return "bad-ip-header"
        plen = _H(buf, ip + 4)[0]
        nxt = buf[ip + 6]
        t = ip + 40
        ip_end = t + plen if plen else end
        while nxt != 6:
            if nxt in _IPV6_EXT:
                if t + 8 > end:
                    return "truncated-ip"
                nxt = buf[t]
                t += (buf[t + 1] + 1) * 8
            elif nxt == 44:
                return "ip-fragment"
            elif nxt == 51:  # AH: length in 4-octet units minus 2
                if t + 8 > end:
                    return "truncated-ip"
                nxt = buf[t]
                t += (buf[t + 1] + 2) * 4
            elif nxt == 17 or nxt == 47:
                return _tunnel(buf, t, min(ip_end, end), nxt, depth)
            else:
                return "not-tcp"
        key_a = buf[ip + 8 : ip + 40]

    # ---- TCP (RFC 9293 §3.1)
    if t + 20 > end:
        return "truncated-tcp"
    seq, ack, doff, flags = _TCP(buf, t + 4)
    hl = (doff >> 4) * 4
    if hl < 20:
        return "bad-tcp-header"
    ps = t + hl
    seglen = ip_end - ps
    if seglen < 0:
        return "bad-tcp-header"
    pe = ip_end if ip_end < end else end
    if pe < ps:
        pe = ps
    return (key_a + buf[t : t + 4], seq, ack, flags, ps, pe, seglen)


MAX_TUNNEL_DEPTH: Final = 2  # tunnels inside tunnels beyond this are skipped, not followed


def _tunnel(buf: bytes, p: int, end: int, proto: int, depth: int) -> Decoded | str:
    """Follow the tunnels Zeek decodes by default when they carry TCP: VXLAN (UDP 4789,
    RFC 7348), AYIYA (UDP 5072), Teredo (UDP 3544 or unmistakable on any port, RFC 4380),
    GRE (RFC 2784/2890), GRE-in-UDP (UDP destination port 4754, RFC 8086) and GTP-U (UDP
    2152, 3GPP TS 29.281). The connection is the inner one; anything else is counted as
    ``udp`` / ``not-tcp``."""
    if depth >= MAX_TUNNEL_DEPTH:
        return "tunnel-too-deep"
    if proto == 47:
        if p + 4 > end:
            return "truncated-gre"
        fl, ptype = _GRE(buf, p)
        if fl & 0x0007:  # versions other than 0 (PPTP's enhanced GRE is version 1)
            return "gre-not-ip"
        q = p + 4 + (4 if fl & 0x8000 else 0) + (4 if fl & 0x2000 else 0) + (
            4 if fl & 0x1000 else 0
        )
        if ptype == 0x6558:
            return decode(buf, q, end - q, 1, depth + 1)
        if ptype == 0x0800 or ptype == 0x86DD:
            return decode(buf, q, end - q, 101, depth + 1)
        return "gre-not-ip"
    if p + 8 > end:
        return "truncated-udp"
    sport, dport, ulen = _UDP(buf, p)
    u = p + 8
    if dport == VXLAN_PORT or sport == VXLAN_PORT:
        if u + 8 <= end and buf[u] & 0x08:  # VXLAN "I" flag: a valid VNI follows
            return decode(buf, u + 8, end - u - 8, 1, depth + 1)
    elif dport == AYIYA_PORT or sport == AYIYA_PORT:
        if u + 8 <= end:
            hl = 8 + (1 << (buf[u] >> 4)) + (buf[u + 1] >> 4) * 4
            nxt = buf[u + 3]
            if (nxt == 41 or nxt == 4) and u + hl < end:
                return decode(buf, u + hl, end - u - hl, 101, depth + 1)
    elif dport == TEREDO_PORT or sport == TEREDO_PORT:
        return _teredo(buf, u, end, -1, depth)
    elif dport == GRE_IN_UDP_PORT:  # the source port is flow entropy (RFC 8086)
        return _tunnel(buf, u, end, 47, depth)
    elif dport == GTP_U_PORT or sport == GTP_U_PORT:
        return _gtp_u(buf, u, end, depth)
    else:
        # Teredo relays and clients talk from ports of their own (RFC 4380), so
        # Teredo is looked for on any port; what decides there is a strict check.
        return _teredo(buf, u, end, p + ulen, depth)
    return "udp"


def _teredo(buf: bytes, q: int, end: int, udp_end: int, depth: int) -> Decoded | str:
    """Teredo (RFC 4380): IPv6 in UDP after an optional authentication indicator
    and origin indication. On the Teredo server port (``udp_end`` < 0) a payload that
    starts like IPv6 is followed; on any other port only an unmistakable one: its IPv6
    payload length fills the UDP payload (which ends at ``udp_end``) exactly and one of
    its addresses is a Teredo address (2001::/32)."""
    if q + 2 <= end and buf[q] == 0 and buf[q + 1] == 1:  # authentication indicator
        if q + 4 > end:
            return "udp"
        q += 13 + buf[q + 2] + buf[q + 3]
    if q + 2 <= end and buf[q] == 0 and buf[q + 1] == 0:  # origin indication
        q += 8
    if q >= end or buf[q] >> 4 != 6:
        return "udp"
    if udp_end >= 0:
        if q + 40 > end:
            return "udp"
        _vtc, plen, src, dst = _TEREDO_IPV6(buf, q)
        if q + 40 + plen != udp_end or (src != _TEREDO_PREFIX and dst != _TEREDO_PREFIX):
            return "udp"
    return decode(buf, q, end - q, 229, depth + 1)


def _gtp_u(buf: bytes, g: int, end: int, depth: int) -> Decoded | str:
    """GTPv1-U (3GPP TS 29.281 §5): an 8-byte header (flags, message type, length, TEID);
    when E, S or PN is set, 4 more bytes (sequence number, N-PDU number, next extension
    header type) and, with E, a chain of extension headers, each a length in 4-octet
    units, its content and the next type (0: none). A G-PDU (type 0xFF) carries the user's
    IPv4 or IPv6 packet; the other types are signalling (echo, error indication, end
    marker) and count as ``udp``, as does GTP' (PT 0) or another version."""
    if g + 8 > end:
        return "truncated-gtp"
    flags, mtype, length = _GTP(buf, g)
    if flags >> 5 != 1 or not flags & 0x10 or mtype != _GTP_G_PDU:
        return "udp"
    q = g + 8
    if q + length < end:  # the length counts everything after the first 8 bytes
        end = q + length
    if flags & 0x07:
        if q + 4 > end:
            return "truncated-gtp"
        nxt = buf[q + 3] if flags & 0x04 else 0  # read only with E (§5.1)
        q += 4
        while nxt:
            if q >= end:
                return "truncated-gtp"
            n = buf[q] * 4
            if n == 0:
                return "bad-gtp-header"
            if q + n > end:
                return "truncated-gtp"
            nxt = buf[q + n - 1]
            q += n
    if q >= end:
        return "truncated-gtp"
    ver = buf[q] >> 4
    if ver != 4 and ver != 6:
        return "not-ip"
    return decode(buf, q, end - q, 101, depth + 1)


def reverse_key(key: bytes) -> bytes:
    """The flow key of the other direction: swap addresses and ports."""
    if len(key) == 12:
        return key[4:8] + key[0:4] + key[10:12] + key[8:10]
    return key[16:32] + key[0:16] + key[34:36] + key[32:34]


def _nflog_payload(buf: bytes, off: int, end: int) -> tuple[int, int] | None:
    """Find the NFULA_PAYLOAD TLV of an NFLOG frame (TLV lengths little-endian, 4-padded)."""
    p = off + 4
    while p + 4 <= end:
        tlen, ttype = _NFLOG_TLV(buf, p)
        if tlen < 4:
            return None
        if ttype == 9:
            s = p + 4
            e = p + tlen
            if e > end:
                e = end
            return (s, e) if s < e else None
        p += (tlen + 3) & ~3
    return None


def endpoint(key: bytes, second: bool) -> str:
    """Format one side of a flow key as ``10.0.0.1:80`` or ``[::1]:80``."""
    if len(key) == 12:
        a = key[4:8] if second else key[0:4]
        port = (key[10] << 8 | key[11]) if second else (key[8] << 8 | key[9])
        return f"{a[0]}.{a[1]}.{a[2]}.{a[3]}:{port}"
    raw = key[16:32] if second else key[0:16]
    port = (key[34] << 8 | key[35]) if second else (key[32] << 8 | key[33])
    text = _v6_text.get(raw)
    if text is None:
        import ipaddress

        text = ipaddress.IPv6Address(raw).compressed
        if len(_v6_text) < 65536:
            _v6_text[raw] = text
    return f"[{text}]:{port}"


_v6_text: dict[bytes, str] = {}  # IPv6 address → its text (ipaddress is slow; few repeat)
