"""analyzer.sniffing: the live capture's filter (the capture itself: tests/test_live.py)."""

from __future__ import annotations

from analyzer.sniffing import capture_filter


def test_capture_filter() -> None:
    assert capture_filter() == "tcp"
    assert capture_filter([8080]) == "tcp and (port 8080)"
    assert capture_filter([80, 443], "host 10.0.0.1") == (
        "(tcp and (port 80 or port 443)) and (host 10.0.0.1)"
    )
