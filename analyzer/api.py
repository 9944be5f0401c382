"""The old home of the public API, kept for code that imports ``analyzer.api``: the
names now live in :mod:`analyzer.analysis` (Analysis), :mod:`analyzer.pipeline`
(analyze, analyze_bytes) and :mod:`analyzer.sniffing` (sniff, capture_filter). Import
them from :mod:`analyzer` itself."""

from __future__ import annotations

from analyzer.analysis import SCHEMA, Analysis
from analyzer.pipeline import analyze, analyze_bytes
from analyzer.sniffing import capture_filter, sniff

__all__ = ["SCHEMA", "Analysis", "analyze", "analyze_bytes", "capture_filter", "sniff"]
