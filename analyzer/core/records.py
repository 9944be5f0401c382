"""The records the core produces: one per capture, connection, exchange and server.

Their fields are declared once, in :mod:`analyzer.core.schema` (names, types, defaults,
which are DESIGN.md's JSON contract, which are additions, which are never output). The
parts of this module that spell every field out — the declarations, the written-out
``__init__``, the JSON rows, the plain values — are generated from it between marker
lines by :mod:`analyzer.core._schema_gen`: edit the schema, then run
``python -m analyzer.core._schema_gen`` (tests/test_schema.py fails while they are stale).

They are written out rather than built at import because this module is compiled with
mypyc: a compiled dataclass-generated ``__init__`` runs as interpreted code for each of a
million exchanges, and a dict literal built natively encodes ~2x faster than a record read
through ``attrgetter``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


# init=False: the __init__ is written out (module docstring). Every field has a default,
# so a compiled record can be rebuilt empty and filled in again: pickle needs that.
@dataclass(slots=True, init=False)
class ExchangeRecord:
    """One HTTP request and its final response. Built while the connection is parsed
    (:mod:`analyzer.core.exchanges`); ``connection``, ``opened_connection`` and
    ``closed_connection`` are filled in when the connection is finished."""

    # ---- ExchangeRecord: generated from core/schema.py (python -m analyzer.core._schema_gen)
    # contract (DESIGN.md's JSON, never renamed)
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
    # additions (output)
    response_end_ts: float | None = None
    response_version: str | None = None
    # Connection header tokens, lower-case
    request_connection: str = ""
    response_connection: str = ""
    # length | chunked | close | none | tunnel
    framing: str | None = None
    interim_responses: int = 0
    request_end_ts: float | None = None
    reason: str = ""
    # HTTP/2: the stream id the exchange was carried on
    stream: int | None = None

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
        stream: int | None = None,
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
        self.stream = stream
    # ---- end of generated code


@dataclass(slots=True, init=False)  # __init__ written out, as ExchangeRecord's
class ConnectionRecord:
    """One TCP connection, from its first packet to its close (:mod:`analyzer.core.flows`
    builds it when the connection is finished)."""

    # ---- ConnectionRecord: generated from core/schema.py (python -m analyzer.core._schema_gen)
    # contract (DESIGN.md's JSON, never renamed)
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
    # additions (output)
    packets: int = 0
    client_bytes: int = 0
    server_bytes: int = 0
    teardown_ts: float | None = None
    handshake_rtt: float | None = None
    expired: bool = False
    # internal: never output
    # end, or the capture's end for a connection still open then
    held_until: float = 0.0
    # additions (output)
    anomalies: dict[str, int] = field(default_factory=dict)
    # internal: never output
    # the exchanges: all of them, unless they went to an exchange store (a large analysis,
    # long live captures), in which case only the count, the last one and what the rules
    # need stay here
    exchanges: list[ExchangeRecord] = field(default_factory=list)
    exchange_count: int = 0
    # a response (not HTTP/0.9) ended with the connection
    close_delimited: bool = False
    # the ordinal of the connection's first packet among all the records read (analyze()
    # numbers the connections C1, C2, … by it)
    first: int = 0
    # where its exchanges are in the analysis' exchange store (start, end offsets of each
    # run of lines; analyzer.store)
    exchange_runs: list[int] | None = None
    last_exchange: ExchangeRecord | None = None
    # additions (output)
    # the software on each side as the first request and response name it (User-Agent,
    # Server)
    user_agent: str | None = None
    server_software: str | None = None
    # requests carried forwarding fields (Via, X-Forwarded-For, X-Real-IP, Forwarded): the
    # client is a proxy
    forwarded: bool = False
    # the response's Via
    via: str | None = None
    # chosen from the first payload bytes: http/1.x, h2c, tls, tls/http1, tls/h2, unknown;
    # None without payload
    protocol: str | None = None
    # TLS not decrypted: requests is an estimate from request/response turns
    requests_estimated: bool = False
    # TLS facts (version, sni, alpn_offered, alpn, handshake, client_hellos, records_client,
    # records_server, decrypted, why_not_decrypted, …)
    tls: dict[str, object] | None = None
    # what the connection carried after 101 Switching Protocols or a 2xx to CONNECT: h2c,
    # websocket, …, or connect/tls, connect/http1 (the tunnel's own protocol, whose requests
    # count for the connection)
    tunnel: str | None = None
    # HTTP/2 facts (streams, max_concurrent_streams, rst_streams, goaway_by,
    # goaway_last_stream, goaway_error, …)
    http2: dict[str, object] | None = None
    # internal: never output
    # TLS not decrypted: the end of the last request/response turn (what the last response's
    # end is to the rules)
    response_done_ts: float | None = None

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
        close_delimited: bool = False,
        first: int = 0,
        exchange_runs: list[int] | None = None,
        last_exchange: ExchangeRecord | None = None,
        user_agent: str | None = None,
        server_software: str | None = None,
        forwarded: bool = False,
        via: str | None = None,
        protocol: str | None = None,
        requests_estimated: bool = False,
        tls: dict[str, object] | None = None,
        tunnel: str | None = None,
        http2: dict[str, object] | None = None,
        response_done_ts: float | None = None,
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
        self.close_delimited = close_delimited
        self.first = first
        self.exchange_runs = exchange_runs
        self.last_exchange = last_exchange
        self.user_agent = user_agent
        self.server_software = server_software
        self.forwarded = forwarded
        self.via = via
        self.protocol = protocol
        self.requests_estimated = requests_estimated
        self.tls = tls
        self.tunnel = tunnel
        self.http2 = http2
        self.response_done_ts = response_done_ts
    # ---- end of generated code

    @property
    def client_ip(self) -> str:
        client = self.client
        colon = client.rfind(":")  # (no list and second string, as rsplit makes)
        return client[:colon] if colon >= 0 else client


@dataclass(slots=True)
class ServerRecord:
    """One server endpoint, all its clients together: verdict, diagnosis, evidence, hint
    (:mod:`analyzer.core.classify`)."""

    # ---- ServerRecord: generated from core/schema.py (python -m analyzer.core._schema_gen)
    # contract (DESIGN.md's JSON, never renamed)
    server: str
    clients: int
    connections: int
    requests: int
    handshakes: int
    handshakes_per_request: float
    max_concurrent: int
    verdict: str
    # None for no-http, and for nothing-to-reuse when the connections have none
    diagnosis: str | None
    evidence: str
    hint: str
    # additions (output)
    persistent: int = 0
    per_request: int = 0
    request_limit: int | None = None
    idle_timeout: float | None = None
    diagnoses: dict[str, int] = field(default_factory=dict)
    # the software on each side (hints.identify's names: "Go net/http", "nginx", …; the most
    # frequent)
    client_software: str | None = None
    server_software: str | None = None
    # the reverse proxy the requests came through, if one was recognised
    proxy: str | None = None
    # the share of extra handshakes the diagnosis costs (handshakes a client paid again
    # after a connection had done its work, per request)
    extra_handshakes: float = 0.0
    # holes in the capture (lost packets) could have changed the diagnosis: the hint is then
    # a lead to check, not a fact
    uncertain: bool = False
    # with several captures analysed apart (separate experiments): the first file of the
    # group this record sums up; None with one group
    capture: str | None = None
    # TLS connections: handshakes that were full (None without TLS)
    tls_handshakes_full: int | None = None
    tls_handshakes_resumed: int | None = None
    # ---- end of generated code


@dataclass(slots=True)
class CaptureRecord:
    """One input file (or live interface): what was read from it."""

    # ---- CaptureRecord: generated from core/schema.py (python -m analyzer.core._schema_gen)
    # contract (DESIGN.md's JSON, never renamed)
    path: str
    format: str
    packets: int = 0
    tcp_packets: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)
    # additions (output)
    anomalies: dict[str, int] = field(default_factory=dict)
    missing_bytes: int = 0
    # live capture: packets the kernel dropped
    dropped: int = 0
    # files of one group are one capture (stitched); groups are apart
    group: int = 0
    # ---- end of generated code


# ---- functions: generated from core/schema.py (python -m analyzer.core._schema_gen)
def capture_row(capture: CaptureRecord) -> dict[str, Any]:
    """The capture as its JSON object: the keys of schema.CAPTURE.json, in order."""
    return {
        "path": capture.path,
        "format": capture.format,
        "packets": capture.packets,
        "tcp_packets": capture.tcp_packets,
        "skipped": capture.skipped,
        "truncated": capture.truncated,
        "warnings": capture.warnings,
        "anomalies": capture.anomalies,
        "missing_bytes": capture.missing_bytes,
        "dropped": capture.dropped,
        "group": capture.group,
    }


def connection_row(connection: ConnectionRecord) -> dict[str, Any]:
    """The connection as its JSON object: the keys of schema.CONNECTION.json, in order."""
    return {
        "id": connection.id,
        "capture": connection.capture,
        "client": connection.client,
        "server": connection.server,
        "start": connection.start,
        "end": connection.end,
        "handshake_seen": connection.handshake_seen,
        "syn": connection.syn,
        "synack": connection.synack,
        "fin_client": connection.fin_client,
        "fin_server": connection.fin_server,
        "rst_client": connection.rst_client,
        "rst_server": connection.rst_server,
        "closed_by": connection.closed_by,
        "requests": connection.requests,
        "responses": connection.responses,
        "interim_responses": connection.interim_responses,
        "label": connection.label,
        "upgraded": connection.upgraded,
        "missing_bytes": connection.missing_bytes,
        "diagnosis": connection.diagnosis,
        "packets": connection.packets,
        "client_bytes": connection.client_bytes,
        "server_bytes": connection.server_bytes,
        "teardown_ts": connection.teardown_ts,
        "handshake_rtt": connection.handshake_rtt,
        "expired": connection.expired,
        "anomalies": connection.anomalies,
        "user_agent": connection.user_agent,
        "server_software": connection.server_software,
        "forwarded": connection.forwarded,
        "via": connection.via,
        "protocol": connection.protocol,
        "requests_estimated": connection.requests_estimated,
        "tls": connection.tls,
        "tunnel": connection.tunnel,
        "http2": connection.http2,
    }


def exchange_row(exchange: ExchangeRecord) -> dict[str, Any]:
    """The exchange as its JSON object: the keys of schema.EXCHANGE.json, in order."""
    return {
        "connection": exchange.connection,
        "index": exchange.index,
        "method": exchange.method,
        "target": exchange.target,
        "version": exchange.version,
        "status": exchange.status,
        "request_ts": exchange.request_ts,
        "response_ts": exchange.response_ts,
        "opened_connection": exchange.opened_connection,
        "closed_connection": exchange.closed_connection,
        "response_end_ts": exchange.response_end_ts,
        "response_version": exchange.response_version,
        "request_connection": exchange.request_connection,
        "response_connection": exchange.response_connection,
        "framing": exchange.framing,
        "interim_responses": exchange.interim_responses,
        "request_end_ts": exchange.request_end_ts,
        "reason": exchange.reason,
        "stream": exchange.stream,
    }


def server_row(server: ServerRecord) -> dict[str, Any]:
    """The server as its JSON object: the keys of schema.SERVER.json, in order."""
    return {
        "server": server.server,
        "clients": server.clients,
        "connections": server.connections,
        "requests": server.requests,
        "handshakes": server.handshakes,
        "handshakes_per_request": server.handshakes_per_request,
        "max_concurrent": server.max_concurrent,
        "verdict": server.verdict,
        "diagnosis": server.diagnosis,
        "evidence": server.evidence,
        "hint": server.hint,
        "persistent": server.persistent,
        "per_request": server.per_request,
        "request_limit": server.request_limit,
        "idle_timeout": server.idle_timeout,
        "diagnoses": server.diagnoses,
        "client_software": server.client_software,
        "server_software": server.server_software,
        "proxy": server.proxy,
        "extra_handshakes": server.extra_handshakes,
        "uncertain": server.uncertain,
        "capture": server.capture,
        "tls_handshakes_full": server.tls_handshakes_full,
        "tls_handshakes_resumed": server.tls_handshakes_resumed,
    }


def connection_fill(row: dict[str, Any], connection: ConnectionRecord) -> dict[str, Any]:
    """``row`` made the connection's JSON object and returned: what :func:`connection_row`
    gives, in an empty dict (keys go in in order) or in one it filled before (values
    replaced, no dict built: for a row encoded at once and dropped)."""
    row["id"] = connection.id
    row["capture"] = connection.capture
    row["client"] = connection.client
    row["server"] = connection.server
    row["start"] = connection.start
    row["end"] = connection.end
    row["handshake_seen"] = connection.handshake_seen
    row["syn"] = connection.syn
    row["synack"] = connection.synack
    row["fin_client"] = connection.fin_client
    row["fin_server"] = connection.fin_server
    row["rst_client"] = connection.rst_client
    row["rst_server"] = connection.rst_server
    row["closed_by"] = connection.closed_by
    row["requests"] = connection.requests
    row["responses"] = connection.responses
    row["interim_responses"] = connection.interim_responses
    row["label"] = connection.label
    row["upgraded"] = connection.upgraded
    row["missing_bytes"] = connection.missing_bytes
    row["diagnosis"] = connection.diagnosis
    row["packets"] = connection.packets
    row["client_bytes"] = connection.client_bytes
    row["server_bytes"] = connection.server_bytes
    row["teardown_ts"] = connection.teardown_ts
    row["handshake_rtt"] = connection.handshake_rtt
    row["expired"] = connection.expired
    row["anomalies"] = connection.anomalies
    row["user_agent"] = connection.user_agent
    row["server_software"] = connection.server_software
    row["forwarded"] = connection.forwarded
    row["via"] = connection.via
    row["protocol"] = connection.protocol
    row["requests_estimated"] = connection.requests_estimated
    row["tls"] = connection.tls
    row["tunnel"] = connection.tunnel
    row["http2"] = connection.http2
    return row


def connection_values(connection: ConnectionRecord) -> tuple[Any, ...]:
    """The connection as plain values (marshal and pickle write them fast), as
    schema.CONNECTION.values lists them; :func:`connection_from_values` rebuilds it."""
    last_exchange = connection.last_exchange
    return (
        connection.first,
        connection.id,
        connection.capture,
        connection.client,
        connection.server,
        connection.start,
        connection.end,
        connection.handshake_seen,
        connection.syn,
        connection.synack,
        connection.fin_client,
        connection.fin_server,
        connection.rst_client,
        connection.rst_server,
        connection.closed_by,
        connection.requests,
        connection.responses,
        connection.interim_responses,
        connection.label,
        connection.upgraded,
        connection.missing_bytes,
        connection.diagnosis,
        connection.packets,
        connection.client_bytes,
        connection.server_bytes,
        connection.teardown_ts,
        connection.handshake_rtt,
        connection.expired,
        connection.held_until,
        connection.anomalies,
        connection.exchange_count,
        connection.close_delimited,
        connection.exchange_runs,
        None if last_exchange is None else exchange_values(last_exchange),
        connection.user_agent,
        connection.server_software,
        connection.forwarded,
        connection.via,
        connection.protocol,
        connection.requests_estimated,
        connection.tls,
        connection.tunnel,
        connection.http2,
        connection.response_done_ts,
    )


def connection_from_values(
    values: tuple[Any, ...], exchanges: list[ExchangeRecord]
) -> ConnectionRecord:
    """The connection :func:`connection_values` gave ``values`` for, with ``exchanges``."""
    last_exchange = values[33]
    return ConnectionRecord(
        values[1],  # id
        values[2],  # capture
        values[3],  # client
        values[4],  # server
        values[5],  # start
        values[6],  # end
        values[7],  # handshake_seen
        values[8],  # syn
        values[9],  # synack
        values[10],  # fin_client
        values[11],  # fin_server
        values[12],  # rst_client
        values[13],  # rst_server
        values[14],  # closed_by
        values[15],  # requests
        values[16],  # responses
        values[17],  # interim_responses
        values[18],  # label
        values[19],  # upgraded
        values[20],  # missing_bytes
        values[21],  # diagnosis
        values[22],  # packets
        values[23],  # client_bytes
        values[24],  # server_bytes
        values[25],  # teardown_ts
        values[26],  # handshake_rtt
        values[27],  # expired
        values[28],  # held_until
        values[29],  # anomalies
        exchanges,
        values[30],  # exchange_count
        values[31],  # close_delimited
        values[0],  # first
        values[32],  # exchange_runs
        None if last_exchange is None else ExchangeRecord(
            last_exchange[0],  # connection
            last_exchange[1],  # index
            last_exchange[2],  # method
            last_exchange[3],  # target
            last_exchange[4],  # version
            last_exchange[5],  # status
            last_exchange[6],  # request_ts
            last_exchange[7],  # response_ts
            last_exchange[8],  # opened_connection
            last_exchange[9],  # closed_connection
            last_exchange[10],  # response_end_ts
            last_exchange[11],  # response_version
            last_exchange[12],  # request_connection
            last_exchange[13],  # response_connection
            last_exchange[14],  # framing
            last_exchange[15],  # interim_responses
            last_exchange[16],  # request_end_ts
            last_exchange[17],  # reason
            last_exchange[18],  # stream
        ),
        values[34],  # user_agent
        values[35],  # server_software
        values[36],  # forwarded
        values[37],  # via
        values[38],  # protocol
        values[39],  # requests_estimated
        values[40],  # tls
        values[41],  # tunnel
        values[42],  # http2
        values[43],  # response_done_ts
    )


def connection_fill_values(row: dict[str, Any], values: tuple[Any, ...]) -> dict[str, Any]:
    """``row`` made the JSON object of the connection :func:`connection_values` gave
    ``values`` for, as :func:`connection_fill` makes it, without rebuilding the connection
    (a store's read back for the report)."""
    row["id"] = values[1]
    row["capture"] = values[2]
    row["client"] = values[3]
    row["server"] = values[4]
    row["start"] = values[5]
    row["end"] = values[6]
    row["handshake_seen"] = values[7]
    row["syn"] = values[8]
    row["synack"] = values[9]
    row["fin_client"] = values[10]
    row["fin_server"] = values[11]
    row["rst_client"] = values[12]
    row["rst_server"] = values[13]
    row["closed_by"] = values[14]
    row["requests"] = values[15]
    row["responses"] = values[16]
    row["interim_responses"] = values[17]
    row["label"] = values[18]
    row["upgraded"] = values[19]
    row["missing_bytes"] = values[20]
    row["diagnosis"] = values[21]
    row["packets"] = values[22]
    row["client_bytes"] = values[23]
    row["server_bytes"] = values[24]
    row["teardown_ts"] = values[25]
    row["handshake_rtt"] = values[26]
    row["expired"] = values[27]
    row["anomalies"] = values[29]
    row["user_agent"] = values[34]
    row["server_software"] = values[35]
    row["forwarded"] = values[36]
    row["via"] = values[37]
    row["protocol"] = values[38]
    row["requests_estimated"] = values[39]
    row["tls"] = values[40]
    row["tunnel"] = values[41]
    row["http2"] = values[42]
    return row


def exchange_fill(row: dict[str, Any], exchange: ExchangeRecord) -> dict[str, Any]:
    """``row`` made the exchange's JSON object and returned: what :func:`exchange_row`
    gives, in an empty dict (keys go in in order) or in one it filled before (values
    replaced, no dict built: for a row encoded at once and dropped)."""
    row["connection"] = exchange.connection
    row["index"] = exchange.index
    row["method"] = exchange.method
    row["target"] = exchange.target
    row["version"] = exchange.version
    row["status"] = exchange.status
    row["request_ts"] = exchange.request_ts
    row["response_ts"] = exchange.response_ts
    row["opened_connection"] = exchange.opened_connection
    row["closed_connection"] = exchange.closed_connection
    row["response_end_ts"] = exchange.response_end_ts
    row["response_version"] = exchange.response_version
    row["request_connection"] = exchange.request_connection
    row["response_connection"] = exchange.response_connection
    row["framing"] = exchange.framing
    row["interim_responses"] = exchange.interim_responses
    row["request_end_ts"] = exchange.request_end_ts
    row["reason"] = exchange.reason
    row["stream"] = exchange.stream
    return row


def exchange_values(exchange: ExchangeRecord) -> tuple[Any, ...]:
    """The exchange as plain values (marshal and pickle write them fast): its fields in
    declaration order; ``ExchangeRecord(*values)`` rebuilds it."""
    return (
        exchange.connection,
        exchange.index,
        exchange.method,
        exchange.target,
        exchange.version,
        exchange.status,
        exchange.request_ts,
        exchange.response_ts,
        exchange.opened_connection,
        exchange.closed_connection,
        exchange.response_end_ts,
        exchange.response_version,
        exchange.request_connection,
        exchange.response_connection,
        exchange.framing,
        exchange.interim_responses,
        exchange.request_end_ts,
        exchange.reason,
        exchange.stream,
    )
# ---- end of generated code
