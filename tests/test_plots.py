"""Plots: figures from an Analysis or its DataFrames, no pyplot, and what they show."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

import pytest

import analyzer
from analyzer import ports
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


def test_connections_over_time_counts(both: analyzer.Analysis, plots: ModuleType) -> None:
    intervals = ports.socket_intervals(both.connection_records)
    times, counts = ports.counts_over_time(intervals, "client", "ESTABLISHED")
    assert max(counts) == 10 and counts[-1] == 0  # the leak piles up 10 open at once
    _, tw = ports.counts_over_time(intervals, "client", "TIME_WAIT")
    assert max(tw) == 1  # only the drained client's FIN leaves TIME_WAIT; RST does not
    _, stw = ports.counts_over_time(intervals, "server", "TIME_WAIT")
    assert stw == []
    fig = plots.connections_over_time(both)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2


def test_empty_analysis_still_draws(plots: ModuleType) -> None:
    from analyzer.api import Analysis

    empty = Analysis([], [], [])
    for f in (plots.timeline, plots.requests_histogram, plots.connections_over_time):
        f(empty).savefig(__import__("io").BytesIO(), format="png")


def test_port_pressure_warns_above_the_sustainable_rate() -> None:
    from analyzer.core.records import ConnectionRecord

    def conn(i: int, t: float) -> ConnectionRecord:
        return ConnectionRecord(
            id=f"C{i}", capture="x", client=f"10.0.0.1:{1024 + i % 60000}",
            server="10.0.0.2:80", start=t, end=t + 0.001, handshake_seen=True, syn=1,
            synack=1, fin_client=1, fin_server=1, rst_client=0, rst_server=0,
            closed_by="client", requests=1, responses=1, interim_responses=0,
            label="per-request", upgraded=False, missing_bytes=0,
        )

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
