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

# ---- link-type numbers we name in code
LINKTYPE_NULL: Final = 0
LINKTYPE_ETHERNET: Final = 1
LINKTYPE_RAW: Final = 101  # raw IPv4/IPv6: what the scapy and pyshark backends hand on
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
    12: ("RAW", RAW_IP),  # DLT_RAW as OpenBSD writes it
    14: ("RAW", RAW_IP),  # DLT_RAW as BSD/OS writes it
    LINKTYPE_RAW: ("RAW", RAW_IP),
    LINKTYPE_LOOP: ("LOOP", BSD_LOOPBACK),
    LINKTYPE_LINUX_SLL: ("LINUX_SLL", LINUX_SLL),
    LINKTYPE_IPV4: ("IPV4", RAW_IP),
    LINKTYPE_IPV6: ("IPV6", RAW_IP),
    LINKTYPE_NFLOG: ("NFLOG", NFLOG),
    LINKTYPE_LINUX_SLL2: ("LINUX_SLL2", LINUX_SLL2),
}

# Link types met in the wild that we do not read, named in errors and warnings.
UNSUPPORTED_NAMES: Final[dict[int, str]] = {
    6: "IEEE802_5", 9: "PPP", 105: "IEEE802_11", 127: "IEEE802_11_RADIOTAP", 147: "USER0",
    195: "IEEE802_15_4",
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

