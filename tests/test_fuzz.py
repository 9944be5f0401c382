"""The never-crash invariant: every seed and every input that ever broke something is
replayed, and a short coverage-guided run (atheris) explores from the seeds."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

FUZZ = ROOT / "tests" / "fuzz"
sys.path.insert(0, str(FUZZ))
from invariant import check  # noqa: E402

CASES = sorted((FUZZ / "regressions").iterdir()) + sorted((FUZZ / "corpus").iterdir())


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_replay(path: Path) -> None:
    data = path.read_bytes()
    check(data)
    for cut in (1, len(data) // 3, len(data) - 1):  # and truncated
        check(data[:cut])


def test_truncation_at_every_byte_of_a_golden_capture() -> None:
    data = (ROOT / "captures" / "reset-linger.pcap").read_bytes()
    full = None
    for cut in range(len(data) + 1):
        check(data[:cut])
    from analyzer.pipeline import analyze_bytes

    full = analyze_bytes(data)
    half = analyze_bytes(data[: len(data) // 2])
    assert half.capture_records[0].truncated and half.capture_records[0].warnings
    assert 0 < half.exchange_count < full.exchange_count


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_short_fuzz_run(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(FUZZ / "corpus", corpus)
    p = subprocess.run(
        [sys.executable, str(FUZZ / "fuzz_capture.py"), str(corpus), str(FUZZ / "regressions"),
         # seeded and bounded by runs: the same exploration every CI run (make fuzz
         # explores open-endedly)
         "-seed=1", "-runs=20000", "-max_total_time=60", "-rss_limit_mb=2048", "-timeout=10",
         f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Done" in p.stderr


def test_a_gzip_bomb_is_streamed(tmp_path: Path) -> None:
    # 256 MiB of records once decompressed, 256 KiB on disk: memory must not follow.
    import gzip
    import struct

    bomb = tmp_path / "bomb.pcap.gz"
    rec = struct.pack("<IIII", 0, 0, 65535, 65535) + b"\0" * 65535
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for _ in range(4096):
            fh.write(rec)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    # VmHWM is this process's own peak RSS (ru_maxrss would include pytest's, inherited
    # through fork on Linux).
    code = (
        "import sys, analyzer; a = analyzer.analyze(sys.argv[1]); "
        "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')]; "
        "print(a.capture_records[0].packets, hwm[0])"
    )
    p = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True, text=True,
                       check=True, timeout=120)
    packets, maxrss_kib = map(int, p.stdout.split())
    assert packets == 4096
    assert maxrss_kib < 150 * 1024  # the decompressed 256 MiB never sit in memory
