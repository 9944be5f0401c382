"""analyzer.pipeline: analyze() and analyze_bytes(), the public entry points."""

from __future__ import annotations

import pytest

import analyzer
from analyzer.errors import AnalyzerError
from analyzer.pipeline import analyze, analyze_bytes
from tests.conftest import CAPTURES

DRAIN = CAPTURES / "go-drain.pcap"


@pytest.mark.parametrize("jobs", [0, -1, True, 1.5, "2"])
def test_jobs_must_be_a_whole_number(jobs: object) -> None:
    with pytest.raises(AnalyzerError, match="jobs must be a whole number"):
        analyze(str(DRAIN), jobs=jobs)  # type: ignore[arg-type]


def test_analyze_bytes_is_analyze_of_the_file() -> None:
    from_file = analyze(str(DRAIN)).to_dict()
    from_bytes = analyze_bytes(DRAIN.read_bytes(), name=str(DRAIN)).to_dict()
    assert from_bytes == from_file


def test_public_names() -> None:
    assert analyzer.analyze is analyze and analyzer.analyze_bytes is analyze_bytes
    from analyzer.analysis import Analysis
    from analyzer.sniffing import sniff

    assert analyzer.Analysis is Analysis and analyzer.sniff is sniff


def test_paths_may_be_a_string_or_paths() -> None:
    a = analyze(DRAIN.as_posix())
    b = analyze([DRAIN])  # type: ignore[list-item]
    assert a.to_dict() == b.to_dict()


def test_a_large_analysis_keeps_its_exchanges_on_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    import analyzer.pipeline as pipeline

    small = analyze(str(DRAIN))
    assert small.spool is None and small.connection_records[0].exchanges
    monkeypatch.setattr(pipeline, "INLINE_BYTES", -1)
    big = analyze(str(DRAIN))
    assert big.spool is not None and not big.connection_records[0].exchanges
    assert big.to_dict() == small.to_dict()
