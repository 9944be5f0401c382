"""Plots: figures from an Analysis or its DataFrames, no pyplot, and what they show."""

from __future__ import annotations

import io
import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest

import analyzer
from analyzer import ports
from analyzer.analysis import Analysis
from analyzer.core.records import ConnectionRecord
from tests.conftest import CAPTURES

# matplotlib is imported by the tests, not at collection: a big pytest process raises the
# peak RSS that subprocess-measuring tests (tests/test_fuzz.py) inherit through fork.


@pytest.fixture(scope="module")
def plots() -> ModuleType:
    pytest.importorskip("matplotlib")
    from analyzer.output import plots

    return plots


@pytest.fixture(scope="module")
def both() -> analyzer.Analysis:
    return analyzer.analyze([str(CAPTURES / "go-leak.pcap"), str(CAPTURES / "go-drain.pcap")])


def _record(i: int, start: float, end: float, closed_by: str = "client",
            label: str = "per-request") -> ConnectionRecord:
    return ConnectionRecord(
        id=f"C{i}", capture="x", client=f"10.0.0.1:{1024 + i % 60000}",
        server="10.0.0.2:80", start=start, end=end, handshake_seen=True, syn=1,
        synack=1, fin_client=1, fin_server=1, rst_client=0, rst_server=0,
        closed_by=closed_by, requests=1, responses=1, interim_responses=0,
        label=label, upgraded=False, missing_bytes=0,
    )


def _visible_ticks(axis: Any, limits: tuple[float, float]) -> list[tuple[float, str]]:
    """(value, label) of the ticks inside the view, once the figure is drawn."""
    lo, hi = sorted(limits)
    return [(t.get_loc(), t.label1.get_text()) for t in axis.get_major_ticks()
            if lo <= t.get_loc() <= hi]


def _x_extent(patches: list[Any]) -> tuple[float, float]:
    return (min(p.get_x() for p in patches), max(p.get_x() + p.get_width() for p in patches))


def test_timeline_rows_markers_and_teardowns(both: analyzer.Analysis, plots: ModuleType) -> None:
    fig = plots.timeline(both)
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 11 and labels[0].startswith("C1 ")  # the drained client first
    bars = [p for p in ax.patches]
    colours = {tuple(round(x, 3) for x in b.get_facecolor()[:3]) for b in bars}
    assert len(bars) == 11 and len(colours) == 2  # persistent and per-request
    markers = {ln.get_marker(): len(ln.get_xdata()) for ln in ax.lines}
    assert markers[">"] == 20 and markers["o"] == 20  # every request and response
    assert sum(1 for ln in ax.lines if ln.get_marker() == "X") == 10  # leak ends in RST
    assert sum(1 for ln in ax.lines if ln.get_marker() == "s") == 1  # drain: a FIN
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "[leak]" in texts and "[reused]" in texts


def test_timeline_from_dataframes_and_into_given_axes(
    both: analyzer.Analysis, plots: ModuleType
) -> None:
    from matplotlib.figure import Figure

    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert plots.timeline(both.connections, both.exchanges, ax=left) is fig
    plots.timeline(analyzer.analyze(str(CAPTURES / "go-drain.pcap")), ax=right)
    assert len(left.get_yticklabels()) == 11 and len(right.get_yticklabels()) == 1


def test_histogram_one_panel_per_server(both: analyzer.Analysis, plots: ModuleType) -> None:
    fig = plots.requests_histogram(both)
    assert len(fig.axes) == 2
    drain, leak = fig.axes  # sorted by endpoint: 18101, 18102
    assert [p.get_x() + p.get_width() / 2 for p in drain.patches] == [10]
    assert [p.get_height() for p in leak.patches] == [10]


@pytest.mark.parametrize("capture", ["curl-per-request.pcap", "go-drain.pcap"])
def test_histogram_of_one_value_has_integer_ticks(capture: str, plots: ModuleType) -> None:
    # curl: five connections of one request each; go-drain: one connection of ten. One
    # distinct value on x (and on y for go-drain): no 0.6, 0.8, 1.0, 1.2 ticks.
    fig = plots.requests_histogram(analyzer.analyze(str(CAPTURES / capture)))
    fig.canvas.draw()
    (ax,) = fig.axes
    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        ticks = _visible_ticks(axis, limits)
        assert ticks
        for value, label in ticks:
            assert float(value).is_integer() and label == str(int(value)), ticks
    (bar,) = ax.patches
    assert (bar.get_x() + bar.get_width() / 2) in [v for v, _ in _visible_ticks(
        ax.xaxis, ax.get_xlim())]


def test_connections_over_time_counts(both: analyzer.Analysis, plots: ModuleType) -> None:
    intervals = ports.socket_intervals(both.connection_records)
    times, counts = ports.counts_over_time(intervals, "client", "ESTABLISHED")
    assert max(counts) == 10 and counts[-1] == 0  # the leak piles up 10 open at once
    _, tw = ports.counts_over_time(intervals, "client", "TIME_WAIT")
    assert max(tw) == 1  # only the drained client's FIN leaves TIME_WAIT; RST does not
    _, stw = ports.counts_over_time(intervals, "server", "TIME_WAIT")
    assert stw == []
    fig = plots.connections_over_time(both)
    assert len(fig.axes) == 2
    steps = [ln.get_label() for ln in fig.axes[0].lines if not ln.get_label().startswith("_")]
    assert steps == ["client ESTABLISHED", "client TIME_WAIT"]


def test_connections_over_time_ends_with_the_traffic(plots: ModuleType) -> None:
    drain = analyzer.analyze(str(CAPTURES / "go-drain.pcap"))
    (c,) = drain.connection_records
    span = c.end - c.start  # 0.507 s; the client's FIN leaves TIME_WAIT for 60 s after it
    fig = plots.connections_over_time(drain)
    client, server = fig.axes
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        assert lo <= 0 and span < hi <= span * 1.2, (lo, hi)  # not a 60 s window
        for line in ax.lines:  # the step lines stop at the last packet
            assert max(line.get_xdata()) <= span + 1e-9
    (tail,) = [col for col in client.collections if col.get_hatch()]
    assert "TIME_WAIT" in tail.get_label() and "until +60.5 s" in tail.get_label()
    (path,) = tail.get_paths()  # in data coordinates: seconds since the first packet
    xs, ys = path.vertices[:, 0], path.vertices[:, 1]
    assert xs.min() == pytest.approx(span) and xs.max() <= client.get_xlim()[1] + 1e-9
    assert ys.max() == 1  # the one client socket in TIME_WAIT
    assert tail.get_label() in [t.get_text() for t in client.get_legend().get_texts()]
    assert not [col for col in server.collections if col.get_hatch()]  # the server: nothing


def test_connections_over_time_open_tail(plots: ModuleType) -> None:
    # three connections, the last two still open when the capture ends at +2 s
    recs = [_record(1, 100.0, 100.5), _record(2, 100.2, 101.0, "open"),
            _record(3, 101.0, 102.0, "open")]
    fig = plots.connections_over_time(Analysis([], recs, []))
    for ax, side in zip(fig.axes, ("client", "server"), strict=True):
        assert ax.get_xlim()[1] <= 2.0 * 1.2
        tails = {col.get_label(): col for col in ax.collections if col.get_hatch()}
        opened = tails[f"{side} still open when the capture ended"]
        (path,) = opened.get_paths()
        assert path.vertices[:, 1].max() == 2  # both still open
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert f"{side} still open when the capture ended" in legend


def test_timeline_breaks_the_axis_for_a_late_connection(plots: ModuleType) -> None:
    # ten connections in the first second, one more five minutes later
    busy = [_record(i, 1000 + i / 10, 1000 + i / 10 + 0.04) for i in range(10)]
    late = _record(10, 1300.0, 1300.2, "client", "persistent")
    fig = plots.timeline(Analysis([], [*busy, late], []))
    (ax,) = fig.axes
    lo, hi = ax.get_xlim()
    bars = ax.patches
    assert len(bars) == 11
    b0, b1 = _x_extent(bars[:10])
    assert (b1 - b0) / (hi - lo) > 0.5  # the busy part is not a sliver at the left
    l0, l1 = _x_extent(bars[10:])
    assert b1 < l0 and lo <= b0 and l1 <= hi  # the late one is on the axis, to the right
    fig.canvas.draw()
    labels = [float(t) for _, t in _visible_ticks(ax.xaxis, (lo, hi))]
    assert min(labels) == 0 and any(299.9 <= v <= 300.1 for v in labels)  # true seconds
    assert all(a < b for a, b in zip(labels, labels[1:], strict=False))
    notes = " ".join(t.get_text() for t in ax.texts)
    assert "time axis broken: no packets for 299.1 s (+0.9 s to +300.0 s)" in notes
    assert "//" in notes  # the cut, on the spines
    assert "1 connection after it, on the right" in notes


def test_timeline_keeps_one_axis_without_a_long_pause(
    both: analyzer.Analysis, plots: ModuleType
) -> None:
    # go-drain then go-leak, 2.8 s apart in 4.4 s: not long enough to break the axis
    fig = plots.timeline(both)
    (ax,) = fig.axes
    assert "broken" not in " ".join(t.get_text() for t in ax.texts)
    c = both.connection_records
    span = max(r.end for r in c) - min(r.start for r in c)
    lo, hi = ax.get_xlim()
    assert lo <= 0 and span <= hi < span * 1.2


def test_empty_analysis_still_draws(plots: ModuleType) -> None:
    empty = Analysis([], [], [])
    for f in (plots.timeline, plots.requests_histogram, plots.connections_over_time):
        fig = f(empty)
        assert "no connections" in [t.get_text() for ax in fig.axes for t in ax.texts]
        assert not [p for ax in fig.axes for p in ax.patches]  # no bars
        out = io.BytesIO()
        fig.savefig(out, format="png")
        assert out.getvalue().startswith(b"\x89PNG")


def test_port_pressure_warns_above_the_sustainable_rate() -> None:
    def conn(i: int, t: float) -> ConnectionRecord:
        return _record(i, t, t + 0.001)

    busy = [conn(i, i / 1000) for i in range(3000)]  # 1000/s for 3 s
    (p,) = ports.port_pressure(busy)
    assert p.new_per_second == pytest.approx(1000, rel=0.01)
    assert p.peak_time_wait == 3000 and p.warning and "ephemeral" in p.warning
    calm = [conn(i, i * 1.0) for i in range(100)]  # 1/s
    (q,) = ports.port_pressure(calm)
    assert q.warning is None and q.peak_time_wait == 60
    assert round(ports.SUSTAINABLE_RATE) == 471 and ports.EPHEMERAL_PORTS == 28232


def test_cli_plot_png_and_svg(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("t.png", "t.svg"):
        out = tmp_path / name
        p = subprocess.run(
            [sys.executable, "-m", "analyzer", "analyze", str(CAPTURES / "go-leak.pcap"),
             "--plot", str(out), "-f", "json", "-o", str(tmp_path / "r.json")],
            capture_output=True, text=True, timeout=120,
        )
        assert p.returncode == 0, p.stderr
        head = out.read_bytes()[:200]
        assert head.startswith(b"\x89PNG") if name.endswith("png") else b"<svg" in head
    p = subprocess.run(
        [sys.executable, "-m", "analyzer", "analyze", str(CAPTURES / "go-leak.pcap"),
         "--plot", str(tmp_path / "t.gif")], capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 2 and ".png or .svg" in p.stderr


def test_json_output_imports_no_matplotlib() -> None:
    code = (
        "import sys; from analyzer.cli import main; sys.argv=['keepalive','analyze',"
        f"{str(CAPTURES / 'go-drain.pcap')!r},'-f','json','-o','/dev/null'];\n"
        "try: main()\nexcept SystemExit: pass\n"
        "print(','.join(m for m in ('pandas','matplotlib') if m in sys.modules))"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.strip() == ""
