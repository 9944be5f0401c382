"""Live capture on the real loopback (needs root: CI runs as root; skipped otherwise).

Real servers (the standard library's ThreadingHTTPServer, HTTP/1.1 and HTTP/1.0) on
random ports, real clients, ``keepalive sniff`` as a user runs it; then the same packets
(``--write``) analysed offline must give the identical answer.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        not hasattr(os, "geteuid") or os.geteuid() != 0,
        reason="live capture needs root (CI runs as root): run `sudo make test`",
    ),
]

KEEPALIVE = [sys.executable, "-m", "analyzer"]


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = b"hello from " + self.path.encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _Handler10(_Handler):
    protocol_version = "HTTP/1.0"


class _Handler11(_Handler):
    protocol_version = "HTTP/1.1"


class _Server6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _serve(handler: type, host: str = "127.0.0.1") -> tuple[Any, int]:
    cls = _Server6 if ":" in host else http.server.ThreadingHTTPServer
    srv = cls((host, 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


@pytest.fixture
def server11() -> Iterator[int]:
    srv, port = _serve(_Handler11)
    yield port
    srv.shutdown()


def _sniff(
    tmp: Path, ports: list[int], traffic: Callable[[], None], *extra: str
) -> tuple[dict[str, Any], Path, subprocess.CompletedProcess[str]]:
    """Run ``keepalive sniff`` around ``traffic()``; returns (JSON, pcap written, process)."""
    out, pcap = tmp / "live.json", tmp / "live.pcap"
    args = [*KEEPALIVE, "sniff", "--duration", "4", "--write", str(pcap), "-f", "json",
            "-o", str(out), *extra]
    for p in ports:
        args += ["--port", str(p)]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()  # "keepalive: sniffing on lo (...)" once the socket is open
    assert "sniffing on" in line, line + proc.stderr.read()
    traffic()
    rest_out, rest_err = proc.communicate(timeout=60)
    done = subprocess.CompletedProcess(args, proc.returncode, rest_out, line + rest_err)
    assert proc.returncode == 0, done.stderr
    return json.loads(out.read_text()), pcap, done


def _offline(pcap: Path) -> dict[str, Any]:
    p = subprocess.run([*KEEPALIVE, "analyze", str(pcap), "-f", "json"],
                       capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def _same_answer(live: dict[str, Any], offline: dict[str, Any]) -> None:
    """Live and offline agree on every record (the capture's name aside)."""
    def strip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = [{k: v for k, v in r.items() if k != "capture"} for r in rows]
        # live exchanges come from the spool in the order they completed
        return sorted(rows, key=lambda r: (int(r.get("connection", "C0")[1:]), r.get("index", 0)))

    for section in ("connections", "exchanges", "servers"):
        assert strip(live[section]) == strip(offline[section]), section
    assert live["captures"][0]["tcp_packets"] == offline["captures"][0]["tcp_packets"]


def _get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str] | None = None
         ) -> None:
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    r.read()


def _server(d: dict[str, Any], port: int) -> dict[str, Any]:
    (s,) = [s for s in d["servers"] if s["server"].endswith(f":{port}")]
    return s


def test_reused_per_request_and_connection_close(tmp_path: Path, server11: int) -> None:
    srv_b, port_b = _serve(_Handler11)
    srv_c, port_c = _serve(_Handler11)

    def traffic() -> None:
        c = http.client.HTTPConnection("127.0.0.1", server11)  # one connection, 5 requests
        for i in range(5):
            _get(c, f"/r{i}")
        c.close()
        for i in range(3):  # a new connection per request, closed by the client
            c = http.client.HTTPConnection("127.0.0.1", port_b)
            _get(c, f"/n{i}")
            c.close()
            time.sleep(0.05)
        for i in range(3):  # Connection: close on every request
            c = http.client.HTTPConnection("127.0.0.1", port_c)
            _get(c, f"/c{i}", {"Connection": "close"})
            c.close()
            time.sleep(0.05)

    try:
        d, pcap, _ = _sniff(tmp_path, [server11, port_b, port_c], traffic)
    finally:
        srv_b.shutdown()
        srv_c.shutdown()
    reused, per_request, closing = (_server(d, p) for p in (server11, port_b, port_c))
    assert (reused["connections"], reused["requests"]) == (1, 5)
    assert (reused["verdict"], reused["diagnosis"]) == ("reused", "reused")
    assert (per_request["connections"], per_request["requests"]) == (3, 3)
    assert (per_request["verdict"], per_request["diagnosis"]) == ("not-reused", "client-close")
    assert (closing["connections"], closing["diagnosis"]) == (3, "client-connection-close")
    labels = {c["server"].rsplit(":", 1)[1]: c["label"] for c in d["connections"]}
    assert labels[str(server11)] == "persistent" and labels[str(port_b)] == "per-request"
    assert d["captures"][0]["dropped"] == 0 and d["captures"][0]["format"] == "live"
    _same_answer(d, _offline(pcap))


def test_http10_server(tmp_path: Path) -> None:
    srv, port = _serve(_Handler10)

    def traffic() -> None:
        c = http.client.HTTPConnection("127.0.0.1", port)  # http.client would reuse
        for i in range(3):
            _get(c, f"/{i}")  # the server answers HTTP/1.0 and closes; http.client reconnects
            time.sleep(0.05)
        c.close()

    try:
        d, pcap, _ = _sniff(tmp_path, [port], traffic)
    finally:
        srv.shutdown()
    s = _server(d, port)
    assert (s["connections"], s["requests"]) == (3, 3)
    assert (s["verdict"], s["diagnosis"]) == ("not-reused", "http10-server")
    _same_answer(d, _offline(pcap))


def test_ipv6_loopback(tmp_path: Path) -> None:
    try:
        srv, port = _serve(_Handler11, "::1")
    except OSError as e:  # pragma: no cover - a kernel without IPv6
        pytest.skip(f"no IPv6 loopback: {e}")

    def traffic() -> None:
        c = http.client.HTTPConnection("::1", port)
        for i in range(4):
            _get(c, f"/{i}")
        c.close()

    try:
        d, pcap, _ = _sniff(tmp_path, [port], traffic)
    finally:
        srv.shutdown()
    s = _server(d, port)
    assert s["server"] == f"[::1]:{port}"
    assert (s["connections"], s["requests"], s["verdict"]) == (1, 4, "reused")
    _same_answer(d, _offline(pcap))


def test_count_stops_the_capture(tmp_path: Path, server11: int) -> None:
    out = tmp_path / "c.json"
    proc = subprocess.Popen(
        [*KEEPALIVE, "sniff", "--port", str(server11), "--count", "3", "--duration", "30",
         "-f", "json", "-o", str(out)], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    assert "sniffing on" in proc.stderr.readline()
    c = http.client.HTTPConnection("127.0.0.1", server11)
    _get(c, "/")
    c.close()
    assert proc.wait(timeout=20) == 0
    d = json.loads(out.read_text())
    assert d["captures"][0]["packets"] == 3  # the handshake, then it stopped


def test_without_privileges_one_line_and_exit_2() -> None:
    # As nobody (no CAP_NET_RAW): the error says what to do, no traceback.
    p = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *KEEPALIVE,
         "sniff", "--duration", "1"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": "/tmp"},
    )
    assert p.returncode == 2, p.stderr
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in p.stderr
    assert "root or CAP_NET_RAW" in err[0] and "sudo" in err[0] and "setcap" in err[0]


def test_files_belong_to_the_sudo_user(tmp_path: Path, server11: int) -> None:
    # Privileges are dropped before any file is opened: the user needs a directory of
    # their own (pytest's tmp_path is root-only).
    d = Path(tempfile.mkdtemp(prefix="keepalive-sudo-", dir="/tmp"))
    d.chmod(0o777)
    env = {**os.environ, "SUDO_UID": "65534", "SUDO_GID": "65534"}
    pcap, out = d / "w.pcap", d / "r.json"
    proc = subprocess.Popen(
        [*KEEPALIVE, "sniff", "--port", str(server11), "--duration", "2", "--write", str(pcap),
         "-f", "json", "-o", str(out)], stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    assert "sniffing on" in proc.stderr.readline()
    c = http.client.HTTPConnection("127.0.0.1", server11)
    _get(c, "/")
    c.close()
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    for f in (pcap, out):
        st = f.stat()
        assert (st.st_uid, st.st_gid) == (65534, 65534), f
    shutil.rmtree(d)


def test_a_root_only_directory_is_refused_at_once(tmp_path: Path) -> None:
    env = {**os.environ, "SUDO_UID": "65534", "SUDO_GID": "65534"}
    p = subprocess.run(
        [*KEEPALIVE, "sniff", "--duration", "30", "-o", str(tmp_path / "r.json")],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert p.returncode == 2
    assert "r.json: cannot write: Permission denied" in p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (["--iface", "nosuch0", "--duration", "1"], ["no such interface: nosuch0", "available"]),
        (["--filter", "port or", "--duration", "1"], ["bad capture filter"]),
        (["--duration", "0"], ["--duration"]),
        (["--count", "-5"], ["--count"]),
    ],
    ids=["no-such-iface", "bad-filter", "zero-duration", "negative-count"],
)
def test_bad_sniff_arguments_one_line(args: list[str], words: list[str]) -> None:
    p = subprocess.run([*KEEPALIVE, "sniff", *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    for w in words:
        assert w in p.stderr


def test_very_short_capture_ends_and_parquet_goes_to_a_directory(tmp_path: Path) -> None:
    out = tmp_path / "pq"
    p = subprocess.run([*KEEPALIVE, "sniff", "--duration", "0.01", "-f", "parquet", "-o",
                        str(out)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in out.iterdir()) == [
        "connections.parquet", "exchanges.parquet", "servers.parquet",
    ]
