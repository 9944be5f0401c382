"""Packets/s of each capture backend on the same 20k-packet capture, side by side.

``make bench`` runs ``.venv/bin/python bench/backends.py``. It generates
``bench/out/bench-20k.pcap`` with ``bench/gen.py OUT --packets 20000`` when it is
missing, then times, in this process, the whole analysis (``analyzer.analyze(F,
backend=...)``) with

- ``native``: our own reader and decoder;
- ``scapy``: scapy's reader and layers;
- ``pyshark``: tshark's EK output restricted to the needed fields (the fast mode);

and, for comparison, pyshark's *default* mode on the same file (tshark PDML parsed as
XML into pyshark packet objects, reading the same fields through pyshark's API, with the
same preferences) — not even feeding the core, so the fast/XML ratio is a lower bound.
It prints one table (seconds, packets/s, slowdown against native), the pyshark fast/XML
ratio against the issue's target (>= 5x), and whether the three backends gave identical
connection, exchange and server tables. Timings never make the exit status nonzero.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import analyzer  # noqa: E402

DEFAULT = HERE / "out" / "bench-20k.pcap"


def ensure(path: Path) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, str(HERE / "gen.py"), str(path), "--packets", "20000"], check=True
        )


def tables(a: analyzer.Analysis) -> dict[str, Any]:
    d = a.to_dict()
    for c in d["connections"]:
        c.pop("capture", None)
    return {k: d[k] for k in ("connections", "exchanges", "servers")}


def run_backend(path: Path, backend: str) -> tuple[float, int, dict[str, Any]]:
    gc.collect()
    t = time.perf_counter()
    a = analyzer.analyze(str(path), backend=backend)
    dt = time.perf_counter() - t
    return dt, a.capture_records[0].packets, tables(a)


def run_pyshark_xml(path: Path) -> tuple[float, int]:
    """pyshark's default mode: PDML → XML → Packet objects; read the same fields."""
    import pyshark

    from analyzer.capture.pyshark_backend import PREFS

    gc.collect()
    t = time.perf_counter()
    cap = pyshark.FileCapture(str(path), keep_packets=False, override_prefs=PREFS)
    n = 0
    try:
        for pkt in cap:
            n += 1
            if "TCP" in pkt:
                tcp = pkt.tcp
                _ = (pkt.sniff_timestamp, tcp.srcport, tcp.dstport, tcp.seq_raw, tcp.ack_raw,
                     tcp.flags, tcp.len, getattr(tcp, "payload", None))
    finally:
        cap.close()
    return time.perf_counter() - t, n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("capture", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--no-xml", action="store_true", help="skip pyshark's XML mode")
    args = parser.parse_args()
    path: Path = args.capture
    ensure(path)
    print(f"backends on {path} ({path.stat().st_size / 1e6:.1f} MB)")
    rows: list[tuple[str, float, int]] = []
    answers: dict[str, dict[str, Any]] = {}
    for backend in ("native", "scapy", "pyshark"):
        try:
            dt, n, tab = run_backend(path, backend)
        except analyzer.AnalyzerError as e:
            print(f"  {backend}: unavailable ({e})")
            continue
        rows.append((backend if backend != "pyshark" else "pyshark (EK fields)", dt, n))
        answers[backend] = tab
    xml: tuple[float, int] | None = None
    if not args.no_xml and "pyshark" in answers:
        xml = run_pyshark_xml(path)
        rows.append(("pyshark default (XML)", xml[0], xml[1]))
    base = rows[0][1] if rows and rows[0][0] == "native" else None
    print(f"  {'backend':<24} {'seconds':>9} {'packets':>9} {'packets/s':>11} {'vs native':>10}")
    for name, dt, n in rows:
        rel = f"{dt / base:.1f}x" if base else ""
        print(f"  {name:<24} {dt:>9.2f} {n:>9} {n / dt:>11,.0f} {rel:>10}")
    fast = next((dt for name, dt, _ in rows if name.startswith("pyshark (EK")), None)
    if fast is not None and xml is not None:
        ratio = xml[0] / fast
        verdict = "PASS" if ratio >= 5 else "FAIL"
        print(f"  pyshark fast mode is {ratio:.1f}x faster than its XML mode "
              f"(target >= 5x): {verdict}")
    if "native" in answers:
        for backend, tab in answers.items():
            if backend != "native":
                same = "identical" if tab == answers["native"] else "DIFFERENT"
                print(f"  tables {backend} vs native: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
