"""linktypes: the one link-type table — complete and consistent with its users.

Decoding each link type is tested per frame in tests/test_decode.py; here: every link
type the table says we read has a framing the decoder handles and decodes a frame, the
names are the tcpdump registry's, and the readers, the backends and the errors take their
numbers and names from this table.
"""

from __future__ import annotations

import pytest

from analyzer.core import decode, linktypes
from tests import builders as b

# The tcpdump registry (https://www.tcpdump.org/linktypes.html), written out here.
REGISTRY = {
    0: "NULL", 1: "ETHERNET", 6: "IEEE802_5", 9: "PPP", 10: "FDDI", 12: "RAW", 14: "RAW",
    50: "PPP_HDLC", 51: "PPP_ETHER", 101: "RAW", 104: "C_HDLC", 105: "IEEE802_11",
    107: "FRELAY", 108: "LOOP", 113: "LINUX_SLL", 117: "PFLOG", 119: "IEEE802_11_PRISM",
    127: "IEEE802_11_RADIOTAP", 147: "USER0", 163: "IEEE802_11_AVS", 192: "PPI",
    195: "IEEE802_15_4", 201: "BLUETOOTH_HCI_H4_WITH_PHDR", 220: "USB_LINUX_MMAPPED",
    228: "IPV4", 229: "IPV6", 239: "NFLOG", 249: "USBPCAP", 253: "NETLINK",
    276: "LINUX_SLL2",
}
FRAMINGS = {
    linktypes.ETHERNET, linktypes.BSD_LOOPBACK, linktypes.RAW_IP, linktypes.LINUX_SLL,
    linktypes.LINUX_SLL2, linktypes.NFLOG, linktypes.PPP, linktypes.CISCO_HDLC,
    linktypes.PPPOE,
}


def test_names_are_the_registrys() -> None:
    assert linktypes.NAMES == REGISTRY
    assert linktypes.name(105) == "IEEE802_11"
    assert linktypes.name(4242) == "unknown"


def test_the_table_is_consistent() -> None:
    assert linktypes.SUPPORTED == set(linktypes.LINKTYPES) == set(linktypes.FRAMINGS)
    assert not linktypes.SUPPORTED & set(linktypes.UNSUPPORTED_NAMES)
    assert set(linktypes.FRAMINGS.values()) == FRAMINGS  # every framing is used
    assert 0 not in FRAMINGS  # (0 is what framing() says of a link type not read)
    for lt, (name, framing) in linktypes.LINKTYPES.items():
        assert linktypes.name(lt) == name and linktypes.framing(lt) == framing
    assert linktypes.framing(105) == 0
    for const, lt in (
        ("LINKTYPE_NULL", 0), ("LINKTYPE_ETHERNET", 1), ("LINKTYPE_RAW", 101),
        ("LINKTYPE_LOOP", 108), ("LINKTYPE_LINUX_SLL", 113), ("LINKTYPE_IPV4", 228),
        ("LINKTYPE_IPV6", 229), ("LINKTYPE_NFLOG", 239), ("LINKTYPE_LINUX_SLL2", 276),
        ("LINKTYPE_PPP", 9), ("LINKTYPE_PPP_HDLC", 50), ("LINKTYPE_PPP_ETHER", 51),
        ("LINKTYPE_C_HDLC", 104),
    ):
        assert getattr(linktypes, const) == lt, const


@pytest.mark.parametrize("lt", sorted(linktypes.SUPPORTED))
def test_every_supported_link_type_decodes(lt: int) -> None:
    seg = b.tcp(40000, 80, 1, 2, b.PSH | b.ACK, b"hello")
    ip = b.ip_packet("2001:db8::1", "2001:db8::2", seg) if lt == 229 else b.ip_packet(
        "10.0.0.1", "10.0.0.2", seg
    )
    frame = b.link(lt, ip)
    r = decode.decode(frame, 0, len(frame), lt)
    assert isinstance(r, tuple), (lt, r)
    assert frame[r[4] : r[5]] == b"hello"


@pytest.mark.parametrize("lt", sorted(linktypes.UNSUPPORTED_NAMES))
def test_a_link_type_we_do_not_read_is_a_skip_reason(lt: int) -> None:
    assert decode.decode(b"\x00" * 60, 0, 60, lt) == f"linktype-{lt}"


def test_its_users_take_it_from_here() -> None:
    from analyzer import errors
    from analyzer.capture import canonical

    assert decode.SUPPORTED_LINKTYPES is linktypes.SUPPORTED
    assert canonical.LINKTYPE_RAW == linktypes.LINKTYPE_RAW
    # the error names a link type from the same table
    assert "IEEE802_11" in str(errors.UnsupportedLinkType("x.pcap", 105))
    assert "LINUX_SLL2" in str(errors.UnsupportedLinkType("x.pcap", 276))


def test_the_error_lists_every_framing_and_link_type_read() -> None:
    from analyzer import errors

    text = str(errors.UnsupportedLinkType("wifi.pcap", 105))
    assert text.startswith("wifi.pcap: unsupported link type 105 (IEEE802_11); supported: ")
    for name in linktypes.FRAMING_NAMES.values():
        assert name in text
    for lt in linktypes.SUPPORTED:
        assert str(lt) in text
    assert set(linktypes.FRAMING_NAMES) == FRAMINGS
    # a number no registry entry we know names: no "(unknown)"
    assert "unsupported link type 4242; supported" in str(
        errors.UnsupportedLinkType("x.pcap", 4242))
