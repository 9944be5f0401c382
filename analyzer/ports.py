"""Port pressure: TIME_WAIT and new connections per second, per client IP.

A connection that is not reused costs the client an ephemeral port, and the side that
closes first (sends the first FIN) keeps the socket in TIME_WAIT for 2*MSL after the
close — 60 s on Linux (``TCP_TIMEWAIT_LEN``, RFC 9293 §3.6.1 and §3.3.2). A RST aborts
the connection with no TIME_WAIT. Linux hands out ephemeral ports from 32768–60999
(``net.ipv4.ip_local_port_range``): 28232 ports, so a client that opens more than
28232 / 60 s ≈ 470 new connections per second to one server endpoint runs out of ports
(``EADDRNOTAVAIL``, "cannot assign requested address") once TIME_WAIT fills the range.

Everything here is estimated from the records (who closed first, and when): the kernel's
own state is not in a capture. Standard library only; works on :class:`ConnectionRecord`
objects and on rows of the connections DataFrame (``itertuples()``) alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

TIME_WAIT = 60.0  # seconds, Linux TCP_TIMEWAIT_LEN
EPHEMERAL_LOW, EPHEMERAL_HIGH = 32768, 60999  # Linux default ip_local_port_range
EPHEMERAL_PORTS = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1  # 28232
SUSTAINABLE_RATE = EPHEMERAL_PORTS / TIME_WAIT  # ≈ 470 new connections/s


class _Connection(Protocol):
    client: str
    server: str
    start: float
    end: float
    closed_by: str


@dataclass(slots=True)
class Interval:
    """One socket state over time: ``side`` (client/server) holds ``state``
    (``ESTABLISHED`` or ``TIME_WAIT``) from ``start`` to ``end``."""

    side: str
    state: str
    start: float
    end: float
    client_ip: str


def client_ip(endpoint: str) -> str:
    return endpoint.rsplit(":", 1)[0]


def socket_intervals(
    connections: Iterable[Any], time_wait: float = TIME_WAIT
) -> list[Interval]:
    """ESTABLISHED and TIME_WAIT intervals for both sides of every connection.

    Both sides are established from the first packet to the last; the side whose FIN
    came first then holds TIME_WAIT for ``time_wait`` seconds. A connection still open
    when the capture ended stays established until then; RST leaves no TIME_WAIT."""
    conns: list[_Connection] = list(connections)
    if not conns:
        return []
    capture_end = max(float(c.end) for c in conns)
    out: list[Interval] = []
    for c in conns:
        ip = client_ip(str(c.client))
        closed_by = str(c.closed_by)
        end = capture_end if closed_by == "open" else float(c.end)
        for side in ("client", "server"):
            out.append(Interval(side, "ESTABLISHED", float(c.start), end, ip))
        if closed_by in ("client", "server"):
            out.append(Interval(closed_by, "TIME_WAIT", end, end + time_wait, ip))
    return out


def counts_over_time(
    intervals: Sequence[Interval], side: str, state: str
) -> tuple[list[float], list[int]]:
    """A step function: at each time in the first list, the count that holds from then."""
    events: list[tuple[float, int]] = []
    for iv in intervals:
        if iv.side == side and iv.state == state:
            events.append((iv.start, 1))
            events.append((iv.end, -1))
    events.sort(key=lambda e: (e[0], e[1]))  # closes before opens at the same instant
    times: list[float] = []
    counts: list[int] = []
    n = 0
    for t, d in events:
        n += d
        if times and times[-1] == t:
            counts[-1] = n
        else:
            times.append(t)
            counts.append(n)
    return times, counts


def _peak(intervals: Iterable[Interval]) -> int:
    events = sorted(
        [(iv.start, 1) for iv in intervals] + [(iv.end, -1) for iv in intervals],
        key=lambda e: (e[0], e[1]),
    )
    n = peak = 0
    for _, d in events:
        n += d
        peak = max(peak, n)
    return peak


@dataclass(slots=True)
class PortPressure:
    """Per client IP: how close its connection churn comes to exhausting the ports."""

    client_ip: str
    connections: int
    span: float  # seconds from the first connection's start to the last one's
    new_per_second: float  # busiest 60 s window (or the whole span, if shorter)
    peak_time_wait: int  # client-side sockets in TIME_WAIT at once (estimated)
    peak_in_use: int  # client-side sockets established or in TIME_WAIT at once
    range_used: float  # peak_in_use / EPHEMERAL_PORTS
    warning: str | None = None
    servers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_ip": self.client_ip, "connections": self.connections,
            "span": self.span, "new_per_second": self.new_per_second,
            "peak_time_wait": self.peak_time_wait, "peak_in_use": self.peak_in_use,
            "range_used": self.range_used, "warning": self.warning,
            "servers": self.servers,
        }


def new_connections_per_second(starts: Sequence[float], window: float = TIME_WAIT) -> float:
    """The busiest ``window`` of connection starts, per second. A capture shorter than
    the window is measured over its own span (at least one second, so a burst of ten
    connections in a millisecond is not reported as ten thousand per second)."""
    if not starts:
        return 0.0
    s = sorted(starts)
    span = s[-1] - s[0]
    if span < window:
        return len(s) / max(span, 1.0)
    best = 0
    j = 0
    for i in range(len(s)):
        while s[i] - s[j] > window:
            j += 1
        best = max(best, i - j + 1)
    return best / window


def port_pressure(
    connections: Iterable[Any], time_wait: float = TIME_WAIT
) -> list[PortPressure]:
    """One :class:`PortPressure` per client IP, busiest first."""
    conns = list(connections)
    intervals = socket_intervals(conns, time_wait)
    by_ip: dict[str, list[Any]] = {}
    for c in conns:
        by_ip.setdefault(client_ip(str(c.client)), []).append(c)
    out: list[PortPressure] = []
    for ip, cs in by_ip.items():
        mine = [iv for iv in intervals if iv.client_ip == ip and iv.side == "client"]
        starts = [float(c.start) for c in cs]
        rate = new_connections_per_second(starts, time_wait)
        peak_tw = _peak([iv for iv in mine if iv.state == "TIME_WAIT"])
        peak_use = _peak(mine)
        used = peak_use / EPHEMERAL_PORTS
        warning = None
        if rate > SUSTAINABLE_RATE:
            warning = (
                f"{rate:.0f} new connections/s from {ip}: sustained, TIME_WAIT "
                f"({time_wait:.0f} s) would exhaust the {EPHEMERAL_PORTS} ephemeral ports "
                f"({EPHEMERAL_LOW}–{EPHEMERAL_HIGH}) above {SUSTAINABLE_RATE:.0f}/s "
                "per server endpoint; reuse connections (keep-alive)"
            )
        elif used >= 0.5:
            warning = (
                f"up to {peak_use} ports of {ip} in use at once "
                f"({used:.0%} of the {EPHEMERAL_PORTS} ephemeral ports)"
            )
        out.append(PortPressure(
            ip, len(cs), max(starts) - min(starts), rate, peak_tw, peak_use, used, warning,
            sorted({str(c.server) for c in cs}),
        ))
    out.sort(key=lambda p: (-p.new_per_second, p.client_ip))
    return out
