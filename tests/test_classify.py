"""The classifier on hand-built connection records: each rule, and the server summary."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from analyzer.core.classify import classify, diagnose
from analyzer.core.records import ConnectionRecord, ExchangeRecord, server_row

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
    server: str = SERVER,
    **extra: object,
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
    rec = ConnectionRecord(
        id=cid, capture="t.pcap", client=f"{client}:{40000 + n}", server=server,
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
    for k, v in extra.items():  # user_agent, server_software, forwarded, missing_bytes
        setattr(rec, k, v)
    return rec


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
    assert "keepalive_requests above 3" in s.hint


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


# ---- the software on the wire (issue 12)

GO = "Go-http-client/1.1"


def test_go_client_closing_after_each_response_is_unread_body() -> None:
    # The seed's bug, small body: Go's Transport closes (FIN) right after a response
    # whose body was closed before EOF.
    s = one([conn(i + 1, i * 0.1, user_agent=GO) for i in range(5)])
    assert (s.verdict, s.diagnosis) == ("not-reused", "unread-body")
    assert s.hint.startswith("Go net/http: read the body to EOF")
    assert "io.Copy(io.Discard, resp.Body)" in s.hint
    assert s.client_software == "Go net/http (Go-http-client/1.1)"
    # large body: the unread bytes make the client's kernel send RST — the same answer,
    # not 'reset' with SO_LINGER / nginx 444
    assert "(5 with FIN, 0 with RST" in s.evidence and "0.50 ms (median)" in s.evidence
    s = one([conn(i + 1, i * 0.1, closed_by="client-rst", user_agent=GO) for i in range(5)])
    assert (s.verdict, s.diagnosis) == ("not-reused", "unread-body")
    assert "444" not in s.hint
    assert "(0 with FIN, 5 with RST: response bytes left unread" in s.evidence


def test_client_close_is_unread_body_only_for_software_that_makes_it_likely() -> None:
    # requests.get() in a loop: a session per call, FIN after each response
    s = one([conn(i + 1, i * 0.1, user_agent="python-requests/2.31.0") for i in range(5)])
    assert s.diagnosis == "client-close"
    assert s.hint.startswith("Python requests: requests.get() opens a session per call")
    # curl run per request
    s = one([conn(i + 1, i * 0.1, user_agent="curl/7.88.1") for i in range(5)])
    assert s.diagnosis == "client-close" and "several URLs to one curl" in s.hint
    # an RST right after the response from a library: response bytes were left unread
    s = one([conn(i + 1, i * 0.1, closed_by="client-rst", user_agent="Java/17.0.15")
             for i in range(5)])
    assert s.diagnosis == "unread-body" and "InputStream" in s.hint
    # unknown software: a client RST is 'reset', and the hint blames the client's
    # close, not the server
    s = one([conn(i + 1, i * 0.1, closed_by="client-rst") for i in range(5)])
    assert s.diagnosis == "reset"
    assert s.hint.startswith("the client aborts connections with RST") and "444" not in s.hint
    s = one([conn(i + 1, i * 0.1, closed_by="server-rst") for i in range(5)])
    assert s.diagnosis == "reset" and "444" in s.hint
    # Go closing long after the response is its idle timeout, not an unread body
    s = one([conn(i + 1, i * 5.0, teardown=i * 5.0 + 3.0, user_agent=GO) for i in range(3)])
    assert s.diagnosis == "client-idle-timeout" and "IdleConnTimeout" in s.hint
    # 'Connection: close' explains a close better than the body
    s = one([conn(i + 1, i * 0.1, req_conn="close", user_agent=GO) for i in range(3)])
    assert s.diagnosis == "client-connection-close" and "DisableKeepAlives" in s.hint


def test_go_pile_up_names_both_causes() -> None:
    cs = [conn(i + 1, i * 0.05, closed_by="client-rst", teardown=1.0, user_agent=GO)
          for i in range(5)]
    s = one(cs)
    assert s.diagnosis == "leak"
    assert "read every body to EOF" in s.hint and "Transport built per request" in s.hint


def test_server_software_picks_the_server_fix() -> None:
    cs = [conn(i + 1, i * 3.0, closed_by="server", teardown=i * 3.0 + 0.002 + 2.0,
               server_software="gunicorn") for i in range(3)]
    s = one(cs)
    assert s.diagnosis == "idle-timeout"
    assert s.hint.startswith("gunicorn: --keep-alive")
    assert s.server_software == "gunicorn (gunicorn)"


def test_rare_reconnects_do_not_downgrade_the_verdict() -> None:
    # nginx's keepalive_requests 1000 under a load generator: each connection closed by
    # the server after exactly 1000 requests, the client reconnects
    cs = [conn(i + 1, i * 20.0, 1000, resp_conn="close", closed_by="server",
               server_software="nginx/1.22.1") for i in range(4)]
    cs.append(conn(5, 80.0, 300, closed_by="open", server_software="nginx/1.22.1"))
    s = one(cs)
    assert (s.verdict, s.diagnosis, s.request_limit) == ("reused", "reused", 1000)
    assert 0 < s.extra_handshakes < 0.01
    assert "not worth changing" in s.evidence and s.hint.startswith("nothing to fix")
    # the same limit at 3 requests costs a third of the handshakes: it is the diagnosis
    cs = [conn(i + 1, i * 1.0, 3, resp_conn="close", closed_by="server",
               server_software="nginx/1.22.1") for i in range(4)]
    s = one(cs)
    assert (s.verdict, s.diagnosis) == ("partly-reused", "request-limit")
    assert s.hint.startswith("nginx: keepalive_requests above 3")


def test_holes_make_the_diagnosis_uncertain() -> None:
    cs = [conn(i + 1, i * 0.1, closed_by="server", missing_bytes=1448 if i % 2 else 0)
          for i in range(6)]
    s = one(cs)
    assert s.diagnosis == "server-close" and s.uncertain
    assert s.hint.startswith("uncertain: 3 connections of 6 lost packets")
    assert "If confirmed: " in s.hint
    s = one([conn(i + 1, i * 0.1, closed_by="server") for i in range(6)])
    assert not s.uncertain and not s.hint.startswith("uncertain")


FRONT = "10.0.0.2:8080"
UPSTREAM = "10.0.0.2:9000"


def test_proxy_upstream_hop_gets_the_proxy_settings() -> None:
    # curl → nginx (reused) → upstream: nginx talks HTTP/1.0 + Connection: close and
    # passes curl's User-Agent on
    front = conn(1, 0.0, 10, closed_by="client", server=FRONT, user_agent="curl/7.88.1",
                 server_software="nginx/1.22.1", gap=0.1)
    hops = [conn(i + 2, 0.0005 + i * 0.1, version="1.0", req_conn="close", closed_by="server",
                 server=UPSTREAM, client="10.0.0.2", user_agent="curl/7.88.1")
            for i in range(10)]
    servers = {s.server: s for s in diagnose([front, *hops])}
    assert servers[FRONT].verdict == "reused"
    up = servers[UPSTREAM]
    assert (up.verdict, up.diagnosis) == ("not-reused", "client-connection-close")
    assert up.proxy == f"nginx at {FRONT}"
    assert up.hint.startswith("in the proxy's location: proxy_http_version 1.1;")
    assert 'proxy_set_header Connection ""' in up.hint and "keepalive 16" in up.hint
    assert "DisableKeepAlives" not in up.hint and "curl" not in up.hint.split(".")[0]
    # only the upstream hop in the capture: nginx's request shape still says so
    (up,) = diagnose(hops)
    assert up.proxy is not None and up.proxy.startswith("probably nginx")
    assert "proxy_http_version 1.1" in up.hint
    # forwarding fields say it whatever the proxy
    (up,) = diagnose([conn(i + 1, i * 0.1, req_conn="close", closed_by="server",
                           forwarded=True, server=UPSTREAM) for i in range(3)])
    assert up.proxy is not None and "forwarding fields" in up.proxy
    # curl itself sending Connection: close directly is curl's fix
    (s,) = diagnose([conn(i + 1, i * 0.1, req_conn="close", closed_by="server",
                          user_agent="curl/7.88.1") for i in range(3)])
    assert s.proxy is None and "drop -H 'Connection: close'" in s.hint


def test_a_rare_leak_still_counts() -> None:
    # one leaked connection among 400 requests: under 1% extra handshakes, but a leak
    # adds up (descriptors, memory): it is the diagnosis
    cs = [conn(1, 0.0, 300, closed_by="open", user_agent=GO, gap=0.001),
          conn(2, 0.5, closed_by="client-rst", teardown=9.0, user_agent=GO),
          conn(3, 0.6, closed_by="client-rst", teardown=9.0, user_agent=GO),
          conn(4, 0.7, 100, closed_by="open", user_agent=GO, gap=0.001)]
    s = one(cs)
    assert s.diagnosis == "leak" and s.verdict == "partly-reused"
    assert s.extra_handshakes < 0.01


def test_control_bytes_from_the_wire_never_reach_a_report() -> None:
    s = one([conn(i + 1, i * 0.1, user_agent="evil\x1b[2J\x07/1.0") for i in range(3)])
    assert s.client_software == "evil[2J/1.0"


def test_uncertain_counts_http_connections_only() -> None:
    cs = [conn(i + 1, i * 0.1, closed_by="server", missing_bytes=100 if i < 2 else 0)
          for i in range(4)]
    unused = conn(9, 0.9, 0, closed_by="client", missing_bytes=50)
    s = one([*cs, unused])
    assert s.hint.startswith("uncertain: 2 connections of 4 lost packets")


def test_the_second_pass_reads_no_record_and_the_evidence_names_the_same() -> None:
    """classify reads the records once; the ones the evidence names (each diagnosis'
    first connection, its first five ids) are fetched once more at the end, by index,
    with the same answer whether fetched by ``fetch`` or by reading ``passes()`` again."""
    cs = (
        [conn(i + 1, i * 0.05, closed_by="client-rst", teardown=1.0) for i in range(9)]  # leak
        + [conn(10 + i, 2.0 + i * 0.1, 3, resp_conn="close", closed_by="server")
           for i in range(3)]  # request-limit
        + [conn(13 + i, 3.0 + i * 0.1, client="10.0.0.9") for i in range(2)]  # client-close
        + [conn(15, 4.0, 5, closed_by="open")]  # reused
    )
    reads: list[int] = []

    def passes():  # type: ignore[no-untyped-def]
        reads.append(1)
        return enumerate(cs)

    asked: list[set[int]] = []

    def fetch(wanted: set[int]) -> dict[int, ConnectionRecord]:
        asked.append(set(wanted))
        return {i: cs[i] for i in wanted}

    by_fetch = classify(passes, len(cs), None, fetch)
    assert len(reads) == 1 and len(asked) == 1  # one read, one fetch
    assert max(asked[0]) < len(cs) and len(asked[0]) < len(cs)  # not every record
    again = classify(passes, len(cs), None)  # (fetched by reading passes() again)
    assert len(reads) == 3
    assert by_fetch.codes == again.codes
    assert [server_row(s) for s in by_fetch.servers] == [server_row(s) for s in again.servers]
    (s,) = by_fetch.servers
    assert s.diagnosis == "leak" and "C1" in s.evidence
    codes = {cs[i].id: by_fetch.codes[i] for i in range(len(cs))}
    from analyzer.core.classify import CODES

    assert CODES[codes["C1"]] == "leak" and CODES[codes["C10"]] == "request-limit"
    assert CODES[codes["C15"]] == "reused"
    assert server_row(one(list(cs))) == server_row(s)  # diagnose() (fetch from its list)


def test_rule_diagnosis_follows_the_rules_in_their_order() -> None:
    """_rule_diagnosis calls the rules directly: the same answer as CONNECTION_RULES
    checked in order, on every connection of the golden captures and hand-built ones."""
    import analyzer
    from analyzer.core.classify import CONNECTION_RULES, HTTP_LABELS, _rule_diagnosis
    from tests.conftest import CAPTURES

    def by_table(c: ConnectionRecord) -> str | None:
        if c.label not in HTTP_LABELS:
            return None
        for code, rule in CONNECTION_RULES:
            if rule(c):
                return code
        return "reused" if c.label == "persistent" or c.closed_by == "open" else None

    conns = [
        conn(1, 0.0, closed_by="client-rst"), conn(2, 0.0, req_conn="close"),
        conn(3, 0.0, version="1.0"), conn(4, 0.0, response_version="1.0"),
        conn(5, 0.0, resp_conn="close", closed_by="server"), conn(6, 0.0, framing="close"),
        conn(7, 0.0, closed_by="server", teardown=5.0), conn(8, 0.0, 2, closed_by="server"),
        conn(9, 0.0, 2, teardown=9.0), conn(10, 0.0), conn(11, 0.0, 3, closed_by="open"),
        conn(12, 0.0, 0), conn(13, 0.0, user_agent="Go-http-client/1.1"),
    ]
    for path in sorted(CAPTURES.glob("*.pcap*")):
        conns += list(analyzer.analyze(str(path)).connection_records)
    seen = set()
    for c in conns:
        assert _rule_diagnosis(c) == by_table(c), c.id
        seen.add(by_table(c))
    assert len(seen) >= 8  # (most rules answer somewhere)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1,
                max_size=40))
def test_median_is_statistics_median(values: list[float]) -> None:
    """The idle gaps' median (classify._median, statistics not imported at start) is
    statistics.median, to the bit: evidence and hints print it."""
    import statistics

    from analyzer.core.classify import _median

    assert _median(values) == statistics.median(values)
    assert repr(_median(values)) == repr(statistics.median(values))
