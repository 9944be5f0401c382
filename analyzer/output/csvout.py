"""CSV: the connections table (one row per connection), standard library only."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from analyzer.output.jsonout import connection_dict

if TYPE_CHECKING:
    from analyzer.api import Analysis


def connections_csv(a: Analysis) -> str:
    out = io.StringIO()
    rows = [connection_dict(c) for c in a.connection_records]
    fields = [k for k in (rows[0] if rows else connection_dict_fields()) if k != "anomalies"]
    fields.append("anomalies")
    w = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        r["anomalies"] = ";".join(f"{k}={v}" for k, v in sorted(r["anomalies"].items()))
        w.writerow(r)
    return out.getvalue()


def connection_dict_fields() -> list[str]:
    from analyzer.core.records import ConnectionRecord

    probe = ConnectionRecord(
        id="", capture="", client="", server="", start=0.0, end=0.0,
        handshake_seen=False, syn=0, synack=0, fin_client=0, fin_server=0, rst_client=0,
        rst_server=0, closed_by="", requests=0, responses=0, interim_responses=0,
        label="", upgraded=False, missing_bytes=0,
    )
    return list(connection_dict(probe))
