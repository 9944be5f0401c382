"""Benchmark for keepalive-analyzer: speed and memory against tshark, tcptrace and `cat`.

``make bench`` runs ``.venv/bin/python bench/run.py``. It

1. generates the synthetic captures ``bench/out/bench-1m.pcap`` (``--packets``, default
   1,000,000) and ``bench/out/bench-20k.pcap`` with ``bench/gen.py`` when they are missing
   or were made with other parameters, each with a ``.truth.json``;
2. times, in the same run and alternating (A B C D, A B C D; ``--rounds``), each of
   - the analyzer: ``.venv/bin/keepalive analyze F --format json --output bench/out/result.json``
   - ``tshark -r F -Y http.request -T fields -e tcp.stream`` (stdout to /dev/null)
   - ``tcptrace -n F`` (stdout to /dev/null), when tcptrace is installed
   - ``cat F`` (stdout to /dev/null): the I/O floor
   measuring wall time and the peak RSS of each child process (``os.wait4``), and prints one
   table with the best wall time of each tool, its packets/s, its largest peak RSS and its
   wall time relative to the analyzer's;
3. prints the targets (analyzer >= 4x faster than tshark, analyzer peak RSS <= 150 MiB) and
   whether they are met;
4. checks the analyzer's JSON (schema ``keepalive-analyzer/1``) against the truth of the
   generator, on the big capture and on the 20k one, and prints PASS/FAIL per check.

An analyzer that is missing or fails is reported as ``analyzer: failed (...)``; the benchmark
goes on with the other tools. Timings never make the exit status nonzero; ``--strict`` makes
a failed analyzer or a failed check exit 1. A summary is also written to
``bench/out/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gen import GENERATOR_VERSION, truth_path_for

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
GEN = Path(__file__).resolve().parent / "gen.py"
KEEPALIVE = ROOT / ".venv" / "bin" / "keepalive"
RESULT = OUT / "result.json"
SMALL_PACKETS = 20_000
TARGET_SPEEDUP = 4.0
TARGET_RSS_MIB = 150.0


@dataclass
class Run:
    """One timed execution of one tool."""

    wall: float
    maxrss_kib: int
    returncode: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.error


@dataclass
class Tool:
    """A command to time, and the runs it got."""

    name: str
    argv: list[str]
    runs: list[Run] = field(default_factory=list)

    @property
    def good(self) -> list[Run]:
        return [r for r in self.runs if r.ok]

    def best_wall(self) -> float | None:
        good = self.good
        return min(r.wall for r in good) if good else None

    def peak_rss_mib(self) -> float | None:
        good = self.good
        return max(r.maxrss_kib for r in good) / 1024 if good else None

    def failure(self) -> str | None:
        """Why it failed, when no run succeeded."""
        if self.good or not self.runs:
            return None
        return self.runs[-1].error or f"exit {self.runs[-1].returncode}"


def size_label(n: int) -> str:
    """1000000 -> '1m', 20000 -> '20k', other sizes verbatim."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def ensure_capture(packets: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """Return (pcap, truth), generating them unless an identical one is already there."""
    pcap = OUT / f"bench-{size_label(packets)}.pcap"
    tpath = truth_path_for(pcap)
    want = {"version": GENERATOR_VERSION, "seed": seed, "requested_packets": packets}
    if pcap.exists() and tpath.exists():
        try:
            truth: dict[str, Any] = json.loads(tpath.read_text())
            if truth.get("generator") == want:
                return pcap, truth
        except (OSError, ValueError):
            pass
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"generating {pcap.relative_to(ROOT)} ({packets} packets, seed {seed}) ...",
          flush=True)
    t0 = time.perf_counter()
    # a subprocess, so that this process stays small (see run_timed)
    subprocess.run([sys.executable, str(GEN), str(pcap), "--packets", str(packets),
                    "--seed", str(seed)], check=True, stderr=subprocess.DEVNULL)
    print(f"  done in {time.perf_counter() - t0:.1f} s, "
          f"{pcap.stat().st_size / 1e6:.0f} MB", flush=True)
    return pcap, json.loads(tpath.read_text())


def run_timed(argv: list[str], timeout: float) -> Run:
    """Run argv with stdout to /dev/null; wall time and peak RSS from os.wait4.

    On Linux a child's ru_maxrss starts at this process's own peak RSS (execve records the
    high-water mark of the address space it replaces), so this process stays small: the
    captures are generated in a subprocess and JSON results are parsed only after timing.
    """
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        except OSError as exc:
            return Run(0.0, 0, -1, f"cannot start: {exc.strerror or exc}")
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        proc.returncode = rc  # reaped by wait4; keep Popen from waiting again
        error = ""
        if rc != 0:
            err.seek(0)
            lines = [ln.strip() for ln in err.read().decode("utf-8", "replace").splitlines()
                     if ln.strip() and "Running as user" not in ln]
            tail = lines[-1] if lines else ""
            if rc < 0:
                why = "timeout" if wall >= timeout else f"signal {-rc}"
                error = f"{why} after {wall:.1f} s"
            else:
                error = f"exit {rc}" + (f": {tail[:200]}" if tail else "")
        return Run(wall, usage.ru_maxrss, rc, error)


def analyzer_argv(pcap: Path, result: Path = RESULT) -> list[str]:
    return [str(KEEPALIVE), "analyze", str(pcap), "--format", "json", "--output", str(result)]


def run_analyzer(pcap: Path, timeout: float, result: Path = RESULT) -> Run:
    """One analyzer run; a missing or empty result file counts as a failure.

    The JSON is not parsed here: parsing it would grow this process, and every child
    started afterwards would inherit that peak in its ru_maxrss (see ``run_timed``).
    """
    result.unlink(missing_ok=True)
    if not KEEPALIVE.exists():
        return Run(0.0, 0, -1, f"not installed: {KEEPALIVE.relative_to(ROOT)} missing")
    run = run_timed(analyzer_argv(pcap, result), timeout)
    if run.ok and (not result.exists() or result.stat().st_size == 0):
        run.error = f"exit 0 but no {result.relative_to(ROOT)}"
    return run


def fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def print_table(tools: list[Tool], packets: int) -> None:
    ana = tools[0].best_wall()
    header = f"{'tool':<10} {'wall s':>8} {'packets/s':>12} {'peak RSS MiB':>13} " \
             f"{'vs analyzer':>12}"
    print(header)
    print("-" * len(header))
    for tool in tools:
        wall = tool.best_wall()
        if wall is None:
            print(f"{tool.name:<10} failed ({tool.failure() or 'not run'})")
            continue
        rate = packets / wall if wall > 0 else None
        ratio = f"{wall / ana:.2f}x" if ana else "-"
        print(f"{tool.name:<10} {wall:>8.2f} {fmt(rate, ',.0f'):>12} "
              f"{fmt(tool.peak_rss_mib(), '.1f'):>13} {ratio:>12}")
        flaky = len(tool.runs) - len(tool.good)
        if flaky:
            print(f"{'':<10} ({flaky} of {len(tool.runs)} runs failed: "
                  f"{next(r.error for r in tool.runs if not r.ok)})")


def print_targets(tools: dict[str, Tool]) -> dict[str, bool | None]:
    ana = tools["analyzer"]
    aw, arss = ana.best_wall(), ana.peak_rss_mib()
    met: dict[str, bool | None] = {}
    print("targets:")
    tshark = tools.get("tshark")
    tw = tshark.best_wall() if tshark else None
    if aw is None or tw is None:
        why = "analyzer failed" if aw is None else "tshark not measured"
        print(f"  analyzer >= {TARGET_SPEEDUP:g}x faster than tshark: not measured ({why})")
        met["speedup"] = None
    else:
        ok = tw / aw >= TARGET_SPEEDUP
        print(f"  analyzer >= {TARGET_SPEEDUP:g}x faster than tshark: "
              f"{tw:.2f} s / {aw:.2f} s = {tw / aw:.1f}x  {'MET' if ok else 'NOT MET'}")
        met["speedup"] = ok
    if arss is None:
        print(f"  analyzer peak RSS <= {TARGET_RSS_MIB:g} MiB: not measured (analyzer failed)")
        met["rss"] = None
    else:
        ok = arss <= TARGET_RSS_MIB
        print(f"  analyzer peak RSS <= {TARGET_RSS_MIB:g} MiB: {arss:.1f} MiB  "
              f"{'MET' if ok else 'NOT MET'}")
        met["rss"] = ok
    return met


def check_result(result: dict[str, Any], truth: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """Compare analyzer JSON with the generator's truth: (check, passed, detail) per check."""
    checks: list[tuple[str, bool, str]] = []

    def check(name: str, got: object, want: object) -> None:
        checks.append((name, got == want, f"got {got}, want {want}"))

    conns: list[dict[str, Any]] = result.get("connections") or []
    caps: list[dict[str, Any]] = result.get("captures") or []
    if caps:
        check("packets", caps[0].get("packets"), truth["packets"])
        check("tcp_packets", caps[0].get("tcp_packets"), truth["tcp_packets"])
    check("connections", len(conns), truth["connections"])
    check("requests", sum(int(c.get("requests") or 0) for c in conns), truth["requests"])
    check("responses", sum(int(c.get("responses") or 0) for c in conns), truth["responses"])
    per: dict[str, dict[str, int]] = {}
    for c in conns:
        s = per.setdefault(str(c.get("server")), {"connections": 0, "requests": 0})
        s["connections"] += 1
        s["requests"] += int(c.get("requests") or 0)
    for server, want in truth["per_server"].items():
        got = per.get(server, {"connections": 0, "requests": 0})
        check(f"{server} connections", got["connections"], want["connections"])
        check(f"{server} requests", got["requests"], want["requests"])
    extra = sorted(set(per) - set(truth["per_server"]))
    checks.append(("no unexpected servers", not extra, f"got {extra[:5]}" if extra else "none"))
    rst = sum(1 for c in conns if str(c.get("closed_by", "")).endswith("-rst"))
    check("rst connections", rst, truth["rst_connections"])
    check("persistent connections", sum(1 for c in conns if c.get("label") == "persistent"),
          truth["persistent_connections"])
    check("per-request connections", sum(1 for c in conns if c.get("label") == "per-request"),
          truth["per_request_connections"])
    return checks


def print_checks(title: str, result: dict[str, Any] | None, truth: dict[str, Any],
                 failure: str | None) -> bool:
    """Print PASS/FAIL lines; return True when every check passed."""
    print(f"correctness on {title}:")
    if result is None:
        print(f"  FAIL  analyzer: failed ({failure})")
        return False
    if result.get("schema") != "keepalive-analyzer/1":
        print(f"  FAIL  schema: got {result.get('schema')!r}, want 'keepalive-analyzer/1'")
    checks = check_result(result, truth)
    for name, ok, detail in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")
    return all(ok for _, ok, _ in checks) and result.get("schema") == "keepalive-analyzer/1"


def load_result(result: Path = RESULT) -> dict[str, Any] | None:
    try:
        data = json.loads(result.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="keepalive-analyzer benchmark")
    parser.add_argument("--packets", type=int, default=1_000_000,
                        help="size of the timed capture in packets (default 1000000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating rounds; the best of each tool counts (default 2)")
    parser.add_argument("--skip-tshark", action="store_true",
                        help="do not time tshark (about 15 s per run on 1M packets)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="kill any single run after this many seconds (default 600)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when the analyzer fails or a correctness check fails")
    args = parser.parse_args(argv)
    if args.packets < 1 or args.rounds < 1:
        parser.error("--packets and --rounds must be >= 1")

    big, big_truth = ensure_capture(args.packets, args.seed)
    small, small_truth = ensure_capture(SMALL_PACKETS, args.seed)
    packets = int(big_truth["packets"])

    tools: list[Tool] = [Tool("analyzer", analyzer_argv(big))]
    tshark = shutil.which("tshark")
    if tshark and not args.skip_tshark:
        tools.append(Tool("tshark", [tshark, "-r", str(big), "-Y", "http.request",
                                     "-T", "fields", "-e", "tcp.stream"]))
    elif not tshark:
        print("tshark: not installed, skipped")
    tcptrace = shutil.which("tcptrace")
    if tcptrace:
        tools.append(Tool("tcptrace", [tcptrace, "-n", str(big)]))
    else:
        print("tcptrace: not installed, skipped")
    tools.append(Tool("cat", ["cat", str(big)]))

    print(f"\ncapture: {big.relative_to(ROOT)}, {packets:,} packets, "
          f"{big.stat().st_size / 1e6:.0f} MB; {platform.python_implementation()} "
          f"{platform.python_version()}, {os.cpu_count()} CPUs; "
          f"{args.rounds} alternating rounds, best wall, largest peak RSS\n", flush=True)
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kept = OUT / f"result-{size_label(args.packets)}.json"  # the last successful result
    kept.unlink(missing_ok=True)
    for rnd in range(1, args.rounds + 1):
        for tool in tools:
            print(f"  round {rnd}: {tool.name} ...", end=" ", flush=True)
            if tool.name == "analyzer":
                run = run_analyzer(big, args.timeout)
                if run.ok:
                    shutil.copyfile(RESULT, kept)
            else:
                run = run_timed(tool.argv, args.timeout)
            tool.runs.append(run)
            print(f"{run.wall:.2f} s" if run.ok else f"failed ({run.error})", flush=True)
    print()
    ana = tools[0]
    if ana.failure():
        print(f"analyzer: failed ({ana.failure()})\n")
    print_table(tools, packets)
    print(f"(peak RSS includes this launcher's own {floor:.1f} MiB: Linux ru_maxrss inherits it)")
    print()
    met = print_targets({t.name: t for t in tools})
    print()

    big_result = load_result(kept) if ana.good else None
    ok_big = print_checks(big.name, big_result, big_truth, ana.failure())
    ok_small = True
    if small != big:
        small_out = OUT / f"result-{size_label(SMALL_PACKETS)}.json"
        small_run = run_analyzer(small, args.timeout, small_out)
        small_result = load_result(small_out) if small_run.ok else None
        ok_small = print_checks(small.name, small_result, small_truth, small_run.error or None)

    summary = {
        "capture": str(big.relative_to(ROOT)),
        "packets": packets,
        "bytes": big.stat().st_size,
        "rounds": args.rounds,
        "tools": {t.name: {"best_wall_s": t.best_wall(), "peak_rss_mib": t.peak_rss_mib(),
                           "runs": [{"wall_s": r.wall, "maxrss_kib": r.maxrss_kib,
                                     "returncode": r.returncode, "error": r.error}
                                    for r in t.runs]} for t in tools},
        "targets_met": met,
        "checks_passed": {big.name: ok_big, small.name: ok_small},
    }
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.strict and not (ok_big and ok_small):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
