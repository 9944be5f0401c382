"""``keepalive compare BEFORE AFTER``: did the fix work?

Each side is a capture (analysed here) or a JSON document we wrote earlier
(``keepalive analyze … --format json``). Servers are matched by endpoint; when the
endpoints differ but each side has exactly one server left unmatched (a test server on a
new port), those two are paired and the comparison says so. Per server: connections,
requests, handshakes per request, new connections per second (the busiest minute, as the
port-pressure report counts it: :func:`analyzer.ports.new_connections_per_second`), connect
time (``handshake_rtt``, SYN → SYN-ACK) p50/p99, verdict and diagnosis. Standard library
only: no pandas.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.errors import AnalyzerError
from analyzer.ports import new_connections_per_second

METRICS = (
    # key, label, lower is better?
    ("connections", "connections", None),
    ("requests", "requests", None),
    ("handshakes_per_request", "handshakes per request", True),
    ("new_per_second", "new connections/s", True),
    ("connect_p50_ms", "connect time p50 (ms)", True),
    ("connect_p99_ms", "connect time p99 (ms)", True),
    ("max_concurrent", "max open at once", None),
    ("tls_full_per_request", "full TLS handshakes per request", True),
    ("tls_handshakes_resumed", "resumed TLS handshakes", None),
    ("verdict", "verdict", None),
    ("diagnosis", "diagnosis", None),
)


def load(
    path: str, *, show_secrets: bool = False, tls_keylog: str | None = None
) -> dict[str, Any]:
    """The JSON contract's document for a capture or a saved JSON of ours."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(64).lstrip()
    except OSError as e:
        raise AnalyzerError(f"{path}: cannot read: {e.strerror or e}") from None
    if head.startswith(b"{"):
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (ValueError, OSError) as e:
            raise AnalyzerError(f"{path}: not a readable JSON document: {e}") from None
        if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith(
            "keepalive-analyzer/"
        ):
            raise AnalyzerError(
                f"{path}: JSON without schema keepalive-analyzer/1; save one with "
                "`keepalive analyze CAPTURE --format json -o FILE`"
            )
        return doc
    from analyzer.pipeline import analyze

    return analyze(path, show_secrets=show_secrets, tls_keylog=tls_keylog).to_dict()


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def server_stats(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_server: dict[str, list[dict[str, Any]]] = {}
    for c in doc.get("connections", []):
        by_server.setdefault(c["server"], []).append(c)
    out: dict[str, dict[str, Any]] = {}
    for s in doc.get("servers", []):
        conns = by_server.get(s["server"], [])
        span = (
            max(c["end"] for c in conns) - min(c["start"] for c in conns) if conns else 0.0
        )
        rtts = [c["handshake_rtt"] * 1000.0 for c in conns if c.get("handshake_rtt") is not None]
        p50, p99 = percentile(rtts, 0.5), percentile(rtts, 0.99)
        out[s["server"]] = {
            "server": s["server"],
            "connections": s["connections"],
            "requests": s["requests"],
            "handshakes": s["handshakes"],
            "handshakes_per_request": s["handshakes_per_request"],
            "new_per_second": new_connections_per_second([c["start"] for c in conns]),
            "span": span,
            "connect_p50_ms": p50,
            "connect_p99_ms": p99,
            "max_concurrent": s["max_concurrent"],
            # TLS (None without): full handshakes cost the most
            "tls_full_per_request": (
                round(s["tls_handshakes_full"] / s["requests"], 4)
                if s.get("tls_handshakes_full") is not None and s["requests"] else None
            ),
            "tls_handshakes_resumed": s.get("tls_handshakes_resumed"),
            "verdict": s["verdict"],
            "diagnosis": s["diagnosis"],
            "evidence": s["evidence"],
            "hint": s["hint"],
        }
    return out


# How bad a verdict is, for the direction of a change of verdict.
VERDICT_RANK = {"reused": 0, "nothing-to-reuse": 0, "no-http": 0, "partly-reused": 1,
                "not-reused": 2}


@dataclass
class Pair:
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str = ""

    @property
    def name(self) -> str:
        b = self.before["server"] if self.before else None
        a = self.after["server"] if self.after else None
        if b and a and b != a:
            return f"{b} → {a}"
        return str(b or a)

    def outcome(self) -> str:
        if self.before is None:
            return "only after"
        if self.after is None:
            return "only before"
        hb, ha = self.before["handshakes_per_request"], self.after["handshakes_per_request"]
        if self.before["verdict"] != "reused" and self.after["verdict"] == "reused":
            return f"fixed: {self.before['diagnosis']} → reused"
        if ha < hb - 0.05:
            return f"better: {hb:.2f} → {ha:.2f} handshakes per request"
        if ha > hb + 0.05:
            return f"worse: {hb:.2f} → {ha:.2f} handshakes per request"
        tb, ta = self.before.get("tls_full_per_request"), self.after.get("tls_full_per_request")
        if tb is not None and ta is not None and abs(ta - tb) > 0.05:
            # the same connections, but their TLS handshakes resumed now (or no longer)
            word = "better" if ta < tb else "worse"
            return f"{word}: {tb:.2f} → {ta:.2f} full TLS handshakes per request"
        # The same handshakes per request can hide a change of verdict (a reused server
        # that now reconnects after every request of a few long connections) or of its
        # cause: say it.
        vb, va = self.before["verdict"], self.after["verdict"]
        db, da = self.before["diagnosis"], self.after["diagnosis"]
        if vb != va:
            rb, ra = VERDICT_RANK.get(vb, 0), VERDICT_RANK.get(va, 0)
            word = "worse" if ra > rb else "better" if ra < rb else "changed"
            return (
                f"{word}: {vb} [{db}] → {va} [{da}] at {ha:.2f} handshakes per request"
            )
        if db != da:
            return f"changed: diagnosis {db} → {da} ({va}, {ha:.2f} handshakes per request)"
        return f"unchanged: {va} [{da}]"

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.name, "note": self.note, "outcome": self.outcome(),
            "before": self.before, "after": self.after,
        }


@dataclass
class Comparison:
    before_path: str
    after_path: str
    pairs: list[Pair] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "before": self.before_path, "after": self.after_path,
            "servers": [p.as_dict() for p in self.pairs],
        }


def match(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[Pair]:
    pairs = [Pair(before[s], after[s]) for s in before if s in after]
    left_b = [s for s in before if s not in after]
    left_a = [s for s in after if s not in before]
    if len(left_b) == 1 and len(left_a) == 1:
        b, a = left_b[0], left_a[0]
        pairs.append(Pair(before[b], after[a], note=(
            f"endpoints differ; paired the only unmatched server on each side: {b} ↔ {a}"
        )))
    else:
        pairs += [Pair(before[s], None) for s in left_b]
        pairs += [Pair(None, after[s]) for s in left_a]
    return pairs


def compare(
    before: str, after: str, *, show_secrets: bool = False, tls_keylog: str | None = None
) -> Comparison:
    b = _stats(before, show_secrets, tls_keylog)
    a = _stats(after, show_secrets, tls_keylog)
    return Comparison(before, after, match(b, a))


def _stats(
    path: str, show_secrets: bool, tls_keylog: str | None = None
) -> dict[str, dict[str, Any]]:
    """server_stats of one side; a saved JSON that is not our contract is one line."""
    doc = load(path, show_secrets=show_secrets, tls_keylog=tls_keylog)
    try:
        return server_stats(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise AnalyzerError(
            f"{path}: not a complete keepalive-analyzer/1 document ({type(e).__name__}: "
            f"{e}); save one with `keepalive analyze CAPTURE --format json -o FILE`"
        ) from None


def fmt(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if key == "handshakes_per_request":
            return f"{value:.2f}"
        if key.endswith("_ms"):
            return f"{value:.3f}"
        return f"{value:.1f}"
    return str(value)


def change(key: str, lower_better: bool | None, b: Any, a: Any) -> tuple[str, str]:
    """A change column and its style."""
    if b is None or a is None or isinstance(b, str) or isinstance(a, str):
        if isinstance(b, str) and isinstance(a, str) and a != b:
            return "changed", "bold"
        return "", ""
    d = a - b
    if abs(d) < 1e-9:
        return "=", "dim"
    if isinstance(d, float):
        text = f"{d:+.3f}" if key.endswith("_ms") else f"{d:+.2f}"
    else:
        text = f"{d:+d}"
    if b:
        text += f" ({d / b:+.0%})"
    if lower_better is None:
        return text, ""
    return text, "green" if (d < 0) == lower_better else "red"


def render(c: Comparison, console: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    console.print(Text.assemble(("before ", "dim"), (c.before_path, "bold"), ("  after ", "dim"),
                                (c.after_path, "bold")))
    if not c.pairs:
        console.print(Text("no servers on either side", style="yellow"))
    for p in c.pairs:
        t = Table(title=p.name, title_justify="left", pad_edge=False)
        t.add_column("")
        t.add_column("before", justify="right")
        t.add_column("after", justify="right")
        t.add_column("change", justify="right")
        for key, label, lower in METRICS:
            b = p.before.get(key) if p.before else None
            a = p.after.get(key) if p.after else None
            if key.startswith("tls_") and a is None and b is None:
                continue  # no TLS on either side
            text, style = change(key, lower, b, a)
            t.add_row(label, fmt(key, b), fmt(key, a), Text(text, style=style))
        console.print(t)
        if p.note:
            console.print(Text(f"note: {p.note}", style="yellow"))
        outcome = p.outcome()
        style = ("bold green" if outcome.startswith(("fixed", "better"))
                 else "bold red" if outcome.startswith("worse") else "bold")
        console.print(Text(outcome, style=style))
        if p.after is not None and p.after["verdict"] not in ("reused", "no-http"):
            console.print(Text(f"fix: {p.after['hint']}", style="dim"))
        console.print()
