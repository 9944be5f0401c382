"""Small builders for test inputs: frames, capture files and TCP conversations.

Standard library only, so a reader can see every byte a test feeds in. Three layers:

* **frames** — :func:`tcp`, :func:`udp`, :func:`ipv4`, :func:`ipv6` build packets; the link
  builders (:func:`ethernet`, :func:`sll`, :func:`sll2`, :func:`null`, :func:`nflog`,
  :func:`ppp`, :func:`pppoe`, :func:`pppoe_ethernet`, :func:`cisco_hdlc`, …) wrap an IP
  packet, and :func:`link` does it by link-type number; tunnel headers (:func:`gre`,
  :func:`erspan2`, :func:`erspan3`, :func:`geneve`, :func:`vxlan_gpe`) go in front of a
  frame or packet; :func:`fragments`, :func:`ipv4_fragment`, :func:`ipv6_fragment` cut an
  IP packet into fragments.
* **capture files** — :func:`pcap` and :func:`pcapng` (with the block builders :func:`shb`,
  :func:`idb`, :func:`epb`, :func:`spb`, :func:`pb`, :func:`block`) return file bytes;
  :func:`write` puts them on disk, optionally gzip-compressed.
* **conversations** — :class:`Conversation` is a client and a server exchanging bytes
  over one TCP connection with exact sequence numbers (ISNs chosen by the test), with
  operations to split, reorder, duplicate and drop segments. :func:`records` turns frames
  into the ``(buf, records)`` batch that :meth:`analyzer.core.flows.FlowTable.feed` takes,
  and :func:`run` feeds them and returns the connection records.

TCP and UDP checksums are left 0 (the analyzer does not check them, like tcpdump -K);
IPv4 header checksums are valid.
"""

from __future__ import annotations

import gzip
import ipaddress
import random
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MASK = 0xFFFFFFFF

# link-type numbers (https://www.tcpdump.org/linktypes.html)
LT_NULL, LT_ETHERNET, LT_RAW, LT_LOOP, LT_SLL = 0, 1, 101, 108, 113
LT_IPV4, LT_IPV6, LT_NFLOG, LT_SLL2 = 228, 229, 239, 276
LT_PPP, LT_PPP_HDLC, LT_PPP_ETHER, LT_C_HDLC = 9, 50, 51, 104

Timestamp = float | tuple[int, int]
"""A packet time: float epoch seconds, or exact ``(seconds, nanoseconds)``."""


# ---------------------------------------------------------------------------- IP / TCP
def _addr(a: str) -> bytes:
    return ipaddress.ip_address(a).packed


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp(
    sport: int,
    dport: int,
    seq: int,
    ack: int = 0,
    flags: int = ACK,
    payload: bytes = b"",
    *,
    options: bytes = b"",
    window: int = 65535,
) -> bytes:
    """A TCP segment (RFC 9293 §3.1); ``options`` are padded to a multiple of 4 bytes with
    zeros (end-of-option-list), as the data offset counts 32-bit words."""
    options += b"\0" * (-len(options) % 4)
    hl = 20 + len(options)
    return (
        struct.pack(
            "!HHIIBBHHH",
            sport,
            dport,
            seq & MASK,
            ack & MASK,
            (hl // 4) << 4,
            flags,
            window,
            0,
            0,
        )
        + options
        + payload
    )


def udp(sport: int, dport: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def ipv4(
    src: str,
    dst: str,
    payload: bytes,
    *,
    proto: int = 6,
    options: bytes = b"",
    ident: int = 1,
    frag: int = 0x4000,  # DF, offset 0
    ttl: int = 64,
    total: int | None = None,
) -> bytes:
    """An IPv4 packet (RFC 791); ``frag`` is the flags+offset field, ``total`` overrides the
    total length (0 is what TSO captures show)."""
    options += b"\0" * (-len(options) % 4)
    ihl = 20 + len(options)
    tot = ihl + len(payload) if total is None else total
    hdr = (
        struct.pack(
            "!BBHHHBBH4s4s",
            0x40 | ihl // 4,
            0,
            tot,
            ident,
            frag,
            ttl,
            proto,
            0,
            _addr(src),
            _addr(dst),
        )
        + options
    )
    hdr = hdr[:10] + struct.pack("!H", _checksum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6_ext(kind: int, body: bytes = b"") -> tuple[int, bytes]:
    """An IPv6 extension header (kind, body without next-header/length bytes); see :func:`ipv6`."""
    return (kind, body)


def ipv6(
    src: str,
    dst: str,
    payload: bytes,
    *,
    nxt: int = 6,
    ext: Sequence[tuple[int, bytes]] = (),
    hop_limit: int = 64,
    plen: int | None = None,
) -> bytes:
    """An IPv6 packet (RFC 8200) with extension headers ``ext`` chained in order before the
    upper layer ``nxt``. Hop-by-hop (0), routing (43), destination options (60) use 8-octet
    length units; the fragment header (44) is 8 bytes; AH (51) uses 4-octet units."""
    chain = b""
    kinds = [k for k, _ in ext] + [nxt]
    for i, (kind, body) in enumerate(ext):
        following = kinds[i + 1]
        if kind == 44:
            body = (body + b"\0" * 6)[:6]
            chain += bytes([following, 0]) + body
        elif kind == 51:
            body += b"\0" * (-(len(body) + 2) % 4)
            total = len(body) + 2
            chain += bytes([following, total // 4 - 2]) + body
        else:
            body += b"\0" * (-(len(body) + 2) % 8)
            total = len(body) + 2
            chain += bytes([following, total // 8 - 1]) + body
    first = kinds[0]
    body = chain + payload
    ln = len(body) if plen is None else plen
    return struct.pack("!IHBB16s16s", 6 << 28, ln, first, hop_limit, _addr(src), _addr(dst)) + body


def ip_packet(src: str, dst: str, payload: bytes, proto: int = 6) -> bytes:
    """IPv4 or IPv6, chosen by the address family."""
    if ":" in src:
        return ipv6(src, dst, payload, nxt=proto)
    return ipv4(src, dst, payload, proto=proto)


def arp() -> bytes:
    """An ARP request body (ethertype 0x0806)."""
    return struct.pack(
        "!HHBBH6s4s6s4s",
        1,
        0x0800,
        6,
        4,
        1,
        b"\x02" * 6,
        bytes([10, 0, 0, 1]),
        b"\0" * 6,
        bytes([10, 0, 0, 2]),
    )


# ---------------------------------------------------------------------------- link layers
def _ethertype(ip: bytes) -> int:
    return 0x86DD if ip and ip[0] >> 4 == 6 else 0x0800


def ethernet(
    ip: bytes,
    *,
    vlans: Sequence[int] = (),
    qinq: bool = False,
    mpls: int = 0,
    etype: int | None = None,
    pad_to: int = 0,
) -> bytes:
    """Ethernet II; ``vlans`` are 802.1Q tags outermost first (with ``qinq`` the outer one
    uses TPID 0x88A8), ``mpls`` that many MPLS labels (bottom-of-stack on the last)."""
    f = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"
    for i, vid in enumerate(vlans):
        tpid = 0x88A8 if qinq and i == 0 and len(vlans) > 1 else 0x8100
        f += struct.pack("!HH", tpid, vid & 0x0FFF)
    if mpls:
        f += struct.pack("!H", 0x8847)
        for i in range(mpls):
            bos = 1 if i == mpls - 1 else 0
            f += struct.pack("!I", (100 + i) << 12 | bos << 8 | 64)
    else:
        f += struct.pack("!H", _ethertype(ip) if etype is None else etype)
    f += ip
    if len(f) < pad_to:
        f += b"\0" * (pad_to - len(f))
    return f


def sll(ip: bytes, etype: int | None = None) -> bytes:
    """Linux cooked capture v1 (16-byte header, protocol at offset 14)."""
    return (
        struct.pack("!HHH8sH", 0, 772, 6, b"\0" * 8, _ethertype(ip) if etype is None else etype)
        + ip
    )


def sll2(ip: bytes, etype: int | None = None) -> bytes:
    """Linux cooked capture v2 (20-byte header, protocol at offset 0)."""
    return (
        struct.pack(
            "!HHIHBB8s", _ethertype(ip) if etype is None else etype, 0, 1, 772, 0, 6, b"\0" * 8
        )
        + ip
    )


def null(ip: bytes, order: str = "<", family: int | None = None) -> bytes:
    """BSD loopback: a 4-byte address family in the writer's byte order (``<`` or ``>``).
    IPv6 uses 30 (macOS) unless ``family`` says otherwise."""
    if family is None:
        family = 30 if ip and ip[0] >> 4 == 6 else 2
    return struct.pack(order + "I", family) + ip


def nflog(ip: bytes) -> bytes:
    """NFLOG: a 4-byte header, then TLVs (little-endian length/type, 4-padded); the packet
    is the NFULA_PAYLOAD TLV (type 9), after a prefix TLV (type 10)."""

    def tlv(t: int, v: bytes) -> bytes:
        raw = struct.pack("<HH", 4 + len(v), t) + v
        return raw + b"\0" * (-len(raw) % 4)

    return b"\x02\x00\x00\x00" + tlv(1, b"\x08\x00\x03\x00") + tlv(10, b"pfx\0") + tlv(9, ip)


def ppp(
    ip: bytes, *, hdlc: bool = False, proto: int | None = None, compressed: bool = False
) -> bytes:
    """PPP (RFC 1661 §2): the protocol field (0x0021 IPv4, 0x0057 IPv6 by the packet's
    version; one byte when ``compressed``, §6.5), after the RFC 1662 address and control
    bytes FF 03 when ``hdlc``."""
    if proto is None:
        proto = 0x0057 if ip and ip[0] >> 4 == 6 else 0x0021
    field = bytes([proto]) if compressed else struct.pack("!H", proto)
    return (b"\xff\x03" if hdlc else b"") + field + ip


def pppoe(ip: bytes, *, code: int = 0, session: int = 0x1234, **ppp_kw: Any) -> bytes:
    """A PPPoE session-stage header (RFC 2516 §4: version/type 0x11, code, session ID,
    length) and the PPP frame (without FF 03) carrying ``ip``."""
    body = ppp(ip, **ppp_kw)
    return struct.pack("!BBHH", 0x11, code, session, len(body)) + body


def pppoe_ethernet(ip: bytes, *, pad_to: int = 0, vlans: Sequence[int] = (), **kw: Any) -> bytes:
    """Ethernet (Ethertype 0x8864) carrying a PPPoE session frame of ``ip``."""
    return ethernet(pppoe(ip, **kw), etype=0x8864, pad_to=pad_to, vlans=vlans)


def cisco_hdlc(ip: bytes, *, address: int = 0x0F, etype: int | None = None) -> bytes:
    """Cisco HDLC: address (0x0F unicast, 0x8F broadcast), control 0, an Ethertype."""
    return struct.pack("!BBH", address, 0, _ethertype(ip) if etype is None else etype) + ip


def gre(payload: bytes, ptype: int, *, key: int | None = None, seq: int | None = None) -> bytes:
    """A GRE header (RFC 2784/2890) with the optional key and sequence number, and
    ``payload``."""
    flags = (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
    out = struct.pack("!HH", flags, ptype)
    if key is not None:
        out += struct.pack("!I", key)
    if seq is not None:
        out += struct.pack("!I", seq)
    return out + payload


def erspan2(frame: bytes, *, session: int = 5, index: int = 0, seq: int = 1) -> bytes:
    """GRE (protocol 0x88BE, sequence number set) + an ERSPAN type II header (version 1,
    VLAN 0, session ID, index) + the mirrored Ethernet ``frame``."""
    hdr = struct.pack("!HHI", 1 << 12, session & 0x3FF, index & 0xFFFFF)
    return gre(hdr + frame, 0x88BE, seq=seq)


def erspan3(
    frame: bytes, *, session: int = 5, platform: bool = False, ft: int = 0, seq: int = 1
) -> bytes:
    """GRE (protocol 0x22EB) + an ERSPAN type III header (version 2, session ID,
    timestamp, SGT, frame type ``ft``, O flag with an 8-byte platform-specific subheader
    when ``platform``) + ``frame``."""
    word3 = (ft & 0x1F) << 10 | (1 if platform else 0)  # P, FT, HW ID, D, Gra, O
    hdr = struct.pack("!HHIHH", 2 << 12, session & 0x3FF, 0x01020304, 0xABCD, word3)
    if platform:
        hdr += struct.pack("!II", 3 << 26, 0x55667788)  # platform ID 3 and its data
    return gre(hdr + frame, 0x22EB, seq=seq)


def geneve(inner: bytes, *, ptype: int = 0x6558, options: bytes = b"", vni: int = 77) -> bytes:
    """A Geneve header (RFC 8926 §3.4: version 0, options length in 4-byte words, protocol
    type, VNI) with ``options`` (padded to 4), then ``inner``."""
    options += b"\0" * (-len(options) % 4)
    return struct.pack("!BBHI", len(options) // 4, 0, ptype, vni << 8) + options + inner


def vxlan_gpe(inner: bytes, next_proto: int, *, vni: int = 9) -> bytes:
    """A VXLAN-GPE header (flags I and P, next protocol: 1 IPv4, 2 IPv6, 3 Ethernet)."""
    return struct.pack("!BBBBI", 0x0C, 0, 0, next_proto, vni << 8) + inner


def ipv4_fragment(
    src: str, dst: str, data: bytes, offset: int, more: bool, *, ident: int = 0x4242,
    proto: int = 6,
) -> bytes:
    """One IPv4 fragment (RFC 791): ``data`` at byte ``offset`` (a multiple of 8) of the
    datagram's payload; ``more`` sets MF."""
    assert offset % 8 == 0
    return ipv4(src, dst, data, proto=proto, ident=ident,
                frag=(0x2000 if more else 0) | offset // 8)


def ipv6_fragment(
    src: str, dst: str, data: bytes, offset: int, more: bool, *, ident: int = 0x4242,
    nxt: int = 6, ext: Sequence[tuple[int, bytes]] = (),
) -> bytes:
    """One IPv6 fragment (RFC 8200 §4.5): extension headers ``ext`` (the unfragmentable
    part), a Fragment header (offset, M, identification), then ``data`` at byte
    ``offset`` of the fragmentable part."""
    assert offset % 8 == 0
    body = struct.pack("!HI", (offset // 8) << 3 | (1 if more else 0), ident)
    return ipv6(src, dst, data, nxt=nxt, ext=[*ext, (44, body)])


def fragments(
    packet: bytes, cuts: Sequence[int], *, ident: int = 0x4242
) -> list[bytes]:
    """Split an IP packet (IPv4 or IPv6, as :func:`ip_packet` builds it, without
    extension headers) into fragments of its payload at the byte offsets ``cuts``
    (multiples of 8), in order."""
    v6 = packet[0] >> 4 == 6
    hl = 40 if v6 else (packet[0] & 0x0F) * 4
    payload = packet[hl:]
    proto = packet[6] if v6 else packet[9]
    src = str(ipaddress.ip_address(packet[8:24] if v6 else packet[12:16]))
    dst = str(ipaddress.ip_address(packet[24:40] if v6 else packet[16:20]))
    bounds = [0, *cuts, len(payload)]
    out = []
    for a, z in zip(bounds[:-1], bounds[1:], strict=True):
        more = z < len(payload)
        if v6:
            out.append(ipv6_fragment(src, dst, payload[a:z], a, more, ident=ident, nxt=proto))
        else:
            out.append(ipv4_fragment(src, dst, payload[a:z], a, more, ident=ident, proto=proto))
    return out


def link(linktype: int, ip: bytes, **kw: Any) -> bytes:
    """Wrap an IP packet for the given link type (kw go to the link builder)."""
    if linktype == LT_ETHERNET:
        return ethernet(ip, **kw)
    if linktype == LT_SLL:
        return sll(ip, **kw)
    if linktype == LT_SLL2:
        return sll2(ip, **kw)
    if linktype == LT_NULL:
        return null(ip, **kw)
    if linktype == LT_LOOP:
        return null(ip, ">", **kw)
    if linktype == LT_NFLOG:
        return nflog(ip)
    if linktype in (12, 14, LT_RAW, LT_IPV4, LT_IPV6):
        return ip
    if linktype == LT_PPP:
        return ppp(ip, **kw)
    if linktype == LT_PPP_HDLC:
        return ppp(ip, hdlc=True, **kw)
    if linktype == LT_PPP_ETHER:
        return pppoe(ip, **kw)
    if linktype == LT_C_HDLC:
        return cisco_hdlc(ip, **kw)
    raise ValueError(f"no builder for link type {linktype}")


# ---------------------------------------------------------------------------- capture files
def _sec_ns(ts: Timestamp) -> tuple[int, int]:
    if isinstance(ts, tuple):
        return ts
    sec = int(ts)
    ns = round((ts - sec) * 1e9)
    if ns >= 1_000_000_000:
        sec, ns = sec + 1, ns - 1_000_000_000
    return sec, ns


def ts_float(ts: Timestamp) -> float:
    sec, ns = _sec_ns(ts)
    return sec + ns / 1e9


Packet = tuple[Any, ...]
"""``(ts, frame)`` or ``(ts, frame, wirelen)``; for pcapng also ``(ts, frame, wirelen, iface)``."""


def pcap(
    packets: Iterable[Packet],
    linktype: int = LT_ETHERNET,
    *,
    order: str = "<",
    nsec: bool = False,
    snaplen: int = 262144,
) -> bytes:
    """A classic pcap file; frames longer than ``snaplen`` are cut (wire length kept)."""
    magic = 0xA1B23C4D if nsec else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for p in packets:
        ts, frame = p[0], p[1]
        wire = p[2] if len(p) > 2 and p[2] is not None else len(frame)
        frame = frame[:snaplen]
        sec, ns = _sec_ns(ts)
        frac = ns if nsec else ns // 1000
        out.append(struct.pack(order + "IIII", sec, frac, len(frame), wire) + frame)
    return b"".join(out)


def block(btype: int, body: bytes, order: str = "<") -> bytes:
    """A pcapng block: type, total length, body (padded to 4), total length again."""
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def _option(code: int, value: bytes, order: str) -> bytes:
    raw = struct.pack(order + "HH", code, len(value)) + value
    return raw + b"\0" * (-len(raw) % 4)


def shb(order: str = "<") -> bytes:
    body = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    body += _option(4, b"keepalive-analyzer tests", order) + _option(0, b"", order)
    return block(0x0A0D0D0A, body, order)


def idb(
    linktype: int,
    *,
    tsresol: int | None = None,
    tsoffset: int | None = None,
    snaplen: int = 0,
    order: str = "<",
) -> bytes:
    """An interface description block; ``tsresol`` is the raw if_tsresol byte (6 = µs,
    9 = ns, 0x80|n = 2**-n), ``tsoffset`` the if_tsoffset seconds."""
    body = struct.pack(order + "HHI", linktype, 0, snaplen)
    body += _option(2, b"eth0", order)
    if tsresol is not None:
        body += _option(9, bytes([tsresol]), order)
    if tsoffset is not None:
        body += _option(14, struct.pack(order + "q", tsoffset), order)
    body += _option(0, b"", order)
    return block(1, body, order)


def _units(ts: Timestamp, tsresol: int | None, tsoffset: int = 0) -> int:
    sec, ns = _sec_ns(ts)
    sec -= tsoffset
    r = 6 if tsresol is None else tsresol
    if r & 0x80:
        per = 1 << (r & 0x7F)
        return sec * per + ns * per // 1_000_000_000
    per = 10**r
    return sec * per + ns * per // 1_000_000_000


def epb(
    iface: int,
    ts: Timestamp,
    frame: bytes,
    wirelen: int | None = None,
    *,
    tsresol: int | None = None,
    tsoffset: int = 0,
    order: str = "<",
) -> bytes:
    u = _units(ts, tsresol, tsoffset)
    body = struct.pack(
        order + "IIIII",
        iface,
        u >> 32,
        u & MASK,
        len(frame),
        len(frame) if wirelen is None else wirelen,
    )
    return block(6, body + frame, order)


def pb(
    iface: int,
    ts: Timestamp,
    frame: bytes,
    wirelen: int | None = None,
    *,
    tsresol: int | None = None,
    order: str = "<",
) -> bytes:
    """The obsolete Packet Block (type 2): 16-bit interface id and drop count."""
    u = _units(ts, tsresol)
    body = struct.pack(
        order + "HHIIII",
        iface,
        0,
        u >> 32,
        u & MASK,
        len(frame),
        len(frame) if wirelen is None else wirelen,
    )
    return block(2, body + frame, order)


def spb(frame: bytes, wirelen: int | None = None, *, order: str = "<") -> bytes:
    """A Simple Packet Block (type 3): interface 0, no timestamp."""
    return block(
        3, struct.pack(order + "I", len(frame) if wirelen is None else wirelen) + frame, order
    )


def pcapng(
    packets: Iterable[Packet],
    interfaces: Sequence[tuple[int, int | None]] = ((LT_ETHERNET, None),),
    *,
    order: str = "<",
    kind: str = "epb",
    unknown_block: bool = False,
    snaplen: int = 0,
) -> bytes:
    """A pcapng file: one section, the given interfaces ``(linktype, tsresol)``, one block
    per packet of ``kind`` (``epb``, ``pb`` or ``spb``); a packet's fourth element picks its
    interface. ``unknown_block`` puts a block of an unassigned type before every packet."""
    out = [shb(order)]
    for lt, res in interfaces:
        out.append(idb(lt, tsresol=res, order=order, snaplen=snaplen))
    for p in packets:
        ts, frame = p[0], p[1]
        wire = p[2] if len(p) > 2 else None
        iface = p[3] if len(p) > 3 else 0
        if snaplen and len(frame) > snaplen:
            wire = len(frame) if wire is None else wire
            frame = frame[:snaplen]
        if unknown_block:
            out.append(block(0x0BAD0001, b"ignore me", order))
        res = interfaces[iface][1]
        if kind == "epb":
            out.append(epb(iface, ts, frame, wire, tsresol=res, order=order))
        elif kind == "pb":
            out.append(pb(iface, ts, frame, wire, tsresol=res, order=order))
        elif kind == "spb":
            out.append(spb(frame, wire, order=order))
        else:
            raise ValueError(kind)
    return b"".join(out)


def write(path: str | Path, data: bytes, gz: bool = False) -> str:
    """Write capture bytes to ``path`` (gzip-compressed when ``gz``); returns the path."""
    Path(path).write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return str(path)


# ---------------------------------------------------------------------------- conversations
@dataclass
class Segment:
    """One TCP segment of a :class:`Conversation` (side 0: client → server)."""

    side: int
    seq: int  # raw 32-bit sequence number
    ack: int  # raw 32-bit acknowledgment number (0 without ACK)
    flags: int
    payload: bytes
    ts: float
    rel: int  # sequence offset from the sender's ISN (SYN = 0), never wrapped
    ack_rel: int  # peer's sequence offset this segment acknowledges (-1: no ACK)
    uid: int  # identity of the original segment; duplicates share it

    @property
    def span(self) -> int:
        """Sequence space the segment occupies: payload, plus 1 for SYN and for FIN."""
        return len(self.payload) + (1 if self.flags & SYN else 0) + (1 if self.flags & FIN else 0)


class Conversation:
    """A client and a server talking over one TCP connection, segment by segment.

    Every segment acknowledges everything the peer has sent so far (the receiver model of
    the captures in ``captures/``). Build it with :meth:`handshake`, :meth:`send`
    (:meth:`request`, :meth:`response`), :meth:`fin`/:meth:`close`, :meth:`rst`; then
    damage it with :meth:`split`, :meth:`reorder`, :meth:`duplicate`, :meth:`drop`,
    :meth:`shuffle`; take :meth:`frames` out.
    """

    def __init__(
        self,
        client: tuple[str, int] = ("10.0.0.1", 51234),
        server: tuple[str, int] = ("10.0.0.2", 80),
        *,
        client_isn: int = 1000,
        server_isn: int = 5_000_000,
        t0: float = 1_700_000_000.0,
        dt: float = 0.001,
    ) -> None:
        self.ends = (client, server)
        self.isn = [client_isn & MASK, server_isn & MASK]
        self.nxt = [0, 0]  # next relative sequence offset per side
        self.started = [False, False]
        self.segments: list[Segment] = []
        self.t = t0
        self.dt = dt
        self._uid = 0

    # ---- building
    def emit(self, side: int, flags: int, payload: bytes = b"") -> Segment:
        """Append one segment from ``side`` with the current sequence numbers."""
        peer = 1 - side
        if flags & SYN:
            self.nxt[side] = 0
            self.started[side] = True
        ack_rel = self.nxt[peer] if flags & ACK else -1
        seg = Segment(
            side=side,
            seq=(self.isn[side] + self.nxt[side]) & MASK,
            ack=(self.isn[peer] + self.nxt[peer]) & MASK if flags & ACK else 0,
            flags=flags,
            payload=payload,
            ts=self.t,
            rel=self.nxt[side],
            ack_rel=ack_rel,
            uid=self._uid,
        )
        self._uid += 1
        self.t += self.dt
        self.segments.append(seg)
        self.nxt[side] += seg.span
        return seg

    def handshake(self) -> Conversation:
        self.emit(0, SYN)
        self.emit(1, SYN | ACK)
        self.emit(0, ACK)
        return self

    def mid_stream(self) -> Conversation:
        """Start without a handshake (the capture began mid-way): sequence numbers as if the
        SYNs had been sent, but no SYN segments."""
        self.nxt = [1, 1]
        self.started = [True, True]
        return self

    def send(
        self,
        side: int,
        data: bytes,
        sizes: Sequence[int] | None = None,
        *,
        ack: bool = True,
        mss: int | None = None,
    ) -> Conversation:
        """``data`` from ``side`` in segments of ``sizes`` (the rest in one more segment) or
        of ``mss`` bytes, then (``ack``) a pure ACK from the peer."""
        for piece in _pieces(data, sizes, mss):
            self.emit(side, PSH | ACK, piece)
        if ack:
            self.emit(1 - side, ACK)
        return self

    def request(self, data: bytes, sizes: Sequence[int] | None = None, **kw: Any) -> Conversation:
        return self.send(0, data, sizes, **kw)

    def response(self, data: bytes, sizes: Sequence[int] | None = None, **kw: Any) -> Conversation:
        return self.send(1, data, sizes, **kw)

    def exchange(self, req: bytes, resp: bytes) -> Conversation:
        return self.request(req).response(resp)

    def ack(self, side: int) -> Conversation:
        self.emit(side, ACK)
        return self

    def fin(self, side: int) -> Conversation:
        self.emit(side, FIN | ACK)
        return self

    def close(self, first: int = 0) -> Conversation:
        """Four-way teardown started by ``first`` (RFC 9293 §3.6)."""
        self.emit(first, FIN | ACK)
        self.emit(1 - first, FIN | ACK)
        self.emit(first, ACK)
        return self

    def rst(self, side: int) -> Conversation:
        self.emit(side, RST | ACK)
        return self

    def idle(self, seconds: float) -> Conversation:
        self.t += seconds
        return self

    # ---- damage
    def data_indexes(self, side: int | None = None) -> list[int]:
        return [
            i for i, s in enumerate(self.segments) if s.payload and (side is None or s.side == side)
        ]

    def split(self, i: int, at: int) -> Conversation:
        """Split segment ``i``'s payload after ``at`` bytes into two segments (a FIN stays on
        the second)."""
        s = self.segments[i]
        assert 0 < at < len(s.payload), "split inside the payload"
        a = replace(s, payload=s.payload[:at], flags=s.flags & ~FIN)
        b = replace(
            s, payload=s.payload[at:], seq=(s.seq + at) & MASK, rel=s.rel + at, uid=self._uid
        )
        self._uid += 1
        self.segments[i : i + 1] = [a, b]
        return self

    def reorder(self, order: Sequence[int]) -> Conversation:
        """Put the segments in this order (indexes into the current list; every index once)."""
        assert sorted(order) == list(range(len(self.segments))), "a permutation"
        self.segments = [self.segments[j] for j in order]
        return self

    def swap(self, i: int, j: int) -> Conversation:
        s = self.segments
        s[i], s[j] = s[j], s[i]
        return self

    def duplicate(self, i: int, to: int | None = None) -> Conversation:
        """Insert a copy of segment ``i`` (a retransmission) at ``to`` (default: right after)."""
        self.segments.insert(i + 1 if to is None else to, replace(self.segments[i]))
        return self

    def drop(self, i: int) -> Conversation:
        """Remove segment ``i`` from the capture (capture loss: the peer still got it)."""
        del self.segments[i]
        return self

    def shuffle(self, rnd: random.Random, duplicates: int = 0) -> Conversation:
        """A random capture order that keeps causality: a segment appears only after every
        peer segment it acknowledges (so reordering never looks like loss). ``duplicates``
        random segments are also sent twice."""
        segs = list(self.segments)
        for _ in range(duplicates):
            segs.append(replace(rnd.choice(segs)))
        occupied = [(s.uid, s.side, s.rel) for s in self.segments if s.span]
        deps = []
        for s in segs:
            deps.append({uid for uid, side, rel in occupied if side != s.side and rel < s.ack_rel})
        seen: set[int] = set()
        out: list[Segment] = []
        left = list(range(len(segs)))
        while left:
            ready = [k for k in left if deps[k] <= seen]
            k = rnd.choice(ready)
            left.remove(k)
            out.append(segs[k])
            seen.add(segs[k].uid)
        self.segments = out
        return self

    # ---- output
    def frames(self, linktype: int = LT_ETHERNET, **link_kw: Any) -> list[tuple[float, bytes]]:
        """``(ts, frame)`` in list order; timestamps made strictly increasing."""
        out: list[tuple[float, bytes]] = []
        last = float("-inf")
        for s in self.segments:
            ts = s.ts if s.ts > last else last + 1e-6
            last = ts
            (csrc, cport), (ssrc, sport) = self.ends
            if s.side == 0:
                src, sp, dst, dp = csrc, cport, ssrc, sport
            else:
                src, sp, dst, dp = ssrc, sport, csrc, cport
            seg = tcp(sp, dp, s.seq, s.ack, s.flags, s.payload)
            out.append((ts, link(linktype, ip_packet(src, dst, seg), **link_kw)))
        return out


def _pieces(data: bytes, sizes: Sequence[int] | None, mss: int | None) -> list[bytes]:
    if mss:
        return [data[i : i + mss] for i in range(0, len(data), mss)] or []
    out = []
    p = 0
    for n in sizes or ():
        if p >= len(data):
            break
        out.append(data[p : p + n])
        p += n
    if p < len(data):
        out.append(data[p:])
    return out


def merge(*frame_lists: Sequence[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """Interleave several conversations' frames by timestamp (stable)."""
    return sorted((f for fl in frame_lists for f in fl), key=lambda f: f[0])


# ---------------------------------------------------------------------------- running
def records(
    frames: Iterable[Packet], linktype: int = LT_ETHERNET, snaplen: int | None = None
) -> tuple[bytes, list[tuple[float, int, int, int, int]]]:
    """One batch for ``FlowTable.feed``: all frames in one buffer (with a few junk bytes
    between them, so a decoder that reads past a frame's end is caught), and the records
    ``(ts, linktype, offset, caplen, wirelen)``."""
    buf = bytearray()
    recs = []
    for p in frames:
        ts, frame = p[0], p[1]
        wire = len(frame)
        cap = frame if snaplen is None else frame[:snaplen]
        buf += b"\xee" * 3
        recs.append((ts_float(ts), linktype, len(buf), len(cap), wire))
        buf += cap
    buf += b"\xee" * 3
    return bytes(buf), recs


def run(
    frames: Iterable[Packet] | Conversation,
    linktype: int = LT_ETHERNET,
    *,
    snaplen: int | None = None,
    batch: int | None = None,
    **table_kw: Any,
) -> list[Any]:
    """Feed frames (or a conversation's frames) to a FlowTable and return its connection
    records; ``batch`` feeds that many packets per call instead of all at once."""
    from analyzer.core.flows import FlowTable

    if isinstance(frames, Conversation):
        frames = frames.frames(linktype)
    frames = list(frames)
    table = FlowTable(capture="t", **table_kw)
    step = batch or max(1, len(frames))
    for i in range(0, len(frames), step):
        buf, recs = records(frames[i : i + step], linktype, snaplen)
        table.feed(buf, recs)
    return table.finish()


def summary(conns: Iterable[Any]) -> list[list[tuple[Any, ...]]]:
    """Per connection, its exchanges as ``(method, target, status, interim)`` — what the
    property tests compare."""
    return [
        [(e.method, e.target, e.status, e.interim_responses) for e in c.exchanges] for c in conns
    ]


def talk(steps: Iterable[tuple[int, bytes]], mode: str = "whole", eof: bool = True) -> Any:
    """Feed HTTP bytes straight to an :class:`analyzer.core.exchanges.Conversation` (no TCP):
    ``steps`` are ``(side, bytes)`` in order (0: client → server). ``mode`` cuts each step:
    ``whole``, ``bytes`` (one byte at a time) or ``split7`` (7-byte pieces). Each piece sits
    in a buffer between junk bytes that must never be read. Both readers get EOF at the end
    when ``eof``."""
    from analyzer.core.exchanges import Conversation as HttpConversation

    conv = HttpConversation()
    readers = (conv.requests_reader, conv.responses_reader)
    ts = 1.0
    for side, data in steps:
        if mode == "bytes":
            pieces = [data[i : i + 1] for i in range(len(data))]
        elif mode == "split7":
            pieces = [data[i : i + 7] for i in range(0, len(data), 7)]
        else:
            pieces = [data] if data else []
        for piece in pieces:
            buf = b"\r\n##" + piece + b"##\r\n"
            readers[side].data(buf, 4, 4 + len(piece), ts)
            ts += 0.001
    if eof:
        conv.requests_reader.eof(ts)
        conv.responses_reader.eof(ts)
    return conv
