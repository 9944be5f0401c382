"""Pictures of connection reuse: matplotlib figures from an Analysis or its DataFrames.

Every function takes an :class:`~analyzer.analysis.Analysis` (or its ``connections`` DataFrame,
plus ``exchanges`` where markers need them) and returns a :class:`matplotlib.figure.Figure`
drawn on the Agg canvas: no pyplot state, no window, never ``show()``. Save it with
``fig.savefig("x.png")`` (or ``.svg``), or let a notebook display it. Pass ``ax=`` to draw
into an existing Axes (two timelines side by side); the Axes' figure is returned.

- :func:`timeline`: one row per connection, grouped by server; a bar from the first
  packet to the close, coloured by label; ▸ each request, ● each response; the teardown
  as a square (FIN) or a cross (RST), purple when the client sent it, orange the server.
  When the connections fall in two bursts with a pause between them that is longer than
  three quarters of the whole span (a connection opened minutes after the busy part), the
  time axis is cut: the pause shrinks to a narrow gap marked // on the spines, so the
  busy part is not squeezed into a sliver, and a note on the figure says so.
- :func:`requests_histogram`: requests per connection, one panel per server.
- :func:`connections_over_time`: netstat's view — ESTABLISHED and TIME_WAIT sockets per
  side over time (see :mod:`analyzer.ports` for how TIME_WAIT is estimated). The axis
  ends shortly after the last packet: a socket still in TIME_WAIT (60 s after its close)
  or still open then is drawn as a hatched tail, not as a minute of empty axis.

Axes that count things (connections, sockets, requests) get integer ticks only, whatever
the data: one distinct value must not come out as ticks 0.96, 0.98, 1.00.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_right
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from analyzer import ports

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

LABEL_COLOUR = {
    "persistent": "#2ca02c",
    "per-request": "#d62728",
    "unused": "#b0b0b0",
    "not-http": "#7f8fa6",
}
SIDE_COLOUR = {"client": "#6a3d9a", "server": "#ff7f00"}
STATE_STYLE = {"ESTABLISHED": ("#1f77b4", "-"), "TIME_WAIT": ("#d62728", "--")}
MAX_ROWS = 300
# A pause with no packets longer than this share of the timeline's span breaks its axis:
# left whole, the busy part would get less than a quarter of the width.
BREAK_SHARE: Final = 0.75
# Either side of a broken time axis gets at least this share of the width.
MIN_PANEL_SHARE: Final = 0.2
# connections_over_time shows this share of the traffic's span after its last packet (at
# least TAIL_MIN seconds): room for the tail of what the sockets still hold then.
TAIL_SHARE: Final = 0.1
TAIL_MIN: Final = 0.001


def _frames(data: Any, exchanges: pd.DataFrame | None = None) -> tuple[
    pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None
]:
    """(connections, exchanges, servers) from an Analysis or a connections DataFrame."""
    if hasattr(data, "connection_records"):
        return data.connections, exchanges if exchanges is not None else data.exchanges, (
            data.servers
        )
    return data, exchanges, None


def _figure(width: float, height: float, ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _integer_ticks(axis: Axis) -> None:
    """Whole numbers only, even when the data has a single value (the default locator then
    falls back to fractions); ``min_n_ticks=1`` lets one tick stand alone."""
    axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def _server_titles(servers: pd.DataFrame | None) -> dict[str, str]:
    if servers is None:
        return {}
    titles: dict[str, list[str]] = {}
    for s in servers.itertuples():
        verdict = f"{str(s.verdict).upper()}" + (
            f" [{s.diagnosis}]" if isinstance(s.diagnosis, str) else ""
        )
        if isinstance(getattr(s, "capture", None), str):  # captures analysed apart
            verdict += f" ({os.path.basename(s.capture)})"
        titles.setdefault(str(s.server), []).append(verdict)
    return {server: f"{server}  " + " / ".join(v) for server, v in titles.items()}


def _pause(spans: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """The longest stretch that no connection covers, from the first start to the last
    packet, as (from, to) — when it is longer than ``BREAK_SHARE`` of that span.

    Connections are taken from their first to their last packet, so the pause holds no
    packet at all and at least one connection starts after it."""
    ordered = sorted(spans)
    first = ordered[0][0]
    reach = ordered[0][1]
    best: tuple[float, float] | None = None
    for start, end in ordered[1:]:
        if start > reach and (best is None or start - reach > best[1] - best[0]):
            best = (reach, start)
        reach = max(reach, end)
    if best is None or best[1] - best[0] <= BREAK_SHARE * (reach - first):
        return None
    return best


class _TimeScale:
    """Seconds since the first packet → x on the timeline's axis.

    Without a pause it is the identity. With one, the axis is broken: the busy part
    before the pause and the part after it each get a share of the width (by their
    lengths, at least ``MIN_PANEL_SHARE`` for the shorter), the pause itself a narrow
    gap, and x is piecewise linear over those knots. One Axes either way, so ``ax=``
    and everything counted on it (bars, markers) work the same. A bar that spans the
    pause (a connection idle through it) crosses the cut."""

    GAP: Final = 0.04  # share of the width the pause takes

    def __init__(self, spans: Sequence[tuple[float, float]]) -> None:
        self.pause = _pause(spans)
        first = min(s for s, _ in spans)
        last = max(e for _, e in spans)
        if self.pause is None:
            self.knots: list[float] = []
            self.xs: list[float] = []
            return
        before, after = self.pause
        busy, late = before - first, last - after
        share = late / (busy + late) if busy + late else 0.5
        share = min(max(share, MIN_PANEL_SHARE), 1 - MIN_PANEL_SHARE) * (1 - self.GAP)
        # a margin on each side of each part; a part that is one instant gets one too
        pad_busy = 0.03 * busy if busy > 0 else 0.005 * (last - first)
        pad_late = 0.03 * late if late > 0 else 0.005 * (last - first)
        self.knots = [first - pad_busy, before + pad_busy, after - pad_late, last + pad_late]
        left = 1 - self.GAP - share
        self.xs = [0.0, left, left + self.GAP, 1.0]

    def __call__(self, seconds: Any) -> Any:
        """x for one time or an array of them."""
        if self.pause is None:
            return seconds
        return np.interp(np.asarray(seconds, dtype=float), self.knots, self.xs)

    def decorate(self, ax: Axes) -> None:
        """x limits, ticks per part, and // on both spines where the pause was cut out.

        Text, not lines or patches, so that ``ax.lines`` and ``ax.patches`` hold only the
        connections' markers and bars, broken axis or not."""
        if self.pause is None:
            return
        ax.set_xlim(0, 1)
        ticks: list[float] = []
        labels: list[str] = []
        for lo, hi, width in ((self.knots[0], self.knots[1], self.xs[1]),
                              (self.knots[2], self.knots[3], 1 - self.xs[2])):
            values = [v for v in MaxNLocator(nbins=max(2, round(8 * width))).tick_values(lo, hi)
                      if lo <= v <= hi]
            step = values[1] - values[0] if len(values) > 1 else 1.0
            decimals = max(0, math.ceil(-math.log10(step) - 1e-9))
            ticks += [float(self(v)) for v in values]
            labels += [f"{v:.{decimals}f}" for v in values]
        ax.set_xticks(ticks, labels)
        # the cut: // across the bottom and top spines, in the middle of the pause's band
        middle = (self.xs[1] + self.xs[2]) / 2
        for y in (0.0, 1.0):
            ax.text(middle, y, "//", transform=ax.get_xaxis_transform(), ha="center",
                    va="center", fontsize=9, clip_on=False, zorder=5,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})


TLS_MARKER = {"full": ("D", "black"), "resumed": ("D", "white"), "failed": ("X", "red")}


def timeline(
    data: Any,
    exchanges: pd.DataFrame | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    max_rows: int = MAX_ROWS,
) -> Figure:
    """One row per connection (grouped by server, in order of start): bar, requests,
    responses, teardown. A leak is a staircase of short red rows; reuse is one long
    green row full of markers. A pause with no packets over three quarters of the span
    breaks the time axis (a note on the figure says so)."""
    conns, ex, servers = _frames(data, exchanges)
    rows = conns.sort_values(["server", "start"], kind="stable").head(max_rows)
    n = len(rows)
    fig, ax = _figure(10, 1.6 + 0.28 * max(n, 1) + 0.3 * rows["server"].nunique(), ax)
    if n == 0:
        ax.set_title(title or "connection timeline")
        ax.text(0.5, 0.5, "no connections", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    t0 = float(conns["start"].min())
    capture_end = float(conns["end"].max())
    x = _TimeScale([(float(s) - t0, float(e) - t0)
                    for s, e in zip(rows["start"], rows["end"], strict=True)])
    titles = _server_titles(servers)
    ypos: dict[str, int] = {}
    tls_seen: set[str] = set()
    yticks: list[int] = []
    ylabels: list[str] = []
    y = 0
    last_server = None
    for c in rows.itertuples():
        if c.server != last_server:
            if last_server is not None:
                y += 1
            ax.text(0, y - 0.55, titles.get(str(c.server), str(c.server)), fontsize=8,
                    fontweight="bold", va="bottom", ha="left",
                    transform=ax.get_yaxis_transform())
            y += 1
            last_server = c.server
        ypos[str(c.id)] = y
        end = capture_end if c.closed_by == "open" else float(c.end)
        left, right = x(float(c.start) - t0), x(end - t0)
        ax.barh(y, max(right - left, 1e-9), left=left, height=0.6,
                color=LABEL_COLOUR.get(str(c.label), "#999999"), alpha=0.55, linewidth=0)
        yticks.append(y)
        proto = getattr(c, "protocol", None)
        proto = proto if isinstance(proto, str) else ""
        tag = "" if proto in ("", "http/1.x", "unknown") else f" {proto}"
        ylabels.append(f"{c.id} :{str(c.client).rsplit(':', 1)[-1]}{tag}")
        handshake = getattr(c, "tls_handshake", None)
        if isinstance(handshake, str) and handshake in TLS_MARKER:
            # the TLS handshake, at the connection's start: full ◆, resumed ◇, failed ✖
            marker, fill = TLS_MARKER[handshake]
            ax.plot(left, y, marker=marker, markersize=6, markerfacecolor=fill,
                    markeredgecolor="black", markeredgewidth=0.6, linestyle="none",
                    zorder=4)
            tls_seen.add(handshake)
        if c.closed_by != "open":
            side = str(c.closed_by).split("-")[0]
            rst = str(c.closed_by).endswith("-rst")
            ts = c.teardown_ts if c.teardown_ts == c.teardown_ts else c.end  # NaN check
            ax.plot(x(float(ts) - t0), y, marker="X" if rst else "s", markersize=7,
                    color=SIDE_COLOUR[side], markeredgecolor="black", markeredgewidth=0.5,
                    linestyle="none", zorder=4)
        y += 1
    if ex is not None and len(ex):
        mine = ex[ex["connection"].isin(list(ypos))]
        yy = mine["connection"].map(ypos).astype(float)
        req = mine["request_ts"].notna()
        ax.plot(x(mine["request_ts"][req] - t0), yy[req], marker=">", markersize=5,
                color="black", linestyle="none", zorder=3)
        resp = mine["response_ts"].notna()
        ax.plot(x(mine["response_ts"][resp] - t0), yy[resp], marker="o", markersize=4,
                markerfacecolor="white", markeredgecolor="black", linestyle="none", zorder=3)
    ax.set_yticks(yticks, ylabels, fontsize=7)
    ax.set_ylim(y, -1)
    ax.set_xlabel("seconds since the first packet")
    ax.grid(axis="x", alpha=0.3)
    x.decorate(ax)
    present = set(rows["label"].astype(str))
    handles: list[Artist] = [
        Patch(color=col, alpha=0.55, label=lab)
        for lab, col in LABEL_COLOUR.items() if lab in present
    ]
    handles += [
        Line2D([], [], marker=">", color="black", linestyle="none", label="request"),
        Line2D([], [], marker="o", markerfacecolor="white", markeredgecolor="black",
               linestyle="none", label="response"),
        *(Line2D([], [], marker=TLS_MARKER[h][0], markerfacecolor=TLS_MARKER[h][1],
                 markeredgecolor="black", linestyle="none", label=f"TLS handshake, {h}")
          for h in TLS_MARKER if h in tls_seen),
        Line2D([], [], marker="s", color="grey", linestyle="none", label="FIN"),
        Line2D([], [], marker="X", color="grey", linestyle="none", label="RST"),
        Line2D([], [], marker="o", color=SIDE_COLOUR["client"], linestyle="none",
               label="closed by client"),
        Line2D([], [], marker="o", color=SIDE_COLOUR["server"], linestyle="none",
               label="closed by server"),
    ]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1),
              frameon=False)
    notes: list[str] = []
    if x.pause is not None:
        before, after = x.pause
        later = sum(1 for s in rows["start"] if float(s) - t0 >= after)
        notes.append(
            f"time axis broken: no packets for {after - before:.1f} s (+{before:.1f} s to "
            f"+{after:.1f} s); {later} connection{'s' if later != 1 else ''} after it, "
            "on the right"
        )
    if len(conns) > n:
        notes.append(f"first {n} of {len(conns)} connections")
    if x.pause is not None:
        # under the title, left-aligned: a narrow Axes has no room for both on one line
        ax.set_title(title or "connection timeline", loc="left", pad=14)
        ax.annotate("; ".join(notes), (0, 1), xycoords="axes fraction", xytext=(0, 3),
                    textcoords="offset points", ha="left", va="bottom", fontsize=7)
    else:
        ax.set_title(title or "connection timeline")
        if notes:
            ax.annotate("; ".join(notes), (1, 1), xycoords="axes fraction", ha="right",
                        va="bottom", fontsize=7)
    return fig


def requests_histogram(data: Any, *, max_servers: int = 12) -> Figure:
    """Requests per connection, one panel per server: reuse piles up to the right of 1."""
    conns, _, servers = _frames(data)
    names = sorted(conns["server"].astype(str).unique())[:max_servers] or ["(none)"]
    fig = Figure(figsize=(min(4 * len(names), 12), 3 * ((len(names) + 2) // 3)),
                 layout="constrained")
    FigureCanvasAgg(fig)
    cols = min(len(names), 3)
    rows = (len(names) + cols - 1) // cols
    titles = _server_titles(servers)
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        counts = conns.loc[conns["server"] == name, "requests"].value_counts().sort_index()
        ax.bar([int(k) for k in counts.index], [int(v) for v in counts.values],
               color="#4c72b0", width=0.8)
        ax.set_title(titles.get(name, name), fontsize=9)
        ax.set_xlabel("requests per connection")
        ax.set_ylabel("connections")
        _integer_ticks(ax.xaxis)
        _integer_ticks(ax.yaxis)
        if not len(counts):
            ax.text(0.5, 0.5, "no connections", ha="center", va="center",
                    transform=ax.transAxes)
    return fig


def _value_at(times: list[float], counts: list[int], t: float) -> int:
    """The step function's value at ``t`` (events at ``t`` included)."""
    i = bisect_right(times, t)
    return counts[i - 1] if i else 0


def connections_over_time(
    data: Any, *, time_wait: float = ports.TIME_WAIT, ax: Axes | None = None
) -> Figure:
    """ESTABLISHED and TIME_WAIT sockets over time on the client side and the server side
    — what ``netstat -an`` would have shown, second by second.

    The time axis ends a little after the last packet. What the sockets still hold then —
    TIME_WAIT (``time_wait`` seconds after each close) and connections the capture saw no
    end of — is a hatched, lighter tail past a dotted line at the last packet, with a
    legend entry that says how long TIME_WAIT lasts."""
    conns, _, _ = _frames(data)
    records = list(conns.itertuples())
    intervals = ports.socket_intervals(records, time_wait)
    if ax is None:
        fig = Figure(figsize=(10, 5), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(2, 1, sharex=True)
    else:
        fig = ax.figure  # type: ignore[assignment]
        axes = [ax, ax]
    if not intervals:
        axes[0].text(0.5, 0.5, "no connections", ha="center", va="center",
                     transform=axes[0].transAxes)
        return fig
    t0 = min(iv.start for iv in intervals)
    traffic_end = max(float(c.end) for c in records)  # the last packet
    span = traffic_end - t0
    x_end = span + max(TAIL_SHARE * span, TAIL_MIN)
    still_open = sum(1 for c in records if str(c.closed_by) == "open")
    for axis, side in zip(axes, ("client", "server"), strict=True):
        for state, (colour, dash) in STATE_STYLE.items():
            times, counts = ports.counts_over_time(intervals, side, state)
            if not times:
                continue
            # socket_intervals ends a still-open connection at the last packet: here it
            # carries on into the tail, as the kernel would have kept it.
            carried = still_open if state == "ESTABLISHED" else 0
            at_end = _value_at(times, counts, traffic_end) + carried
            xs = [t - t0 for t in times if t < traffic_end] + [span]
            ys = [n for t, n in zip(times, counts, strict=True) if t < traffic_end] + [at_end]
            if len(xs) > 1:  # not a state that only begins with the last packet
                axis.step(xs, ys, where="post", color=colour, linestyle=dash,
                          label=f"{side} {state}")
            if not at_end:
                continue
            tail_x = [span] + [t - t0 for t in times if traffic_end < t < t0 + x_end] + [x_end]
            tail_y = [at_end] + [
                n + carried for t, n in zip(times, counts, strict=True)
                if traffic_end < t < t0 + x_end
            ]
            tail_y.append(tail_y[-1])
            if state == "TIME_WAIT":
                until = max(iv.end for iv in intervals
                            if iv.side == side and iv.state == state) - t0
                what = (f"{side} TIME_WAIT after the last packet "
                        f"({time_wait:.0f} s, until +{until:.1f} s)")
            else:
                what = f"{side} still open when the capture ended"
            axis.fill_between(tail_x, tail_y, step="post", facecolor=(*to_rgb(colour), 0.15),
                              edgecolor=colour, hatch="//", linewidth=0, label=what)
        axis.axvline(span, color="grey", linestyle=":", linewidth=0.8)
        axis.set_xlim(-0.02 * x_end, x_end)
        axis.set_ylabel("sockets")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        _integer_ticks(axis.yaxis)
    # left-aligned: centred over an Axes narrowed by the legends, it would run off the figure
    axes[0].set_title(f"connections over time (TIME_WAIT estimated: {time_wait:.0f} s "
                      "on the side that closed first)", loc="left")
    axes[-1].set_xlabel("seconds since the first packet")
    return fig
