"""Golden captures recorded from real programs on loopback (captures/, recipes in
captures/scenarios/).

Two checks per capture:

* the facts in captures/expected/NAME.json, established from the wire with tshark when
  the capture was recorded (connections, requests per connection, who closed each,
  verdict and diagnosis) — independent of this code;
* the full JSON output against a checked-in baseline in tests/golden/ (minus the
  capture path), so any change in output shows as a diff a human reads. Update with
  ``pytest tests/test_golden.py --update-golden`` and review ``git diff tests/golden``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import analyzer
from tests.conftest import CAPTURES, ROOT

EXPECTED = sorted((CAPTURES / "expected").glob("*.json"))
GOLDEN = ROOT / "tests" / "golden"


def _load(p: Path) -> dict:
    return json.loads(p.read_text())


def _keylog(e: dict) -> str | None:
    return str(CAPTURES / e["keylog"]) if "keylog" in e else None


@pytest.mark.parametrize("expected", EXPECTED, ids=[p.stem for p in EXPECTED])
def test_wire_facts(expected: Path) -> None:
    e = _load(expected)
    a = analyzer.analyze(str(CAPTURES / e["capture"]), tls_keylog=_keylog(e))
    conns = [c for c in a.connection_records if c.server == e["server"]]
    assert len(conns) == e["connections"]
    assert [len(c.exchanges) for c in conns] == e["requests_per_connection"]
    if "protocol_per_connection" in e:
        assert [c.protocol for c in conns] == e["protocol_per_connection"]
    if "tls_handshake_per_connection" in e:
        assert [c.tls and c.tls["handshake"] for c in conns] == (
            e["tls_handshake_per_connection"]
        )
    if "tls_version" in e:
        assert {c.tls and c.tls["version"] for c in conns} == {e["tls_version"]}
    if "h2_streams_per_connection" in e:
        assert [c.http2 and c.http2["streams"] for c in conns] == e["h2_streams_per_connection"]
    if "goaway_by_per_connection" in e:
        assert [c.http2 and c.http2["goaway_by"] for c in conns] == (
            e["goaway_by_per_connection"]
        )
    assert sum(c.requests for c in conns) == e["requests"]
    assert [c.closed_by for c in conns] == e["closed_by"]
    assert [c.label for c in conns] == e["expected_label_per_connection"]
    (server,) = [s for s in a.server_records if s.server == e["server"]]
    assert server.verdict == e["expected_verdict"]
    assert server.diagnosis == e["expected_diagnosis"]
    extra = e.get("extra", {})
    if "request_limit" in extra:
        assert server.request_limit == extra["request_limit"]
    if "proxy" in e:
        assert server.proxy is not None and server.proxy.startswith(e["proxy"])
    for text in e.get("hint_contains", []):  # the fix for the software on the wire
        assert text in server.hint
    for text in e.get("hint_excludes", []):  # … and not another program's
        assert text not in server.hint
    if "uncertain" in e:
        assert server.uncertain == e["uncertain"]
    if "idle_timeout_s" in extra:
        assert server.idle_timeout == pytest.approx(extra["idle_timeout_s"], abs=0.05)
    assert server.evidence and server.hint
    # the server's counts of connection diagnoses agree with the connections
    counts: dict[str, int] = {}
    for c in conns:
        if c.label in ("persistent", "per-request"):  # (an unused one has no diagnosis)
            counts[c.diagnosis or "none"] = counts.get(c.diagnosis or "none", 0) + 1
    assert server.diagnoses == counts
    assert server.handshakes == sum(1 for c in conns if c.handshake_seen)
    if "max_concurrent" in extra:
        assert server.max_concurrent == extra["max_concurrent"]
    for c in conns:
        if c.exchanges:
            assert c.exchanges[0].opened_connection == c.handshake_seen
            assert c.exchanges[-1].closed_connection == (c.closed_by != "open")
    assert all(not cap.truncated for cap in a.capture_records)


TLS_EXPECTED = [p for p in EXPECTED if "keylog" in _load(p)]


@pytest.mark.parametrize("expected", TLS_EXPECTED, ids=[p.stem for p in TLS_EXPECTED])
def test_tls_without_keys(expected: Path) -> None:
    """The same TLS capture without its key log: protocol ``tls``, the handshakes as
    with keys, and for HTTP/1.x one request after another the estimate from the records
    equals the exact count."""
    e = _load(expected)
    a = analyzer.analyze(str(CAPTURES / e["capture"]))
    conns = [c for c in a.connection_records if c.server == e["server"]]
    assert len(conns) == e["connections"]
    assert {c.protocol for c in conns} == {e.get("protocol_without_keys", "tls")}
    assert all(c.tls is not None and not c.tls["decrypted"] for c in conns)
    assert all(c.tls["why_not_decrypted"] for c in conns)  # type: ignore[index]
    if "tls_handshake_per_connection" in e:
        assert [c.tls and c.tls["handshake"] for c in conns] == (
            e["tls_handshake_per_connection"]
        )
    (server,) = [s for s in a.server_records if s.server == e["server"]]
    assert server.verdict == e["expected_verdict_without_keys"]
    assert server.diagnosis == e["expected_diagnosis_without_keys"]
    if all(p == "tls/http1" for p in e.get("protocol_per_connection", ())):
        assert [c.requests for c in conns] == e["requests_per_connection"]
        assert all(c.requests_estimated for c in conns)


def _normalised(a: analyzer.Analysis) -> dict:
    d = a.to_dict()
    for cap in d["captures"]:
        cap["path"] = os.path.basename(cap["path"])
    for c in d["connections"]:
        c["capture"] = os.path.basename(c["capture"])
    return d


CAPTURE_FILES = sorted(
    p for p in CAPTURES.iterdir() if p.suffix in (".pcap", ".pcapng", ".gz")
)


@pytest.mark.parametrize("capture", CAPTURE_FILES, ids=[p.name for p in CAPTURE_FILES])
def test_golden_json(capture: Path, update_golden: bool) -> None:
    keys = capture.with_suffix(".keys")  # a TLS capture's key log: decrypted
    got = _normalised(analyzer.analyze(
        str(capture), tls_keylog=str(keys) if keys.exists() else None
    ))
    baseline = GOLDEN / (capture.name + ".json")
    if update_golden or not baseline.exists():
        if not update_golden and os.environ.get("CI"):
            pytest.fail(f"no baseline {baseline.name}; run pytest --update-golden and review")
        baseline.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert got == _load(baseline)


def test_a_capture_that_lost_half_its_packets_gives_no_fix_as_fact() -> None:
    """captures/drops-half.pcap: a reused Go keep-alive run with every other packet
    deleted (as tcpdump drops under load; recipe scenarios/drops-half.sh). tshark itself
    sees 8 of the 20 requests and no response there: no verdict from it can be sure."""
    a = analyzer.analyze(str(CAPTURES / "drops-half.pcap"))
    (s,) = a.server_records
    assert s.uncertain
    assert s.hint.startswith("uncertain: ") and "capture again without drops" in s.hint
    assert "caution:" in s.evidence
    # a whole capture is never called uncertain
    whole = analyzer.analyze(str(CAPTURES / "go-drain.pcap"))
    assert not any(r.uncertain for r in whole.server_records)
