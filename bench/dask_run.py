"""The analyzer on a real local dask.distributed cluster, for ``bench/run.py``.

Usage: ``python bench/dask_run.py OUT.json PCAP [PCAP...]``

Starts a ``distributed.LocalCluster`` of exactly 2 worker processes with 1 thread each (no
dashboard), runs ``analyzer.pipeline.analyze(PCAPS, dask=<its scheduler address>)``, writes
the JSON (the same bytes as ``keepalive analyze PCAPS --format json``) to ``OUT.json`` and
``OUT.json.work.json``: ``{"span_bytes": [...], "input_bytes": N}``, the bytes each span's
worker read (an empty list when the input was not cut in spans: small, compressed or pcapng
input) and the total size of the inputs.

Its wall time, as ``bench/run.py`` measures it, includes starting and stopping the cluster
(the scheduler in this process, two fresh worker processes that import the analyzer), not
only the analysis.

Nothing is printed on stdout; an error is one line on stderr and the exit status is 1.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

WORKERS = 2
WORK_SUFFIX = ".work.json"


def run(out: str, pcaps: list[str]) -> None:
    import distributed

    from analyzer.pipeline import analyze

    # dashboard_address=None turns the dashboard off, but the scheduler (in this process)
    # still serves HTTP, on 8787 or, when that port is taken, another one with a warning
    # on stderr: not an error, so not said
    warnings.filterwarnings("ignore", message=r"Port \d+ is already in use", category=UserWarning)
    with distributed.LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        started = time.perf_counter()
        analysis = analyze(pcaps, dask=cluster.scheduler_address)
        with open(out, "wb") as fh:
            analysis.write_json(fh)
        seconds = time.perf_counter() - started  # the analysis and its JSON, cluster up
    work = {"span_bytes": list(analysis.span_bytes),
            "input_bytes": sum(os.path.getsize(p) for p in pcaps),
            "analysis_seconds": round(seconds, 3)}
    with open(out + WORK_SUFFIX, "w") as fh:
        json.dump(work, fh)
        fh.write("\n")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python bench/dask_run.py OUT.json PCAP [PCAP...]", file=sys.stderr)
        return 2
    out, pcaps = argv[0], argv[1:]
    try:
        run(out, pcaps)
    except ImportError as e:
        print(f"dask_run: {e} (needs dask.distributed and keepalive-analyzer)",
              file=sys.stderr)
        return 1
    except Exception as e:  # AnalyzerError (one line already), OSError, a dask failure, ...
        from analyzer.errors import AnalyzerError

        lines = str(e).strip().splitlines()
        what = lines[0] if lines else ""
        if not isinstance(e, AnalyzerError):
            what = f"{type(e).__name__}: {what}" if what else type(e).__name__
        print(f"dask_run: {what}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
