"""Exchanges on disk (issue 6): a large analysis keeps its exchanges in an
:class:`~analyzer.store.ExchangeStore`, not in its connection records. Whatever the
size, everything a user sees is the same: the JSON to the byte, the exchange records,
the tables; a small analysis even keeps ``c.exchanges``. Here every analysis is made
"large" (``INLINE_BYTES = -1``) and compared with the in-memory result."""

from __future__ import annotations

import gc
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

import analyzer
import analyzer.pipeline as pipeline
from analyzer.output.jsonout import exchange_dict
from analyzer.store import ExchangeStore
from tests import builders as b
from tests.conftest import CAPTURES

ALL = sorted(p for p in CAPTURES.glob("*.pcap*")) + sorted((CAPTURES / "zeek").glob("*.pcap"))
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
def on_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "INLINE_BYTES", -1)


def _same(disk: analyzer.Analysis, mem: analyzer.Analysis) -> None:
    assert disk.spool is not None and mem.spool is None
    assert disk.to_json() == mem.to_json()
    assert disk.exchange_records == mem.exchange_records
    assert [exchange_dict(e) for e in disk.exchange_records] == [
        exchange_dict(e) for e in mem.exchange_records
    ]
    for c, m in zip(disk.connection_records, mem.connection_records, strict=True):
        assert c.exchanges == [] and c.exchange_count == m.exchange_count
        # (TLS not decrypted counts request/response turns, with no exchange records)
        assert m.exchange_count == len(m.exchanges) or m.requests_estimated
        assert c.last_exchange == m.last_exchange
    assert disk.to_dict() == mem.to_dict()


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_every_capture_gives_the_same_answer_from_disk(path: Path, on_disk: None) -> None:
    disk = analyzer.analyze(str(path))
    with pytest.MonkeyPatch.context() as m:
        m.setattr(pipeline, "INLINE_BYTES", 1 << 40)
        mem = analyzer.analyze(str(path))
    _same(disk, mem)


def test_tables_are_the_same(on_disk: None) -> None:
    path = str(CAPTURES / "nginx-request-limit.pcap")
    disk = analyzer.analyze(path)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(pipeline, "INLINE_BYTES", 1 << 40)
        mem = analyzer.analyze(path)
    assert disk.exchanges.equals(mem.exchanges)
    assert disk.exchanges.to_csv() == mem.exchanges.to_csv()
    assert disk.connections.equals(mem.connections)


def test_several_files_and_partitions(on_disk: None) -> None:
    paths = [str(CAPTURES / n) for n in ("go-leak.pcap", "go-drain.pcap", "ipv6.pcap",
                                         "pipelined.pcap", "zeek/wikipedia.pcap")]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(pipeline, "INLINE_BYTES", 1 << 40)
        mem = analyzer.analyze(paths)
    _same(analyzer.analyze(paths), mem)
    _same(analyzer.analyze(paths, jobs=2), mem)
    _same(analyzer.analyze(paths, jobs=3), mem)


def _long_and_short() -> bytes:
    """One connection of 300 exchanges (it spills to the store while it runs) between
    short ones that open, finish and interleave with its spills; and a mid-way one whose
    roles are settled only late."""
    long = b.Conversation(client=("10.0.0.1", 40000), t0=1_700_000_000.0, client_isn=7)
    long.handshake()
    shorts = []
    for i in range(300):
        long.exchange(f"GET /long/{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), OK)
        if i % 20 == 0:
            # one port: the next SYN finishes the previous one in the middle of the pass
            s = b.Conversation(client=("10.0.0.3", 41000), t0=long.t, client_isn=i)
            s.handshake().exchange(b"GET /s HTTP/1.1\r\nHost: x\r\n\r\n", OK)
            s.exchange(b"GET /t HTTP/1.1\r\nHost: x\r\n\r\n", OK).close(0)
            shorts.append(s)
            long.idle(11)  # the short one is over (close linger: 10 s) and finished
    long.close(1)
    late = b.Conversation(client=("10.0.0.4", 42000), server=("10.0.0.2", 40), t0=1_700_000_000.0)
    late.mid_stream().response(b"x" * 10)
    for i in range(30):
        late.exchange(f"GET /late/{i} HTTP/1.1\r\n\r\n".encode(), OK)
    frames = b.merge(long.frames(), late.frames(), *(s.frames() for s in shorts))
    return b.pcap(frames)


def test_long_connections_spill_in_order(tmp_path: Path, on_disk: None) -> None:
    path = b.write(tmp_path / "long.pcap", _long_and_short())
    disk = analyzer.analyze(path)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(pipeline, "INLINE_BYTES", 1 << 40)
        mem = analyzer.analyze(path)
    assert max(c.exchange_count for c in mem.connection_records) == 300
    runs = sum(len(c.exchange_runs or ()) // 2 for c in disk.connection_records)
    assert runs > len(disk.connection_records) + 10  # the long one came in many runs
    _same(disk, mem)
    _same(analyzer.analyze(path, jobs=2), mem)
    # the same with a table that spools (as analyze does) and one that does not
    assert [c.exchange_count for c in disk.connection_records] == [
        len(c.exchanges) for c in mem.connection_records
    ]


def test_a_small_analysis_keeps_its_exchanges_in_memory() -> None:
    a = analyzer.analyze(str(CAPTURES / "go-drain.pcap"))
    assert a.spool is None and a.exchange_records
    assert all(c.last_exchange is c.exchanges[-1] for c in a.connection_records if c.exchanges)
    assert sum(len(c.exchanges) for c in a.connection_records) == a.exchange_count


def test_the_temporary_file_goes_with_the_analysis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_disk: None
) -> None:
    def ours() -> list[str]:  # our open files in tmp_path (an unlinked one included)
        fds = Path("/proc/self/fd")
        links = [os.readlink(p) for p in fds.iterdir() if p.is_symlink()]
        return [x for x in links if x.startswith(str(tmp_path))]

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    a = analyzer.analyze(str(CAPTURES / "go-drain.pcap"))
    assert isinstance(a.spool, ExchangeStore)
    assert not any(tmp_path.iterdir())  # anonymous: nothing to leave behind
    assert len(ours()) == 1
    del a
    gc.collect()
    assert ours() == []
    analyzer.analyze([str(CAPTURES / "go-drain.pcap"), str(CAPTURES / "go-leak.pcap")], jobs=2)
    assert not any(tmp_path.iterdir())  # the workers' files too


def test_an_empty_capture(tmp_path: Path, on_disk: None) -> None:
    path = b.write(tmp_path / "empty.pcap", b.pcap([]))
    a = analyzer.analyze(path)
    assert a.exchange_records == [] and '"exchanges": []' in a.to_json()


def test_store_lines_and_records_agree(on_disk: None) -> None:
    a = analyzer.analyze(str(CAPTURES / "pipelined.pcap"))
    store: Any = a.spool
    import orjson

    assert [orjson.loads(line) for line in store.lines()] == [
        exchange_dict(e) for e in a.exchange_records
    ]


def test_without_orjson_the_same(monkeypatch: pytest.MonkeyPatch, on_disk: None) -> None:
    """The standard library's encoder (orjson missing) writes other bytes; the store
    writes the same ones as the in-memory path."""
    import json

    from analyzer.output import jsonout
    from analyzer.store import exchanges as store

    enc = json.JSONEncoder(check_circular=False).encode

    def std() -> Any:
        return lambda obj: enc(obj).encode()

    monkeypatch.setattr(jsonout, "encoder", std)
    monkeypatch.setattr(store, "encoder", std)
    path = str(CAPTURES / "pipelined.pcap")
    disk = analyzer.analyze(path)
    monkeypatch.setattr(pipeline, "INLINE_BYTES", 1 << 40)
    mem = analyzer.analyze(path)
    assert '"connection": "C1", "index": 1' in mem.to_json()
    _same(disk, mem)


# ---- connections on disk (ConnectionStore)


@pytest.fixture
def conns_on_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every analysis keeps its connections on disk, in blocks of 3, pieces of 2 (many
    blocks and pieces to merge even for a small capture)."""
    from analyzer.store import connections as store

    monkeypatch.setattr(store, "MEMORY_CONNECTIONS", 0)
    monkeypatch.setattr(store, "BLOCK", 3)
    monkeypatch.setattr(store, "CHUNK", 2)


def _in_memory(paths: str | list[str], **kw: Any) -> analyzer.Analysis:
    from analyzer.store import connections as store

    with pytest.MonkeyPatch.context() as m:
        m.setattr(store, "MEMORY_CONNECTIONS", 1 << 40)
        return analyzer.analyze(paths, **kw)


def _same_connections(disk: analyzer.Analysis, mem: analyzer.Analysis) -> None:
    from analyzer.core.schema import CONNECTION
    from analyzer.output.jsonout import connection_dict

    assert isinstance(mem.connection_records, list)
    assert disk.to_json() == mem.to_json()
    assert disk.to_dict() == mem.to_dict()
    assert disk.server_records == mem.server_records
    assert len(disk.connection_records) == len(mem.connection_records)
    for c, m in zip(disk.connection_records, mem.connection_records, strict=True):
        assert connection_dict(c) == connection_dict(m)
        # every other field too (core/schema.py), but where the exchanges are (offsets
        # in each analysis' own store)
        for name in CONNECTION.names:
            if name not in ("exchanges", "exchange_runs"):
                assert getattr(c, name) == getattr(m, name), name
    assert disk.exchange_records == mem.exchange_records


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_every_capture_gives_the_same_answer_with_connections_on_disk(
    path: Path, conns_on_disk: None
) -> None:
    disk = analyzer.analyze(str(path))
    mem = _in_memory(str(path))
    if len(mem.connection_records) > 1:  # (one connection: nothing can be out of order)
        assert not isinstance(disk.connection_records, list)  # really from disk
    _same_connections(disk, mem)


def test_connections_on_disk_several_files_and_partitions(conns_on_disk: None) -> None:
    paths = [str(CAPTURES / n) for n in ("go-leak.pcap", "go-drain.pcap", "ipv6.pcap",
                                         "pipelined.pcap", "zeek/wikipedia.pcap")]
    mem = _in_memory(paths)
    _same_connections(analyzer.analyze(paths), mem)
    _same_connections(analyzer.analyze(paths, jobs=2), mem)


def test_connections_out_of_order(conns_on_disk: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Overlapping files are separate groups: the second's connections are numbered
    after the first's but start earlier. The classifier's passes (by start) put them in
    order through a window of classify.WINDOW connections; a capture that steps back
    further than that is loaded and sorted in memory. The same answer either way."""
    from analyzer.core import classify

    a, b_ = str(CAPTURES / "go-leak.pcap"), str(CAPTURES / "go-drain.pcap")
    mem = _in_memory([b_, a, a])
    starts = [c.start for c in mem.connection_records]
    assert starts != sorted(starts)  # (really out of order)
    disk = analyzer.analyze([b_, a, a])
    assert not isinstance(disk.connection_records, list)  # the window did it
    _same_connections(disk, mem)
    monkeypatch.setattr(classify, "WINDOW", 1)
    disk = analyzer.analyze([b_, a, a])
    assert isinstance(disk.connection_records, list)  # loaded and sorted
    _same_connections(disk, mem)


def test_by_start_orders_within_its_window() -> None:
    from analyzer.core.classify import by_start
    from analyzer.core.records import ConnectionRecord

    starts = [1.0, 0.5, 2.0, 2.0, 1.5, 3.0, 0.1]
    pairs = [(i, ConnectionRecord(id=f"C{i + 1}", start=t)) for i, t in enumerate(starts)]
    out = [(c.start, i) for i, c in by_start(pairs, window=10)]
    assert out == sorted((t, i) for i, t in enumerate(starts))
    out = [(c.start, i) for i, c in by_start(pairs, window=2)]
    assert sorted(out) == sorted((t, i) for i, t in enumerate(starts)) and out != sorted(out)


def test_connection_store_reads_like_a_list(conns_on_disk: None) -> None:
    path = str(CAPTURES / "go-leak.pcap")
    disk, mem = analyzer.analyze(path), _in_memory(path)
    cs, ms = disk.connection_records, mem.connection_records
    n = len(ms)
    assert n > 6
    assert [c.id for c in cs[:4]] == [f"C{i}" for i in range(1, 5)]
    from analyzer.output.jsonout import connection_dict as row

    def rows(xs: list[Any]) -> list[dict[str, Any]]:
        return [row(c) for c in xs]

    assert rows(cs[2:5]) == rows(ms[2:5]) and rows(cs[::2]) == rows(ms[::2])
    assert rows(cs[-2:]) == rows(ms[-2:])
    assert row(cs[0]) == row(ms[0]) and row(cs[-1]) == row(ms[-1])
    assert row(cs[n - 1]) == row(ms[n - 1])
    with pytest.raises(IndexError):
        cs[n]
    assert list(cs) == list(cs)  # iterated again: the same
    assert disk.connections.equals(mem.connections)
    assert "connections=" in repr(disk)


def test_connection_store_unit(tmp_path: Path) -> None:
    """Connections added in any order come back by ``first``, numbered by position,
    with their diagnosis once the codes are set, their exchange runs kept."""
    import random

    from analyzer.core.classify import CODES
    from analyzer.core.records import ConnectionRecord, ExchangeRecord
    from analyzer.store import ConnectionStore

    rng = random.Random(7)
    firsts = rng.sample(range(10_000), 50)
    s = ConnectionStore(limit=5)
    for k, f in enumerate(firsts):
        last = ExchangeRecord(connection=f"C{k}", index=1, method="GET") if k % 2 else None
        s.add(ConnectionRecord(id=f"C{k}", first=f, client=f"10.0.0.1:{k}",
                               anomalies={"x": k} if k % 3 else {}, last_exchange=last,
                               exchange_count=k % 2, held_until=float(k),
                               exchange_runs=[k, k + 10] if k % 2 else None))
    s.seal()
    assert s.spilled and len(s) == 50
    back = list(s)
    assert [c.first for c in back] == sorted(firsts)
    assert [c.id for c in back] == [f"C{i}" for i in range(1, 51)]
    for c in back:
        k = int(c.client.rsplit(":", 1)[1])
        assert c.anomalies == ({"x": k} if k % 3 else {}) and c.held_until == float(k)
        assert (c.last_exchange is None) == (k % 2 == 0)
        assert c.exchange_runs == ([k, k + 10] if k % 2 else None)
        if c.last_exchange is not None:
            assert c.last_exchange.connection == c.id and c.last_exchange.method == "GET"
    # rows: each connection's JSON object straight from its stored values, as the
    # rebuilt record gives it (ids by position; diagnoses once the codes are set)
    from analyzer.output.jsonout import connection_dict

    def rows(lo: int = 0, hi: int = -1) -> list[dict[str, Any]]:
        return [dict(d) for d in s.rows(lo, hi)]  # (one dict refilled: copied as it comes)

    assert rows() == [connection_dict(c) for c in back]
    assert rows(3, 9) == [connection_dict(c) for c in back[3:9]]
    assert rows(45) == [connection_dict(c) for c in back[45:]] and rows(7, 7) == []
    assert [list(d) for d in s.rows()] == [list(connection_dict(back[0]))] * 50  # key order
    s.codes = bytearray(i % len(CODES) for i in range(50))
    assert [c.diagnosis for c in s] == [CODES[i % len(CODES)] for i in range(50)]
    assert rows() == [connection_dict(c) for c in s]
    assert [d["diagnosis"] for d in rows(10, 20)] == [CODES[i % len(CODES)] for i in range(10, 20)]
    # pick: some positions, rebuilt as iterating gives them (the merge stops at the last)
    picked = s.pick({0, 7, 31})
    assert sorted(picked) == [0, 7, 31]
    for i, c in picked.items():
        assert (c.id, c.first, c.diagnosis) == (back[i].id, back[i].first, CODES[i % len(CODES)])
    assert s.pick(set()) == {}
    s.close()
    small = ConnectionStore(limit=100)
    small.add(ConnectionRecord(id="C1", first=3))
    small.seal()
    assert not small.spilled and small.records[0].first == 3
    assert small.pick({0}) == {0: small.records[0]}


def test_a_big_capture_streams_its_connections_from_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Inputs bigger than STREAM_BYTES in all put their connections on disk from the
    first one (no memory filled first); the answer is the same."""
    from analyzer.store import connections as store

    path = str(CAPTURES / "go-leak.pcap")
    mem = _in_memory(path)
    seen: list[int | None] = []
    real = store.ConnectionStore.__init__

    def spy(self: store.ConnectionStore, limit: int | None = -1) -> None:
        real(self, limit)
        seen.append(self.limit)

    monkeypatch.setattr(store.ConnectionStore, "__init__", spy)
    monkeypatch.setattr(store, "STREAM_BYTES", os.path.getsize(path) - 1)
    disk = analyzer.analyze(path)
    assert seen == [0] and not isinstance(disk.connection_records, list)
    _same_connections(disk, mem)
    monkeypatch.setattr(store, "STREAM_BYTES", os.path.getsize(path))
    seen.clear()
    assert isinstance(analyzer.analyze(path).connection_records, list)
    assert seen == [store.MEMORY_CONNECTIONS]


def test_every_output_reads_connections_from_disk(conns_on_disk: None) -> None:
    """The terminal table, the CSV, the HTML report, HAR and JSON lines take an analysis
    whose connections are on disk and print what they print from memory."""
    import io

    from rich.console import Console

    from analyzer.output import csvout, exports, har, report, terminal

    path = str(CAPTURES / "go-leak.pcap")
    disk, mem = analyzer.analyze(path), _in_memory(path)
    assert not isinstance(disk.connection_records, list)

    def text(a: analyzer.Analysis) -> str:
        out = io.StringIO()
        terminal.render(a, Console(file=out, width=200, color_system=None), max_connections=5)
        return out.getvalue()

    assert text(disk) == text(mem) and "more connections" in text(disk)
    assert csvout.connections_csv(disk) == csvout.connections_csv(mem)
    assert har.har_dict(disk) == har.har_dict(mem)
    assert list(exports.jsonl_objects(disk)) == list(exports.jsonl_objects(mem))
    assert report.html_report(disk, max_rows=5) == report.html_report(mem, max_rows=5)


def test_connection_store_runs_are_the_same_read_or_noted() -> None:
    """``runs()`` merges the blocks again until a whole iteration has noted every
    connection's runs; either way the same ids and runs, in order: after a partial
    iteration, after one or two whole ones, and after a worker's blocks (runs and
    ``first`` shifted) are adopted, which forgets what was noted."""
    import random

    from analyzer.core.records import ConnectionRecord
    from analyzer.store import ConnectionStore

    rng = random.Random(11)

    def filled(firsts: list[int], limit: int | None = 4) -> ConnectionStore:
        s = ConnectionStore(limit=limit)
        for k, f in enumerate(firsts):
            runs = [rng.randrange(10**6) for _ in range(2 * rng.randrange(3))] or None
            s.add(ConnectionRecord(id=f"C{k}", first=f, exchange_runs=runs))
        s.seal()
        return s

    s = filled(rng.sample(range(10_000), 40))
    merged = list(s.runs())
    assert [cid for cid, _ in merged] == [f"C{i}" for i in range(1, 41)]
    assert [c.exchange_runs for c in s] == [r for _, r in merged]
    next(iter(s))  # (a partial iteration notes nothing)
    for _ in range(2):
        assert [r for _, r in s.runs()] == [r for _, r in merged]
        assert sum(1 for _ in s) == 40
    worker = filled(rng.sample(range(10_000), 30), limit=0)
    theirs = [c.exchange_runs for c in worker]
    s.adopt(worker.export(), shift=1000, first=20_000)
    worker.close()
    s.seal()
    expected = [r for _, r in s.runs()]  # (merged again: the adopted blocks are in)
    assert expected[:40] == [r for _, r in merged]  # (theirs all start later: first + 20,000)
    assert expected[40:] == [[x + 1000 for x in r] if r else None for r in theirs]
    assert [c.exchange_runs for c in s] == expected
    assert [r for _, r in s.runs()] == expected  # (noted)
    s.close()
    # the report's whole read of the rows notes the runs as iterating does
    t = filled(rng.sample(range(10_000), 25))
    want = list(t.runs())
    assert sum(1 for _ in t.rows(0, 5)) == 5 and t._runs_seen is None  # (partial: nothing)
    assert [d["id"] for d in t.rows()] == [cid for cid, _ in want]
    assert t._runs_seen is not None and list(t.runs()) == want
    t.close()


def test_workers_hand_over_connections_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, conns_on_disk: None
) -> None:
    """Past the limit, a worker (--jobs, dask) sends its connections as the blocks of its
    own store, by file (adopted and deleted) or as bytes; their exchange runs are moved
    to where the worker's exchanges landed. The same answer, no file left behind."""
    import pickle

    from analyzer.parallel import run_part, unwire
    from analyzer.passes import PartitionSpec, breaks_of, file_order
    from analyzer.store import ConnectionStore

    paths = [str(CAPTURES / "go-leak.pcap"), str(CAPTURES / "go-drain.pcap")]
    mem = _in_memory(paths)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    _same_connections(analyzer.analyze(paths, jobs=2), mem)
    assert not any(tmp_path.iterdir())
    order = file_order(paths, "native")
    spec = PartitionSpec(paths, paths, order, 300.0, False, "native", breaks_of(paths, order, None))
    for directory in (str(tmp_path), None):
        store, conns = ExchangeStore(), ConnectionStore()
        for i in range(2):
            wire = pickle.loads(pickle.dumps(run_part(spec, i, 2, directory, 0)))
            assert isinstance(wire[1], tuple)  # blocks, not values
            unwire(wire, store, conns)
        assert not any(tmp_path.iterdir())
        conns.seal()
        assert len(conns) == len(mem.connection_records)
        store.seal(conns.runs)
        assert list(store.records()) == mem.exchange_records
        store.close()
        conns.close()


def test_readback_merge_is_heapq_merge() -> None:
    """The compiled merge of a store's blocks gives what heapq.merge gives: in order of
    the key, ties in the order of the blocks, every value once (property test)."""
    import heapq
    from operator import itemgetter

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from analyzer.core.readback import merged

    blocks_st = st.lists(
        st.lists(st.integers(min_value=0, max_value=40), max_size=12).map(sorted), max_size=6
    )

    @settings(max_examples=300, deadline=None)
    @given(blocks_st)
    def check(keys: list[list[int]]) -> None:
        blocks = [[(k, b, j) for j, k in enumerate(ks)] for b, ks in enumerate(keys)]
        want = list(heapq.merge(*blocks, key=itemgetter(0)))
        assert list(merged([iter(b) for b in blocks], 0)) == want

    check()


def test_readback_block_values_shift_first_and_runs(tmp_path: Path) -> None:
    """A worker's block read back: ``first`` shifted, exchange runs shifted, the rest as
    it was, whichever of the two shifts apply."""
    import marshal

    from analyzer.core.readback import block_values

    rows = [(5, "a", [1, 2], "z"), (7, "b", None, "y"), (9, "c", [], "x")]
    path = tmp_path / "blocks"
    data = marshal.dumps(rows)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        pieces = [(0, len(data))]
        assert list(block_values(fd, pieces, 0, 0, 0, 2)) == rows
        assert list(block_values(fd, pieces, 100, 0, 0, 2)) == [
            (5, "a", [101, 102], "z"), (7, "b", None, "y"), (9, "c", [], "x")]
        assert list(block_values(fd, pieces, 0, 1000, 0, 2)) == [
            (1005, "a", [1, 2], "z"), (1007, "b", None, "y"), (1009, "c", [], "x")]
        assert list(block_values(fd, pieces, 100, 1000, 0, 2)) == [
            (1005, "a", [101, 102], "z"), (1007, "b", None, "y"), (1009, "c", [], "x")]
    finally:
        os.close(fd)
