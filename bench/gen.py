"""Deterministic synthetic HTTP/1.1 capture generator for the keepalive-analyzer benchmark.

Writes a classic little-endian pcap (link type Ethernet, microsecond timestamps) full of
interleaved TCP connections carrying HTTP/1.1, plus a ``.truth.json`` next to it that says
what an exact analyzer must find (connections, requests, responses, per server, labels).

Usage::

    python bench/gen.py OUT.pcap --packets 1000000 --seed 1

Traffic model (all TCP state is exact: random initial sequence numbers, some close to 2**32
so the sequence space wraps, every byte ACKed only after it was sent, no gaps):

* servers ``10.0.0.1:80``, ``10.0.0.2:8080``, ``10.0.0.3:80``, ``[fd00::1]:80``,
  ``[fd00::2]:8080``; 200 IPv4 and 56 IPv6 clients with increasing ephemeral ports;
* **persistent** connections: 2-10 requests each, closed by a client or server FIN;
* **per-request** connections: exactly 1 request, the client sends the first FIN;
* **reset** connections: 1-4 requests, then a RST from the client or the server;
* every connection starts with a full handshake (SYN, SYN-ACK, ACK); responses use
  Content-Length (small, or split over several 1448-byte segments) or chunked encoding
  (several chunks, segmented regardless of chunk boundaries, except that the final
  ``0\r\n\r\n`` is never split: tshark 4.0 misparses that); the receiver sends pure ACKs;
* about 48 connections are open at any time and their packets are interleaved at random;
* a few UDP datagrams (not TCP) are mixed in, so ``packets != tcp_packets``.

The packet count is at least ``--packets``: once that many packets are written no new
connection is started, and the open ones are completed (so every connection in the file is
whole and the truth is exact). IPv4 header checksums are valid; TCP/UDP checksums are 0.
Standard library only; frames are packed with precompiled ``struct.Struct`` templates.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import struct
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

GENERATOR_VERSION = 2
MSS = 1448
CONCURRENCY = 48
EPOCH_US = 1_732_550_000 * 1_000_000
UDP_EVERY = 2000  # one UDP datagram per this many packets, on average
WINDOW = 64240

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

PCAP_GLOBAL = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
PCAP_REC = struct.Struct("<IIII")
# Ethernet (14, prebuilt) + IPv4 (20) + TCP (20, no options)
TCP4 = struct.Struct("!14sBBHHHBBH4s4sHHIIBBHHH")
# Ethernet (14, prebuilt) + IPv6 (40) + TCP (20, no options)
TCP6 = struct.Struct("!14sIHBB16s16sHHIIBBHHH")
UDP4 = struct.Struct("!14sBBHHHBBH4s4sHHHH")

MAC_CLIENT = bytes.fromhex("020000000001")
MAC_SERVER = bytes.fromhex("020000000002")

# server address, port, share of connections, (persistent, per-request, reset) weights
SERVERS: list[tuple[str, int, float, tuple[int, int, int]]] = [
    ("10.0.0.1", 80, 0.35, (70, 20, 10)),
    ("10.0.0.2", 8080, 0.25, (15, 80, 5)),
    ("10.0.0.3", 80, 0.15, (40, 30, 30)),
    ("fd00::1", 80, 0.15, (60, 30, 10)),
    ("fd00::2", 8080, 0.10, (40, 50, 10)),
]
N_CLIENTS4 = 200
N_CLIENTS6 = 56

BODY = (b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_\n" * 1100)[:65536]

Emit = Callable[[int, int, int, bytes], bytes]


def endpoint(addr: str, port: int) -> str:
    """Format an endpoint like the output contract: ``10.0.0.1:80`` or ``[fd00::1]:80``."""
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _sum16(data: bytes) -> int:
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def make_emitter(src: str, dst: str, sport: int, dport: int, smac: bytes, dmac: bytes,
                 ident0: int) -> Emit:
    """Return ``emit(seq, ack, flags, payload) -> frame`` for one direction of a connection.

    ``ident0`` is the IPv4 identification before the first packet (ignored for IPv6).
    """
    sip = ipaddress.ip_address(src).packed
    dip = ipaddress.ip_address(dst).packed
    if len(sip) == 4:
        eth = dmac + smac + b"\x08\x00"
        pack4 = TCP4.pack
        # constant part of the IPv4 header checksum: 0x4500, flags DF, ttl 64 / proto 6
        base = 0x4500 + 0x4000 + 0x4006 + _sum16(sip) + _sum16(dip)
        ident = [ident0]

        def emit4(seq: int, ack: int, flags: int, payload: bytes) -> bytes:
            total = 40 + len(payload)
            i = ident[0] = (ident[0] + 1) & 0xFFFF
            s = base + total + i
            s = (s & 0xFFFF) + (s >> 16)
            s = (s & 0xFFFF) + (s >> 16)
            return pack4(eth, 0x45, 0, total, i, 0x4000, 64, 6, ~s & 0xFFFF, sip, dip,
                         sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags,
                         WINDOW, 0, 0) + payload

        return emit4
    eth6 = dmac + smac + b"\x86\xdd"
    pack6 = TCP6.pack

    def emit6(seq: int, ack: int, flags: int, payload: bytes) -> bytes:
        return pack6(eth6, 0x60000000, 20 + len(payload), 6, 64, sip, dip, sport, dport,
                     seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, WINDOW, 0, 0) + payload

    return emit6


def udp_frame(rng: random.Random, client: str) -> bytes:
    """A small DNS-looking UDP datagram from an IPv4 client (non-TCP noise)."""
    sip = ipaddress.ip_address(client).packed
    dip = ipaddress.ip_address("10.0.0.53").packed
    payload = rng.getrandbits(16).to_bytes(2, "big") + b"\x01\x00\x00\x01" + b"\x00" * 6
    payload += b"\x07example\x03com\x00\x00\x01\x00\x01"
    total = 28 + len(payload)
    ident = rng.getrandbits(16)
    s = 0x4500 + 0x4000 + 0x4011 + _sum16(sip) + _sum16(dip) + total + ident
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    eth = MAC_SERVER + MAC_CLIENT + b"\x08\x00"
    return UDP4.pack(eth, 0x45, 0, total, ident, 0x4000, 64, 17, ~s & 0xFFFF, sip, dip,
                     rng.randrange(1024, 65535), 53, 8 + len(payload), 0) + payload


@dataclass
class Truth:
    """What the capture contains; serialised as OUT.truth.json."""

    packets: int = 0
    tcp_packets: int = 0
    connections: int = 0
    requests: int = 0
    responses: int = 0
    per_server: dict[str, dict[str, int]] = field(default_factory=dict)
    rst_connections: int = 0
    persistent_connections: int = 0
    per_request_connections: int = 0

    def as_json(self, seed: int, requested: int) -> dict[str, object]:
        return {
            "packets": self.packets,
            "tcp_packets": self.tcp_packets,
            "connections": self.connections,
            "requests": self.requests,
            "responses": self.responses,
            "per_server": self.per_server,
            "rst_connections": self.rst_connections,
            "persistent_connections": self.persistent_connections,
            "per_request_connections": self.per_request_connections,
            "generator": {"version": GENERATOR_VERSION, "seed": seed,
                          "requested_packets": requested},
        }


class Generator:
    """Builds connections (as iterators of frames) and keeps the truth up to date."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.truth = Truth()
        self.clients4 = [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(N_CLIENTS4)]
        self.clients6 = [f"fd00::100:{i + 1:x}" for i in range(N_CLIENTS6)]
        self.next_port: dict[str, int] = {
            c: self.rng.randrange(32768, 40000) for c in self.clients4 + self.clients6
        }
        self.server_cum: list[float] = []
        acc = 0.0
        for _, _, share, _ in SERVERS:
            acc += share
            self.server_cum.append(acc)
        for addr, port, _, _ in SERVERS:
            self.truth.per_server[endpoint(addr, port)] = {"connections": 0, "requests": 0}
        self.path_counter = 0

    def _isn(self) -> int:
        rng = self.rng
        if rng.random() < 0.1:  # near 2**32: the sequence space wraps inside the connection
            return (1 << 32) - rng.randrange(1, 40000)
        return rng.getrandbits(32)

    def _request(self, host: str) -> bytes:
        rng = self.rng
        self.path_counter += 1
        n = self.path_counter
        if rng.random() < 0.1:
            body = b'{"item": %d, "note": "%s"}' % (n, BODY[: rng.randrange(10, 300)].strip())
            return (b"POST /api/items/%d HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench\r\n"
                    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                    % (n, host.encode(), len(body))) + body
        return (b"GET /path/%d HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench\r\n"
                b"Accept: */*\r\n\r\n" % (n, host.encode()))

    def _response(self) -> bytes:
        rng = self.rng
        r = rng.random()
        if r < 0.08:
            body = b"not found\n"
            return (b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                    b"Content-Length: %d\r\nServer: bench\r\n\r\n" % len(body)) + body
        if r < 0.20:  # chunked, several chunks
            while True:
                parts = [b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Transfer-Encoding: chunked\r\nServer: bench\r\n\r\n"]
                for _ in range(rng.randrange(2, 7)):
                    size = rng.randrange(1, 3000)
                    start = rng.randrange(0, 60000)
                    parts.append(b"%x\r\n" % size + BODY[start:start + size] + b"\r\n")
                parts.append(b"0\r\n\r\n")
                resp = b"".join(parts)
                # tshark 4.0 reports "Malformed Packet" and loses the response when a
                # segment boundary splits the final b"0\r\n\r\n"; keep it whole so that
                # tshark can cross-check the truth (chunk-size lines still get split).
                if not 0 < len(resp) % MSS < 5:
                    return resp
        if r < 0.55:  # several 1448-byte segments
            size = rng.randrange(1500, 24000)
        else:
            size = rng.randrange(0, 1300)
        start = rng.randrange(0, 65536 - size)
        return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                b"Server: bench\r\n\r\n" % size) + BODY[start:start + size]

    def new_connection(self) -> Iterator[bytes]:
        """Pick a server, a client and a behaviour; count it in the truth; return its frames."""
        rng = self.rng
        x = rng.random()
        k = 0
        while k < len(SERVERS) - 1 and x >= self.server_cum[k]:
            k += 1
        saddr, sport, _, weights = SERVERS[k]
        v6 = ":" in saddr
        client = rng.choice(self.clients6 if v6 else self.clients4)
        cport = self.next_port[client]
        self.next_port[client] = cport + rng.randrange(1, 4)
        if self.next_port[client] > 60999:
            self.next_port[client] = 32768
        kind = rng.choices(("persistent", "per-request", "reset"), weights)[0]
        if kind == "persistent":
            nreq = rng.randrange(2, 11)
            teardown = "client-fin" if rng.random() < 0.6 else "server-fin"
            self.truth.persistent_connections += 1
        elif kind == "per-request":
            nreq = 1
            teardown = "client-fin"
            self.truth.per_request_connections += 1
        else:
            nreq = rng.randrange(1, 5)
            teardown = "client-rst" if rng.random() < 0.5 else "server-rst"
            self.truth.rst_connections += 1
            if nreq >= 2:
                self.truth.persistent_connections += 1
            else:
                self.truth.per_request_connections += 1
        key = endpoint(saddr, sport)
        host = key if sport != 80 else (f"[{saddr}]" if v6 else saddr)
        t = self.truth
        t.connections += 1
        t.requests += nreq
        t.responses += nreq
        t.per_server[key]["connections"] += 1
        t.per_server[key]["requests"] += nreq
        c = make_emitter(client, saddr, cport, sport, MAC_CLIENT, MAC_SERVER, rng.getrandbits(16))
        s = make_emitter(saddr, client, sport, cport, MAC_SERVER, MAC_CLIENT, rng.getrandbits(16))
        return self._frames(c, s, nreq, teardown, host)

    def _frames(self, c: Emit, s: Emit, nreq: int, teardown: str, host: str) -> Iterator[bytes]:
        rng = self.rng
        cseq = self._isn()
        sseq = self._isn()
        yield c(cseq, 0, SYN, b"")
        cseq += 1
        yield s(sseq, cseq, SYN | ACK, b"")
        sseq += 1
        yield c(cseq, sseq, ACK, b"")
        for _ in range(nreq):
            req = self._request(host)
            yield c(cseq, sseq, PSH | ACK, req)
            cseq += len(req)
            resp = self._response()
            if rng.random() < 0.2:  # server ACKs the request before it answers
                yield s(sseq, cseq, ACK, b"")
            n = len(resp)
            acked = sseq
            for off in range(0, n, MSS):
                seg = resp[off:off + MSS]
                last = off + MSS >= n
                yield s(sseq, cseq, (PSH | ACK) if last else ACK, seg)
                sseq += len(seg)
                if (off // MSS) % 2 == 1 and not last:  # ACK every second segment
                    yield c(cseq, sseq, ACK, b"")
                    acked = sseq
            if acked != sseq and rng.random() < 0.7:
                yield c(cseq, sseq, ACK, b"")
        if teardown == "client-fin":
            yield c(cseq, sseq, FIN | ACK, b"")
            cseq += 1
            if rng.random() < 0.3:
                yield s(sseq, cseq, ACK, b"")
            yield s(sseq, cseq, FIN | ACK, b"")
            sseq += 1
            yield c(cseq, sseq, ACK, b"")
        elif teardown == "server-fin":
            yield s(sseq, cseq, FIN | ACK, b"")
            sseq += 1
            if rng.random() < 0.3:
                yield c(cseq, sseq, ACK, b"")
            yield c(cseq, sseq, FIN | ACK, b"")
            cseq += 1
            yield s(sseq, cseq, ACK, b"")
        elif teardown == "client-rst":
            yield c(cseq, sseq, RST | ACK, b"")
        else:
            yield s(sseq, cseq, RST | ACK, b"")


def write_interleaved(
    f: BinaryIO, rng: random.Random, new_connection: Callable[[], Iterator[bytes]],
    packets: int, extra: Callable[[], bytes | None] | None = None,
) -> tuple[int, int]:
    """Write to ``f`` a pcap of CONCURRENCY connections at a time (``new_connection()``
    gives one's frames), their packets interleaved at random, 1-200 µs apart; no new
    connection starts once ``packets`` are written, and the open ones are completed.
    ``extra()``, asked after each packet, may give one frame to add after it (not a
    connection's). Returns (frames written, of which extra)."""
    rand = rng.random
    rec = PCAP_REC.pack
    write = f.write
    active: list[Iterator[bytes]] = [new_connection() for _ in range(CONCURRENCY)]
    t_us = EPOCH_US
    written = added = 0

    def emit(frame: bytes) -> None:
        nonlocal t_us, written
        t_us += 1 + int(rand() * 200)
        ln = len(frame)
        write(rec(t_us // 1_000_000 & 0xFFFFFFFF, t_us % 1_000_000, ln, ln))
        write(frame)
        written += 1

    write(PCAP_GLOBAL)
    while active:
        n = len(active)
        i = int(rand() * n)
        frame = next(active[i], None)
        if frame is None:
            if written < packets:
                active[i] = new_connection()
            else:
                active[i] = active[n - 1]
                active.pop()
            continue
        emit(frame)
        more = extra() if extra is not None else None
        if more is not None:
            emit(more)
            added += 1
    return written, added


def generate(out: Path, packets: int, seed: int) -> Truth:
    """Write ``out`` (pcap) and ``out.truth.json``; return the truth."""
    gen = Generator(seed)
    rng = gen.rng
    truth = gen.truth

    def udp() -> bytes | None:
        if rng.random() * UDP_EVERY < 1.0:
            return udp_frame(rng, rng.choice(gen.clients4))
        return None

    with open(out, "wb", buffering=1 << 20) as f:
        written, added = write_interleaved(f, rng, gen.new_connection, packets, udp)
    truth.packets = written
    truth.tcp_packets = written - added
    truth_path = truth_path_for(out)
    truth_path.write_text(json.dumps(truth.as_json(seed, packets), indent=2) + "\n")
    return truth


def truth_path_for(pcap: Path) -> Path:
    """``x/bench-1m.pcap`` -> ``x/bench-1m.truth.json``."""
    return pcap.with_name(pcap.stem + ".truth.json") if pcap.suffix == ".pcap" \
        else pcap.with_name(pcap.name + ".truth.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("out", type=Path, help="pcap file to write (truth goes next to it)")
    parser.add_argument("--packets", type=int, default=1_000_000,
                        help="minimum number of packets (default 1000000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    if args.packets < 1:
        parser.error("--packets must be >= 1")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    truth = generate(args.out, args.packets, args.seed)
    dt = time.perf_counter() - t0
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({truth.packets} packets, {truth.connections} connections, "
          f"{truth.requests} requests, {size / 1e6:.0f} MB) and {truth_path_for(args.out)} "
          f"in {dt:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
