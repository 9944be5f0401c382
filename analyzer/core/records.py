"""The records the core produces: one per connection, one per exchange, one per server.

Field names are those of the JSON contract (DESIGN.md, schema ``keepalive-analyzer/1``);
fields past the contract are additions, never renames.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ExchangeRecord:
    """One HTTP request and its final response. Built while the connection is parsed
    (:mod:`analyzer.core.exchanges`); ``connection``, ``opened_connection`` and
    ``closed_connection`` are filled in when the connection is finished."""

    connection: str
    index: int
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


@dataclass(slots=True)
class ConnectionRecord:
    id: str
    capture: str
    client: str
    server: str
    start: float
    end: float
    handshake_seen: bool
    syn: int
    synack: int
    fin_client: int
    fin_server: int
    rst_client: int
    rst_server: int
    closed_by: str
    requests: int
    responses: int
    interim_responses: int
    label: str
    upgraded: bool
    missing_bytes: int
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
