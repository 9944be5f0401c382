"""The never-crash invariant: every seed and every input that ever broke something is
replayed, and a short coverage-guided run (atheris) explores from the seeds."""

from __future__ import annotations

import importlib.util
import os
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


def _short_run(target: str, corpus: Path, tmp_path: Path, runs: int) -> None:
    """A seeded run of ``tests/fuzz/<target>`` from ``corpus``, bounded by runs (the same
    exploration every CI run; make fuzz explores open-endedly)."""
    p = subprocess.run(
        [sys.executable, str(FUZZ / target), str(corpus),
         "-seed=1", f"-runs={runs}", "-max_total_time=60", "-rss_limit_mb=2048",
         "-timeout=10", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Done" in p.stderr
    assert not list(tmp_path.glob("crash-*")), p.stderr[-3000:]


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_short_fuzz_run_tls(tmp_path: Path) -> None:
    # fuzz_tls has no seeds of its own: its docstring's encode() turns real conversations
    # (tests/tlsgen.py) into inputs, with and without their key log
    import fuzz_tls

    from tests import tlsgen

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    convs = [
        tlsgen.tls_conversation("1.3"),
        tlsgen.tls_conversation("1.2", alpn=["h2", "http/1.1"]),
        tlsgen.tls_conversation("1.3", fail=True),
    ]
    for i, conv in enumerate(convs):
        (corpus / f"seed-{i}-keys").write_bytes(fuzz_tls.encode(conv.segments, conv.keylog))
        (corpus / f"seed-{i}").write_bytes(fuzz_tls.encode(conv.segments))
    _short_run("fuzz_tls.py", corpus, tmp_path, runs=5000)


def _seeded_run(target: str, tmp_path: Path, seeds: int, runs: int) -> None:
    """A short run of a target that writes its own seeds (``--write-seeds``)."""
    corpus = tmp_path / "corpus"
    p = subprocess.run(
        [sys.executable, str(FUZZ / target), "--write-seeds", str(corpus)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert len(list(corpus.iterdir())) >= seeds
    _short_run(target, corpus, tmp_path, runs=runs)


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_short_fuzz_run_http2(tmp_path: Path) -> None:
    _seeded_run("fuzz_http2.py", tmp_path, seeds=5, runs=5000)


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_short_fuzz_run_headscan(tmp_path: Path) -> None:
    """The C header scan against its Python twin (needs the compiled core)."""
    from analyzer.core import http1

    if http1._c_scan is None:
        pytest.skip("the C header scan is not built here (pure core)")
    _seeded_run("fuzz_headscan.py", tmp_path, seeds=3, runs=20000)


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_short_fuzz_run_lines(tmp_path: Path) -> None:
    """The C rewrite of stored exchange lines against its Python twin (compiled core)."""
    from analyzer.core import readback

    if readback._c_put_run is None:
        pytest.skip("the C lines module is not built here (pure core)")
    _seeded_run("fuzz_lines.py", tmp_path, seeds=3, runs=20000)


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
