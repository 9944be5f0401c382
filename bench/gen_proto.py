"""Synthetic TLS and h2c capture generator for the keepalive-analyzer benchmark (issue 14).

Writes a classic little-endian pcap (link type Ethernet, microsecond timestamps, framed
with ``bench/gen.py``'s helpers) full of interleaved TCP connections, plus a
``NAME.truth.json`` next to it that says what an exact analyzer must find::

    python bench/gen_proto.py tls OUT.pcap --packets 100000 --seed 1   # + OUT.keys
    python bench/gen_proto.py h2c OUT.pcap --packets 100000 --seed 1

``tls``: HTTP/1.1 over real TLS to ``10.0.1.1:443`` and ``[fd00::11]:443``. Each connection
is a real handshake and real records, made in memory with Python's ``ssl`` module (a client
and a server ``SSLObject`` over ``MemoryBIO`` pairs, one self-signed RSA-2048 certificate
made with ``cryptography``): 70% TLS 1.3 with TLS_AES_128_GCM_SHA256 (forced through an
``OPENSSL_CONF`` written for this process), 30% TLS 1.2 with ECDHE-RSA-AES128-GCM-SHA256;
about 30% resumed with a session ticket of an earlier connection (35% try, once tickets
are :data:`SESSION_LAG` connections old); 1-10 sequential requests each (GET, or POST with
a body), responses with a Content-Length body of 100 B-20 kB; when the client finishes the
handshake (TLS 1.3, TLS 1.2 resumed), its first request rides with its Finished half the
time (and in TLS 1.3 the server's tickets with the first response); 70% of the connections
end with a close_notify, answered or not, then FINs. The client contexts write the NSS key log
(``SSLContext.keylog_filename``) to ``OUT.keys`` (OUT without ``.pcap``). A real handshake
takes about a millisecond, so at most :data:`TLS_POOL` distinct TLS connections are made;
past that, connections of the pool are sent again (new ports, sequence numbers and timing).

``h2c``: HTTP/2 with prior knowledge to ``10.0.2.1:80`` and ``[fd00::21]:80``: client
preface, SETTINGS and a connection WINDOW_UPDATE; server SETTINGS and SETTINGS ACK; 1-20
streams per connection, sent in batches of 1-6 concurrent streams (HEADERS from one
``hpack.Encoder`` per direction, END_STREAM on the HEADERS of a GET or on the last DATA of a
POST), responses as HEADERS then DATA frames interleaved across the batch's streams
(END_STREAM on the last; a 204 ends on its HEADERS), an occasional PING; about 30% of the
connections end with a server GOAWAY (NO_ERROR, the last stream) and the server's FIN.

TCP is exact as in ``bench/gen.py`` (random initial sequence numbers, some near 2**32,
SYN/SYN-ACK/ACK, every byte ACKed only after it was sent, FIN teardown), 48 connections open
at once, packets interleaved at random. The packet count is at least ``--packets``; every
connection in the file is whole. The same seed gives the same file byte for byte for
``h2c``; for ``tls`` the plan (who, how many requests, which sizes, which versions, the TCP
side) is the same, but OpenSSL's randomness (keys, randoms, tickets) cannot be seeded, so
the bytes differ and the truth counts do not.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen import (  # noqa: E402
    ACK,
    BODY,
    FIN,
    MAC_CLIENT,
    MAC_SERVER,
    MSS,
    PSH,
    SYN,
    Emit,
    endpoint,
    make_emitter,
    truth_path_for,
    write_interleaved,
)

if TYPE_CHECKING:
    import ssl

PROTO_GENERATOR_VERSION = 1
WORKLOADS = ("tls", "h2c")
CONCURRENCY = 48
TLS_POOL = 2000  # distinct TLS connections at most; past that, the pool is sent again
SESSION_LAG = 4 * CONCURRENCY  # a resumed connection uses a ticket this many connections old
SNI = "bench.example"

TLS_SERVERS = [("10.0.1.1", 443), ("fd00::11", 443)]
H2C_SERVERS = [("10.0.2.1", 80), ("fd00::21", 80)]
N_CLIENTS4 = 200
N_CLIENTS6 = 56

TLS13_SUITE = "TLS_AES_128_GCM_SHA256"
TLS12_SUITE = "ECDHE-RSA-AES128-GCM-SHA256"
OPENSSL_CONF = f"""openssl_conf = bench_conf
[bench_conf]
ssl_conf = bench_ssl
[bench_ssl]
system_default = bench_default
[bench_default]
Ciphersuites = {TLS13_SUITE}
"""

# HTTP/2 (RFC 9113)
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_DATA, H2_HEADERS, H2_SETTINGS, H2_PING, H2_GOAWAY, H2_WINDOW_UPDATE = 0, 1, 4, 6, 7, 8
END_STREAM, END_HEADERS, FLAG_ACK = 0x1, 0x4, 0x1
H2_FRAME = struct.Struct("!BHBBI")
MAX_FRAME = 16384

Flight = tuple[bool, bytes]  # (sent by the client, bytes of the stream)


def keys_path_for(pcap: Path) -> Path:
    """``x/tls-100k.pcap`` -> ``x/tls-100k.keys`` (the NSS key log)."""
    return pcap.with_suffix(".keys") if pcap.suffix == ".pcap" \
        else pcap.with_name(pcap.name + ".keys")


# --------------------------------------------------------------------------- TCP


def isn(rng: random.Random) -> int:
    if rng.random() < 0.1:  # near 2**32: the sequence space wraps inside the connection
        return (1 << 32) - rng.randrange(1, 40000)
    return rng.getrandbits(32)


def tcp_frames(rng: random.Random, c: Emit, s: Emit, flights: list[Flight],
               client_closes: bool) -> Iterator[bytes]:
    """Handshake, the flights (MSS segments, pure ACKs from the receiver), FIN teardown."""
    seq = [isn(rng), isn(rng)]  # client, server: next sequence number to send
    acked = [0, 0]  # what the peer has acknowledged of each side's bytes
    em = (c, s)
    yield c(seq[0], 0, SYN, b"")
    seq[0] += 1
    yield s(seq[1], seq[0], SYN | ACK, b"")
    seq[1] += 1
    yield c(seq[0], seq[1], ACK, b"")
    acked[:] = seq
    for from_client, data in flights:
        i = 0 if from_client else 1
        j = 1 - i
        send, recv = em[i], em[j]
        n = len(data)
        for k, off in enumerate(range(0, n, MSS)):
            seg = data[off:off + MSS]
            last = off + MSS >= n
            yield send(seq[i], seq[j], (PSH | ACK) if last else ACK, seg)
            seq[i] += len(seg)
            acked[j] = seq[j]
            if k % 2 == 1 and not last:  # ACK every second segment
                yield recv(seq[j], seq[i], ACK, b"")
                acked[i] = seq[i]
        if acked[i] != seq[i] and rng.random() < 0.5:  # else the reply carries the ACK
            yield recv(seq[j], seq[i], ACK, b"")
            acked[i] = seq[i]
    i = 0 if client_closes else 1
    j = 1 - i
    yield em[i](seq[i], seq[j], FIN | ACK, b"")
    seq[i] += 1
    if rng.random() < 0.3:
        yield em[j](seq[j], seq[i], ACK, b"")
    yield em[j](seq[j], seq[i], FIN | ACK, b"")
    seq[j] += 1
    yield em[i](seq[i], seq[j], ACK, b"")


@dataclass
class Truth:
    """What the capture contains; serialised as NAME.truth.json."""

    workload: str
    packets: int = 0
    tcp_packets: int = 0
    connections: int = 0
    requests: int = 0
    per_connection: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self, seed: int, requested: int) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "packets": self.packets,
            "tcp_packets": self.tcp_packets,
            "connections": self.connections,
            "requests": self.requests,
            **self.extra,
            "per_connection": self.per_connection,
            "generator": {"name": "gen_proto", "workload": self.workload,
                          "version": PROTO_GENERATOR_VERSION, "seed": seed,
                          "requested_packets": requested},
        }


class Base:
    """Clients, ports and TCP framing shared by both workloads."""

    workload = ""
    servers: list[tuple[str, int]] = []

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.truth = Truth(self.workload)
        self.clients4 = [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(N_CLIENTS4)]
        self.clients6 = [f"fd00::100:{i + 1:x}" for i in range(N_CLIENTS6)]
        self.next_port: dict[str, int] = {
            c: self.rng.randrange(32768, 40000) for c in self.clients4 + self.clients6
        }
        self.counter = 0

    def endpoints(self) -> tuple[str, int, str, int]:
        """A server and a client with its next ephemeral port."""
        rng = self.rng
        saddr, sport = self.servers[0] if rng.random() < 0.7 else self.servers[1]
        client = rng.choice(self.clients6 if ":" in saddr else self.clients4)
        cport = self.next_port[client]
        self.next_port[client] = cport + rng.randrange(1, 4)
        if self.next_port[client] > 60999:
            self.next_port[client] = 32768
        return saddr, sport, client, cport

    def connection(self, ends: tuple[str, int, str, int], flights: list[Flight],
                   client_closes: bool, record: dict[str, Any],
                   requests: int) -> Iterator[bytes]:
        """Count the connection in the truth and return its frames."""
        saddr, sport, client, cport = ends
        rng = self.rng
        self.truth.connections += 1
        self.truth.requests += requests
        self.truth.per_connection.append(
            {"client": endpoint(client, cport), "server": endpoint(saddr, sport), **record})
        c = make_emitter(client, saddr, cport, sport, MAC_CLIENT, MAC_SERVER, rng.getrandbits(16))
        s = make_emitter(saddr, client, sport, cport, MAC_SERVER, MAC_CLIENT, rng.getrandbits(16))
        return tcp_frames(rng, c, s, flights, client_closes)

    def new_connection(self) -> Iterator[bytes]:
        raise NotImplementedError

    def finish(self) -> None:
        """Totals for the truth, once every connection is written."""

    def close(self) -> None:
        """Release resources (temporary files)."""


# --------------------------------------------------------------------------- TLS


def self_signed(directory: Path) -> Path:
    """A PEM file with a self-signed RSA-2048 certificate for SNI and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SNI)])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(SNI)]), critical=False)
            .sign(key, hashes.SHA256()))
    pem = directory / "bench-cert.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return pem


def import_ssl(directory: Path) -> Any:
    """The ssl module, with OpenSSL's TLS 1.3 suites limited to TLS13_SUITE.

    Python 3.11 cannot set TLS 1.3 cipher suites; OpenSSL reads them from the configuration
    named by OPENSSL_CONF when it initialises, i.e. when ssl is first imported.
    """
    if "ssl" not in sys.modules:
        conf = directory / "openssl.cnf"
        conf.write_text(OPENSSL_CONF)
        os.environ["OPENSSL_CONF"] = str(conf)
    import ssl as ssl_module

    return ssl_module


@dataclass
class TlsConn:
    """One TLS connection's byte streams and facts (sent once or, past the pool, again)."""

    flights: list[Flight]
    version: str
    resumed: bool
    requests: int
    client_closes: bool


class TlsPair:
    """A client and a server SSLObject wired through memory; every byte moved is a flight."""

    def __init__(self, mod: Any, cctx: ssl.SSLContext, sctx: ssl.SSLContext,
                 session: ssl.SSLSession | None) -> None:
        self.ssl = mod
        self.ci, self.co, self.si, self.so = (mod.MemoryBIO() for _ in range(4))
        self.c = cctx.wrap_bio(self.ci, self.co, server_hostname=SNI, session=session)
        self.s = sctx.wrap_bio(self.si, self.so, server_side=True)
        self.flights: list[Flight] = []

    def ship_c(self) -> None:
        data = self.co.read()
        if data:
            self.flights.append((True, data))
            self.si.write(data)

    def ship_s(self) -> None:
        data = self.so.read()
        if data:
            self.flights.append((False, data))
            self.ci.write(data)

    def handshake(self, first: bytes | None) -> bool:
        """Run the handshake; ``first`` (a request) rides with the client's Finished when the
        client finishes last (TLS 1.3, TLS 1.2 resumed). Whether ``first`` was sent."""
        want = self.ssl.SSLWantReadError
        c_done = s_done = sent = False
        for _ in range(10):
            if not c_done:
                try:
                    self.c.do_handshake()
                    c_done = True
                    if first is not None and self.co.pending:
                        self.c.write(first)
                        sent = True
                except want:
                    pass
            self.ship_c()
            if not s_done:
                try:
                    self.s.do_handshake()
                    s_done = True
                except want:
                    pass
            if not sent:  # else its tickets go with the first response
                self.ship_s()
            if c_done and s_done:
                return sent
        raise RuntimeError("TLS handshake did not complete")

    @staticmethod
    def read_exact(obj: ssl.SSLObject, n: int) -> bytes:
        got = b""
        while len(got) < n:
            got += obj.read(n - len(got))
        return got

    def exchange(self, request: bytes, response: bytes, sent: bool) -> None:
        if not sent:
            self.c.write(request)
            self.ship_c()
        if self.read_exact(self.s, len(request)) != request:
            raise RuntimeError("request garbled")
        self.s.write(response)
        self.ship_s()
        if self.read_exact(self.c, len(response)) != response:
            raise RuntimeError("response garbled")

    def close_notify(self, client_first: bool, answered: bool) -> None:
        mod = self.ssl
        first, second = (self.c, self.s) if client_first else (self.s, self.c)
        ships = (self.ship_c, self.ship_s) if client_first else (self.ship_s, self.ship_c)
        try:
            first.unwrap()
        except mod.SSLWantReadError:
            pass
        ships[0]()
        try:
            if second.read(1) != b"":
                raise RuntimeError("close_notify expected")
        except mod.SSLZeroReturnError:
            pass
        if answered:
            second.unwrap()
            ships[1]()


class TlsGenerator(Base):
    workload = "tls"
    servers = TLS_SERVERS

    def __init__(self, seed: int, keys: Path) -> None:
        super().__init__(seed)
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-tls-")
        tmp = Path(self.tmp.name)
        mod = self.ssl = import_ssl(tmp)
        pem = self_signed(tmp)
        keys.unlink(missing_ok=True)  # the key log is appended to
        self.sctx = mod.SSLContext(mod.PROTOCOL_TLS_SERVER)
        self.sctx.load_cert_chain(pem)
        self.sctx.set_ciphers(TLS12_SUITE)
        self.sctx.set_alpn_protocols(["http/1.1"])
        self.cctx: dict[str, ssl.SSLContext] = {}
        for version in ("TLS 1.3", "TLS 1.2"):
            ctx = mod.SSLContext(mod.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = mod.CERT_NONE
            if version == "TLS 1.3":
                ctx.minimum_version = mod.TLSVersion.TLSv1_3
            else:
                ctx.maximum_version = mod.TLSVersion.TLSv1_2
                ctx.set_ciphers(TLS12_SUITE)
            ctx.set_alpn_protocols(["http/1.1"])
            ctx.keylog_filename = str(keys)
            self.cctx[version] = ctx
        self.sessions: dict[str, list[tuple[int, ssl.SSLSession]]] = {"TLS 1.3": [],
                                                                      "TLS 1.2": []}
        self.pool: list[TlsConn] = []
        self.sent = 0
        self.made = 0

    def close(self) -> None:
        self.tmp.cleanup()

    def _request(self) -> bytes:
        rng = self.rng
        self.counter += 1
        n = self.counter
        if rng.random() < 0.1:
            body = BODY[:rng.randrange(50, 2000)]
            return (b"POST /api/items/%d HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench-tls\r\n"
                    b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                    % (n, SNI.encode(), len(body))) + body
        return (b"GET /static/%d HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench-tls\r\n"
                b"Accept: */*\r\n\r\n" % (n, SNI.encode()))

    def _response(self) -> bytes:
        rng = self.rng
        size = rng.randrange(100, 20001)
        start = rng.randrange(0, 65536 - size)
        return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                b"Server: bench\r\n\r\n" % size) + BODY[start:start + size]

    def _make(self) -> TlsConn:
        """A new TLS connection, from a plan drawn from the seeded generator."""
        rng = self.rng
        version = "TLS 1.3" if rng.random() < 0.7 else "TLS 1.2"
        want_resume = rng.random() < 0.35
        early = rng.random() < 0.5
        nreq = rng.randrange(1, 11)
        exchanges = [(self._request(), self._response()) for _ in range(nreq)]
        close = rng.random()  # < 0.5 client close_notify, < 0.7 server's, else none
        answered = rng.random() < 0.5
        client_closes = close < 0.5 if close < 0.7 else rng.random() < 0.6
        old = [s for k, s in self.sessions[version] if k <= self.made - SESSION_LAG]
        session = rng.choice(old[-50:]) if want_resume and old else None

        pair = TlsPair(self.ssl, self.cctx[version], self.sctx, session)
        sent = pair.handshake(exchanges[0][0] if early else None)
        got, suite = pair.c.version(), (pair.c.cipher() or ("",))[0]
        if got != version.replace(" ", "v") or suite not in (TLS13_SUITE, TLS12_SUITE):
            raise RuntimeError(f"negotiated {got} {suite}, wanted {version}")
        for i, (req, resp) in enumerate(exchanges):
            pair.exchange(req, resp, sent and i == 0)
        if close < 0.7:
            pair.close_notify(client_first=close < 0.5, answered=answered)
        if not pair.c.session_reused and pair.c.session is not None:
            self.sessions[version].append((self.made, pair.c.session))
            del self.sessions[version][:-200]
        self.made += 1
        return TlsConn(pair.flights, version, bool(pair.c.session_reused), nreq, client_closes)

    def new_connection(self) -> Iterator[bytes]:
        if len(self.pool) < TLS_POOL:
            conn = self._make()
            self.pool.append(conn)
        else:
            conn = self.pool[self.sent % TLS_POOL]
        self.sent += 1
        record = {"requests": conn.requests, "version": conn.version,
                  "handshake": "resumed" if conn.resumed else "full"}
        return self.connection(self.endpoints(), conn.flights, conn.client_closes, record,
                               conn.requests)

    def finish(self) -> None:
        per = self.truth.per_connection
        self.truth.extra = {
            "responses": self.truth.requests,
            "versions": {v: sum(1 for c in per if c["version"] == v)
                         for v in ("TLS 1.3", "TLS 1.2")},
            "handshakes": {h: sum(1 for c in per if c["handshake"] == h)
                           for h in ("full", "resumed")},
            "distinct_tls_connections": len(self.pool),
            "cipher_suites": {"TLS 1.3": TLS13_SUITE, "TLS 1.2": TLS12_SUITE},
        }


# --------------------------------------------------------------------------- h2c


def h2_frame(ftype: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return H2_FRAME.pack(n >> 16, n & 0xFFFF, ftype, flags, stream) + payload


def h2_settings(pairs: list[tuple[int, int]]) -> bytes:
    return h2_frame(H2_SETTINGS, 0, 0, b"".join(struct.pack("!HI", k, v) for k, v in pairs))


class H2cGenerator(Base):
    workload = "h2c"
    servers = H2C_SERVERS

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.goaway = 0

    def new_connection(self) -> Iterator[bytes]:
        from hpack import Encoder

        rng = self.rng
        ends = self.endpoints()
        authority = endpoint(ends[0], ends[1]).removesuffix(":80")
        cenc, senc = Encoder(), Encoder()
        nstreams = rng.randrange(1, 21)
        flights: list[Flight] = []
        client = [H2_PREFACE, h2_settings([(2, 0), (4, 6291456), (6, 262144)]),
                  h2_frame(H2_WINDOW_UPDATE, 0, 0, struct.pack("!I", 15663105))]
        server = [h2_settings([(3, 100), (4, 65535), (5, MAX_FRAME)]),
                  h2_frame(H2_SETTINGS, FLAG_ACK, 0)]
        sid = 1
        done = 0
        max_batch = 0
        ping = rng.random() < 0.1
        while done < nstreams:
            batch = 1 if rng.random() < 0.5 else rng.randrange(1, 7)
            batch = min(batch, nstreams - done)
            max_batch = max(max_batch, batch)
            if done and ping and rng.random() < 0.3:
                client.append(h2_frame(H2_PING, 0, 0, rng.randbytes(8)))
                server.insert(0, h2_frame(H2_PING, FLAG_ACK, 0, client[-1][9:]))
            bodies: list[tuple[int, bytes]] = []
            for _ in range(batch):
                self.counter += 1
                n = self.counter
                if rng.random() < 0.1:
                    body = BODY[:rng.randrange(100, 5000)]
                    block = cenc.encode([(":method", "POST"), (":scheme", "http"),
                                         (":authority", authority),
                                         (":path", f"/api/items/{n}"),
                                         ("user-agent", "bench-h2c"),
                                         ("content-type", "text/plain"),
                                         ("content-length", str(len(body)))])
                    client.append(h2_frame(H2_HEADERS, END_HEADERS, sid, block))
                    client.append(h2_frame(H2_DATA, END_STREAM, sid, body))
                else:
                    block = cenc.encode([(":method", "GET"), (":scheme", "http"),
                                         (":authority", authority),
                                         (":path", f"/static/{n}"),
                                         ("user-agent", "bench-h2c"), ("accept", "*/*")])
                    client.append(h2_frame(H2_HEADERS, END_HEADERS | END_STREAM, sid, block))
                if rng.random() < 0.05:
                    block = senc.encode([(":status", "204"), ("server", "bench")])
                    server.append(h2_frame(H2_HEADERS, END_HEADERS | END_STREAM, sid, block))
                else:
                    size = rng.randrange(100, 20001)
                    start = rng.randrange(0, 65536 - size)
                    block = senc.encode([(":status", "200"), ("content-type", "text/plain"),
                                         ("content-length", str(size)), ("server", "bench")])
                    server.append(h2_frame(H2_HEADERS, END_HEADERS, sid, block))
                    bodies.append((sid, BODY[start:start + size]))
                sid += 2
            chunk = rng.choice((4096, 8192, MAX_FRAME))
            while bodies:  # DATA frames round robin across the batch's streams
                rest = []
                for stream, body in bodies:
                    last = len(body) <= chunk
                    server.append(h2_frame(H2_DATA, END_STREAM if last else 0, stream,
                                           body[:chunk]))
                    if not last:
                        rest.append((stream, body[chunk:]))
                bodies = rest
            flights.append((True, b"".join(client)))
            flights.append((False, b"".join(server)))
            client, server = [], []
            if done == 0:
                client.append(h2_frame(H2_SETTINGS, FLAG_ACK, 0))  # goes with the next batch
            done += batch
        if client:
            flights.append((True, b"".join(client)))
        goaway = rng.random() < 0.3
        if goaway:
            flights.append((False, h2_frame(H2_GOAWAY, 0, 0, struct.pack("!II", sid - 2, 0))))
            self.goaway += 1
        record = {"requests": nstreams, "streams": nstreams, "max_concurrent_streams": max_batch,
                  "goaway_by": "server" if goaway else None}
        return self.connection(ends, flights, not goaway and rng.random() < 0.8, record,
                               nstreams)

    def finish(self) -> None:
        self.truth.extra = {"responses": self.truth.requests, "streams": self.truth.requests,
                            "goaway_by_server": self.goaway}


# --------------------------------------------------------------------------- main


def generate(workload: str, out: Path, packets: int, seed: int) -> Truth:
    """Write ``out`` (pcap), ``out.truth.json`` and, for tls, ``out.keys``; return the truth."""
    gen: Base = TlsGenerator(seed, keys_path_for(out)) if workload == "tls" \
        else H2cGenerator(seed)
    try:
        with open(out, "wb", buffering=1 << 20) as f:
            written, _added = write_interleaved(f, gen.rng, gen.new_connection, packets)
    finally:
        gen.close()
    truth = gen.truth
    truth.packets = truth.tcp_packets = written
    gen.finish()
    truth_path_for(out).write_text(json.dumps(truth.as_json(seed, packets), indent=1) + "\n")
    return truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("workload", choices=WORKLOADS, help="tls or h2c")
    parser.add_argument("out", type=Path, help="pcap file to write (truth and keys go next "
                                               "to it)")
    parser.add_argument("--packets", type=int, default=100_000,
                        help="minimum number of packets (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    if args.packets < 1:
        parser.error("--packets must be >= 1")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    truth = generate(args.workload, args.out, args.packets, args.seed)
    dt = time.perf_counter() - t0
    size = args.out.stat().st_size
    keys = f", {keys_path_for(args.out)}" if args.workload == "tls" else ""
    print(f"wrote {args.out} ({truth.packets} packets, {truth.connections} connections, "
          f"{truth.requests} requests, {size / 1e6:.0f} MB), {truth_path_for(args.out)}"
          f"{keys} in {dt:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
