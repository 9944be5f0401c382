"""Passive HTTP/1.x message framing for one direction of a connection.

Theory of operation
-------------------
A :class:`MessageReader` watches one byte stream (client→server for requests,
server→client for responses) and finds where each message starts and ends. It is fed
``data(buf, start, end, ts)``, ``gap(n, ts)`` and ``eof(ts)`` by :mod:`streams` and reports
to its *owner* (:class:`analyzer.core.exchanges.Conversation`), which pairs requests with
responses and tells the response reader what it needs to know (the request method: a
response to HEAD has no body; a 2xx to CONNECT starts a tunnel).

States::

    HEAD ──head block parsed──▶ BODY_LEN | CHUNK_SIZE | BODY_CLOSE | TUNNEL | HEAD
    BODY_LEN ──remaining == 0──▶ HEAD
    CHUNK_SIZE ──size > 0──▶ CHUNK_DATA ──size+CRLF skipped──▶ CHUNK_SIZE
    CHUNK_SIZE ──size == 0──▶ TRAILERS ──empty line──▶ HEAD
    BODY_CLOSE ──eof──▶ (message ends with the connection)
    any ──gap inside a header block / garbage──▶ RESYNC ──next start line──▶ HEAD
    TUNNEL: after 101 or a 2xx to CONNECT, or a stream that never looked like HTTP

Framing follows RFC 9112 §6.3: no body for responses to HEAD and for 1xx/204/304;
Transfer-Encoding whose final coding is chunked wins over Content-Length; a response
with neither is close-delimited; a request with neither has no body. HTTP/0.9 simple
requests (``GET /path`` and no version) have no headers, and their response is raw bytes
up to the close. Bodies are skipped by arithmetic: only header blocks and chunk-size
lines are ever copied. Broken input is data: every oddity is counted as a named anomaly
and parsing goes on.

The head buffer remembers how far it has searched, so byte-at-a-time input stays linear.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from analyzer.core.sink import Sink

# The header scan in C (_scan_head), built with the compiled core (setup.py); absent, or
# with the pure core (analyzer._compiled), its Python twin runs.
_CScan = Callable[
    [bytes, int, int, bool, bool, bool], tuple[int, int, int, int, int, tuple[int, ...]] | None
]
_CScanInto = Callable[
    [bytes, int, int, bool, bool, bool, dict[str, str], list[str]],
    tuple[int, int, int, int, int] | None,
]
_c_scan: _CScan | None
_c_scan_into: _CScanInto | None  # the scan with _put done in C too (configured below)
try:
    from analyzer.core._headscan import scan as _c_scan
    from analyzer.core._headscan import scan_into as _c_scan_into
except ImportError:
    _c_scan = _c_scan_into = None

HEAD: Final = 0
BODY_LEN: Final = 1
CHUNK_SIZE: Final = 2
CHUNK_DATA: Final = 3
TRAILERS: Final = 4
BODY_CLOSE: Final = 5
TUNNEL: Final = 6
RESYNC: Final = 7

MAX_HEAD: Final = 64 * 1024  # header block bound (anomaly "header-too-large" past it)
MAX_CHUNK_LINE: Final = 4096
MAX_SOFTWARE: Final = 200  # User-Agent, Server and Via values are kept up to this length
# How _field_line keeps a field's value
_FRAMING: Final = 0
_LENGTH: Final = 1
_NAMED: Final = 2
_PRESENT: Final = 3
MAX_INT64: Final = (1 << 63) - 1

_METHOD = re.compile(rb"[A-Za-z][A-Za-z0-9_-]{0,23} ")
_METHOD_PREFIX = re.compile(rb"[A-Za-z][A-Za-z0-9_-]{0,23}\Z")
# After lost sync, where a request may start (method, space, a non-space) and how many
# bytes of the previous segment are kept so a start split across segments is found.
_REQUEST_SYNC = re.compile(
    rb"(?:GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE|PROPFIND) [^\s]",
    re.IGNORECASE,
)
SYNC_TAIL: Final = 16
_RESPONSE_START = re.compile(rb"HTTP/\d\.\d \d\d\d", re.IGNORECASE)
_HEX = re.compile(rb"[0-9A-Fa-f]+")


# bytes.find called through the descriptor: compiled, this skips a method lookup per call
_find: Final = bytes.find

_interned: dict[bytes, str] = {}
_INTERNED_MAX: Final = 4096  # (the C scan keeps to it too)


def _str(b: bytes) -> str:
    """Methods, versions and header values repeat: keep one str object for each."""
    s = _interned.get(b)
    if s is None:
        s = b.decode("latin-1")
        if len(_interned) < _INTERNED_MAX:
            _interned[b] = s
    return s


def _version(buf: bytes, a: int, z: int) -> str:
    """``_str(buf[a:z])``, without the slice for the usual "1.1" and "1.0"."""
    if z - a == 3 and buf[a] == 49 and buf[a + 1] == 46:
        if buf[a + 2] == 49:
            return "1.1"
        if buf[a + 2] == 48:
            return "1.0"
    return _str(buf[a:z])


def _word(buf: bytes, a: int, z: int) -> str:
    """``_str(buf[a:z])``, without the slice for the usual "GET", "POST" and "OK"."""
    n = z - a
    if n == 3 and buf[a] == 71 and buf[a + 1] == 69 and buf[a + 2] == 84:
        return "GET"
    if n == 2 and buf[a] == 79 and buf[a + 1] == 75:
        return "OK"
    if n == 4 and buf[a] == 80 and buf[a + 1] == 79 and buf[a + 2] == 83 and buf[a + 3] == 84:
        return "POST"
    return _str(buf[a:z])


def _fields(block: bytes) -> tuple[dict[str, str], list[str]]:
    """The framing fields of a header block: {name: values joined by ", "} and the
    Content-Length values in order."""
    headers: dict[str, str] = {}
    cls: list[str] = []
    _scan_fields(block, 0, 0, len(block), False, headers, cls, True)
    return headers, cls


def _colon(buf: bytes, p: int, e: int, name: bytes) -> int:
    """Where the ``:`` is when ``buf[p:e]`` starts with ``name`` (lower case; ASCII
    letters matched without regard to case, as ``bytes.lower`` folds them) and ``[ \t]*:``;
    else -1."""
    n = len(name)
    if p + n > e:
        return -1
    for k in range(n):
        c = name[k]
        b = buf[p + k]
        if b != c and (c == 45 or (b | 0x20) != c):  # 45: "-", compared as is
            return -1
    j = p + n
    while j < e and (buf[j] == 32 or buf[j] == 9):
        j += 1
    if j >= e or buf[j] != 58:  # not "name:", e.g. "Connection-Foo:"
        return -1
    return j


def _scan_fields(
    buf: bytes, s: int, p: int, e: int, fast: bool, headers: dict[str, str], cls: list[str],
    software: bool = False,
) -> int:
    """The framing fields of the header block that starts at ``buf[s]``, from ``p`` (a
    point of its first line) on: each ``\n<name>[ \t]*:<value>`` up to the end of its
    line goes to ``headers`` (and ``cls``), one pass over the bytes (cheaper than a find
    per name, or a regex). Not ``fast``: the block is ``buf[s:e]``; returns ``e``.
    ``fast``: the block ends at the first CRLFCRLF, found on the way; returns where it
    is, or -1 when there is none, when it is farther than MAX_HEAD or an empty line (LF
    LF) comes first."""
    end = -1 if fast else e
    while p < e:
        if buf[p] != 10:
            p += 1
            continue
        if fast:
            if (
                p - 1 >= s and buf[p - 1] == 13 and p + 2 < e and buf[p + 1] == 13
                and buf[p + 2] == 10
            ):
                return p - 1  # the first CRLFCRLF
            if p - s > MAX_HEAD + 1:
                return -1  # any end farther on is too far
        p += 1  # a line starts here
        if p >= e:
            break
        if fast and buf[p] == 10:
            return -1  # an empty line: the slow path ends the block there
        p = _field_line(buf, p, e, headers, cls, software)
    return end


def _field_line(
    buf: bytes, p: int, e: int, headers: dict[str, str], cls: list[str], software: bool
) -> int:
    """The line at ``buf[p]`` (before ``e``): when it is one of the framing fields or
    the fields that name software and proxies, its value goes to ``headers`` (and
    ``cls``). Returns where to look on: its value's end,
    or ``p``."""
    # kind: how the value is kept — _FRAMING interned, _LENGTH as is, _NAMED (software)
    # cut at MAX_SOFTWARE and not interned, _PRESENT only as "1"
    c = buf[p] | 0x20
    kind = _FRAMING
    if c == 99:  # c
        name = "content-length"
        kind = _LENGTH
        j = _colon(buf, p, e, b"content-length")
        if j < 0:
            name = "connection"
            kind = _FRAMING
            j = _colon(buf, p, e, b"connection")
    elif c == 116:  # t
        name = "transfer-encoding"
        j = _colon(buf, p, e, b"transfer-encoding")
    elif c == 107:  # k
        name = "keep-alive"
        j = _colon(buf, p, e, b"keep-alive")
    elif c == 117:  # u: Upgrade (what a 101 switches to) or User-Agent
        if p + 1 < e and buf[p + 1] | 0x20 == 112:  # "up"
            name = "upgrade"
            j = _colon(buf, p, e, b"upgrade")
        elif not software:
            return p
        else:
            name = "user-agent"
            kind = _NAMED
            j = _colon(buf, p, e, b"user-agent")
    # The fields that name the software on each side and the proxies between them
    # (classify's hints): User-Agent, Server, Via and the forwarding fields — read until
    # the connection has them (``software``).
    elif not software:
        return p
    elif c == 115:  # s
        name = "server"
        kind = _NAMED
        j = _colon(buf, p, e, b"server")
    elif c == 118:  # v
        name = "via"
        kind = _NAMED
        j = _colon(buf, p, e, b"via")
    elif c == 120:  # x
        name = "x-forwarded-for"
        kind = _PRESENT
        j = _colon(buf, p, e, b"x-forwarded-for")
        if j < 0:
            name = "x-real-ip"
            j = _colon(buf, p, e, b"x-real-ip")
    elif c == 102:  # f
        name = "forwarded"
        kind = _PRESENT
        j = _colon(buf, p, e, b"forwarded")
    else:
        return p
    if j < 0:
        return p
    k = j + 1
    while k < e and buf[k] != 13 and buf[k] != 10:
        k += 1
    if kind == _PRESENT:
        _put(buf, name, kind, k, k, headers, cls)
        return k
    # the value, stripped as bytes.strip() does (ASCII whitespace)
    a = j + 1
    while a < k and (buf[a] == 32 or 9 <= buf[a] <= 13):
        a += 1
    z = k
    while z > a and (buf[z - 1] == 32 or 9 <= buf[z - 1] <= 13):
        z -= 1
    _put(buf, name, kind, a, z, headers, cls)
    return k


def _put(
    buf: bytes, name: str, kind: int, a: int, z: int, headers: dict[str, str], cls: list[str]
) -> None:
    """A field's value, ``buf[a:z]`` (stripped), into ``headers`` (and ``cls``) as its
    ``kind`` says."""
    if kind == _PRESENT:
        headers[name] = "1"  # only their presence matters (the addresses are the users')
        return
    if kind == _FRAMING:
        v = _str(buf[a:z])
    elif kind == _LENGTH:
        # (lengths vary: not worth a lookup in _interned, which they would fill)
        v = buf[a:z].decode("latin-1")
        cls.append(v)
    else:
        # read once per connection and varied, so not interned (they would crowd out
        # the methods and versions in _interned)
        v = buf[a : min(z, a + MAX_SOFTWARE)].decode("latin-1")
    old = headers.get(name)
    headers[name] = v if old is None else old + ", " + v


# The fields the C scanner (analyzer.core._headscan) reports, by its code: name and kind.
_CODE_NAMES: Final = (
    "content-length", "connection", "transfer-encoding", "keep-alive", "upgrade",
    "user-agent", "server", "via", "x-forwarded-for", "x-real-ip", "forwarded",
)
_CODE_KINDS: Final = (
    _LENGTH, _FRAMING, _FRAMING, _FRAMING, _FRAMING, _NAMED, _NAMED, _NAMED, _PRESENT,
    _PRESENT, _PRESENT,
)

Scanned = tuple[int, int, int, int, int]  # le, sp1, sp2, spaces, end (_scan_head)

if _c_scan_into is not None:
    # the C scan puts fields in with these very tables (no copy of them to drift)
    from analyzer.core._headscan import configure as _c_configure

    _c_configure(_CODE_NAMES, _CODE_KINDS, _FRAMING, _LENGTH, _PRESENT, MAX_SOFTWARE,
                 _interned, _INTERNED_MAX)


def _scan_head(
    buf: bytes, s: int, e: int, fast: bool, is_request: bool, software: bool,
    headers: dict[str, str], cls: list[str],
) -> Scanned | None:
    """The header block at ``buf[s]``: its first line's end (``le``) and first two spaces
    and how many it has; the block's end (:func:`_scan_fields`); its fields into
    ``headers`` and ``cls``. None when the fast path gives up: no end found (see
    :func:`_scan_fields`), a block longer than MAX_HEAD, or (``fast``) a request line
    without " HTTP/". The C scanner when built (the same answer, tests/test_http1.py),
    else :func:`_scan_head_py`."""
    if _c_scan_into is None:
        return _scan_head_py(buf, s, e, fast, is_request, software, headers, cls)
    # (the fields go into headers and cls in C too, as _put puts them: one call per block)
    r = _c_scan_into(buf, s, e, fast, is_request, software, headers, cls)
    if r is None:
        return None
    le, sp1, sp2, spaces, end = r  # (offsets from s: small, cached ints)
    return (s + le, -1 if sp1 < 0 else s + sp1, -1 if sp2 < 0 else s + sp2, spaces,
            s + end)


def _scan_head_py(
    buf: bytes, s: int, e: int, fast: bool, is_request: bool, software: bool,
    headers: dict[str, str], cls: list[str],
) -> Scanned | None:
    """:func:`_scan_head` in Python: one pass over the first line (noting its first two
    spaces, and whether " HTTP/" follows one), then :func:`_scan_fields`."""
    sp1 = sp2 = -1
    spaces = 0
    http = False
    p = s
    while p < e:
        c = buf[p]
        if c == 10:
            break
        if c == 32:
            spaces += 1
            if sp1 < 0:
                sp1 = p
            elif sp2 < 0:
                sp2 = p
            if (
                not http and p + 5 < e and buf[p + 1] == 72 and buf[p + 2] == 84
                and buf[p + 3] == 84 and buf[p + 4] == 80 and buf[p + 5] == 47
            ):
                http = True
        p += 1
    if fast and is_request and not http:
        return None
    le = p  # the first line's end
    end = _scan_fields(buf, s, p, e, fast, headers, cls, software)
    if end < 0 or end - s > MAX_HEAD:
        return None
    return le, sp1, sp2, spaces, end


def _method_at(buf: bytes, s: int) -> bool:
    """``_METHOD.match(buf, s)``: a letter, up to 23 of [A-Za-z0-9_-], a space."""
    n = len(buf)
    if s >= n or not 97 <= (buf[s] | 0x20) <= 122:
        return False
    p = s + 1
    lim = s + 25 if s + 25 < n else n
    while p < lim:
        c = buf[p]
        if c == 32:
            return True
        if not (97 <= (c | 0x20) <= 122 or 48 <= c <= 57 or c == 95 or c == 45):
            return False
        p += 1
    return False


def looks_like_request(data: bytes) -> bool:
    """Does this payload start like an HTTP/1.x (or 0.9) request line?"""
    d = data.lstrip(b"\r\n")
    return bool(_METHOD.match(d)) and (b" HTTP/" in d[:4096] or d[:4].upper() == b"GET ")


def looks_like_response(data: bytes) -> bool:
    """Does this payload start like an HTTP/1.x status line?"""
    return data[:5].upper() == b"HTTP/"


class Owner:
    """What a reader reports to: the base of :class:`exchanges.Conversation` (and of the
    owner of detached readers). A base class, not a Protocol, so that compiled readers
    call its methods directly rather than by name."""

    __slots__ = ()

    def on_request(
        self, ts: float, method: str, target: str, version: str, headers: dict[str, str]
    ) -> None:
        raise NotImplementedError

    def response_context(self) -> tuple[str | None, str | None]:
        raise NotImplementedError

    def on_response(
        self, ts: float, status: int, reason: str, version: str, headers: dict[str, str],
        framing: str,
    ) -> None:
        raise NotImplementedError

    def on_message_end(self, is_request: bool, ts: float) -> None:
        raise NotImplementedError

    def on_upgrade(self, ts: float) -> None:
        raise NotImplementedError

    def anomaly(self, name: str) -> None:
        raise NotImplementedError


class MessageReader:
    """Finds message boundaries in one direction; see the module docstring."""

    __slots__ = (
        "is_request", "owner", "state", "head", "searched", "remaining", "messages",
        "msg_ts", "not_http", "last_ts", "tail", "midstream", "software", "after",
    )

    def __init__(self, is_request: bool, owner: Owner, midstream: bool = False) -> None:
        self.is_request = is_request
        self.midstream = midstream  # the capture may have started inside a message
        # read the fields that name software (User-Agent, Server, Via, forwarding) until
        # the owner has them: the first request, the first *final* response (a 100
        # Continue before it names nothing)
        self.software = True
        self.owner = owner
        self.state = HEAD
        self.head = bytearray()
        self.searched = 0
        self.remaining = 0
        self.messages = 0
        self.msg_ts = 0.0
        self.not_http = False
        self.last_ts = 0.0
        self.tail = b""  # last bytes seen while resynchronising
        # a tunnel's sink: the bytes after an upgrade (h2c) go on to it (tunnel(after))
        self.after: Sink | None = None

    # ---- stream sink interface
    def data(self, buf: bytes, s: int, e: int, ts: float) -> None:
        self.last_ts = ts
        while s < e:
            st = self.state
            if st == BODY_LEN or st == CHUNK_DATA:
                n = e - s
                r = self.remaining
                if n < r:
                    self.remaining = r - n
                    return
                s += r
                self.remaining = 0
                if st == BODY_LEN:
                    self._end(ts)
                else:
                    self.state = CHUNK_SIZE
            elif st == HEAD:
                s = self._head(buf, s, e, ts)
            elif st == CHUNK_SIZE:
                s = self._chunk_size(buf, s, e, ts)
            elif st == TRAILERS:
                s = self._trailers(buf, s, e, ts)
            elif st == RESYNC:
                s = self._resync(buf, s, e, ts)
            else:  # BODY_CLOSE, TUNNEL
                after = self.after
                if after is not None and st == TUNNEL:
                    after.data(buf, s, e, ts)  # the tunnel's bytes, to its reader
                return

    def gap(self, n: int, ts: float) -> None:
        st = self.state
        if st == BODY_LEN or st == CHUNK_DATA:
            if n < self.remaining:
                self.remaining -= n
                return
            if n == self.remaining:
                self.remaining = 0
                if st == BODY_LEN:
                    self._end(ts)
                else:
                    # The gap ended exactly with a chunk's data and CRLF (a lost segment
                    # aligned with a chunk): the next line is a chunk size, framing intact.
                    self.state = CHUNK_SIZE
                return
            self.owner.anomaly("gap-past-message-end")
            self._lost_sync()
        elif st == BODY_CLOSE or st == TUNNEL or st == RESYNC:
            if st == TUNNEL and self.after is not None:
                self.after.gap(n, ts)
            return
        elif st == HEAD and not self.head:
            self.owner.anomaly("gap-at-message-start")
            self._lost_sync()
        else:
            self.owner.anomaly("gap-in-header")
            self._lost_sync()

    def eof(self, ts: float) -> None:
        st = self.state
        if st == TUNNEL and self.after is not None:
            after, self.after = self.after, None
            after.eof(ts)
            return
        if st == BODY_CLOSE:
            self._end(ts)
        elif st == BODY_LEN or st == CHUNK_DATA or st == CHUNK_SIZE or st == TRAILERS:
            self.owner.anomaly("message-cut-by-close")
        elif st == HEAD and self.head.strip(b"\r\n"):
            if not (self.is_request and self._try_http09(bytes(self.head), ts, True)):
                self.owner.anomaly("incomplete-header")
            self.head.clear()
        self.state = TUNNEL

    # ---- states
    def _head(self, buf: bytes, s: int, e: int, ts: float) -> int:
        head = self.head
        if not head:
            # RFC 9112 §2.2: ignore at least one empty line before a request line.
            while s < e and (buf[s] == 13 or buf[s] == 10):
                s += 1
            if s == e:
                return e
            self.msg_ts = ts
            if not self.is_request and not self.messages:
                if self.owner.response_context()[1] == "0.9" and not self._plausible(
                    buf[s : s + 8]
                ):
                    # HTTP/0.9 response: no status line, the body runs to the close.
                    self.messages += 1
                    self.owner.on_response(ts, 0, "", "0.9", {}, "close")
                    self.state = BODY_CLOSE
                    return e
            # Fast path: the whole header block is in this segment.
            if (
                _method_at(buf, s)
                if self.is_request
                else s + 5 <= e and buf[s] == 72 and buf[s + 1] == 84 and buf[s + 2] == 84
                and buf[s + 3] == 80 and buf[s + 4] == 47  # "HTTP/"
            ):
                end = self._parse(buf, s, e, ts, True)
                if end >= 0:
                    return end + 4
        # Slow path: accumulate the header block (bounded by MAX_HEAD).
        before = len(head)
        head += buf[s:e]
        if (len(head) >= 8 or b"\n" in head) and not self._plausible(bytes(head[:32])):
            self._not_http()
            return s
        start = self.searched - 3 if self.searched > 3 else 0
        i = head.find(b"\n\r\n", start)
        j = head.find(b"\n\n", start)
        if i >= 0 and (j < 0 or i < j):
            end, sep = i, 3
        elif j >= 0:
            end, sep = j, 2
        else:
            if self.is_request:
                used = self._try_http09(bytes(head), ts, False)
                if used:
                    return s + used - before
            self.searched = len(head)
            if len(head) > MAX_HEAD:
                self.owner.anomaly("header-too-large")
                self._lost_sync()
            return e
        if self.is_request:
            used = self._try_http09(bytes(head), ts, False)
            if used:
                return s + used - before
        if end > MAX_HEAD:
            # The bound applied while accumulating (above), applied to a block that came
            # in one large piece too, so the answer does not depend on the segmentation.
            self.owner.anomaly("header-too-large")
            self._lost_sync()
            return s + (end + sep - before)
        block = bytes(head[:end])
        head.clear()
        self.searched = 0
        self._parse(block, 0, end, ts, False)
        return s + (end + sep - before)

    def _plausible(self, d: bytes) -> bool:
        if self.is_request:
            if _METHOD.match(d):
                return True
            return bool(_METHOD_PREFIX.match(d)) and len(d) < 24
        return d[:5].upper() == b"HTTP/"[: len(d[:5])]

    def _not_http(self) -> None:
        """The bytes at a message start are not HTTP."""
        self.head.clear()
        self.searched = 0
        if not self.messages and self.midstream:
            # Seen without its handshake: this may be the tail of a message that began
            # before the capture; look for the next start line.
            self.midstream = False
            self.owner.anomaly("started-mid-message")
            self._lost_sync()
        elif not self.messages:
            self.not_http = True
            self.state = TUNNEL
        else:
            self.owner.anomaly("unexpected-data")
            self._lost_sync()

    def _try_http09(self, head: bytes, ts: float, at_eof: bool) -> int:
        """An HTTP/0.9 simple request is one line, RFC 1945 §4.1: ``Simple-Request =
        "GET" SP Request-URI CRLF`` (no version, no header fields).

        Only that exact form counts, so that an HTTP/1.x request line cut short, or junk
        (``GET / HTTP``, ``T / HTTP``), is never taken for a request: ``GET`` in capitals
        (methods are case-sensitive, RFC 9110 §9.1), one SP, a Request-URI that is an
        abs_path (``/…``) or an absolute ``http://`` URI, holding no control byte, SP or
        ``HTTP/``, then CRLF or a bare LF (RFC 9112 §2.2) — or the close, when the client
        closed right after the line (``at_eof``).

        Returns how many bytes of ``head`` it used (0: not such a request)."""
        nl = head.find(b"\n")
        if nl < 0 and not at_eof:
            return 0
        end = nl if nl >= 0 else len(head)
        if end > 0 and head[end - 1] == 13:  # the CR of CRLF
            end -= 1
        if end <= 4 or not head.startswith(b"GET "):
            return 0
        if not head.startswith(b"/", 4) and not (end > 11 and head[4:11].lower() == b"http://"):
            return 0
        i = 5
        while i < end:
            c = head[i]
            if c <= 32 or c == 127:  # controls and SP (obs-text, >= 0x80, is tolerated)
                return 0
            i += 1
        target = head[4:end]
        if b"HTTP/" in target.upper():  # "GET /HTTP/1.1": a request line missing a space
            return 0
        self.messages += 1
        self.owner.on_request(self.msg_ts or ts, "GET", target.decode("latin-1"), "0.9", {})
        self.owner.on_message_end(True, ts)
        self.head.clear()
        self.searched = 0
        self.state = HEAD
        return (nl + 1) if nl >= 0 else len(head)

    def _parse(self, buf: bytes, s: int, e: int, ts: float, fast: bool) -> int:
        """Parse a header block (start line + fields) and choose the body framing.

        The block is ``buf[s:e]`` (returns ``e``), or, ``fast``, it is what precedes the
        first CRLFCRLF in ``buf[s:e]``, found here on the way: returns where it is, or -1
        (having done nothing) when there is none, when it is farther than MAX_HEAD or an
        empty line (LF LF) comes first, or when a request line has no " HTTP/": then the
        slow path takes the bytes, as it would have."""
        # Only the fields that decide framing and persistence are extracted (RFC 9112
        # §6.1, §6.3, §9.3), in one pass over the block that also notes the first line's
        # first two spaces (and whether " HTTP/" follows one).
        headers: dict[str, str] = {}
        cls: list[str] = []
        scanned = _scan_head(buf, s, e, fast, self.is_request, self.software, headers, cls)
        if scanned is None:
            return -1
        le, sp1, sp2, spaces, end = scanned
        while le > s and buf[le - 1] == 13:
            le -= 1  # the first line without its trailing CRs
        if le > end:
            le = end
        if spaces != 2 and self.is_request:
            sp2 = -1  # not three parts: the general code splits the line
        self.messages += 1
        ts0 = self.msg_ts or ts
        if self.is_request:
            self._request(buf, s, le, sp1, sp2, headers, cls, ts0)
        else:
            self._response(buf, s, le, sp1, sp2, headers, cls, ts0)
        return end

    # _request/_response get ``ts`` = the time of the message's first byte (the exchange's
    # request_ts/response_ts); a message without a body ends when its header block ended,
    # i.e. in the segment being read now (``last_ts``), not when it started.
    def _request(
        self, buf: bytes, s: int, le: int, sp1: int, sp2: int, headers: dict[str, str],
        cls: list[str], ts: float,
    ) -> None:
        """The request line is ``buf[s:le]``; ``sp1``, ``sp2``: its two spaces (``sp2``
        is -1 unless it has exactly two)."""
        if (
            sp2 > 0 and sp2 + 5 < le
            and buf[sp2 + 1] == 72 and buf[sp2 + 2] == 84 and buf[sp2 + 3] == 84
            and buf[sp2 + 4] == 80 and buf[sp2 + 5] == 47
        ):
            # The common form, "METHOD target HTTP/x.y": split(b" ") in three parts
            method = _word(buf, s, sp1)
            target = buf[sp1 + 1 : sp2].decode("latin-1")
            version = _version(buf, sp2 + 6, le)
        else:
            method, target, version = self._request_line(buf[s:le])
        self.owner.on_request(ts, method, target, version, headers)
        self._request_framing(headers, cls)

    def _request_line(self, first: bytes) -> tuple[str, str, str]:
        parts = first.split(b" ")
        method = _str(parts[0])
        version = "1.1"
        if len(parts) == 3 and parts[2].startswith(b"HTTP/"):
            version = _str(parts[2][5:])
            target = parts[1].decode("latin-1")
        elif len(parts) >= 3 and parts[-1][:5].upper() == b"HTTP/":
            version = _str(parts[-1][5:])
            target = b" ".join(p for p in parts[1:-1] if p).decode("latin-1")
        elif len(parts) >= 2:
            target = b" ".join(parts[1:]).decode("latin-1")
            version = "0.9"
            self.owner.anomaly("request-without-version")
        else:
            target = ""
            self.owner.anomaly("request-line-without-target")
        return method, target, version

    def _request_framing(self, headers: dict[str, str], cls: list[str]) -> None:
        te = headers.get("transfer-encoding")
        if te is not None:
            if cls:
                self.owner.anomaly("both-transfer-encoding-and-content-length")
            if te.lower().rsplit(",", 1)[-1].strip() == "chunked":
                self.state = CHUNK_SIZE
                return
            # RFC 9112 §6.3 (4): a request's framing cannot be determined.
            self.owner.anomaly("request-transfer-encoding-not-chunked")
            self.state = CHUNK_SIZE if "chunked" in te.lower() else HEAD
            if self.state == HEAD:
                self._end(self.last_ts)
            return
        n = self._content_length(cls)
        if n is None or n == 0:
            self._end(self.last_ts)
        else:
            self.remaining = n
            self.state = BODY_LEN

    def _response(
        self, buf: bytes, s: int, le: int, sp1: int, sp2: int, headers: dict[str, str],
        cls: list[str], ts: float,
    ) -> None:
        """The status line is ``buf[s:le]``; ``sp1``, ``sp2``: its first two spaces."""
        status = -1
        if (
            sp2 > 0 and sp1 - s >= 5 and buf[s] == 72 and buf[s + 1] == 84
            and buf[s + 2] == 84 and buf[s + 3] == 80 and buf[s + 4] == 47
            and 0 < sp2 - sp1 - 1 <= 9
        ):
            # The common form, "HTTP/x.y NNN reason": split(b" ", 2) in three parts
            status = 0
            for k in range(sp1 + 1, sp2):
                c = buf[k]
                if not 48 <= c <= 57:
                    status = -1
                    break
                status = status * 10 + c - 48
        if status >= 0:
            version = _version(buf, s + 5, sp1)
            reason = _word(buf, sp2 + 1, le)
        else:
            parts = buf[s:le].split(b" ", 2)
            version = _str(parts[0][5:]) if parts[0][:5].upper() == b"HTTP/" else "?"
            # (as the common form: 1 to 9 ASCII digits or 0, so a status fits any output;
            # int() would take "+200", " 200", "2_00" and a hundred digits)
            code = parts[1] if len(parts) > 1 else b""
            status = int(code) if 0 < len(code) <= 9 and code.isdigit() else 0
            reason = _str(parts[2]) if len(parts) > 2 else ""
        if not 100 <= status <= 999:
            self.owner.anomaly("bad-status-line")
        method, _v = self.owner.response_context()
        m = method.upper() if method else ""
        te = headers.get("transfer-encoding")
        n: int | None = None
        if 100 <= status < 200 and status != 101:
            framing = "none"
        elif status == 101 or (m == "CONNECT" and 200 <= status < 300):
            framing = "tunnel"
        elif m == "HEAD" or status == 204 or status == 304:
            framing = "none"
        elif te is not None:
            if cls:
                self.owner.anomaly("both-transfer-encoding-and-content-length")
            framing = "chunked" if te.lower().rsplit(",", 1)[-1].strip() == "chunked" else "close"
        else:
            n = self._content_length(cls)
            framing = "close" if n is None else "length"
        self.owner.on_response(ts, status, reason, version, headers, framing)
        if framing == "none":
            self._end(self.last_ts)
        elif framing == "tunnel":
            self._end(self.last_ts)
            self.owner.on_upgrade(ts)
        elif framing == "chunked":
            self.state = CHUNK_SIZE
        elif framing == "close":
            self.state = BODY_CLOSE
        else:
            n = n or 0  # (framing "length": the Content-Length, checked above)
            if n:
                self.remaining = n
                self.state = BODY_LEN
            else:
                self._end(self.last_ts)

    def _content_length(self, cls: list[str], quiet: bool = False) -> int | None:
        """The Content-Length, or None when absent or unusable (an anomaly)."""
        if not cls:
            return None
        # (ASCII digits only: str.isdigit also takes '³', decoded from byte 0xB3, which
        # int() refuses — found fuzzing)
        if len(cls) == 1 and cls[0].isdigit() and cls[0].isascii() and len(cls[0]) < 19:
            return int(cls[0])
        values = {v.strip() for c in cls for v in c.split(",")}
        if len(values) != 1:
            if not quiet:
                self.owner.anomaly("conflicting-content-length")
            return None
        v = values.pop()
        if not (v.isdigit() and v.isascii()):
            if not quiet:
                self.owner.anomaly("bad-content-length")
            return None
        n = int(v)
        if n > MAX_INT64:
            if not quiet:
                self.owner.anomaly("content-length-overflow")
            return None
        return n

    def _chunk_size(self, buf: bytes, s: int, e: int, ts: float) -> int:
        head = self.head
        if not head:
            # Fast path: a short size line, whole in this segment, parsed in place (as
            # the code below does: stripped, its leading hex digits, at most 16).
            p = s
            lim = s + 64 if s + 64 < e else e
            while p < lim and buf[p] != 10:
                p += 1
            if p < lim:
                a = s
                while a < p and (buf[a] == 32 or 9 <= buf[a] <= 13):
                    a += 1
                size = 0
                k = a
                while k < p and k - a <= 16:
                    c = buf[k]
                    if 48 <= c <= 57:
                        size = size * 16 + c - 48
                    elif 97 <= (c | 0x20) <= 102:
                        size = size * 16 + (c | 0x20) - 87
                    else:
                        break
                    k += 1
                if a < k <= a + 16 and size <= MAX_INT64:
                    if size == 0:
                        self.state = TRAILERS
                    else:
                        self.remaining = size + 2  # data and its CRLF
                        self.state = CHUNK_DATA
                    return p + 1
        nl = _find(buf, b"\n", s, e)
        if nl < 0:
            head += buf[s:e]
            if len(head) > MAX_CHUNK_LINE:
                self.owner.anomaly("chunk-size-line-too-long")
                self._lost_sync()
            return e
        if head:
            head += buf[s:nl]
            line = bytes(head)
            head.clear()
        else:
            line = buf[s:nl]
        s = nl + 1
        line = line.strip()
        if not line:
            return s  # the CRLF after a chunk's data when it came late; tolerate
        m = _HEX.match(line)
        if m is None:
            self.owner.anomaly("bad-chunk-size")
            self._lost_sync()
            return s
        if len(m.group()) > 16 or int(m.group(), 16) > MAX_INT64:
            self.owner.anomaly("chunk-size-overflow")
            self._lost_sync()
            return s
        size = int(m.group(), 16)
        if size == 0:
            self.state = TRAILERS
        else:
            self.remaining = size + 2  # data and its CRLF
            self.state = CHUNK_DATA
        return s

    def _trailers(self, buf: bytes, s: int, e: int, ts: float) -> int:
        head = self.head
        if not head:
            # Fast path: no trailers, the empty line at once (as the code below finds it)
            if buf[s] == 10:
                self._end(ts)
                return s + 1
            if buf[s] == 13 and s + 1 < e and buf[s + 1] == 10:
                self._end(ts)
                return s + 2
        before = len(head)
        head += buf[s:e]
        if head[:2] == b"\r\n":
            used = 2
        elif head[:1] == b"\n":
            used = 1
        else:
            i = head.find(b"\n\r\n")
            j = head.find(b"\n\n")
            if i >= 0 and (j < 0 or i < j):
                used = i + 3
            elif j >= 0:
                used = j + 2
            else:
                if len(head) > MAX_HEAD:
                    self.owner.anomaly("trailers-too-large")
                    self._lost_sync()
                return e
        head.clear()
        self._end(ts)
        return s + used - before

    def _resync(self, buf: bytes, s: int, e: int, ts: float) -> int:
        """Look for the next start line at a line start; a start line split across
        segments is found through the last bytes of the previous one (``tail``)."""
        tail = self.tail
        chunk = tail + buf[s:e] if tail else buf[s:e]
        pat = _REQUEST_SYNC if self.is_request else _RESPONSE_START
        for m in pat.finditer(chunk):
            i = m.start()
            # At a line start, or where this segment starts: after a gap or a body a
            # new message usually begins exactly at a segment boundary.
            if i == len(tail) or (i > 0 and chunk[i - 1] == 10):
                self.state = HEAD
                self.head.clear()
                self.searched = 0
                self.tail = b""
                self.msg_ts = ts
                if i < len(tail):
                    self.head += tail[i:]  # the start line began in the previous segment
                    return s
                return s + i - len(tail)
        self.tail = chunk[-SYNC_TAIL:]
        return e

    def _lost_sync(self) -> None:
        self.tail = b""
        self.head.clear()
        self.searched = 0
        self.remaining = 0
        self.state = RESYNC

    def _end(self, ts: float) -> None:
        self.state = HEAD
        self.owner.on_message_end(self.is_request, ts)

    def tunnel(self, after: Sink | None = None) -> None:
        """Stop parsing: the connection was upgraded (101) or became a tunnel (CONNECT).
        What follows goes to ``after`` when given (the tunnel's own reader)."""
        self.state = TUNNEL
        self.head.clear()
        self.after = after
