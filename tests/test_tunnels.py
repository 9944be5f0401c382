"""Tunnels of HTTP: the bytes after a 2xx to CONNECT go through protocol recognition as a
new connection's do (HTTP/1 inside counts for the connection, TLS inside is TLS), an
``Upgrade: h2c`` 101 hands the connection to the HTTP/2 reader, and other upgrades
(websocket) stay tunnels whose bytes are not read; ``tunnel`` names what it became."""

from __future__ import annotations

from typing import Any

import pytest

from analyzer import analyze_bytes
from tests import builders as b
from tests import tlsgen

T0 = 1_700_000_000.0
CONNECT = b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n"
ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"
GET = b"GET http://example.test/x HTTP/1.1\r\nHost: example.test\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: inner\r\n\r\nok"


def _proxy(*steps: tuple[int, bytes]) -> b.Conversation:
    c = b.Conversation(("10.0.0.1", 40000), ("10.0.0.2", 3128), t0=T0).handshake()
    c.request(CONNECT).response(ESTABLISHED)
    for side, data in steps:
        c.send(side, data)
    return c.close(0)


def _one(c: b.Conversation, keylog: bytes | None = None) -> dict[str, Any]:
    d = analyze_bytes(b.pcap(c.frames(), b.LT_ETHERNET), tls_keylog=keylog).to_dict()
    (conn,) = d["connections"]
    conn["exchanges"] = [e for e in d["exchanges"] if e["connection"] == conn["id"]]
    return conn  # type: ignore[no-any-return]


def test_http1_inside_connect_counts_for_the_connection() -> None:
    c = _one(_proxy((0, GET), (1, OK), (0, GET), (1, OK)))
    assert c["tunnel"] == "connect/http1" and c["upgraded"]
    assert (c["requests"], c["responses"], c["label"]) == (3, 3, "persistent")
    assert [e["method"] for e in c["exchanges"]] == ["CONNECT", "GET", "GET"]
    assert [e["index"] for e in c["exchanges"]] == [1, 2, 3]
    assert c["protocol"] == "http/1.x" and c["anomalies"] == {}


@pytest.mark.parametrize("keys", [False, True])
def test_tls_inside_connect_is_tls(keys: bool) -> None:
    conv = tlsgen.tls_conversation("1.3", requests=[GET, GET], responses=[OK, OK])
    c = _one(_proxy(*conv.segments), conv.keylog if keys else None)
    assert c["tunnel"] == "connect/tls" and c["protocol"] == "http/1.x"
    assert c["tls"]["version"] == "TLS 1.3" and c["tls"]["handshake"] == "full"
    assert c["tls"]["sni"] == "example.test"
    assert c["requests"] == 3  # CONNECT, then the two inside
    assert c["tls"]["decrypted"] == keys and c["requests_estimated"] == (not keys)
    methods = [e["method"] for e in c["exchanges"]]
    assert methods == (["CONNECT", "GET", "GET"] if keys else ["CONNECT"])


def test_websocket_upgrade_stays_a_tunnel() -> None:
    c = b.Conversation(("10.0.0.1", 40001), ("10.0.0.2", 80), t0=T0).handshake()
    c.request(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    c.response(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\n\r\n")
    c.send(0, b"\x81\x85" + bytes(9)).send(1, b"\x81\x05hello").close(0)
    conn = _one(c)
    assert conn["tunnel"] == "websocket" and conn["upgraded"]
    assert (conn["requests"], conn["anomalies"]) == (1, {})


def test_a_refused_connect_is_no_tunnel() -> None:
    c = b.Conversation(("10.0.0.1", 40002), ("10.0.0.2", 3128), t0=T0).handshake()
    c.request(CONNECT).response(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                b"Content-Length: 0\r\n\r\n")
    c.request(GET).response(OK).close(0)
    conn = _one(c)
    assert conn["tunnel"] is None and not conn["upgraded"]
    assert conn["requests"] == 2  # still HTTP/1 on the proxy connection
