"""TLS and HTTP/2 end to end: capture bytes in, the public API and the ``keepalive`` command
out (docs/json.md's TLS and HTTP/2 additions, DESIGN.md's vocabulary).

The TLS conversations are real ones made in memory by :mod:`tests.tlsgen` (Python's ssl on
both sides, with the client's NSS key log); the HTTP/2 conversations are built frame by
frame (a 9-byte frame header and one :class:`hpack.Encoder` per side, as
tests/test_http2.py does); the rest are the real captures of captures/README.md's TLS
section with their key logs (``captures/*.keys``) or their embedded Decryption Secrets
Blocks (``captures/*-dsb.pcapng``).
"""

from __future__ import annotations

import base64
import functools
import io
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hpack import Encoder

from analyzer import analyze, analyze_bytes
from analyzer.analysis import Analysis
from tests import builders as b
from tests import tlsgen
from tests.conftest import CAPTURES, ROOT

KEEPALIVE = [sys.executable, "-m", "analyzer"]
CLIENT, SERVER = 0, 1
T0 = 1_700_000_000.0

REQUESTS = (
    b"GET /first HTTP/1.1\r\nHost: example.test\r\nUser-Agent: curl/8.5.0\r\n\r\n",
    b"POST /second HTTP/1.1\r\nHost: example.test\r\nContent-Length: 3\r\n\r\nabc",
    b"DELETE /third?x=1 HTTP/1.1\r\nHost: example.test\r\n\r\n",
)
RESPONSES = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: nginx/1.22.1\r\n\r\nhello",
    b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
)
EXPECTED = [("GET", "/first", 200), ("POST", "/second", 201), ("DELETE", "/third?x=1", 404)]
ONE_REQUEST = (b"GET / HTTP/1.1\r\nHost: example.test\r\nUser-Agent: curl/8.5.0\r\n\r\n",)
ONE_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: nginx\r\n\r\nhello",)

DSB, TLS_KEY_LOG = 0x0000000A, 0x544C534B  # pcapng Decryption Secrets Block, "TLSK"


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KEEPALIVE, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@functools.cache
def three_requests(version: str) -> tlsgen.Conv:
    """One TLS connection carrying REQUESTS/RESPONSES (made once per version)."""
    return tlsgen.tls_conversation(version, REQUESTS, RESPONSES)


def one(a: Analysis) -> dict[str, Any]:
    """The one connection's JSON object."""
    return only(a)["connections"][0]  # type: ignore[no-any-return]


def only(a: Analysis) -> dict[str, Any]:
    d = a.to_dict()
    assert len(d["connections"]) == 1, d["connections"]
    return d


def dsb(keylog: bytes) -> bytes:
    """A Decryption Secrets Block: secrets type, secrets length, the key log padded to 4
    (pcapng spec §4.8; the builder pads the body), no options."""
    return b.block(DSB, struct.pack("<II", TLS_KEY_LOG, len(keylog)) + keylog)


def pcapng_with(
    frames: list[tuple[float, bytes]], before: bytes = b"", after: bytes = b""
) -> bytes:
    """A pcapng of ``frames`` with extra blocks between the interface and the first
    packet (``before``) and after the last packet (``after``)."""
    head = b.shb() + b.idb(b.LT_ETHERNET)
    body = b.pcapng(frames)
    assert body.startswith(head)
    return head + before + body[len(head):] + after


# ---------------------------------------------------------------------------- 1. decryption
@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_tls_without_key_log_estimates_the_requests(version: str) -> None:
    d = only(analyze_bytes(tlsgen.pcap_bytes(three_requests(version))))
    c = d["connections"][0]
    assert c["protocol"] == "tls"
    assert (c["requests"], c["responses"], c["requests_estimated"]) == (3, 3, True)
    assert c["label"] == "persistent"
    tls = c["tls"]
    assert tls["version"] == f"TLS {version}"
    assert tls["sni"] == tlsgen.SNI
    assert tls["handshake"] == "full"
    assert (tls["decrypted"], tls["why_not_decrypted"]) == (False, "no key log")
    assert c["http2"] is None
    assert d["exchanges"] == []  # nothing was read: there are no exchanges to list
    (s,) = d["servers"]
    assert (s["tls_handshakes_full"], s["tls_handshakes_resumed"]) == (1, 0)


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_tls_with_key_log_reads_http1(version: str) -> None:
    conv = three_requests(version)
    d = only(analyze_bytes(tlsgen.pcap_bytes(conv), tls_keylog=conv.keylog))
    c = d["connections"][0]
    assert c["protocol"] == "tls/http1"
    assert (c["requests"], c["responses"], c["requests_estimated"]) == (3, 3, False)
    assert c["label"] == "persistent"
    assert (c["tls"]["decrypted"], c["tls"]["why_not_decrypted"]) == (True, None)
    assert c["user_agent"] == "curl/8.5.0" and c["server_software"] == "nginx/1.22.1"
    got = [(e["method"], e["target"], e["status"]) for e in d["exchanges"]]
    assert got == EXPECTED
    assert [e["index"] for e in d["exchanges"]] == [1, 2, 3]
    assert all(e["stream"] is None and e["version"] == "1.1" for e in d["exchanges"])
    assert [e["opened_connection"] for e in d["exchanges"]] == [True, False, False]
    assert d["servers"][0]["diagnosis"] == "reused"


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_pcapng_decryption_secrets_block_before_the_packets_decrypts(version: str) -> None:
    conv = three_requests(version)
    frames = tlsgen.tcp_conversation(conv).frames()
    data = pcapng_with(frames, before=dsb(conv.keylog))
    d = only(analyze_bytes(data))  # no tls_keylog: the capture carries its secrets
    c = d["connections"][0]
    assert d["captures"][0]["format"] == "pcapng"
    assert c["protocol"] == "tls/http1" and c["tls"]["decrypted"] is True
    assert c["requests_estimated"] is False
    assert [(e["method"], e["target"], e["status"]) for e in d["exchanges"]] == EXPECTED
    # the same file without the block: not decrypted (the test is not vacuous)
    plain = only(analyze_bytes(pcapng_with(frames)))["connections"][0]
    assert (plain["protocol"], plain["tls"]["why_not_decrypted"]) == ("tls", "no key log")


def _filler(after: float, n: int) -> list[tuple[float, bytes]]:
    """``n`` UDP frames of ~1.4 kB after time ``after`` (not TCP: skipped, counted)."""
    frame = b.ethernet(b.ipv4("10.9.9.9", "10.9.9.8", b.udp(5000, 5001, b"x" * 1400), proto=17))
    return [(after + 1 + i * 0.001, frame) for i in range(n)]


def test_dsb_after_the_packets_in_a_later_chunk_does_not_decrypt_them() -> None:
    # The packets come first, then 1.2 MB of other traffic, then the block: by the time
    # the reader meets the secrets, the connection has been read without them.
    conv = three_requests("1.3")
    frames = tlsgen.tcp_conversation(conv).frames()
    data = pcapng_with(frames + _filler(frames[-1][0], 800), after=dsb(conv.keylog))
    assert len(data) > 1 << 20  # more than the reader's chunk (analyzer.capture.files.CHUNK)
    d = analyze_bytes(data).to_dict()
    (c,) = d["connections"]
    assert d["captures"][0]["skipped"] == {"udp": 800}
    assert c["protocol"] == "tls" and c["requests_estimated"] is True
    assert (c["tls"]["decrypted"], c["tls"]["why_not_decrypted"]) == (False, "no key log")
    assert c["requests"] == 3  # estimated as without any key log


def test_dsb_right_after_the_packets_does_not_decrypt_them() -> None:
    conv = three_requests("1.3")
    frames = tlsgen.tcp_conversation(conv).frames()
    d = analyze_bytes(pcapng_with(frames, after=dsb(conv.keylog))).to_dict()
    (c,) = d["connections"]
    # as with the block far away (previous test): a DSB applies to the packets after it
    assert (c["protocol"], c["tls"]["decrypted"]) == ("tls", False)


@pytest.mark.parametrize(
    "name, protocol",
    [("curl-tls-multi-dsb.pcapng", "tls/http1"), ("go-tls-h2-dsb.pcapng", "tls/h2")],
)
def test_real_captures_with_embedded_secrets_decrypt_without_a_key_log(
    name: str, protocol: str
) -> None:
    d = analyze(str(CAPTURES / name)).to_dict()
    (c,) = d["connections"]
    assert c["protocol"] == protocol and c["tls"]["decrypted"] is True
    assert c["requests"] == 5 and c["requests_estimated"] is False
    if protocol == "tls/h2":
        assert [e["stream"] for e in d["exchanges"]] == [1, 3, 5, 7, 9]
        assert c["http2"]["streams"] == 5


# ---------------------------------------------------------------------------- 2. resumption
def _two_connections(version: str, tickets: bool) -> tuple[tlsgen.Conv, tlsgen.Conv, bytes]:
    first = tlsgen.tls_conversation(version, ONE_REQUEST, ONE_RESPONSE, tickets=tickets)
    second = tlsgen.tls_conversation(version, ONE_REQUEST, ONE_RESPONSE, tickets=tickets,
                                     session=first.session)
    assert (first.resumed, second.resumed) == (False, True)
    frames = b.merge(
        tlsgen.tcp_conversation(first, client=("127.0.0.1", 40001)).frames(),
        tlsgen.tcp_conversation(second, client=("127.0.0.1", 40002), t0=T0 + 1).frames(),
    )
    return first, second, b.pcap(frames)


@pytest.mark.parametrize(
    "version, tickets", [("1.3", True), ("1.2", True), ("1.2", False)],
    ids=["tls13-psk", "tls12-ticket", "tls12-session-id"],
)
def test_full_then_resumed_handshake(version: str, tickets: bool) -> None:
    first, second, data = _two_connections(version, tickets)
    d = analyze_bytes(data).to_dict()
    assert [c["client"] for c in d["connections"]] == ["127.0.0.1:40001", "127.0.0.1:40002"]
    assert [c["tls"]["handshake"] for c in d["connections"]] == ["full", "resumed"]
    (s,) = d["servers"]
    assert (s["tls_handshakes_full"], s["tls_handshakes_resumed"]) == (1, 1)
    # With the first connection's key log lines only (Go's TLS 1.2 client logs no line
    # for a resumed handshake): TLS 1.2 resumes the master secret, so the second
    # connection decrypts by session memory; TLS 1.3 derives new secrets from the PSK.
    d = analyze_bytes(data, tls_keylog=first.keylog).to_dict()
    protocols = [c["protocol"] for c in d["connections"]]
    if version == "1.2":
        assert protocols == ["tls/http1", "tls/http1"]
    else:
        assert protocols == ["tls/http1", "tls"]
        assert d["connections"][1]["tls"]["why_not_decrypted"] == "no secret for this connection"
    d = analyze_bytes(data, tls_keylog=first.keylog + second.keylog).to_dict()
    assert [c["protocol"] for c in d["connections"]] == ["tls/http1", "tls/http1"]


def _per_request_capture(version: str, resume: bool) -> bytes:
    """Five one-request TLS connections, 0.5 s apart, each closed by the client."""
    frames = []
    session = None
    for i in range(5):
        conv = tlsgen.tls_conversation(version, ONE_REQUEST, ONE_RESPONSE, session=session)
        if resume and session is None:
            session = conv.session
        frames.append(tlsgen.tcp_conversation(conv, client=("127.0.0.1", 41000 + i),
                                              t0=T0 + i * 0.5).frames())
    return b.pcap(b.merge(*frames))


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_full_handshake_per_request_is_tls_no_resumption(version: str) -> None:
    d = analyze_bytes(_per_request_capture(version, resume=False)).to_dict()
    assert [c["tls"]["handshake"] for c in d["connections"]] == ["full"] * 5
    assert [c["closed_by"] for c in d["connections"]] == ["client"] * 5
    assert [c["label"] for c in d["connections"]] == ["per-request"] * 5
    (s,) = d["servers"]
    assert (s["verdict"], s["diagnosis"]) == ("not-reused", "tls-no-resumption")
    assert (s["tls_handshakes_full"], s["tls_handshakes_resumed"]) == (5, 0)
    assert "resumption" in s["hint"] and "session" in s["hint"]
    assert "5 full, 0 resumed" in s["evidence"]


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_resumed_handshakes_per_request_are_not_tls_no_resumption(version: str) -> None:
    d = analyze_bytes(_per_request_capture(version, resume=True)).to_dict()
    assert [c["tls"]["handshake"] for c in d["connections"]] == ["full"] + ["resumed"] * 4
    (s,) = d["servers"]
    assert s["verdict"] == "not-reused"
    assert s["diagnosis"] == "client-close"  # the cleartext pattern, not the TLS one
    assert (s["tls_handshakes_full"], s["tls_handshakes_resumed"]) == (1, 4)


# ---------------------------------------------------------------------------- 3. failure
@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_failed_handshake_is_an_unused_connection(version: str) -> None:
    conv = tlsgen.tls_conversation(version, fail=True)
    assert conv.failed
    for keylog in (None, conv.keylog):
        d = only(analyze_bytes(tlsgen.pcap_bytes(conv), tls_keylog=keylog))
        c = d["connections"][0]
        assert c["protocol"] == "tls"
        assert c["tls"]["handshake"] == "failed"
        assert c["tls"]["alert"] == "client: unknown_ca"  # the client rejected the cert
        assert c["tls"]["decrypted"] is False
        assert c["label"] == "unused"
        assert (c["requests"], c["responses"]) == (0, 0)
        assert d["exchanges"] == []
        (s,) = d["servers"]
        assert s["verdict"] == "no-http"
        assert (s["tls_handshakes_full"], s["tls_handshakes_resumed"]) == (0, 0)


# ---------------------------------------------------------------------------- 4. h2c
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_DATA, H2_HEADERS, H2_SETTINGS, H2_GOAWAY = 0x0, 0x1, 0x4, 0x7
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


def h2frame(ftype: int, flags: int = 0, sid: int = 0, payload: bytes = b"") -> bytes:
    """RFC 9113 §4.1: length (24), type, flags, R + stream id (31), payload."""
    head = len(payload).to_bytes(3, "big") + bytes((ftype, flags)) + sid.to_bytes(4, "big")
    return head + payload


H2_STATUS = (200, 404, 204)


def h2c_connection(
    client_port: int, t0: float, streams: tuple[int, ...] = (1, 3, 5), goaway: bool = False
) -> b.Conversation:
    """HTTP/2 with prior knowledge on one TCP connection: preface and SETTINGS both ways,
    then each stream's request (HEADERS, END_STREAM) and response (HEADERS + DATA); with
    ``goaway`` the server sends GOAWAY(last stream) and closes, else the client closes."""
    client, server = Encoder(), Encoder()  # one HPACK context per side, in wire order
    tcp = b.Conversation(("127.0.0.1", client_port), ("127.0.0.1", 8080), t0=t0).handshake()
    tcp.send(CLIENT, PREFACE + h2frame(H2_SETTINGS))
    tcp.send(SERVER, h2frame(H2_SETTINGS) + h2frame(H2_SETTINGS, ACK))
    tcp.send(CLIENT, h2frame(H2_SETTINGS, ACK))
    for i, sid in enumerate(streams):
        block = client.encode([(":method", "GET"), (":scheme", "http"),
                               (":authority", "example.test"), (":path", f"/s{sid}"),
                               ("user-agent", "Go-http-client/2.0")])
        tcp.send(CLIENT, h2frame(H2_HEADERS, END_STREAM | END_HEADERS, sid, block))
        block = server.encode([(":status", str(H2_STATUS[i % 3])), ("server", "nginx")])
        tcp.send(SERVER, h2frame(H2_HEADERS, END_HEADERS, sid, block)
                 + h2frame(H2_DATA, END_STREAM, sid, b"hello"))
    if goaway:
        tcp.send(SERVER, h2frame(H2_GOAWAY, 0, 0, streams[-1].to_bytes(4, "big") + bytes(4)))
        return tcp.close(SERVER)
    return tcp.close(CLIENT)


def test_h2c_prior_knowledge_streams_are_exchanges() -> None:
    d = only(analyze_bytes(b.pcap(h2c_connection(50000, T0).frames())))
    c = d["connections"][0]
    assert c["protocol"] == "h2c" and c["tls"] is None
    assert (c["requests"], c["responses"], c["requests_estimated"]) == (3, 3, False)
    assert c["label"] == "persistent"
    assert c["http2"]["streams"] == 3
    assert c["http2"]["goaway_by"] is None and c["http2"]["rst_streams"] == 0
    got = [(e["stream"], e["index"], e["method"], e["target"], e["status"], e["version"])
           for e in d["exchanges"]]
    assert got == [(1, 1, "GET", "/s1", 200, "2"), (3, 2, "GET", "/s3", 404, "2"),
                   (5, 3, "GET", "/s5", 204, "2")]
    (s,) = d["servers"]
    assert s["diagnosis"] == "reused" and s["tls_handshakes_full"] is None


def test_h2c_goaway_after_three_streams_is_a_request_limit() -> None:
    frames = [h2c_connection(50000 + i, T0 + i, goaway=True).frames() for i in range(3)]
    d = analyze_bytes(b.pcap(b.merge(*frames))).to_dict()
    assert len(d["connections"]) == 3
    for c in d["connections"]:
        assert c["protocol"] == "h2c" and c["closed_by"] == "server"
        h2 = c["http2"]
        assert (h2["streams"], h2["goaway_by"], h2["goaway_last_stream"],
                h2["goaway_error"]) == (3, "server", 5, "NO_ERROR")
    assert [e["stream"] for e in d["exchanges"]] == [1, 3, 5] * 3
    (s,) = d["servers"]
    assert (s["diagnosis"], s["request_limit"]) == ("request-limit", 3)
    assert "GOAWAY" in s["evidence"]


# ---------------------------------------------------------------------------- 5. secrets
def key_material(keylogs: list[bytes]) -> list[tuple[str, bytes]]:
    """Every (client random hex, secret) of these key logs; the secrets must never show."""
    out = []
    for text in keylogs:
        for line in text.splitlines():
            fields = line.split()
            if len(fields) == 3 and not line.startswith(b"#"):
                out.append((fields[1].decode().lower(), bytes.fromhex(fields[2].decode())))
    return out


def assert_no_secret(blob: bytes, material: list[tuple[str, bytes]], where: str) -> None:
    low = blob.lower()
    for client_random, secret in material:
        text = secret.hex().encode()
        assert text not in low, f"secret hex in {where}"  # (lower, upper and mixed case)
        assert secret not in blob, f"raw secret in {where}"
        assert base64.b64encode(secret) not in blob, f"base64 secret in {where}"
        assert f"{client_random} {secret.hex()}".encode() not in low, f"pair in {where}"


SECRET_CASES = [("curl-tls-multi.pcap", "curl-tls-multi.keys", "tls/http1"),
                ("go-tls-h2-dsb.pcapng", None, "tls/h2")]


@pytest.mark.parametrize("name, keys, protocol", SECRET_CASES, ids=["keylog", "dsb"])
def test_no_key_material_reaches_any_output(
    name: str, keys: str | None, protocol: str, tmp_path: Path
) -> None:
    from analyzer.capture.files import pcapng_secrets
    from analyzer.output import FORMATS, WriteOptions

    path = str(CAPTURES / name)
    keylog = str(CAPTURES / keys) if keys else None
    logs = [Path(keylog).read_bytes()] if keylog else pcapng_secrets(path)
    material = key_material(logs)
    assert len(material) >= 4
    # show_secrets unmasks URL secrets; TLS keys are not among them
    a = analyze(path, tls_keylog=keylog, show_secrets=True)
    assert {c.protocol for c in a.connection_records} == {protocol}  # it was decrypted
    outputs: dict[str, bytes] = {}
    for fmt in FORMATS.values():
        if "pyarrow" in fmt.needs:
            pytest.importorskip("pyarrow")
        if fmt.files is not None:
            written = fmt.file_writer()(a, tmp_path / fmt.name)
            assert written
            for what, p in written.items():
                outputs[f"{fmt.name}:{what}"] = Path(p).read_bytes()
        else:
            buf = io.BytesIO()
            fmt.stream_writer()(a, buf, WriteOptions(max_rows=1000, colour=False))
            outputs[fmt.name] = buf.getvalue()
    assert {"table", "json", "csv", "har"} <= set(outputs)
    outputs["to_json"] = a.to_json(indent=1).encode()
    outputs["repr"] = repr((a, a.capture_records, list(a.connection_records),
                            a.exchange_records, a.server_records)).encode()
    outputs["frames"] = (a.connections.to_csv() + a.exchanges.to_csv()
                         + a.servers.to_csv()).encode()
    report = tmp_path / "report.html"
    p = run("report", path, "-o", str(report), "-q",
            *(("--tls-keylog", keylog) if keylog else ()))
    assert p.returncode == 0, p.stderr
    outputs["report"] = report.read_bytes() + p.stdout.encode() + p.stderr.encode()
    p = run("compare", path, path, "-f", "json", *(("--tls-keylog", keylog) if keylog else ()))
    assert p.returncode == 0, p.stderr
    outputs["compare"] = (p.stdout + p.stderr).encode()
    for where, blob in outputs.items():
        assert blob, where
        assert_no_secret(blob, material, where)


# ---------------------------------------------------------------------------- 6. CLI
def one_line_error(p: subprocess.CompletedProcess[str], *words: str) -> str:
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert p.stdout == ""
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", ["analyze", "report", "compare"])
def test_missing_key_log_is_one_line(command: str, tmp_path: Path) -> None:
    capture = str(CAPTURES / "curl-tls-per-request.pcap")
    missing = tmp_path / "missing.keys"
    args = [capture, capture] if command == "compare" else [capture]
    if command == "report":
        args += ["-o", str(tmp_path / "r.html")]
    line = one_line_error(run(command, *args, "--tls-keylog", str(missing)), "missing.keys")
    assert "key log" in line
    assert not (tmp_path / "r.html").exists()


def test_binary_key_log_without_spaces_is_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "blob.keys"
    binary.write_bytes(bytes(i for i in range(256) if i != 0x20) * 8)
    line = one_line_error(
        run("analyze", str(CAPTURES / "curl-tls-per-request.pcap"), "--tls-keylog", str(binary)),
        "blob.keys", "not an NSS key log",
    )
    assert "\\x" not in line  # its contents are never shown


def test_binary_key_log_is_one_line(tmp_path: Path) -> None:
    capture = CAPTURES / "curl-tls-per-request.pcap"
    assert b" " in capture.read_bytes()[:4096]
    # the capture given as its own key log
    one_line_error(run("analyze", str(capture), "--tls-keylog", str(capture)),
                   "curl-tls-per-request.pcap")


def test_empty_key_log_is_accepted(tmp_path: Path) -> None:
    empty = tmp_path / "empty.keys"
    empty.write_bytes(b"")
    p = run("analyze", str(CAPTURES / "curl-tls-per-request.pcap"), "--tls-keylog",
            str(empty), "-f", "json")
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    d = json.loads(p.stdout)
    assert len(d["connections"]) == 5
    for c in d["connections"]:
        assert c["protocol"] == "tls" and c["requests_estimated"] is True
        assert c["tls"]["why_not_decrypted"] == "no secret for this connection"


def test_table_shows_the_protocol_and_tls_handshake() -> None:
    p = run("analyze", str(CAPTURES / "curl-tls-per-request.pcap"), "--tls-keylog",
            str(CAPTURES / "curl-tls-per-request.keys"))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    header = next(line for line in lines if " protocol " in line)
    assert "client" in header and "label" in header
    rows = [line for line in lines
            if "127.0.0.1:18241" in line and line.lstrip("│┃ ").startswith("C")]
    assert len(rows) == 5
    assert all("tls/http1 full" in row and "per-request" in row for row in rows)
    assert "TLS handshakes: 5 full, 0 resumed" in p.stdout
    assert "[tls-no-resumption]" in p.stdout


def test_table_of_cleartext_http1_has_no_protocol_column() -> None:
    p = run("analyze", str(CAPTURES / "curl-multi.pcap"))
    assert p.returncode == 0, p.stderr
    assert " protocol " not in p.stdout and "TLS handshakes" not in p.stdout


def test_compare_counts_full_tls_handshakes_per_request(tmp_path: Path) -> None:
    # compare takes one key log for both sides: two runs have two key logs, so they are
    # given as one file (lines of both; each names its connection by client random)
    both = tmp_path / "both.keys"
    both.write_bytes((CAPTURES / "go-tls-noresume.keys").read_bytes()
                     + (CAPTURES / "go-tls-resume.keys").read_bytes())
    before, after = str(CAPTURES / "go-tls-noresume.pcap"), str(CAPTURES / "go-tls-resume.pcap")
    p = run("compare", before, after, "--tls-keylog", str(both))
    assert p.returncode == 0, p.stderr
    cells = {}
    for line in p.stdout.splitlines():
        parts = [x.strip() for x in line.split("│")]
        if len(parts) >= 5:
            cells[parts[1]] = parts[2:5]  # before, after, change
    assert cells["full TLS handshakes per request"][:2] == ["1.0", "0.2"]
    assert cells["resumed TLS handshakes"] == ["0", "4", "+4"]
    assert cells["handshakes per request"][:2] == ["1.00", "1.00"]
    assert "better: 1.00 → 0.20 full TLS handshakes per request" in p.stdout
    p = run("compare", before, after, "--tls-keylog", str(both), "-f", "json")
    assert p.returncode == 0, p.stderr
    (pair,) = json.loads(p.stdout)["servers"]
    assert pair["outcome"] == "better: 1.00 → 0.20 full TLS handshakes per request"
    assert (pair["before"]["tls_full_per_request"], pair["after"]["tls_full_per_request"]) == (
        1.0, 0.2)
    assert (pair["before"]["tls_handshakes_resumed"], pair["after"]["tls_handshakes_resumed"]) == (
        0, 4)
    # both sides decrypted: the client is named (Go), which a side without keys cannot do
    assert pair["before"]["diagnosis"] == pair["after"]["diagnosis"] == "unread-body"


# ---------------------------------------------------------------------------- 7. DataFrames
def test_dataframe_tls_and_http2_columns_are_typed() -> None:
    import pandas as pd

    from analyzer.core.schema import NESTED_COLUMNS

    tls = tlsgen.tcp_conversation(three_requests("1.3"), client=("127.0.0.1", 40000))
    h2c = h2c_connection(50000, T0 + 1)
    http1 = b.Conversation(("10.0.0.1", 51234), ("10.0.0.2", 80), t0=T0 + 2).handshake()
    http1.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                   b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").close(CLIENT)
    a = analyze_bytes(b.pcap(b.merge(tls.frames(), h2c.frames(), http1.frames())))
    df = a.connections
    assert list(df["protocol"]) == ["tls", "h2c", "http/1.x"]
    declared = {f"{obj}_{key}": dtype for obj, cols in NESTED_COLUMNS.items()
                for key, dtype in cols}
    for column, dtype in declared.items():
        assert str(df[column].dtype) == dtype, column
    assert str(df["tls_version"].dtype) == "string"
    assert str(df["tls_handshake"].dtype) == "string"
    assert str(df["http2_streams"].dtype) == "Int64"
    assert str(df["tls_decrypted"].dtype) == "boolean"
    assert str(df["requests_estimated"].dtype) == "bool"
    tls_row, h2_row, plain = df.iloc[0], df.iloc[1], df.iloc[2]
    assert tls_row["tls_version"] == "TLS 1.3" and tls_row["tls_handshake"] == "full"
    assert not tls_row["tls_decrypted"] and tls_row["requests_estimated"]
    assert pd.isna(tls_row["http2_streams"])
    assert h2_row["http2_streams"] == 3 and h2_row["http2_goaway_by"] is pd.NA
    for column in declared:
        assert plain[column] is pd.NA, column  # <NA>, not NaN or None
        if column.startswith("tls_"):
            assert h2_row[column] is pd.NA, column
    ex = a.exchanges  # C1 (TLS, no key log) has none; C2 is h2c, C3 HTTP/1
    assert str(ex["stream"].dtype) == "Int64"
    assert list(ex["connection"]) == ["C2", "C2", "C2", "C3"]
    assert list(ex["stream"][:3]) == [1, 3, 5] and ex["stream"].iloc[3] is pd.NA


# ---------------------------------------------------------------------------- 8. live
def _fed_table(name: str, keylog: Any = None) -> Any:
    from analyzer.capture.files import CaptureFile
    from analyzer.core.flows import FlowTable

    table = FlowTable("live:lo", keylog=keylog)
    for buf, recs in CaptureFile(str(CAPTURES / name)).batches():
        table.feed(buf, recs)
    return table


def _render(renderable: Any) -> str:
    from rich.console import Console

    console = Console(width=160, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_live_view_shows_tls_full_and_resumed() -> None:
    from analyzer.output.live import LiveView

    text = _render(LiveView("lo").update(_fed_table("go-tls-resume.pcap")))
    header = next(line for line in text.splitlines() if "server" in line and "open" in line)
    assert "TLS full/resumed" in header
    row = next(line for line in text.splitlines() if "127.0.0.1:18245 " in line and "│" in line)
    assert " 1/4 " in row and "not reused" in row


def test_live_view_of_cleartext_has_no_tls_column() -> None:
    from analyzer.output.live import LiveView

    text = _render(LiveView("lo").update(_fed_table("curl-multi.pcap")))
    assert "TLS full/resumed" not in text and "reused" in text


def test_live_recent_connections_count_tls_turns() -> None:
    table = _fed_table("go-tls-resume.pcap")
    assert table.progress()["127.0.0.1:18245"].requests == 5
    recent = table.recent(8)
    assert len(recent) == 5
    assert [(r[3], r[4]) for r in recent] == [(1, "per-request")] * 5


def _line(conv: tlsgen.Conv) -> list[bytes]:
    return [line + b"\n" for line in conv.keylog.splitlines() if not line.startswith(b"#")]


def test_followed_key_log_reads_lines_appended_later(tmp_path: Path) -> None:
    from analyzer.sniffing import FollowedKeyLog

    conv = three_requests("1.2")  # one CLIENT_RANDOM line
    (line,) = _line(conv)
    path = tmp_path / "sslkeys.log"
    keylog = FollowedKeyLog(str(path))  # not there yet: the program has not started
    assert keylog.secrets(conv.client_random) is None
    assert len(keylog) == 0
    path.write_bytes(b"# written by the client\n")
    assert keylog.secrets(conv.client_random) is None
    cut = len(line) // 2
    with open(path, "ab") as fh:
        fh.write(line[:cut])  # a line still being written
    assert keylog.secrets(conv.client_random) is None
    assert keylog.bad == 0  # the partial line was not taken as a bad one
    with open(path, "ab") as fh:
        fh.write(line[cut:])
    found = keylog.secrets(conv.client_random)
    assert found is not None and set(found) == {"CLIENT_RANDOM"}
    assert len(found["CLIENT_RANDOM"]) == 48
    assert (keylog.lines, keylog.bad) == (1, 0)
    assert "CLIENT_RANDOM" not in repr(keylog) and found["CLIENT_RANDOM"].hex() not in repr(keylog)


def test_followed_key_log_tolerates_a_missing_file(tmp_path: Path) -> None:
    from analyzer.sniffing import FollowedKeyLog

    keylog = FollowedKeyLog(str(tmp_path / "nowhere" / "keys.log"))
    assert keylog.secrets(b"\0" * 32) is None
    assert bool(keylog) and len(keylog) == 0


def test_followed_key_log_decrypts_a_live_connection(tmp_path: Path) -> None:
    # A live capture: the key log is written by the client while the sniffer runs; the
    # flow table asks on the ClientHello, after the lines were appended.
    from analyzer.core.flows import FlowTable
    from analyzer.sniffing import FollowedKeyLog

    conv = three_requests("1.3")
    path = tmp_path / "keys.log"
    keylog = FollowedKeyLog(str(path))
    table = FlowTable("live:lo", keylog=keylog)
    frames = tlsgen.tcp_conversation(conv).frames()
    buf, recs = b.records(frames[:3])  # the TCP handshake, before any secret
    table.feed(buf, recs)
    path.write_bytes(b"".join(_line(conv)))
    buf, recs = b.records(frames[3:])
    table.feed(buf, recs)
    (c,) = table.finish()
    assert c.protocol == "tls/http1" and c.tls["decrypted"] is True
    assert [(e.method, e.target, e.status) for e in c.exchanges] == EXPECTED


# ---------------------------------------------------------------------------- 9. parallel
@pytest.mark.parametrize(
    "name", ["curl-tls-per-request", "go-tls-h2", "go-tls12-resume"],
)
def test_jobs_give_the_same_result_with_a_key_log(name: str) -> None:
    path, keys = str(CAPTURES / f"{name}.pcap"), str(CAPTURES / f"{name}.keys")
    one = analyze(path, tls_keylog=keys)
    assert all(c.tls["decrypted"] for c in one.connection_records)
    two = analyze(path, jobs=2, tls_keylog=keys)
    assert two.to_json() == one.to_json()
    # (go-tls12-resume: its five client ports all fall in one partition of two, so the
    # resumed connections meet the first one's master secret; see the next test)


def test_jobs_carry_tls12_session_memory_across_partitions() -> None:
    """With a key log, connections are partitioned by host pair (analyzer.core.partition):
    a resumed TLS 1.2 session is decrypted in the partition that saw its full handshake."""
    path = str(CAPTURES / "go-tls12-resume.pcap")
    keys = str(CAPTURES / "go-tls12-resume.keys")
    assert (CAPTURES / "go-tls12-resume.keys").read_bytes().count(b"CLIENT_RANDOM") == 1
    one = analyze(path, tls_keylog=keys)
    assert [c.protocol for c in one.connection_records] == ["tls/http1"] * 5
    three = analyze(path, jobs=3, tls_keylog=keys)
    assert three.to_json() == one.to_json()


def _other_partition_port(port: int, jobs: int) -> int:
    from analyzer.core.partition import partition_of

    def key(p: int) -> bytes:
        return (bytes((127, 0, 0, 1)) * 2 + p.to_bytes(2, "big") + (443).to_bytes(2, "big"))

    return next(q for q in range(port + 1, port + 100)
                if partition_of(key(q), jobs) != partition_of(key(port), jobs))


def test_jobs_two_tls12_resumption_in_another_partition(tmp_path: Path) -> None:
    first = tlsgen.tls_conversation("1.2", ONE_REQUEST, ONE_RESPONSE)
    second = tlsgen.tls_conversation("1.2", ONE_REQUEST, ONE_RESPONSE, session=first.session)
    assert second.resumed
    other = _other_partition_port(40001, 2)
    frames = b.merge(
        tlsgen.tcp_conversation(first, client=("127.0.0.1", 40001)).frames(),
        tlsgen.tcp_conversation(second, client=("127.0.0.1", other), t0=T0 + 1).frames(),
    )
    path = b.write(tmp_path / "resume.pcap", b.pcap(frames))
    keys = tmp_path / "first.keys"
    keys.write_bytes(first.keylog)  # like Go: no line for the resumed handshake
    one = analyze(path, tls_keylog=keys)
    assert [c.protocol for c in one.connection_records] == ["tls/http1", "tls/http1"]
    assert analyze(path, jobs=2, tls_keylog=keys).to_json() == one.to_json()


# ---------------------------------------------------------------- review findings
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def test_keyless_h2_one_stream_is_one_request() -> None:
    """The client's preface answered by the server's SETTINGS ACK is no request/response
    turn: an h2 connection that carried one stream is per-request, not persistent."""
    enc, dec = Encoder(), Encoder()
    req = h2frame(1, 5, 1, enc.encode([(":method", "GET"), (":path", "/"), (":scheme", "https"),
                                       (":authority", "example.test")]))
    resp = h2frame(1, 4, 1, dec.encode([(":status", "200"), ("server", "nginx")]))
    resp += h2frame(0, 1, 1, b"hello world, hello world")
    conv = tlsgen.tls_conversation(
        "1.3", requests=[PREFACE + h2frame(4), req],
        responses=[h2frame(4, 1), resp], alpn=["h2"], server_alpn=["h2"],
    )
    keyless = one(analyze_bytes(tlsgen.pcap_bytes(conv)))
    keyed = one(analyze_bytes(tlsgen.pcap_bytes(conv), tls_keylog=conv.keylog))
    assert (keyed["protocol"], keyed["requests"]) == ("tls/h2", 1)
    assert (keyless["protocol"], keyless["requests"], keyless["label"]) == (
        "tls", 1, "per-request"
    )


def test_real_h2_over_tls_estimates_equal_the_streams() -> None:
    for name in ("curl-h2-tls", "httpx-h2", "go-tls-h2"):
        a = analyze(str(CAPTURES / f"{name}.pcap"))
        assert [c.requests for c in a.connection_records] == [5], name


def _mtls(fail: bool, n: int) -> tlsgen.Conv:
    """A TLS 1.3 conversation with client authentication (a client certificate), the
    server refusing it when ``fail``: contexts of its own, put in tlsgen's cache for the
    call and taken out after (the cached ones stay as every other test uses them)."""
    import ssl

    keys = [("server", "1.3", (), None, True), ("client", "1.3", (), None, False)]
    saved = {k: tlsgen._contexts.pop(k) for k in keys if k in tlsgen._contexts}
    try:
        server = tlsgen._server_context("1.3", None, None, True)
        server.verify_mode = ssl.CERT_REQUIRED
        if fail:
            server.load_verify_locations(cadata=tlsgen.OTHER_CA.decode())
        else:
            server.load_verify_locations(cafile=str(tlsgen.CERT_FILE))
        tlsgen._client_context("1.3", None, None, False).load_cert_chain(
            tlsgen.CERT_FILE, tlsgen.KEY_FILE
        )
        reqs = [b"GET /%d HTTP/1.1\r\nHost: example.test\r\n\r\n" % i for i in range(n)]
        return tlsgen.tls_conversation(
            "1.3", requests=reqs, responses=list(ONE_RESPONSE) * n
        )
    finally:
        for k in keys:
            tlsgen._contexts.pop(k, None)
        tlsgen._contexts.update(saved)


@pytest.mark.parametrize("n", [1, 3])
def test_tls13_client_certificate_records_are_handshake_not_requests(n: int) -> None:
    conv = _mtls(False, n)
    keyless = one(analyze_bytes(tlsgen.pcap_bytes(conv)))
    assert (keyless["requests"], keyless["tls"]["handshake"]) == (n, "full")


def test_tls13_client_certificate_refused_is_a_failed_handshake() -> None:
    conv = _mtls(True, 1)
    assert conv.failed
    for keys in (None, conv.keylog):
        c = one(analyze_bytes(tlsgen.pcap_bytes(conv), tls_keylog=keys))
        assert (c["tls"]["handshake"], c["label"], c["requests"]) == ("failed", "unused", 0)
        assert c["tls"]["alert"].startswith("server: ")


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_capture_started_after_the_tls_handshake_is_tls(version: str) -> None:
    n = 4
    reqs = [b"GET /%d HTTP/1.1\r\nHost: example.test\r\n\r\n" % i for i in range(n)]
    conv = tlsgen.tls_conversation(version, requests=reqs, responses=list(ONE_RESPONSE) * n)
    tcp = b.Conversation(("127.0.0.1", 40000), ("127.0.0.1", 443)).mid_stream()
    for side, data in conv.segments[len(conv.segments) - (2 * n + 2):]:
        tcp.send(side, data)
    tcp.close(0)
    c = one(analyze_bytes(b.pcap(tcp.frames(), b.LT_ETHERNET), tls_keylog=conv.keylog))
    assert (c["protocol"], c["requests"], c["label"], c["requests_estimated"]) == (
        "tls", n, "persistent", True
    )
    assert c["tls"]["handshake"] is None
    assert c["tls"]["why_not_decrypted"] == "capture began after the handshake"
    assert c["tls"]["alert"] is None  # (an encrypted close_notify is not read as clear)


def test_h2_goaway_long_after_the_response_is_an_idle_timeout() -> None:
    frames = []
    for i in range(3):
        enc, dec = Encoder(), Encoder()
        t = b.Conversation(("10.0.0.1", 50000 + i), ("10.0.0.2", 8080), t0=T0 + 10 * i)
        t.handshake()
        t.request(PREFACE + h2frame(4) + h2frame(1, 5, 1, enc.encode(
            [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")])))
        t.response(h2frame(4, 0, 0, b"\x00\x03\x00\x00\x00\xfa") + h2frame(4, 1) + h2frame(
            1, 4, 1, dec.encode([(":status", "200"), ("server", "nginx/1.22.1")]))
            + h2frame(0, 1, 1, b"hello"))
        t.request(h2frame(4, 1))
        t.idle(3.0)
        t.response(h2frame(7, 0, 0, (1).to_bytes(4, "big") + (0).to_bytes(4, "big")))
        t.close(1)
        frames += t.frames()
    a = analyze_bytes(b.pcap(sorted(frames, key=lambda f: f[0]), b.LT_ETHERNET))
    (s,) = a.server_records
    assert s.diagnosis == "idle-timeout" and s.idle_timeout == pytest.approx(3.0, abs=0.1)
    assert "GOAWAY" in s.evidence and "keepalive_timeout" in s.hint


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_a_hole_after_decryption_began_keeps_counting_turns(version: str) -> None:
    n = 5
    reqs = [b"GET /%d HTTP/1.1\r\nHost: example.test\r\n\r\n" % i for i in range(n)]
    conv = tlsgen.tls_conversation(version, requests=reqs, responses=list(ONE_RESPONSE) * n)
    tcp = tlsgen.tcp_conversation(conv)
    tcp.drop(tcp.data_indexes(0)[-5])  # a request's segment is lost
    c = one(analyze_bytes(b.pcap(tcp.frames(), b.LT_ETHERNET), tls_keylog=conv.keylog))
    assert c["protocol"] == "tls/http1" and c["tls"]["decrypted"]
    assert c["requests_estimated"] and c["requests"] >= n - 1
    assert c["tls"]["why_not_decrypted"] == "bytes missing from the capture"


def test_partition_spec_repr_holds_no_secret() -> None:
    from analyzer.passes import PartitionSpec

    secret = "ab" * 48
    spec = PartitionSpec(["x"], ["x"], [0], 300.0, False, "native", [],
                         tls_keylog=f"CLIENT_RANDOM {'cd' * 32} {secret}\n".encode())
    assert secret not in repr(spec) and "CLIENT_RANDOM" not in repr(spec)
