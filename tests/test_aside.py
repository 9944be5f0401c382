"""Writing parts of the JSON report aside (analyzer.store.aside) with --jobs, and the
store reads it rests on: the same bytes as one process writes, whatever the second
process does."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import Any

import pytest

import analyzer
import analyzer.pipeline as pipeline
from analyzer.output import jsonout
from analyzer.store import ConnectionStore, ExchangeStore
from analyzer.store import connections as conn_store
from analyzer.store import exchanges as exchange_store
from analyzer.store.aside import Aside, can_fork
from analyzer.store.files import BUFFER
from tests.conftest import CAPTURES

needs_fork = pytest.mark.skipif(not can_fork(), reason="no fork here (or threads running)")


def _part(n: int) -> Any:
    def write_part(write: Any) -> None:
        for i in range(n):
            write(b"line %d\n" % i)

    return write_part


def _expected(n: int) -> bytes:
    return b"".join(b"line %d\n" % i for i in range(n))


@needs_fork
@pytest.mark.parametrize("n", [0, 1, 50_000])
def test_a_part_copied_into_a_file_a_pipe_and_memory(tmp_path: Path, n: int) -> None:
    # a file: by the kernel, after what was written before
    path = tmp_path / "out"
    with open(path, "wb") as fh:
        fh.write(b"head\n")
        aside = Aside.start(_part(n))
        assert aside is not None
        assert aside.copy_to(fh) == (n > 0)
        fh.write(b"tail\n")
        aside.close()
    assert path.read_bytes() == b"head\n" + _expected(n) + b"tail\n"
    # memory (no descriptor): read and written here
    buf = io.BytesIO()
    aside = Aside.start(_part(n))
    assert aside is not None
    assert aside.copy_to(buf) == (n > 0)
    aside.close()
    assert buf.getvalue() == _expected(n)
    # a pipe
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # a reader, so the pipe never fills
        os.close(w)
        got = b""
        while chunk := os.read(r, 1 << 16):
            got += chunk
        os._exit(0 if got == b"<" + _expected(n) + b">" else 1)
    os.close(r)
    with open(w, "wb") as fh:
        fh.write(b"<")
        aside = Aside.start(_part(n))
        assert aside is not None
        aside.copy_to(fh)
        fh.write(b">")
        aside.close()
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@needs_fork
@pytest.mark.parametrize("n", [0, 1, 50_000])
def test_a_part_written_in_place(tmp_path: Path, n: int) -> None:
    """Into the file from the offset, by pwrite: the descriptor's position stays where
    this process is writing, below it; the length comes back."""
    path = tmp_path / "out"
    with open(path, "wb") as fh:
        fh.write(b"head\n")
        fh.flush()
        at = 5 + 7  # after what this process writes meanwhile
        part = Aside.start(_part(n), into=(fh.fileno(), at))
        assert part is not None
        fh.write(b"middle\n")
        assert fh.tell() == at and part.length() == len(_expected(n))
        fh.seek(at + len(_expected(n)))
        fh.write(b"tail\n")
        part.close()
    assert path.read_bytes() == b"head\nmiddle\n" + _expected(n) + b"tail\n"


@needs_fork
def test_a_part_that_fails_in_place_says_so(tmp_path: Path) -> None:
    def write_part(write: Any) -> None:
        write(b"x" * 3_000_000)  # (written: more than a buffer)
        raise RuntimeError("boom")

    with open(tmp_path / "out", "wb") as fh:
        part = Aside.start(write_part, into=(fh.fileno(), 0))
        assert part is not None
        assert part.length() is None and part.status is False
        part.close()


@needs_fork
def test_a_part_that_fails_aside_is_written_here() -> None:
    calls = []

    def write_part(write: Any) -> None:
        calls.append(os.getpid())
        write(b"some")
        if len(calls) == 1 and os.getpid() != me:  # (the second process)
            raise RuntimeError("boom")
        write(b" bytes")

    me = os.getpid()
    aside = Aside.start(write_part)
    assert aside is not None
    buf = io.BytesIO()
    assert aside.copy_to(buf) is True
    aside.close()
    assert buf.getvalue() == b"some bytes"
    assert calls == [me]  # (the second process's call is in its own memory)


@needs_fork
def test_an_abandoned_part_is_stopped() -> None:
    import time

    def forever(write: Any) -> None:
        while True:
            time.sleep(0.05)

    aside = Aside.start(forever)
    assert aside is not None
    aside.close()
    assert aside.status is False and aside.fd == -1
    with pytest.raises(ProcessLookupError):
        os.kill(aside.pid, 0)


def test_no_aside_with_threads_running() -> None:
    import threading

    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert Aside.start(_part(3)) is None
    finally:
        stop.set()
        t.join()


def test_between_is_a_slice_of_the_iteration(tmp_path: Path) -> None:
    from analyzer.core.classify import CODES
    from analyzer.core.records import ConnectionRecord

    rng = random.Random(3)
    firsts = rng.sample(range(100_000), 300)
    for limit in (7, None):
        s = ConnectionStore(limit=limit)
        for k, f in enumerate(firsts):
            s.add(ConnectionRecord(id=f"C{k}", first=f, client=f"10.0.0.1:{k}"))
        s.seal()
        if limit is not None:
            s.codes = bytearray(i % len(CODES) for i in range(len(firsts)))
        whole = list(s)
        if limit is None:  # (in memory: in the order added, ids as they are)
            assert not s.spilled
        for lo, hi in [(0, 0), (0, 300), (0, 1), (150, 300), (299, 300), (10, 11), (5, 400)]:
            got = list(s.between(lo, hi))
            assert [(c.id, c.first, c.client, c.diagnosis) for c in got] == [
                (c.id, c.first, c.client, c.diagnosis) for c in whole[lo:hi]
            ]
        s.close()


@pytest.mark.parametrize("window", [1, 37, 1 << 20])
def test_exchange_lines_read_by_window_are_the_lines(
    monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    """Runs written in another order than they are read (connections that finish late,
    runs in two files, a run bigger than the window) come out as a read per run gives."""
    from analyzer.core.records import ExchangeRecord

    monkeypatch.setattr(exchange_store, "WINDOW", window)
    rng = random.Random(window)
    stores = [ExchangeStore(), ExchangeStore(tag=1)]
    order: list[tuple[str, list[int]]] = []
    for k in range(120):  # connection k: its exchanges in one or two runs, in some store
        st = stores[k % 2]
        cid = f"C{k}"
        for _ in range(rng.randint(1, 4)):
            st.add(ExchangeRecord(connection=cid, index=1, method="GET",
                                  target="/" + "x" * rng.randint(0, 90)))
        order.append((cid, st.take(cid) or []))
    rng.shuffle(order)
    main, span = stores
    main.mount(span.export(), 1)
    span.close()
    ids = {cid: f"C{n + 1}" for n, (cid, _runs) in enumerate(order)}
    main.seal(lambda: ((ids[cid], runs) for cid, runs in order))
    got: list[bytes] = []
    main.write_lines(got.append)
    read = main._reader()
    expected = []
    for cid, runs in order:
        for k in range(0, len(runs), 2):
            blob = read(runs[k], runs[k + 1])
            for line in blob[:-1].split(b"\n"):
                i = line.index(b",")
                expected.append(b'{"connection":"' + ids[cid].encode() + b'"' + line[i:])
    assert b"".join(got) == b"\n  " + b",\n  ".join(expected)
    main.close()


@pytest.fixture
def aside_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every analysis' connections and exchanges on disk, and written aside with jobs."""
    monkeypatch.setattr(pipeline, "ASIDE_BYTES", 0)
    monkeypatch.setattr(pipeline, "INLINE_BYTES", -1)
    monkeypatch.setattr(jsonout, "ASIDE_CONNECTIONS", 0)
    monkeypatch.setattr(conn_store, "ASIDE_CONNECTIONS", 0)
    monkeypatch.setattr(conn_store, "BLOCK", 5)
    monkeypatch.setattr(conn_store, "CHUNK", 2)


def _json(a: analyzer.Analysis) -> bytes:
    buf = io.BytesIO()
    a.write_json(buf)
    return buf.getvalue()


@needs_fork
@pytest.mark.parametrize("on_disk", [True, False], ids=["connections-on-disk", "in-memory"])
@pytest.mark.parametrize("name", ["go-leak.pcap", "ipv6.pcap", "go-drain.pcap"])
def test_the_report_written_aside_is_the_report(
    name: str, on_disk: bool, aside_everything: None, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if on_disk:
        monkeypatch.setattr(pipeline, "connections_limit", lambda paths: 0)
    path = str(CAPTURES / name)
    one = analyzer.analyze(path)
    expected = _json(one)
    started: list[object] = []
    start = Aside.start
    monkeypatch.setattr(jsonout.Aside, "start",
                        lambda part, into=None: started.append(into) or start(part, into))
    for where in ("file", "memory"):
        many = analyzer.analyze(path, jobs=2, write_ahead=True)
        assert many.jobs == 2 and many.connections_draft is not None
        assert isinstance(many.connection_records, list) is not on_disk
        started.clear()
        if where == "file":  # the exchanges written in place meanwhile
            out = tmp_path / "out.json"
            with open(out, "wb") as fh:
                fh.write(b"before ")  # (a file written from anywhere)
                many.write_json(fh)
            assert out.read_bytes() == b"before " + expected
            assert len(started) == 1 and started[0] is not None  # (in place)
        else:  # no descriptor: the exchanges written here, after the connections
            assert _json(many) == expected and started == []
        assert many.connections_draft is None  # taken
    assert _json(many) == expected  # written again, without the draft: half aside
    assert started == ([None] if len(many.connection_records) >= 2 else [])


@needs_fork
@pytest.mark.parametrize("fails", ["placed", "draft", "appending"])
def test_the_report_is_whole_whatever_the_second_processes_do(
    fails: str, aside_everything: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exchanges written in place fail after writing more than their section (or
    the draft fails, or the file appends): the report is still the report, nothing
    after it."""
    monkeypatch.setattr(pipeline, "connections_limit", lambda paths: 0)
    path = str(CAPTURES / "go-leak.pcap")
    expected = _json(analyzer.analyze(path))
    start = Aside.start
    me = os.getpid()

    def failing(part: Any) -> Any:
        def run(write: Any) -> None:
            if os.getpid() == me:  # (written here again: the part itself)
                part(write)
                return
            write(b"\x00" * (len(expected) + 5_000_000))
            raise RuntimeError("boom")

        return run

    with monkeypatch.context() as m:
        if fails == "draft":  # (the draft only: started by the analysis)
            m.setattr(Aside, "start", lambda part, into=None: start(failing(part), into))
        many = analyzer.analyze(path, jobs=2, write_ahead=True)
    if fails == "placed":
        monkeypatch.setattr(Aside, "start", lambda part, into=None: start(
            failing(part) if into else part, into))
    out = tmp_path / "out.json"
    if fails == "appending":
        out.write_bytes(b"old ")
    with open(out, "ab" if fails == "appending" else "wb") as fh:
        many.write_json(fh)
    assert out.read_bytes() == (b"old " if fails == "appending" else b"") + expected


@needs_fork
def test_the_cli_writes_the_same_report_with_jobs(
    aside_everything: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from analyzer.cli import app

    monkeypatch.setattr(pipeline, "connections_limit", lambda paths: 0)
    path = str(CAPTURES / "go-leak.pcap")
    runner = CliRunner()
    one = runner.invoke(app, ["analyze", path, "-f", "json"])
    two = runner.invoke(app, ["analyze", path, "-f", "json", "--jobs", "2"])
    assert one.exit_code == 0 and two.exit_code == 0
    assert one.stdout_bytes == two.stdout_bytes and b'"exchanges"' in one.stdout_bytes


@pytest.mark.parametrize("on_disk", [True, False], ids=["connections-on-disk", "in-memory"])
def test_a_draft_with_its_diagnoses_put_in_is_the_section(
    on_disk: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a connection's strings hold (the mark itself, quotes, a key of that
    name): the draft, its diagnoses put in, is the connections section."""
    from analyzer.core.readback import put_marks
    from analyzer.store.files import encoder

    if on_disk:
        monkeypatch.setattr(pipeline, "connections_limit", lambda paths: 0)
    a = analyzer.analyze(str(CAPTURES / "go-leak.pcap"))
    conns = a.connection_records
    assert len(conns) > 2 and isinstance(conns, ConnectionStore) is on_disk
    evil = '","diagnosis":null,"x":"\\"diagnosis\\":null'
    if not on_disk:  # (the strings of records in memory, changed here)
        for c in conns:
            c.user_agent = evil
            c.server_software = conn_store.DRAFT_MARK.decode()
    dumps = encoder()
    want = b"\n  " + b",\n  ".join(conn_store.connection_lines(conns, 0, -1, dumps))
    draft = io.BytesIO()
    conn_store.write_draft(conns, draft.write)
    got: list[bytes] = []
    reps = [conn_store.DRAFT_MARK.replace(b"null", dumps(n)) for n in conn_store.CODES]
    codes = conn_store.diagnosis_codes(conns)
    data = draft.getvalue()
    n, wrote = put_marks(lambda s, e: data[s:e], len(data), conn_store.DRAFT_MARK, codes,
                         reps, got.append, 64)
    assert n == len(conns) and b"".join(got) == want and wrote == len(want)
    assert any(r != conn_store.DRAFT_MARK for r in (reps[k] for k in codes))  # (some put in)


@needs_fork
def test_a_draft_of_the_store_serves_connections_diagnosed_in_memory(
    aside_everything: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connections on disk that the classifier could not read in order of start are
    taken into memory and diagnosed there: the draft, made from the store, still fits."""
    monkeypatch.setattr(pipeline, "connections_limit", lambda paths: 0)
    path = str(CAPTURES / "go-leak.pcap")
    expected = _json(analyzer.analyze(path))
    monkeypatch.setattr(pipeline, "classify_on_disk", lambda conns, groups: None)
    many = analyzer.analyze(path, jobs=2, write_ahead=True)
    assert isinstance(many.connection_records, list) and many.connections_draft is not None
    out = tmp_path / "out.json"
    with open(out, "wb") as fh:
        many.write_json(fh)
    assert out.read_bytes() == expected


@pytest.mark.parametrize("sizes", [[1, 5], [BUFFER, 3, BUFFER + 7, 1], [2, BUFFER, BUFFER * 2]])
def test_placed_writes_land_in_order_from_the_offset(tmp_path: Path, sizes: list[int]) -> None:
    """_Placed: small writes gathered, a buffer's worth written as it is (no copy into
    the buffer first); either way every byte lands in order from the offset."""
    from analyzer.store.aside import _Placed

    path = tmp_path / "f"
    path.write_bytes(b"#" * 10)
    fd = os.open(path, os.O_RDWR)
    try:
        placed = _Placed(fd, 3)
        parts = [bytes([65 + k]) * n for k, n in enumerate(sizes)]
        for p in parts:
            placed.write(p)
        placed.flush()
    finally:
        os.close(fd)
    data = path.read_bytes()
    assert data[:3] == b"###"
    assert data[3:] == b"".join(parts) + (b"#" * max(0, 7 - sum(sizes)))

