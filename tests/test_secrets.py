"""Secrets never reach an output unless --show-secrets: a capture with planted secrets in
every place HTTP carries them, grepped in every output format."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import analyzer
from analyzer.core.secrets import redact_target
from tests import builders as b

SECRETS = [
    "s3cr3t-basic-AAAA", "s3cr3t-proxy-BBBB", "s3cr3t-cookie-CCCC", "s3cr3t-setcookie-DDDD",
    "s3cr3t-userinfo-EEEE", "s3cr3t-token-FFFF", "s3cr3t-apikey-GGGG", "ss-LEAK1", "LEAK2",
    "LEAK3",
]
REQ1 = (
    b"GET http://alice:s3cr3t-userinfo-EEEE@example.test/a?x=1&token=s3cr3t-token-FFFF HTTP/1.1\r\n"
    b"Host: example.test\r\nAuthorization: Basic s3cr3t-basic-AAAA\r\n"
    b"Proxy-Authorization: Basic s3cr3t-proxy-BBBB\r\nCookie: sid=s3cr3t-cookie-CCCC\r\n\r\n"
)
REQ2 = b"GET /b?api_key=s3cr3t-apikey-GGGG&page=2 HTTP/1.1\r\nHost: example.test\r\n\r\n"
# userinfo with an "@" in the password, scheme-relative, and CONNECT's authority form
REQ3 = b"GET http://bob:pa@ss-LEAK1@example.test/c HTTP/1.1\r\nHost: example.test\r\n\r\n"
REQ4 = b"GET //carol:LEAK2@example.test/d HTTP/1.1\r\nHost: example.test\r\n\r\n"
REQ5 = b"CONNECT dave:LEAK3@example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n"
DENIED = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
RESP = (
    b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=s3cr3t-setcookie-DDDD; HttpOnly\r\n"
    b"Content-Length: 2\r\n\r\nok"
)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    c = b.Conversation().handshake().exchange(REQ1, RESP).exchange(REQ2, RESP)
    c.exchange(REQ3, RESP).exchange(REQ4, RESP).exchange(REQ5, DENIED).close(0)
    path = tmp_path_factory.mktemp("secrets") / "secrets.pcap"
    b.write(path, b.pcap(c.frames()))
    return path


def _cli(*args: str) -> str:
    p = subprocess.run([sys.executable, "-m", "analyzer", *args], capture_output=True,
                       text=True, check=True)
    return p.stdout + p.stderr


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "jsonl", "har"])
def test_no_secret_in_any_cli_format(capture: Path, fmt: str, tmp_path: Path) -> None:
    out = _cli("analyze", str(capture), "-f", fmt, "--max-rows", "1000")
    f = tmp_path / "out"
    _cli("analyze", str(capture), "-f", fmt, "-o", str(f))
    for text in (out, f.read_text()):
        assert "example.test" in text or fmt in ("table", "csv")  # the output is really there
        for s in SECRETS:
            assert s not in text, (fmt, s)


def test_no_secret_in_parquet_report_compare_and_plot(capture: Path, tmp_path: Path) -> None:
    texts = []
    _cli("analyze", str(capture), "-f", "parquet", "-o", str(tmp_path / "pq"))
    texts += [p.read_bytes().decode("latin-1") for p in (tmp_path / "pq").iterdir()]
    _cli("report", str(capture), "-o", str(tmp_path / "r.html"))
    report = (tmp_path / "r.html").read_text()
    assert "REDACTED@example.test" in report  # the targets are in the report, masked
    texts.append(report)
    texts.append(_cli("compare", str(capture), str(capture)))
    texts.append(_cli("compare", str(capture), str(capture), "-f", "json"))
    _cli("analyze", str(capture), "--plot", str(tmp_path / "t.svg"), "-f", "json", "-o",
         str(tmp_path / "j.json"))
    texts.append((tmp_path / "t.svg").read_text())
    for text in texts:
        for s in SECRETS:
            assert s not in text, s


def test_no_secret_in_dataframes_and_api(capture: Path, tmp_path: Path) -> None:
    a = analyzer.analyze(str(capture))
    assert [e.target for e in a.exchange_records] == [
        "http://REDACTED@example.test/a?x=1&token=REDACTED", "/b?api_key=REDACTED&page=2",
        "http://REDACTED@example.test/c", "//REDACTED@example.test/d",
        "REDACTED@example.test:443",
    ]
    dumped = a.to_json() + a.connections.to_csv() + a.exchanges.to_csv() + a.servers.to_csv()
    a.exchanges.to_parquet(tmp_path / "x.parquet")
    dumped += (tmp_path / "x.parquet").read_bytes().decode("latin-1")
    for s in SECRETS:
        assert s not in dumped, s


def test_show_secrets_keeps_the_target(capture: Path) -> None:
    out = _cli("analyze", str(capture), "-f", "json", "--show-secrets")
    assert "s3cr3t-userinfo-EEEE" in out and "s3cr3t-token-FFFF" in out
    # header values are never kept, even then
    for s in ("s3cr3t-basic-AAAA", "s3cr3t-proxy-BBBB", "s3cr3t-cookie-CCCC",
              "s3cr3t-setcookie-DDDD"):
        assert s not in out


@pytest.mark.parametrize(
    "target, want",
    [
        ("/plain/path", "/plain/path"),
        ("/q?a=1&b=2", "/q?a=1&b=2"),
        ("/q?password=hunter2&b=2", "/q?password=REDACTED&b=2"),
        ("/q?b=2;SessionId=abc", "/q?b=2;SessionId=REDACTED"),
        ("https://u:p@h:8443/x", "https://REDACTED@h:8443/x"),
        ("http://bob:pa@ss@h/c", "http://REDACTED@h/c"),
        ("//u:p@h/d", "//REDACTED@h/d"),
        ("u:p@h:443", "REDACTED@h:443"),
        ("h:443", "h:443"),
        ("http://h/a@b", "http://h/a@b"),
        ("/mail@example.com/inbox", "/mail@example.com/inbox"),
    ],
)
def test_redact_target(target: str, want: str) -> None:
    assert redact_target(target) == want
