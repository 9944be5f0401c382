"""Coverage-guided fuzzing of the TLS reader (analyzer.core.tls) with atheris (libFuzzer).

The invariant, in one line: any bytes in either direction of a TlsSession, with gaps and
ends anywhere, with or without a key log, never raise; facts() is the contract (its keys,
JSON-serialisable, a known handshake value and reason) and no secret shows.

    python tests/fuzz/fuzz_tls.py CORPUS_DIR -max_total_time=300

The input is a small program (:func:`encode` writes one from a conversation, so a real
TLS 1.2/1.3 conversation from tests/tlsgen.py makes a good seed; tests/test_tls.py does
that and runs a short session):

    flags(1): bit 0 midstream, bit 1 a key log follows
    [key log length (2, big-endian), key log text]      when bit 1
    then operations until the input ends, each a byte ``op`` and its operands:
      op & 0x80: direction (set: server → client)
      op & 0x03 == 0 or 1: data — length (2), bytes (cut short at the end of the input)
      op & 0x03 == 2: gap — length (2)
      op & 0x03 == 3: eof
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

if __name__ == "__main__":
    import atheris

    with atheris.instrument_imports():
        from analyzer.core import tls
        from analyzer.core.keylog import KeyLog
else:  # imported by tests/test_tls.py to replay inputs: no atheris needed
    from analyzer.core import tls
    from analyzer.core.keylog import KeyLog

FACT_KEYS = frozenset({
    "version", "sni", "alpn_offered", "alpn", "handshake", "hello_retry", "client_hellos",
    "cipher_suite", "records_client", "records_server", "decrypted", "why_not_decrypted",
    "alert", "close_notify_by",
})
MAX_OPS = 256


class _Sink:
    def __init__(self) -> None:
        self.n = 0

    def data(self, buf: bytes, start: int, end: int, ts: float) -> None:
        assert 0 <= start <= end <= len(buf)
        self.n += end - start

    def gap(self, n: int, ts: float) -> None:
        assert n >= 0

    def eof(self, ts: float) -> None:
        pass


def encode(segments: Sequence[tuple[int, bytes]], keylog: bytes | None = None,
           midstream: bool = False) -> bytes:
    """A fuzz input that feeds ``segments`` (direction, bytes) then ends both sides."""
    out = bytearray([(1 if midstream else 0) | (2 if keylog else 0)])
    if keylog:
        out += len(keylog[:0xFFFF]).to_bytes(2, "big") + keylog[:0xFFFF]
    for d, data in segments:
        for i in range(0, len(data), 0xFFFF):
            piece = data[i : i + 0xFFFF]
            out += bytes([0x80 if d else 0]) + len(piece).to_bytes(2, "big") + piece
    out += b"\x03\x83"
    return bytes(out)


def check(data: bytes) -> None:
    if not data:
        return
    flags, pos = data[0], 1
    keylog = None
    secrets: list[bytes] = []
    if flags & 2:
        n = int.from_bytes(data[pos : pos + 2], "big")
        text = data[pos + 2 : pos + 2 + n]
        pos += 2 + n
        keylog = KeyLog(text)
    inner = (_Sink(), _Sink())
    session = tls.TlsSession(keylog, lambda protocol: inner, bool(flags & 1))
    sinks = session.sinks()
    ops = 0
    while pos < len(data) and ops < MAX_OPS:
        op = data[pos]
        pos += 1
        ops += 1
        sink = sinks[1 if op & 0x80 else 0]
        kind = op & 3
        if kind == 3:
            sink.eof(float(ops))
            continue
        n = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if kind == 2:
            sink.gap(n, float(ops))
        else:
            sink.data(data, pos, min(pos + n, len(data)), float(ops))
            pos += n
    facts = session.facts()
    assert set(facts) == FACT_KEYS, facts
    shown = json.dumps(facts) + repr(session) + repr(session.sides)
    assert facts["handshake"] in (None, "full", "resumed", "failed")
    reason = facts["why_not_decrypted"]
    assert reason is None or str(reason).startswith(tls.REASONS), reason
    assert set(session.anomalies) <= set(tls.ANOMALIES), session.anomalies
    assert session.turns <= session.records_server
    if keylog is not None and session.client_random:
        secrets = list((keylog.secrets(session.client_random) or {}).values())
    for secret in secrets:
        assert secret.hex() not in shown


def main() -> None:
    import atheris

    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
