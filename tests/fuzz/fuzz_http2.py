"""Coverage-guided fuzzing of the HTTP/2 reader (:mod:`analyzer.core.http2`) with atheris.

The invariant, in one line: any two byte streams, cut anywhere and with bytes lost
anywhere, read as the two directions of an HTTP/2 connection, give an
:class:`~analyzer.core.http2.H2Conversation` whose counts agree with each other and whose
anomalies have known names — never an exception, never a hang.

    python tests/fuzz/fuzz_http2.py CORPUS_DIR -max_total_time=300
    python tests/fuzz/fuzz_http2.py --write-seeds CORPUS_DIR   # the seeds below, as files

An input is read as: byte 0, options (bit 0: midstream; bit 1: the client preface goes
before the client's bytes); byte 1 and byte 2, the client's and the server's segment
sizes (n + 1); byte 3, where bytes are lost (0: nowhere; n: 7·n bytes after each
side's n-th segment); bytes 4-5, the client part's length (big-endian, at most what is
left); then the client's bytes, then the server's.
"""

from __future__ import annotations

import os
import sys

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEAD = 6


def split(data: bytes) -> tuple[int, int, int, int, bytes, bytes]:
    """(options, client segment size, server segment size, gap, client, server)."""
    options, csize, ssize, gap = data[0], data[1] + 1, data[2] + 1, data[3]
    n = min(int.from_bytes(data[4:6], "big"), len(data) - HEAD)
    client = data[HEAD : HEAD + n]
    if options & 2:
        client = PREFACE + client
    return options, csize, ssize, gap, client, data[HEAD + n :]


def check(data: bytes) -> None:
    from analyzer.core.http2 import ANOMALIES, H2Conversation

    if len(data) < HEAD:
        return
    options, csize, ssize, gap, client, server = split(data)
    conv = H2Conversation(midstream=bool(options & 1), cid="C1")
    readers = (conv.requests_reader, conv.responses_reader)
    streams = (client, server)
    sizes = (csize, ssize)
    at = [0, 0]
    segments = [0, 0]
    ts = 0.0
    side = 0
    while at[0] < len(client) or at[1] < len(server):
        ts += 0.25
        side = 1 - side
        chunk = streams[side]
        if at[side] >= len(chunk):
            continue
        segments[side] += 1
        if gap and segments[side] % (gap + 1) == 0:
            readers[side].gap(7 * gap, ts)
            at[side] += 7 * gap
            continue
        end = min(len(chunk), at[side] + sizes[side])
        readers[side].data(chunk, at[side], end, ts)
        at[side] = end
    readers[0].eof(ts)
    readers[1].eof(ts)
    facts = conv.facts()
    assert facts["streams"] == conv.count
    assert facts["rst_streams"] == facts["rst_by_client"] + facts["rst_by_server"]
    assert 0 <= conv.open == len(conv.streams) <= conv.max_open <= conv.count
    assert conv.requests <= conv.count and conv.responses <= conv.count
    assert all(isinstance(e.stream, int) for e in conv.exchanges)
    assert set(conv.anomalies) <= set(ANOMALIES), conv.anomalies
    conv.release()


# ---------------------------------------------------------------- seeds
def _frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    head = len(payload).to_bytes(3, "big") + bytes((ftype, flags)) + sid.to_bytes(4, "big")
    return head + payload


def _input(client: bytes, server: bytes, options: int = 0, csize: int = 255, ssize: int = 255,
           gap: int = 0) -> bytes:
    return bytes((options, csize, ssize, gap)) + len(client).to_bytes(2, "big") + client + server


def seeds() -> list[bytes]:
    """Small valid conversations, one for each kind of frame and path through the reader."""
    from hpack import Encoder

    c, s = Encoder(), Encoder()
    settings = _frame(4, 0, 0, b"\0\x03\0\0\0\x64\0\x04\0\x01\0\0")
    ack = _frame(4, 1, 0)

    def req(sid: int, path: str, flags: int = 5) -> bytes:
        block = c.encode([(":method", "GET"), (":scheme", "http"), (":authority", "a"),
                          (":path", path), ("user-agent", "fuzz")])
        return _frame(1, flags, sid, block)

    def resp(sid: int, status: int, flags: int = 4) -> bytes:
        return _frame(1, flags, sid, s.encode([(":status", str(status)), ("server", "seed")]))

    out = []
    # a request, its response with a body, a ping, GOAWAY
    client = settings + ack + req(1, "/") + _frame(6, 0, 0, b"12345678")
    server = (settings + ack + resp(1, 200) + _frame(0, 1, 1, b"hello")
              + _frame(7, 0, 0, b"\0\0\0\1\0\0\0\0"))
    out.append(_input(client, server, options=2))
    # CONTINUATION, padding and priority, trailers, RST_STREAM, WINDOW_UPDATE
    post = [(":method", "POST"), (":scheme", "http"), (":authority", "a"), (":path", "/p")]
    block = c.encode(post)
    client = (settings + _frame(1, 0x28, 3, b"\x02\x80\0\0\0\x10" + block[:3] + b"\0\0")
              + _frame(9, 4, 3, block[3:]) + _frame(0, 9, 3, b"\x01x\0")
              + _frame(8, 0, 0, b"\0\0\x10\0"))
    server = settings + resp(3, 100) + resp(3, 200) + _frame(3, 0, 3, b"\0\0\0\x08")
    out.append(_input(client, server, options=2, csize=4, ssize=9))
    # PUSH_PROMISE and the pushed stream
    client = settings + req(5, "/index")
    pushed = [(":method", "GET"), (":scheme", "http"), (":authority", "a"), (":path", "/x.css")]
    promise = s.encode(pushed)
    server = settings + _frame(5, 4, 5, b"\0\0\0\x02" + promise) + resp(5, 200, 5) + resp(2, 200, 5)
    out.append(_input(client, server, options=2))
    # midstream: no preface, a response to a stream not seen
    out.append(_input(req(7, "/m"), resp(5, 204, 5) + resp(7, 200, 5), options=1, csize=2, ssize=2))
    # bytes lost: a gap every few segments
    client = settings + b"".join(req(sid, f"/{sid}") for sid in (9, 11, 13))
    server = settings + b"".join(resp(sid, 200, 5) for sid in (9, 11, 13))
    out.append(_input(client, server, options=2, csize=6, ssize=6, gap=3))
    # SETTINGS that change the frame size and table size, a large DATA frame
    client = _frame(4, 0, 0, b"\0\x05\0\x01\0\0\0\x01\0\0\x10\0") + req(15, "/big")
    server = settings + resp(15, 200) + _frame(0, 1, 15, b"z" * 20000)
    out.append(_input(client, server, options=2, csize=100, ssize=200))
    return out


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--write-seeds":
        os.makedirs(sys.argv[2], exist_ok=True)
        for i, seed in enumerate(seeds()):
            with open(os.path.join(sys.argv[2], f"seed-{i}"), "wb") as fh:
                fh.write(seed)
        return
    import atheris

    with atheris.instrument_imports():
        import analyzer.core.http2  # noqa: F401  (instrumented before check imports it)
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
