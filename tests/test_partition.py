"""partition: the one rule that assigns a connection to a partition (--jobs, --dask).

The rule is stated here from its definition — both ports' bytes and the last byte of
each address, summed, modulo the count — and checked against the module: the same in
both directions, read in place the same as on a sliced key, and used by the flow table.
"""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzer.core import flows, partition
from analyzer.core.decode import locate, reverse_key
from analyzer.core.partition import partition_at, partition_of
from tests import builders as b


def _key(src: str, dst: str, sport: int, dport: int) -> bytes:
    return (
        ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed
        + struct.pack("!HH", sport, dport)
    )


def _rule(src: str, dst: str, sport: int, dport: int, count: int) -> int:
    """The rule as documented, from the addresses and ports themselves."""
    last = ipaddress.ip_address(src).packed[-1] + ipaddress.ip_address(dst).packed[-1]
    return (last + sum(struct.pack("!HH", sport, dport))) % count


ENDS = [
    ("10.0.0.7", "10.0.0.1", 51234, 80),
    ("192.168.1.250", "10.9.8.7", 1, 65535),
    ("fd00::7", "fd00::1", 40000, 8080),
    ("2001:db8::ff", "::1", 443, 60000),
]


@pytest.mark.parametrize("ends", ENDS, ids=[e[0] for e in ENDS])
@pytest.mark.parametrize("count", [1, 2, 3, 7, 64])
def test_the_rule_and_both_directions(ends: tuple[str, str, int, int], count: int) -> None:
    key = _key(*ends)
    assert partition_of(key, count) == _rule(*ends, count)
    assert partition_of(reverse_key(key), count) == partition_of(key, count)


@given(
    st.one_of(st.binary(min_size=12, max_size=12), st.binary(min_size=36, max_size=36)),
    st.integers(1, 50),
)
def test_any_key_in_place_or_sliced_and_reversed(key: bytes, count: int) -> None:
    junk = b"\xee" * 9
    buf = junk + key + junk
    assert partition_at(buf, 9, 9 + len(key), count) == partition_of(key, count)
    assert partition_of(reverse_key(key), count) == partition_of(key, count)
    assert 0 <= partition_of(key, count) < count


@pytest.mark.parametrize("ends", ENDS, ids=[e[0] for e in ENDS])
def test_in_a_frame_where_decode_locates_the_key(ends: tuple[str, str, int, int]) -> None:
    src, dst, sport, dport = ends
    frame = b"\xee" * 3 + b.ethernet(b.ip_packet(src, dst, b.tcp(sport, dport, 1, flags=b.SYN)))
    ks, ke, *_rest = locate(frame, 3, len(frame) - 3, 1)
    assert frame[ks:ke] == _key(*ends)
    for count in (2, 5):
        assert partition_at(frame, ks, ke, count) == _rule(*ends, count)


def test_every_partition_gets_some_connections() -> None:
    keys = [_key("10.0.0.1", "10.0.0.2", port, 80) for port in range(40000, 40030)]
    assert {partition_of(k, 3) for k in keys} == {0, 1, 2}


def test_the_flow_table_uses_this_rule() -> None:
    """One rule everywhere: the name flows re-exports is this one, and a table keeps a
    connection exactly when the rule gives it its index (fast path and decode() alike)."""
    assert flows.partition_of is partition.partition_of
    c = b.Conversation(("10.0.0.9", 40001), ("10.0.0.2", 80)).handshake()
    c.exchange(b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 204 No Content\r\n\r\n").close(0)
    key = _key("10.0.0.9", "10.0.0.2", 40001, 80)
    for linktype in (1, 113):  # located in place; decoded
        for index in range(3):
            conns = b.run(c, linktype, partition=(index, 3))
            assert len(conns) == (index == partition_of(key, 3)), (linktype, index)
