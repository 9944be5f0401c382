"""The records the core produces: one per connection, one per exchange, one per server.

Field names are those of the JSON contract (DESIGN.md, schema ``keepalive-analyzer/1``);
fields past the contract are additions, never renames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


# init=False and a written-out __init__: compiled, the dataclass-generated one would run
# as interpreted code for each of a million exchanges. Every field has a default, so a
# compiled record can be rebuilt empty and filled in again: pickle needs that.
@dataclass(slots=True, init=False)
class ExchangeRecord:
    """One HTTP request and its final response. Built while the connection is parsed
    (:mod:`analyzer.core.exchanges`); ``connection``, ``opened_connection`` and
    ``closed_connection`` are filled in when the connection is finished."""

    connection: str = ""
    index: int = 0
    method: str | None = None
    target: str | None = None
    version: str | None = None
    status: int | None = None
    request_ts: float | None = None
    response_ts: float | None = None
    opened_connection: bool = False
    closed_connection: bool = False
    # additions
    response_end_ts: float | None = None
    response_version: str | None = None
    request_connection: str = ""  # Connection header tokens, lower-case
    response_connection: str = ""
    framing: str | None = None  # length | chunked | close | none | tunnel
    interim_responses: int = 0
    request_end_ts: float | None = None
    reason: str = ""

    def __init__(
        self,
        connection: str = "",
        index: int = 0,
        method: str | None = None,
        target: str | None = None,
        version: str | None = None,
        status: int | None = None,
        request_ts: float | None = None,
        response_ts: float | None = None,
        opened_connection: bool = False,
        closed_connection: bool = False,
        response_end_ts: float | None = None,
        response_version: str | None = None,
        request_connection: str = "",
        response_connection: str = "",
        framing: str | None = None,
        interim_responses: int = 0,
        request_end_ts: float | None = None,
        reason: str = "",
    ) -> None:
        self.connection = connection
        self.index = index
        self.method = method
        self.target = target
        self.version = version
        self.status = status
        self.request_ts = request_ts
        self.response_ts = response_ts
        self.opened_connection = opened_connection
        self.closed_connection = closed_connection
        self.response_end_ts = response_end_ts
        self.response_version = response_version
        self.request_connection = request_connection
        self.response_connection = response_connection
        self.framing = framing
        self.interim_responses = interim_responses
        self.request_end_ts = request_end_ts
        self.reason = reason


@dataclass(slots=True, init=False)  # __init__ written out, as ExchangeRecord's
class ConnectionRecord:
    id: str = ""
    capture: str = ""
    client: str = ""
    server: str = ""
    start: float = 0.0
    end: float = 0.0
    handshake_seen: bool = False
    syn: int = 0
    synack: int = 0
    fin_client: int = 0
    fin_server: int = 0
    rst_client: int = 0
    rst_server: int = 0
    closed_by: str = ""
    requests: int = 0
    responses: int = 0
    interim_responses: int = 0
    label: str = ""
    upgraded: bool = False
    missing_bytes: int = 0
    diagnosis: str | None = None
    # additions
    packets: int = 0
    client_bytes: int = 0
    server_bytes: int = 0
    teardown_ts: float | None = None
    handshake_rtt: float | None = None
    expired: bool = False
    held_until: float = 0.0  # end, or the capture's end for a connection still open then
    anomalies: dict[str, int] = field(default_factory=dict)
    # The exchanges: all of them, unless they went to a spool (long live captures), in
    # which case only the count, the last one and what the rules need stay here.
    exchanges: list[ExchangeRecord] = field(default_factory=list)
    exchange_count: int = 0
    last_exchange: ExchangeRecord | None = None
    close_delimited: bool = False  # a response (not HTTP/0.9) ended with the connection
    # Internal, never output: the ordinal of the connection's first packet among all the
    # records read (analyze() numbers the connections C1, C2, … by it).
    first: int = 0
    # Internal, never output: where its exchanges are in the analysis' exchange store
    # (start, end offsets of each run of lines; analyzer.output.store).
    exchange_runs: list[int] | None = None
    # additions: the software on each side as the first request and response name it
    # (User-Agent, Server), whether requests carried forwarding fields (Via,
    # X-Forwarded-For, X-Real-IP, Forwarded: the client is a proxy) and the response's Via
    user_agent: str | None = None
    server_software: str | None = None
    forwarded: bool = False
    via: str | None = None

    def __init__(
        self,
        id: str = "",
        capture: str = "",
        client: str = "",
        server: str = "",
        start: float = 0.0,
        end: float = 0.0,
        handshake_seen: bool = False,
        syn: int = 0,
        synack: int = 0,
        fin_client: int = 0,
        fin_server: int = 0,
        rst_client: int = 0,
        rst_server: int = 0,
        closed_by: str = "",
        requests: int = 0,
        responses: int = 0,
        interim_responses: int = 0,
        label: str = "",
        upgraded: bool = False,
        missing_bytes: int = 0,
        diagnosis: str | None = None,
        packets: int = 0,
        client_bytes: int = 0,
        server_bytes: int = 0,
        teardown_ts: float | None = None,
        handshake_rtt: float | None = None,
        expired: bool = False,
        held_until: float = 0.0,
        anomalies: dict[str, int] | None = None,
        exchanges: list[ExchangeRecord] | None = None,
        exchange_count: int = 0,
        last_exchange: ExchangeRecord | None = None,
        close_delimited: bool = False,
        first: int = 0,
        exchange_runs: list[int] | None = None,
        user_agent: str | None = None,
        server_software: str | None = None,
        forwarded: bool = False,
        via: str | None = None,
    ) -> None:
        self.id = id
        self.capture = capture
        self.client = client
        self.server = server
        self.start = start
        self.end = end
        self.handshake_seen = handshake_seen
        self.syn = syn
        self.synack = synack
        self.fin_client = fin_client
        self.fin_server = fin_server
        self.rst_client = rst_client
        self.rst_server = rst_server
        self.closed_by = closed_by
        self.requests = requests
        self.responses = responses
        self.interim_responses = interim_responses
        self.label = label
        self.upgraded = upgraded
        self.missing_bytes = missing_bytes
        self.diagnosis = diagnosis
        self.packets = packets
        self.client_bytes = client_bytes
        self.server_bytes = server_bytes
        self.teardown_ts = teardown_ts
        self.handshake_rtt = handshake_rtt
        self.expired = expired
        self.held_until = held_until
        self.anomalies = dict() if anomalies is None else anomalies
        self.exchanges = list() if exchanges is None else exchanges
        self.exchange_count = exchange_count
        self.last_exchange = last_exchange
        self.close_delimited = close_delimited
        self.first = first
        self.exchange_runs = exchange_runs
        self.user_agent = user_agent
        self.server_software = server_software
        self.forwarded = forwarded
        self.via = via

    @property
    def client_ip(self) -> str:
        return self.client.rsplit(":", 1)[0]


@dataclass(slots=True)
class ServerRecord:
    server: str
    clients: int
    connections: int
    requests: int
    handshakes: int
    handshakes_per_request: float
    max_concurrent: int
    verdict: str
    diagnosis: str
    evidence: str
    hint: str
    # additions
    persistent: int = 0
    per_request: int = 0
    diagnoses: dict[str, int] = field(default_factory=dict)
    request_limit: int | None = None
    idle_timeout: float | None = None
    # the software on each side (hints.identify's names: "Go net/http", "nginx", …; the
    # most frequent), the reverse proxy the requests came through, if one was recognised
    client_software: str | None = None
    server_software: str | None = None
    proxy: str | None = None
    # the share of extra handshakes the diagnosis costs (handshakes a client paid again
    # after a connection had done its work, per request)
    extra_handshakes: float = 0.0
    # holes in the capture (lost packets) could have changed the diagnosis: the hint is
    # then a lead to check, not a fact
    uncertain: bool = False
    # with several captures analysed apart (separate experiments): the first file of
    # the group this record sums up; None with one group
    capture: str | None = None


@dataclass(slots=True)
class CaptureRecord:
    path: str
    format: str
    packets: int = 0
    tcp_packets: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)
    # additions
    anomalies: dict[str, int] = field(default_factory=dict)
    missing_bytes: int = 0
    dropped: int = 0  # live capture: packets the kernel dropped
    group: int = 0  # files of one group are one capture (stitched); groups are apart


def exchange_row(e: ExchangeRecord) -> dict[str, Any]:
    """The exchange as its JSON object (jsonout.EXCHANGE_FIELDS, in order; a test checks):
    a dict literal, built natively when compiled, encodes ~2x faster than the record."""
    return {
        "connection": e.connection,
        "index": e.index,
        "method": e.method,
        "target": e.target,
        "version": e.version,
        "status": e.status,
        "request_ts": e.request_ts,
        "response_ts": e.response_ts,
        "opened_connection": e.opened_connection,
        "closed_connection": e.closed_connection,
        "response_end_ts": e.response_end_ts,
        "response_version": e.response_version,
        "request_connection": e.request_connection,
        "response_connection": e.response_connection,
        "framing": e.framing,
        "interim_responses": e.interim_responses,
        "request_end_ts": e.request_end_ts,
        "reason": e.reason,
    }


def connection_row(c: ConnectionRecord) -> dict[str, Any]:
    """The connection as its JSON object (jsonout.CONNECTION_FIELDS, in order; a test
    checks)."""
    return {
        "id": c.id,
        "capture": c.capture,
        "client": c.client,
        "server": c.server,
        "start": c.start,
        "end": c.end,
        "handshake_seen": c.handshake_seen,
        "syn": c.syn,
        "synack": c.synack,
        "fin_client": c.fin_client,
        "fin_server": c.fin_server,
        "rst_client": c.rst_client,
        "rst_server": c.rst_server,
        "closed_by": c.closed_by,
        "requests": c.requests,
        "responses": c.responses,
        "interim_responses": c.interim_responses,
        "label": c.label,
        "upgraded": c.upgraded,
        "missing_bytes": c.missing_bytes,
        "diagnosis": c.diagnosis,
        "packets": c.packets,
        "client_bytes": c.client_bytes,
        "server_bytes": c.server_bytes,
        "teardown_ts": c.teardown_ts,
        "handshake_rtt": c.handshake_rtt,
        "expired": c.expired,
        "anomalies": c.anomalies,
        "user_agent": c.user_agent,
        "server_software": c.server_software,
        "forwarded": c.forwarded,
        "via": c.via,
    }


def exchange_values(e: ExchangeRecord) -> tuple[Any, ...]:
    """The exchange's fields as plain values, in declaration order (``ExchangeRecord(*t)``
    rebuilds it; a test checks)."""
    return (
        e.connection, e.index, e.method, e.target, e.version, e.status, e.request_ts,
        e.response_ts, e.opened_connection, e.closed_connection, e.response_end_ts,
        e.response_version, e.request_connection, e.response_connection, e.framing,
        e.interim_responses, e.request_end_ts, e.reason,
    )


def connection_values(c: ConnectionRecord) -> tuple[Any, ...]:
    """The connection as plain values (marshal and pickle write them fast): ``first``
    (the key a merge sorts by), then its fields in declaration order but ``first``,
    ``exchanges`` (a connection on disk or sent by a worker has them in an exchange
    store) and ``last_exchange``, whose values (or None) come after ``exchange_runs``;
    then the software fields.
    :func:`connection_from_values` rebuilds it; a test checks every field."""
    last = c.last_exchange
    return (
        c.first, c.id, c.capture, c.client, c.server, c.start, c.end, c.handshake_seen,
        c.syn, c.synack, c.fin_client, c.fin_server, c.rst_client, c.rst_server,
        c.closed_by, c.requests, c.responses, c.interim_responses, c.label, c.upgraded,
        c.missing_bytes, c.diagnosis, c.packets, c.client_bytes, c.server_bytes,
        c.teardown_ts, c.handshake_rtt, c.expired, c.held_until, c.anomalies,
        c.exchange_count, c.close_delimited, c.exchange_runs,
        None if last is None else exchange_values(last),
        c.user_agent, c.server_software, c.forwarded, c.via,
    )


def connection_from_values(t: tuple[Any, ...], exchanges: list[ExchangeRecord]) -> ConnectionRecord:
    """The record :func:`connection_values` gave ``t`` for, with ``exchanges``."""
    last = t[33]
    return ConnectionRecord(
        t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11], t[12], t[13],
        t[14], t[15], t[16], t[17], t[18], t[19], t[20], t[21], t[22], t[23], t[24], t[25],
        t[26], t[27], t[28], t[29], exchanges, t[30],
        None if last is None else ExchangeRecord(*last), t[31], t[0], t[32], t[34], t[35],
        t[36], t[37],
    )
