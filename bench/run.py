"""Offline benchmark for keepalive-analyzer: one table that answers issues 6 and 15.

``make bench`` runs ``.venv/bin/python bench/run.py``, which

1. generates with ``bench/gen.py`` (same generator, same ``--seed``) the synthetic captures
   ``bench/out/bench-1m.pcap`` (``--packets``, default 1,000,000), ``bench/out/bench-10m.pcap``
   (10,000,000 packets, about 6.7 GB; skipped with a message when it would not fit on the
   disk, or with ``--skip-10m``) and ``bench/out/bench-20k.pcap`` (correctness only), each
   with a ``.truth.json``, unless an identical one is already there; and, with ``editcap``,
   ``bench/out/bench-100.pcap`` (its first 100 packets) and ``bench/out/parts/`` (it in 4
   parts), unless they are there and newer than it;
2. times, alternating the tools within each group (A B C D, A B C D), wall time and the peak
   RSS of each child process (``os.wait4``):
   - 1M and 10M packets (``--rounds``, default 2; ``--rounds-10m``, default 1):
     ``keepalive analyze F --format json --output bench/out/result-<size>.json`` (one
     process), the same with ``--jobs 2`` and ``--jobs 3`` (``result-<size>-j2.json``,
     ``-j3``: the capture cut in 2 and 3 byte spans, analyzer/spans.py),
     ``dask 2 workers`` (``bench/dask_run.py``: a local
     dask.distributed cluster of 2 worker processes, 1 thread each, started and stopped
     within the timed run; ``result-<size>-dask.json`` and its ``.work.json``; only when
     ``distributed`` is importable), ``tshark -r F -Y http.request -T fields -e tcp.stream``
     (not at 10M with ``--no-tshark-10m``; nowhere with ``--skip-tshark``), ``tcptrace -n
     F`` and ``cat F`` (the I/O floor), stdout to /dev/null;
   - small-file latency on the 100-packet capture (``--rounds-small``, default 10):
     ``keepalive analyze F --format json --output /dev/null`` and
     ``tshark -r F -q -z conv,tcp``;
   - ``keepalive analyze PARTS... --format json`` with ``--jobs 2`` and ``--jobs 1``
     (``--rounds-jobs``, default 2), when the installed ``keepalive`` has ``--jobs``; the
     two JSON outputs must be byte-identical;
   - protocols (issue 14; ``--skip-protocols`` leaves them out, ``--only protocols`` runs
     nothing else), on ``bench/out/tls-100k.pcap`` and ``bench/out/h2c-100k.pcap`` from
     ``bench/gen_proto.py`` (``--protocol-packets``, default 100,000; the TLS one with its
     key log ``tls-100k.keys``; ``--rounds-protocols``, default 2): on TLS, the analyzer
     without and with ``--tls-keylog``, ``tshark -o tls.keylog_file:KEYS -Y http.request``
     and ``tshark -Y tls.handshake.type==1`` (no keys); on h2c, the analyzer and
     ``tshark -d tcp.port==80,http2 -Y http2.type==1``;
3. prints one table (best wall time, packets/s, largest peak RSS, and the speed-up of the
   group's first row over each row); "work per worker": the bytes each span's worker of the
   dask row read, against the input and the ideal 1/W; "scaling on paper": the serial
   fraction s from Amdahl's law, from the 1-process and ``--jobs 2`` walls at 10M (1M when
   10M is skipped), and the speed-up it projects for 8, 32 and 128 workers (a projection,
   not a measurement); then the targets of issues 6 and 15, each MET / NOT MET with its numbers,
   and PASS / FAIL for the JSON of ``--jobs 2`` and of the dask row being byte-identical to
   the one process's (1M, 10M) and for the ``--jobs`` outputs on the parts; then the
   protocols' table with the ratios analyzer / tshark;
4. checks the analyzer's JSON (schema ``keepalive-analyzer/1``) against the generator's truth
   for the 1M, 10M and 20k captures and the TLS (with and without keys) and h2c captures,
   in a subprocess after all timing (see ``run_timed``), and prints PASS/FAIL;
5. writes every number to ``bench/out/summary.json`` (``summary-protocols.json`` with
   ``--only protocols``).

A tool that is missing or fails is reported as failed and the benchmark goes on. Timings
never make the exit status nonzero; ``--strict`` makes a failed analyzer, a failed
correctness check or differing ``--jobs`` / dask outputs exit 1.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.util
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gen import GENERATOR_VERSION, truth_path_for
from gen_proto import H2C_SERVERS, PROTO_GENERATOR_VERSION, keys_path_for

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PARTS = OUT / "parts"
GEN = Path(__file__).resolve().parent / "gen.py"
GEN_PROTO = Path(__file__).resolve().parent / "gen_proto.py"
KEEPALIVE = ROOT / ".venv" / "bin" / "keepalive"
DASK_RUN = ROOT / "bench" / "dask_run.py"
DASK_ROW = "dask 2 workers"  # the dask row of the 1M and 10M groups (bench/dask_run.py)
DASK_WORKERS = 2
WORK_SUFFIX = ".work.json"  # bench/dask_run.py: the bytes each span's worker read
SCALING_WORKERS = (8, 32, 128)  # the speed-ups projected from the serial fraction

BIG_PACKETS = 10_000_000  # the "flat memory" capture
CHECK_PACKETS = 20_000  # correctness only
TINY_PACKETS = 100  # small-file latency
PROTO_PACKETS = 100_000  # the TLS and h2c captures (issue 14)
H2C_PORT = H2C_SERVERS[0][1]
N_PARTS = 4  # --jobs speed-up
DISK_MARGIN = 1 << 30  # keep this much free after generating the 10M capture

TARGET_TSHARK_SPEEDUP = 25.0  # analyzer >= 25x faster than tshark
TARGET_TCPTRACE_RATIO = 1.0  # analyzer wall <= tcptrace wall
TARGET_RSS_MIB = 100.0  # analyzer peak RSS
FLAT_RSS_MARGIN = 0.10  # 10M peak RSS <= 1M peak RSS * (1 + margin)
TARGET_JOBS_SPEEDUP = 1.7  # --jobs 2 over --jobs 1 (parts), and over 1 process (1M, 10M)


# --------------------------------------------------------------------------- data


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
    """A command to time, and the runs it got.

    ``result`` is the JSON file the command writes (the analyzer): the command writes
    ``result`` + ``.part``, renamed to ``result`` after a run that succeeded, so that
    ``result`` is always the output of the last good run. ``sidecars``: suffixes of files
    the command writes next to it (``result.part`` + suffix, e.g. bench/dask_run.py's
    ``.work.json``), required and renamed with it (to ``result`` + suffix).
    """

    name: str
    argv: list[str]
    result: Path | None = None
    runs: list[Run] = field(default_factory=list)
    sidecars: tuple[str, ...] = ()

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

    def to_json(self) -> dict[str, Any]:
        return {"argv": [rel(a) for a in self.argv], "best_wall_s": self.best_wall(),
                "peak_rss_mib": self.peak_rss_mib(), "failure": self.failure(),
                "runs": [{"wall_s": r.wall, "maxrss_kib": r.maxrss_kib,
                          "returncode": r.returncode, "error": r.error} for r in self.runs]}


@dataclass
class Group:
    """Rows of the table timed together (alternating); the first tool is the subject."""

    key: str  # "1m", "10m", "small", "jobs", "tls", "h2c"
    title: str
    packets: int
    rounds: int
    tools: list[Tool] = field(default_factory=list)
    skipped: str = ""  # why the group was not timed
    inputs: list[Path] = field(default_factory=list)  # read once before timing
    # (label, analyzer row, tshark row): the ratios printed under the protocols' table
    pairs: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def subject(self) -> Tool | None:
        return self.tools[0] if self.tools else None

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    def wall(self, name: str) -> float | None:
        t = self.tool(name)
        return t.best_wall() if t else None

    def rss(self, name: str) -> float | None:
        t = self.tool(name)
        return t.peak_rss_mib() if t else None

    def ratio(self, num: str, den: str) -> float | None:
        """Best wall of row ``num`` / best wall of row ``den``."""
        a, b = self.wall(num), self.wall(den)
        return a / b if a and b else None

    def to_json(self) -> dict[str, Any]:
        subject = self.subject.best_wall() if self.subject else None
        tools = {}
        for t in self.tools:
            w = t.best_wall()
            tools[t.name] = t.to_json() | {
                "packets_per_s": self.packets / w if w else None,
                "speedup_of_first_row": w / subject if w and subject else None}
        out = {"title": self.title, "packets": self.packets, "rounds": self.rounds,
               "inputs": [rel(p) for p in self.inputs], "skipped": self.skipped or None,
               "tools": tools}
        if self.pairs:
            out["analyzer_over_tshark"] = {label: self.ratio(a, t) for label, a, t in self.pairs}
        return out


@dataclass
class Target:
    """One target of issue 6 or 15; ``met`` is None when it could not be measured."""

    name: str
    met: bool | None
    detail: str
    informational: bool = False

    def line(self) -> str:
        status = {True: "MET", False: "NOT MET", None: "NOT MEASURED"}[self.met]
        info = " (informational)" if self.informational else ""
        return f"  {status:<12} {self.name}{info}: {self.detail}"


@dataclass
class JobsCheck:
    """Whether ``--jobs`` exists and whether --jobs 1 and --jobs 2 wrote the same JSON."""

    available: bool | None = None
    identical: bool | None = None
    note: str = ""


# --------------------------------------------------------------------------- helpers


def rel(p: str | Path) -> str:
    """A path relative to the project root when it is inside it."""
    try:
        return str(Path(p).relative_to(ROOT))
    except ValueError:
        return str(p)


def size_label(n: int) -> str:
    """1000000 -> '1m', 20000 -> '20k', other sizes verbatim."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def newer(path: Path, than: Path) -> bool:
    return path.exists() and path.stat().st_mtime >= than.stat().st_mtime


def capture_path(packets: int) -> Path:
    return OUT / f"bench-{size_label(packets)}.pcap"


def result_path(label: str) -> Path:
    return OUT / f"result-{label}.json"


def analyzer_argv(inputs: list[Path], output: Path | str, *extra: str) -> list[str]:
    return [str(KEEPALIVE), "analyze", *map(str, inputs), *extra,
            "--format", "json", "--output", str(output)]


def analyzer_tool(name: str, inputs: list[Path], result: Path | None, *extra: str) -> Tool:
    """The analyzer writing ``result`` (checked and kept), or /dev/null when it is None."""
    output: Path | str = result.with_name(result.name + ".part") if result else os.devnull
    return Tool(name, analyzer_argv(inputs, output, *extra), result)


def dask_tool(inputs: list[Path], result: Path) -> Tool:
    """bench/dask_run.py (a local cluster of 2 workers) writing ``result`` and
    ``result`` + ``.work.json``, checked and kept as the analyzer's result is."""
    output = result.with_name(result.name + ".part")
    return Tool(DASK_ROW, [sys.executable, str(DASK_RUN), str(output), *map(str, inputs)],
                result, sidecars=(WORK_SUFFIX,))


def have_distributed() -> bool:
    """Whether dask.distributed is importable (found, not imported: see run_timed)."""
    try:
        return importlib.util.find_spec("distributed") is not None
    except (ImportError, ValueError):
        return False


# --------------------------------------------------------------------------- captures


def read_truth(pcap: Path, packets: int, seed: int) -> dict[str, Any] | None:
    """The truth of ``pcap`` when it was generated with these parameters, else None."""
    want = {"version": GENERATOR_VERSION, "seed": seed, "requested_packets": packets}
    try:
        truth: dict[str, Any] = json.loads(truth_path_for(pcap).read_text())
    except (OSError, ValueError):
        return None
    return truth if pcap.exists() and truth.get("generator") == want else None


def generate(packets: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """Return (pcap, truth), generating them unless an identical one is already there."""
    pcap = capture_path(packets)
    truth = read_truth(pcap, packets, seed)
    if truth is not None:
        return pcap, truth
    OUT.mkdir(parents=True, exist_ok=True)
    truth_path_for(pcap).unlink(missing_ok=True)  # an interrupted run leaves no stale truth
    print(f"generating {rel(pcap)} ({packets:,} packets, seed {seed}) ...", flush=True)
    t0 = time.perf_counter()
    # a subprocess, so that this process stays small (see run_timed)
    subprocess.run([sys.executable, str(GEN), str(pcap), "--packets", str(packets),
                    "--seed", str(seed)], check=True, stderr=subprocess.DEVNULL)
    print(f"  done in {time.perf_counter() - t0:.1f} s, {pcap.stat().st_size / 1e6:.0f} MB",
          flush=True)
    return pcap, json.loads(truth_path_for(pcap).read_text())


def room_for(packets: int, seed: int, base: Path, base_packets: int, results: int = 1) -> str:
    """Why the ``packets`` capture (and its ``results`` result JSONs) would not fit on disk,
    or ''.

    Sizes are extrapolated from the base capture and its last result JSON.
    """
    pcap = capture_path(packets)
    if read_truth(pcap, packets, seed) is not None:
        need, free = 0, shutil.disk_usage(OUT).free
    else:
        scale = packets / base_packets
        need = int(base.stat().st_size * scale * 1.02)
        free = shutil.disk_usage(OUT).free + (pcap.stat().st_size if pcap.exists() else 0)
    base_result = result_path(size_label(base_packets))
    per_packet = base_result.stat().st_size / base_packets if base_result.exists() else 60
    need += int(per_packet * packets * 1.1) * results + DISK_MARGIN
    if need <= free:
        return ""
    what = "its result" if results == 1 else f"its {results} results"
    return (f"{rel(pcap)} and {what} need about {gb(need)} "
            f"(with {gb(DISK_MARGIN)} to spare), {gb(free)} free on {OUT}")


def editcap(argv: list[str]) -> None:
    subprocess.run(["editcap", "-F", "pcap", *argv], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def derived_from(src: Path, outputs: list[Path], stamp: Path, how: str) -> bool:
    """Whether ``outputs`` were made from this ``src`` the same way and are newer than it."""
    try:
        same = stamp.read_text() == f"{src.name} {src.stat().st_size} {how}\n"
    except OSError:
        return False
    return same and bool(outputs) and all(newer(p, src) for p in [stamp, *outputs])


def first_packets(src: Path, n: int) -> Path:
    """``bench-<n>.pcap``: the first ``n`` packets of ``src`` (editcap -r), reused if newer."""
    out = OUT / f"bench-{n}.pcap"
    stamp = out.with_suffix(".source.txt")
    how = f"editcap -r 1-{n}"
    if not derived_from(src, [out], stamp, how):
        editcap(["-r", str(src), str(out), f"1-{n}"])
        stamp.write_text(f"{src.name} {src.stat().st_size} {how}\n")
    return out


def split(src: Path, packets: int, n: int) -> list[Path]:
    """``src`` in ``n`` files under bench/out/parts (editcap -c), reused if newer than it.

    ``-c ceil(packets / n)``: ``-c 250000`` would give 1,001,317 packets a fifth file.
    """
    per = math.ceil(packets / n)
    stamp = PARTS / "source.txt"
    how = f"editcap -c {per}"
    if derived_from(src, sorted(PARTS.glob("*.pcap")), stamp, how):
        return sorted(PARTS.glob("*.pcap"))
    shutil.rmtree(PARTS, ignore_errors=True)
    PARTS.mkdir(parents=True)
    print(f"splitting {rel(src)} into {rel(PARTS)}/ ({per:,} packets each) ...", flush=True)
    editcap(["-c", str(per), str(src), str(PARTS / src.name)])
    stamp.write_text(f"{src.name} {src.stat().st_size} {how}\n")
    return sorted(PARTS.glob("*.pcap"))


def proto_capture_path(workload: str, packets: int) -> Path:
    return OUT / f"{workload}-{size_label(packets)}.pcap"


def read_proto_truth(pcap: Path, workload: str, packets: int,
                     seed: int) -> dict[str, Any] | None:
    """The truth of a gen_proto capture made with these parameters (and its key log), else
    None."""
    want = {"name": "gen_proto", "workload": workload, "version": PROTO_GENERATOR_VERSION,
            "seed": seed, "requested_packets": packets}
    try:
        truth = read_proto_totals(truth_path_for(pcap))
    except (OSError, ValueError):
        return None
    if workload == "tls" and not keys_path_for(pcap).exists():
        return None
    return truth if pcap.exists() and truth.get("generator") == want else None


def read_proto_totals(path: Path) -> dict[str, Any]:
    """A gen_proto truth without its per-connection records (read in the checker only), so
    that this process stays small (see run_timed)."""
    with open(path, "rb") as f:
        truth: dict[str, Any] = json.load(
            f, object_hook=lambda obj: None if "client" in obj else obj)
    truth.pop("per_connection", None)
    return truth


def generate_proto(workload: str, packets: int,
                   seed: int) -> tuple[Path, dict[str, Any] | None, str]:
    """(pcap, truth, '') from bench/gen_proto.py, reused when an identical one is there;
    (pcap, None, why) when the generator failed."""
    pcap = proto_capture_path(workload, packets)
    truth = read_proto_truth(pcap, workload, packets, seed)
    if truth is not None:
        return pcap, truth, ""
    OUT.mkdir(parents=True, exist_ok=True)
    truth_path_for(pcap).unlink(missing_ok=True)
    print(f"generating {rel(pcap)} ({workload}, {packets:,} packets, seed {seed}) ...",
          flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(GEN_PROTO), workload, str(pcap),
                           "--packets", str(packets), "--seed", str(seed)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        why = f"bench/gen_proto.py {workload} failed: {last_error_line(proc.stderr)}"
        print(f"  {why}", flush=True)
        return pcap, None, why
    print(f"  done in {time.perf_counter() - t0:.1f} s, {pcap.stat().st_size / 1e6:.0f} MB",
          flush=True)
    return pcap, read_proto_totals(truth_path_for(pcap)), ""


# --------------------------------------------------------------------------- timing


def run_timed(argv: list[str], timeout: float) -> Run:
    """Run argv with stdout to /dev/null; wall time and peak RSS from os.wait4.

    On Linux a child's ru_maxrss starts at this process's own peak RSS (execve records the
    high-water mark of the address space it replaces), so this process stays small: the
    captures are generated in a subprocess and JSON results are checked in a subprocess
    after all timing.
    """
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        except OSError as exc:
            return Run(0.0, 0, -1, f"cannot start {rel(argv[0])}: {exc.strerror or exc}")
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
        if rc < 0:
            why = "timeout" if wall >= timeout else f"signal {-rc}"
            error = f"{why} after {wall:.1f} s"
        elif rc != 0:
            err.seek(0)
            tail = last_error_line(err.read().decode("utf-8", "replace"))
            error = f"exit {rc}" + (f": {tail[:200]}" if tail else "")
        return Run(wall, usage.ru_maxrss, rc, error)


def last_error_line(stderr: str) -> str:
    """The last meaningful stderr line, without rich's box drawing or tshark's root notice."""
    lines = [ln.strip(" │╭╮╰╯─\t") for ln in stderr.splitlines()]
    lines = [ln for ln in lines if ln and "Running as user" not in ln]
    return lines[-1] if lines else ""


def run_tool(tool: Tool, timeout: float) -> Run:
    """One run of ``tool``; for the analyzer, a missing or empty result is a failure."""
    if tool.result is None:
        return run_timed(tool.argv, timeout)
    part = tool.result.with_name(tool.result.name + ".part")
    sides = [(part.with_name(part.name + suffix),
              tool.result.with_name(tool.result.name + suffix)) for suffix in tool.sidecars]
    for p in [part, *(s for s, _ in sides)]:
        p.unlink(missing_ok=True)
    run = run_timed(tool.argv, timeout)
    if run.ok:
        missing = [p for p in [part, *(s for s, _ in sides)]
                   if not p.exists() or p.stat().st_size == 0]
        if missing:
            run.error = f"exit 0 but no {rel(missing[0])}"
        else:
            os.replace(part, tool.result)
            for side, kept in sides:
                os.replace(side, kept)
    for p in [part, *(s for s, _ in sides)]:
        p.unlink(missing_ok=True)
    return run


def core_warning() -> str:
    """The analyzer's warning that it runs its pure-Python core (a stale mypyc build), or ''."""
    try:
        proc = subprocess.run([str(KEEPALIVE), "analyze", "--help"], capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = [ln for ln in proc.stderr.splitlines() if "pure-Python core" in ln]
    return lines[0].strip() if lines else ""


def print_machine() -> str:
    """The timing header; returns the analyzer's core warning (printed too), or ''."""
    print(f"\n{platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; best wall of alternating rounds, largest peak RSS")
    warning = core_warning()
    if warning:
        print(f"NOTE: the timings below are of the interpreted core: {warning}")
    return warning


def warm(paths: list[Path]) -> None:
    """Read the inputs once, untimed, so that the first tool does not pay for a cold cache."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


def time_group(group: Group, timeout: float) -> None:
    """Run every tool of the group ``rounds`` times, alternating: A B C D, A B C D."""
    if group.skipped or not group.tools:
        return
    print(f"\n{group.title}: {group.rounds} round(s)", flush=True)
    warm(group.inputs)
    for rnd in range(1, group.rounds + 1):
        print(f"  round {rnd}:", end="", flush=True)
        for i, tool in enumerate(group.tools):
            run = run_tool(tool, timeout)
            tool.runs.append(run)
            sep = "," if i < len(group.tools) - 1 else "\n"
            shown = f"{run.wall:.2f} s" if run.ok else f"failed ({run.error})"
            print(f" {tool.name} {shown}{sep}", end="", flush=True)


# --------------------------------------------------------------------------- groups


def big_group(label: str, pcap: Path, packets: int, rounds: int, tshark: bool,
              parallel: bool = True) -> Group:
    """analyzer (one process), --jobs 2, --jobs 3 and dask 2 workers (unless ``parallel`` is False:
    no --jobs; the dask row only when distributed is installed), tshark, tcptrace, cat on
    one synthetic capture."""
    group = Group(label, f"{pcap.name}: {packets:,} packets, {pcap.stat().st_size / 1e6:,.0f} MB",
                  packets, rounds, inputs=[pcap])
    group.tools.append(analyzer_tool("analyzer", [pcap], result_path(label)))
    if parallel:
        for n in (2, 3):
            group.tools.append(analyzer_tool(f"--jobs {n}", [pcap],
                                             result_path(f"{label}-j{n}"), "--jobs", str(n)))
        if have_distributed():
            group.tools.append(dask_tool([pcap], result_path(f"{label}-dask")))
    tshark_bin = shutil.which("tshark")
    if tshark and tshark_bin:
        group.tools.append(Tool("tshark", [tshark_bin, "-r", str(pcap), "-Y", "http.request",
                                           "-T", "fields", "-e", "tcp.stream"]))
    tcptrace = shutil.which("tcptrace")
    if tcptrace:
        group.tools.append(Tool("tcptrace", [tcptrace, "-n", str(pcap)]))
    group.tools.append(Tool("cat", ["cat", str(pcap)]))
    return group


def small_group(tiny: Path | None, rounds: int) -> Group:
    """Small-file latency: the analyzer against ``tshark -q -z conv,tcp``."""
    group = Group("small", f"small-file latency, {tiny.name if tiny else 'bench-100.pcap'}: "
                  f"{TINY_PACKETS} packets", TINY_PACKETS, rounds)
    if tiny is None:
        group.skipped = "editcap not installed"
        return group
    group.inputs = [tiny]
    group.tools.append(analyzer_tool("analyzer", [tiny], None))
    tshark = shutil.which("tshark")
    if tshark:
        group.tools.append(Tool("tshark conv", [tshark, "-r", str(tiny), "-q", "-z", "conv,tcp"]))
    return group


def probe_jobs(tiny: Path, timeout: float) -> JobsCheck:
    """Does the installed ``keepalive analyze`` accept ``--jobs``?"""
    run = run_timed(analyzer_argv([tiny], os.devnull, "--jobs", "2"), timeout)
    if run.returncode == 2 and "no such option" in run.error.lower():
        return JobsCheck(False, note="--jobs: not available")
    if not run.ok:
        return JobsCheck(None, note=f"--jobs probe failed ({run.error})")
    return JobsCheck(True)


def jobs_group(src: Path, parts: list[Path], packets: int, rounds: int) -> Group:
    """The analyzer on the parts of ``src`` with --jobs 2 and --jobs 1."""
    size = sum(p.stat().st_size for p in parts)
    group = Group("jobs", f"{src.name} in {len(parts)} files ({rel(PARTS)}/): "
                  f"{packets:,} packets, {size / 1e6:,.0f} MB",
                  packets, rounds, inputs=parts)
    for n in (2, 1):
        group.tools.append(analyzer_tool(f"--jobs {n}", parts, result_path(f"parts-j{n}"),
                                         "--jobs", str(n)))
    return group


def compare_jobs_outputs(group: Group, check: JobsCheck) -> None:
    """PASS when --jobs 1 and --jobs 2 wrote byte-identical JSON."""
    j2, j1 = group.tools
    if j1.good and j2.good and j1.result and j2.result:
        check.identical = filecmp.cmp(j1.result, j2.result, shallow=False)


def tls_group(pcap: Path, truth: dict[str, Any] | None, rounds: int, why: str) -> Group:
    """On the TLS capture: the analyzer without and with the key log, tshark with and
    without it."""
    keys = keys_path_for(pcap)
    if truth is None:
        return Group("tls", pcap.name, 0, 0, skipped=why)
    packets = int(truth["packets"])
    group = Group("tls", f"{pcap.name}: {packets:,} packets, {pcap.stat().st_size / 1e6:,.0f} "
                  f"MB, {truth['connections']:,} TLS connections, {truth['requests']:,} "
                  f"HTTP/1.1 requests (key log {keys.name})", packets, rounds,
                  inputs=[pcap, keys])
    group.tools.append(analyzer_tool("analyzer", [pcap], result_path("tls")))
    group.tools.append(analyzer_tool("analyzer+keys", [pcap], result_path("tls-keys"),
                                     "--tls-keylog", str(keys)))
    tshark = shutil.which("tshark")
    if tshark:
        group.tools.append(Tool("tshark", [tshark, "-r", str(pcap), "-Y",
                                           "tls.handshake.type==1", "-T", "fields",
                                           "-e", "tcp.stream"]))
        group.tools.append(Tool("tshark+keys", [tshark, "-r", str(pcap), "-o",
                                                f"tls.keylog_file:{keys}", "-Y", "http.request",
                                                "-T", "fields", "-e", "tcp.stream"]))
    group.pairs = [("TLS without keys", "analyzer", "tshark"),
                   ("TLS with keys", "analyzer+keys", "tshark+keys")]
    return group


def h2c_group(pcap: Path, truth: dict[str, Any] | None, rounds: int, why: str) -> Group:
    """On the h2c capture: the analyzer and tshark (decode-as http2 on the server port)."""
    if truth is None:
        return Group("h2c", pcap.name, 0, 0, skipped=why)
    packets = int(truth["packets"])
    group = Group("h2c", f"{pcap.name}: {packets:,} packets, {pcap.stat().st_size / 1e6:,.0f} "
                  f"MB, {truth['connections']:,} h2c connections, {truth['streams']:,} streams",
                  packets, rounds, inputs=[pcap])
    group.tools.append(analyzer_tool("analyzer", [pcap], result_path("h2c")))
    tshark = shutil.which("tshark")
    if tshark:
        group.tools.append(Tool("tshark", [tshark, "-r", str(pcap), "-d",
                                           f"tcp.port=={H2C_PORT},http2", "-Y", "http2.type==1",
                                           "-T", "fields", "-e", "http2.streamid"]))
    group.pairs = [("h2c", "analyzer", "tshark")]
    return group


def protocol_groups(packets: int, seed: int, rounds: int) -> list[Group]:
    """The TLS and h2c groups, generating their captures when needed."""
    tls, tls_truth, tls_why = generate_proto("tls", packets, seed)
    h2c, h2c_truth, h2c_why = generate_proto("h2c", packets, seed)
    return [tls_group(tls, tls_truth, rounds, tls_why),
            h2c_group(h2c, h2c_truth, rounds, h2c_why)]


# --------------------------------------------------------------------------- report


def print_rows(groups: list[Group]) -> None:
    """The table's header and a row per tool, group by group, between two rules."""
    header = (f"  {'tool':<14} {'runs':>4} {'best wall s':>11} {'packets/s':>12} "
              f"{'peak RSS MiB':>12} {'speed-up':>9}")
    print(header)
    print("  " + "-" * (len(header) - 2))
    for group in groups:
        print(group.title + (f": skipped ({group.skipped})" if group.skipped else ""))
        if group.skipped:
            continue
        subject = group.subject.best_wall() if group.subject else None
        for tool in group.tools:
            print(table_row(tool, group.packets, subject, width=14))
    print("  " + "-" * (len(header) - 2))


def print_table(groups: list[Group], floor_mib: float) -> None:
    print_rows(groups)
    print("  speed-up: the row's best wall / the best wall of its group's first row, i.e. how")
    print("  many times faster the analyzer (one process; --jobs 2 among the parts) is than")
    print("  that row (under 1: the row is faster).")
    print(f"  {DASK_ROW}: bench/dask_run.py; its wall includes starting and stopping the local")
    print("  cluster (scheduler and 2 worker processes).")
    print(f"  Peak RSS: the largest of the runs; it includes this launcher's own {floor_mib:.1f} "
          f"MiB (Linux\n  ru_maxrss inherits it); with --jobs or dask, the largest single "
          f"process, not the sum.")


def table_row(tool: Tool, packets: int, subject: float | None, width: int = 12) -> str:
    wall = tool.best_wall()
    if wall is None:
        return f"  {tool.name:<{width}} failed ({tool.failure() or 'not run'})"
    rate = packets / wall if wall > 0 else None
    speedup = f"{wall / subject:.2f}x" if subject else "-"
    row = (f"  {tool.name:<{width}} {len(tool.runs):>4} {wall:>11.3f} {fmt(rate, ',.0f'):>12} "
           f"{fmt(tool.peak_rss_mib(), '.1f'):>12} {speedup:>9}")
    bad = [r for r in tool.runs if not r.ok]
    if bad:
        row += f"  ({len(bad)} of {len(tool.runs)} runs failed: {bad[0].error})"
    return row


def print_protocols(groups: list[Group], floor_mib: float) -> None:
    """The protocols' table (issue 14), then analyzer / tshark per pair."""
    print_rows(groups)
    print("  analyzer / tshark (best wall over best wall; under 1: the analyzer is faster):")
    for group in groups:
        for label, a, t in group.pairs:
            wa, wt = group.wall(a), group.wall(t)
            if wa is None or wt is None:
                print(f"    {label}: not measured ({a if wa is None else t} failed or missing)")
                continue
            print(f"    {label}: {a} {wa:.3f} s / {t} {wt:.3f} s = {wa / wt:.2f} "
                  f"(tshark {wt / wa:.1f}x the analyzer's time)")
    print("  speed-up: the row's best wall / the best wall of its group's first row (the")
    print("  analyzer; on TLS, without keys).")
    print(f"  Peak RSS: the largest of the runs; it includes this launcher's own {floor_mib:.1f} "
          f"MiB.")


def ratio_target(name: str, num: float | None, den: float | None, what: str,
                 ok: Callable[[float], bool], missing: str, informational: bool = False) -> Target:
    """A target on num / den; ``ok(ratio)`` says whether it is met."""
    if num is None or den is None or den == 0:
        return Target(name, None, missing, informational)
    r = num / den
    return Target(name, bool(ok(r)), f"{what.format(num=num, den=den)} = {r:.2f}x",
                  informational)


def evaluate_targets(groups: dict[str, Group], jobs: JobsCheck,
                     base: str, big: str) -> list[Target]:
    """The targets of issues 6 and 15, from the measured groups."""
    g1, g10 = groups[base], groups[big]
    targets = [
        ratio_target(f"analyzer >= {TARGET_TSHARK_SPEEDUP:g}x faster than tshark ({base})",
                     g1.wall("tshark"), g1.wall("analyzer"),
                     "tshark {num:.2f} s / analyzer {den:.2f} s",
                     lambda r: r >= TARGET_TSHARK_SPEEDUP, "tshark or analyzer not measured"),
    ]
    tcptrace = "tcptrace wall" if TARGET_TCPTRACE_RATIO == 1 else \
        f"{TARGET_TCPTRACE_RATIO:g}x tcptrace wall"
    for g in (g1, g10):
        targets.append(ratio_target(
            f"--jobs 2 >= {TARGET_JOBS_SPEEDUP:g}x faster than 1 process ({g.key})",
            g.wall("analyzer"), g.wall("--jobs 2"),
            "analyzer {num:.2f} s / --jobs 2 {den:.2f} s",
            lambda r: r >= TARGET_JOBS_SPEEDUP, g.skipped or "analyzer or --jobs 2 not measured"))
    for g in (g1, g10):
        targets.append(ratio_target(
            f"analyzer wall <= {tcptrace} ({g.key})", g.wall("analyzer"), g.wall("tcptrace"),
            "analyzer {num:.2f} s / tcptrace {den:.2f} s",
            lambda r: r <= TARGET_TCPTRACE_RATIO,
            g.skipped or "tcptrace or analyzer not measured"))
    for g in (g1, g10):
        rss = g.rss("analyzer")
        name = f"analyzer peak RSS <= {TARGET_RSS_MIB:g} MiB ({g.key})"
        if rss is None:
            targets.append(Target(name, None, g.skipped or "analyzer not measured"))
        else:
            targets.append(Target(name, rss <= TARGET_RSS_MIB, f"{rss:.1f} MiB"))
    r1, r10 = g1.rss("analyzer"), g10.rss("analyzer")
    name = f"flat memory: peak RSS {big} <= peak RSS {base} + {FLAT_RSS_MARGIN:.0%}"
    if r1 is None or r10 is None:
        targets.append(Target(name, None, g10.skipped or "analyzer not measured at both sizes"))
    else:
        limit = r1 * (1 + FLAT_RSS_MARGIN)
        targets.append(Target(name, r10 <= limit, f"{r10:.1f} MiB vs {r1:.1f} MiB "
                              f"(limit {limit:.1f} MiB, {r10 / r1 - 1:+.1%})"))
    gs = groups["small"]
    targets.append(ratio_target(
        f"small-file latency: analyzer wall < tshark -z conv,tcp wall ({TINY_PACKETS} packets)",
        gs.wall("analyzer"), gs.wall("tshark conv"), "analyzer {num:.3f} s / tshark {den:.3f} s",
        lambda r: r < 1.0, gs.skipped or "analyzer or tshark not measured"))
    gj = groups["jobs"]
    targets.append(ratio_target(
        f"--jobs 2 >= {TARGET_JOBS_SPEEDUP:g}x faster than --jobs 1 ({len(gj.inputs)} files)",
        gj.wall("--jobs 1"), gj.wall("--jobs 2"), "--jobs 1 {num:.2f} s / --jobs 2 {den:.2f} s",
        lambda r: r >= TARGET_JOBS_SPEEDUP, gj.skipped or jobs.note or "not measured"))
    return targets


def compare_to_one_process(group: Group) -> dict[str, bool | None]:
    """For each of --jobs 2, --jobs 3 and the dask row the group has: whether its JSON is
    byte-identical to the one process's (None: not compared, a row failed)."""
    one = group.tool("analyzer")
    out: dict[str, bool | None] = {}
    for name in ("--jobs 2", "--jobs 3", DASK_ROW):
        tool = group.tool(name)
        if tool is None:
            continue
        out[name] = None
        if one and one.good and one.result and tool.good and tool.result:
            out[name] = filecmp.cmp(one.result, tool.result, shallow=False)
    return out


def print_identical(identical: dict[str, dict[str, bool | None]]) -> None:
    """PASS / FAIL per (group, row) of compare_to_one_process."""
    for key, rows in identical.items():
        for name, same in rows.items():
            print(f"  {'PASS' if same else 'FAIL':<12} analyzer (1 process) and {name} JSON "
                  f"outputs identical ({key})" + ("" if same is not None else
                                                  " (not compared: a run failed)"))


def work_per_worker(group: Group) -> dict[str, Any] | None:
    """The dask row's ``.work.json`` (bytes read per span, input bytes), when it ran."""
    tool = group.tool(DASK_ROW)
    if group.skipped or tool is None or not tool.good or tool.result is None:
        return None
    try:
        work: dict[str, Any] = json.loads(
            tool.result.with_name(tool.result.name + WORK_SUFFIX).read_text())
    except (OSError, ValueError):
        return None
    return work


def print_work(groups: list[Group], works: dict[str, dict[str, Any] | None]) -> None:
    """The bytes each span's worker of the dask row read, against the input."""
    print(f"\nwork per worker ({DASK_ROW}: bytes each span's worker read):")
    for group in groups:
        if group.key not in works:
            continue
        work = works[group.key]
        name = group.inputs[0].name if group.inputs else group.key
        if group.skipped:
            print(f"  {name}: skipped ({group.skipped})")
            continue
        if work is None:
            tool = group.tool(DASK_ROW)
            why = (tool.failure() if tool else None) or "no .work.json"
            print(f"  {name}: not measured ({why})")
            continue
        spans = [int(b) for b in work.get("span_bytes") or []]
        total = int(work.get("input_bytes") or 0)
        if not spans:
            print(f"  {name}: the input was not cut in spans (one task read it all)")
            continue
        print(f"  {name}: {total / 1e6:,.0f} MB input, {len(spans)} spans; "
              f"ideal 1/W = 1/{len(spans)} = {1 / len(spans):.1%} each")
        for i, b in enumerate(spans):
            share = f" ({b / total:.1%} of input)" if total else ""
            print(f"    span {i}: {b / 1e6:,.0f} MB{share}")
        if total:
            print(f"    all spans: {sum(spans) / 1e6:,.0f} MB ({sum(spans) / total:.1%} of input)")
        if work.get("analysis_seconds") is not None:
            print(f"    the analysis and its JSON with the cluster up: "
                  f"{float(work['analysis_seconds']):.2f} s (the row's wall adds the "
                  "cluster's start and stop)")


def scaling_on_paper(groups: list[Group]) -> dict[str, Any] | None:
    """Amdahl's law from the measured 1-process (T1) and --jobs 2 (T2) walls of the first
    group that has both: T2 = T1 * (s + (1 - s) / 2), so s = 2 * T2 / T1 - 1 (clamped to
    [0, 1]); the projected speed-up on N workers is 1 / (s + (1 - s) / N)."""
    for g in groups:
        t1, t2 = g.wall("analyzer"), g.wall("--jobs 2")
        if g.skipped or not t1 or not t2:
            continue
        s = min(1.0, max(0.0, 2 * t2 / t1 - 1))
        return {"group": g.key, "t1_s": t1, "t2_s": t2, "measured_speedup_2": t1 / t2,
                "serial_fraction": s,
                "projected_speedup": {str(n): 1 / (s + (1 - s) / n) for n in SCALING_WORKERS},
                "note": "projected from the measured serial fraction (Amdahl's law), "
                        "not measured"}
    return None


def print_scaling(scaling: dict[str, Any] | None) -> None:
    print("\nscaling on paper (Amdahl's law; a projection, not a measurement):")
    if scaling is None:
        print("  not computed: no group has both the 1-process and the --jobs 2 wall")
        return
    t1, t2, s = scaling["t1_s"], scaling["t2_s"], scaling["serial_fraction"]
    print(f"  measured ({scaling['group']}): 1 process {t1:.2f} s, --jobs 2 {t2:.2f} s "
          f"= {t1 / t2:.2f}x")
    print(f"  serial fraction s = 2 * T2 / T1 - 1 = {s:.3f} (clamped to [0, 1])")
    for n, x in scaling["projected_speedup"].items():
        print(f"  projected speed-up on {n:>3} workers: 1 / (s + (1 - s) / {n}) = {x:.1f}x")
    print("  These assume the serial part and the per-worker work stay as measured with 2")
    print("  workers (no I/O ceiling, no merge growth): projected, not measured.")


# --------------------------------------------------------------------------- correctness


def slim(obj: dict[str, Any]) -> dict[str, Any]:
    """json object_hook: keep only what check_result reads of a connection."""
    if "closed_by" in obj:
        return {k: obj.get(k) for k in ("server", "requests", "responses", "closed_by", "label")}
    return obj


def check_result(result: dict[str, Any], truth: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """Compare analyzer JSON with the generator's truth: (check, passed, detail) per check."""
    checks: list[tuple[str, bool, str]] = []

    def check(name: str, got: object, want: object) -> None:
        checks.append((name, got == want, f"got {got}, want {want}"))

    check("schema", result.get("schema"), "keepalive-analyzer/1")
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


PROTO_KEYS = ("client", "server", "requests", "responses", "protocol", "requests_estimated",
              "tls", "http2")


def slim_proto(obj: dict[str, Any]) -> dict[str, Any]:
    """json object_hook: keep only what check_tls and check_h2c read of a connection."""
    if "closed_by" in obj:
        return {k: obj.get(k) for k in PROTO_KEYS}
    return obj


def per_connection_check(checks: list[tuple[str, bool, str]], name: str,
                         conns: dict[str, dict[str, Any]], truth: list[dict[str, Any]],
                         got: Callable[[dict[str, Any]], object], key: str) -> None:
    """One check: ``got(connection)`` equals the truth's ``key`` on every connection (matched
    by client endpoint)."""
    bad = []
    for want in truth:
        conn = conns.get(want["client"])
        value = got(conn) if conn is not None else "missing"
        if value != want[key]:
            bad.append(f"{want['client']} got {value}, want {want[key]}")
    detail = f"{len(bad)} of {len(truth)} differ, e.g. {bad[0]}" if bad else \
        f"all {len(truth)} equal"
    checks.append((name, not bad, detail))


def check_proto(result: dict[str, Any], truth: dict[str, Any],
                kind: str) -> list[tuple[str, bool, str]]:
    """Analyzer JSON against a gen_proto truth; ``kind`` is tls, tls-keys or h2c."""
    checks: list[tuple[str, bool, str]] = []

    def check(name: str, got: object, want: object) -> None:
        checks.append((name, got == want, f"got {got}, want {want}"))

    check("schema", result.get("schema"), "keepalive-analyzer/1")
    conns: list[dict[str, Any]] = result.get("connections") or []
    caps: list[dict[str, Any]] = result.get("captures") or []
    if caps:
        check("packets", caps[0].get("packets"), truth["packets"])
        check("tcp_packets", caps[0].get("tcp_packets"), truth["tcp_packets"])
    check("connections", len(conns), truth["connections"])
    check("requests", sum(int(c.get("requests") or 0) for c in conns), truth["requests"])
    check("responses", sum(int(c.get("responses") or 0) for c in conns), truth["responses"])
    by_client = {str(c.get("client")): c for c in conns}
    per = truth["per_connection"]
    per_connection_check(checks, "requests per connection", by_client, per,
                         lambda c: c.get("requests"), "requests")
    per_connection_check(checks, "server per connection", by_client, per,
                         lambda c: c.get("server"), "server")
    protocol = {"tls": "tls", "tls-keys": "tls/http1", "h2c": "h2c"}[kind]
    check(f"protocol {protocol}", dict(Counter(str(c.get("protocol")) for c in conns)),
          {protocol: truth["connections"]})
    if kind.startswith("tls"):
        keys = kind == "tls-keys"
        check(f"requests_estimated {not keys}",
              sum(1 for c in conns if c.get("requests_estimated") is (not keys)),
              truth["connections"])
        tls = [c.get("tls") or {} for c in conns]
        check(f"decrypted {keys}", sum(1 for t in tls if t.get("decrypted") is keys),
              truth["connections"])
        check("TLS versions", dict(Counter(str(t.get("version")) for t in tls)),
              {v: n for v, n in truth["versions"].items() if n})
        check("handshakes full/resumed", dict(Counter(str(t.get("handshake")) for t in tls)),
              {h: n for h, n in truth["handshakes"].items() if n})
        per_connection_check(checks, "version and handshake per connection", by_client,
                             [w | {"vh": [w["version"], w["handshake"]]} for w in per],
                             lambda c: [(c.get("tls") or {}).get("version"),
                                        (c.get("tls") or {}).get("handshake")], "vh")
    else:
        per_connection_check(checks, "http2.streams per connection", by_client, per,
                             lambda c: (c.get("http2") or {}).get("streams"), "streams")
        per_connection_check(checks, "http2.max_concurrent_streams per connection", by_client,
                             per, lambda c: (c.get("http2") or {}).get("max_concurrent_streams"),
                             "max_concurrent_streams")
        per_connection_check(checks, "http2.goaway_by per connection", by_client, per,
                             lambda c: (c.get("http2") or {}).get("goaway_by"), "goaway_by")
    return checks


def check_in_subprocess(result: Path, truth: Path, timeout: float,
                        kind: str = "http1") -> list[tuple[str, bool, str]]:
    """check_result or check_proto in a child (``run.py --check RESULT TRUTH``): this process
    stays small."""
    try:
        proc = subprocess.run([sys.executable, __file__, "--check", str(result), str(truth),
                               "--check-kind", kind],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [("result JSON readable", False, f"timeout after {timeout:g} s")]
    if proc.returncode != 0:
        tail = last_error_line(proc.stderr)
        return [("result JSON readable", False, tail or f"exit {proc.returncode}")]
    return [tuple(c) for c in json.loads(proc.stdout)]  # type: ignore[misc]


def check_main(result: Path, truth: Path, kind: str) -> int:
    """``--check``: print check_result as JSON (the big result is read only here)."""
    with open(result, "rb") as f:
        data = json.load(f, object_hook=slim if kind == "http1" else slim_proto)
    want = json.loads(truth.read_text())
    checks = check_result(data, want) if kind == "http1" else check_proto(data, want, kind)
    print(json.dumps(checks))
    return 0


def print_checks(name: str, checks: list[tuple[str, bool, str]] | None,
                 failure: str | None, what: str = "per server, RSTs, labels") -> bool:
    """One PASS line per capture when all checks pass, the failures otherwise."""
    if checks is None:
        print(f"  FAIL  {name}: analyzer failed ({failure})")
        return False
    failed = [c for c in checks if not c[1]]
    if not failed:
        got = {n: d.split(",")[0].removeprefix("got ") for n, _, d in checks}
        print(f"  PASS  {name}: all {len(checks)} checks (packets {got.get('packets')}, "
              f"connections {got['connections']}, requests {got['requests']}, {what})")
        return True
    print(f"  FAIL  {name}: {len(failed)} of {len(checks)} checks failed")
    for check, _, detail in failed:
        print(f"          {check}: {detail}")
    return False


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="keepalive-analyzer offline benchmark (issue 6)")
    p.add_argument("--packets", type=int, default=1_000_000,
                   help="size of the base capture in packets (default 1000000)")
    p.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    p.add_argument("--rounds", type=int, default=2,
                   help="alternating rounds on the base capture; best wall counts (default 2)")
    p.add_argument("--rounds-10m", type=int, default=1,
                   help="alternating rounds on the 10M capture (default 1)")
    p.add_argument("--rounds-small", type=int, default=10,
                   help="alternating rounds for small-file latency (default 10)")
    p.add_argument("--rounds-jobs", type=int, default=2,
                   help="alternating rounds for --jobs 1 / --jobs 2 (default 2)")
    p.add_argument("--skip-10m", action="store_true",
                   help="neither generate nor time the 10M capture (6.7 GB)")
    p.add_argument("--no-tshark-10m", action="store_true",
                   help="do not time tshark on 10M (about 200 s and 12 GB RSS)")
    p.add_argument("--skip-tshark", action="store_true",
                   help="do not time tshark on the 1M and 10M captures (about 20 s per 1M run)")
    p.add_argument("--timeout", type=float, default=900.0,
                   help="kill any single run after this many seconds (default 900)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when the analyzer fails, a correctness check fails or the "
                        "--jobs or dask outputs differ")
    p.add_argument("--skip-protocols", action="store_true",
                   help="neither generate nor time the TLS and h2c captures (issue 14)")
    p.add_argument("--only", choices=["protocols"],
                   help="run only this group: 'protocols' times the TLS and h2c captures "
                        "and skips everything else (summary in summary-protocols.json)")
    p.add_argument("--protocol-packets", type=int, default=PROTO_PACKETS,
                   help=f"size of the TLS and h2c captures in packets (default {PROTO_PACKETS})")
    p.add_argument("--rounds-protocols", type=int, default=2,
                   help="alternating rounds on the TLS and h2c captures (default 2)")
    p.add_argument("--check", nargs=2, type=Path, metavar=("RESULT", "TRUTH"),
                   help=argparse.SUPPRESS)
    p.add_argument("--check-kind", choices=["http1", "tls", "tls-keys", "h2c"],
                   default="http1", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if min(args.packets, args.rounds, args.rounds_10m, args.rounds_small, args.rounds_jobs,
           args.protocol_packets, args.rounds_protocols) < 1:
        p.error("--packets, --protocol-packets and --rounds* must be >= 1")
    if args.only and args.skip_protocols:
        p.error("--only protocols and --skip-protocols exclude each other")
    return args


# (group key, analyzer row) -> (check kind, label in the correctness report)
PROTO_CHECKS = {("tls", "analyzer"): ("tls", "no keys: request turns estimated"),
                ("tls", "analyzer+keys"): ("tls-keys", "--tls-keylog: decrypted"),
                ("h2c", "analyzer"): ("h2c", "HTTP/2 streams")}


def report_protocols(protos: list[Group], floor: float) -> None:
    print(f"\n{'=' * 30} issue 14: TLS and h2c, keepalive analyze vs tshark {'=' * 30}")
    print_protocols(protos, floor)


def check_protocols(protos: list[Group], timeout: float, passed: dict[str, bool],
                    out: dict[str, Any]) -> None:
    """Each analyzer row of the protocols' groups against its capture's truth."""
    for group in protos:
        name = group.inputs[0].name if group.inputs else f"{group.key} capture"
        if group.skipped:
            print(f"  FAIL  {name}: not generated ({group.skipped})")
            passed[name] = False
            continue
        for tool in group.tools:
            if (group.key, tool.name) not in PROTO_CHECKS:
                continue
            kind, what = PROTO_CHECKS[group.key, tool.name]
            label = f"{name} ({tool.name})"
            checks = None
            if tool.good and tool.result:
                checks = check_in_subprocess(tool.result, truth_path_for(group.inputs[0]),
                                             timeout, kind)
            passed[label] = print_checks(label, checks, tool.failure() or "not run", what)
            out[label] = [{"check": c, "passed": ok, "detail": d} for c, ok, d in checks or []]


def protocols_failed(protos: list[Group]) -> bool:
    """Whether an analyzer row of the protocols' groups failed."""
    return any(t.failure() for g in protos for t in g.tools if (g.key, t.name) in PROTO_CHECKS)


def protocols_main(args: argparse.Namespace, protos: list[Group]) -> int:
    """``--only protocols``: time, report and check the TLS and h2c groups alone."""
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    warning = print_machine()
    for group in protos:
        time_group(group, args.timeout)
    report_protocols(protos, floor)
    print("\ncorrectness (analyzer JSON vs the generator's truth):")
    checks_passed: dict[str, bool] = {}
    checks_json: dict[str, Any] = {}
    check_protocols(protos, args.timeout, checks_passed, checks_json)
    summary = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "launcher_peak_rss_mib": floor,
        "analyzer_core_warning": warning or None,
        "groups": {g.key: g.to_json() for g in protos},
        "checks_passed": checks_passed,
        "checks": checks_json,
    }
    (OUT / "summary-protocols.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwrote {rel(OUT / 'summary-protocols.json')}")
    if args.strict and (protocols_failed(protos) or not all(checks_passed.values())):
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.check:
        result, truth = args.check
        return check_main(result, truth, args.check_kind)
    protos = [] if args.skip_protocols else \
        protocol_groups(args.protocol_packets, args.seed, args.rounds_protocols)
    if args.only == "protocols":
        return protocols_main(args, protos)
    base_label, big_label = size_label(args.packets), size_label(BIG_PACKETS)

    # -- inputs
    base, base_truth = generate(args.packets, args.seed)
    checked, _ = generate(CHECK_PACKETS, args.seed)
    base_packets = int(base_truth["packets"])
    have_editcap = shutil.which("editcap") is not None
    tiny = first_packets(base, TINY_PACKETS) if have_editcap else None
    parts = split(base, base_packets, N_PARTS) if have_editcap else []

    # --jobs 2 and dask rows on 1M and 10M, unless --jobs is known to be missing
    jobs = probe_jobs(tiny, args.timeout) if tiny else JobsCheck(None, note="editcap missing")
    parallel = jobs.available is not False
    results = 1 + (2 if parallel and have_distributed() else 1 if parallel else 0)
    big_skip = "--skip-10m" if args.skip_10m else room_for(BIG_PACKETS, args.seed, base,
                                                             args.packets, results)
    if big_skip and not args.skip_10m:
        print(f"10M capture skipped: {big_skip}")
    if big_skip:
        g10 = Group(big_label, f"{capture_path(BIG_PACKETS).name}", BIG_PACKETS, 0,
                    skipped=big_skip)
    else:
        big, big_truth = generate(BIG_PACKETS, args.seed)
        g10 = big_group(big_label, big, int(big_truth["packets"]), args.rounds_10m,
                        tshark=not (args.skip_tshark or args.no_tshark_10m), parallel=parallel)

    g1 = big_group(base_label, base, base_packets, args.rounds, tshark=not args.skip_tshark,
                   parallel=parallel)
    gs = small_group(tiny, args.rounds_small)
    gj = jobs_group(base, parts, base_packets, args.rounds_jobs) if parts else \
        Group("jobs", f"{base.name} in {N_PARTS} files", base_packets, 0)
    if not jobs.available:
        gj.skipped = jobs.note or "not available"
    groups = [g1, g10, gs, gj]
    missing = [t for t in ("tshark", "tcptrace", "editcap") if not shutil.which(t)]
    if not have_distributed():
        missing.append(f"distributed (python package: no {DASK_ROW!r} row)")
    if missing:
        print(f"not installed, skipped: {', '.join(missing)}")

    # -- timing (this process must stay small until the end: see run_timed)
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    warning = print_machine()
    for group in (g1, gs, gj, *protos, g10):
        time_group(group, args.timeout)
    if not gj.skipped:
        compare_jobs_outputs(gj, jobs)
    big_groups = [g for g in (g1, g10) if not g.skipped]
    identical = {g.key: compare_to_one_process(g) for g in big_groups}
    works = {g.key: work_per_worker(g) for g in (g1, g10) if g.skipped or g.tool(DASK_ROW)}
    scaling = scaling_on_paper([g10, g1])

    # -- report
    print(f"\n{'=' * 30} issue 6: keepalive analyze vs tshark, tcptrace, cat {'=' * 30}")
    print_table(groups, floor)
    if any(g.tool(DASK_ROW) for g in big_groups):
        print_work([g1, g10], works)
    print_scaling(scaling)
    by_key = {g.key: g for g in groups}
    targets = evaluate_targets(by_key, jobs, base_label, big_label)
    print("\ntargets (issues 6 and 15):")
    for t in targets:
        print(t.line())
    if jobs.available:
        print(f"  {'PASS' if jobs.identical else 'FAIL':<12} --jobs 1 and --jobs 2 JSON "
              f"outputs identical" + ("" if jobs.identical is not None else
                                      " (not compared: a run failed)"))
    else:
        print(f"  {jobs.note}")
    print_identical(identical)
    if protos:
        report_protocols(protos, floor)

    # -- correctness, after all timing
    print("\ncorrectness (analyzer JSON vs the generator's truth):")
    subjects: list[tuple[Path, Tool | None]] = [(base, g1.subject)]
    if not g10.skipped:
        subjects.append((capture_path(BIG_PACKETS), g10.subject))
    if checked != base:
        check_tool = analyzer_tool("analyzer", [checked], result_path(size_label(CHECK_PACKETS)))
        check_tool.runs.append(run_tool(check_tool, args.timeout))
        subjects.append((checked, check_tool))
    checks_passed: dict[str, bool] = {}
    checks_json: dict[str, Any] = {}
    for pcap, tool in subjects:
        checks = None
        if tool and tool.good and tool.result:
            checks = check_in_subprocess(tool.result, truth_path_for(pcap), args.timeout)
        checks_passed[pcap.name] = print_checks(pcap.name, checks,
                                                tool.failure() if tool else "not run")
        checks_json[pcap.name] = [{"check": c, "passed": ok, "detail": d}
                                  for c, ok, d in checks or []]
    check_protocols(protos, args.timeout, checks_passed, checks_json)

    summary = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "launcher_peak_rss_mib": floor,
        "analyzer_core_warning": warning or None,
        "groups": {g.key: g.to_json() for g in groups + protos},
        "targets": [{"name": t.name, "met": t.met, "detail": t.detail,
                     "informational": t.informational} for t in targets],
        "jobs": {"available": jobs.available, "outputs_identical": jobs.identical,
                 "note": jobs.note or None},
        # per 1M / 10M group: is each parallel row's JSON byte-identical to one process's?
        "identical_to_one_process": identical,
        "work_per_worker": {key: None if work is None else work | {
            "workers": len(work.get("span_bytes") or []) or None,
            "fraction_of_input": [b / work["input_bytes"] for b in work.get("span_bytes") or []]
            if work.get("input_bytes") else None} for key, work in works.items()},
        "scaling_on_paper": scaling,
        "checks_passed": checks_passed,
        "checks": checks_json,
    }
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwrote {rel(OUT / 'summary.json')}")
    analyzer_failed = any(g.subject and g.subject.failure() for g in groups) \
        or protocols_failed(protos)
    differ = jobs.identical is False or any(
        same is False for rows in identical.values() for same in rows.values())
    if args.strict and (analyzer_failed or not all(checks_passed.values()) or differ):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
