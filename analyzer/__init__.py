"""keepalive-analyzer: do your HTTP clients and servers reuse TCP connections, and if not, why?

Public API::

    import analyzer
    a = analyzer.analyze("capture.pcap")     # or a list of files; sniff() captures live
    a.servers          # one row per server endpoint: verdict, diagnosis, evidence, hint
    a.connections      # one row per TCP connection
    a.exchanges        # one row per HTTP request/response
    a.to_json()        # the JSON contract, schema keepalive-analyzer/1

    analyzer.plots.timeline(a)                 # matplotlib Figures (needs matplotlib)
    analyzer.compare_captures("before.pcap", "after.pcap")   # did the fix work?
    analyzer.port_pressure(a.connection_records)             # TIME_WAIT and new conn/s
"""

from __future__ import annotations

from typing import Any

from analyzer import _compiled

_compiled.install()  # before any core module loads: compiled, or pure when stale

from analyzer.analysis import SCHEMA, Analysis  # noqa: E402
from analyzer.errors import AnalyzerError, CaptureError, UnsupportedLinkType  # noqa: E402
from analyzer.pipeline import analyze, analyze_bytes  # noqa: E402
from analyzer.ports import port_pressure  # noqa: E402
from analyzer.sniffing import sniff  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "SCHEMA", "Analysis", "AnalyzerError", "CaptureError", "UnsupportedLinkType", "analyze",
    "analyze_bytes", "compare_captures", "plots", "port_pressure", "sniff",
]


def compare_captures(before: str, after: str, *, show_secrets: bool = False) -> Any:
    """Side by side per server: a capture (or saved JSON) before and after a fix."""
    from analyzer.compare import compare

    return compare(before, after, show_secrets=show_secrets)


def __getattr__(name: str) -> Any:
    # analyzer.plots loads matplotlib only when asked for.
    if name == "plots":
        from analyzer.output import plots

        return plots
    raise AttributeError(f"module 'analyzer' has no attribute {name!r}")
