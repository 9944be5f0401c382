"""Independent truth: Zeek's own HTTP test traces with Zeek's and tshark's answers.

captures/zeek/ holds the traces (Zeek's BSD licence in ZEEK-COPYING beside them) and
expected.json, the per-connection answers. Scoring as the corpus README says: match a
connection by its endpoint pair and the nearest start time; its exchange count must be in
``acceptable_http_transactions``, its label (``unused``/``not-http`` read as ``no-http``)
in ``acceptable_labels``, its client the Zeek originator, and the SYN/SYN-ACK/FIN/RST
packet counts equal.
"""

from __future__ import annotations

import json

import pytest

import analyzer
from tests.conftest import CAPTURES

ZEEK = CAPTURES / "zeek"
CORPUS = json.loads((ZEEK / "expected.json").read_text())


def _ep(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@pytest.mark.parametrize("trace", CORPUS["traces"], ids=[t["trace"] for t in CORPUS["traces"]])
def test_zeek_trace(trace: dict) -> None:
    path = ZEEK / trace["trace"].removeprefix("traces/")
    a = analyzer.analyze(str(path))
    for x in trace["connections"]:
        client = _ep(x["client_ip"], x["client_port"])
        server = _ep(x["server_ip"], x["server_port"])
        cands = [c for c in a.connection_records if {c.client, c.server} == {client, server}]
        assert cands, f"no connection {client} -> {server}"
        c = min(cands, key=lambda c: abs(c.start - float(x["first_ts"])))
        label = "no-http" if c.label in ("unused", "not-http") else c.label
        assert len(c.exchanges) in x["acceptable_http_transactions"], (client, c.anomalies)
        assert label in x["acceptable_labels"], client
        assert c.client == client, "client/server roles"
        assert c.syn == x["syn"] and c.synack == x["synack"], client
        assert c.fin_client + c.fin_server == x["fin"], client
        assert c.rst_client + c.rst_server == x["rst"], client
        if "fin_client" in x:
            assert (c.fin_client, c.fin_server) == (x["fin_client"], x["fin_server"]), client
