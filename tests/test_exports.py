"""Exports: JSON lines, Parquet, HAR 1.2 (reuse visible to HAR viewers), progress."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import analyzer
from analyzer.core.schema import NESTED_COLUMNS
from analyzer.output.exports import parquet_paths
from analyzer.output.har import har_dict
from tests.conftest import CAPTURES


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *args], capture_output=True, text=True, timeout=120
    )


def test_jsonl_one_object_per_line_with_type() -> None:
    p = run("analyze", str(CAPTURES / "go-leak.pcap"), "-f", "jsonl")
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    types = [r["type"] for r in rows]
    assert types == ["capture"] + ["connection"] * 10 + ["exchange"] * 10 + ["server"]
    full = json.loads(run("analyze", str(CAPTURES / "go-leak.pcap"), "-f", "json").stdout)
    assert [{k: v for k, v in r.items() if k != "type"} for r in rows if
            r["type"] == "connection"] == full["connections"]


def test_parquet_dir_and_file(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    p = run("analyze", str(CAPTURES / "go-leak.pcap"), "-f", "parquet", "-o", str(tmp_path / "d"))
    assert p.returncode == 0, p.stderr
    p = run("analyze", str(CAPTURES / "go-drain.pcap"), "-f", "parquet", "-o",
            str(tmp_path / "run.parquet"))
    assert p.returncode == 0, p.stderr
    assert parquet_paths(tmp_path / "run.parquet")["exchanges"].name == "run.exchanges.parquet"
    # pandas and pyarrow are read back in a child process: loaded here, they would raise
    # the peak RSS that later subprocess-measuring tests inherit through fork
    check = (
        "import sys, pandas as pd, analyzer; d = sys.argv[1]; "
        "a = analyzer.analyze(sys.argv[2]); "
        "assert pd.read_parquet(d + '/d/connections.parquet').equals(a.connections); "
        "assert len(pd.read_parquet(d + '/d/exchanges.parquet')) == 10; "
        "assert len(pd.read_parquet(d + '/run.exchanges.parquet')) == 10"
    )
    subprocess.run([sys.executable, "-c", check, str(tmp_path), str(CAPTURES / "go-leak.pcap")],
                   check=True, timeout=120)
    p = run("analyze", str(CAPTURES / "go-drain.pcap"), "-f", "parquet")
    assert p.returncode == 2 and "--output" in p.stderr


def test_har_marks_reuse() -> None:
    drain = har_dict(analyzer.analyze(str(CAPTURES / "go-drain.pcap")))
    leak = har_dict(analyzer.analyze(str(CAPTURES / "go-leak.pcap")))
    for doc in (drain, leak):
        log = doc["log"]
        assert log["version"] == "1.2" and log["creator"]["name"] == "keepalive-analyzer"
        assert len(log["entries"]) == 10
        for e in log["entries"]:
            assert {"startedDateTime", "time", "request", "response", "cache", "timings",
                    "connection"} <= set(e)
            assert e["request"]["url"].startswith("http://127.0.0.1:")
            t = e["timings"]
            assert t["send"] >= 0 and t["wait"] >= 0 and t["receive"] >= 0
            parts = [t[k] for k in ("blocked", "dns", "connect", "send", "wait", "receive")]
            assert e["time"] == pytest.approx(sum(x for x in parts if x > 0), abs=0.01)
    d = drain["log"]["entries"]
    assert {e["connection"] for e in d} == {"C1"}
    assert d[0]["timings"]["connect"] >= 0
    assert [e["timings"]["connect"] for e in d[1:]] == [-1] * 9
    entries = leak["log"]["entries"]
    assert len({e["connection"] for e in entries}) == 10
    assert all(e["timings"]["connect"] >= 0 for e in entries)


def test_har_cli(tmp_path: Path) -> None:
    out = tmp_path / "x.har"
    p = run("analyze", str(CAPTURES / "go-drain.pcap"), "-f", "har", "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert json.loads(out.read_text())["log"]["entries"][1]["timings"]["connect"] == -1


def test_progress_callback_and_when_the_bar_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    from analyzer.output import progress

    seen: list[tuple[str, int, int]] = []
    path = str(CAPTURES / "go-leak.pcap")
    analyzer.analyze(path, on_progress=lambda *a: seen.append(a))
    assert seen and seen[-1][0] == path and seen[-1][2] == 100
    assert seen[-1][1] == Path(path).stat().st_size - 24  # records after the file header
    assert not progress.wanted([path], quiet=True, force=True)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert not progress.wanted([path], quiet=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setattr(progress, "MIN_BYTES", 0)
    assert progress.wanted([path], quiet=False)
    with progress.progress_bar([path]) as cb:
        analyzer.analyze(path, on_progress=cb)


def test_no_progress_bar_in_a_pipe() -> None:
    p = run("analyze", str(CAPTURES / "go-leak.pcap"), "-f", "json")
    assert p.returncode == 0 and p.stderr == ""


def test_csv_rows_are_the_json_connections() -> None:
    """The CSV holds each connection's JSON fields (core/schema.py), in their order, the
    ``{name: n}`` anomalies last as ``name=n;…`` sorted by name."""
    import csv
    import io

    from analyzer.output.csvout import connections_csv
    from analyzer.output.jsonout import connection_dict

    a = analyzer.analyze(str(CAPTURES / "drops-half.pcap"))
    rows = list(csv.DictReader(io.StringIO(connections_csv(a))))
    assert len(rows) == len(a.connection_records)
    assert any(r["anomalies"] for r in rows)
    for row, c in zip(rows, a.connection_records, strict=True):
        want = connection_dict(c)
        anomalies = want.pop("anomalies")
        nested = [f"{o}_{k}" for o, cols in NESTED_COLUMNS.items() for k, _t in cols]
        for obj in NESTED_COLUMNS:
            assert want.pop(obj) is None and all(not row[n] for n in nested)  # cleartext
        assert list(row) == [*want, "anomalies", *nested]
        assert row["anomalies"] == ";".join(f"{k}={v}" for k, v in sorted(anomalies.items()))
        for k, v in want.items():
            assert row[k] == ("" if v is None else str(v)), k
