"""Link layer → IPv4/IPv6 → TCP fields, for one captured frame.

Theory of operation
-------------------
This is the one decoder: the flow table calls it once per packet — :func:`locate` first,
:func:`decode` for every frame that fast path does not take — so it is written flat: byte
reads or one ``unpack_from`` per header, ints and slices, no objects. :func:`decode`
returns either a tuple of TCP fields or a short string naming why the frame was skipped
(:data:`REASONS` lists them all); skipped frames are counted per reason in
``captures[].skipped`` and are never an error.

The flow key is the raw bytes of source address, destination address, source port and
destination port (sliced straight from the frame): 12 bytes for IPv4, 36 for IPv6. It is
directional; the reverse key is built only when a new flow is created (:func:`reverse_key`).

The common frame has a fast path, :func:`locate`: Ethernet, IPv4 without options or IPv6
with TCP as its first next header. It returns only ints — where the flow key lies in the
frame (for IPv4 without options and for IPv6 the addresses and ports are contiguous), the
TCP fields, where the payload lies — so the packet loop can decide the connection's
partition (:mod:`analyzer.core.partition`) before it slices the key, and compiled (mypyc)
the result is a C struct, not a tuple object. Anything else, or anything odd, is for
:func:`decode`, which gives the same fields for the frames both read
(tests/test_decode.py checks it). Every layer below is in :func:`decode` and its helpers
only: the fast path never pays for them.

The layers, in one place (each bounded by the captured length; a header cut by the
snaplen is a ``truncated-*`` reason, a header that is not what its type says a ``bad-*``
or ``*-not-ip`` reason):

=====================  ===================================================================
link type (framing)    Ethernet (1): 802.1Q/802.1ad tags of any depth, then an Ethertype;
                       IEEE 802.3 with 802.2 LLC/SNAP (RFC 1042). Linux cooked SLL (113),
                       SLL2 (276): an Ethertype. BSD loopback NULL (0), LOOP (108): an
                       address family, either byte order. Raw IP (12, 14, 101), IPv4
                       (228), IPv6 (229). NFLOG (239): the NFULA_PAYLOAD TLV. PPP (9) and
                       PPP_HDLC (50): optional FF 03 (RFC 1662), then a PPP protocol; a
                       first byte 0F/8F is Cisco HDLC (as Wireshark reads both). Cisco HDLC
                       (104): address, control, an Ethertype. PPP_ETHER (51): PPPoE.
Ethertype              0800 IPv4, 86DD IPv6, 8847/8848 MPLS (labels to bottom of stack, then
                       the IP version nibble), 8864 PPPoE session (RFC 2516: 6 bytes, its
                       length bounds the packet, then PPP), 8863 PPPoE discovery
                       (``pppoe-discovery``), anything else ``not-ip``.
PPP protocol           0021 IPv4, 0057 IPv6 (or compressed to one byte, RFC 1661 §6.5);
                       LCP, IPCP and the rest are ``not-ip``.
IP                     IPv4 (options skipped; fragments: see below), IPv6 extension headers
                       walked (hop-by-hop, routing, destination options, AH, mobility,
                       HIP, shim6); an atomic fragment (Fragment header with offset 0 and
                       M 0, RFC 6946) is a whole packet, read through.
GRE (RFC 2784/2890)    protocol 0800/86DD IP, 6558 Ethernet, 88BE ERSPAN type II (8-byte
                       header when GRE's S bit is set; type I, without it, has none), 22EB
                       ERSPAN type III (12 bytes, 8 more when its O flag is set; frame type
                       0 Ethernet, 2 IP). Versions other than 0 are ``gre-not-ip``.
UDP (by port: table    VXLAN 4789 (RFC 7348), VXLAN-GPE 4790 (next protocol 1 IPv4, 2 IPv6,
:data:`UDP_TUNNELS`)   3 Ethernet), Geneve 6081 (RFC 8926: 8 bytes + options, protocol
                       6558/0800/86DD), AYIYA 5072, Teredo 3544 (RFC 4380), GRE-in-UDP
                       4754 (destination port only, RFC 8086), GTP-U 2152 (3GPP TS
                       29.281); on any other port Teredo when unmistakable (see
                       :func:`_teredo`), else ``udp``.
=====================  ===================================================================

Tunnels carrying TCP are followed: the connection is the inner one, up to
:data:`MAX_TUNNEL_DEPTH` tunnels deep. IPv4 and IPv6 fragments are ``ip-fragment`` here;
the flow table hands them to :mod:`analyzer.core.fragments`, which finds them with
:func:`fragment` (the same walk, told to stop at the fragment) and reassembles them.
"""

from __future__ import annotations

import struct
from typing import Final

from analyzer.core.linktypes import (
    BSD_LOOPBACK,
    CISCO_HDLC,
    ETHERNET,
    FRAMINGS,
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    LINUX_SLL,
    LINUX_SLL2,
    NFLOG,
    PPPOE,
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
VXLAN_GPE_PORT: Final = 4790  # draft-ietf-nvo3-vxlan-gpe
GENEVE_PORT: Final = 6081  # RFC 8926
AYIYA_PORT: Final = 5072
TEREDO_PORT: Final = 3544  # RFC 4380
GRE_IN_UDP_PORT: Final = 4754  # RFC 8086
GTP_U_PORT: Final = 2152  # 3GPP TS 29.281

# ---- the UDP tunnel table: port → tunnel (the destination port is looked up first)
VXLAN: Final = 1
VXLAN_GPE: Final = 2
GENEVE: Final = 3
AYIYA: Final = 4
TEREDO: Final = 5
GRE_IN_UDP: Final = 6
GTP_U: Final = 7
UDP_TUNNELS: Final[dict[int, int]] = {
    VXLAN_PORT: VXLAN, VXLAN_GPE_PORT: VXLAN_GPE, GENEVE_PORT: GENEVE, AYIYA_PORT: AYIYA,
    TEREDO_PORT: TEREDO, GRE_IN_UDP_PORT: GRE_IN_UDP, GTP_U_PORT: GTP_U,
}
# by source port too, but for GRE-in-UDP: its source port is flow entropy (RFC 8086 §3.2)
_UDP_TUNNELS_BY_SOURCE: Final[dict[int, int]] = {
    port: kind for port, kind in UDP_TUNNELS.items() if kind != GRE_IN_UDP
}

# GRE protocol types (Ethertypes) of the payloads followed
GRE_IPV4: Final = 0x0800
GRE_IPV6: Final = 0x86DD
GRE_ETHERNET: Final = 0x6558  # transparent Ethernet bridging
GRE_ERSPAN_II: Final = 0x88BE  # (type I too: without GRE's sequence number)
GRE_ERSPAN_III: Final = 0x22EB

# BSD AF_INET6 values differ by OS: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
_NULL_FAMILIES_V6 = frozenset({24, 28, 30, 10})

# IPv6 extension headers we walk over (RFC 8200 §4); 44 (fragment) and 51 (AH) apart.
_IPV6_EXT = frozenset({0, 43, 60, 135, 139, 140})

# Every skip reason decode() gives, and what it means ("linktype-N" stands for each N).
REASONS: Final[dict[str, str]] = {
    "linktype-N": "a link type this decoder does not read (pcapng interfaces)",
    "truncated-link": "the link-layer header (or PPPoE, MPLS, LLC/SNAP) cut by the snaplen",
    "not-ip": "a link-layer payload that is not IP (ARP, LLDP, PPP control, ...)",
    "mpls-not-ip": "MPLS whose payload is not IPv4/IPv6 (pseudowires)",
    "pppoe-discovery": "PPPoE discovery stage (PADI/PADO/PADR/PADS/PADT): no IP",
    "bad-pppoe-header": "a PPPoE session header of another version/type or code",
    "nflog-no-payload": "an NFLOG frame without a packet",
    "truncated-ip": "the IP header or its extension headers cut by the snaplen",
    "bad-ip-header": "an IP header that contradicts itself (version, lengths)",
    "ip-fragment": "an IP fragment (reassembled by analyzer.core.fragments when it can)",
    "not-tcp": "IP carrying neither TCP nor a tunnel followed (ICMP, ESP, ...)",
    "udp": "UDP that carries no tunnel followed",
    "truncated-udp": "the UDP header cut by the snaplen",
    "truncated-gre": "the GRE header cut by the snaplen",
    "gre-not-ip": "GRE of another version, or carrying neither IP nor Ethernet nor ERSPAN",
    "truncated-erspan": "the ERSPAN header cut by the snaplen",
    "bad-erspan-header": "an ERSPAN header of another version than its GRE protocol says",
    "truncated-vxlan": "the VXLAN or VXLAN-GPE header cut by the snaplen",
    "truncated-geneve": "the Geneve header or its options cut by the snaplen",
    "tunnel-not-ip": "a tunnel (Geneve, VXLAN-GPE, ERSPAN III) carrying neither IP nor "
                     "Ethernet",
    "truncated-gtp": "the GTP-U header or its extension headers cut by the snaplen",
    "bad-gtp-header": "a GTP-U extension header of length 0",
    "tunnel-too-deep": "tunnels inside tunnels deeper than MAX_TUNNEL_DEPTH",
    "truncated-tcp": "the TCP header cut by the snaplen",
    "bad-tcp-header": "a TCP data offset below 5 words, or beyond the IP packet",
}

Decoded = tuple[bytes, int, int, int, int, int, int]
"""(key, seq, ack, flags, payload_start, payload_end, segment_length)"""

Fragment = tuple[int, int, int, int, int]
"""(version, ip_start, data_or_fragment_header, ip_end, captured_end): see :func:`fragment`"""

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
    frame, and for anything odd in these: :func:`decode` then says what it is. (An IPv6
    atomic fragment is one of those: its Fragment header sits between the addresses and
    the ports, so its key is not contiguous; :func:`decode` reads it.)"""
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


def decode(
    buf: bytes, off: int, caplen: int, linktype: int, depth: int = 0, fragments: bool = False
) -> Decoded | str:
    """Decode one frame ``buf[off:off+caplen]`` of the given link type.

    Returns ``(key, seq, ack, flags, payload_start, payload_end, seglen)`` where
    ``payload_start:payload_end`` is the captured TCP payload inside ``buf`` and ``seglen``
    the payload length the IP header announces (larger when the snaplen cut the frame),
    or a skip reason (:data:`REASONS`). ``depth`` counts the tunnels around the frame;
    ``fragments`` is :func:`fragment`'s (a fragment gives a tuple with an empty key and
    ``seglen`` -1 instead of ``ip-fragment``).
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
            r = _ethertype(buf, p, end, etype)
            if isinstance(r, str):
                return r
            ip, end, ver = r
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
            r = _ethertype(buf, ip, end, etype)
            if isinstance(r, str):
                return r
            ip, end, ver = r
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
        nf = _nflog_payload(buf, off, end)
        if nf is None:
            return "nflog-no-payload"
        ip, end = nf
        ver = buf[ip] >> 4
        if ver != 4 and ver != 6:
            return "not-ip"
    elif framing:  # PPP, Cisco HDLC, PPPoE: the serial links
        r = _serial(buf, off, end, framing)
        if isinstance(r, str):
            return r
        ip, end, ver = r
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
            if fragments:
                return (b"", 4, ip, ip + ihl, ip + total, end, -1)
            return "ip-fragment"
        if proto != 6:
            if proto == 17 or proto == 47:
                lim = ip + total if total >= ihl else end
                return _tunnel(buf, ip + ihl, lim if lim < end else end, proto, depth, fragments)
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
                if t + 8 > end:
                    return "truncated-ip"
                if _H(buf, t + 2)[0] & 0xFFF9:  # offset or M: a fragment
                    if fragments:
                        return (b"", 6, ip, t, ip_end, end, -1)
                    return "ip-fragment"
                # An atomic fragment (RFC 6946): the whole packet, read through.
                nxt = buf[t]
                t += 8
            elif nxt == 51:  # AH: length in 4-octet units minus 2
                if t + 8 > end:
                    return "truncated-ip"
                nxt = buf[t]
                t += (buf[t + 1] + 2) * 4
            elif nxt == 17 or nxt == 47:
                return _tunnel(buf, t, min(ip_end, end), nxt, depth, fragments)
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


def fragment(buf: bytes, off: int, caplen: int, linktype: int) -> Fragment | None:
    """Where the IP fragment in frame ``buf[off:off+caplen]`` lies, found by the walk of
    :func:`decode` (through link layers and tunnels): ``(version, ip, at, ip_end, end)``
    — the IP header starts at ``ip``; ``at`` is where an IPv4 fragment's data starts, or
    where an IPv6 packet's Fragment header is; the IP header announces ``ip_end``, the
    capture holds up to ``end``. None when the frame is not a fragment."""
    r = decode(buf, off, caplen, linktype, 0, True)
    if isinstance(r, str) or r[6] >= 0:
        return None
    return (r[1], r[2], r[3], r[4], r[5])


# ---- what follows an Ethertype or a PPP protocol: (ip, end, version) or a reason
def _ethertype(buf: bytes, p: int, end: int, etype: int) -> tuple[int, int, int] | str:
    """The payload of Ethertype ``etype`` at ``p`` (behind Ethernet, Linux cooked capture,
    Cisco HDLC)."""
    if etype == 0x0800:
        return (p, end, 4)
    if etype == 0x86DD:
        return (p, end, 6)
    if etype == 0x8847 or etype == 0x8848:
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
        if ver != 4 and ver != 6:
            return "mpls-not-ip"
        return (p, end, ver)
    if etype == 0x8864:
        return _pppoe(buf, p, end)
    if etype == 0x8863:
        return "pppoe-discovery"
    return "not-ip"


def _pppoe(buf: bytes, p: int, end: int) -> tuple[int, int, int] | str:
    """A PPPoE session-stage header (RFC 2516 §4: version/type 0x11, code 0, session ID,
    length of the PPP frame), then PPP, bounded by that length (Ethernet pads short
    frames)."""
    if p + 6 > end:
        return "truncated-link"
    if buf[p] != 0x11 or buf[p + 1] != 0:
        return "bad-pppoe-header"
    length = _H(buf, p + 4)[0]
    if length == 0:
        return "bad-pppoe-header"
    q = p + 6
    if q + length < end:
        end = q + length
    return _ppp(buf, q, end)


def _ppp(buf: bytes, p: int, end: int) -> tuple[int, int, int] | str:
    """A PPP protocol field (RFC 1661 §2: two bytes, or one when compressed — an odd
    first byte) and its packet: 0x0021 IPv4, 0x0057 IPv6."""
    if p >= end:
        return "truncated-link"
    proto = buf[p]
    if proto & 1:
        p += 1
    else:
        if p + 2 > end:
            return "truncated-link"
        proto = proto << 8 | buf[p + 1]
        p += 2
    if proto == 0x21:
        return (p, end, 4)
    if proto == 0x57:
        return (p, end, 6)
    return "not-ip"


def _serial(buf: bytes, off: int, end: int, framing: int) -> tuple[int, int, int] | str:
    """The serial-line link types: PPP (9) and PPP_HDLC (50) — PPP, after the RFC 1662
    address and control bytes FF 03 when present, or Cisco HDLC when the first byte is
    its unicast/broadcast address 0F/8F (as Wireshark and tcpdump read both); Cisco HDLC
    (104): address, control, then an Ethertype; PPP_ETHER (51): PPPoE."""
    if framing == PPPOE:
        return _pppoe(buf, off, end)
    if off + 2 > end:
        return "truncated-link"
    a = buf[off]
    if framing == CISCO_HDLC or a == 0x0F or a == 0x8F:
        if off + 4 > end:
            return "truncated-link"
        return _ethertype(buf, off + 4, end, _H(buf, off + 2)[0])
    if a == 0xFF and buf[off + 1] == 0x03:
        return _ppp(buf, off + 2, end)
    return _ppp(buf, off, end)


# ---- tunnels
MAX_TUNNEL_DEPTH: Final = 2  # tunnels inside tunnels beyond this are skipped, not followed


def _tunnel(
    buf: bytes, p: int, end: int, proto: int, depth: int, fragments: bool
) -> Decoded | str:
    """Follow the tunnels that carry TCP (the module docstring's table): GRE (IP protocol
    47) or, in UDP (17), the tunnel the port table :data:`UDP_TUNNELS` names — the
    destination port first. The connection is the inner one; anything else is counted
    as ``udp`` / ``gre-not-ip``."""
    if depth >= MAX_TUNNEL_DEPTH:
        return "tunnel-too-deep"
    if proto == 47:
        return _gre(buf, p, end, depth, fragments)
    if p + 8 > end:
        return "truncated-udp"
    sport, dport, ulen = _UDP(buf, p)
    u = p + 8
    kind = UDP_TUNNELS.get(dport, 0)
    if not kind:
        kind = _UDP_TUNNELS_BY_SOURCE.get(sport, 0)
    if kind == VXLAN or kind == VXLAN_GPE:
        if u + 8 > end:
            return "truncated-vxlan"
        fl = buf[u]
        if kind == VXLAN_GPE and fl & 0x04:  # P: the next protocol field says
            if fl & 0x30:
                return "udp"  # a version other than 0
            nxt = buf[u + 3]
            if nxt == 1 or nxt == 2:
                return decode(buf, u + 8, end - u - 8, LINKTYPE_RAW, depth + 1, fragments)
            if nxt != 3:
                return "tunnel-not-ip"  # NSH, MPLS, ...
        elif not fl & 0x08:  # VXLAN "I" flag: a valid VNI follows
            return "udp"
        return decode(buf, u + 8, end - u - 8, LINKTYPE_ETHERNET, depth + 1, fragments)
    if kind == GENEVE:
        # RFC 8926 §3.4: version (2 bits) and options length (6 bits, 4-byte words), flags,
        # protocol type, VNI; then the options.
        if u + 8 > end:
            return "truncated-geneve"
        vo = buf[u]
        if vo >> 6:
            return "udp"  # a version other than 0
        ptype = _H(buf, u + 2)[0]
        q = u + 8 + (vo & 0x3F) * 4
        if q > end:
            return "truncated-geneve"
        if ptype == GRE_ETHERNET:
            return decode(buf, q, end - q, LINKTYPE_ETHERNET, depth + 1, fragments)
        if ptype == GRE_IPV4 or ptype == GRE_IPV6:
            return decode(buf, q, end - q, LINKTYPE_RAW, depth + 1, fragments)
        return "tunnel-not-ip"
    if kind == AYIYA:
        if u + 8 <= end:
            hl = 8 + (1 << (buf[u] >> 4)) + (buf[u + 1] >> 4) * 4
            nxt = buf[u + 3]
            if (nxt == 41 or nxt == 4) and u + hl < end:
                return decode(buf, u + hl, end - u - hl, LINKTYPE_RAW, depth + 1, fragments)
        return "udp"
    if kind == TEREDO:
        return _teredo(buf, u, end, -1, depth, fragments)
    if kind == GRE_IN_UDP:
        return _gre(buf, u, end, depth, fragments)
    if kind == GTP_U:
        return _gtp_u(buf, u, end, depth, fragments)
    # Teredo relays and clients talk from ports of their own (RFC 4380), so Teredo is
    # looked for on any port; what decides there is a strict check.
    return _teredo(buf, u, end, p + ulen, depth, fragments)


def _gre(buf: bytes, p: int, end: int, depth: int, fragments: bool) -> Decoded | str:
    """GRE (RFC 2784/2890: flags and version, protocol type, then checksum, key and
    sequence number when their flags say) and its payload: IP, Ethernet, or ERSPAN —
    type I/II (protocol 0x88BE: with GRE's sequence number an 8-byte ERSPAN II header,
    version 1, comes first; type I has none) or type III (0x22EB: 12 bytes, version 2,
    and an 8-byte platform-specific subheader when its O flag is set; the frame type
    says Ethernet (0) or IP (2))."""
    if p + 4 > end:
        return "truncated-gre"
    fl, ptype = _GRE(buf, p)
    if fl & 0x0007:  # versions other than 0 (PPTP's enhanced GRE is version 1)
        return "gre-not-ip"
    q = p + 4 + (4 if fl & 0x8000 else 0) + (4 if fl & 0x2000 else 0) + (
        4 if fl & 0x1000 else 0
    )
    if q > end:
        return "truncated-gre"
    if ptype == GRE_IPV4 or ptype == GRE_IPV6:
        return decode(buf, q, end - q, LINKTYPE_RAW, depth + 1, fragments)
    if ptype == GRE_ETHERNET:
        return decode(buf, q, end - q, LINKTYPE_ETHERNET, depth + 1, fragments)
    if ptype == GRE_ERSPAN_II:
        if fl & 0x1000:  # S: ERSPAN type II
            if q + 8 > end:
                return "truncated-erspan"
            if buf[q] >> 4 != 1:
                return "bad-erspan-header"
            q += 8
        return decode(buf, q, end - q, LINKTYPE_ETHERNET, depth + 1, fragments)
    if ptype == GRE_ERSPAN_III:
        if q + 12 > end:
            return "truncated-erspan"
        if buf[q] >> 4 != 2:
            return "bad-erspan-header"
        ft = buf[q + 10] >> 2 & 0x1F
        q += 20 if buf[q + 11] & 1 else 12
        if q > end:
            return "truncated-erspan"
        if ft == 0:
            return decode(buf, q, end - q, LINKTYPE_ETHERNET, depth + 1, fragments)
        if ft == 2:
            return decode(buf, q, end - q, LINKTYPE_RAW, depth + 1, fragments)
        return "tunnel-not-ip"
    return "gre-not-ip"


def _teredo(
    buf: bytes, q: int, end: int, udp_end: int, depth: int, fragments: bool
) -> Decoded | str:
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
    return decode(buf, q, end - q, 229, depth + 1, fragments)


def _gtp_u(buf: bytes, g: int, end: int, depth: int, fragments: bool) -> Decoded | str:
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
    return decode(buf, q, end - q, LINKTYPE_RAW, depth + 1, fragments)


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
