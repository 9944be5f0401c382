"""Per-direction TCP byte-stream reassembly: sequence space, gaps, overlaps.

Theory of operation
-------------------
Each direction of a connection has one :class:`Stream`. It knows the next sequence
number it expects (``next_raw``, 32-bit, as on the wire) and how many bytes it has passed
on (``offset``, a 64-bit count, so wraparound never matters beyond the 32-bit delta).

* A segment that starts exactly at ``next_raw`` goes straight to the sink as
  ``(buf, start, end)`` — the frame is not copied (the common case).
* A segment that starts before it (retransmission, overlap) has its already-seen part
  trimmed; only new bytes go on. RFC 9293 §3.10.7.4: the first copy wins.
* A segment that starts after it (reordering, or loss) is copied into ``pending`` until
  the hole fills. The hole becomes a *gap* — counted in ``missing`` and reported to the
  sink, never filled with zeros — when the peer acknowledges past it (the receiver had
  those bytes, so the capture lost them), when pending data grows past a bound, or when
  the connection ends.
* A payload cut by the snaplen (fewer bytes captured than the IP header says) delivers
  what was captured and reports the rest as a gap.

Sequence comparisons use the signed 32-bit delta from ``next_raw`` (RFC 9293 §3.4), so
streams longer than 4 GiB and ISNs near 2**32 need no special case.
"""

from __future__ import annotations

from typing import Final

from analyzer.core.http1 import MessageReader
from analyzer.core.sink import Sink

__all__ = ["Sink", "Stream"]

MASK: Final = 0xFFFFFFFF
HALF: Final = 0x80000000
MAX_PENDING_BYTES: Final = 1 << 20
MAX_PENDING_SEGMENTS: Final = 1024


class Stream:
    """One direction's byte stream; see the module docstring."""

    __slots__ = (
        "started", "next_raw", "offset", "pending", "pending_bytes", "missing",
        "fin_offset", "eof_sent", "sink", "retransmitted",
    )

    def __init__(self) -> None:
        self.started = False
        self.next_raw = 0
        self.offset = 0  # bytes accounted for (delivered + gaps)
        self.pending: dict[int, tuple[bytes, int, float]] = {}  # offset -> (data, seglen, ts)
        self.pending_bytes = 0
        self.missing = 0
        self.fin_offset = -1
        self.eof_sent = False
        self.sink: Sink | None = None
        self.retransmitted = 0

    def start(self, seq: int) -> None:
        """The first sequence number of data (ISN + 1 after a SYN)."""
        self.started = True
        self.next_raw = seq & MASK

    def delivers(self, seq: int) -> bool:
        """Would a segment whose data starts at ``seq`` go to the sink at once (it is the
        next in order, or the first the stream sees)?"""
        return not self.started or (seq - self.next_raw) & MASK == 0

    def segment(
        self, seq: int, buf: bytes, ps: int, pe: int, seglen: int, ts: float, fin: bool
    ) -> None:
        """A segment whose data starts at ``seq`` (after any SYN) carrying ``seglen`` bytes,
        of which ``buf[ps:pe]`` were captured; ``fin`` when it carries a FIN."""
        if not self.started:
            self.start(seq)
        delta = (seq - self.next_raw) & MASK
        if delta >= HALF:
            delta -= 0x100000000
        if fin and self.fin_offset < 0:
            self.fin_offset = self.offset + delta + seglen  # where the FIN sits
        if delta == 0:
            if seglen:
                sink = self.sink
                if pe - ps == seglen and sink is not None:
                    # The common case, inlined: in order, fully captured. (The isinstance
                    # lets the compiled code call the HTTP reader directly.)
                    if isinstance(sink, MessageReader):
                        sink.data(buf, ps, pe, ts)
                    else:
                        sink.data(buf, ps, pe, ts)
                    self.offset += seglen
                    self.next_raw = (self.next_raw + seglen) & MASK
                else:
                    self._deliver(buf, ps, pe, seglen, ts)
                if self.pending:
                    self._drain(ts)
        elif delta < 0:
            if delta + seglen > 0:
                # Overlap: pass on only the bytes past what we have.
                trim = -delta
                self.retransmitted += trim
                s = ps + trim
                self._deliver(buf, s if s < pe else pe, pe, seglen - trim, ts)
                if self.pending:
                    self._drain(ts)
            elif seglen:
                self.retransmitted += seglen
        elif seglen:
            at = self.offset + delta
            old = self.pending.get(at)
            if old is None or len(old[0]) < pe - ps:
                if old is not None:
                    # A longer copy replaces the pending one: take the old bytes out of
                    # the count, or pending_bytes creeps up until the MAX_PENDING_BYTES
                    # bound trips and declares false gaps on a lossless stream.
                    self.pending_bytes -= len(old[0])
                self.pending[at] = (buf[ps:pe], seglen, ts)
                self.pending_bytes += pe - ps
            if (
                self.pending_bytes > MAX_PENDING_BYTES
                or len(self.pending) > MAX_PENDING_SEGMENTS
            ):
                self._skip_to(min(self.pending), ts)
                self._drain(ts)
        if self.fin_offset >= 0 and not self.eof_sent and self.offset >= self.fin_offset:
            self.eof_sent = True
            if self.sink is not None:
                self.sink.eof(ts)

    def acked(self, ack: int, ts: float) -> None:
        """The peer acknowledged up to ``ack``: a hole below it was lost by the capture."""
        delta = (ack - self.next_raw) & MASK
        if delta >= HALF or delta == 0 or not self.pending:
            return
        target = self.offset + delta
        first = min(self.pending)
        self._skip_to(first if first < target else target, ts)
        self._drain(ts)
        if self.fin_offset >= 0 and not self.eof_sent and self.offset >= self.fin_offset:
            self.eof_sent = True
            if self.sink is not None:
                self.sink.eof(ts)

    def flush(self, ts: float) -> None:
        """The connection ended: deliver what is pending, with gaps for the holes."""
        while self.pending:
            self._skip_to(min(self.pending), ts)
            self._drain(ts)
        if not self.eof_sent:
            self.eof_sent = True
            if self.sink is not None:
                self.sink.eof(ts)

    # ---- internals
    def _deliver(self, buf: bytes, ps: int, pe: int, seglen: int, ts: float) -> None:
        cap = pe - ps
        sink = self.sink
        if cap > 0 and sink is not None:
            sink.data(buf, ps, pe, ts)
        if seglen > cap:
            lost = seglen - (cap if cap > 0 else 0)
            self.missing += lost
            if sink is not None:
                sink.gap(lost, ts)
        self.offset += seglen
        self.next_raw = (self.next_raw + seglen) & MASK

    def _skip_to(self, at: int, ts: float) -> None:
        n = at - self.offset
        if n <= 0:
            return
        self.missing += n
        if self.sink is not None:
            self.sink.gap(n, ts)
        self.offset = at
        self.next_raw = (self.next_raw + n) & MASK

    def _drain(self, ts: float) -> None:
        pending = self.pending
        while pending:
            at = min(pending)
            if at > self.offset:
                return
            data, seglen, sts = pending.pop(at)
            self.pending_bytes -= len(data)
            over = self.offset - at
            if over >= seglen:
                self.retransmitted += seglen
                continue
            self.retransmitted += over
            s = over if over < len(data) else len(data)
            self._deliver(data, s, len(data), seglen - over, sts)
