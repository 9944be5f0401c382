"""Canonical packets: how the scapy and pyshark backends feed the one core.

(The backends import their helpers from here; this module imports no backend. Which
backends there are, and how each is opened, is the registry in :mod:`analyzer.capture`.)

A backend dissects each packet with its own library (scapy's layers, Wireshark's
dissectors) and hands us the fields the core needs: addresses, ports, sequence and
acknowledgement numbers, flags, the captured payload and the payload length the IP header
announced. :class:`Batcher` turns them into a *canonical* raw IPv4/IPv6 + TCP packet (our
own minimal headers: no options, data offset 5) and batches those, with link type 101
(raw IP), in exactly the ``(buf, records)`` shape the native reader yields — so every
backend goes through the same :meth:`~analyzer.core.flows.FlowTable.feed` and the same
decoder, and the same packets always give the same answer.

The announced length is kept: the canonical IP length is our header plus the payload
length the original IP header announced, so a payload cut by the snaplen still counts as
missing bytes. Packets a backend cannot use are counted per reason (``udp``, ``not-ip``,
``backend-undecoded``, …), like the decoder's own skips.

Timestamps: to give *identical* records, a backend computes each packet's time with the
same float arithmetic as the native reader (:class:`TimeLayout`), from the file's own
timestamp resolution (classic pcap magic, pcapng ``if_tsresol`` / ``if_tsoffset``).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from analyzer.capture.files import idb_time, open_file, ts_multiplier
from analyzer.core.linktypes import LINKTYPE_RAW
from analyzer.errors import AnalyzerError, CaptureError

Record = tuple[float, int, int, int, int]
Batch = tuple[bytes, list[Record]]

BATCH = 2048  # packets per batch handed to the core

_IPV4 = struct.Struct("!BBHHHBBH4s4s").pack
_IPV6 = struct.Struct("!IHBB16s16s").pack
_TCP = struct.Struct("!HHIIBBHHH").pack


class BackendUnavailable(AnalyzerError):
    """A capture backend's library or tool is missing; the message says what to install."""


class BackendCapture(Protocol):
    """What a backend offers, the shape of :class:`~analyzer.capture.files.CaptureFile`."""

    format: str
    packets: int
    truncated: bool
    warnings: list[str]
    bytes_read: int
    skipped: dict[str, int]

    def batches(self) -> Iterator[Batch]: ...


class Batcher:
    """Collects canonical packets into ``(buf, records)`` batches and counts skips."""

    __slots__ = ("_parts", "_records", "_off", "skipped")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._records: list[Record] = []
        self._off = 0
        self.skipped: dict[str, int] = {}

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def add(
        self,
        ts: float,
        src: bytes,
        dst: bytes,
        sport: int,
        dport: int,
        seq: int,
        ack: int,
        flags: int,
        payload: bytes,
        seglen: int,
        wirelen: int,
    ) -> None:
        """One TCP segment: ``src``/``dst`` are 4 (IPv4) or 16 (IPv6) address bytes,
        ``payload`` the captured payload, ``seglen`` the payload length the original IP
        header announced (≥ the captured part when the snaplen cut the frame)."""
        if seglen < 0:
            self.skip("bad-tcp-header")
            return
        if len(payload) > seglen:
            payload = payload[:seglen]  # link-layer padding is not payload
        tcp = _TCP(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags & 0xFF, 0, 0, 0)
        if len(src) == 4:
            total = 40 + seglen
            # Only a TSO frame (announced length 0: trust the frame) can overflow; the
            # decoder reads 0 the same way.
            ip = _IPV4(0x45, 0, total if total <= 0xFFFF else 0, 0, 0, 64, 6, 0, src, dst)
        else:
            plen = 20 + seglen
            ip = _IPV6(0x60000000, plen if plen <= 0xFFFF else 0, 6, 64, src, dst)
        frame = ip + tcp + payload
        n = len(frame)
        self._parts.append(frame)
        self._records.append((ts, LINKTYPE_RAW, self._off, n, wirelen))
        self._off += n

    def __len__(self) -> int:
        return len(self._records)

    def take(self) -> Batch | None:
        """The batch gathered so far (None when empty); starts a new one."""
        if not self._records:
            return None
        out = (b"".join(self._parts), self._records)
        self._parts = []
        self._records = []
        self._off = 0
        return out


# ---- timestamps, the native reader's way




@dataclass
class TimeLayout:
    """How the native reader turns this file's timestamps into floats.

    Classic pcap: ``sec + frac * scale`` (``scale`` 1e-6 or 1e-9). pcapng: per interface
    ``ticks * mul + offset`` with ``mul`` from ``if_tsresol``.
    """

    format: str  # "pcap" / "pcapng", plus ".gz" when compressed
    pcap_scale: float = 1e-6
    interfaces: list[tuple[int, int]] = field(default_factory=list)  # (tsresol, tsoffset)

    def pcap_time(self, sec: int, frac: int) -> float:
        return sec + frac * self.pcap_scale

    def pcapng_time(self, ticks: int, tsresol: int, tsoffset: int = 0) -> float:
        return ticks * ts_multiplier(tsresol) + float(tsoffset)

    def from_ns(self, sec: int, nsec: int, iface: int = 0) -> float:
        """The native float for an exact time given as seconds + nanoseconds (what
        tshark prints); ``iface`` is the pcapng interface id."""
        if self.format.startswith("pcap") and not self.format.startswith("pcapng"):
            if self.pcap_scale == 1e-9:
                return self.pcap_time(sec, nsec)
            return self.pcap_time(sec, nsec // 1000)
        tsresol, tsoffset = self.interfaces[iface] if iface < len(self.interfaces) else (6, 0)
        if tsresol & 0x80 or tsresol > 9:
            # Binary or sub-nanosecond resolution: nanoseconds are all we were given.
            return (sec - tsoffset) + nsec * 1e-9 + float(tsoffset)
        ticks = (sec - tsoffset) * 10**tsresol + nsec // 10 ** (9 - tsresol)
        return self.pcapng_time(ticks, tsresol, tsoffset)


_PCAP_SCALES = {
    b"\xd4\xc3\xb2\xa1": 1e-6, b"\xa1\xb2\xc3\xd4": 1e-6,
    b"\x4d\x3c\xb2\xa1": 1e-9, b"\xa1\xb2\x3c\x4d": 1e-9,
}
_PEEK = 1 << 20


def time_layout(path: str) -> TimeLayout:
    """Identify ``path`` (pcap / pcapng, optionally gzip) and read its timestamp layout
    from the file header and the interface blocks before the first packet.

    Raises :class:`CaptureError` with the native reader's one-line reasons for a file
    that is missing, a directory, unreadable, empty or not a capture."""
    fh = open_file(path)
    try:
        compressed = isinstance(fh, gzip.GzipFile)
        # Small reads: a truncated .gz then still gives the bytes before the damage
        # (GzipFile.read(n) drops what it had when it hits the end of the stream).
        parts: list[bytes] = []
        size = 0
        while size < _PEEK:
            try:
                chunk = fh.read(16384)
            except (OSError, EOFError, zlib.error) as e:
                if parts:
                    break
                raise CaptureError(path, f"cannot read: {e}") from None
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        head = b"".join(parts)
    finally:
        fh.close()
    gz = ".gz" if compressed else ""
    if not head:
        raise CaptureError(path, "empty file (0 bytes): the capture was never written")
    if head[:4] in _PCAP_SCALES:
        return TimeLayout("pcap" + gz, _PCAP_SCALES[head[:4]])
    if head[:4] != b"\x0a\x0d\x0d\x0a":
        raise CaptureError(
            path, "not a pcap or pcapng capture; record one with `tcpdump -w FILE`"
        )
    layout = TimeLayout("pcapng" + gz)
    pos = 0
    order = "<"
    while pos + 12 <= len(head):
        if head[pos : pos + 4] == b"\x0a\x0d\x0d\x0a":
            order = "<" if head[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        btype, blk = struct.unpack_from(order + "II", head, pos)
        if blk < 12 or pos + blk > len(head):
            break
        if btype == 1:
            layout.interfaces.append(idb_time(head, pos + 16, pos + blk - 4, order))
        elif btype in (2, 3, 6):
            break  # packets follow: their interfaces are known
        pos += blk
    return layout
