"""Pictures of connection reuse: matplotlib figures from an Analysis or its DataFrames.

Every function takes an :class:`~analyzer.api.Analysis` (or its ``connections`` DataFrame,
plus ``exchanges`` where markers need them) and returns a :class:`matplotlib.figure.Figure`
drawn on the Agg canvas: no pyplot state, no window, never ``show()``. Save it with
``fig.savefig("x.png")`` (or ``.svg``), or let a notebook display it. Pass ``ax=`` to draw
into an existing Axes (two timelines side by side); the Axes' figure is returned.

- :func:`timeline`: one row per connection, grouped by server; a bar from the first
  packet to the close, coloured by label; ▸ each request, ● each response; the teardown
  as a square (FIN) or a cross (RST), purple when the client sent it, orange the server.
- :func:`requests_histogram`: requests per connection, one panel per server.
- :func:`connections_over_time`: netstat's view — ESTABLISHED and TIME_WAIT sockets per
  side over time (see :mod:`analyzer.ports` for how TIME_WAIT is estimated).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

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
MAX_ROWS = 300


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


def _server_titles(servers: pd.DataFrame | None) -> dict[str, str]:
    if servers is None:
        return {}
    return {
        str(s.server): f"{s.server}  {str(s.verdict).upper()}"
        + (f" [{s.diagnosis}]" if isinstance(s.diagnosis, str) else "")
        for s in servers.itertuples()
    }


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
    green row full of markers."""
    conns, ex, servers = _frames(data, exchanges)
    rows = conns.sort_values(["server", "start"], kind="stable").head(max_rows)
    n = len(rows)
    fig, ax = _figure(10, 1.6 + 0.28 * max(n, 1) + 0.3 * rows["server"].nunique(), ax)
    ax.set_title(title or "connection timeline")
    if n == 0:
        ax.text(0.5, 0.5, "no connections", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    t0 = float(conns["start"].min())
    capture_end = float(conns["end"].max())
    titles = _server_titles(servers)
    ypos: dict[str, int] = {}
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
        ax.barh(y, max(end - float(c.start), 1e-9), left=float(c.start) - t0, height=0.6,
                color=LABEL_COLOUR.get(str(c.label), "#999999"), alpha=0.55, linewidth=0)
        yticks.append(y)
        ylabels.append(f"{c.id} :{str(c.client).rsplit(':', 1)[-1]}")
        if c.closed_by != "open":
            side = str(c.closed_by).split("-")[0]
            rst = str(c.closed_by).endswith("-rst")
            ts = c.teardown_ts if c.teardown_ts == c.teardown_ts else c.end  # NaN check
            ax.plot(float(ts) - t0, y, marker="X" if rst else "s", markersize=7,
                    color=SIDE_COLOUR[side], markeredgecolor="black", markeredgewidth=0.5,
                    linestyle="none", zorder=4)
        y += 1
    if ex is not None and len(ex):
        mine = ex[ex["connection"].isin(list(ypos))]
        yy = mine["connection"].map(ypos).astype(float)
        req = mine["request_ts"].notna()
        ax.plot(mine["request_ts"][req] - t0, yy[req], marker=">", markersize=5,
                color="black", linestyle="none", zorder=3)
        resp = mine["response_ts"].notna()
        ax.plot(mine["response_ts"][resp] - t0, yy[resp], marker="o", markersize=4,
                markerfacecolor="white", markeredgecolor="black", linestyle="none", zorder=3)
    ax.set_yticks(yticks, ylabels, fontsize=7)
    ax.set_ylim(y, -1)
    ax.set_xlabel("seconds since the first packet")
    ax.grid(axis="x", alpha=0.3)
    present = set(rows["label"].astype(str))
    handles: list[Artist] = [
        Patch(color=col, alpha=0.55, label=lab)
        for lab, col in LABEL_COLOUR.items() if lab in present
    ]
    handles += [
        Line2D([], [], marker=">", color="black", linestyle="none", label="request"),
        Line2D([], [], marker="o", markerfacecolor="white", markeredgecolor="black",
               linestyle="none", label="response"),
        Line2D([], [], marker="s", color="grey", linestyle="none", label="FIN"),
        Line2D([], [], marker="X", color="grey", linestyle="none", label="RST"),
        Line2D([], [], marker="o", color=SIDE_COLOUR["client"], linestyle="none",
               label="closed by client"),
        Line2D([], [], marker="o", color=SIDE_COLOUR["server"], linestyle="none",
               label="closed by server"),
    ]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1),
              frameon=False)
    if len(conns) > n:
        ax.annotate(f"first {n} of {len(conns)} connections", (1, 1),
                    xycoords="axes fraction", ha="right", va="bottom", fontsize=7)
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
        ax.xaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
        ax.yaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
    return fig


def connections_over_time(
    data: Any, *, time_wait: float = ports.TIME_WAIT, ax: Axes | None = None
) -> Figure:
    """ESTABLISHED and TIME_WAIT sockets over time on the client side and the server side
    — what ``netstat -an`` would have shown, second by second."""
    conns, _, _ = _frames(data)
    intervals = ports.socket_intervals(conns.itertuples(), time_wait)
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
    styles = {"ESTABLISHED": ("#1f77b4", "-"), "TIME_WAIT": ("#d62728", "--")}
    for axis, side in zip(axes, ("client", "server"), strict=True):
        for state, (colour, dash) in styles.items():
            times, counts = ports.counts_over_time(intervals, side, state)
            if not times:
                continue
            axis.step([t - t0 for t in times], counts, where="post", color=colour,
                      linestyle=dash, label=f"{side} {state}")
        axis.set_ylabel("sockets")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="upper right")
        axis.yaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
    axes[0].set_title(f"connections over time (TIME_WAIT estimated: {time_wait:.0f} s "
                      "on the side that closed first)")
    axes[-1].set_xlabel("seconds since the first packet")
    return fig
