"""Records → pandas DataFrames with declared dtypes (typed even when empty).

Columns and dtypes are those :mod:`analyzer.core.schema` declares (:attr:`Record.dtypes`):
the JSON fields, in their order, but the ``{name: count}`` mappings; nullable integer and
string dtypes keep missing values honest (``<NA>``, not NaN or ``None`` objects).
Timestamps stay epoch seconds (float64); ``start_time`` and friends are added as UTC
datetimes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from analyzer.core.records import ConnectionRecord, ExchangeRecord, ServerRecord
from analyzer.core.schema import CONNECTION, EXCHANGE, NESTED_COLUMNS, SERVER, Record
from analyzer.output.jsonout import connection_dict, exchange_dict, server_dict

UTC_TIME = "datetime64[ns, UTC]"


def frame_dtypes(record: Record) -> dict[str, Any]:
    """The record's DataFrame columns, in order, and their pandas dtypes."""
    return {
        name: pd.CategoricalDtype(list(record.by_name[name].categories))
        if dtype == "category" else dtype
        for name, dtype in record.dtypes.items()
    }


CONNECTION_DTYPES = frame_dtypes(CONNECTION)
EXCHANGE_DTYPES = frame_dtypes(EXCHANGE)
SERVER_DTYPES = frame_dtypes(SERVER)
CLOSED_BY = CONNECTION_DTYPES["closed_by"]
LABEL = CONNECTION_DTYPES["label"]
VERDICT = SERVER_DTYPES["verdict"]


def _frame(
    rows: Sequence[Any], to_dict: Callable[[Any], dict[str, Any]], dtypes: dict[str, Any]
) -> pd.DataFrame:
    data = [{k: d[k] for k in dtypes} for d in map(to_dict, rows)]
    df = pd.DataFrame(data, columns=list(dtypes))
    return df.astype(dtypes)


def connections_frame(rows: Sequence[ConnectionRecord]) -> pd.DataFrame:
    df = _frame(rows, connection_dict, CONNECTION_DTYPES)
    for obj, columns in NESTED_COLUMNS.items():
        # the TLS and HTTP/2 objects as typed columns (missing on other connections)
        values = [getattr(r, obj) or {} for r in rows]
        for key, dtype in columns:
            df[f"{obj}_{key}"] = pd.Series(
                [v.get(key) for v in values], index=df.index, dtype="object"
            ).astype(dtype)
    df["start_time"] = pd.to_datetime(df["start"], unit="s", utc=True).astype(UTC_TIME)
    df["end_time"] = pd.to_datetime(df["end"], unit="s", utc=True).astype(UTC_TIME)
    return df


def exchanges_frame(rows: Sequence[ExchangeRecord]) -> pd.DataFrame:
    df = _frame(rows, exchange_dict, EXCHANGE_DTYPES)
    df["request_time"] = pd.to_datetime(df["request_ts"], unit="s", utc=True).astype(UTC_TIME)
    return df


def servers_frame(rows: Sequence[ServerRecord]) -> pd.DataFrame:
    return _frame(rows, server_dict, SERVER_DTYPES)
