"""The one rule that assigns a connection to a partition (``--jobs N``, ``--dask``).

Every partition walks every record of every file and keeps only its own connections, so
the rule must give the same answer for both directions of a connection and in every
process: it adds up the bytes of both ports and the last byte of each address and takes
the sum modulo the number of partitions (never ``hash()``, which is salted per process).
Both directions' flow keys (:func:`analyzer.core.decode.reverse_key`) hold the same bytes,
so they sum the same.

With TLS secrets (``hosts``), the ports are left out: every connection between the same
two hosts is in one partition, because a resumed TLS 1.2 session is decrypted with the
master secret of the earlier connection it resumes (by session id or ticket), which its
partition must have seen (a client resumes with the server it had the session with).

:func:`partition_at` reads those bytes where a flow key lies inside a frame, so the packet
loop decides before it slices the key out (a packet of another partition costs no
allocation); :func:`partition_of` applies the same rule to a key already sliced. Compiled
(mypyc), either is a native call.
"""

from __future__ import annotations


def partition_at(buf: bytes, start: int, end: int, count: int, hosts: bool = False) -> int:
    """The partition (of ``count``) of the flow key ``buf[start:end]`` — source address,
    destination address, source port, destination port, as :mod:`analyzer.core.decode`
    lays it out (12 bytes for IPv4, 36 for IPv6) — read in place. ``hosts``: by the two
    addresses alone."""
    ports = 0 if hosts else buf[end - 1] + buf[end - 2] + buf[end - 3] + buf[end - 4]
    return (
        ports
        + buf[end - 5]  # the destination address's last byte
        + buf[start + ((end - start) >> 1) - 3]  # the source address's last byte
    ) % count


def partition_of(key: bytes, count: int, hosts: bool = False) -> int:
    """The partition (of ``count``) a flow key belongs to: the same for both directions."""
    return partition_at(key, 0, len(key), count, hosts)
