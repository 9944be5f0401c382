"""The CLI's side of the plots: check that matplotlib is there, save a figure by extension.

Kept apart from :mod:`analyzer.output.plots` so that a missing matplotlib becomes one clear
line (``AnalyzerError``) instead of an ImportError, and so the CLI imports matplotlib only
when a picture is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from analyzer.errors import AnalyzerError

if TYPE_CHECKING:
    from analyzer.analysis import Analysis

FORMATS = {".png": "png", ".svg": "svg"}


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise AnalyzerError(
            "plots need matplotlib: pip install 'keepalive-analyzer[plots]'"
        ) from None


def save_timeline(a: Analysis, path: Path) -> None:
    """The connection timeline as PNG or SVG, chosen by the file's extension."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise AnalyzerError(f"{path}: --plot writes .png or .svg, not {path.suffix or 'no'} files")
    require_matplotlib()
    from analyzer.output.plots import timeline

    fig = timeline(a)
    try:
        fig.savefig(path, format=fmt, dpi=120, metadata={"Date": None} if fmt == "svg" else None)
    except OSError as e:
        raise AnalyzerError(f"{path}: cannot write: {e.strerror or e}") from None
