"""``--dask ADDRESS``: the same partitions as ``--jobs``, as tasks on a
dask.distributed cluster. Imported only when asked for (dask is an optional dependency);
a scheduler that cannot be reached, or is not one, is one clear line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from analyzer.errors import AnalyzerError
from analyzer.parallel import run_part, unwire
from analyzer.passes import Part, PartitionSpec

if TYPE_CHECKING:
    from analyzer.core.records import CaptureRecord
    from analyzer.store import ConnectionStore, ExchangeStore


DASK_CONNECT_TIMEOUT = 5.0  # seconds to reach the scheduler
DASK_WORKERS_TIMEOUT = 60.0  # seconds to wait for a first worker, if none has joined


def run_dask(
    address: str, jobs: int | None, spec: PartitionSpec, store: ExchangeStore,
    conns: ConnectionStore,
) -> list[Part] | tuple[list[CaptureRecord], list[int]]:
    """The work as tasks on a dask.distributed cluster (imported only now): spans of the
    input (:mod:`analyzer.spans`; returns the files' counters and the bytes each task
    read) when it can be cut, else partitions (returns them). Raises
    :class:`~analyzer.spans.Unsplittable` when the spans' answer cannot be proven."""
    try:
        from distributed import Client
    except ImportError:
        raise AnalyzerError(
            "--dask needs dask.distributed: pip install 'keepalive-analyzer[dask]'"
        ) from None
    probe_scheduler(address)
    try:
        client = Client(address, timeout=DASK_CONNECT_TIMEOUT, set_as_default=False)
    except Exception as e:  # OSError, TimeoutError, …
        raise AnalyzerError(
            f"cannot reach the dask scheduler at {address}: {_one_line(e)}"
        ) from None
    with client:
        threads = sum(client.nthreads().values())
        if not threads:
            try:
                client.wait_for_workers(1, timeout=DASK_WORKERS_TIMEOUT)
            except Exception:
                raise AnalyzerError(
                    f"the dask scheduler at {address} has no workers (none joined within "
                    f"{DASK_WORKERS_TIMEOUT:.0f} s): start some with `dask worker {address}`"
                ) from None
            threads = sum(client.nthreads().values())
        n = jobs or max(1, threads)
        from analyzer.spans import plan_spans, run_span, run_spans

        plan = plan_spans(spec, n)
        if plan is not None:
            import tempfile

            with tempfile.TemporaryDirectory(prefix="keepalive-") as scratch:
                # workers on this machine leave their stores' files for us to read where
                # they are; others send them over the cluster's connections
                directory = scratch if _all_local(client) else None
                tasks = [
                    client.submit(run_span, spec, plan, k, directory, conns.limit,
                                  pure=False)
                    for k in range(len(plan.starts))
                ]
                try:
                    return run_spans((f.result() for f in tasks), spec, plan, store, conns)
                except ImportError as e:
                    raise AnalyzerError(
                        f"a dask worker cannot run the analysis ({_one_line(e)}): install "
                        "keepalive-analyzer where the workers run"
                    ) from None
        futures = [
            client.submit(run_part, spec, i, n, None, conns.limit, pure=False)  # a fresh key
            for i in range(n)
        ]
        try:
            return [unwire(f.result(), store, conns) for f in futures]  # one at a time
        except ImportError as e:
            raise AnalyzerError(
                f"a dask worker cannot run the analysis ({_one_line(e)}): install "
                "keepalive-analyzer where the workers run"
            ) from None


def _all_local(client: Any) -> bool:
    """Whether every worker of the cluster runs on this machine (loopback addresses)."""
    from distributed.comm.addressing import get_address_host

    workers = client.scheduler_info().get("workers", {})
    local = {"127.0.0.1", "localhost", "::1"}
    try:
        return bool(workers) and all(get_address_host(w) in local for w in workers)
    except ValueError:
        return False


def probe_scheduler(address: str) -> None:
    """Fail fast, in one line, on a bad address or a closed port: a dask Client that
    fails to connect waits out its timeout, and again when it is collected."""
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, loc = parse_address(address)
        if scheme not in ("tcp", "tls"):
            return  # inproc://, ucx://: let the Client try
        host, port = parse_host_port(loc)
    except ValueError as e:
        raise AnalyzerError(f"bad dask scheduler address {address!r}: {_one_line(e)}") from None
    try:
        socket.create_connection((host, port), timeout=DASK_CONNECT_TIMEOUT).close()
    except OSError as e:
        why = e.strerror or _one_line(e) if not isinstance(e, TimeoutError) else (
            f"no answer within {DASK_CONNECT_TIMEOUT:.0f} s"
        )
        raise AnalyzerError(
            f"cannot reach the dask scheduler at {address}: {why} (start one with "
            "`dask scheduler`, then workers with `dask worker ADDRESS`)"
        ) from None
    if scheme != "tcp":
        return  # TLS needs the cluster's security settings: the Client has them
    # Something listens: ask it who it is (a Client talking to something else waits
    # forever).
    import asyncio

    from distributed.comm import connect

    async def identify() -> object:
        comm = await connect(address, timeout=DASK_CONNECT_TIMEOUT)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    try:
        who = asyncio.run(asyncio.wait_for(identify(), DASK_CONNECT_TIMEOUT))
    except Exception:  # a timeout, garbage read as a message, …
        who = None
    if not isinstance(who, dict) or who.get("type") != "Scheduler":
        raise AnalyzerError(
            f"no dask scheduler answers at {address} (something else listens there)"
        )


def _one_line(e: BaseException) -> str:
    s = str(e).strip() or type(e).__name__
    return s.splitlines()[0]
