"""Labels and diagnoses: the rules that turn connection records into verdicts.

Theory of operation
-------------------
Every connection already has its *label* (from its exchange count, see :mod:`flows`).
Here each connection that carried HTTP gets a *connection diagnosis*: the reason the wire
gives for how it ended, checked in the order of :data:`CONNECTION_RULES` (first match
wins). Then the connections of each server endpoint (all clients together) are summed up
into one verdict and ONE primary diagnosis, picked by :func:`summarise_server`:

* a connection diagnosis *costs* when the client had to open another connection because
  of it — the connection carried one request, or the same client connected again after
  its teardown; diagnoses that cost nothing (a persistent connection closed at the end
  of the capture) do not make the primary diagnosis;
* ``request-limit`` is a server-level pattern: connections the server closed with
  ``Connection: close`` all after the same number N >= 2 of requests;
* ``leak`` needs idle one-request connections to pile up: LEAK_MIN of them open and
  idle at once when the same client opens yet another;
* the most frequent costly diagnosis wins, ties broken by :data:`PRECEDENCE`; with none,
  the server is ``reused``.

The codes are DESIGN.md's and never change; each comes with evidence (the numbers and
connection ids it rests on) and a one-line fix hint.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Final

from analyzer.core.records import ConnectionRecord, ServerRecord

HTTP_LABELS = ("persistent", "per-request")
LEAK_MIN: Final = 2  # idle one-request connections open at once before it is called a leak
IDLE_MIN: Final = 0.2  # a server FIN this long after the response closes an *idle* connection
CLIENT_IDLE_MIN: Final = 1.0  # a client FIN this long after the response: its pool's idle timeout

PRECEDENCE = (
    "leak", "reset", "request-limit", "idle-timeout", "client-connection-close",
    "http10-client", "http10-server", "server-connection-close", "close-delimited",
    "server-close", "client-idle-timeout", "client-close",
)

HINTS = {
    "reused": "nothing to fix: connections are reused",
    "leak": "read the response body to EOF and close it, e.g. "
    "io.Copy(io.Discard, resp.Body); resp.Body.Close() in Go",
    "client-close": "reuse one client across requests (Go: one http.Client; Python: "
    "requests.Session(); curl: several URLs in one invocation)",
    "client-connection-close": "stop sending 'Connection: close' (Go: DisableKeepAlives "
    "or req.Close; curl/ab: drop the header)",
    "server-connection-close": "enable keep-alive on the server (Go: no "
    "SetKeepAlivesEnabled(false); nginx: keepalive_timeout > 0)",
    "http10-client": "send HTTP/1.1 requests, or 'Connection: keep-alive' with HTTP/1.0 "
    "(ab: use -k)",
    "http10-server": "make the server answer HTTP/1.1 (Python http.server: "
    "protocol_version = 'HTTP/1.1' and a Content-Length on every response)",
    "request-limit": "raise the server's per-connection request limit "
    "(nginx: keepalive_requests {n})",
    "idle-timeout": "make the server's keep-alive idle timeout (~{t}) longer than the "
    "client's pauses, or the client's pool idle timeout shorter than it",
    "close-delimited": "send Content-Length or chunked transfer encoding so the body "
    "does not end with the connection",
    "server-close": "the server closes right after each response without saying so: "
    "enable keep-alive in the server (or the proxy in front of it)",
    "client-idle-timeout": "the client drops idle pooled connections before its next "
    "request: raise its idle timeout above the request interval (Go: "
    "Transport.IdleConnTimeout)",
    "reset": "close sockets gracefully: read what the peer sent before closing, no "
    "SO_LINGER 0 (nginx: no 'return 444')",
}


def _last(c: ConnectionRecord):  # type: ignore[no-untyped-def]
    return c.last_exchange


def _tokens(v: str) -> set[str]:
    return {t.strip() for t in v.split(",")} if v else set()


def _closes(c: ConnectionRecord, side: str) -> bool:
    return c.closed_by == side


# Connection rules: (code, predicate), checked in order; ``idle_open`` is supplied by
# the caller (leak needs the other connections of the same client and server).
def _rule_reset(c: ConnectionRecord) -> bool:
    return c.closed_by in ("client-rst", "server-rst")


def _rule_close_delimited(c: ConnectionRecord) -> bool:
    return c.close_delimited


def _rule_client_connection_close(c: ConnectionRecord) -> bool:
    e = _last(c)
    return e is not None and "close" in _tokens(e.request_connection)


def _rule_http10_client(c: ConnectionRecord) -> bool:
    e = _last(c)
    return (
        e is not None and e.version in ("1.0", "0.9")
        and "keep-alive" not in _tokens(e.request_connection)
    )


# The server's HTTP/1.0 or its 'Connection: close' ends the connection whoever sends the
# first FIN: a client that reads such a response may close first itself (curl does).
def _rule_http10_server(c: ConnectionRecord) -> bool:
    e = _last(c)
    return (
        e is not None and c.closed_by != "open" and e.response_version == "1.0"
        and "keep-alive" not in _tokens(e.response_connection)
    )


def _rule_server_connection_close(c: ConnectionRecord) -> bool:
    e = _last(c)
    return (
        e is not None and c.closed_by != "open" and "close" in _tokens(e.response_connection)
    )


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
        return None
    return e.response_end_ts or e.response_ts


def diagnose(connections: list[ConnectionRecord]) -> list[ServerRecord]:
    """Give every HTTP connection its diagnosis and return one record per server."""
    by_server: dict[str, list[ConnectionRecord]] = defaultdict(list)
    for c in connections:
        by_server[c.server].append(c)
    servers = []
    for server, conns in by_server.items():
        conns.sort(key=lambda c: (c.start, int(c.id[1:])))
        idle_open = _idle_open(conns)
        for c in conns:
            c.diagnosis = _connection_diagnosis(c, c.id in idle_open)
        servers.append(summarise_server(server, conns, idle_open))
    servers.sort(key=lambda s: (-s.requests, s.server))
    return servers


def _connection_diagnosis(c: ConnectionRecord, idle_open: bool) -> str | None:
    if c.label not in HTTP_LABELS:
        return None
    if idle_open:
        return "leak"
    for code, rule in CONNECTION_RULES:
        if rule(c):
            return code
    return "reused" if c.label == "persistent" or c.closed_by == "open" else None


def _idle_open(conns: list[ConnectionRecord]) -> dict[str, str]:
    """One-request connections left open and idle while the same client opened more.

    A leak *accumulates*: at some new connection's start, at least LEAK_MIN earlier
    one-request connections of that client sit idle (response complete, no teardown).
    A client that closes each connection late but steadily (Python's requests.get() in a
    loop closes connection N when N+1's response is garbage-collected: depth 1) is not
    a leak. Returns {connection id: id of a connection opened while it was idle}."""
    out: dict[str, str] = {}
    by_client: dict[str, list[ConnectionRecord]] = defaultdict(list)
    for c in conns:
        by_client[c.client_ip].append(c)
    for group in by_client.values():
        idle: dict[str, str] = {}
        depth = 0
        active: list[tuple[float, float, str]] = []  # (response done, teardown, id)
        for n in group:
            active = [a for a in active if a[1] > n.start]
            here = 0
            for done, _closed, cid in active:
                if done < n.start:
                    here += 1
                    idle.setdefault(cid, n.id)
            depth = max(depth, here)
            finished = _response_done(n)
            if n.label == "per-request" and finished is not None:
                closed = n.teardown_ts if n.teardown_ts is not None else float("inf")
                active.append((finished, closed, n.id))
        if depth >= LEAK_MIN:
            out.update(idle)
    return out


def _reconnected(conns: list[ConnectionRecord]) -> set[str]:
    """Connections that cost a new handshake: the same client connected to this server
    again after the connection had done its work (its last response was complete).

    Connections opened side by side while others were still busy (a browser's six, a
    pool under load) cost nothing here; neither does a client's last connection."""
    out = set()
    by_client: dict[str, list[ConnectionRecord]] = defaultdict(list)
    for c in conns:
        by_client[c.client_ip].append(c)
    for group in by_client.values():
        latest = max(c.start for c in group)
        for c in group:
            done = _response_done(c)
            if done is None:
                done = c.teardown_ts if c.teardown_ts is not None else c.end
            if latest > done:
                out.add(c.id)
    return out


def _max_concurrent(conns: Iterable[ConnectionRecord]) -> int:
    """Most connections open at once; one still open at the end counts until then."""
    events = []
    for c in conns:
        events.append((c.start, 1))
        events.append((c.held_until or c.end, -1))
    events.sort(key=lambda e: (e[0], -e[1]))
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def _n(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def _ids(cs: list[ConnectionRecord], most: int = 5) -> str:
    ids = [c.id for c in cs]
    return ", ".join(ids[:most]) + (f", … ({len(ids)} in all)" if len(ids) > most else "")


def summarise_server(
    server: str, conns: list[ConnectionRecord], idle_open: dict[str, str]
) -> ServerRecord:
    http = [c for c in conns if c.label in HTTP_LABELS]
    requests = sum(c.requests for c in conns)
    handshakes = sum(1 for c in conns if c.handshake_seen)
    persistent = sum(1 for c in http if c.label == "persistent")
    per_request = len(http) - persistent
    rec = ServerRecord(
        server=server,
        clients=len({c.client_ip for c in conns}),
        connections=len(conns),
        requests=requests,
        handshakes=handshakes,
        handshakes_per_request=round(handshakes / requests, 4) if requests else 0.0,
        max_concurrent=_max_concurrent(conns),
        verdict="no-http",
        diagnosis="reused",
        evidence="",
        hint="",
        persistent=persistent,
        per_request=per_request,
    )
    if not http:
        rec.diagnosis = None  # type: ignore[assignment]
        kinds: dict[str, int] = defaultdict(int)
        for c in conns:
            kinds[c.label] += 1
        rec.evidence = f"{len(conns)} connection(s), none carried HTTP/1.x ({dict(kinds)})"
        rec.hint = "nothing to analyse: no HTTP/1.x on these connections (TLS? HTTP/2?)"
        return rec
    reconnected = _reconnected(http)

    # request-limit: the server closed with Connection: close after the same N >= 2
    # requests on every connection it saw whole (one caught mid-way may show fewer).
    limited = [
        c for c in http
        if c.diagnosis == "server-connection-close"
        and c.closed_by == "server"
        and c.last_exchange is not None
        and "close" in _tokens(c.last_exchange.response_connection)
    ]
    whole = {c.exchange_count for c in limited if c.handshake_seen}
    if (
        len(whole) == 1
        and min(whole) >= 2
        and all(c.exchange_count <= min(whole) for c in limited)
        and (len(limited) >= 2 or len(http) > 1)
    ):
        rec.request_limit = min(whole)
        for c in limited:
            c.diagnosis = "request-limit"

    costly: dict[str, list[ConnectionRecord]] = defaultdict(list)
    for c in http:
        code = c.diagnosis
        rec.diagnoses[code or "none"] = rec.diagnoses.get(code or "none", 0) + 1
        if code is None or code == "reused":
            continue
        if code == "leak" or c.id in reconnected:
            costly[code].append(c)

    # The verdict: nothing cost a reconnect → reused; else by how many connections
    # still carried several requests.
    if not costly:
        rec.verdict = "reused"
    elif persistent == 0:
        rec.verdict = "not-reused"
    else:
        rec.verdict = "partly-reused"
    if not costly:
        rec.diagnosis = "reused"
        rec.evidence = (
            f"{requests} requests over {len(http)} HTTP connection(s), "
            f"{handshakes} handshake(s) ({rec.handshakes_per_request:.2f} per request); "
            f"{persistent} connection(s) carried 2 or more requests"
        )
        if persistent == 0:
            rec.evidence = (
                f"{_n(requests, 'request')} on {_n(len(http), 'connection')} "
                f"({_ids(http)}); no client connected again after a connection had done "
                "its work, so no handshake was wasted"
            )
        rec.hint = HINTS["reused"]
        rec.evidence += _caveat(conns)
        return rec
    code = max(costly, key=lambda k: (len(costly[k]), -PRECEDENCE.index(k)))
    rec.diagnosis = code
    rec.evidence = _evidence(
        code, [c for c in http if c.diagnosis == code], len(costly[code]), rec, idle_open
    )
    hint = HINTS[code]
    if code == "request-limit":
        hint = hint.format(n=rec.request_limit)
    elif code == "idle-timeout":
        hint = hint.format(t=f"{rec.idle_timeout:.1f}s" if rec.idle_timeout is not None else "?")
    rec.hint = hint
    rec.evidence += _caveat(conns)
    return rec


def _caveat(conns: list[ConnectionRecord]) -> str:
    """A verdict built on a capture with holes says so."""
    lossy = [c for c in conns if c.missing_bytes]
    if not lossy:
        return ""
    missing = sum(c.missing_bytes for c in lossy)
    return (
        f" (caution: {missing} bytes of payload on {_n(len(lossy), 'connection')} were not "
        "in the capture; the verdict rests on what was seen)"
    )


def _evidence(
    code: str, cs: list[ConnectionRecord], costly: int, rec: ServerRecord,
    idle_open: dict[str, str],
) -> str:
    """The numbers behind the primary code: ``cs`` are all connections with that
    diagnosis, ``costly`` how many of them made the client connect again."""
    n = len(cs)
    head = (
        f"{_n(rec.requests, 'request')} opened {_n(rec.connections, 'connection')} "
        f"({rec.handshakes_per_request:.2f} handshakes per request)"
    )
    again = (
        "and the client connected again after each"
        if costly == n else f"and the client connected again after {costly} of them"
    )
    if code == "leak":
        c = cs[0]
        nxt = idle_open.get(c.id, "?")
        done = _response_done(c) or c.start
        ends = {c.closed_by for c in cs}
        return (
            f"{head}; {n} were still open and idle when the same client "
            f"({c.client_ip}) opened another (e.g. {c.id} idle since its response at "
            f"+{done - c.start:.3f}s when {nxt} was opened); up to {rec.max_concurrent} "
            f"open at once; they ended: {', '.join(sorted(ends))}"
        )
    if code == "reset":
        a = sum(1 for c in cs if c.closed_by == "client-rst")
        return (
            f"{head}; {n} connection(s) ended in RST (client {a}, server {n - a}): {_ids(cs)}"
        )
    if code == "request-limit":
        return (
            f"{head}; the server closed {n} connection(s) after exactly {rec.request_limit} "
            f"requests each, the last response carrying 'Connection: close': {_ids(cs)}"
        )
    gaps = [g for g in map(_idle_gap, cs) if g is not None]
    median = statistics.median(gaps) if gaps else None
    unanswered = sum(1 for c in cs if _response_done(c) is None)
    if code == "idle-timeout":
        rec.idle_timeout = round(median, 3) if median is not None else None
        return (
            f"{head}; the server closed {n} idle keep-alive connection(s) without "
            f"'Connection: close' about {rec.idle_timeout}s after the last response, {again}: "
            f"{_ids(cs)}"
        )
    if code == "server-close":
        return (
            f"{head}; the server sent the first FIN {(median or 0.0) * 1000:.2f} ms (median) "
            f"after the response on {n} connection(s), HTTP/1.1 with no 'Connection: close' "
            f"announced, {again}: {_ids(cs)}"
        )
    if code == "client-idle-timeout":
        return (
            f"{head}; the client closed {n} idle connection(s) about {median or 0.0:.1f}s "
            f"(median) after the last response, {again}: {_ids(cs)}"
        )
    if code == "close-delimited":
        return (
            f"{head}; {n} connection(s) had responses with neither Content-Length nor chunked "
            f"encoding, so each body ended only when the connection closed: {_ids(cs)}"
        )
    if code == "client-connection-close":
        return (
            f"{head}; {n} request(s) carried 'Connection: close' and the connection closed "
            f"after the response: {_ids(cs)}"
        )
    if code == "http10-client":
        return (
            f"{head}; {n} request(s) were HTTP/1.0 without 'Connection: keep-alive', so the "
            f"server closed after each response: {_ids(cs)}"
        )
    if code == "http10-server":
        return (
            f"{head}; {n} response(s) were HTTP/1.0 without keep-alive, so the connection "
            f"closed after each, although the client spoke HTTP/1.1: {_ids(cs)}"
        )
    if code == "server-connection-close":
        return (
            f"{head}; {n} response(s) carried 'Connection: close' although the client asked "
            f"for nothing, and the connection closed after each: {_ids(cs)}"
        )
    # client-close
    timing = (
        f"{(median or 0.0) * 1000:.2f} ms (median) after the response"
        if median is not None else "before any response"
    )
    if median is not None and unanswered:
        timing += f" ({unanswered} before any response)"
    return (
        f"{head}; the client sent the first FIN {timing} on {n} one-request "
        f"connection(s), {again}, HTTP/1.1 with no 'Connection: close' on either side: "
        f"{_ids(cs)}"
    )
