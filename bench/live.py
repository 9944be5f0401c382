"""Live-capture benchmark: does ``keepalive sniff`` keep up with a loopback load, and does
its memory stay flat over a long capture?

``make bench`` runs it after ``bench/run.py`` (root only: it opens a packet socket). It
starts nginx on a loopback port (keep-alive, a small static file) and

1. throughput: ``keepalive sniff --port P`` while ``wrk -t2 -c8`` loads nginx, first paced
   (a Lua ``delay()``, about 5,000-8,000 requests/s) then flat out; it prints wrk's
   request rate, the requests the analyzer saw, and the packets the kernel dropped
   (``captures[].dropped``), so a loss is reported exactly, never hidden;
2. soak: ``--soak S`` seconds (default 60; ``LIVE_SOAK=600`` for the 10-minute run) of
   paced load, sampling the sniffer's RSS every 5 s: first, last and peak.

Nothing here is a test; the numbers go to stdout and bench/out/live.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PY = ROOT / ".venv" / "bin" / "python"
PORT = 18990

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {{
    listen 127.0.0.1:{port};
    location / {{ root {tmp}/www; }}
  }}
}}
"""

PACED_LUA = "function delay() return 1 end\n"  # 1 ms between a connection's requests


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def wrk(seconds: float, lua: Path | None) -> tuple[int, float]:
    """Run wrk against nginx; returns (requests completed, requests/s)."""
    args = ["wrk", "-t2", "-c8", f"-d{int(seconds)}s", f"http://127.0.0.1:{PORT}/index.html"]
    if lua is not None:
        args[1:1] = ["-s", str(lua)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    n = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return n, rate


def sniff(seconds: float, out: Path) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [str(PY), "-m", "analyzer", "sniff", "--port", str(PORT), "--duration", str(seconds),
         "-f", "json", "-o", str(out)],
        stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    assert p.stderr is not None
    line = p.stderr.readline()
    if "sniffing on" not in line:
        raise SystemExit(f"sniff did not start: {line}{p.stderr.read()}")
    return p


def seen(result: Path) -> dict[str, Any]:
    d = json.loads(result.read_text())
    cap = d["captures"][0]
    return {
        "requests": sum(c["requests"] for c in d["connections"]),
        "responses": sum(c["responses"] for c in d["connections"]),
        "connections": len(d["connections"]),
        "packets": cap["packets"],
        "dropped": cap["dropped"],
        "warnings": cap["warnings"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="each throughput run")
    ap.add_argument("--soak", type=float, default=float(os.environ.get("LIVE_SOAK", 60)))
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("live bench: skipped (needs root for a packet socket)")
        return 0
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None:
            print(f"live bench: skipped ({tool} missing: apt-get install nginx-light wrk)")
            return 0
    OUT.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "www").mkdir()
        (t / "www" / "index.html").write_bytes(b"x" * 512)
        (t / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=PORT))
        lua = t / "paced.lua"
        lua.write_text(PACED_LUA)
        os.chmod(tmp, 0o755)
        nginx = subprocess.Popen(["nginx", "-c", str(t / "nginx.conf"), "-p", tmp])
        try:
            time.sleep(0.5)
            print("live capture throughput (wrk -t2 -c8 against nginx on loopback, "
                  f"{args.seconds:.0f} s each):")
            print(f"  {'load':<10} {'wrk req/s':>10} {'wrk req':>9} {'seen req':>9} "
                  f"{'packets':>9} {'dropped':>8}  kept up")
            for name, script in (("paced", lua), ("flat-out", None)):
                res = OUT / f"live-{name}.json"
                p = sniff(args.seconds + 3, res)
                time.sleep(0.5)
                n, rate = wrk(args.seconds, script)
                p.wait(timeout=120)
                s = seen(res)
                ok = s["dropped"] == 0 and s["requests"] >= n
                kept = "yes" if ok else "NO (loss reported)"
                print(f"  {name:<10} {rate:>10.0f} {n:>9} {s['requests']:>9} "
                      f"{s['packets']:>9} {s['dropped']:>8}  {kept}")
                summary[name] = {"wrk_requests": n, "wrk_rate": rate, **s, "kept_up": ok}
            if args.soak > 0:
                res = OUT / "live-soak.json"
                p = sniff(args.soak + 3, res)
                time.sleep(0.5)
                load = subprocess.Popen(
                    ["wrk", "-s", str(lua), "-t2", "-c8", f"-d{int(args.soak)}s",
                     f"http://127.0.0.1:{PORT}/index.html"], stdout=subprocess.PIPE, text=True)
                samples = []
                while load.poll() is None:
                    samples.append(rss_kib(p.pid))
                    time.sleep(5)
                p.wait(timeout=300)
                s = seen(res)
                mib = [x / 1024 for x in samples if x]
                print(f"live soak ({args.soak:.0f} s paced load): {s['requests']} requests, "
                      f"{s['dropped']} dropped; sniffer RSS first {mib[0]:.1f} MiB, last "
                      f"{mib[-1]:.1f} MiB, peak {max(mib):.1f} MiB over {len(mib)} samples")
                summary["soak"] = {"seconds": args.soak, "rss_mib": mib, **s}
        finally:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=10)
    (OUT / "live.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
