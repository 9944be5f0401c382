"""``keepalive report FILE -o report.html``: one self-contained HTML file to share.

Everything is inline — CSS in a ``<style>``, plots as ``<svg>`` elements (text drawn as
paths, so no font is fetched) — and nothing refers to the network: the file opens in any
browser offline, from a mail attachment or a CI artefact. Contents: the captures, one
verdict per server with its evidence and fix, port pressure per client IP, the three
plots of :mod:`analyzer.output.plots`, then the servers, connections and exchanges tables.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING, Any

from analyzer import ports

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from analyzer.analysis import Analysis

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
 background:#f6f7f9;color:#1d2228}
main{max-width:1150px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 10px;
 border-bottom:1px solid #d8dde3;padding-bottom:4px}
.muted{color:#68717c} .warn{color:#9a5b00;background:#fff4e0;border-left:4px solid #f0a020;
 padding:6px 10px;margin:6px 0}
.card{background:#fff;border:1px solid #d8dde3;border-left:6px solid #999;border-radius:6px;
 padding:12px 16px;margin:10px 0}
.card.reused{border-left-color:#2ca02c} .card.not-reused{border-left-color:#d62728}
.card.partly-reused{border-left-color:#e0a000} .card.no-http{border-left-color:#aaa}
.verdict{font-weight:700;letter-spacing:.03em}
.reused .verdict{color:#1e7a1e} .not-reused .verdict{color:#b71c1c}
.partly-reused .verdict{color:#8a6100}
code{background:#eef1f4;padding:1px 4px;border-radius:3px}
dl{display:grid;grid-template-columns:90px 1fr;gap:4px 12px;margin:8px 0 0}
dt{font-weight:600}
table{border-collapse:collapse;background:#fff;font-size:12px;width:100%}
th,td{border:1px solid #dde2e7;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eef1f4} td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{background:#fff;border:1px solid #d8dde3;border-radius:6px;margin:10px 0;padding:8px}
figure svg{width:100%;height:auto} figcaption{color:#68717c;font-size:12px}
.scroll{max-height:480px;overflow:auto}
"""


def svg(fig: Figure, salt: str) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, no fonts, no date)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)  # RDF, creator
    return text[text.index("<svg"):]


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Iterable[int] = ()
) -> str:
    num = set(numeric)
    out = ["<table><thead><tr>"]
    out += [f"<th>{escape(h)}</th>" for h in headers]
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>")
        for i, v in enumerate(r):
            cls = ' class="n"' if i in num else ""
            out.append(f"<td{cls}>{escape('' if v is None else str(v))}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _time(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def _verdicts(a: Analysis) -> str:
    if not a.server_records:
        return '<p class="warn">no TCP connections in the capture</p>'
    out = []
    for s in a.server_records:
        diag = f' <code>{escape(s.diagnosis)}</code>' if s.diagnosis else ""
        out.append(
            f'<div class="card {escape(s.verdict)}"><div><b>{escape(s.server)}</b> '
            f'<span class="verdict">{escape(s.verdict.upper())}</span>{diag}</div>'
            f'<div class="muted">{s.requests} requests · {s.connections} connections · '
            f"{s.handshakes} handshakes · {s.handshakes_per_request:.2f} handshakes/request"
            f" · max {s.max_concurrent} open at once · {s.clients} client(s)"
            + (f" · TLS handshakes: {s.tls_handshakes_full} full, "
               f"{s.tls_handshakes_resumed} resumed" if s.tls_handshakes_full is not None
               else "")
            + "</div>"
            f"<dl>{_seen(s)}<dt>evidence</dt><dd>{escape(s.evidence)}</dd>"
            f"<dt>fix</dt><dd>{escape(s.hint)}</dd></dl></div>"
        )
    return "".join(out)


def _seen(s: Any) -> str:
    """The capture group, the software on the wire and the proxy, where known."""
    rows = [("capture", s.capture), ("client", s.client_software),
            ("server", s.server_software), ("via proxy", s.proxy)]
    return "".join(f"<dt>{k}</dt><dd>{escape(v)}</dd>" for k, v in rows if v)


def _port_pressure(a: Analysis) -> str:
    pp = ports.port_pressure(a.connection_records)
    if not pp:
        return '<p class="muted">no connections</p>'
    rows = [
        (p.client_ip, p.connections, f"{p.span:.1f}", f"{p.new_per_second:.1f}",
         p.peak_time_wait, p.peak_in_use, f"{p.range_used:.2%}", ", ".join(p.servers))
        for p in pp
    ]
    warn = "".join(f'<p class="warn">{escape(p.warning)}</p>' for p in pp if p.warning)
    return (
        f'<p class="muted">Estimated from who closed first and when: the side that sends '
        f"the first FIN holds TIME_WAIT for {ports.TIME_WAIT:.0f} s (Linux). Linux's default "
        f"ephemeral range {ports.EPHEMERAL_LOW}–{ports.EPHEMERAL_HIGH} gives "
        f"{ports.EPHEMERAL_PORTS} ports per server endpoint: about "
        f"{ports.SUSTAINABLE_RATE:.0f} new connections/s sustained before connect() fails "
        "with EADDRNOTAVAIL.</p>" + warn
        + _table(
            ("client IP", "connections", "span s", "new conn/s", "peak TIME_WAIT",
             "peak ports in use", "of range", "servers"),
            rows, numeric=range(1, 7),
        )
    )


def _plots(a: Analysis) -> str:
    from analyzer.output import plots

    figs = [
        ("timeline", plots.timeline(a),
         "One row per connection: bar from first packet to close (colour = label), "
         "▸ request, ○ response, ■ FIN / ✖ RST (purple: client, orange: server)."),
        ("over-time", plots.connections_over_time(a),
         "Sockets per state and side over time, as netstat would have shown them."),
        ("histogram", plots.requests_histogram(a), "Requests per connection, per server."),
    ]
    return "".join(
        f'<figure id="plot-{name}">{svg(fig, name)}<figcaption>{escape(cap)}</figcaption>'
        "</figure>"
        for name, fig, cap in figs
    )


def html_report(a: Analysis, *, max_rows: int = 1000, title: str | None = None) -> str:
    """The whole report as one HTML string."""
    caps = "".join(
        f"<li><code>{escape(c.path)}</code> — {escape(c.format)}, {c.packets} packets, "
        f"{c.tcp_packets} TCP"
        + "".join(f'<div class="warn">{escape(w)}</div>' for w in c.warnings)
        + "</li>"
        for c in a.capture_records
    )
    servers = _table(
        ("server", "clients", "connections", "requests", "handshakes", "hs/request",
         "max open", "verdict", "diagnosis"),
        ((s.server, s.clients, s.connections, s.requests, s.handshakes,
          f"{s.handshakes_per_request:.2f}", s.max_concurrent, s.verdict, s.diagnosis)
         for s in a.server_records),
        numeric=range(1, 7),
    )
    conns = a.connection_records
    connections = _table(
        ("id", "client", "server", "start (UTC)", "dur s", "handshake", "connect ms",
         "protocol", "TLS handshake", "requests", "label", "closed by", "diagnosis"),
        ((c.id, c.client, c.server, _time(c.start), f"{c.end - c.start:.3f}",
          "yes" if c.handshake_seen else "no",
          "" if c.handshake_rtt is None else f"{c.handshake_rtt * 1000:.3f}",
          c.protocol or "", (c.tls or {}).get("handshake") or "",
          f"~{c.requests}" if c.requests_estimated else c.requests,
          c.label, c.closed_by, c.diagnosis or "")
         for c in conns[:max_rows]),
        numeric=(4, 6, 9),
    )
    exchanges = a.exchange_records
    ex = _table(
        ("connection", "#", "stream", "method", "target", "version", "status",
         "request (UTC)", "opened connection", "closed connection"),
        ((e.connection, e.index, "" if e.stream is None else e.stream, e.method, e.target,
          e.version, e.status,
          _time(e.request_ts), "yes" if e.opened_connection else "",
          "yes" if e.closed_connection else "")
         for e in exchanges[:max_rows]),
        numeric=(1, 2, 6),
    )

    def more(n: int) -> str:
        return (f'<p class="muted">first {max_rows} of {n}; all of them: '
                "<code>--format json</code>, <code>csv</code> or <code>parquet</code></p>"
                if n > max_rows else "")

    name = title or "keepalive report: " + ", ".join(c.path for c in a.capture_records)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(name)}</title><style>{CSS}</style></head><body><main>"
        f"<h1>{escape(name)}</h1><p class=\"muted\">Do the HTTP clients and servers in "
        "this capture reuse TCP connections? Generated by keepalive-analyzer.</p>"
        f"<ul>{caps}</ul>"
        f'<h2 id="verdicts">Verdicts</h2>{_verdicts(a)}'
        f'<h2 id="plots">Pictures</h2>{_plots(a)}'
        f'<h2 id="ports">Port pressure</h2>{_port_pressure(a)}'
        f'<h2 id="servers">Servers</h2>{servers}'
        f'<h2 id="connections">Connections</h2><div class="scroll">{connections}</div>'
        f"{more(len(conns))}"
        f'<h2 id="exchanges">Exchanges</h2><div class="scroll">{ex}</div>'
        f"{more(len(exchanges))}"
        "</main></body></html>\n"
    )
