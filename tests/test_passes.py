"""analyzer.passes: which files are one capture, the order they are read in, one pass."""

from __future__ import annotations

import pytest

from analyzer.errors import AnalyzerError
from analyzer.passes import PartitionSpec, breaks_of, file_order, series_name
from tests.conftest import CAPTURES

DRAIN, LEAK = str(CAPTURES / "go-drain.pcap"), str(CAPTURES / "go-leak.pcap")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("dump.pcap", "dump.pcap1", True),  # tcpdump -C: the first file has no number
        ("/x/dump.pcap3", "/y/dump.pcap12", True),  # directories do not count
        ("out_00000_20261202101500.pcap", "out_00001_20261202101600.pcap", True),  # editcap
        ("part_1.pcap", "part_2.pcap.gz", True),  # one part compressed
        ("before.pcap", "after.pcap", False),
        ("go-leak.pcap", "go-drain.pcap", False),
        ("a.pcap", "a.pcapng", False),
    ],
)
def test_series_name(a: str, b: str, same: bool) -> None:
    assert (series_name(a) == series_name(b)) is same


def test_breaks_of_by_policy() -> None:
    paths = ["run.pcap", "run.pcap1", "other.pcap", "other.pcap1"]
    order = [0, 1, 2, 3]
    assert breaks_of(paths, order, None) == [2]  # a new series starts a group
    assert breaks_of(paths, order, True) == []
    assert breaks_of(paths, order, False) == [1, 2, 3]
    # the order files are read in decides what "the one before" is
    assert breaks_of(paths, [2, 0, 3, 1], None) == [0, 3, 1]


def test_file_order_is_by_first_packet_then_as_named() -> None:
    assert file_order([LEAK, DRAIN], "native") == [1, 0]  # go-drain was recorded first
    assert file_order([DRAIN, DRAIN], "native") == [0, 1]
    assert file_order([LEAK], "native") == [0]  # one file: not even opened


def test_file_order_fails_before_any_work_on_an_unreadable_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "notes.pcap"
    bad.write_text("not a capture")
    with pytest.raises(AnalyzerError, match="notes.pcap"):
        file_order([DRAIN, str(bad)], "native")


def test_partition_spec_pickles() -> None:
    import pickle

    spec = PartitionSpec([DRAIN], [DRAIN], [0], 300.0, False, "native", [])
    assert pickle.loads(pickle.dumps(spec)) == spec
