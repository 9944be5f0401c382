"""``--jobs N``: one analysis in N worker processes. Uncompressed classic pcap input is
cut into spans of bytes, each read by one worker (:mod:`analyzer.spans`,
:func:`run_span_processes`); other input by partitions, each the same pass over every file
(:func:`analyzer.passes.run_partition`) keeping the connections the partition rule
(:mod:`analyzer.core.partition`) gives it (:func:`run_processes`; what travels back:
:data:`Wire`). Either way the parent adopts the results in order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from analyzer import leaving
from analyzer.core.records import CaptureRecord
from analyzer.passes import Part, PartitionSpec, run_partition

if TYPE_CHECKING:
    from analyzer.spans import SpanPlan, SpanResult
    from analyzer.store import ConnectionStore, ExchangeStore


# What a worker sends back: each record as plain values (store.pack_connection: its
# fields in declaration order, the same in both processes: same source), so the parent
# rebuilds them with its own classes — compiled (mypyc) or not on either side, which
# pickled objects would not survive. Tuples of ints, floats and strings pickle ~5x faster
# than dicts or objects. The exchanges travel as the worker's exchange store (encoded
# lines, ExchangeStore.export); each connection says where its own are.
Wire = tuple[list[tuple[Any, ...]], Any, Any]

_CAPTURE_FIELDS = tuple(f.name for f in dataclasses.fields(CaptureRecord))
_capture_tuple = attrgetter(*_CAPTURE_FIELDS)


def run_part(
    spec: PartitionSpec, index: int, count: int, directory: str | None = None,
    limit: int | None = None,
) -> Wire:
    """One partition in a worker (process pool, dask): importable, so it pickles. Its
    exchanges come back as its store's file in ``directory`` (a parent on the same
    machine reads it there), or as bytes; its connections as plain values, or, past
    ``limit`` of them (ConnectionStore; None: no limit), as the blocks of a connection
    store, by file or bytes the same way."""
    from analyzer.store import ConnectionStore, ExchangeStore, pack_connection

    store = ExchangeStore(directory)
    conns = ConnectionStore(limit, directory)
    try:
        caps = run_partition(spec, index, count, store=store, conns=conns)
        conns.seal()
        if conns.spilled:
            out: Any = conns.export()
        else:
            out = [pack_connection(c) for c in conns.records]
        leaving.keep(conns)  # (its records need not be freed: analyzer.leaving)
        return [_capture_tuple(c) for c in caps], out, store.export()
    finally:
        store.close()
        conns.close()


def unwire(wire: Wire, store: ExchangeStore, conns: ConnectionStore) -> Part:
    """A worker's result as records: its connections join ``conns``, its exchanges
    ``store`` (and the connections' exchange runs are shifted to where they landed)."""
    from analyzer.store import unpack_connection

    caps, packed, exchanges = wire
    base = store.adopt(exchanges)
    if isinstance(packed, tuple):  # on disk (ConnectionStore.export)
        conns.adopt(packed, base)
    else:
        for t in packed:
            c = unpack_connection(t)
            if c.exchange_runs:
                c.exchange_runs = [x + base for x in c.exchange_runs]
            conns.add(c)
    return [CaptureRecord(*c) for c in caps]


@contextmanager
def _pool(jobs: int) -> Iterator[tuple[ProcessPoolExecutor, str]]:
    """A pool of ``jobs`` processes and a temporary directory of ours for their stores'
    files, removed when done (whatever happens to the workers). The processes are forks
    of this one when no other thread runs here, else started fresh (forkserver): a fork
    of a process that holds threads may copy a lock one of them holds."""
    import multiprocessing
    import sys
    import tempfile

    from analyzer.store.aside import can_fork

    methods = multiprocessing.get_all_start_methods()
    if can_fork():
        # no thread to hold a lock a fork would copy: forked workers start at once, with
        # every module already imported (a fresh interpreter took ~0.1 s)
        method = "fork"
        sys.stdout.flush()  # (nothing buffered may be written twice)
        sys.stderr.flush()
    else:
        method = "forkserver" if "forkserver" in methods else "spawn"
    # a worker is dropped by os._exit when the pool ends (fork, forkserver: what it built
    # need not be freed first, analyzer.leaving); one started fresh (spawn) exits normally
    pool = ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context(method),
        initializer=leaving.start if method != "spawn" else None,
    )
    with tempfile.TemporaryDirectory(prefix="keepalive-") as directory:
        try:
            yield pool, directory
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def run_processes(
    jobs: int, spec: PartitionSpec, store: ExchangeStore, conns: ConnectionStore
) -> list[Part]:
    """The partitions in a pool of ``jobs`` processes (:func:`_pool`)."""
    with _pool(jobs) as (pool, directory):
        futures = [
            pool.submit(run_part, spec, i, jobs, directory, conns.limit) for i in range(jobs)
        ]
        futures.reverse()
        parts = []
        while futures:  # in order; each result dropped once unwired
            parts.append(unwire(futures.pop().result(), store, conns))
        return parts


def run_span_processes(
    jobs: int, spec: PartitionSpec, plan: SpanPlan, store: ExchangeStore,
    conns: ConnectionStore,
) -> tuple[list[CaptureRecord], list[int]]:
    """The spans (:mod:`analyzer.spans`) in a pool of ``jobs`` processes (:func:`_pool`),
    merged in order as each comes (a result is dropped once adopted). Raises
    :class:`~analyzer.spans.Unsplittable`."""
    from analyzer.spans import run_span, run_spans

    with _pool(jobs) as (pool, directory):
        futures = [
            pool.submit(run_span, spec, plan, k, directory, conns.limit)
            for k in range(len(plan.starts))
        ]
        futures.reverse()

        def results() -> Iterator[SpanResult]:
            while futures:
                yield futures.pop().result()

        return run_spans(results(), spec, plan, store, conns)
