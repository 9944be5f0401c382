"""The errors a user of keepalive-analyzer can meet.

Broken traffic is data (the core records anomalies and goes on); only misuse and
unreadable inputs raise. Every error derives from :class:`AnalyzerError`, whose message
is one line that names the file and the problem, so the CLI can print it as it is.
"""

from __future__ import annotations

from analyzer.core import linktypes


class AnalyzerError(Exception):
    """Base of every error this package raises on purpose."""


class CaptureError(AnalyzerError):
    """A capture cannot be read: missing, unreadable, empty, not a capture, corrupt header."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def __reduce__(self) -> tuple[object, ...]:
        # Exceptions pickle as cls(*args); ours take (path, problem), so a CaptureError
        # raised in a worker process (analyze(jobs=N), dask) comes back intact.
        return (CaptureError, (self.path, self.problem), self.__dict__)


class UnsupportedLinkType(CaptureError):
    """The capture's link type is not one the decoder knows."""

    def __init__(self, path: str, linktype: int) -> None:
        name = linktypes.name(linktype)
        named = f" ({name})" if name != "unknown" else ""
        super().__init__(
            path,
            f"unsupported link type {linktype}{named}; supported: "
            f"{linktypes.supported_text()}",
        )
        self.linktype = linktype

    def __reduce__(self) -> tuple[object, ...]:
        return (UnsupportedLinkType, (self.path, self.linktype), self.__dict__)

