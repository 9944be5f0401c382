"""Passive HTTP/2 (h2c, and tls/h2 once decrypted): frames, streams and exchanges.

Theory of operation
-------------------
An :class:`H2Conversation` is the HTTP side of one HTTP/2 connection. It owns two
:class:`FrameReader` — one per direction, each a :class:`~analyzer.core.streams.Sink` fed
``data(buf, start, end, ts)``, ``gap(n, ts)`` and ``eof(ts)`` in stream order, in segments
of any size — and turns what they read into one :class:`ExchangeRecord` per client
stream, plus the connection's HTTP/2 facts (:meth:`H2Conversation.facts`).

A reader walks frames (RFC 9113 §4.1: a 9-byte header — 24-bit length, type, flags,
31-bit stream id — then the payload). States::

    PREFACE ──24 bytes of the client preface──▶ HEADER          (client, RFC 9113 §3.4)
    PREFACE_MAYBE ──preface, or the first byte that is not──▶ HEADER   (client, midstream)
    HEADER ──9 bytes──▶ COLLECT ──the bytes kept──▶ SKIP ──the rest──▶ (frame) ▶ HEADER
    any ──gap across a frame header──▶ RESYNC ──two chained plausible headers──▶ HEADER
    any ──frame over the peer's SETTINGS_MAX_FRAME_SIZE, bad preface, eof──▶ STOPPED

Only what the analysis needs is kept (:func:`_keep`): header block fragments (HEADERS,
CONTINUATION, PUSH_PROMISE; a block is bounded by :data:`MAX_HEADER_BLOCK`), SETTINGS,
and the first 8 bytes of GOAWAY. Every other payload — DATA above all — is skipped by
arithmetic, never copied. A frame takes effect when its last byte has arrived, so the
result does not depend on how the bytes were segmented; a HEADERS frame's exchange takes
the time of the segment that carried the frame's first byte.

Header blocks are decoded with one stateful :class:`hpack.Decoder` per direction (its
dynamic table spans the connection, RFC 7541 §2.3.2), whose allowed table size follows
the peer's SETTINGS_HEADER_TABLE_SIZE. Once a block of a direction is lost — a gap in
it, a decoding error, a block too large, a CONTINUATION missing — that table is
unknowable, so the direction's blocks are no longer decoded; its frames are still
walked and counted (streams, END_STREAM, RST_STREAM, GOAWAY), so stream counts stay
right while methods, targets and statuses go unknown. A gap that stays inside a
payload keeps the framing (the length says where the next frame starts); one that
crosses a frame header loses it, and the reader looks for two consecutive plausible
frame headers (:meth:`FrameReader._plausible`: a known type with its flags and length,
a stream where it may travel, not far above the highest seen) before it trusts the bytes
again; at the stream's end, for the frames the held bytes end with.

Streams (RFC 9113 §5.1): a client stream (odd id) opens with its first HEADERS and
closes when both sides have sent END_STREAM or either sent RST_STREAM; the most open at
once is ``max_concurrent_streams``. Each client stream is an exchange, numbered in the
order of the streams' first HEADERS. The server's HEADERS on it are 1xx interim
responses (counted), then the final response, then trailers. A response on a stream
whose request was never seen (a capture that began after it, or a gap) still makes an
exchange, without method, as :class:`analyzer.core.exchanges.Conversation` does.
Server-pushed streams (even ids) are no client exchanges: PUSH_PROMISE is counted.
The facts count frames of both sides: RST_STREAM (and by whom), PUSH_PROMISE, PING and
SETTINGS without their ACKs, and the first GOAWAY (who sent it, its last stream, its
error) — the one that started closing the connection.

h2c by ``Upgrade: h2c`` (RFC 7540 §3.2): the HTTP/1.1 request becomes stream 1's request
(:meth:`H2Conversation.upgraded_request`), half-closed from the client; after the 101
the client sends the preface and the server its SETTINGS, then stream 1's response.

Hostile bytes are data: every oddity is counted in ``anomalies`` under a name from
:data:`ANOMALIES` and reading goes on (or stops for that direction); nothing raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from hpack import Decoder

from analyzer.core.exchanges import KEEP
from analyzer.core.http1 import MAX_SOFTWARE
from analyzer.core.records import ExchangeRecord
from analyzer.core.secrets import redact_target

PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"  # RFC 9113 §3.4
FRAME_HEADER_SIZE: Final = 9
DEFAULT_MAX_FRAME_SIZE: Final = 16384  # SETTINGS_MAX_FRAME_SIZE's initial value (§6.5.2)
MAX_FRAME_SIZE_LIMIT: Final = (1 << 24) - 1  # its largest allowed value: the hard cap
MAX_HEADER_BLOCK: Final = 256 * 1024  # a header block's bound, compressed (anomaly past it)
MAX_HEADER_LIST: Final = 256 * 1024  # its bound decoded (hpack's measure, RFC 7541 §4.1)
MAX_TABLE_SIZE: Final = 256 * 1024  # the dynamic table we keep at most (browsers ask 64 KiB)
MAX_SETTINGS_KEPT: Final = 6 * 64  # SETTINGS bytes read (64 parameters; the rest skipped)
MAX_OPEN_STREAMS: Final = 4096  # open streams tracked (anomaly, oldest dropped, past it)
RESYNC_WINDOW: Final = 64 * 1024  # how far on a candidate frame's successor is awaited
# Resynchronising, a stream id more than this above the highest seen is taken for noise
# (garbage read as a header has a random 31-bit id; 8192 new streams within one gap is a lot)
RESYNC_STREAM_SLACK: Final = 1 << 14

# ---- frame types (RFC 9113 §6) and flags
DATA: Final = 0x0
HEADERS: Final = 0x1
PRIORITY: Final = 0x2
RST_STREAM: Final = 0x3
SETTINGS: Final = 0x4
PUSH_PROMISE: Final = 0x5
PING: Final = 0x6
GOAWAY: Final = 0x7
WINDOW_UPDATE: Final = 0x8
CONTINUATION: Final = 0x9

END_STREAM: Final = 0x1
ACK: Final = 0x1
END_HEADERS: Final = 0x4
PADDED: Final = 0x8
PRIORITY_FLAG: Final = 0x20

# ---- the frame table: per type, the flags it defines, where it may travel, its length.
# Resynchronising trusts only headers that fit it; reading checks the lengths.
ZERO: Final = 0  # stream 0 only (connection frames)
NONZERO: Final = 1  # a stream, never 0
EITHER: Final = 2
ANY_LENGTH: Final = -1
FRAME_RULES: Final[tuple[tuple[int, int, int], ...]] = (
    # (defined flags, stream, exact length)
    (END_STREAM | PADDED, NONZERO, ANY_LENGTH),  # DATA
    (END_STREAM | END_HEADERS | PADDED | PRIORITY_FLAG, NONZERO, ANY_LENGTH),  # HEADERS
    (0, NONZERO, 5),  # PRIORITY
    (0, NONZERO, 4),  # RST_STREAM
    (ACK, ZERO, ANY_LENGTH),  # SETTINGS: a multiple of 6, 0 with ACK
    (END_HEADERS | PADDED, NONZERO, ANY_LENGTH),  # PUSH_PROMISE
    (ACK, ZERO, 8),  # PING
    (0, ZERO, ANY_LENGTH),  # GOAWAY: at least 8
    (0, EITHER, 4),  # WINDOW_UPDATE
    (END_HEADERS, NONZERO, ANY_LENGTH),  # CONTINUATION
)

# ---- SETTINGS parameters (RFC 9113 §6.5.2)
SETTINGS_HEADER_TABLE_SIZE: Final = 0x1
SETTINGS_MAX_CONCURRENT_STREAMS: Final = 0x3
SETTINGS_MAX_FRAME_SIZE: Final = 0x5

# RFC 9113 §7, by code
ERROR_CODES: Final = (
    "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
    "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
    "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
)

# ---- reader states
PREFACE_STATE: Final = 0
PREFACE_MAYBE: Final = 1
HEADER: Final = 2
COLLECT: Final = 3
SKIP: Final = 4
RESYNC: Final = 5
STOPPED: Final = 6

# ---- what a header block is, for its stream
REQUEST: Final = 0  # a client stream's first HEADERS
RESPONSE: Final = 1  # the server's HEADERS before the final response: 1xx or final
TRAILERS: Final = 2  # a later HEADERS of that side
PUSH: Final = 3  # a PUSH_PROMISE's request (decoded only for the table)
IGNORED: Final = 4  # on stream 0, a pushed stream, a closed stream (decoded for the table)

ANOMALIES: Final = {
    "bad-preface": "the client's first 24 bytes are not the HTTP/2 preface (direction stops)",
    "frame-too-large": "a frame longer than the peer's SETTINGS_MAX_FRAME_SIZE (stops)",
    "settings-not-first": "a side's first frame is not SETTINGS (RFC 9113 §3.4)",
    "bad-stream-id": "a frame on stream 0 that needs a stream, or the reverse",
    "bad-frame-length": "RST_STREAM/PING/PRIORITY/WINDOW_UPDATE/SETTINGS/GOAWAY length",
    "bad-padding": "the padding is longer than the frame",
    "bad-max-frame-size": "SETTINGS_MAX_FRAME_SIZE out of 16384..16777215",
    "settings-ack-with-payload": "a SETTINGS ACK that carries parameters",
    "continuation-expected": "a header block interrupted before END_HEADERS",
    "unexpected-continuation": "a CONTINUATION with no header block open",
    "header-block-too-large": "a header block over MAX_HEADER_BLOCK (dropped)",
    "hpack-decoding-error": "a header block hpack cannot decode",
    "push-promise-from-client": "a PUSH_PROMISE sent by the client",
    "client-headers-on-even-stream": "the client opened a stream with an even id",
    "headers-on-closed-stream": "HEADERS on a stream already closed",
    "headers-after-end-stream": "HEADERS from a side after its END_STREAM",
    "request-without-method": "a decoded request without :method",
    "response-without-status": "a decoded response without a usable :status",
    "response-without-request": "a response on a stream whose request was not seen",
    "interim-response-ends-stream": "a 1xx response with END_STREAM",
    "too-many-open-streams": "more than MAX_OPEN_STREAMS open (the oldest is forgotten)",
    "gap-in-header-block": "bytes lost inside a header block (hpack state lost)",
    "gap-in-frame": "bytes lost inside a SETTINGS or GOAWAY payload",
    "gap-lost-framing": "bytes lost across a frame header (resynchronised; hpack lost)",
    "frame-cut-by-close": "the stream ended inside a frame",
    "header-block-cut-by-close": "the stream ended before a header block's END_HEADERS",
}

_interned: dict[bytes, str] = {}


def _text(b: bytes) -> str:
    """Header bytes as text (latin-1, as HTTP/1 targets are); methods repeat, so
    short values are interned."""
    s = _interned.get(b)
    if s is None:
        s = b.decode("latin-1")
        if len(b) <= 16 and len(_interned) < 1024:
            _interned[b] = s
    return s


def _software(b: bytes) -> str:
    return b[:MAX_SOFTWARE].decode("latin-1").strip()


def error_name(code: int) -> str:
    """An RFC 9113 §7 error code's name, or ``0x…`` for one it does not define."""
    if 0 <= code < len(ERROR_CODES):
        return ERROR_CODES[code]
    return f"0x{code:x}"


def _keep(ftype: int, length: int) -> int:
    """How many bytes of a frame's payload are kept (the rest is skipped by arithmetic);
    header block frames are decided by the reader (they are kept only while decoding)."""
    if ftype == SETTINGS:
        return length if length < MAX_SETTINGS_KEPT else MAX_SETTINGS_KEPT
    if ftype == GOAWAY:
        return length if length < 8 else 8
    return 0


class _Stream:
    """A client stream's state while it is open."""

    __slots__ = ("sid", "ex", "client_done", "server_done", "final", "closed")

    def __init__(self, sid: int, ex: ExchangeRecord) -> None:
        self.sid = sid
        self.ex = ex
        self.client_done = False  # END_STREAM from the client (or not to be seen)
        self.server_done = False
        self.final = False  # the final response's HEADERS came
        self.closed = False


class FrameReader:
    """One direction's frames; see the module docstring."""

    __slots__ = (
        "client", "conv", "state", "matched", "hbuf", "pbuf", "payload", "need",
        "remaining", "ftype", "flags", "sid", "length", "frame_ts", "whole", "max_frame",
        "decoder", "decoding", "expect_settings", "rbuf", "rpos", "in_block", "blk",
        "blk_sid", "blk_kind", "blk_stream", "blk_end_stream", "blk_ts", "blk_dropped",
        "frames",
    )

    def __init__(self, client: bool, conv: H2Conversation, preface: bool, midstream: bool) -> None:
        self.client = client
        self.conv: H2Conversation | None = conv
        if client and preface:
            self.state = PREFACE_MAYBE if midstream else PREFACE_STATE
        else:
            self.state = HEADER
        self.matched = 0  # bytes of the preface seen
        # Until the peer's SETTINGS are seen: their initial value; midstream they may have
        # been missed, so the hard cap.
        self.max_frame = MAX_FRAME_SIZE_LIMIT if midstream else DEFAULT_MAX_FRAME_SIZE
        self.expect_settings = not client and not midstream  # the server's preface
        self.hbuf = bytearray()  # a frame header split across segments
        self.pbuf = bytearray()  # kept payload split across segments
        self.payload = b""  # the kept payload of the frame being finished
        self.need = 0  # payload bytes still to keep
        self.remaining = 0  # payload bytes then to skip
        self.ftype = 0
        self.flags = 0
        self.sid = 0
        self.length = 0
        self.frame_ts = 0.0  # the time of the segment with the frame's first byte
        self.whole = True  # the kept payload arrived whole (no gap in it)
        self.frames = 0
        self.decoder: Decoder | None = Decoder(max_header_list_size=MAX_HEADER_LIST)
        self.decoding = True
        self.rbuf = bytearray()  # bytes looked at while resynchronising
        self.rpos = 0  # the candidate frame start in rbuf
        # the header block being assembled (HEADERS or PUSH_PROMISE, then CONTINUATION)
        self.in_block = False
        self.blk = bytearray()
        self.blk_sid = 0
        self.blk_kind = IGNORED
        self.blk_stream: _Stream | None = None
        self.blk_end_stream = False
        self.blk_ts = 0.0
        self.blk_dropped = False

    # ---- the Sink interface
    def data(self, buf: bytes, s: int, e: int, ts: float) -> None:
        while s < e:
            st = self.state
            if st == SKIP:
                n = e - s
                r = self.remaining
                if n < r:
                    self.remaining = r - n
                    return
                s += r
                self.remaining = 0
                self._end_frame(ts)
            elif st == HEADER:
                hbuf = self.hbuf
                if not hbuf:
                    self.frame_ts = ts
                    if e - s >= FRAME_HEADER_SIZE:
                        self._begin(buf, s, ts)
                        s += FRAME_HEADER_SIZE
                        continue
                take = FRAME_HEADER_SIZE - len(hbuf)
                if take > e - s:
                    take = e - s
                hbuf += buf[s : s + take]
                s += take
                if len(hbuf) == FRAME_HEADER_SIZE:
                    head = bytes(hbuf)
                    hbuf.clear()
                    self._begin(head, 0, ts)
            elif st == COLLECT:
                pbuf = self.pbuf
                need = self.need
                if not pbuf and e - s >= need:
                    self.payload = buf[s : s + need]
                    s += need
                else:
                    take = need - len(pbuf)
                    if take > e - s:
                        take = e - s
                    pbuf += buf[s : s + take]
                    s += take
                    if len(pbuf) < need:
                        return
                    self.payload = bytes(pbuf)
                    pbuf.clear()
                self.need = 0
                if self.remaining:
                    self.state = SKIP
                else:
                    self._end_frame(ts)
            elif st == PREFACE_STATE or st == PREFACE_MAYBE:
                s = self._preface(buf, s, e, ts)
            elif st == RESYNC:
                s = self._resync(buf, s, e, ts)
            else:  # STOPPED
                return

    def gap(self, n: int, ts: float) -> None:
        st = self.state
        if st == STOPPED:
            return
        if st == RESYNC:
            self.rbuf.clear()  # what follows does not continue what was held
            self.rpos = 0
            return
        if st == PREFACE_STATE and n < len(PREFACE) - self.matched:
            self.matched += n  # the preface is fixed: the framing is intact
            return
        if st == PREFACE_STATE and n == len(PREFACE) - self.matched:
            self._preface_done()
            return
        if st == COLLECT or st == SKIP:
            rest = self.need - len(self.pbuf) + self.remaining  # of this frame's payload
            if self.need:
                # Lost bytes of a payload that was being kept
                self.whole = False
                if self.ftype == SETTINGS or self.ftype == GOAWAY:
                    self._anomaly("gap-in-frame")
                elif self.decoding:
                    self._anomaly("gap-in-header-block")
                    self._lose_hpack()
            self.pbuf.clear()
            self.need = 0
            if n < rest:
                self.remaining = rest - n
                self.state = SKIP
                return
            self.remaining = 0
            self._end_frame(ts)
            if n == rest:
                return  # the gap ended with the frame: the framing is intact
        self._lost_framing(ts)

    def eof(self, ts: float) -> None:
        st = self.state
        if st == RESYNC:
            found = self._scan(True)  # the frames the held bytes end with
            if found >= 0:
                self._resume(found, ts)
                st = self.state
        if st == COLLECT or st == SKIP or (st == HEADER and self.hbuf) or (
            st == PREFACE_STATE and self.matched
        ):
            self._anomaly("frame-cut-by-close")
        elif self.in_block and st != STOPPED and st != RESYNC:
            self._anomaly("header-block-cut-by-close")
        self._stop()

    # ---- frames
    def _begin(self, head: bytes, p: int, ts: float) -> None:
        """The frame header at ``head[p:p+9]`` has arrived."""
        length = (head[p] << 16) | (head[p + 1] << 8) | head[p + 2]
        ftype = head[p + 3]
        flags = head[p + 4]
        sid = (
            ((head[p + 5] & 0x7F) << 24) | (head[p + 6] << 16) | (head[p + 7] << 8) | head[p + 8]
        )  # the reserved bit is ignored (§4.1)
        self.frames += 1
        if length > self.max_frame:
            self._anomaly("frame-too-large")  # §4.2: a connection error; no sense after it
            self._stop()
            return
        if self.expect_settings:
            self.expect_settings = False
            if ftype != SETTINGS:
                self._anomaly("settings-not-first")
        self.ftype, self.flags, self.sid, self.length = ftype, flags, sid, length
        if self.in_block and (ftype != CONTINUATION or sid != self.blk_sid):
            # §6.10: nothing may come between a header block's frames
            self._anomaly("continuation-expected")
            self._lose_hpack()
            self._finish_block(ts)
        keep = 0
        if ftype == HEADERS or ftype == PUSH_PROMISE or ftype == CONTINUATION:
            if ftype == CONTINUATION and not self.in_block:
                self._anomaly("unexpected-continuation")
                self.ftype = -1  # skipped
            elif self.decoding and length <= MAX_HEADER_BLOCK and not (
                ftype == CONTINUATION and self.blk_dropped
            ):
                keep = length
        else:
            keep = _keep(ftype, length)
        self.whole = True
        self.payload = b""
        self.need = keep
        self.remaining = length - keep
        if keep:
            self.state = COLLECT
        elif self.remaining:
            self.state = SKIP
        else:
            self._end_frame(ts)

    def _end_frame(self, ts: float) -> None:
        """The frame's last byte has arrived (or was lost in a gap): it takes effect."""
        self.state = HEADER
        conv = self.conv
        if conv is None:
            return
        ftype = self.ftype
        flags = self.flags
        sid = self.sid
        if sid > conv.max_stream_seen:
            conv.max_stream_seen = sid
        rule = FRAME_RULES[ftype] if 0 <= ftype < len(FRAME_RULES) else None
        if rule is not None:
            where = rule[1]
            if (where == ZERO and sid != 0) or (where == NONZERO and sid == 0):
                self._anomaly("bad-stream-id")
                if ftype != HEADERS and ftype != PUSH_PROMISE and ftype != CONTINUATION:
                    return  # (a header block still goes through the decoder, for its table)
            if rule[2] >= 0 and self.length != rule[2]:
                self._anomaly("bad-frame-length")
        if ftype == DATA:
            if flags & END_STREAM:
                conv._end_side(self.client, sid, ts)
        elif ftype == HEADERS:
            kind, stream = conv._headers_frame(self.client, sid, self.frame_ts)
            self._open_block(sid, kind, stream, bool(flags & END_STREAM))
            self._fragment(ts)
        elif ftype == CONTINUATION:
            self._fragment(ts)
        elif ftype == PUSH_PROMISE:
            if self.client:
                self._anomaly("push-promise-from-client")
            else:
                conv.pushes += 1
            self._open_block(sid, PUSH, None, False)
            self._fragment(ts)
        elif ftype == RST_STREAM:
            conv._rst(self.client, sid, ts)
        elif ftype == SETTINGS:
            if flags & ACK:
                if self.length:
                    self._anomaly("settings-ack-with-payload")
            else:
                if self.length % 6:
                    self._anomaly("bad-frame-length")
                conv._settings(self.client, self.payload if self.whole else b"")
        elif ftype == PING:
            if not flags & ACK:
                conv.pings += 1
        elif ftype == GOAWAY:
            if self.length < 8:
                self._anomaly("bad-frame-length")
            conv._goaway(self.client, self.payload if self.whole else b"", ts)
        # PRIORITY, WINDOW_UPDATE and unknown types (§5.5: ignored) need nothing more
        self.payload = b""

    def _open_block(self, sid: int, kind: int, stream: _Stream | None, end_stream: bool) -> None:
        self.in_block = True
        self.blk_sid = sid
        self.blk_kind = kind
        self.blk_stream = stream
        self.blk_end_stream = end_stream
        self.blk_ts = self.frame_ts
        self.blk_dropped = not self.decoding
        self.blk.clear()

    def _fragment(self, ts: float) -> None:
        """Add the frame's header block fragment (without padding, priority, promised
        stream id) to the block; at END_HEADERS the block is complete."""
        if not self.blk_dropped:
            payload = self.payload
            if not self.whole:
                self._lose_hpack()  # (the gap was counted)
            elif len(payload) != self.length:  # not kept: too large
                self._anomaly("header-block-too-large")
                self._lose_hpack()
            else:
                start = 0
                end = len(payload)
                ftype = self.ftype
                flags = self.flags
                if ftype != CONTINUATION and flags & PADDED:
                    start = 1
                    end -= payload[0] if end else 1
                if ftype == HEADERS and flags & PRIORITY_FLAG:
                    start += 5
                elif ftype == PUSH_PROMISE:
                    start += 4  # the promised stream id
                if end < start:
                    self._anomaly("bad-padding")
                    self._lose_hpack()
                elif len(self.blk) + end - start > MAX_HEADER_BLOCK:
                    self._anomaly("header-block-too-large")
                    self._lose_hpack()
                else:
                    self.blk += payload[start:end]
        if self.flags & END_HEADERS:
            self._finish_block(ts)

    def _finish_block(self, ts: float) -> None:
        """The header block is complete (or given up): decode it, report it."""
        self.in_block = False
        headers: list[tuple[bytes, bytes]] | None = None
        decoder = self.decoder
        if not self.blk_dropped and decoder is not None:
            try:
                headers = [(h[0], h[1]) for h in decoder.decode(bytes(self.blk), raw=True)]
            except Exception:  # hpack's errors, and whatever hostile bytes make it raise
                self._anomaly("hpack-decoding-error")
                self._lose_hpack()
        self.blk.clear()
        stream = self.blk_stream
        self.blk_stream = None
        conv = self.conv
        if conv is not None:
            conv._header_block(
                self.client, self.blk_kind, stream, headers, self.blk_end_stream, self.blk_ts,
                ts,
            )

    def _lose_hpack(self) -> None:
        """This direction's dynamic table is unknowable from now on: stop decoding."""
        self.decoding = False
        self.decoder = None
        self.blk_dropped = True
        self.blk.clear()

    # ---- preface, resynchronisation, stopping
    def _preface(self, buf: bytes, s: int, e: int, ts: float) -> int:
        m = self.matched
        while s < e and m < len(PREFACE):
            if buf[s] != PREFACE[m]:
                if self.state == PREFACE_STATE:
                    self._anomaly("bad-preface")
                    self._stop()
                    return e
                # Midstream: no preface after all; what matched so far is frame bytes.
                self.state = HEADER
                self.matched = 0
                if m:
                    self.data(PREFACE[:m], 0, m, ts)
                return s
            m += 1
            s += 1
        self.matched = m
        if m == len(PREFACE):
            self._preface_done()
        return s

    def _preface_done(self) -> None:
        self.state = HEADER
        self.expect_settings = True  # the client's SETTINGS follow (§3.4)
        conv = self.conv
        if conv is not None and self.client:
            # The client's side is seen from its start: so are its SETTINGS, which set
            # the server's frame size limit.
            conv.responses_reader.max_frame = DEFAULT_MAX_FRAME_SIZE

    def _lost_framing(self, ts: float) -> None:
        self._anomaly("gap-lost-framing")
        self._lose_hpack()
        if self.in_block:
            self._finish_block(ts)
        self.hbuf.clear()
        self.pbuf.clear()
        self.need = self.remaining = 0
        self.matched = 0
        self.rbuf.clear()
        self.rpos = 0
        self.state = RESYNC

    def _plausible(self, b: bytes | bytearray, p: int, first: bool) -> int:
        """The length of the frame whose header would be at ``b[p:p+9]``, when that header
        fits :data:`FRAME_RULES` (a known type, only its flags, a stream where it may
        travel, its length); else -1. A CONTINUATION can not be the ``first``."""
        ftype = b[p + 3]
        if ftype >= len(FRAME_RULES) or (first and ftype == CONTINUATION) or b[p + 5] & 0x80:
            return -1
        length = (b[p] << 16) | (b[p + 1] << 8) | b[p + 2]
        if length > self.max_frame:
            return -1
        flags_defined, where, exact = FRAME_RULES[ftype]
        if b[p + 4] & ~flags_defined:
            return -1
        sid = (b[p + 5] << 24) | (b[p + 6] << 16) | (b[p + 7] << 8) | b[p + 8]
        if (where == ZERO and sid != 0) or (where == NONZERO and sid == 0):
            return -1
        if exact >= 0 and length != exact:
            return -1
        if ftype == SETTINGS and (length % 6 or (b[p + 4] & ACK and length)):
            return -1
        if ftype == GOAWAY and length < 8:
            return -1
        if length == 0 and (
            ftype == HEADERS or ftype == PUSH_PROMISE or ftype == CONTINUATION
            or (ftype == DATA and not b[p + 4] & END_STREAM)
        ):
            return -1  # legal, but what runs of zeros (padding, bodies) look like
        conv = self.conv
        if conv is not None and conv.max_stream_seen and (
            sid > conv.max_stream_seen + RESYNC_STREAM_SLACK
        ):
            return -1
        return length

    def _resync(self, buf: bytes, s: int, e: int, ts: float) -> int:
        """Look for a frame start: a plausible header followed, where its length says,
        by another (or one too long for that to be awaited). Decided by the bytes alone,
        never by where segments were cut."""
        self.rbuf += buf[s:e]
        found = self._scan(False)
        if found >= 0:
            self._resume(found, ts)
        return e

    def _scan(self, final: bool) -> int:
        """Where in ``rbuf`` frames start again, or -1 (for now). ``final``: no more
        bytes will come, so a candidate whose successor would lie past them is dropped,
        and one that ends exactly with them is the last frame."""
        rbuf = self.rbuf
        p = self.rpos
        n = len(rbuf)
        found = -1
        while p + FRAME_HEADER_SIZE <= n:
            length = self._plausible(rbuf, p, True)
            if length >= 0:
                q = p + FRAME_HEADER_SIZE + length
                if q - p > RESYNC_WINDOW or (final and q == n):
                    found = p
                    break
                if q + FRAME_HEADER_SIZE > n:
                    if not final:
                        break  # wait for the successor's header
                elif self._plausible(rbuf, q, False) >= 0:
                    found = p
                    break
            p += 1
        if found < 0 and p > RESYNC_WINDOW:
            del rbuf[:p]  # (decisions only look forward from p)
            p = 0
        self.rpos = p
        return found

    def _resume(self, at: int, ts: float) -> None:
        """Frames start again at ``rbuf[at]``: read them."""
        rest = bytes(self.rbuf[at:])
        self.rbuf.clear()
        self.rpos = 0
        self.state = HEADER
        self.data(rest, 0, len(rest), ts)  # (never RESYNC again without a gap)

    def _stop(self) -> None:
        self.state = STOPPED
        self.hbuf.clear()
        self.pbuf.clear()
        self.rbuf.clear()
        self.blk.clear()
        self.payload = b""
        self.in_block = False
        self.blk_stream = None

    def _anomaly(self, name: str) -> None:
        conv = self.conv
        if conv is not None:
            conv.anomaly(name)

    def release(self) -> None:
        self._stop()
        self.conv = None
        self.decoder = None


class H2Conversation:
    """The HTTP/2 side of one connection: two frame readers, the streams, the exchanges.
    Offers what :class:`analyzer.core.exchanges.Conversation` offers its owner."""

    __slots__ = (
        "requests_reader", "responses_reader", "cid", "handshake_seen", "spool", "count",
        "requests", "responses", "interim", "upgraded", "close_delimited", "anomalies",
        "exchanges", "user_agent", "server_software", "forwarded", "via", "show_secrets",
        "midstream", "streams", "max_client_stream", "first_client_stream", "open",
        "max_open", "settings_max_concurrent_streams", "rst_streams", "rst_by_client",
        "rst_by_server", "pushes", "goaway_by", "goaway_last_stream", "goaway_error", "goaway_ts",
        "pings", "settings", "_request_software", "_response_software", "max_stream_seen",
    )

    def __init__(
        self,
        midstream: bool = False,
        cid: str = "",
        spool: Callable[[ExchangeRecord], None] | None = None,
        show_secrets: bool = False,
        preface: bool = True,
    ) -> None:
        self.cid = cid
        self.show_secrets = show_secrets
        self.midstream = midstream
        self.handshake_seen = not midstream
        self.spool = spool
        self.count = 0  # exchanges ever made (client streams)
        self.requests = 0
        self.responses = 0
        self.interim = 0
        self.upgraded = False
        self.close_delimited = False  # (HTTP/2 frames every body)
        self.anomalies: dict[str, int] = {}
        self.exchanges: list[ExchangeRecord] = []
        self.user_agent: str | None = None
        self.server_software: str | None = None
        self.forwarded = False
        self.via: str | None = None
        self._request_software = True  # still to be read from the first decoded request
        self._response_software = True
        self.streams: dict[int, _Stream] = {}  # open client streams, in order of opening
        self.max_client_stream = 0  # the highest client stream id opened (§5.1.1)
        self.max_stream_seen = 0  # the highest stream id of any frame (resynchronising)
        self.first_client_stream = 0  # midstream: streams below it began before the capture
        self.open = 0
        self.max_open = 0
        self.settings_max_concurrent_streams: int | None = None
        self.rst_streams = 0
        self.rst_by_client = 0
        self.rst_by_server = 0
        self.pushes = 0
        self.goaway_by: str | None = None
        self.goaway_last_stream: int | None = None
        self.goaway_error: str | None = None
        self.goaway_ts: float | None = None
        self.pings = 0
        self.settings = 0
        self.requests_reader = FrameReader(True, self, preface, midstream)
        self.responses_reader = FrameReader(False, self, False, midstream)

    # ---- the owner's interface
    def upgraded_request(self, ex: ExchangeRecord) -> None:
        """h2c by ``Upgrade: h2c`` (RFC 7540 §3.2): the HTTP/1.1 request ``ex``, answered
        by 101, is stream 1's request, half-closed from the client; stream 1's response
        will fill it. This conversation takes the exchange over (``count``, ``requests``,
        ``exchanges``); the 101 becomes one of its interim responses."""
        self.upgraded = True
        ex.stream = 1
        ex.interim_responses += 1
        self.interim += 1
        ex.status = None
        ex.reason = ""
        ex.response_ts = ex.response_end_ts = None
        ex.response_version = None
        ex.response_connection = ""  # (the 101's; HTTP/2 responses have no Connection)
        ex.framing = None
        if ex.index > self.count:
            self.count = ex.index
        else:
            self.count += 1
            ex.index = self.count
        self.requests += 1
        self.exchanges.append(ex)
        stream = _Stream(1, ex)
        stream.client_done = True
        if self.max_client_stream < 1:
            self.max_client_stream = 1
        self._track(stream)

    def anomaly(self, name: str) -> None:
        self.anomalies[name] = self.anomalies.get(name, 0) + 1

    def release(self) -> None:
        """Drop the readers' state and their link back here, so everything is freed at
        once (the flow loop runs with the cyclic GC off); late events are ignored."""
        self.requests_reader.release()
        self.responses_reader.release()
        self.streams.clear()

    @property
    def is_http(self) -> bool:
        return bool(self.exchanges)

    def facts(self) -> dict[str, object]:
        """The connection's ``http2`` object (DESIGN.md's JSON additions)."""
        return {
            "streams": self.count,
            "max_concurrent_streams": self.max_open,
            "settings_max_concurrent_streams": self.settings_max_concurrent_streams,
            "rst_streams": self.rst_streams,
            "rst_by_client": self.rst_by_client,
            "rst_by_server": self.rst_by_server,
            "pushes": self.pushes,
            "goaway_by": self.goaway_by,
            "goaway_last_stream": self.goaway_last_stream,
            "goaway_error": self.goaway_error,
            "goaway_ts": self.goaway_ts,
            "pings": self.pings,
            "settings": self.settings,
        }

    # ---- the readers' events
    def _headers_frame(self, client: bool, sid: int, ts: float) -> tuple[int, _Stream | None]:
        """A HEADERS frame on ``sid`` (its first byte came at ``ts``): what its block is,
        and the stream (made, with its exchange, for a new client stream)."""
        if sid == 0:
            return IGNORED, None
        if not sid & 1:
            if client:
                self.anomaly("client-headers-on-even-stream")
            return IGNORED, None  # from the server: a pushed response
        stream = self.streams.get(sid)
        if stream is not None:
            done = stream.client_done if client else stream.server_done
            if done:
                self.anomaly("headers-after-end-stream")
                return IGNORED, None
            if client or stream.final:
                return TRAILERS, stream
            return RESPONSE, stream
        if sid > self.max_client_stream:
            self.max_client_stream = sid
            ex = self._new_exchange(sid)
            stream = _Stream(sid, ex)
            if client:
                if self.midstream and not self.first_client_stream:
                    self.first_client_stream = sid
                self.requests += 1
                ex.request_ts = ts
                kind = REQUEST
            else:
                self.anomaly("response-without-request")
                stream.client_done = True  # (its request, and its end, were not seen)
                kind = RESPONSE
            self._track(stream)
            return kind, stream
        if self._before_capture(sid):
            if client:
                return IGNORED, None  # trailers of a request sent before the capture
            self.anomaly("response-without-request")
            stream = _Stream(sid, self._new_exchange(sid))
            stream.client_done = True
            self._track(stream)
            return RESPONSE, stream
        self.anomaly("headers-on-closed-stream")
        return IGNORED, None

    def _header_block(
        self, client: bool, kind: int, stream: _Stream | None,
        headers: list[tuple[bytes, bytes]] | None, end_stream: bool, ts: float, end_ts: float,
    ) -> None:
        """A complete header block of ``kind`` (``headers`` None: not decoded) began at
        ``ts`` and ended at ``end_ts``."""
        if stream is None:
            return
        ex = stream.ex
        if kind == REQUEST:
            if headers is not None:
                self._request(ex, headers)
        elif kind == RESPONSE:
            status: int | None = None
            if headers is not None:
                for name, value in headers:
                    if name == b":status":
                        if len(value) == 3 and value.isdigit():
                            status = int(value)
                        break
                if status is None:
                    self.anomaly("response-without-status")
            if status is not None and status < 200:
                self.interim += 1
                ex.interim_responses += 1
                if end_stream:
                    self.anomaly("interim-response-ends-stream")
            else:
                # The final response (undecoded: the first HEADERS is taken for it)
                stream.final = True
                self.responses += 1
                ex.status = status
                ex.response_ts = ts
                ex.response_version = "2"
                if headers is not None and self._response_software:
                    self._response_software = False
                    for name, value in headers:
                        if name == b"server":
                            self.server_software = _software(value)
                        elif name == b"via":
                            self.via = _software(value)
        if end_stream and not stream.closed:
            self._end_stream(client, stream, end_ts)

    def _request(self, ex: ExchangeRecord, headers: list[tuple[bytes, bytes]]) -> None:
        method = path = authority = None
        software = self._request_software
        self._request_software = False
        forwarded = False
        for name, value in headers:
            if name == b":method":
                method = value
            elif name == b":path":
                path = value
            elif name == b":authority":
                authority = value
            elif software:
                if name == b"user-agent":
                    self.user_agent = _software(value)
                elif name in (b"via", b"x-forwarded-for", b"x-real-ip", b"forwarded"):
                    forwarded = True
        if software:
            self.forwarded = forwarded
        if method is None:
            self.anomaly("request-without-method")
        else:
            ex.method = _text(method)
        # CONNECT names its authority, not a path (RFC 9113 §8.5)
        raw = path if path is not None else authority
        if raw is not None:
            target = raw.decode("latin-1")
            ex.target = target if self.show_secrets else redact_target(target)

    def _end_side(self, client: bool, sid: int, ts: float) -> None:
        """END_STREAM on a DATA frame."""
        stream = self.streams.get(sid)
        if stream is not None:
            self._end_stream(client, stream, ts)

    def _end_stream(self, client: bool, stream: _Stream, ts: float) -> None:
        ex = stream.ex
        if client:
            if stream.client_done:
                return
            stream.client_done = True
            if ex.request_end_ts is None:
                ex.request_end_ts = ts
        else:
            if stream.server_done:
                return
            stream.server_done = True
            if ex.response_end_ts is None:
                ex.response_end_ts = ts
        if stream.client_done and stream.server_done:
            self._close(stream)

    def _rst(self, client: bool, sid: int, ts: float) -> None:
        self.rst_streams += 1
        if client:
            self.rst_by_client += 1
        else:
            self.rst_by_server += 1
        stream = self.streams.get(sid)
        if stream is not None:
            if stream.ex.response_end_ts is None:
                stream.ex.response_end_ts = ts
            self._close(stream)

    def _settings(self, client: bool, payload: bytes) -> None:
        """A SETTINGS frame (not an ACK) from one side: its parameters bind the other
        side's frames and header blocks."""
        self.settings += 1
        peer = self.responses_reader if client else self.requests_reader
        for p in range(0, len(payload) - 5, 6):
            ident = (payload[p] << 8) | payload[p + 1]
            value = (
                (payload[p + 2] << 24) | (payload[p + 3] << 16) | (payload[p + 4] << 8)
                | payload[p + 5]
            )
            if ident == SETTINGS_HEADER_TABLE_SIZE:
                decoder = peer.decoder
                if decoder is not None:
                    decoder.max_allowed_table_size = (
                        value if value < MAX_TABLE_SIZE else MAX_TABLE_SIZE
                    )
            elif ident == SETTINGS_MAX_FRAME_SIZE:
                if DEFAULT_MAX_FRAME_SIZE <= value <= MAX_FRAME_SIZE_LIMIT:
                    peer.max_frame = value
                else:
                    self.anomaly("bad-max-frame-size")
            elif ident == SETTINGS_MAX_CONCURRENT_STREAMS and not client:
                self.settings_max_concurrent_streams = value

    def _goaway(self, client: bool, payload: bytes, ts: float) -> None:
        if self.goaway_by is not None:
            return  # the first one says who started closing
        self.goaway_by = "client" if client else "server"
        self.goaway_ts = ts
        if len(payload) >= 8:
            self.goaway_last_stream = (
                ((payload[0] & 0x7F) << 24) | (payload[1] << 16) | (payload[2] << 8)
                | payload[3]
            )
            code = (payload[4] << 24) | (payload[5] << 16) | (payload[6] << 8) | payload[7]
            self.goaway_error = error_name(code)

    # ---- streams and exchanges
    def _before_capture(self, sid: int) -> bool:
        """Midstream, was client stream ``sid`` opened before the capture began?"""
        return self.midstream and (not self.first_client_stream or sid < self.first_client_stream)

    def _new_exchange(self, sid: int) -> ExchangeRecord:
        self.count += 1
        ex = ExchangeRecord(self.cid, self.count)
        ex.stream = sid
        ex.version = "2"  # (a request on this connection is HTTP/2, seen or not)
        ex.opened_connection = self.count == 1 and self.handshake_seen
        self.exchanges.append(ex)
        return ex

    def _track(self, stream: _Stream) -> None:
        streams = self.streams
        if len(streams) >= MAX_OPEN_STREAMS:
            self.anomaly("too-many-open-streams")
            oldest = streams[next(iter(streams))]
            self._close(oldest)
        streams[stream.sid] = stream
        self.open += 1
        if self.open > self.max_open:
            self.max_open = self.open

    def _close(self, stream: _Stream) -> None:
        stream.closed = True
        if self.streams.get(stream.sid) is stream:
            del self.streams[stream.sid]
            self.open -= 1
        if self.spool is not None and len(self.exchanges) > KEEP:
            self._spill()

    def _spill(self) -> None:
        """Hand finished exchanges (their stream closed) to the spool, oldest first and
        only in order, keeping the last KEEP: a long connection costs no memory per
        stream."""
        exchanges = self.exchanges
        spool = self.spool
        assert spool is not None
        streams = self.streams
        busy = (self.requests_reader.blk_stream, self.responses_reader.blk_stream)
        done = 0
        limit = len(exchanges) - KEEP
        while done < limit:
            ex = exchanges[done]
            stream = streams.get(ex.stream) if ex.stream is not None else None
            if (stream is not None and stream.ex is ex) or any(
                b is not None and b.ex is ex for b in busy
            ):
                break  # still open, or its header block is still coming
            spool(ex)
            done += 1
        if done:
            del exchanges[:done]
