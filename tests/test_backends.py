"""The three capture backends give the same answer (issue 4).

native (our readers and decoder), scapy (scapy's readers and layers) and pyshark
(Wireshark's dissectors through tshark) must give *identical* connection, exchange and
server tables — the JSON records, minus the capture path — on every capture in
captures/ and every Zeek trace of captures/zeek/expected.json. Each backend is an
independent check of our own decoding.

Where a backend cannot decode something the comparison is excluded *by name* below, and
the output must say so (a warning and ``backend-undecoded`` in ``captures[].skipped``).

pyshark runs one tshark per file (~0.35 s of tshark start-up each): the files are spread
over worker processes so the whole cross-check stays within seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import analyzer
from analyzer.errors import AnalyzerError
from tests.conftest import CAPTURES, ROOT

ZEEK = CAPTURES / "zeek"
CORPUS = json.loads((ZEEK / "expected.json").read_text())
FILES = sorted(
    [str(p.relative_to(CAPTURES)) for p in CAPTURES.glob("*.pcap*")]
    + [
        str((ZEEK / t["trace"].removeprefix("traces/")).relative_to(CAPTURES))
        for t in CORPUS["traces"]
    ]
)
TUNNELS = [f for f in FILES if f.startswith("zeek/tunnels/")]

# (backend, capture) pairs that cannot be identical, each with its reason.
EXCLUDED = {
    ("scapy", "zeek/nflog-http.pcap"): "scapy has no layer for link type 239 (NFLOG)",
    ("scapy", "zeek/tunnels/ayiya3.pcap"): "scapy has no AYIYA (UDP 5072) tunnel layer",
}


def _tables(rel: str, backend: str) -> dict[str, Any]:
    d = analyzer.analyze(str(CAPTURES / rel), backend=backend).to_dict()
    for c in d["connections"]:
        c.pop("capture", None)
    return d


def _all_tables(backend: str) -> dict[str, dict[str, Any]]:
    with ProcessPoolExecutor(max_workers=min(4, os.cpu_count() or 1) + 1) as pool:
        return dict(zip(FILES, pool.map(_tables, FILES, [backend] * len(FILES)), strict=True))


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, dict[str, Any]]]:
    return {b: _all_tables(b) for b in ("native", "scapy", "pyshark")}


def test_every_capture_is_covered() -> None:
    assert len(FILES) >= 48 and len(TUNNELS) == 2


@pytest.mark.parametrize("backend", ["scapy", "pyshark"])
@pytest.mark.parametrize("rel", FILES)
def test_same_tables_as_native(
    results: dict[str, dict[str, dict[str, Any]]], backend: str, rel: str
) -> None:
    native = results["native"][rel]
    other = results[backend][rel]
    cap = other["captures"][0]
    if (backend, rel) in EXCLUDED:
        # Not identical, and it says why: a warning naming what it could not dissect.
        assert cap["skipped"].get("backend-undecoded"), EXCLUDED[(backend, rel)]
        assert any("does not dissect" in w for w in cap["warnings"]), cap["warnings"]
        return
    assert native["connections"], rel  # every capture has something to compare
    for table in ("connections", "exchanges", "servers"):
        assert other[table] == native[table], (backend, rel, table)
    assert cap["packets"] == native["captures"][0]["packets"]
    assert cap["tcp_packets"] == native["captures"][0]["tcp_packets"]


@pytest.mark.parametrize("rel", TUNNELS)
def test_pyshark_follows_tunnels(
    results: dict[str, dict[str, dict[str, Any]]], rel: str
) -> None:
    """The two tunnel traces pass Zeek's expectations with --backend pyshark."""
    trace = next(t for t in CORPUS["traces"] if t["trace"] == "traces/" + rel[len("zeek/"):])
    conns = results["pyshark"][rel]["connections"]
    for x in trace["connections"]:
        def ep(ip: str, port: int) -> str:
            return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"

        client = ep(x["client_ip"], x["client_port"])
        server = ep(x["server_ip"], x["server_port"])
        c = next(c for c in conns if (c["client"], c["server"]) == (client, server))
        assert c["requests"] in x["acceptable_http_transactions"]
        label = "no-http" if c["label"] in ("unused", "not-http") else c["label"]
        assert label in x["acceptable_labels"]
        assert (c["syn"], c["synack"]) == (x["syn"], x["synack"])
        assert c["fin_client"] + c["fin_server"] == x["fin"]
        assert c["rst_client"] + c["rst_server"] == x["rst"]


def test_pyshark_asks_tshark_for_raw_segments_in_ek() -> None:
    from analyzer.capture import pyshark_backend as pb

    assert pb.PREFS["tcp.desegment_tcp_streams"] == "FALSE"
    assert pb.PREFS["http.desegment_body"] == "FALSE"
    params = pb.fast_parameters()
    assert "tcp.seq_raw" in params and "tcp.ack_raw" in params and "tcp.payload" in params
    cap = pb._file_capture(pb._import_pyshark(), str(CAPTURES / "go-leak.pcap"))
    try:
        args = cap.get_parameters()
        assert cap._use_ek and "-e" in args and "tcp.desegment_tcp_streams:FALSE" in args
    finally:
        cap.close()


def test_unknown_backend() -> None:
    with pytest.raises(AnalyzerError, match="unknown backend"):
        analyzer.analyze(str(CAPTURES / "go-leak.pcap"), backend="wireshark")


def test_missing_file_same_error_on_every_backend() -> None:
    for backend in ("scapy", "pyshark"):
        with pytest.raises(AnalyzerError, match="no such file"):
            analyzer.analyze(str(CAPTURES / "nope.pcap"), backend=backend)


def _cli(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child whose environment ``code`` has altered first."""
    prog = code + "\nfrom analyzer.cli import main\nsys.argv = ['keepalive', *sys.argv[1:]]\nmain()"
    return subprocess.run(
        [sys.executable, "-c", "import sys\n" + prog, *args],
        capture_output=True, text=True, cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("backend", "block", "words"),
    [
        ("scapy", "sys.modules['scapy'] = None", ["pip install", "scapy"]),
        ("pyshark", "sys.modules['pyshark'] = None", ["pip install", "[pyshark]"]),
        ("pyshark", "import shutil; shutil.which = lambda *a, **k: None",
         ["apt-get install tshark"]),
    ],
)
def test_missing_pieces_are_one_line(backend: str, block: str, words: list[str]) -> None:
    p = _cli(block, "analyze", str(CAPTURES / "go-leak.pcap"), "--backend", backend)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keepalive: error: "), p.stderr
    for w in words:
        assert w in lines[0]


def test_cli_backend_option(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    p = _cli("", "analyze", str(CAPTURES / "go-leak.pcap"), "--backend", "scapy",
             "-f", "json", "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert json.loads(out.read_text())["servers"][0]["diagnosis"] == "leak"


def test_native_imports_neither_library() -> None:
    code = (
        "import sys, analyzer; analyzer.analyze(sys.argv[1], backend='native'); "
        "print(','.join(m for m in ('scapy', 'pyshark') if m in sys.modules))"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, str(CAPTURES / "go-drain.pcap")],
        capture_output=True, text=True, check=True,
    )
    assert p.stdout.strip() == ""


def test_a_cut_gzip_gives_what_it_held_on_every_backend(tmp_path: Path) -> None:
    import gzip

    # a capture big enough that gzip cannot hold it in its first block: repeat the records
    records = (CAPTURES / "go-leak.pcap").read_bytes()[24:]
    data = (CAPTURES / "go-leak.pcap").read_bytes()[:24] + records * 40
    packed = gzip.compress(data)
    cut = tmp_path / "cut.pcap.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    seen = {}
    for backend in ("native", "scapy", "pyshark"):
        a = analyzer.analyze(str(cut), backend=backend)
        cap = a.capture_records[0]
        assert cap.truncated and cap.warnings, backend
        seen[backend] = cap.packets
    assert seen["native"] > 0
    assert seen["scapy"] == seen["native"]
