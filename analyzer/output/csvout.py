"""CSV: the connections table (one row per connection), standard library only.

The columns are the connection's JSON fields (:data:`analyzer.core.schema.CONNECTION`),
in their order, but the ``{name: count}`` mappings (``anomalies``), which go after them as
``name=count;…`` sorted by name, and the nested TLS and HTTP/2 objects, which go last as
the typed columns the DataFrames have (``tls_version``, ``http2_streams``, …:
:data:`analyzer.core.schema.NESTED_COLUMNS`), empty on other connections.
"""

from __future__ import annotations

import csv
import io

from analyzer.core.schema import CONNECTION, NESTED_COLUMNS
from analyzer.output.jsonout import Records, connection_dict

MAPPINGS = tuple(n for n in CONNECTION.json if CONNECTION.by_name[n].type == "dict[str, int]")
NESTED = tuple(
    (obj, key, f"{obj}_{key}") for obj, cols in NESTED_COLUMNS.items() for key, _t in cols
)
COLUMNS = (
    tuple(n for n in CONNECTION.json if n not in MAPPINGS and n not in NESTED_COLUMNS)
    + MAPPINGS + tuple(col for _obj, _key, col in NESTED)
)


def connections_csv(a: Records) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for c in a.connection_records:
        r = connection_dict(c)
        for name in MAPPINGS:
            r[name] = ";".join(f"{k}={v}" for k, v in sorted(r[name].items()))
        for obj in NESTED_COLUMNS:
            r.pop(obj)
        for obj, key, col in NESTED:
            nested = getattr(c, obj)
            r[col] = "" if nested is None else nested.get(key)
        w.writerow(r)
    return out.getvalue()
