"""Pairs requests with responses on one connection and keeps per-exchange accounting.

A :class:`Conversation` owns the two :class:`~analyzer.core.http1.MessageReader` of a
connection (requests from the client, responses from the server). Requests queue up in
order (pipelining, RFC 9112 §9.3.2); each final response answers the oldest unanswered
request; 1xx interim responses (other than 101) are counted on the exchange they belong
to and are not exchanges themselves. A response with no request to answer (the capture
started after the request, or the peers desynchronised) still makes an exchange, with no
method, as Zeek's http.log does.

Exchanges are numbered per connection from 1, like Zeek's ``trans_depth``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Final, Protocol

from analyzer.core.http1 import MessageReader, Owner
from analyzer.core.records import ExchangeRecord
from analyzer.core.secrets import redact_target
from analyzer.core.sink import Sink

CONNECT: Final = "connect"  # what a 2xx to CONNECT switches to (Conversation.upgrade_to)
MAX_PENDING: Final = 100  # unanswered pipelined requests kept for pairing (anomaly past it)
KEEP: Final = 16  # with a spool, completed exchanges past this many go to it (memory stays flat)


class Talk(Protocol):
    """What a connection's HTTP side offers its owner (flows, connection_record), HTTP/1
    (:class:`Conversation`) and HTTP/2 (:class:`analyzer.core.http2.H2Conversation`)
    alike."""

    cid: str
    spool: Callable[[ExchangeRecord], None] | None
    requests: int
    responses: int
    interim: int
    count: int
    upgraded: bool
    close_delimited: bool
    anomalies: dict[str, int]
    exchanges: list[ExchangeRecord]
    user_agent: str | None
    server_software: str | None
    forwarded: bool
    via: str | None

    def release(self) -> None: ...
    def facts(self) -> dict[str, object] | None: ...


class Conversation(Owner):
    """The HTTP side of one connection: two readers, the pairing queue, the exchanges."""

    __slots__ = (
        "requests_reader", "responses_reader", "exchanges", "pending", "requests",
        "responses", "interim", "upgraded", "anomalies", "_req_open", "_resp_open",
        "cid", "handshake_seen", "spool", "count", "close_delimited", "show_secrets",
        "user_agent", "server_software", "forwarded", "via", "switch", "upgrade_to",
        "switched", "tunneled", "tunnel",
    )

    def __init__(
        self,
        midstream: bool = False,
        cid: str = "",
        spool: Callable[[ExchangeRecord], None] | None = None,
        show_secrets: bool = False,
    ) -> None:
        self.cid = cid
        self.show_secrets = show_secrets
        self.handshake_seen = not midstream
        self.spool = spool
        self.count = 0  # exchanges ever made on this connection
        self.close_delimited = False
        self.requests_reader = MessageReader(True, self, midstream)
        self.responses_reader = MessageReader(False, self, midstream)
        self.exchanges: list[ExchangeRecord] = []
        self.pending: deque[ExchangeRecord] = deque()
        self.requests = 0
        self.responses = 0
        self.interim = 0
        self.upgraded = False
        self.anomalies: dict[str, int] = {}
        self._req_open: ExchangeRecord | None = None
        self._resp_open: ExchangeRecord | None = None
        # The software on each side, as the first request and response name it, and
        # whether requests came through a proxy (classify's hints)
        self.user_agent: str | None = None
        self.server_software: str | None = None
        self.forwarded = False
        self.via: str | None = None
        # A 101's Upgrade token (h2c, websocket, …) and the exchange it switched on; the
        # owner's ``switch(token)`` gives the readers the bytes after it go to, if any
        self.upgrade_to = ""
        self.switched: ExchangeRecord | None = None
        self.switch: Callable[[str], tuple[Sink | None, Sink | None]] | None = None
        # readers of HTTP/1 inside a CONNECT tunnel (their exchanges are this
        # connection's), and what the tunnel carried ("connect/tls", "websocket", …)
        self.tunneled: list[MessageReader] = []
        self.tunnel: str | None = None

    # ---- reader callbacks
    def on_request(
        self, ts: float, method: str, target: str, version: str, headers: dict[str, str]
    ) -> None:
        self.requests += 1
        ex = self._new_exchange()
        if not self.show_secrets:
            target = redact_target(target)
        ex.method, ex.target, ex.version, ex.request_ts = method, target, version, ts
        conn = headers.get("connection")
        if conn:
            ex.request_connection = conn.lower()
        if self.requests == 1:
            self.requests_reader.software = False
            self.user_agent = headers.get("user-agent")
            via = headers.get("via")
            self.forwarded = (
                via is not None or "x-forwarded-for" in headers or "x-real-ip" in headers
                or "forwarded" in headers
            )
        if len(self.pending) >= MAX_PENDING:
            self.anomaly("too-many-pending-requests")
            self.pending.popleft()
        self.pending.append(ex)
        self._req_open = ex

    def response_context(self) -> tuple[str | None, str | None]:
        """(method, version) of the request the next response answers, if any."""
        if self.pending:
            ex = self.pending[0]
            return ex.method, ex.version
        return None, None

    def on_response(
        self, ts: float, status: int, reason: str, version: str, headers: dict[str, str],
        framing: str,
    ) -> None:
        if 100 <= status < 200 and status != 101:
            self.interim += 1
            if self.pending:
                self.pending[0].interim_responses += 1
            else:
                self.anomaly("interim-response-without-request")
            self._resp_open = None
            return
        self.responses += 1
        if self.pending:
            ex = self.pending.popleft()
        else:
            self.anomaly("response-without-request")
            ex = self._new_exchange()
        ex.status = status if status else None  # HTTP/0.9 responses have no status line
        ex.reason = reason
        ex.response_version = version
        ex.response_ts = ts
        conn = headers.get("connection")
        if conn:
            ex.response_connection = conn.lower()
        if self.responses == 1:
            self.responses_reader.software = False
            self.server_software = headers.get("server")
            self.via = headers.get("via")
        ex.framing = framing
        if status == 101:
            self.upgrade_to = headers.get("upgrade", "").strip().lower()
            self.switched = ex
        elif framing == "tunnel":  # a 2xx to CONNECT: the bytes after it are a tunnel's
            self.upgrade_to = CONNECT
            self.switched = ex
        if framing == "close" and version != "0.9" and ex.version != "0.9":
            self.close_delimited = True
        self._resp_open = ex

    def on_message_end(self, is_request: bool, ts: float) -> None:
        if is_request:
            if self._req_open is not None:
                self._req_open.request_end_ts = ts
                self._req_open = None
        elif self._resp_open is not None:
            self._resp_open.response_end_ts = ts
            self._resp_open = None
            if self.spool is not None and len(self.exchanges) > KEEP:
                self._spill()

    def _new_exchange(self) -> ExchangeRecord:
        self.count += 1
        ex = ExchangeRecord(self.cid, self.count)
        ex.opened_connection = self.count == 1 and self.handshake_seen
        self.exchanges.append(ex)
        return ex

    def _spill(self) -> None:
        """Hand completed exchanges (answered, body over) to the spool, oldest first,
        keeping the last KEEP: a long keep-alive connection costs no memory per request."""
        exchanges = self.exchanges
        spool = self.spool
        assert spool is not None
        done = 0
        limit = len(exchanges) - KEEP
        while done < limit:
            ex = exchanges[done]
            if ex.response_end_ts is None or ex is self._req_open:
                break
            spool(ex)
            done += 1
        if done:
            del exchanges[:done]

    def on_upgrade(self, ts: float) -> None:
        self.upgraded = True
        client: Sink | None = None
        server: Sink | None = None
        if self.switch is not None and self.upgrade_to:
            client, server = self.switch(self.upgrade_to)
        self.requests_reader.tunnel(client)
        self.responses_reader.tunnel(server)

    def anomaly(self, name: str) -> None:
        self.anomalies[name] = self.anomalies.get(name, 0) + 1

    def tunnel_readers(self) -> tuple[MessageReader, MessageReader]:
        """Readers for HTTP/1 inside a CONNECT tunnel: its requests and responses are
        exchanges of this connection, numbered on (tshark and Zeek count them too)."""
        req = MessageReader(True, self)
        resp = MessageReader(False, self)
        self.tunneled += (req, resp)
        return req, resp

    def release(self) -> None:
        """Break the reader ↔ conversation cycle so the state is freed at once (the flow
        loop runs with the cyclic GC off)."""
        self.requests_reader.owner = _DETACHED
        self.responses_reader.owner = _DETACHED
        for reader in self.tunneled:
            reader.owner = _DETACHED
        self.pending.clear()
        self.switch = None  # (a closure over its owner)

    @property
    def is_http(self) -> bool:
        return bool(self.exchanges)

    def facts(self) -> dict[str, object] | None:
        """The protocol's own facts for the record (HTTP/2's ``http2``): none for HTTP/1."""
        return None


class _Detached(Owner):
    """Owner of readers whose connection is finished: late events are ignored."""

    __slots__ = ()

    def on_request(
        self, ts: float, method: str, target: str, version: str, headers: dict[str, str]
    ) -> None: ...
    def response_context(self) -> tuple[str | None, str | None]:
        return None, None
    def on_response(
        self, ts: float, status: int, reason: str, version: str, headers: dict[str, str],
        framing: str,
    ) -> None: ...
    def on_message_end(self, is_request: bool, ts: float) -> None: ...
    def on_upgrade(self, ts: float) -> None: ...
    def anomaly(self, name: str) -> None: ...


_DETACHED = _Detached()
