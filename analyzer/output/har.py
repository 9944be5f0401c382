"""The ``har`` format, HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/): one entry
per exchange.

Browser HAR viewers draw connection reuse from two fields: ``connection`` (here the
connection id, ``C1``…) and ``timings.connect``, which is ``-1`` when the request went
over a connection already open (``opened_connection`` false) and the handshake time when
it paid one. Headers and bodies are not kept by the analyzer, so they are empty lists
and sizes are ``-1`` ("unknown" in the spec). Standard library only.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analyzer.analysis import Analysis
    from analyzer.core.records import ConnectionRecord, ExchangeRecord
    from analyzer.output import WriteOptions


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")


def _ms(a: float | None, b: float | None) -> float:
    if a is None or b is None or b < a:
        return 0.0
    return round((b - a) * 1000.0, 3)


def _url(server: str, target: str | None, scheme: str = "http") -> str:
    target = target or "/"
    if target.startswith(("http://", "https://")):
        return target
    if not target.startswith("/"):  # authority-form (CONNECT) or asterisk-form
        return f"{scheme}://{server}/" if target == "*" else f"{scheme}://{target}/"
    return f"{scheme}://{server}{target}"


def _version(v: str | None) -> str:
    return f"HTTP/{v}" if v else ""


def entry(e: ExchangeRecord, c: ConnectionRecord | None) -> dict[str, Any]:
    server = c.server if c is not None else ""
    # decrypted TLS: https (the connection's TLS handshake is HAR's "ssl" time, unknown)
    scheme = "https" if c is not None and (c.protocol or "").startswith("tls") else "http"
    started = e.request_ts if e.request_ts is not None else (e.response_ts or 0.0)
    if e.opened_connection:
        rtt = c.handshake_rtt if c is not None else None
        connect = round(rtt * 1000.0, 3) if rtt is not None else 0.0
    else:
        connect = -1.0
    request_end = e.request_end_ts if e.request_end_ts is not None else e.request_ts
    send = _ms(e.request_ts, request_end)
    wait = _ms(request_end, e.response_ts)
    receive = _ms(e.response_ts, e.response_end_ts)
    timings = {
        "blocked": -1, "dns": -1, "connect": connect, "send": send, "wait": wait,
        "receive": receive, "ssl": -1,
    }
    host = server.rsplit(":", 1)[0].strip("[]")
    return {
        "startedDateTime": _iso(started - max(connect, 0.0) / 1000.0),
        "time": round(max(connect, 0.0) + send + wait + receive, 3),
        "request": {
            "method": e.method or "", "url": _url(server, e.target, scheme),
            "httpVersion": _version(e.version), "cookies": [], "headers": [],
            "queryString": [], "headersSize": -1, "bodySize": -1,
        },
        "response": {
            "status": e.status if e.status is not None else 0, "statusText": e.reason,
            "httpVersion": _version(e.response_version), "cookies": [], "headers": [],
            "content": {"size": 0, "mimeType": ""}, "redirectURL": "",
            "headersSize": -1, "bodySize": -1,
        },
        "cache": {},
        "timings": timings,
        "serverIPAddress": host,
        "connection": e.connection,
        "comment": f"exchange {e.index} on {e.connection}"
        + (" (opened the connection)" if e.opened_connection else " (reused the connection)"),
    }


def har_dict(a: Analysis) -> dict[str, Any]:
    from analyzer import __version__

    by_id = {c.id: c for c in a.connection_records}
    entries = [entry(e, by_id.get(e.connection)) for e in a.exchange_records]
    entries.sort(key=lambda d: d["startedDateTime"])
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "keepalive-analyzer", "version": __version__},
            "pages": [],
            "entries": entries,
            "comment": "from " + ", ".join(c.path for c in a.capture_records),
        }
    }


def write_har(a: Analysis, fh: IO[bytes], options: WriteOptions | None = None) -> None:
    """The ``har`` format on a binary stream."""
    fh.write(json.dumps(har_dict(a), indent=1).encode() + b"\n")
