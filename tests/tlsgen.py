"""Real TLS byte streams for tests, made in memory with Python's :mod:`ssl`.

Theory of operation
-------------------
A client and a server :class:`ssl.SSLObject` talk through :class:`ssl.MemoryBIO` pairs; no
socket is opened. :func:`tls_conversation` drives the handshake one step at a time: each
side's ``do_handshake()`` runs until it wants to read, and whatever it wrote is taken from
its outgoing BIO as one *segment* (one flush, ``(direction, bytes)``, direction 0 =
client → server) and handed to the peer's incoming BIO. Then each request goes client →
server and each response server → client the same way, and (``close_notify``) both sides
send their close_notify alert. The segments are therefore the exact bytes each side put on
the wire, in the order they were sent; :func:`pcap_bytes` lays them out as TCP payload of
one connection (through :class:`tests.builders.Conversation`).

The client context writes the NSS key log (``SSLContext.keylog_filename``) to a fresh file
per conversation; :attr:`Conv.keylog` holds its bytes, so a test can decrypt the records.

Contexts are cached per configuration: resuming needs the *same* server context (it owns
the session cache and the ticket keys) and the *same* client context (Python refuses a
session made by another). So a second call with the same arguments plus ``session=`` of
the first resumes: TLS 1.2 by session ticket (or by session ID when ``tickets=False``),
TLS 1.3 by a PSK ticket. In TLS 1.3 the server sends its NewSessionTicket messages after the
handshake; the client reads them with the first response, or in a final read when there are
no requests, so :attr:`Conv.session` is resumable.

One self-signed RSA certificate (``CN=example.test``, made with ``cryptography`` at import
time, key and certificate written to a temporary directory) serves every conversation; the
client trusts it as its CA. ``fail=True`` makes the client trust another CA instead, so it
rejects the server's certificate and sends an alert (in TLS 1.3 that alert is encrypted
with the handshake keys).

Python's ``ssl`` cannot choose TLS 1.3 cipher suites (OpenSSL's default order picks
TLS_AES_256_GCM_SHA384); ``tls13_suites=`` runs the conversation in a subprocess whose
OpenSSL configuration (``OPENSSL_CONF``) sets ``Ciphersuites``. Such a conversation has no
``session``.
"""

from __future__ import annotations

import atexit
import datetime
import json
import os
import shutil
import ssl
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests import builders as b

CLIENT, SERVER = 0, 1
SNI = "example.test"
MSS = 1448
DEFAULT_REQUESTS = (b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n",)
# (as a real server answers: with a Date field, RFC 9110 §6.6.1 — over 64 bytes, which the
# TLS reader's estimate relies on where the connection may speak HTTP/2: tls.ANSWER_MIN)
DEFAULT_RESPONSES = (
    b"HTTP/1.1 200 OK\r\nDate: Tue, 01 Dec 2026 12:00:00 GMT\r\nContent-Length: 5\r\n"
    b"\r\nhello",
)

_DIR = Path(tempfile.mkdtemp(prefix="tlsgen-"))
atexit.register(shutil.rmtree, _DIR, True)


def _self_signed(name: str) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) of a self-signed RSA certificate that is also a CA."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _materials() -> tuple[Path, Path, bytes]:
    """The server's certificate and key files, and another CA's PEM (for ``fail``). In a
    subprocess started by ``tls13_suites`` the parent's files are reused."""
    cert_file, key_file = _DIR / "server.pem", _DIR / "server.key"
    inherited = os.environ.get("TLSGEN_MATERIALS")
    if inherited:
        base = Path(inherited)
        return base / "server.pem", base / "server.key", (base / "other.pem").read_bytes()
    cert, key = _self_signed(SNI)
    other, _ = _self_signed("other-ca.test")
    cert_file.write_bytes(cert)
    key_file.write_bytes(key)
    (_DIR / "other.pem").write_bytes(other)
    return cert_file, key_file, other


CERT_FILE, KEY_FILE, OTHER_CA = _materials()

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_contexts: dict[tuple[Any, ...], ssl.SSLContext] = {}


def _pin(ctx: ssl.SSLContext, version: str) -> None:
    ctx.minimum_version = _VERSIONS[version]
    ctx.maximum_version = _VERSIONS[version]


def _server_context(
    version: str, alpn: list[str] | None, ciphers: str | None, tickets: bool
) -> ssl.SSLContext:
    key = ("server", version, tuple(alpn or ()), ciphers, tickets)
    ctx = _contexts.get(key)
    if ctx is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        _pin(ctx, version)
        ctx.load_cert_chain(CERT_FILE, KEY_FILE)
        if ciphers:
            ctx.set_ciphers(ciphers)
        if alpn:
            ctx.set_alpn_protocols(alpn)
        if not tickets:
            ctx.options |= ssl.OP_NO_TICKET
            ctx.num_tickets = 0
        _contexts[key] = ctx
    return ctx


def _client_context(
    version: str, alpn: list[str] | None, ciphers: str | None, fail: bool
) -> ssl.SSLContext:
    key = ("client", version, tuple(alpn or ()), ciphers, fail)
    ctx = _contexts.get(key)
    if ctx is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _pin(ctx, version)
        if fail:
            ctx.load_verify_locations(cadata=OTHER_CA.decode())
        else:
            ctx.load_verify_locations(cafile=str(CERT_FILE))
        if ciphers:
            ctx.set_ciphers(ciphers)
        if alpn:
            ctx.set_alpn_protocols(alpn)
        _contexts[key] = ctx
    return ctx


@dataclass
class Conv:
    """One TLS conversation: the bytes each side sent, and what a test needs to check them."""

    segments: list[tuple[int, bytes]]
    keylog: bytes
    session: ssl.SSLSession | None
    client_random: bytes
    server_random: bytes
    cipher: str  # OpenSSL's name, e.g. ECDHE-RSA-AES128-GCM-SHA256 or TLS_AES_256_GCM_SHA384
    suite: int  # the cipher suite code from the ServerHello (0 when there was none)
    version: str  # "1.2" / "1.3" as negotiated ("" when the handshake failed)
    alpn: str | None
    resumed: bool
    failed: bool
    requests: list[bytes] = field(default_factory=list)
    responses: list[bytes] = field(default_factory=list)

    def stream(self, direction: int) -> bytes:
        """Every byte one side sent, in order."""
        return b"".join(data for d, data in self.segments if d == direction)


class _Pipe:
    """The two SSLObjects and their BIOs; :meth:`flush` moves one side's output over."""

    def __init__(self, client: ssl.SSLObject, server: ssl.SSLObject, bios: list[Any]) -> None:
        self.ends = (client, server)
        self.incoming = (bios[0], bios[2])
        self.outgoing = (bios[1], bios[3])
        self.segments: list[tuple[int, bytes]] = []

    def flush(self, side: int) -> None:
        data = self.outgoing[side].read()
        if data:
            self.segments.append((side, data))
            self.incoming[1 - side].write(data)

    def handshake(self) -> bool:
        """Both handshakes to completion; False when one side failed (its alert and the
        peer's reaction to it are flushed)."""
        done = [False, False]
        for _ in range(64):
            for side in (CLIENT, SERVER):
                if not done[side]:
                    try:
                        self.ends[side].do_handshake()
                        done[side] = True
                    except ssl.SSLWantReadError:
                        pass
                    except ssl.SSLError:
                        self.flush(side)
                        self._absorb(1 - side)
                        return False
                self.flush(side)
            if all(done):
                return True
        raise RuntimeError("TLS handshake did not finish")

    def _absorb(self, side: int) -> None:
        """Let ``side`` read what its failed peer sent (an alert)."""
        try:
            self.ends[side].do_handshake()
        except (ssl.SSLError, ValueError):
            pass
        self.flush(side)

    def read(self, side: int, n: int) -> bytes:
        """Exactly ``n`` application bytes on ``side`` (all already in its incoming BIO)."""
        out = b""
        while len(out) < n:
            try:
                chunk = self.ends[side].read(n - len(out))
            except ssl.SSLWantReadError as e:
                raise RuntimeError("peer data missing") from e
            if not chunk:
                break
            out += chunk
        self.flush(side)  # a read may write (a KeyUpdate answer, say)
        return out

    def drain(self, side: int) -> None:
        """Process what sits in ``side``'s incoming BIO (TLS 1.3 session tickets)."""
        try:
            self.ends[side].read(1)
        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
            pass
        self.flush(side)

    def close(self) -> None:
        """close_notify from the client, then from the server (RFC 8446 §6.1)."""
        client, server = self.ends
        try:
            client.unwrap()
        except ssl.SSLWantReadError:
            pass
        self.flush(CLIENT)
        try:
            server.read(1)
        except ssl.SSLZeroReturnError:
            pass
        try:
            server.unwrap()
        except ssl.SSLWantReadError:
            pass
        self.flush(SERVER)
        try:
            client.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLError):
            pass


def _hello_fields(segment: bytes, server: bool) -> tuple[bytes, int]:
    """(random, cipher suite) of the first Client/ServerHello in a flight; the suite is 0
    for a ClientHello or when the bytes do not start with a handshake record."""
    if len(segment) < 43 or segment[0] != 22 or segment[5] not in (1, 2):
        return b"", 0
    random = segment[11:43]
    if not server:
        return random, 0
    sid_len = segment[43]
    (suite,) = struct.unpack_from("!H", segment, 44 + sid_len)
    return random, suite


def tls_conversation(
    version: str = "1.3",
    requests: list[bytes] | tuple[bytes, ...] = DEFAULT_REQUESTS,
    responses: list[bytes] | tuple[bytes, ...] = DEFAULT_RESPONSES,
    alpn: list[str] | None = None,
    server_alpn: list[str] | None = None,
    ciphers: str | None = None,
    session: ssl.SSLSession | None = None,
    sni: str = SNI,
    tickets: bool = True,
    fail: bool = False,
    *,
    close_notify: bool = True,
    tls13_suites: str | None = None,
) -> Conv:
    """One TLS connection's bytes: handshake, then request i from the client answered by
    response i from the server, then (``close_notify``) both close_notify alerts.

    ``version`` pins both sides to "1.2" or "1.3"; ``ciphers`` is an OpenSSL cipher string
    for TLS 1.2 (both sides); ``tls13_suites`` an OpenSSL Ciphersuites string for TLS 1.3
    (runs in a subprocess, see the module docstring); ``alpn`` is what the client offers,
    ``server_alpn`` what the server accepts (default: the same); ``session`` resumes a
    previous conversation's session (same arguments otherwise); ``fail`` makes the client
    reject the server's certificate."""
    requests, responses = list(requests), list(responses)
    if len(requests) != len(responses):
        raise ValueError("one response per request")
    if tls13_suites is not None:
        return _in_subprocess(
            version=version, requests=requests, responses=responses, alpn=alpn,
            server_alpn=server_alpn, ciphers=ciphers, sni=sni, tickets=tickets, fail=fail,
            close_notify=close_notify, tls13_suites=tls13_suites,
        )
    if server_alpn is None:
        server_alpn = alpn
    server_ctx = _server_context(version, server_alpn, ciphers, tickets)
    client_ctx = _client_context(version, alpn, ciphers, fail)
    fd, name = tempfile.mkstemp(prefix="keylog-", dir=_DIR)
    os.close(fd)
    client_ctx.keylog_filename = name
    try:
        bios = [ssl.MemoryBIO() for _ in range(4)]
        client = client_ctx.wrap_bio(bios[0], bios[1], server_hostname=sni, session=session)
        server = server_ctx.wrap_bio(bios[2], bios[3], server_side=True)
        pipe = _Pipe(client, server, bios)
        ok = pipe.handshake()
        if ok:
            for request, response in zip(requests, responses, strict=True):
                client.write(request)
                pipe.flush(CLIENT)
                if pipe.read(SERVER, len(request)) != request:
                    raise RuntimeError("server read other bytes than the request")
                server.write(response)
                pipe.flush(SERVER)
                if pipe.read(CLIENT, len(response)) != response:
                    raise RuntimeError("client read other bytes than the response")
            pipe.drain(CLIENT)  # TLS 1.3 tickets when there was no response to read
            if close_notify:
                pipe.close()
    finally:
        client_ctx.keylog_filename = None  # type: ignore[assignment]  # closes the file
        keylog = Path(name).read_bytes()
        os.unlink(name)
    segs = pipe.segments
    client_random = _hello_fields(segs[0][1], False)[0] if segs else b""
    first_server = next((data for d, data in segs if d == SERVER), b"")
    server_random, suite = _hello_fields(first_server, True)
    cipher = client.cipher() if ok else None
    return Conv(
        segments=segs,
        keylog=keylog,
        session=client.session if ok else None,
        client_random=client_random,
        server_random=server_random,
        cipher=cipher[0] if cipher else "",
        suite=suite,
        version={"TLSv1.2": "1.2", "TLSv1.3": "1.3"}.get(client.version() or "", "")
        if ok
        else "",
        alpn=client.selected_alpn_protocol() if ok else None,
        resumed=bool(ok and client.session_reused),
        failed=not ok,
        requests=requests,
        responses=responses,
    )


# ---------------------------------------------------------------------------- TLS 1.3 suites
def _in_subprocess(**kw: Any) -> Conv:
    """Run :func:`tls_conversation` in a child whose OpenSSL config sets the TLS 1.3
    cipher suites (Python's ssl has no ``set_ciphersuites``)."""
    conf = _DIR / f"openssl-{kw['tls13_suites']}.cnf"
    conf.write_text(
        "openssl_conf = conf\n[conf]\nssl_conf = ssl_sect\n[ssl_sect]\n"
        "system_default = sys_default\n[sys_default]\n"
        f"Ciphersuites = {kw.pop('tls13_suites')}\n"
    )
    env = dict(os.environ, OPENSSL_CONF=str(conf), TLSGEN_MATERIALS=str(_DIR))
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    args = {k: [x.hex() for x in v] if k in ("requests", "responses") else v
            for k, v in kw.items()}
    proc = subprocess.run(
        [sys.executable, "-c", "import tests.tlsgen as t; t._child()"],
        input=json.dumps(args), capture_output=True, text=True, timeout=60, env=env, cwd=root,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"tlsgen child failed: {proc.stderr[-2000:]}")
    d = json.loads(proc.stdout)
    return Conv(
        segments=[(side, bytes.fromhex(h)) for side, h in d["segments"]],
        keylog=bytes.fromhex(d["keylog"]),
        session=None,
        client_random=bytes.fromhex(d["client_random"]),
        server_random=bytes.fromhex(d["server_random"]),
        cipher=d["cipher"], suite=d["suite"], version=d["version"], alpn=d["alpn"],
        resumed=d["resumed"], failed=d["failed"],
        requests=kw["requests"], responses=kw["responses"],
    )


def _child() -> None:
    args = json.loads(sys.stdin.read())
    args["requests"] = [bytes.fromhex(h) for h in args["requests"]]
    args["responses"] = [bytes.fromhex(h) for h in args["responses"]]
    c = tls_conversation(**args)
    json.dump(
        {
            "segments": [(side, data.hex()) for side, data in c.segments],
            "keylog": c.keylog.hex(), "client_random": c.client_random.hex(),
            "server_random": c.server_random.hex(), "cipher": c.cipher, "suite": c.suite,
            "version": c.version, "alpn": c.alpn, "resumed": c.resumed, "failed": c.failed,
        },
        sys.stdout,
    )


# ---------------------------------------------------------------------------- capture
def tcp_conversation(
    conv: Conv,
    client: tuple[str, int] = ("127.0.0.1", 40000),
    server: tuple[str, int] = ("127.0.0.1", 443),
    t0: float = 1_700_000_000.0,
) -> b.Conversation:
    """The TLS conversation as one TCP connection (:class:`tests.builders.Conversation`):
    handshake, each segment as payload in pieces of at most :data:`MSS` bytes (each flush
    acknowledged by the peer), then a FIN from the client and the server's FIN-ACK."""
    tcp = b.Conversation(client, server, t0=t0).handshake()
    for side, data in conv.segments:
        tcp.send(side, data, mss=MSS)
    return tcp.close(CLIENT)


def pcap_bytes(
    conv: Conv,
    client: tuple[str, int] = ("127.0.0.1", 40000),
    server: tuple[str, int] = ("127.0.0.1", 443),
    t0: float = 1_700_000_000.0,
) -> bytes:
    """A classic pcap (Ethernet) of :func:`tcp_conversation`."""
    return b.pcap(tcp_conversation(conv, client, server, t0).frames(), b.LT_ETHERNET)


def records(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """Split one direction's bytes into TLS records: ``(content type, 5-byte header,
    fragment)``; a cut record at the end is left out."""
    out = []
    pos = 0
    while pos + 5 <= len(data):
        (length,) = struct.unpack_from("!H", data, pos + 3)
        if pos + 5 + length > len(data):
            break
        out.append((data[pos], data[pos : pos + 5], data[pos + 5 : pos + 5 + length]))
        pos += 5 + length
    return out
