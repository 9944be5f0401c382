"""``keepalive compare``: before/after per server, from captures or saved JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from analyzer.compare import compare, match, percentile
from tests.conftest import CAPTURES

LEAK, DRAIN = str(CAPTURES / "go-leak.pcap"), str(CAPTURES / "go-drain.pcap")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *args], capture_output=True, text=True, timeout=120
    )


def test_go_leak_vs_drain_pairs_the_only_servers() -> None:
    c = compare(LEAK, DRAIN)
    (p,) = c.pairs
    assert p.before and p.after
    assert (p.before["server"], p.after["server"]) == ("127.0.0.1:18102", "127.0.0.1:18101")
    assert "paired" in p.note
    assert (p.before["connections"], p.after["connections"]) == (10, 1)
    assert (p.before["handshakes_per_request"], p.after["handshakes_per_request"]) == (1.0, 0.1)
    assert p.before["new_per_second"] > p.after["new_per_second"]
    assert p.before["connect_p50_ms"] is not None and p.before["connect_p99_ms"] < 1
    assert p.outcome() == "fixed: leak → reused"


def test_saved_json_gives_the_same_answer(tmp_path: Path) -> None:
    saved = tmp_path / "before.json"
    assert run("analyze", LEAK, "-f", "json", "-o", str(saved)).returncode == 0
    assert compare(str(saved), DRAIN).as_dict()["servers"][0]["before"] == (
        compare(LEAK, DRAIN).as_dict()["servers"][0]["before"]
    )


def test_match_by_endpoint_first() -> None:
    b = {"a:1": {"server": "a:1"}, "b:2": {"server": "b:2"}}
    a = {"a:1": {"server": "a:1"}, "c:3": {"server": "c:3"}, "d:4": {"server": "d:4"}}
    pairs = match(b, a)
    assert [(p.before and p.before["server"], p.after and p.after["server"]) for p in pairs] == [
        ("a:1", "a:1"), ("b:2", None), (None, "c:3"), (None, "d:4")]
    assert not any(p.note for p in pairs)


def test_percentile() -> None:
    assert percentile([], 0.5) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([5.0], 0.99) == 5.0


def test_cli_table_and_json() -> None:
    p = run("compare", LEAK, DRAIN)
    assert p.returncode == 0, p.stderr
    for text in ("handshakes per request", "new connections/s", "connect time p50",
                 "connect time p99", "fixed: leak → reused", "paired", "1.00", "0.10"):
        assert text in p.stdout, text
    d = json.loads(run("compare", LEAK, DRAIN, "-f", "json").stdout)
    assert d["servers"][0]["after"]["diagnosis"] == "reused"


def test_cli_bad_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"not": "ours"}')
    p = run("compare", str(bad), DRAIN)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "schema" in p.stderr


def test_a_damaged_saved_json_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "keepalive-analyzer/1", "servers": [{"server": "x"}], '
                   '"connections": [{"id": "C1"}]}')
    p = subprocess.run([sys.executable, "-m", "analyzer", "compare", str(bad), str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "bad.json: not a complete keepalive-analyzer/1 document" in p.stderr


def _server(verdict: str, diagnosis: str, hpr: float) -> dict[str, object]:
    return {"server": "s:1", "verdict": verdict, "diagnosis": diagnosis,
            "handshakes_per_request": hpr}


def test_a_change_of_verdict_at_the_same_handshakes_is_reported() -> None:
    # Four connections of five requests each, twice: 0.2 handshakes per request before
    # and after, but before they were reused and after each was closed by the server
    from analyzer.compare import Pair

    p = Pair(_server("reused", "reused", 0.2), _server("partly-reused", "request-limit", 0.2))
    assert p.outcome() == (
        "worse: reused [reused] → partly-reused [request-limit] at 0.20 handshakes per request"
    )
    p = Pair(_server("not-reused", "client-close", 1.0), _server("nothing-to-reuse",
                                                                 "client-close", 1.0))
    assert p.outcome().startswith("better: not-reused [client-close] → nothing-to-reuse")
    # the verdict kept, its cause changed
    p = Pair(_server("not-reused", "client-close", 1.0), _server("not-reused", "leak", 1.0))
    assert p.outcome() == (
        "changed: diagnosis client-close → leak (not-reused, 1.00 handshakes per request)"
    )
    p = Pair(_server("reused", "reused", 0.1), _server("reused", "reused", 0.1))
    assert p.outcome() == "unchanged: reused [reused]"
