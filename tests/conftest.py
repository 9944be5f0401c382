"""Shared fixtures and the golden-baseline update switch (``pytest --update-golden``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/*.json from the analyzer's output (read the diff!)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


EDITCAP = shutil.which("editcap")
needs_editcap = pytest.mark.skipif(
    EDITCAP is None, reason="editcap (Debian package tshark / wireshark-common) is not installed"
)


def split_capture(src: Path, out_dir: Path, parts: int) -> list[Path]:
    """Cut ``src`` into ``parts`` files of equal packet counts with ``editcap -c`` (as a
    rotated capture would be), in the source's own format so timestamps read the same;
    returns the parts in order."""
    import subprocess

    from analyzer.capture.files import CaptureFile

    cf = CaptureFile(str(src))
    packets = sum(len(records) for _, records in cf.batches())
    out_dir.mkdir(parents=True, exist_ok=True)
    fmt = "pcapng" if cf.format.startswith("pcapng") else "pcap"
    per = max(1, -(-packets // parts))
    subprocess.run(
        [str(EDITCAP), "-F", fmt, "-c", str(per), str(src), str(out_dir / f"part.{fmt}")],
        check=True, capture_output=True, timeout=60,
    )
    files = sorted(out_dir.glob(f"part_*.{fmt}"))
    assert len(files) == -(-packets // per), files
    return files


@pytest.fixture(autouse=True)
def _nothing_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that runs the console script (cli.entry) makes this process keep what it is
    done with (analyzer.leaving); the next test starts from a process that does not."""
    from analyzer import leaving

    monkeypatch.setattr(leaving, "_kept", None)
