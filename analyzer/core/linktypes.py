"""The link-type table: what each link-type number a capture declares means to us.

A capture file names the link layer of its frames by a number from the tcpdump registry
(https://www.tcpdump.org/linktypes.html): in the classic pcap header, in each pcapng
interface description block. This module is the one place that knows those numbers:
:data:`FRAMINGS` says, for each link type we read, how its frames are decoded (which
header sits in front of the IP packet, :func:`analyzer.core.decode.decode` branches on it);
:data:`NAMES` names those and a few common ones we do not read, so an error can say what a
capture holds. The readers (:mod:`analyzer.capture.files`) refuse a capture whose link
type is not in :data:`SUPPORTED`, and the backends (:mod:`analyzer.capture.scapy_backend`)
name link types from here too.

Theory of operation
-------------------
A framing is a way of finding the IP packet in a frame; several link types can share one
(PPP 9 and PPP_HDLC 50 are the same bytes: PPP with or without the RFC 1662 address and
control, or Cisco HDLC, told apart by the first byte as Wireshark and tcpdump do).
:func:`~analyzer.core.decode.decode` branches once on the framing; what follows the link
header (an Ethertype, a PPP protocol) is decoded by the same code whichever link type
carried it, so PPPoE, MPLS and IP read the same behind Ethernet, Linux cooked capture or
Cisco HDLC.

To read a new link type: add its number and framing here (a new framing also needs its
branch in :func:`~analyzer.core.decode.decode`), and a frame builder in ``tests/builders.py``
(tests/test_linktypes.py checks that every supported link type decodes).
"""

from __future__ import annotations

from typing import Final

# ---- framings: what sits in front of the IP packet
ETHERNET: Final = 1  # Ethernet II / IEEE 802.3, VLAN tags, MPLS, LLC/SNAP
BSD_LOOPBACK: Final = 2  # a 4-byte address family, host or network byte order
RAW_IP: Final = 3  # nothing: the IP version is in the first nibble
LINUX_SLL: Final = 4  # Linux cooked capture v1: 16 bytes, protocol at 14
LINUX_SLL2: Final = 5  # Linux cooked capture v2: 20 bytes, protocol first
NFLOG: Final = 6  # Linux netfilter log: TLVs, the packet in NFULA_PAYLOAD
PPP: Final = 7  # PPP (RFC 1661): optional FF 03 (RFC 1662), a protocol, or Cisco HDLC
CISCO_HDLC: Final = 8  # Cisco HDLC: address, control, an Ethertype
PPPOE: Final = 9  # a PPPoE session header (RFC 2516), then PPP

# ---- link-type numbers we name in code
LINKTYPE_NULL: Final = 0
LINKTYPE_ETHERNET: Final = 1
LINKTYPE_PPP: Final = 9
LINKTYPE_PPP_HDLC: Final = 50  # (DLT_PPP_SERIAL)
LINKTYPE_PPP_ETHER: Final = 51  # PPPoE without the Ethernet header
LINKTYPE_RAW: Final = 101  # raw IPv4/IPv6: what the scapy and pyshark backends hand on
LINKTYPE_C_HDLC: Final = 104
LINKTYPE_LOOP: Final = 108
LINKTYPE_LINUX_SLL: Final = 113
LINKTYPE_IPV4: Final = 228
LINKTYPE_IPV6: Final = 229
LINKTYPE_NFLOG: Final = 239
LINKTYPE_LINUX_SLL2: Final = 276

# The link types we read: number → (registry name, framing).
LINKTYPES: Final[dict[int, tuple[str, int]]] = {
    LINKTYPE_NULL: ("NULL", BSD_LOOPBACK),
    LINKTYPE_ETHERNET: ("ETHERNET", ETHERNET),
    LINKTYPE_PPP: ("PPP", PPP),
    12: ("RAW", RAW_IP),  # DLT_RAW as OpenBSD writes it
    14: ("RAW", RAW_IP),  # DLT_RAW as BSD/OS writes it
    LINKTYPE_PPP_HDLC: ("PPP_HDLC", PPP),
    LINKTYPE_PPP_ETHER: ("PPP_ETHER", PPPOE),
    LINKTYPE_RAW: ("RAW", RAW_IP),
    LINKTYPE_C_HDLC: ("C_HDLC", CISCO_HDLC),
    LINKTYPE_LOOP: ("LOOP", BSD_LOOPBACK),
    LINKTYPE_LINUX_SLL: ("LINUX_SLL", LINUX_SLL),
    LINKTYPE_IPV4: ("IPV4", RAW_IP),
    LINKTYPE_IPV6: ("IPV6", RAW_IP),
    LINKTYPE_NFLOG: ("NFLOG", NFLOG),
    LINKTYPE_LINUX_SLL2: ("LINUX_SLL2", LINUX_SLL2),
}

# Link types met in the wild that we do not read, named in errors and warnings.
UNSUPPORTED_NAMES: Final[dict[int, str]] = {
    6: "IEEE802_5", 10: "FDDI", 105: "IEEE802_11", 107: "FRELAY", 117: "PFLOG",
    119: "IEEE802_11_PRISM", 127: "IEEE802_11_RADIOTAP", 147: "USER0", 163: "IEEE802_11_AVS",
    192: "PPI", 195: "IEEE802_15_4", 201: "BLUETOOTH_HCI_H4_WITH_PHDR",
    220: "USB_LINUX_MMAPPED", 249: "USBPCAP", 253: "NETLINK",
}

# What each framing reads, in words (errors list what a capture may hold).
FRAMING_NAMES: Final[dict[int, str]] = {
    ETHERNET: "Ethernet", BSD_LOOPBACK: "BSD loopback", RAW_IP: "raw IP",
    LINUX_SLL: "Linux cooked SLL", LINUX_SLL2: "Linux cooked SLL2", NFLOG: "NFLOG",
    PPP: "PPP", CISCO_HDLC: "Cisco HDLC", PPPOE: "PPPoE",
}

SUPPORTED: Final = frozenset(LINKTYPES)
FRAMINGS: Final[dict[int, int]] = {lt: framing for lt, (_name, framing) in LINKTYPES.items()}
NAMES: Final[dict[int, str]] = dict(
    sorted({**UNSUPPORTED_NAMES, **{lt: name for lt, (name, _f) in LINKTYPES.items()}}.items())
)


def framing(linktype: int) -> int:
    """How frames of this link type are decoded (one of the framings above), 0 when we do
    not read it."""
    return FRAMINGS.get(linktype, 0)


def name(linktype: int) -> str:
    """The registry name of a link type (``ETHERNET``), or ``unknown``."""
    return NAMES.get(linktype, "unknown")



def supported_text() -> str:
    """The link types we read, in words and numbers, for an error message."""
    by_framing: dict[int, list[int]] = {}
    for lt, (_name, f) in LINKTYPES.items():
        by_framing.setdefault(f, []).append(lt)
    return ", ".join(
        f"{FRAMING_NAMES[f]} ({'/'.join(str(lt) for lt in sorted(lts))})"
        for f, lts in sorted(by_framing.items())
    )
