"""Exchanges on disk (issue 6): a large analysis keeps its exchanges in an
:class:`~analyzer.output.store.ExchangeStore`, not in its connection records. Whatever the
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
import analyzer.api as api
from analyzer.output.jsonout import exchange_dict
from analyzer.output.store import ExchangeStore
from tests import builders as b
from tests.conftest import CAPTURES

ALL = sorted(p for p in CAPTURES.glob("*.pcap*")) + sorted((CAPTURES / "zeek").glob("*.pcap"))
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
def on_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "INLINE_BYTES", -1)


def _same(disk: analyzer.Analysis, mem: analyzer.Analysis) -> None:
    assert disk.spool is not None and mem.spool is None
    assert disk.to_json() == mem.to_json()
    assert disk.exchange_records == mem.exchange_records
    assert [exchange_dict(e) for e in disk.exchange_records] == [
        exchange_dict(e) for e in mem.exchange_records
    ]
    for c, m in zip(disk.connection_records, mem.connection_records, strict=True):
        assert c.exchanges == [] and c.exchange_count == len(m.exchanges)
        assert c.last_exchange == m.last_exchange
    assert disk.to_dict() == mem.to_dict()


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_every_capture_gives_the_same_answer_from_disk(path: Path, on_disk: None) -> None:
    disk = analyzer.analyze(str(path))
    with pytest.MonkeyPatch.context() as m:
        m.setattr(api, "INLINE_BYTES", 1 << 40)
        mem = analyzer.analyze(str(path))
    _same(disk, mem)


def test_tables_are_the_same(on_disk: None) -> None:
    path = str(CAPTURES / "nginx-request-limit.pcap")
    disk = analyzer.analyze(path)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(api, "INLINE_BYTES", 1 << 40)
        mem = analyzer.analyze(path)
    assert disk.exchanges.equals(mem.exchanges)
    assert disk.exchanges.to_csv() == mem.exchanges.to_csv()
    assert disk.connections.equals(mem.connections)


def test_several_files_and_partitions(on_disk: None) -> None:
    paths = [str(CAPTURES / n) for n in ("go-leak.pcap", "go-drain.pcap", "ipv6.pcap",
                                         "pipelined.pcap", "zeek/wikipedia.pcap")]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(api, "INLINE_BYTES", 1 << 40)
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
        m.setattr(api, "INLINE_BYTES", 1 << 40)
        mem = analyzer.analyze(path)
    assert max(c.exchange_count for c in mem.connection_records) == 300
    runs = len(disk.spool._starts)  # type: ignore[union-attr]
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

    from analyzer.output import jsonout, store

    enc = json.JSONEncoder(check_circular=False).encode

    def std() -> Any:
        return lambda obj: enc(obj).encode()

    monkeypatch.setattr(jsonout, "encoder", std)
    monkeypatch.setattr(store, "encoder", std)
    path = str(CAPTURES / "pipelined.pcap")
    disk = analyzer.analyze(path)
    monkeypatch.setattr(api, "INLINE_BYTES", 1 << 40)
    mem = analyzer.analyze(path)
    assert '"connection": "C1", "index": 1' in mem.to_json()
    _same(disk, mem)
