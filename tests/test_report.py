"""The HTML report: self-contained, and rendered by a real headless browser (chromium)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import CAPTURES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("report") / "report.html"
    p = subprocess.run(
        [sys.executable, "-m", "analyzer", "report", str(CAPTURES / "go-leak.pcap"),
         str(CAPTURES / "go-drain.pcap"), "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 0, p.stderr
    return out


def test_report_is_self_contained(report: Path) -> None:
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>")
    # nothing to fetch: no scripts, stylesheets, images or fonts by reference
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "<link" not in html and "<script" not in html and "@import" not in html
    assert "url(" not in html.split("</style>")[0]
    assert html.count("<svg") == 3  # timeline, over time, histogram: inline
    for text in ("NOT-REUSED", "REUSED", "leak", "io.Copy(io.Discard, resp.Body)",
                 "evidence", "Port pressure", "TIME_WAIT", "28232", "C11"):
        assert text in html, text


def _chromium(*args: str) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
             f"--user-data-dir={profile}", *args],
            capture_output=True, timeout=90, env={**os.environ, "HOME": profile},
        )


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (make test installs it when root: "
    "apt-get install chromium)",
)
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    dom = _chromium("--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout.decode()
    assert "NOT-REUSED" in text and "127.0.0.1:18102" in text and "<svg" in text
    shot = tmp_path / "out.png"
    p = _chromium(f"--screenshot={shot}", "--window-size=1200,1600", report.as_uri())
    assert p.returncode == 0 and shot.exists(), p.stderr[-2000:]
    from matplotlib.image import imread

    img = imread(shot)
    assert img.shape[0] == 1600 and img.shape[1] == 1200
    assert float(img[..., :3].std()) > 0.05  # not blank: text, cards and plots
    # the verdict cards' colours are on screen (red border of NOT-REUSED, green of REUSED)
    rgb = (img[..., :3] * 255).round().astype(int).reshape(-1, 3).tolist()
    colours = {tuple(c) for c in rgb[:: 7]}
    assert (0xD6, 0x27, 0x28) in colours or (0xB7, 0x1C, 0x1C) in colours
