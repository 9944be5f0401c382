"""The invariant every capture must keep (shared by the fuzz harness and the replay test):
any byte string yields an Analysis whose JSON is the contract, or a CaptureError."""

from __future__ import annotations

import json

from analyzer.errors import CaptureError
from analyzer.pipeline import analyze_bytes


def check(data: bytes) -> None:
    try:
        a = analyze_bytes(data, "fuzz.pcap")
    except CaptureError:
        return
    d = json.loads(a.to_json())
    assert d["schema"] == "keepalive-analyzer/1"
    assert len(d["connections"]) == len(a.connection_records)
    assert len(d["exchanges"]) == a.exchange_count
    for c in d["connections"]:
        assert c["label"] in ("persistent", "per-request", "unused", "not-http")
