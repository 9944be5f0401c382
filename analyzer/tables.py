"""Records → pandas DataFrames with declared dtypes (typed even when empty).

Columns are the JSON contract's fields (plus its additions); nullable integer and string
dtypes keep missing values honest (``<NA>``, not NaN or ``None`` objects). Timestamps
stay epoch seconds (float64); ``start_time`` and friends are added as UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from analyzer.core.records import ConnectionRecord, ExchangeRecord, ServerRecord
from analyzer.output.jsonout import connection_dict, exchange_dict, server_dict

CLOSED_BY = pd.CategoricalDtype(["client", "server", "client-rst", "server-rst", "open"])
LABEL = pd.CategoricalDtype(["persistent", "per-request", "unused", "not-http"])
VERDICT = pd.CategoricalDtype(
    ["reused", "partly-reused", "not-reused", "nothing-to-reuse", "no-http"]
)
UTC_TIME = "datetime64[ns, UTC]"


CONNECTION_DTYPES: dict[str, Any] = {
    "id": "string", "capture": "string", "client": "string", "server": "string",
    "start": "float64", "end": "float64", "handshake_seen": "bool",
    "syn": "int64", "synack": "int64", "fin_client": "int64", "fin_server": "int64",
    "rst_client": "int64", "rst_server": "int64", "closed_by": CLOSED_BY,
    "requests": "int64", "responses": "int64", "interim_responses": "int64",
    "label": LABEL, "upgraded": "bool", "missing_bytes": "int64",
    "diagnosis": "string", "packets": "int64", "client_bytes": "int64",
    "server_bytes": "int64", "teardown_ts": "float64", "handshake_rtt": "float64",
    "expired": "bool", "user_agent": "string", "server_software": "string",
    "forwarded": "bool", "via": "string",
}

EXCHANGE_DTYPES: dict[str, Any] = {
    "connection": "string", "index": "int64", "method": "string", "target": "string",
    "version": "string", "status": "Int64", "request_ts": "float64",
    "response_ts": "float64", "opened_connection": "bool", "closed_connection": "bool",
    "response_end_ts": "float64", "response_version": "string",
    "request_connection": "string", "response_connection": "string",
    "framing": "string", "interim_responses": "int64", "request_end_ts": "float64",
    "reason": "string",
}

SERVER_DTYPES: dict[str, Any] = {
    "server": "string", "clients": "int64", "connections": "int64", "requests": "int64",
    "handshakes": "int64", "handshakes_per_request": "float64",
    "max_concurrent": "int64", "verdict": VERDICT, "diagnosis": "string",
    "evidence": "string", "hint": "string", "persistent": "int64",
    "per_request": "int64", "request_limit": "Int64", "idle_timeout": "float64",
    "client_software": "string", "server_software": "string", "proxy": "string",
    "extra_handshakes": "float64", "uncertain": "bool", "capture": "string",
}


def _frame(
    rows: Sequence[Any], to_dict: Callable[[Any], dict[str, Any]], dtypes: dict[str, Any]
) -> pd.DataFrame:
    data = [{k: d[k] for k in dtypes} for d in map(to_dict, rows)]
    df = pd.DataFrame(data, columns=list(dtypes))
    return df.astype(dtypes)


def connections_frame(rows: Sequence[ConnectionRecord]) -> pd.DataFrame:
    df = _frame(rows, connection_dict, CONNECTION_DTYPES)
    df["start_time"] = pd.to_datetime(df["start"], unit="s", utc=True).astype(UTC_TIME)
    df["end_time"] = pd.to_datetime(df["end"], unit="s", utc=True).astype(UTC_TIME)
    return df


def exchanges_frame(rows: Sequence[ExchangeRecord]) -> pd.DataFrame:
    df = _frame(rows, exchange_dict, EXCHANGE_DTYPES)
    df["request_time"] = pd.to_datetime(df["request_ts"], unit="s", utc=True).astype(UTC_TIME)
    return df


def servers_frame(rows: Sequence[ServerRecord]) -> pd.DataFrame:
    return _frame(rows, server_dict, SERVER_DTYPES)
