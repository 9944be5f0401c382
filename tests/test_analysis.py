"""analyzer.analysis: the Analysis object's views of its records."""

from __future__ import annotations

import json

import analyzer
from analyzer.analysis import SCHEMA, Analysis
from tests.conftest import CAPTURES


def test_json_views_agree() -> None:
    a = analyzer.analyze(str(CAPTURES / "go-leak.pcap"))
    d = a.to_dict()
    assert d["schema"] == SCHEMA == "keepalive-analyzer/1"
    assert json.loads(a.to_json()) == json.loads(json.dumps(d))
    assert json.loads(a.to_json(indent=1)) == json.loads(json.dumps(d))
    assert a.exchange_count == len(a.exchange_records) == 10
    assert repr(a) == "<Analysis captures=1 connections=10 exchanges=10 servers=1>"


def test_empty_analysis() -> None:
    a = Analysis([], [], [])
    assert a.to_dict() == {"schema": SCHEMA, "captures": [], "connections": [],
                           "exchanges": [], "servers": []}
    assert a.exchange_count == 0 and len(a.servers) == 0
