"""Which protocol a connection speaks, chosen from its first payload bytes — never its port.

Theory of operation
-------------------
:data:`SIGNATURES` is a table of ``(protocol, matcher)`` checked in order. A matcher is
shown the first bytes of one direction's stream (and told whether they come from the
client) and answers :data:`MATCH`, :data:`NO`, or :data:`MAYBE` — "these bytes are a
strict prefix of my signature: show me more". The protocol is the first entry that
matches once every entry before it has said no; while an entry before it still says
maybe, the answer is :data:`MORE` (wait for more bytes); when every entry says no, it is
:data:`UNKNOWN`. The answer never changes once given: a matcher that said match or no
says the same of any longer prefix, so the choice does not depend on how the bytes were
segmented (tests/test_protocols.py splits every signature at every byte). At
:data:`SNIFF_MAX` bytes nothing waits any longer: maybe counts as no.

=============  ===========  ==========================================================
protocol       direction    first bytes
=============  ===========  ==========================================================
``h2c``        client       the HTTP/2 connection preface ``PRI * HTTP/2.0␍␊␍␊SM␍␊␍␊``
                            (RFC 9113 §3.4), before HTTP/1 whose request line it mimics
               server       a SETTINGS frame on stream 0 (the server's preface, which
                            it may send first), length a multiple of 6 up to 384
``tls``        either       a TLS handshake record header: content type 22, version
                            3.0-3.4 (RFC 8446 §5.1; SSL 3.0 to TLS 1.3 records); or,
                            for a capture that began after the handshake, an
                            application-data / alert / ChangeCipherSpec record (23, 21,
                            20; version 3.1-3.4) of a plausible length followed by the
                            start of another record header
``http/1.x``   client       a request line (RFC 9112 §3; HTTP/0.9 ``GET /x``)
               server       a status line, ``HTTP/`` (RFC 9112 §4)
=============  ===========  ==========================================================

Each protocol has its reader (:meth:`analyzer.core.flows.FlowTable._readers`): ``h2c``
the HTTP/2 reader (:mod:`analyzer.core.http2`; the preface is never read as an HTTP/1
``PRI *`` request), ``tls`` the TLS reader (:mod:`analyzer.core.tls`), whose decrypted
plaintext goes through an Opening of its own, and ``http/1.x`` the HTTP/1 reader
(:data:`HTTP1_READER`). That one also takes ``unknown``: it tolerates a capture that
begins inside a message (it looks for the next start line) and says ``not-http`` itself
when the bytes never become HTTP.

On a connection (:mod:`analyzer.core.flows`) the first payload segment usually decides
at once. When it does not — the answer is :data:`MORE`, or the segment came out of order —
an :class:`Opening` becomes the sink of both directions' streams
(:class:`analyzer.core.streams.Stream`): it holds what arrives, in order, while the answer
is :data:`MORE` (under 24 bytes for the h2c preface, 3 for TLS; a request line cut before
its version, up to :data:`SNIFF_MAX`), and on the first answer asks its owner for the
chosen protocol's readers, hands them what it held, in the order it arrived, and steps
aside: the streams then feed the readers directly. Whichever direction gives an answer
first chooses for the connection; a hole or the end of a stream while waiting chooses
:data:`UNKNOWN` (a cut prefix is no signature).

:func:`sender` is the other question first bytes answer, for a connection seen without
its handshake: whether a payload starts like a request line (its sender is the client) or
a status line (the server).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from analyzer.core.http1 import _method_at, looks_like_response
from analyzer.core.streams import Sink

# ---- the answers
NO: Final = 0
MATCH: Final = 1
MAYBE: Final = 2

# ---- the protocols
MORE: Final = ""  # not yet known: more bytes are needed
HTTP1: Final = "http/1.x"
H2C: Final = "h2c"
TLS: Final = "tls"
UNKNOWN: Final = "unknown"
PENDING: Final = "pending"  # a connection's: its Opening has not chosen yet

SNIFF_MAX: Final = 4096  # bytes of a stream looked at (HTTP/1's request-line window)

H2C_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
TLS_HANDSHAKE: Final = 22  # TLS record content type (RFC 8446 §5.1)
TLS_MAJOR: Final = 3  # record version 3.x: SSL 3.0 (3.0) … TLS 1.3 records (3.1 or 3.3)
TLS_MINOR_MAX: Final = 4
TLS_LATER: Final = frozenset({20, 21, 23})  # ChangeCipherSpec, alert, application data
TLS_RECORD_MAX: Final = 2**14 + 2048  # a TLS 1.2 ciphertext's limit (RFC 5246 §6.2.3)
STATUS_LINE: Final = b"HTTP/"
_METHOD_SO_FAR = re.compile(rb"[A-Za-z][A-Za-z0-9_-]{0,23}\Z")  # a method cut short
# bytes.find called through the descriptor: compiled, this skips a method lookup per call
# (and ``in`` would first try the pattern as an int, raising and clearing a TypeError)
_find: Final = bytes.find


def _h2c(data: bytes, from_client: bool) -> int:
    if not from_client:
        return _h2_settings(data)
    if len(data) >= len(H2C_PREFACE):
        return MATCH if data.startswith(H2C_PREFACE) else NO
    return MAYBE if H2C_PREFACE.startswith(data) else NO


H2_SETTINGS_HEAD: Final = b"\x04\x00\x00\x00\x00\x00"  # type SETTINGS, no flags, stream 0
H2_SETTINGS_MAX: Final = 6 * 64  # a server's first SETTINGS: a few 6-byte parameters


def _h2_settings(data: bytes) -> int:
    """The server's side of HTTP/2: its connection preface is a SETTINGS frame (RFC 9113
    §3.4), which it may send before the client's preface arrives (a server speaking
    first over TLS, where ALPN already chose h2)."""
    n = len(data)
    if n >= 3:
        length = data[0] << 16 | data[1] << 8 | data[2]
        if length % 6 or length > H2_SETTINGS_MAX:
            return NO
    head = data[3:9]
    if not H2_SETTINGS_HEAD.startswith(head):
        return NO
    return MATCH if n >= 9 else MAYBE


def _tls(data: bytes, from_client: bool) -> int:
    """A TLS record header: a handshake record (a connection's first bytes), or, for a
    capture that began after the handshake, an application-data, alert or
    ChangeCipherSpec record — those only with a plausible length, and, when the bytes
    hold more than the record, a second record header where it ends."""
    n = len(data)
    if n == 0:
        return MAYBE
    kind = data[0]
    if kind != TLS_HANDSHAKE and kind not in TLS_LATER:
        return NO
    if n == 1:
        return MAYBE
    if data[1] != TLS_MAJOR:
        return NO
    if n == 2:
        return MAYBE
    if data[2] > TLS_MINOR_MAX:
        return NO
    if kind == TLS_HANDSHAKE:
        return MATCH
    if data[2] == 0:
        return NO  # (SSL 3.0's records come after its handshake only in old captures)
    if n < 5:
        return MAYBE
    length = data[3] << 8 | data[4]
    if not 0 < length <= TLS_RECORD_MAX:
        return NO
    nxt = 5 + length
    if n <= nxt:
        return MATCH if n == SNIFF_MAX or nxt >= SNIFF_MAX else MAYBE
    # the next record's header, as far as the bytes go
    if data[nxt] not in TLS_LATER and data[nxt] != TLS_HANDSHAKE:
        return NO
    if n > nxt + 1 and data[nxt + 1] != TLS_MAJOR:
        return NO
    return MATCH if n > nxt + 2 else MAYBE


def _http1(data: bytes, from_client: bool) -> int:
    if not from_client:
        if len(data) >= len(STATUS_LINE):
            return MATCH if looks_like_response(data) else NO
        return MAYBE if STATUS_LINE.startswith(data.upper()) else NO
    return request_line(data)


def request_line(data: bytes) -> int:
    """Does ``data`` start like an HTTP/1.x (or 0.9) request line — after any empty lines
    (RFC 9112 §2.2), a method token of up to 24 characters and a space, then ``GET `` or
    a line that shows ``HTTP/`` within :data:`SNIFF_MAX` bytes? :data:`MATCH` exactly when
    :func:`analyzer.core.http1.looks_like_request` says so (byte reads rather than its
    regular expression: compiled, a few C loads); :data:`MAYBE` while more bytes could
    still make it one."""
    n = len(data)
    s = 0
    while s < n and (data[s] == 13 or data[s] == 10):
        s += 1
    if s == n:
        return MAYBE  # empty lines so far
    if not _method_at(data, s):
        return MAYBE if _METHOD_SO_FAR.match(data, s) else NO  # a method cut short?
    if data[s : s + 4].upper() == b"GET ":
        return MATCH
    version = _find(data, b" HTTP/", s)  # (the first one: if past the window, all are)
    if 0 <= version <= s + SNIFF_MAX - 6:
        return MATCH
    return MAYBE if n - s < SNIFF_MAX else NO  # the version may follow


Matcher = Callable[[bytes, bool], int]

SIGNATURES: Final[tuple[tuple[str, Matcher], ...]] = (
    (H2C, _h2c),
    (TLS, _tls),
    (HTTP1, _http1),
)

# The protocols the HTTP/1 reader reads (see the module docstring for why ``unknown``).
HTTP1_READER: Final = frozenset({HTTP1, UNKNOWN})


def identify(data: bytes, from_client: bool) -> str:
    """The protocol a stream that starts with ``data`` speaks: a name from
    :data:`SIGNATURES`, :data:`UNKNOWN`, or :data:`MORE` while more bytes could decide.
    Only the first :data:`SNIFF_MAX` bytes count; at that many, maybe means no."""
    if len(data) > SNIFF_MAX:
        data = data[:SNIFF_MAX]
    last = len(data) == SNIFF_MAX  # no more bytes will be looked at
    waiting = False
    for protocol, matcher in SIGNATURES:
        answer = matcher(data, from_client)
        if answer == MATCH:
            return MORE if waiting else protocol
        if answer == MAYBE and not last:
            waiting = True
    return MORE if waiting else UNKNOWN


# ---- roles
CLIENT: Final = 0
SERVER: Final = 1
NEITHER: Final = -1


TLS_CLIENT_HELLO: Final = 1  # handshake message types (RFC 8446 §4)
TLS_SERVER_HELLO: Final = 2


def sender(head: bytes) -> int:
    """Who sends a payload that starts with ``head``, when its first bytes say:
    :data:`CLIENT` for a request line, the HTTP/2 preface or a TLS ClientHello,
    :data:`SERVER` for a status line or a TLS ServerHello, else :data:`NEITHER` (the
    capture may have begun inside a message)."""
    if request_line(head) == MATCH:
        return CLIENT
    if looks_like_response(head):
        return SERVER
    if len(head) >= 6 and _tls(head, True) == MATCH:
        kind = head[5]
        if kind == TLS_CLIENT_HELLO:
            return CLIENT
        if kind == TLS_SERVER_HELLO:
            return SERVER
    elif head.startswith(H2C_PREFACE):
        return CLIENT
    return NEITHER


# ---- choosing on a connection
Readers = tuple[Sink | None, Sink | None]


def _no_readers(protocol: str) -> Readers:
    return None, None


class Opening:
    """Both directions' sink until the connection's protocol is chosen; see the module
    docstring. ``attach(protocol)`` is the owner's: it gives the connection the readers
    of that protocol (client→server, server→client; None: the bytes are dropped) and
    makes them its streams' sinks."""

    __slots__ = ("attach", "heads", "held", "protocol", "readers")

    def __init__(self, attach: Callable[[str], Readers]) -> None:
        self.attach = attach
        self.heads = [b"", b""]  # per direction: the first bytes, up to SNIFF_MAX
        self.held: list[tuple[int, bytes, float]] = []  # (direction, bytes, ts) in order
        self.protocol = MORE
        self.readers: Readers = (None, None)

    def sinks(self) -> tuple[OpeningSide, OpeningSide]:
        """The sinks to give the client→server and server→client streams."""
        return OpeningSide(self, 0), OpeningSide(self, 1)

    def data(self, direction: int, buf: bytes, s: int, e: int, ts: float) -> None:
        if not self.protocol:
            head = self.heads[direction]
            stop = s + SNIFF_MAX - len(head)
            head += buf[s : stop if stop < e else e]
            protocol = identify(head, direction == 0)
            if not protocol:
                self.heads[direction] = head
                self.held.append((direction, buf[s:e], ts))
                return
            self._choose(protocol)
        sink = self.readers[direction]
        if sink is not None:
            sink.data(buf, s, e, ts)

    def gap(self, direction: int, n: int, ts: float) -> None:
        if not self.protocol:
            self._choose(UNKNOWN)
        sink = self.readers[direction]
        if sink is not None:
            sink.gap(n, ts)

    def eof(self, direction: int, ts: float) -> None:
        if not self.protocol:
            self._choose(UNKNOWN)
        sink = self.readers[direction]
        if sink is not None:
            sink.eof(ts)

    def _choose(self, protocol: str) -> None:
        self.protocol = protocol
        readers = self.readers = self.attach(protocol)
        self.attach = _no_readers  # (drops the owner: nothing refers back to it)
        held, self.held = self.held, []
        for direction, chunk, ts in held:
            sink = readers[direction]
            if sink is not None:
                sink.data(chunk, 0, len(chunk), ts)


class OpeningSide:
    """One direction's sink of an :class:`Opening`."""

    __slots__ = ("opening", "direction")

    def __init__(self, opening: Opening, direction: int) -> None:
        self.opening = opening
        self.direction = direction

    def data(self, buf: bytes, start: int, end: int, ts: float) -> None:
        self.opening.data(self.direction, buf, start, end, ts)

    def gap(self, n: int, ts: float) -> None:
        self.opening.gap(self.direction, n, ts)

    def eof(self, ts: float) -> None:
        self.opening.eof(self.direction, ts)
