"""End to end on built conversations: packets → flows → exchanges → verdicts.

Each scenario is traffic a real user meets (a capture started inside a body, a browser's
parallel connections, a pool with a short idle timeout, …); the expected verdict follows
from the packets the builder writes, not from the analyzer's output.
"""

from __future__ import annotations

from typing import Any

from analyzer.core.classify import diagnose
from tests import builders as b

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CLOSE_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
T0 = 1_700_000_000.0


def req(path: str = "/") -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n"


def conv(i: int = 0, t: float = 0.0, **kw: Any) -> b.Conversation:
    return b.Conversation(client=("10.0.0.1", 40000 + i), t0=T0 + t, client_isn=100 + i, **kw)


def analyse(*convs: b.Conversation) -> tuple[list[Any], Any]:
    conns = b.run(b.merge(*(c.frames() for c in convs)))
    (server,) = diagnose(conns)
    return conns, server


def test_capture_starting_inside_a_response_body() -> None:
    c = conv().mid_stream().response(b"x" * 100)
    for i in range(3):
        c.exchange(req(f"/{i}"), OK)
    (conn,), s = analyse(c)
    assert (conn.requests, conn.responses, conn.label) == (3, 3, "persistent")
    assert conn.client == "10.0.0.1:40000" and not conn.handshake_seen
    assert conn.anomalies.get("started-mid-message") == 1
    assert s.verdict == "reused"


def test_mid_way_capture_with_the_server_on_the_higher_port() -> None:
    c = b.Conversation(client=("10.0.0.1", 40000), server=("10.0.0.2", 60000), t0=T0)
    c.mid_stream().response(b"y" * 50)
    for i in range(3):
        c.exchange(req(f"/{i}"), OK)
    (conn,), s = analyse(c)
    assert conn.client == "10.0.0.1:40000" and conn.server == "10.0.0.2:60000"
    assert (conn.requests, conn.responses, conn.label) == (3, 3, "persistent")


def test_parallel_connections_that_are_never_reopened_cost_nothing() -> None:
    # A browser opens six connections at once, one request each; the server idle-closes
    # them a minute later and nobody reconnects.
    cs = [conv(i, i * 1e-4).handshake().exchange(req(f"/r{i}"), OK).idle(60).close(1)
          for i in range(6)]
    _, s = analyse(*cs)
    # nothing was reused, and nothing was wasted: no client connected again
    assert (s.verdict, s.diagnosis, s.max_concurrent) == ("nothing-to-reuse", "idle-timeout", 6)
    assert s.extra_handshakes == 0.0
    assert s.hint.startswith("nothing to reuse")


def test_single_request_is_not_called_reused() -> None:
    # One request on one connection: nothing to reuse; the connection's own diagnosis
    _, s = analyse(conv().handshake().exchange(req(), OK).close(0))
    assert (s.verdict, s.diagnosis) == ("nothing-to-reuse", "client-close")
    assert "nothing to reuse" in s.hint and "one client across requests" in s.hint
    assert "nothing to fix" not in s.hint


def test_server_closing_at_once_is_not_an_idle_timeout() -> None:
    cs = [conv(i, float(i)).handshake().exchange(req(), OK).close(1) for i in range(3)]
    _, s = analyse(*cs)
    assert (s.verdict, s.diagnosis) == ("not-reused", "server-close")


def test_client_pool_idle_timeout() -> None:
    cs = [conv(i, i * 60.0).handshake().exchange(req(), OK).idle(30).close(0) for i in range(4)]
    _, s = analyse(*cs)
    assert (s.verdict, s.diagnosis) == ("not-reused", "client-idle-timeout")
    assert "IdleConnTimeout" in s.hint and "30.0s" in s.evidence


def test_http10_response_without_length_blames_http10_not_framing() -> None:
    cs = [conv(i, float(i)).handshake().exchange(req(), b"HTTP/1.0 200 OK\r\n\r\nhello").close(1)
          for i in range(3)]
    _, s = analyse(*cs)
    assert s.diagnosis == "http10-server"


def test_request_limit_with_the_first_connection_caught_mid_way() -> None:
    first = conv(0).mid_stream().exchange(req(), OK).exchange(req(), CLOSE_OK).close(1)
    rest = []
    for i in range(1, 4):
        c = conv(i, float(i)).handshake().exchange(req(), OK).exchange(req(), OK)
        rest.append(c.exchange(req(), CLOSE_OK).close(1))
    conns, s = analyse(first, *rest)
    assert (s.diagnosis, s.request_limit) == ("request-limit", 3)
    assert all(c.diagnosis == "request-limit" for c in conns)
    assert s.diagnoses == {"request-limit": 4}


def test_leaked_connections_still_open_at_the_end_count_as_concurrent() -> None:
    cs = [conv(i, i * 0.05).handshake().exchange(req(), OK) for i in range(4)]
    conns, s = analyse(*cs)
    assert (s.verdict, s.diagnosis, s.max_concurrent) == ("not-reused", "leak", 4)
    assert all(c.closed_by == "open" for c in conns)


def test_one_health_check_does_not_flip_a_healthy_server() -> None:
    busy = [conv(k, k * 0.01).handshake() for k in range(2)]
    for c in busy:
        for _ in range(50):
            c.exchange(req(), OK)
    health = b.Conversation(client=("10.0.0.9", 40000), t0=T0 + 5, client_isn=9)
    health.handshake().exchange(req("/health"), OK).close(0)
    _, s = analyse(*busy, health)
    assert (s.verdict, s.diagnosis, s.requests) == ("reused", "reused", 101)


def test_spooled_exchanges_give_the_same_answer_with_flat_memory() -> None:
    from analyzer.core.exchanges import KEEP
    from analyzer.core.flows import FlowTable
    from analyzer.output.jsonout import connection_dict, exchange_dict

    c = conv().handshake()
    for i in range(300):
        c.exchange(req(f"/{i}"), OK)
    frames = c.close(0).frames()
    plain = b.run(frames)
    spooled: list[Any] = []
    table = FlowTable("t", spool=spooled.append)
    retained = []
    for i in range(0, len(frames), 50):
        buf, recs = b.records(frames[i : i + 50])
        table.feed(buf, recs)
        retained += [len(f.conv.exchanges) for f in table.open.values() if f.conv]
    conns = table.finish()
    assert max(retained) <= KEEP + 2  # memory per connection stays flat
    assert conns[0].exchanges == [] and conns[0].exchange_count == 300
    assert [exchange_dict(e) for e in spooled] == [exchange_dict(e) for e in plain[0].exchanges]
    (s1,), (s2,) = diagnose(plain), diagnose(conns)
    assert s1 == s2
    assert connection_dict(plain[0]) == connection_dict(conns[0])


def test_a_verdict_on_a_capture_with_holes_says_so() -> None:
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n" + b"z" * 3000
    c = conv().handshake()
    for i in range(3):
        c.request(req(f"/{i}")).response(big, sizes=[1448, 1448])
    c.close(0)
    c.drop(c.data_indexes(1)[1])  # the middle of the first response never reached the capture
    (conn,), s = analyse(c)
    assert conn.missing_bytes == 1448 and conn.requests == 3
    assert "caution:" in s.evidence and "were not in the capture" in s.evidence
