"""The classifier on hand-built connection records: each rule, and the server summary."""

from __future__ import annotations

from analyzer.core.classify import diagnose
from analyzer.core.records import ConnectionRecord, ExchangeRecord

SERVER = "10.0.0.2:80"


def conn(
    n: int,
    start: float,
    requests: int = 1,
    *,
    closed_by: str = "client",
    teardown: float | None = None,
    gap: float = 0.01,
    version: str = "1.1",
    response_version: str = "1.1",
    req_conn: str = "",
    resp_conn: str = "",
    framing: str = "length",
    client: str = "10.0.0.1",
    end: float | None = None,
) -> ConnectionRecord:
    """A connection whose i-th exchange runs at start + i*gap, answered at once."""
    cid = f"C{n}"
    exchanges = []
    for i in range(requests):
        t = start + 0.001 + i * gap
        exchanges.append(
            ExchangeRecord(
                connection=cid, index=i + 1, method="GET", target="/", version=version,
                status=200, request_ts=t, response_ts=t + 0.001, opened_connection=i == 0,
                closed_connection=False, response_end_ts=t + 0.001,
                response_version=response_version, request_connection=req_conn,
                response_connection=resp_conn, framing=framing,
            )
        )
    last = exchanges[-1].response_end_ts if exchanges else start
    assert last is not None
    if teardown is None and closed_by != "open":
        teardown = last + 0.0005
    if exchanges and closed_by != "open":
        exchanges[-1].closed_connection = True
    return ConnectionRecord(
        id=cid, capture="t.pcap", client=f"{client}:{40000 + n}", server=SERVER,
        start=start, end=end if end is not None else (teardown or last) + 0.001,
        handshake_seen=True, syn=1, synack=1, fin_client=int(closed_by == "client"),
        fin_server=int(closed_by == "server"), rst_client=int(closed_by == "client-rst"),
        rst_server=int(closed_by == "server-rst"), closed_by=closed_by,
        requests=requests, responses=requests, interim_responses=0,
        label="persistent" if requests >= 2 else ("per-request" if requests else "unused"),
        upgraded=False, missing_bytes=0, teardown_ts=teardown if closed_by != "open" else None,
        exchanges=exchanges, exchange_count=len(exchanges),
        last_exchange=exchanges[-1] if exchanges else None,
        close_delimited=framing == "close" and bool(exchanges),
    )


def one(conns: list[ConnectionRecord]):  # type: ignore[no-untyped-def]
    (s,) = diagnose(conns)
    return s


def test_reused() -> None:
    s = one([conn(1, 0.0, requests=10)])
    assert (s.verdict, s.diagnosis) == ("reused", "reused")
    assert s.handshakes_per_request == 0.1
    assert "10 requests" in s.evidence


def test_leak_piles_up_idle_connections() -> None:
    # Go: body never read; every connection stays open until the process exits.
    cs = [conn(i + 1, i * 0.05, closed_by="client-rst", teardown=1.0) for i in range(5)]
    s = one(cs)
    assert (s.verdict, s.diagnosis) == ("not-reused", "leak")
    assert s.max_concurrent == 5
    assert "io.Copy(io.Discard, resp.Body)" in s.hint
    assert all(c.diagnosis == "leak" for c in cs[:-1])


def test_late_but_steady_close_is_not_a_leak() -> None:
    # requests.get() in a loop: connection N closes right after N+1's response.
    cs = [conn(i + 1, i * 0.05, teardown=i * 0.05 + 0.053) for i in range(5)]
    s = one(cs)
    assert s.diagnosis == "client-close"


def test_client_close() -> None:
    s = one([conn(i + 1, i * 0.1) for i in range(4)])
    assert (s.verdict, s.diagnosis) == ("not-reused", "client-close")
    assert s.max_concurrent == 1


def test_connection_close_headers() -> None:
    s = one([conn(i + 1, i * 0.1, req_conn="close", closed_by="server") for i in range(3)])
    assert s.diagnosis == "client-connection-close"
    s = one([conn(i + 1, i * 0.1, resp_conn="close", closed_by="server") for i in range(3)])
    assert s.diagnosis == "server-connection-close"
    # the client may see the server's 'Connection: close' and close first itself
    s = one([conn(i + 1, i * 0.1, resp_conn="close", closed_by="client") for i in range(3)])
    assert s.diagnosis == "server-connection-close"


def test_http10() -> None:
    s = one([conn(i + 1, i * 0.1, version="1.0", closed_by="server") for i in range(3)])
    assert s.diagnosis == "http10-client"
    s = one([conn(1, 0.0, version="1.0", req_conn="keep-alive", response_version="1.0",
                  resp_conn="keep-alive", requests=3)])
    assert s.diagnosis == "reused"
    s = one([conn(i + 1, i * 0.1, response_version="1.0", closed_by="server") for i in range(3)])
    assert s.diagnosis == "http10-server"


def test_request_limit_reports_n() -> None:
    cs = [conn(1, 0.0, 3, resp_conn="close", closed_by="server"),
          conn(2, 0.1, 3, resp_conn="close", closed_by="server"),
          conn(3, 0.2, 1, closed_by="open")]
    s = one(cs)
    assert (s.verdict, s.diagnosis, s.request_limit) == ("partly-reused", "request-limit", 3)
    assert "keepalive_requests 3" in s.hint


def test_idle_timeout_reports_the_timeout() -> None:
    cs = [conn(i + 1, i * 3.0, closed_by="server", teardown=i * 3.0 + 0.002 + 1.5)
          for i in range(3)]
    s = one(cs)
    assert s.diagnosis == "idle-timeout"
    assert s.idle_timeout is not None and abs(s.idle_timeout - 1.5) < 0.01


def test_idle_close_of_a_persistent_connection_at_the_end_costs_nothing() -> None:
    s = one([conn(1, 0.0, 5, closed_by="server", teardown=100.0)])
    assert (s.verdict, s.diagnosis) == ("reused", "reused")


def test_close_delimited_and_reset() -> None:
    s = one([conn(i + 1, i * 0.1, framing="close", closed_by="server") for i in range(3)])
    assert s.diagnosis == "close-delimited"
    s = one([conn(i + 1, i * 0.1, closed_by="client-rst") for i in range(3)])
    assert s.diagnosis == "reset"


def test_no_http() -> None:
    s = one([conn(1, 0.0, 0, closed_by="client")])
    assert s.verdict == "no-http" and s.diagnosis is None


def test_servers_are_separate_and_clients_counted() -> None:
    a = [conn(1, 0.0, 4, client="10.0.0.1"), conn(2, 0.0, 4, client="10.0.0.9")]
    b = conn(3, 0.0, 1)
    b.server = "10.0.0.3:8080"
    servers = diagnose([*a, b])
    assert [(s.server, s.clients, s.requests) for s in servers] == [
        (SERVER, 2, 8), ("10.0.0.3:8080", 1, 1),
    ]


def test_connection_header_tokens() -> None:
    from analyzer.core.classify import _has

    assert _has("close", "close") and _has("keep-alive, close", "close")
    assert _has(" close ,upgrade", "close") and _has("x,close", "close")
    assert not _has("", "close") and not _has("closed", "close")
    assert not _has("keep-alive", "close") and not _has("close-ish, x", "close")
