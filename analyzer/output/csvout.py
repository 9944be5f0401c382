"""CSV: the connections table (one row per connection), standard library only.

The columns are the connection's JSON fields (:data:`analyzer.core.schema.CONNECTION`),
in their order, but the ``{name: count}`` mappings (``anomalies``), which go last as
``name=count;…`` sorted by name.
"""

from __future__ import annotations

import csv
import io

from analyzer.core.schema import CONNECTION
from analyzer.output.jsonout import Records, connection_dict

MAPPINGS = tuple(n for n in CONNECTION.json if CONNECTION.by_name[n].type.startswith("dict["))
COLUMNS = tuple(n for n in CONNECTION.json if n not in MAPPINGS) + MAPPINGS


def connections_csv(a: Records) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for c in a.connection_records:
        r = connection_dict(c)
        for name in MAPPINGS:
            r[name] = ";".join(f"{k}={v}" for k, v in sorted(r[name].items()))
        w.writerow(r)
    return out.getvalue()
