"""analyze(): capture files in, an :class:`~analyzer.analysis.Analysis` out.

The pipeline: the files' order and groups, one pass of the core over them (in this
process, in ``--jobs`` worker processes, or on a Dask cluster — the same partitions,
merged in order), then the finish: connections numbered by first packet, diagnosed
(:mod:`analyzer.core.classify`), their exchanges put in order. Data flows one way:
capture → decode → flows → streams → protocols → http1 → exchanges → labels → classify →
records → stores → Analysis.
"""

from __future__ import annotations

import dataclasses
import gc
import os
from collections.abc import Callable, Iterable
from functools import partial
from operator import attrgetter
from typing import TYPE_CHECKING

from analyzer.analysis import Analysis
from analyzer.capture.keylogs import read_keylog
from analyzer.core.classify import diagnose
from analyzer.core.flows import IDLE_TIMEOUT
from analyzer.core.records import CaptureRecord, ConnectionRecord
from analyzer.errors import AnalyzerError
from analyzer.passes import (
    SERIES_GAP,
    Part,
    PartitionSpec,
    breaks_of,
    file_order,
    merge_parts,
    run_partition,
    say_groups,
)
from analyzer.store import connections as conn_store
from analyzer.store.aside import Aside

if TYPE_CHECKING:
    from analyzer.core.classify import Classification
    from analyzer.store import ConnectionStore, ExchangeStore

# An analysis whose exchanges encode to at most this many bytes keeps them in memory, in
# their connections' ``exchanges`` (as small analyses always did); a larger one keeps
# them on disk (analyzer.store) and reads them back when asked.
INLINE_BYTES = 4 << 20
# With analyze(write_ahead=True), the report's connections section is drafted aside while
# they are diagnosed (Analysis.connections_draft) when there are many connections
# (store.connections.ASIDE_CONNECTIONS) or exchanges of at least this many bytes (whose
# section the JSON writer then writes in place meanwhile): below both, a fork costs more
# than it saves.
ASIDE_BYTES = 16 << 20


def analyze(
    paths: str | Iterable[str],
    *,
    idle_timeout: float = IDLE_TIMEOUT,
    on_warning: Callable[[str], None] | None = None,
    show_secrets: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
    backend: str = "native",
    jobs: int | None = None,
    dask: str | None = None,
    merge: bool | None = None,
    tls_keylog: str | os.PathLike[str] | None = None,
    write_ahead: bool = False,
) -> Analysis:
    """Analyse one capture file or several (pcap, pcapng, optionally .gz).

    Several files are one capture cut in parts (tcpdump ``-C``/``-G``, ``editcap -c``)
    when they follow each other: they are read in order of their first packet, and a
    file whose first packet is not earlier than the last packet read before it continues
    that capture, so a connection that crosses a file boundary is one connection. A file
    that starts earlier (overlapping captures of the same traffic, e.g. client and server
    side) starts a new, separate group. So does, by default (``merge`` None), a file
    whose name is not of the same rotated series as the one before it (``before.pcap``
    then ``after.pcap``: two experiments; ``dump.pcap``, ``dump.pcap1``: one capture);
    ``merge=True`` stitches every file that follows the one before it, ``merge=False``
    analyses every file apart. Each group gets verdicts of its own (``servers[].capture``
    names the group's first file when there are several) and each file says in its
    warnings how it was taken. Connections are numbered C1, C2, … in order of first
    packet (group by group); each names the file where it started.

    Raises :class:`~analyzer.errors.CaptureError` (one line naming the file and the
    problem) for a file that cannot be read; a truncated capture gives what it held,
    with a warning in ``captures[].warnings`` (and to ``on_warning``). Secrets in request
    targets (URL userinfo, token-like query values) are masked unless ``show_secrets``.
    ``on_progress(path, bytes_read, packets)`` is called after each chunk (~1 MiB; not
    with ``jobs`` > 1 or ``dask``).
    ``backend``: ``native`` (our own readers), ``scapy`` or ``pyshark`` (docs/backends.md).
    ``tls_keylog``: an NSS key log file (SSLKEYLOGFILE) whose secrets decrypt the TLS
    connections (a pcapng's Decryption Secrets Blocks are used as well, without asking);
    without secrets TLS is read from its cleartext handshake and records, and requests are
    estimated. Secrets never reach any output.

    ``jobs``: run in that many processes, with the same result as ``jobs=1``, to the byte.
    Uncompressed classic pcap input of at least two spans' worth
    (:data:`analyzer.spans.MIN_SPAN` each) is cut into byte spans, one per process, each
    read by its worker alone (:mod:`analyzer.spans`; the bytes each read are in
    ``span_bytes``); when the parent cannot prove the spans' answer equal to one
    process's, it runs as one process. Other input is split by partitions: connections by
    their 4-tuple (with ``tls_keylog``, by host pair: a resumed TLS 1.2 session decrypts
    with the secret of the connection it resumes, which must be in the same partition);
    every process reads every packet, keeps its own connections' state, and the results
    are merged. (One exception: a pcapng whose
    TLS secrets are only embedded, without ``tls_keylog``, is split by 4-tuple, so a
    resumed TLS 1.2 session whose client logged no line for it — Go does not — may stay
    undecrypted under ``jobs``; pass the key log as well.) ``dask``:
    the address of a dask.distributed scheduler (``tcp://host:8786``) whose workers run
    the partitions instead (``jobs`` of them, default: the cluster's threads); the files
    must be readable by the workers at the same path (``pip install
    keepalive-analyzer[dask]``). Worker processes are forks of this one, or started
    fresh (forkserver) when other threads run here (a notebook's kernel); so a script
    that calls ``analyze(jobs=N)`` does it under ``if __name__ == "__main__":``.
    ``write_ahead``: the caller will write the analysis as JSON; with ``jobs`` > 1 and
    many connections or exchanges, a second process drafts the connections section
    while they are diagnosed (:mod:`analyzer.store.aside`; the JSON writer puts the
    diagnoses in, and writes the exchanges section in place meanwhile).
    """
    from analyzer.store import ConnectionStore, ExchangeStore

    paths = [paths] if isinstance(paths, str) else [str(p) for p in paths]
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise AnalyzerError(f"jobs must be a whole number of at least 1, not {jobs!r}")
    enabled = gc.isenabled()
    gc.disable()  # the pass makes no cycles worth collecting; saves a few percent
    store = ExchangeStore()  # the exchanges, on disk (memory follows open connections)
    conns = ConnectionStore(connections_limit(paths))  # the connections: on disk when many
    try:
        order = file_order(paths, backend)
        breaks = breaks_of(paths, order, merge)
        spec = PartitionSpec(paths, paths, order, idle_timeout, show_secrets, backend, breaks,
                             float("inf") if merge else SERIES_GAP,
                             read_keylog(tls_keylog) if tls_keylog is not None else None)
        if dask is not None and tls_keylog is not None:
            # workers elsewhere read the key log from its path, as they read the captures:
            # secrets do not travel over the cluster's connections
            spec = dataclasses.replace(
                spec, tls_keylog=None, tls_keylog_path=os.path.abspath(tls_keylog)
            )
        parts: list[Part] | None = None
        work: list[int] = []
        if dask is not None or (jobs is not None and jobs > 1):
            from analyzer.spans import Unsplittable

            try:
                if dask is not None:
                    from analyzer.distributed import run_dask

                    # workers elsewhere: absolute paths (the files must be there at the
                    # same path)
                    spec = dataclasses.replace(
                        spec, sources=[os.path.abspath(p) for p in paths]
                    )
                    done = run_dask(dask, jobs, spec, store, conns)
                else:
                    from analyzer.parallel import run_processes, run_span_processes
                    from analyzer.spans import plan_spans

                    assert jobs is not None
                    plan = plan_spans(spec, jobs)
                    done = (run_span_processes(jobs, spec, plan, store, conns)
                            if plan is not None else run_processes(jobs, spec, store, conns))
                if isinstance(done, tuple):  # spans: the files' counters, bytes per span
                    parts = [done[0]]
                    work.extend(done[1])
                else:
                    parts = done
            except Unsplittable as e:
                # the spans' answer could not be proven one process's: be that process
                if on_warning is not None:
                    on_warning(f"the input could not be cut for parallel work ({e}): "
                               "analysed in one process")
                store.close()
                conns.close()
                store, conns = ExchangeStore(), ConnectionStore(connections_limit(paths))
                parts = None
        if parts is None:
            parts = [run_partition(spec, 0, 1, on_progress=on_progress, store=store,
                                   conns=conns)]
        captures = merge_parts(parts)
        say_groups(captures, order, breaks)
        if on_warning is not None:
            for cap in captures:
                for w in cap.warnings:
                    on_warning(f"{cap.path}: {w}")
        ahead = write_ahead and jobs is not None and jobs > 1 and dask is None
        analysis = finish(captures, conns, store, ahead)
        analysis.span_bytes = work
        analysis.jobs = jobs if jobs is not None and dask is None else 1
        return analysis
    except BaseException:
        store.close()
        conns.close()
        raise
    finally:
        if enabled:
            gc.enable()


def finish(
    captures: list[CaptureRecord], conns: ConnectionStore, store: ExchangeStore,
    ahead: bool = False,
) -> Analysis:
    """All connections are in: number them, diagnose them, order their exchanges.
    ``ahead``: start drafting the JSON connections section aside (``analyze(write_ahead)``)."""
    conns.seal()
    draft: Aside | None = None
    connections: list[ConnectionRecord] | ConnectionStore = conns
    groups = {c.path: c.group for c in captures} if len({c.group for c in captures}) > 1 else None
    if not conns.spilled:
        connections = conns.records
        renumber(connections)
        if ahead:  # the ids are final: the connections' lines can be drafted
            draft = _draft(connections, store)
        servers = diagnose(connections, groups)
    else:
        if ahead:  # the ids are final (by place): the connections' lines can be drafted
            draft = _draft(conns, store)
        # the classifier's read of the connections on disk: by id (mostly by start too), else put
        # in order of start through a window, else (by id is far from by start:
        # overlapping files, a clock that went back) sorted in memory, not flat
        found = classify_on_disk(conns, groups)
        if found is not None:
            conns.codes = found.codes
            servers = found.servers
        else:
            connections = list(conns)
            conns.close()
            servers = diagnose(connections, groups)
    analysis = Analysis(captures, connections, servers, settle(store, conns, connections))
    analysis.connections_draft = draft
    return analysis


def _draft(connections: list[ConnectionRecord] | ConnectionStore,
           store: ExchangeStore) -> Aside | None:
    """The JSON report's connections section, each diagnosis null, started aside (many
    connections or exchanges only)."""
    if len(connections) < conn_store.ASIDE_CONNECTIONS and store.size < ASIDE_BYTES:
        return None
    return Aside.start(partial(conn_store.write_draft, connections))


def classify_on_disk(
    conns: ConnectionStore, groups: dict[str, int] | None
) -> Classification | None:
    from analyzer.core.classify import OutOfOrder, by_start, classify

    try:
        return classify(lambda: enumerate(conns), len(conns), groups, conns.pick)
    except OutOfOrder:
        pass
    try:
        return classify(lambda: by_start(enumerate(conns)), len(conns), groups, conns.pick)
    except OutOfOrder:
        return None


def connections_limit(paths: list[str]) -> int:
    """How many finished connections stay in memory: none for a big capture (its
    connections go to disk from the start), else the store's default."""
    from analyzer.store import connections as store

    size = 0
    for p in paths:
        try:
            size += os.path.getsize(p)
        except OSError:
            pass  # (reading it will say what is wrong)
    return 0 if size > store.STREAM_BYTES else -1


def settle(
    store: ExchangeStore,
    conns: ConnectionStore,
    connections: list[ConnectionRecord] | ConnectionStore,
) -> ExchangeStore | None:
    """The connections are final: order the stored exchanges by them. A small analysis
    takes its exchanges back into memory (``INLINE_BYTES``)."""
    if isinstance(connections, list):
        store.seal(lambda: ((c.id, c.exchange_runs) for c in connections))
    else:  # on disk: read again, in order, when the report is
        store.seal(conns.runs)
    if not isinstance(connections, list) or store.size > INLINE_BYTES:
        return store
    store.attach(connections)
    store.close()
    return None


def renumber(connections: list[ConnectionRecord]) -> None:
    """Ids follow the first packet across all files and partitions (DESIGN: "order of
    first packet, stable"), whatever order the files were named in: ``first`` counts every
    record read, group after group."""
    connections.sort(key=attrgetter("first"))
    for i, c in enumerate(connections, 1):
        cid = f"C{i}"
        if c.id == cid:
            continue
        c.id = cid
        for e in c.exchanges:
            e.connection = cid
        if c.last_exchange is not None:
            c.last_exchange.connection = cid


def analyze_bytes(
    data: bytes, name: str = "<bytes>", tls_keylog: bytes | None = None
) -> Analysis:
    """Analyse a capture held in memory (tests, fuzzing): the same path as a file
    (``tls_keylog``: an NSS key log's contents)."""
    import io

    from analyzer.store import ConnectionStore, ExchangeStore

    store = ExchangeStore()
    conns = ConnectionStore()
    try:
        spec = PartitionSpec([name], [name], [0], IDLE_TIMEOUT, False, "native", [],
                             tls_keylog=tls_keylog)
        part = run_partition(spec, 0, 1, fileobjs={0: io.BytesIO(data)}, store=store,
                             conns=conns)
        return finish(merge_parts([part]), conns, store)
    except BaseException:
        store.close()
        conns.close()
        raise
