"""Labels and diagnoses: the rules that turn connection records into verdicts.

Theory of operation
-------------------
Every connection already has its *label* (from its exchange count, see :mod:`flows`).
Here each connection that carried HTTP gets a *connection diagnosis*: the reason the wire
gives for how it ended, checked in the order of :data:`CONNECTION_RULES` (first match
wins). Then the connections of each server endpoint (all clients together) are summed up
into one verdict and ONE primary diagnosis, picked by :func:`_summary`:

* a connection diagnosis *costs* when the client had to open another connection because
  of it — the connection carried one request, or the same client connected again after
  its teardown; diagnoses that cost nothing (a persistent connection closed at the end
  of the capture) do not make the primary diagnosis;
* ``request-limit`` is a server-level pattern: connections the server closed with
  ``Connection: close`` all after the same number N >= 2 of requests;
* ``leak`` needs idle one-request connections to pile up: LEAK_MIN of them open and
  idle at once when the same client opens yet another;
* the most frequent costly diagnosis wins, ties broken by :data:`PRECEDENCE`; with none,
  the server is ``reused`` — or, when no connection carried a second request,
  ``nothing-to-reuse``; reconnects that cost under MINOR_SHARE of the requests in extra
  handshakes keep ``reused`` (a leak never does); holes in the capture where they could
  change the answer make it ``uncertain``.

The codes are DESIGN.md's and never change; each comes with evidence (the numbers and
connection ids it rests on) and a one-line fix hint.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator
from heapq import heappop, heappush
from typing import Final

from analyzer.core import hints
from analyzer.core.records import ConnectionRecord, ExchangeRecord, ServerRecord

HTTP_LABELS = ("persistent", "per-request")


def _is_http(label: str) -> bool:
    """``label in HTTP_LABELS``, as two compiled string compares (not a tuple search)."""
    return label == "persistent" or label == "per-request"

LEAK_MIN: Final = 2  # idle one-request connections open at once before it is called a leak
IDLE_MIN: Final = 0.2  # a server FIN this long after the response closes an *idle* connection
CLIENT_IDLE_MIN: Final = 1.0  # a client FIN this long after the response: its pool's idle timeout
# A diagnosis whose reconnects cost fewer extra handshakes than this share of the requests
# does not downgrade the verdict (nginx's keepalive_requests 1000: one in a thousand).
MINOR_SHARE: Final = 0.01
# Holes in this share of a server's HTTP connections (or in any connection of its primary
# diagnosis) make the diagnosis uncertain.
LOSSY_SHARE: Final = 0.05
UNREAD_FIN_MAX: Final = 0.1  # a FIN this soon after the response: the body closed early
# Clients (hints.CLIENTS keys) that read what they are sent: an RST from them right after
# a response is not unread data.
READS_ALL: Final = frozenset({"curl", "ab", "wrk"})
# Clients that send HTTP/1.1 unless told otherwise: their User-Agent on an HTTP/1.0
# request with 'Connection: close' is a proxy's doing (nginx passes it on).
SPEAKS_HTTP11: Final = frozenset({
    "go", "python-requests", "urllib3", "httpx", "aiohttp", "curl", "wrk", "node",
    "node-fetch", "java-httpclient", "okhttp", "apache-httpclient", "java-urlconnection",
    "browser",
})

PRECEDENCE = (
    "leak", "unread-body", "tls-no-resumption", "reset", "request-limit", "idle-timeout",
    "client-connection-close",
    "http10-client", "http10-server", "server-connection-close", "close-delimited",
    "server-close", "client-idle-timeout", "client-close",
)

CLOSES_ON_UNREAD: Final = hints.CLOSES_ON_UNREAD
# Diagnoses that mean a new client (session, process) per request: over TLS with only
# full handshakes they become tls-no-resumption.
NEW_CLIENT_CODES: Final = frozenset({"client-close"})


# hints is not compiled: its answers per User-Agent are kept here, so a connection costs a
# compiled dict lookup rather than interpreted calls (the values are hints' own).
_CLIENTS: dict[str, hints.Software | None] = {}
_CACHE_MAX: Final = 4096


def _client(agent: str | None) -> hints.Software | None:
    """:func:`hints.identify_client`, remembered per User-Agent."""
    if not agent:
        return None
    if agent in _CLIENTS:
        return _CLIENTS[agent]
    sw = hints.identify_client(agent)
    if len(_CLIENTS) < _CACHE_MAX:
        _CLIENTS[agent] = sw
    return sw


def _last(c: ConnectionRecord) -> ExchangeRecord | None:
    return c.last_exchange


def _has(v: str, token: str) -> bool:
    """Is ``token`` one of the comma-separated tokens of the header value ``v``?"""
    if not v:
        return False
    if v == token:  # (most values are one token)
        return True
    return token in {t.strip() for t in v.split(",")}


def _closer(c: ConnectionRecord) -> str:
    """Who ended the connection: ``closed_by``, except that over TLS the side that sent
    the first close_notify alert began a close whose FINs then cross (curl and Go send
    close_notify, the server answers by closing; the first FIN is a race)."""
    closed = c.closed_by
    tls = c.tls
    if tls is not None and (closed == "client" or closed == "server"):
        first = tls.get("close_notify_by")
        if first == "client" or first == "server":
            return first
    return closed


def _closes(c: ConnectionRecord, side: str) -> bool:
    return _closer(c) == side


# Connection rules: (code, predicate), checked in order (leak is not among them: it needs
# the other connections of the same client and server, see _first_pass).
def _rule_unread_body(c: ConnectionRecord) -> bool:
    """The seed's bug: the client ends a one-request connection right after a complete
    HTTP/1.1 response that announced nothing, and its software makes an unread body the
    likely cause — an RST (the kernel's answer to closing a socket with received bytes
    unread) from any HTTP library that does not read everything anyway, or a FIN from a
    client whose pool closes only when the body was not read to EOF (Go)."""
    closer = _closer(c)
    if c.label != "per-request" or not (closer == "client" or closer == "client-rst"):
        return False
    e = _last(c)
    if (
        e is None or e.response_end_ts is None or e.version != "1.1"
        or e.response_version != "1.1" or _has(e.request_connection, "close")
        or _has(e.response_connection, "close") or e.framing == "close"
    ):
        return False
    gap = _idle_gap(c)
    if gap is None or gap >= CLIENT_IDLE_MIN:
        return False
    if closer == "client":
        # Go's Transport closes the moment the body is closed early (0.05-0.3 ms after
        # the response in captures/go-unread-small.pcap); a FIN later than this is the
        # program exiting or its idle pool, which says nothing of the body.
        if gap >= UNREAD_FIN_MAX:
            return False
        client = _client(c.user_agent)  # hints.closes_on_unread, through the cache
        return client is not None and client.key in CLOSES_ON_UNREAD
    sw = _client(c.user_agent)
    return sw is not None and sw.key not in READS_ALL


def _rule_reset(c: ConnectionRecord) -> bool:
    return c.closed_by in ("client-rst", "server-rst")


def _rule_close_delimited(c: ConnectionRecord) -> bool:
    return c.close_delimited


def _rule_client_connection_close(c: ConnectionRecord) -> bool:
    e = _last(c)
    return e is not None and _has(e.request_connection, "close")


def _rule_http10_client(c: ConnectionRecord) -> bool:
    e = _last(c)
    return (
        e is not None and e.version in ("1.0", "0.9")
        and not _has(e.request_connection, "keep-alive")
    )


# The server's HTTP/1.0 or its 'Connection: close' ends the connection whoever sends the
# first FIN: a client that reads such a response may close first itself (curl does).
def _rule_http10_server(c: ConnectionRecord) -> bool:
    e = _last(c)
    return (
        e is not None and c.closed_by != "open" and e.response_version == "1.0"
        and not _has(e.response_connection, "keep-alive")
    )


def _announced_by_server(c: ConnectionRecord) -> bool:
    """The server said it would close: its last response carried 'Connection: close', or
    (HTTP/2) it sent a GOAWAY."""
    e = _last(c)
    if e is None:
        return False
    h2 = c.http2
    if h2 is not None:
        # a GOAWAY with (or right after) the last response; one that comes later closes
        # an idle connection (Go's and nginx's idle timeouts send GOAWAY NO_ERROR too)
        sent = h2.get("goaway_ts")
        done = _response_done(c)
        return (
            h2.get("goaway_by") == "server" and isinstance(sent, float)
            and (done is None or sent - done < IDLE_MIN)
        )
    return _has(e.response_connection, "close")


def _rule_server_connection_close(c: ConnectionRecord) -> bool:
    return c.closed_by != "open" and _announced_by_server(c)


def _idle_gap(c: ConnectionRecord) -> float | None:
    """Seconds from the last response's end to the first teardown packet."""
    done = _response_done(c)
    if done is None or c.teardown_ts is None:
        return None
    return c.teardown_ts - done


def _rule_idle_timeout(c: ConnectionRecord) -> bool:
    gap = _idle_gap(c)
    return _closes(c, "server") and gap is not None and gap >= IDLE_MIN


def _rule_server_close(c: ConnectionRecord) -> bool:
    return _closes(c, "server") and _last(c) is not None


def _rule_client_idle_timeout(c: ConnectionRecord) -> bool:
    gap = _idle_gap(c)
    return _closes(c, "client") and gap is not None and gap >= CLIENT_IDLE_MIN


def _rule_client_close(c: ConnectionRecord) -> bool:
    return _closes(c, "client") and c.label == "per-request"


# Order matters: what the headers announce (either side) explains a close better than
# who happened to send the first FIN, and HTTP/1.0 explains a body without a length.
CONNECTION_RULES: tuple[tuple[str, Callable[[ConnectionRecord], bool]], ...] = (
    ("unread-body", _rule_unread_body),
    ("reset", _rule_reset),
    ("client-connection-close", _rule_client_connection_close),
    ("http10-client", _rule_http10_client),
    ("http10-server", _rule_http10_server),
    ("server-connection-close", _rule_server_connection_close),
    ("close-delimited", _rule_close_delimited),
    ("idle-timeout", _rule_idle_timeout),
    ("server-close", _rule_server_close),
    ("client-idle-timeout", _rule_client_idle_timeout),
    ("client-close", _rule_client_close),
)


def _response_done(c: ConnectionRecord) -> float | None:
    """When the last response of the connection was complete on the wire."""
    e = _last(c)
    if e is None:
        return c.response_done_ts  # TLS not decrypted: the last turn's end, if any
    return e.response_end_ts or e.response_ts


# ---- the classifier: two passes over the connections in order of start

# A connection's diagnosis as one byte (Classification.codes): its index here.
CODES: tuple[str | None, ...] = (None, "reused", "leak", "request-limit", *(
    code for code, _rule in CONNECTION_RULES
))
_CODE: dict[str | None, int] = {code: i for i, code in enumerate(CODES)}
_RL: Final = _CODE["request-limit"]
_LEAK: Final = _CODE["leak"]
_MEDIAN_CODES = (
    "idle-timeout", "server-close", "client-idle-timeout", "client-close", "unread-body",
)
_LIMITED = "~limited"  # the bucket of server-connection-close that request-limit may take
INF: Final = float("inf")


class Classification:
    """What :func:`classify` found: one record per server, and each connection's
    diagnosis as a byte (``CODES[codes[i]]``, ``i`` the index the passes gave it)."""

    def __init__(self, servers: list[ServerRecord], codes: bytearray) -> None:
        self.servers = servers
        self.codes = codes


class OutOfOrder(Exception):
    """The passes did not give the connections in order of start (:func:`classify`)."""


WINDOW = 1024  # connections by_start holds back to put them in order of start


def by_start(
    indexed: Iterable[tuple[int, ConnectionRecord]], window: int | None = None
) -> Iterator[tuple[int, ConnectionRecord]]:
    """``indexed`` (index, connection) in order of index, given back in order of (start,
    index) as far as a delay of ``window`` connections allows: a capture whose
    timestamps step back a little (a multi-queue NIC, two SYNs stamped out of order)
    comes out in order; one that steps back further (overlapping files analysed as one)
    still does not, and :func:`classify` says so."""
    if window is None:
        window = WINDOW
    heap: list[tuple[float, int, ConnectionRecord]] = []
    for i, c in indexed:
        heappush(heap, (c.start, i, c))
        if len(heap) > window:
            _start, j, d = heappop(heap)
            yield j, d
    while heap:
        _start, j, d = heappop(heap)
        yield j, d


def diagnose(
    connections: list[ConnectionRecord], groups: dict[str, int] | None = None
) -> list[ServerRecord]:
    """Give every HTTP connection its diagnosis and return one record per server (per
    group of captures: ``groups`` maps a capture path to its group, see classify)."""
    order = connections  # (from analyze(): in order of first packet, mostly of start too)
    if any(
        b.start < a.start or (b.start == a.start and int(b.id[1:]) < int(a.id[1:]))
        for a, b in zip(connections, connections[1:], strict=False)
    ):
        order = sorted(connections, key=lambda c: (c.start, int(c.id[1:])))
    found = classify(lambda: enumerate(order), len(order), groups,
                     lambda wanted: {i: order[i] for i in wanted})
    for i, c in enumerate(order):
        c.diagnosis = CODES[found.codes[i]]
    return found.servers


class _Client:
    """One client IP of one server, during the passes."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        # (response done, teardown, index, order in the passes) of its one-request ones
        self.active: list[tuple[float, float, int, int]] = []
        self.depth = 0  # most idle one-request connections at a new one's start
        self.latest = float("-inf")  # start of its last HTTP connection
        self.first_idle = -1  # order in the passes of its first connection seen idle …
        self.first_idle_next = ""  # … and the id of the connection opened while it was


class _Bucket:
    """The connections of one server with one diagnosis (the evidence's numbers)."""

    def __init__(self, first: int) -> None:
        self.first = first  # order in the passes of the first one (ServerRecord.diagnoses')
        self.n = 0
        self.costly = 0
        self.ids: list[tuple[int, str]] = []  # (order in the passes, id) of the first five
        self.gaps: list[float] = []  # idle gaps (median codes only)
        self.unanswered = 0
        self.client_rst = 0
        self.lossy = 0  # connections with holes (lost packets)
        self.tls = 0  # TLS connections
        self.ends: set[str] = set()
        self.head: ConnectionRecord | None = None  # the first one
        # during the second pass, which read no records: (order in the passes, index) of
        # the first five, and the index of the first one; their records are fetched after
        # it (_resolve)
        self.at: list[tuple[int, int]] = []
        self.head_at = -1

    def add(
        self, seq: int, i: int, costly: bool, code: str, flags: int, gap: float, end: str
    ) -> None:
        """Connection ``i`` from its facts (_Facts); ``seq``: its place among the HTTP
        connections in the passes' order (only their order counts: ``first``, ``ids``)."""
        self.n += 1
        self.costly += costly
        if len(self.at) < 5:
            self.at.append((seq, i))
        if self.head_at < 0:
            self.head_at = i
        if code in _MEDIAN_CODES:
            if flags & _F_GAP:
                self.gaps.append(gap)
            if flags & _F_UNANSWERED:
                self.unanswered += 1
        self.client_rst += end == "client-rst"
        self.lossy += bool(flags & _F_LOSSY)
        self.tls += bool(flags & _F_TLS)
        self.ends.add(end)

    def merge(self, other: _Bucket) -> None:
        """Take in ``other`` (server-connection-close connections request-limit did not
        claim): the first five ids and the first one by position."""
        self.n += other.n
        self.costly += other.costly
        self.ids = sorted(self.ids + other.ids)[:5]
        if other.first < self.first:
            self.first, self.head = other.first, other.head
        self.ends |= other.ends
        self.client_rst += other.client_rst
        self.lossy += other.lossy
        self.tls += other.tls


# What the second pass needs of a connection, noted by the first (_Facts.flags)
_F_UNANSWERED: Final = 1  # its last response was never complete (_response_done None)
_F_LOSSY: Final = 2  # it had holes
_F_TLS: Final = 4
_F_LIMITABLE: Final = 8  # the server closed it, as announced (request-limit may take it)
_F_HANDSHAKE: Final = 16  # its handshake was seen (it was seen whole)
_F_GAP: Final = 32  # it has an idle gap (_idle_gap not None)


class _Facts:
    """The HTTP connections as the second pass needs them, noted by the first in its
    order: a few numbers each (~42 bytes), so that the second pass reads no record again
    (a connection store on disk is read once, not twice)."""

    def __init__(self, n: int) -> None:
        """Room for ``n`` connections, made at once: an item set in place is a cheap call
        from compiled code, an ``append`` a method looked up by name."""
        self.n = 0  # connections noted
        self.index = array("q", bytes(8 * n))  # index (codes, idle)
        self.done = array("d", bytes(8 * n))  # when its work was done (_second_pass)
        self.gap = array("d", bytes(8 * n))  # its idle gap (with _F_GAP)
        self.exchanges = array("q", bytes(8 * n))  # exchange_count
        self.flags = bytearray(n)
        self.ends = bytearray(n)  # closed_by, by its place in end_names
        self.end_names: list[str] = []
        self.end_codes: dict[str, int] = {}
        self.clients: list[_Client] = []

    def add(self, i: int, c: ConnectionRecord, k: _Client, finished: float | None) -> None:
        """``finished``: its _response_done."""
        teardown = c.teardown_ts
        done = finished
        if done is None:
            done = teardown if teardown is not None else c.end
        flags = 0
        if finished is None:
            flags |= _F_UNANSWERED
        if c.missing_bytes > 0:
            flags |= _F_LOSSY
        if c.tls is not None:
            flags |= _F_TLS
        if c.closed_by == "server" and _announced_by_server(c):
            flags |= _F_LIMITABLE
        if c.handshake_seen:
            flags |= _F_HANDSHAKE
        gap = 0.0
        if finished is not None and teardown is not None:  # (_idle_gap)
            gap = teardown - finished
            flags |= _F_GAP
        end = self.end_codes.get(c.closed_by)
        if end is None:
            end = self.end_codes[c.closed_by] = len(self.end_names)
            self.end_names.append(c.closed_by)
        j = self.n
        self.index[j] = i
        self.done[j] = done
        self.gap[j] = gap
        self.exchanges[j] = c.exchange_count
        self.flags[j] = flags
        self.ends[j] = end
        self.clients.append(k)
        self.n = j + 1


class _Server:
    """One server endpoint, during the passes."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.group = 0  # the group of captures it belongs to (classify's groups)
        self.connections = 0
        self.requests = 0
        self.handshakes = 0
        self.http = 0
        self.persistent = 0
        self.kinds: dict[str, int] = {}  # connections per label, in order of appearance
        self.clients: dict[str, _Client] = {}
        self.ends: list[float] = []  # heap: when the connections open now end
        self.max_concurrent = 0
        self.lossy = 0
        self.missing = 0
        # the software on the wire: connections per User-Agent / Server value (bounded),
        # connections whose requests carried forwarding fields, and the time span
        self.agents: dict[str, int] = {}
        self.softwares: dict[str, int] = {}
        self.forwarded = 0
        self.proxy_shaped = 0  # HTTP/1.0 + Connection: close from an HTTP/1.1 client's agent
        self.first_start = float("inf")
        self.last_end = float("-inf")
        # TLS: connections, full and resumed handshakes, requests estimated (no keys)
        self.tls = 0
        self.tls_full = 0
        self.tls_resumed = 0
        self.tls_failed = 0
        self.alert: str | None = None  # the first failed handshake's alert
        self.estimated = 0
        # pass 2
        self.buckets: dict[str, _Bucket] = {}
        self.limited: list[int] = []  # indexes of the request-limit candidates
        self.whole: set[int] = set()  # their exchange counts, those seen whole
        self.limited_most = 0  # … the largest of all


def classify(
    passes: Callable[[], Iterable[tuple[int, ConnectionRecord]]], n: int,
    groups: dict[str, int] | None = None,
    fetch: Callable[[set[int]], dict[int, ConnectionRecord]] | None = None,
) -> Classification:
    """Diagnose the ``n`` connections that ``passes()`` gives, in two passes in the same
    order: (index, connection) pairs by start, ties by index (:class:`OutOfOrder`
    otherwise); the index (0 … n-1, the connection's id order) places its diagnosis in
    ``codes``. The first pass learns per client what only the end tells (how deep idle
    connections piled up, its last connection), the second decides each connection and
    sums up each server. Only the first reads the records: it notes the few numbers the
    second needs per HTTP connection (:class:`_Facts`); the records each server's
    evidence names (the first of each diagnosis, and its first five ids) are read once
    more at the end, by ``fetch(indexes)`` ({index: connection}; default: ``passes()``
    again, as far as the last of them). State is per server and client, so the
    connections may come from disk (memory stays flat). ``groups``: captures analysed
    apart (other experiments), {capture path: group}: each group's servers are summed
    up apart, and their records name the group's first file (``capture``)."""
    servers: dict[tuple[int, str], _Server] = {}
    firsts: dict[int, str] = {}
    codes = bytearray(n)
    idle = bytearray(n)  # 1: the connection sat idle while its client opened another
    last_start = float("-inf")
    last = -1
    facts = _Facts(n)
    for seq, (i, c) in enumerate(passes()):
        if c.start < last_start or (c.start == last_start and i < last):
            raise OutOfOrder(c.id)
        last_start, last = c.start, i
        g = 0 if groups is None else groups.get(c.capture, 0)
        s = servers.get((g, c.server))
        if s is None:
            s = servers[(g, c.server)] = _Server(c.server)
            s.group = g
        finished = _response_done(c)
        k = _first_pass(s, c, i, seq, idle, finished)
        codes[i] = _CODE[_rule_diagnosis(c)]
        label = c.label
        if _is_http(label):
            facts.add(i, c, k, finished)
    # the second pass, over the facts the first noted (in the same order: the buckets'
    # order is by their place, j, among the HTTP connections, as by their place in the
    # passes)
    end_names = facts.end_names
    for j in range(facts.n):
        i = facts.index[j]
        k = facts.clients[j]
        code = codes[i]
        if idle[i] and k.depth >= LEAK_MIN:
            code = codes[i] = _LEAK
        _second_pass(
            k, i, j, CODES[code], facts.done[j], facts.flags[j],
            facts.exchanges[j], facts.gap[j], end_names[facts.ends[j]],
        )
    del facts
    _resolve(servers, passes, fetch)
    records: list[tuple[int, ServerRecord]] = []
    proxies = _proxies(servers)
    for path, g in (groups or {}).items():  # the first file of each group, as named
        firsts.setdefault(g, path)
    for key, s in servers.items():
        rec = _summary(s, proxies.get(key))
        if groups is not None:
            rec.capture = firsts.get(s.group)
        if rec.request_limit is not None:
            for i in s.limited:
                codes[i] = _RL
        records.append((s.group, rec))
    records.sort(key=lambda t: (t[0], -t[1].requests, t[1].server))
    return Classification([rec for _group, rec in records], codes)


def _first_pass(
    s: _Server, c: ConnectionRecord, i: int, seq: int, idle: bytearray,
    finished: float | None,
) -> _Client:
    """``i``: the connection's index; ``seq``: its place in the passes' order;
    ``finished``: its _response_done. Returns its client."""
    s.connections += 1
    s.requests += c.requests
    s.handshakes += c.handshake_seen
    label = c.label
    s.kinds[label] = s.kinds.get(label, 0) + 1
    http = _is_http(label)
    if http:
        s.http += 1
        s.persistent += label == "persistent"
        if c.missing_bytes:
            s.lossy += 1
            s.missing += c.missing_bytes
    tls = c.tls
    if tls is not None:
        s.tls += 1
        handshake = tls.get("handshake")
        s.tls_full += handshake == "full"
        s.tls_resumed += handshake == "resumed"
        if handshake == "failed":
            s.tls_failed += 1
            alert = tls.get("alert")
            if s.alert is None and isinstance(alert, str):
                s.alert = alert
        s.estimated += c.requests_estimated
    _count(s.agents, c.user_agent)
    _count(s.softwares, c.server_software)
    s.forwarded += c.forwarded
    e = c.last_exchange
    if e is not None and e.version == "1.0" and _has(e.request_connection, "close"):
        sw = _client(c.user_agent)
        s.proxy_shaped += sw is not None and sw.key in SPEAKS_HTTP11
    start = c.start
    if start < s.first_start:
        s.first_start = start
    if c.end > s.last_end:
        s.last_end = c.end
    # most open at once: a start counts before an end at the same time
    ends = s.ends
    while ends and ends[0] < start:
        heappop(ends)
    heappush(ends, c.held_until or c.end)
    if len(ends) > s.max_concurrent:
        s.max_concurrent = len(ends)
    # A leak *accumulates*: at some new connection's start, at least LEAK_MIN earlier
    # one-request connections of that client sit idle (response complete, no teardown).
    # A client that closes each connection late but steadily (Python's requests.get() in
    # a loop closes connection N when N+1's response is garbage-collected: depth 1) is
    # not a leak.
    ip = c.client_ip
    k = s.clients.get(ip)
    if k is None:
        k = s.clients[ip] = _Client(s)
    active = k.active
    if active:
        over = False
        for a in active:
            if a[1] <= start:
                over = True
                break
        if over:
            active = k.active = [a for a in active if a[1] > start]
        here = 0
        for done, _closed, pos, order in active:
            if done < start:
                here += 1
                if not idle[pos]:
                    idle[pos] = 1
                    if k.first_idle < 0 or order < k.first_idle:
                        k.first_idle, k.first_idle_next = order, c.id
        if here > k.depth:
            k.depth = here
    if finished is not None and label == "per-request":
        closed = c.teardown_ts if c.teardown_ts is not None else INF
        k.active.append((finished, closed, i, seq))
    if http and start > k.latest:
        k.latest = start
    return k


MAX_AGENTS: Final = 32  # distinct User-Agent / Server values counted per server


def _count(counts: dict[str, int], value: str | None) -> None:
    if value is not None and (value in counts or len(counts) < MAX_AGENTS):
        counts[value] = counts.get(value, 0) + 1


def _most(counts: dict[str, int]) -> str | None:
    """The most frequent value (the first seen among equals)."""
    return max(counts, key=lambda k: counts[k]) if counts else None


def _rule_diagnosis(c: ConnectionRecord) -> str | None:
    """The connection's own diagnosis (``leak`` needs its client's other connections):
    the first of CONNECTION_RULES that holds, called here directly in their order (a
    compiled call each, not a call through the table; a test keeps the two the same)."""
    label = c.label
    if not _is_http(label):
        return None
    if _rule_unread_body(c):
        return "unread-body"
    if _rule_reset(c):
        return "reset"
    if _rule_client_connection_close(c):
        return "client-connection-close"
    if _rule_http10_client(c):
        return "http10-client"
    if _rule_http10_server(c):
        return "http10-server"
    if _rule_server_connection_close(c):
        return "server-connection-close"
    if _rule_close_delimited(c):
        return "close-delimited"
    if _rule_idle_timeout(c):
        return "idle-timeout"
    if _rule_server_close(c):
        return "server-close"
    if _rule_client_idle_timeout(c):
        return "client-idle-timeout"
    if _rule_client_close(c):
        return "client-close"
    return "reused" if label == "persistent" or c.closed_by == "open" else None


def _second_pass(
    k: _Client, i: int, seq: int, code: str | None, done: float, flags: int,
    exchanges: int, gap: float, end: str,
) -> None:
    """An HTTP connection, from its facts (_Facts): ``k`` its client, ``done`` when its
    work was done."""
    s = k.server
    # Costly: the same client connected to this server again after the connection had
    # done its work (its last response was complete). Connections opened side by side
    # while others were still busy (a browser's six, a pool under load) cost nothing
    # here; neither does a client's last connection.
    costly = code == "leak" or k.latest > done
    key = code or "none"
    # request-limit: the server closed with Connection: close after the same N >= 2
    # requests on every connection it saw whole (one caught mid-way may show fewer).
    if code == "server-connection-close" and flags & _F_LIMITABLE:
        key = _LIMITED
        s.limited.append(i)
        if flags & _F_HANDSHAKE:
            s.whole.add(exchanges)
        s.limited_most = max(s.limited_most, exchanges)
    b = s.buckets.get(key)
    if b is None:
        b = s.buckets[key] = _Bucket(seq)
    b.add(seq, i, costly and code != "reused" and code is not None, key, flags, gap, end)


def _resolve(
    servers: dict[tuple[int, str], _Server],
    passes: Callable[[], Iterable[tuple[int, ConnectionRecord]]],
    fetch: Callable[[set[int]], dict[int, ConnectionRecord]] | None,
) -> None:
    """The records the evidence names, read once more: each bucket's first connection
    and its first five ids."""
    wanted: set[int] = set()
    for s in servers.values():
        for b in s.buckets.values():
            wanted.add(b.head_at)
            for _seq, i in b.at:
                wanted.add(i)
    if not wanted:
        return
    if fetch is not None:
        found = fetch(wanted)
    else:
        found = {}
        for i, c in passes():
            if i in wanted:
                found[i] = c
                if len(found) == len(wanted):
                    break
    for s in servers.values():
        for b in s.buckets.values():
            b.head = found[b.head_at]
            b.ids = [(seq, found[i].id) for seq, i in b.at]


def _n(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def _ids(b: _Bucket, most: int = 5) -> str:
    ids = [cid for _pos, cid in b.ids[:most]]
    return ", ".join(ids) + (f", … ({b.n} in all)" if b.n > most else "")


def _summary(s: _Server, proxy: tuple[str, str] | None = None) -> ServerRecord:
    """The server's verdict and primary diagnosis, from its passes' numbers. ``proxy``:
    (hints.PROXY_FIXES key, description) when its clients are a reverse proxy."""
    requests, handshakes = s.requests, s.handshakes
    persistent = s.persistent
    rec = ServerRecord(
        server=s.server,
        clients=len(s.clients),
        connections=s.connections,
        requests=requests,
        handshakes=handshakes,
        handshakes_per_request=round(handshakes / requests, 4) if requests else 0.0,
        max_concurrent=s.max_concurrent,
        verdict="no-http",
        diagnosis="reused",
        evidence="",
        hint="",
        persistent=persistent,
        per_request=s.http - persistent,
    )
    if s.tls:
        rec.tls_handshakes_full = s.tls_full
        rec.tls_handshakes_resumed = s.tls_resumed
    if not s.http:
        rec.diagnosis = None  # type: ignore[assignment]
        rec.evidence = (
            f"{s.connections} connection(s), none carried HTTP or a request over TLS "
            f"({dict(s.kinds)})"
        )
        rec.hint = (
            "nothing to analyse: no HTTP/1.x, HTTP/2 or TLS requests on these connections"
        )
        if s.tls_failed:
            why = f" (alert {s.alert})" if s.alert else " (closed before it completed)"
            rec.evidence += f"; {_n(s.tls_failed, 'TLS handshake')} failed{why}"
            rec.hint = (
                f"the TLS handshakes failed{why}: client and server share no protocol "
                "version, cipher suite or ALPN protocol, or the client rejected the "
                "certificate — see the alert, and `openssl s_client -connect` or "
                "`curl -v` against the server"
            )
        return rec
    agent = _most(s.agents)
    client = _client(agent)
    served = _most(s.softwares)
    server = hints.identify_server(served)
    rec.client_software = _software(client, agent)
    rec.server_software = _software(server, served)
    proxy_key = None
    if proxy is not None:
        proxy_key, rec.proxy = proxy
        if proxy_key in hints.PROXY_FIXES and proxy_key != "*":
            # this hop's client is the proxy; the User-Agent is its own client's
            name = hints.SERVER_NAMES[proxy_key]
            rec.client_software = f"{name} (reverse proxy)" + (
                f", passing on {_printable(agent)}" if agent else ""
            )
        else:
            rec.client_software = "a reverse proxy" + (
                f", passing on {_printable(agent)}" if agent else ""
            )
        client = None
    buckets = s.buckets
    limited = buckets.pop(_LIMITED, None)
    if limited is not None:
        whole = s.whole
        if (
            len(whole) == 1
            and min(whole) >= 2
            and s.limited_most <= min(whole)
            and (limited.n >= 2 or s.http > 1)
        ):
            rec.request_limit = min(whole)
            buckets["request-limit"] = limited
        elif "server-connection-close" in buckets:
            buckets["server-connection-close"].merge(limited)
        else:
            buckets["server-connection-close"] = limited
    for code, b in sorted(buckets.items(), key=lambda kv: kv[1].first):
        rec.diagnoses[code] = b.n
    costly = {code: b for code, b in buckets.items() if b.costly}
    extra = sum(b.costly for b in costly.values())
    rec.extra_handshakes = round(extra / requests, 4) if requests else 0.0
    minor = ""
    if costly and rec.extra_handshakes < MINOR_SHARE and "leak" not in costly:
        # (a leak adds up whatever its share: descriptors, memory, TIME_WAIT)
        # Reconnects this rare are the normal life of keep-alive (nginx closes after
        # its 1000th request): say them, do not downgrade the verdict for them.
        top = max(costly, key=lambda k: (costly[k].costly, -PRECEDENCE.index(k)))
        _evidence(top, costly[top], rec, s)  # (fills request_limit/idle_timeout's numbers)
        what = top if top != "request-limit" else f"request-limit, {rec.request_limit} requests"
        minor = (
            f"; {_n(extra, 'reconnect')} ({what}) cost {rec.extra_handshakes:.2%} extra "
            f"handshakes per request, under {MINOR_SHARE:.0%}: not worth changing"
        )
        costly = {}

    # The verdict: nothing cost a reconnect → reused (or, when no connection carried a
    # second request, nothing to reuse); else by how many connections still carried
    # several requests.
    lossy = s.lossy
    if not costly:
        if persistent == 0:
            _nothing_to_reuse(rec, s, buckets, client, server, proxy_key, minor)
        else:
            rec.verdict = "reused"
            rec.diagnosis = "reused"
            rec.evidence = (
                f"{requests} requests over {s.http} HTTP connection(s), "
                f"{handshakes} handshake(s) ({rec.handshakes_per_request:.2f} per "
                f"request); {persistent} connection(s) carried 2 or more requests{minor}"
            )
            rec.hint = hints.LIKELY["reused"]
        _uncertain(rec, s, lossy * 1.0 / s.http >= LOSSY_SHARE)
        return rec
    rec.verdict = "not-reused" if persistent == 0 else "partly-reused"
    code = max(costly, key=lambda k: (costly[k].costly, -PRECEDENCE.index(k)))
    b = buckets[code]
    if code in NEW_CLIENT_CODES and s.tls_full >= 2 and not s.tls_resumed and b.tls == b.n:
        # A new connection per request over TLS, each with a full TLS handshake: the
        # price is twice a handshake, and even a new connection could have resumed.
        # (the connections keep their own diagnosis, client-close: why each closed)
        code = "tls-no-resumption"
    rec.diagnosis = code
    rec.evidence = _evidence(code, b, rec, s)
    if rec.proxy is not None and code in hints.PROXY_CODES:
        rec.evidence += f"; the requests came through a reverse proxy: {rec.proxy}"
    rec.hint = _hint(code, b, rec, client, server, proxy_key)
    if code != "tls-no-resumption" and s.tls_full >= 2 and not s.tls_resumed:
        rec.hint = rec.hint.rstrip(".") + ". " + hints.resumption(client)
    _uncertain(rec, s, b.lossy > 0 or lossy * 1.0 / s.http >= LOSSY_SHARE)
    return rec


def _software(sw: hints.Software | None, value: str | None) -> str | None:
    """How a report names the software behind a header value (control bytes from the
    wire dropped: the value reaches terminals)."""
    if value is None:
        return None
    value = _printable(value)
    return value if sw is None else f"{sw.name} ({value})"


def _printable(value: str) -> str:
    return "".join(ch for ch in value if " " <= ch != "\x7f")


def _hint(
    code: str, b: _Bucket, rec: ServerRecord, client: hints.Software | None,
    server: hints.Software | None, proxy_key: str | None,
) -> str:
    key = code
    if code == "reset" and b.client_rst * 2 < b.n:
        key = "reset-server"  # mostly the server's RSTs
    t = f"{rec.idle_timeout:.1f}s" if rec.idle_timeout is not None else "?"
    return hints.hint(key, client, server, proxy_key, n=rec.request_limit, t=t)


def _nothing_to_reuse(
    rec: ServerRecord, s: _Server, buckets: dict[str, _Bucket],
    client: hints.Software | None, server: hints.Software | None, proxy_key: str | None,
    minor: str = "",
) -> None:
    """No connection carried a second request and no client connected again (or too
    rarely to matter: ``minor`` says how often): nothing was reused, and nothing was
    wasted either. The diagnosis is the connections' own
    (what would cost a handshake per request if the client made more)."""
    rec.verdict = "nothing-to-reuse"
    every = _Bucket(0)  # all the HTTP connections, for their ids
    for b in sorted(buckets.values(), key=lambda b: b.first):
        every.n += b.n
        every.ids = sorted(every.ids + b.ids)[:5]
    own = {k: b for k, b in buckets.items() if k not in ("reused", "none")}
    rec.evidence = (
        f"{_n(rec.requests, 'request')} on {_n(s.http, 'connection')} "
        f"({_ids(every)}); no connection carried a second request"
        + (minor if minor else " and no client connected again after a connection had "
           "done its work, so there was nothing to reuse")
    )
    if not own:
        rec.diagnosis = None  # type: ignore[assignment]
        rec.hint = "nothing to reuse: each client made one request"
        return
    code = max(own, key=lambda k: (own[k].n, -PRECEDENCE.index(k)))
    _evidence(code, own[code], rec, s)  # (its numbers: request_limit, idle_timeout)
    rec.diagnosis = code
    rec.evidence += f"; the connections' own diagnosis: {code}"
    rec.hint = (
        "nothing to reuse: each client made one request. If it makes more, this would "
        f"cost a handshake each: {_hint(code, own[code], rec, client, server, proxy_key)}"
    )


def _uncertain(rec: ServerRecord, s: _Server, could_flip: bool) -> None:
    """Holes where they could change the answer: the diagnosis is a lead to check."""
    rec.evidence += _caveat(s)
    if could_flip:
        mark_uncertain(
            rec, f"{_n(s.lossy, 'connection')} of {s.http} lost packets in the capture "
            "(tcpdump drops, a capture started late)", "capture again without drops",
        )


def mark_uncertain(rec: ServerRecord, why: str, remedy: str) -> None:
    """The diagnosis could be wrong for ``why`` (the wire lost something): the hint
    becomes a lead to confirm (``remedy``), once, whoever says it first (the classifier
    for holes, a live capture for kernel drops)."""
    if rec.uncertain or rec.verdict == "no-http":
        return
    rec.uncertain = True
    rec.hint = (
        f"uncertain: {why}, which could change this diagnosis — {remedy} to confirm. "
        "If confirmed: " + rec.hint
    )


def _proxies(
    servers: dict[tuple[int, str], _Server]
) -> dict[tuple[int, str], tuple[str, str]]:
    """The servers whose client is a reverse proxy: {server: (hints.PROXY_FIXES key,
    description)}. A hop is behind a proxy when its requests carry forwarding fields,
    or when its clients' address is also the address of a server in the capture that
    names itself as a proxy (nginx, Apache, Envoy, HAProxy, Caddy), was busy at the same
    time and passed the same User-Agent on; without such a server in the capture, when
    its requests are HTTP/1.0 with 'Connection: close' yet carry the User-Agent of an
    HTTP/1.1 client (nginx's default upstream request)."""
    found: dict[tuple[int, str], tuple[str, str]] = {}
    fronts: dict[tuple[int, str], list[tuple[_Server, hints.Software]]] = {}
    for a in servers.values():
        sw = hints.identify_server(_most(a.softwares))
        if sw is not None and sw.key in hints.PROXIES:
            fronts.setdefault((a.group, a.server.rsplit(":", 1)[0]), []).append((a, sw))
    for key, b in servers.items():
        if not b.http:
            continue
        candidates = [
            (a, sw) for ip in b.clients for a, sw in fronts.get((b.group, ip), ())
            if a is not b and a.first_start <= b.last_end and b.first_start <= a.last_end
            and (not b.agents or set(a.agents) & set(b.agents))
        ]
        if candidates:
            a, sw = max(candidates, key=lambda t: t[0].requests)
            found[key] = (sw.key, f"{sw.name} at {a.server}")
        elif b.forwarded * 2 >= b.http:
            found[key] = ("*", f"a reverse proxy at {', '.join(sorted(b.clients))} "
                               "(the requests carry forwarding fields)")
        elif b.proxy_shaped * 2 >= b.http:
            found[key] = (
                "nginx", "probably nginx with its defaults (HTTP/1.0 requests with "
                "'Connection: close' that carry an HTTP/1.1 client's User-Agent)",
            )
    return found


def _caveat(s: _Server) -> str:
    """A verdict built on a capture with holes says so."""
    if not s.lossy:
        return ""
    return (
        f" (caution: {s.missing} bytes of payload on {_n(s.lossy, 'connection')} were not "
        "in the capture; the verdict rests on what was seen)"
    )


def median_of(b: _Bucket) -> float | None:
    """The median idle gap of a bucket's connections (median codes only)."""
    return _median(b.gaps) if b.gaps else None


def _median(values: list[float]) -> float:
    """``statistics.median`` (the same arithmetic), without importing ``statistics`` and
    what it imports (``random``, ``fractions``, ``decimal``: ~8 ms of every start)."""
    data = sorted(values)
    n = len(data)
    i = n // 2
    if n % 2 == 1:
        return data[i]
    return (data[i - 1] + data[i]) / 2


def _evidence(code: str, b: _Bucket, rec: ServerRecord, s: _Server) -> str:
    """The numbers behind the primary code: ``b`` holds all connections with that
    diagnosis, ``b.costly`` how many of them made the client connect again."""
    n = b.n
    head = (
        f"{_n(rec.requests, 'request')} opened {_n(rec.connections, 'connection')} "
        f"({rec.handshakes_per_request:.2f} handshakes per request)"
    )
    if s.tls:
        head += (
            f"; TLS handshakes: {s.tls_full} full, {s.tls_resumed} resumed"
            + (" (requests estimated from TLS records: no key log for "
               f"{_n(s.estimated, 'connection')})" if s.estimated else "")
        )
    again = (
        "and the client connected again after each"
        if b.costly == n else f"and the client connected again after {b.costly} of them"
    )
    if code == "tls-no-resumption":
        return (
            f"{head}; the client opened a new TLS connection for each request, each with a "
            f"full TLS handshake (none resumed), and closed {n} of them after one request, "
            f"{again}: {_ids(b)}"
        )
    if code == "leak":
        c = b.head
        assert c is not None
        k = s.clients[c.client_ip]
        nxt = k.first_idle_next if k.first_idle >= 0 else "?"
        done = _response_done(c) or c.start
        return (
            f"{head}; {n} were still open and idle when the same client "
            f"({c.client_ip}) opened another (e.g. {c.id} idle since its response at "
            f"+{done - c.start:.3f}s when {nxt} was opened); up to {rec.max_concurrent} "
            f"open at once; they ended: {', '.join(sorted(b.ends))}"
        )
    if code == "unread-body":
        rst = b.client_rst
        return (
            f"{head}; the client ended {n} one-request connection(s) "
            f"{(median_of(b) or 0.0) * 1000:.2f} ms (median) after a complete HTTP/1.1 "
            f"response that announced nothing ({n - rst} with FIN, {rst} with RST: "
            f"response bytes left unread in its socket), {again}: {_ids(b)}"
        )
    if code == "reset":
        a = b.client_rst
        return (
            f"{head}; {n} connection(s) ended in RST (client {a}, server {n - a}): {_ids(b)}"
        )
    if code == "request-limit":
        how = (
            "each ending with the server's GOAWAY" if b.head is not None
            and b.head.http2 is not None else "the last response carrying 'Connection: close'"
        )
        return (
            f"{head}; the server closed {n} connection(s) after exactly {rec.request_limit} "
            f"requests each, {how}: {_ids(b)}"
        )
    median = median_of(b)
    unanswered = b.unanswered
    if code == "idle-timeout":
        rec.idle_timeout = round(median, 3) if median is not None else None
        return (
            f"{head}; the server closed {n} idle keep-alive connection(s) "
            + ("with a GOAWAY" if b.head is not None and b.head.http2 is not None
               else "without 'Connection: close'")
            + f" about {rec.idle_timeout}s after the last response, {again}: {_ids(b)}"
        )
    if code == "server-close":
        return (
            f"{head}; the server sent the first FIN {(median or 0.0) * 1000:.2f} ms (median) "
            f"after the response on {n} connection(s), {_unannounced(b, 'announced')}, {again}: "
            f"{_ids(b)}"
        )
    if code == "client-idle-timeout":
        return (
            f"{head}; the client closed {n} idle connection(s) about {median or 0.0:.1f}s "
            f"(median) after the last response, {again}: {_ids(b)}"
        )
    if code == "close-delimited":
        return (
            f"{head}; {n} connection(s) had responses with neither Content-Length nor chunked "
            f"encoding, so each body ended only when the connection closed: {_ids(b)}"
        )
    if code == "client-connection-close":
        return (
            f"{head}; {n} request(s) carried 'Connection: close' and the connection closed "
            f"after the response: {_ids(b)}"
        )
    if code == "http10-client":
        return (
            f"{head}; {n} request(s) were HTTP/1.0 without 'Connection: keep-alive', so the "
            f"server closed after each response: {_ids(b)}"
        )
    if code == "http10-server":
        return (
            f"{head}; {n} response(s) were HTTP/1.0 without keep-alive, so the connection "
            f"closed after each, although the client spoke HTTP/1.1: {_ids(b)}"
        )
    if code == "server-connection-close":
        return (
            f"{head}; {n} response(s) carried 'Connection: close' although the client asked "
            f"for nothing, and the connection closed after each: {_ids(b)}"
        )
    # client-close
    timing = (
        f"{(median or 0.0) * 1000:.2f} ms (median) after the response"
        if median is not None else "before any response"
    )
    if median is not None and unanswered:
        timing += f" ({unanswered} before any response)"
    return (
        f"{head}; the {_who_began(b)} {timing} on {n} one-request "
        f"connection(s), {again}, {_unannounced(b, 'on either side')}: {_ids(b)}"
    )


def _unannounced(b: _Bucket, where: str) -> str:
    """That the bucket's connections did not announce their close (``where``: announced,
    on either side), as HTTP/1, HTTP/2 or undecrypted TLS shows it."""
    c = b.head
    if c is not None and c.http2 is not None:
        return f"HTTP/2 with no GOAWAY {where}"
    if c is not None and c.requests_estimated:
        return "over TLS not decrypted (its headers unseen)"
    return f"HTTP/1.1 with no 'Connection: close' {where}"


def _who_began(b: _Bucket) -> str:
    """The client's close: its FIN, or over TLS its close_notify alert."""
    c = b.head
    if c is not None and c.tls is not None and c.tls.get("close_notify_by") == "client":
        return "client began the close (TLS close_notify)"
    return "client sent the first FIN"
