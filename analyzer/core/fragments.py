"""IP fragment reassembly: IPv4 (RFC 791) and IPv6 (RFC 8200 §4.5) fragments → whole packets.

Theory of operation
-------------------
Sans-I/O, standard library only, and off the hot path: only a frame that
:func:`analyzer.core.decode.decode` calls ``ip-fragment`` comes here (the flow table's
slow path, :meth:`analyzer.core.flows.FlowTable.frame`), so a capture without fragments
never runs a line of it. :meth:`Reassembler.add` finds the fragment with
:func:`analyzer.core.decode.fragment` (the same walk through link layers and tunnels) and
files its bytes under its datagram — IPv4: source, destination, protocol and
identification; IPv6: source, destination and identification (RFC 8200 §4.5). Fragments
of TCP, UDP and GRE datagrams (and, on IPv6, a destination options header before them)
are reassembled: TCP for its own sake, UDP and GRE because the tunnels the decoder
follows ride in them. Other fragments stay ``ip-fragment``.

When the pieces cover the datagram from 0 to the end the last fragment (MF/M = 0)
announced, :meth:`~Reassembler.add` returns the whole packet as new ``bytes`` — a minimal
IPv4 header (no options) or an IPv6 header (no extension headers: the unfragmentable
part only routed it) in front of the payload — which the flow table decodes as a raw IP
frame (link type 101), so the packet that completes a datagram is counted as that
datagram. A fragment cut by the snaplen is kept as captured: the rebuilt packet holds the
bytes up to the first such cut and its header announces the full length, so the stream
reports the rest as missing bytes, as for any packet cut by the snaplen.

Overlap policy (Linux's since 4.19, for IPv4 and IPv6 alike — RFC 5722 with its erratum
3089): a fragment wholly inside data already held is a duplicate, dropped
(``ip-fragment-duplicate``) while the datagram goes on; any other overlap discards the
whole datagram (``ip-fragment-overlap``), and fragments of it that come later start a new
one. A last fragment that disagrees with the length known, or data past the end the last
fragment set, discards it too (``ip-fragment-bad``), as does a datagram over 65,535 bytes
(``ip-fragment-too-large``); a fragment that is empty or, with MF/M set, not a multiple
of 8 bytes long (RFC 8200 §4.5) is dropped alone (``ip-fragment-bad``).

Bounds: at most :data:`MAX_DATAGRAMS` datagrams in progress and :data:`MAX_HELD` bytes
held (captured data plus :data:`OVERHEAD` per fragment); a fragment beyond them is
refused (``ip-fragment-too-many``). A datagram still incomplete :data:`TIMEOUT` seconds of
capture time after its first fragment (Linux's ``ipfrag_time``) expires when the next
fragment arrives (``ip-fragment-expired``).

Counting: every fragment frame is counted once in ``skipped``, so ``tcp_packets`` plus
the skipped counts stay the frames read. :meth:`~Reassembler.add` returns a reason for
every frame it does not complete a datagram with, and the caller counts it; a fragment
held for a datagram in progress is ``ip-fragment-incomplete``, and when that datagram's
fate is known its frames move (in the same ``skipped`` dict, which the reassembler is
given) to ``ip-fragment-reassembled``, ``-expired``, ``-overlap``, ``-bad`` or
``-too-large``. Those still in progress when the capture ends stay
``ip-fragment-incomplete``: never silently dropped.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from typing import Final

from analyzer.core.decode import fragment

TIMEOUT: Final = 30.0  # seconds of capture time from a datagram's first fragment
MAX_DATAGRAMS: Final = 1024  # datagrams in progress
MAX_HELD: Final = 8 << 20  # bytes held over all datagrams (data + OVERHEAD per fragment)
OVERHEAD: Final = 64  # what a held fragment is counted for besides its data
MAX_IP: Final = 65535  # the largest IP packet (IPv4 total length, IPv6 payload length)

# The skip reasons of fragment frames (each frame ends in exactly one).
NOT_REASSEMBLED: Final = "ip-fragment"
INCOMPLETE: Final = "ip-fragment-incomplete"
REASSEMBLED: Final = "ip-fragment-reassembled"
EXPIRED: Final = "ip-fragment-expired"
DUPLICATE: Final = "ip-fragment-duplicate"
OVERLAP: Final = "ip-fragment-overlap"
BAD: Final = "ip-fragment-bad"
TOO_LARGE: Final = "ip-fragment-too-large"
TOO_MANY: Final = "ip-fragment-too-many"
REASONS: Final[dict[str, str]] = {
    NOT_REASSEMBLED: "a fragment of a datagram not reassembled (neither TCP, UDP nor GRE)",
    INCOMPLETE: "a fragment of a datagram still incomplete when the capture ended",
    REASSEMBLED: "a fragment of a datagram reassembled (the packet that completed it is "
                 "counted as the datagram)",
    EXPIRED: f"a fragment of a datagram still incomplete {TIMEOUT:g} s after it began",
    DUPLICATE: "a fragment wholly inside data already held: dropped",
    OVERLAP: "a fragment of a datagram discarded for overlapping fragments (RFC 5722)",
    BAD: "an empty or misaligned fragment, or one of a datagram whose lengths disagree",
    TOO_LARGE: "a fragment of a datagram over 65,535 bytes (discarded)",
    TOO_MANY: f"a fragment refused: {MAX_DATAGRAMS} datagrams or {MAX_HELD >> 20} MiB held",
}

_V4_PROTOCOLS: Final = frozenset({6, 17, 47})  # TCP, UDP (tunnels), GRE
_V6_PROTOCOLS: Final = frozenset({6, 17, 47, 60})  # and destination options before them
_IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s").pack
_IPV6_HEADER = struct.Struct("!IHBB16s16s").pack


class _Datagram:
    """A datagram in progress: its pieces ``(start, stop, captured data)`` in order of
    start, never overlapping."""

    __slots__ = (
        "key", "v6", "src", "dst", "proto", "ttl", "ident", "starts", "pieces", "covered",
        "size", "frames", "held", "deadline",
    )

    def __init__(
        self, key: bytes, v6: bool, src: bytes, dst: bytes, proto: int, ttl: int,
        ident: int, deadline: float,
    ) -> None:
        self.key = key
        self.v6 = v6
        self.src = src
        self.dst = dst
        self.proto = proto
        self.ttl = ttl
        self.ident = ident
        self.starts: list[int] = []
        self.pieces: list[tuple[int, int, bytes]] = []
        self.covered = 0  # bytes of the datagram the pieces announce
        self.size = -1  # the datagram's payload length, once the last fragment says
        self.frames = 0  # fragment frames held (each counted INCOMPLETE so far)
        self.held = 0  # bytes counted against MAX_HELD
        self.deadline = deadline

    def packet(self) -> bytes:
        """The whole IP packet: a header announcing every byte, then the data up to the
        first piece the snaplen cut."""
        parts: list[bytes] = []
        for start, stop, data in self.pieces:
            parts.append(data)
            if len(data) < stop - start:
                break
        if self.v6:
            head = _IPV6_HEADER(0x60000000, self.size, self.proto, self.ttl, self.src, self.dst)
        else:
            head = _IPV4_HEADER(
                0x45, 0, 20 + self.size, self.ident, 0, self.ttl, self.proto, 0, self.src,
                self.dst,
            )
        return head + b"".join(parts)


class Reassembler:
    """The datagrams in progress of one capture (see the module docstring). ``skipped``
    is the caller's per-reason count of skipped frames, in which this moves a datagram's
    fragments from ``ip-fragment-incomplete`` to their final reason."""

    def __init__(
        self, skipped: dict[str, int], timeout: float = TIMEOUT,
        max_datagrams: int = MAX_DATAGRAMS, max_held: int = MAX_HELD,
    ) -> None:
        self.skipped = skipped
        self.timeout = timeout
        self.max_datagrams = max_datagrams
        self.max_held = max_held
        # in order of first fragment, which is the order of their deadlines (captures
        # out of time order expire some late: the bounds hold all the same)
        self.datagrams: dict[bytes, _Datagram] = {}
        self.held = 0
        self.completed = 0  # datagrams reassembled

    def add(self, buf: bytes, off: int, caplen: int, linktype: int, ts: float) -> bytes | str:
        """A frame ``buf[off:off+caplen]`` that holds an IP fragment, at capture time
        ``ts``: the whole packet when it completes a datagram, else the reason to count
        the frame under (the caller counts it in ``skipped``)."""
        if self.datagrams:
            self._expire(ts)
        where = fragment(buf, off, caplen, linktype)
        if where is None:
            return NOT_REASSEMBLED  # (the caller's decode said it was one)
        ver, ip, at, ip_end, end = where
        if ver == 4:
            flags = buf[ip + 6] << 8 | buf[ip + 7]
            proto = buf[ip + 9]
            start = (flags & 0x1FFF) * 8
            more = flags & 0x2000
            data_at = at
            if proto not in _V4_PROTOCOLS:
                return NOT_REASSEMBLED
            key = b"\x04" + buf[ip + 12 : ip + 20] + buf[ip + 4 : ip + 6] + bytes((proto,))
            src, dst = buf[ip + 12 : ip + 16], buf[ip + 16 : ip + 20]
            ident = buf[ip + 4] << 8 | buf[ip + 5]
            limit = MAX_IP - (at - ip)  # the header counts in IPv4's total length
        else:
            proto = buf[at]
            flags = buf[at + 2] << 8 | buf[at + 3]
            start = flags & 0xFFF8
            more = flags & 1
            data_at = at + 8
            if proto not in _V6_PROTOCOLS:
                return NOT_REASSEMBLED
            key = b"\x06" + buf[ip + 8 : ip + 40] + buf[at + 4 : at + 8]
            src, dst = buf[ip + 8 : ip + 24], buf[ip + 24 : ip + 40]
            ident = 0
            limit = MAX_IP
            if not buf[ip + 4] | buf[ip + 5]:
                return BAD  # a jumbogram (RFC 2675) cannot be fragmented
        length = ip_end - data_at
        if length <= 0 or (more and length & 7):
            return BAD
        stop = start + length
        d = self.datagrams.get(key)
        if stop > limit:
            if d is not None:
                self._discard(d, TOO_LARGE)
            return TOO_LARGE
        cap_end = end if end < ip_end else ip_end
        data = buf[data_at:cap_end] if cap_end > data_at else b""
        cost = len(data) + OVERHEAD
        if self.held + cost > self.max_held or (
            d is None and len(self.datagrams) >= self.max_datagrams
        ):
            return TOO_MANY
        if d is None:
            ttl = buf[ip + 8] if ver == 4 else buf[ip + 7]
            d = _Datagram(key, ver == 6, src, dst, proto, ttl, ident, ts + self.timeout)
            self.datagrams[key] = d
        if not more:
            if (d.size >= 0 and d.size != stop) or (d.pieces and d.pieces[-1][1] > stop):
                self._discard(d, BAD)
                return BAD
            d.size = stop
        elif d.size >= 0 and stop > d.size:
            self._discard(d, BAD)
            return BAD
        # Overlap (Linux's inet_frag_queue_insert): the pieces that start before ``stop``
        # from the one before ``start`` on.
        i = bisect_right(d.starts, start)
        j = i - 1 if i and d.pieces[i - 1][1] > start else i
        k = j
        while k < len(d.pieces) and d.pieces[k][0] < stop:
            k += 1
        if k > j:
            run = d.pieces[j][0]
            reach = d.pieces[j][1]
            for n in range(j + 1, k):
                if d.pieces[n][0] != reach:
                    break
                reach = d.pieces[n][1]
            if run <= start and stop <= reach:
                return DUPLICATE
            self._discard(d, OVERLAP)
            return OVERLAP
        d.starts.insert(i, start)
        d.pieces.insert(i, (start, stop, data))
        d.covered += length
        d.held += cost
        self.held += cost
        if d.covered == d.size:
            packet = d.packet()
            self._discard(d, REASSEMBLED)
            self.completed += 1
            return packet
        d.frames += 1
        return INCOMPLETE

    def _expire(self, now: float) -> None:
        """Datagrams whose time is up: their frames are counted as expired."""
        over: list[_Datagram] = []
        for d in self.datagrams.values():
            if d.deadline >= now:
                break
            over.append(d)
        for d in over:
            self._discard(d, EXPIRED)

    def _discard(self, d: _Datagram, reason: str) -> None:
        """The datagram is over: its frames held so far are counted under ``reason``."""
        self._drop(d)
        self._move(d.frames, reason)

    def _drop(self, d: _Datagram) -> None:
        if self.datagrams.get(d.key) is d:
            del self.datagrams[d.key]
        self.held -= d.held
        d.held = 0
        d.starts = []
        d.pieces = []

    def _move(self, n: int, reason: str) -> None:
        """``n`` frames counted as incomplete are now counted under ``reason``."""
        if not n:
            return
        skipped = self.skipped
        left = skipped.get(INCOMPLETE, 0) - n
        if left > 0:
            skipped[INCOMPLETE] = left
        else:
            skipped.pop(INCOMPLETE, None)
        skipped[reason] = skipped.get(reason, 0) + n
