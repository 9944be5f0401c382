"""Many cores and many machines (issue 6): ``--jobs N`` and ``--dask ADDRESS`` split the
connections between partitions (by 4-tuple), each partition reads every packet, and the
merge gives the same answer as one process — the same JSON, byte for byte."""

from __future__ import annotations

import importlib.util
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import analyzer
from analyzer.core.records import ConnectionRecord, connection_values
from analyzer.parallel import run_part, unwire
from analyzer.passes import OWN_SKIPS, PartitionSpec, breaks_of, run_partition
from analyzer.pipeline import renumber
from analyzer.store import ConnectionStore, ExchangeStore
from tests.conftest import CAPTURES, ROOT, needs_editcap, split_capture

KEEPALIVE = [sys.executable, "-m", "analyzer"]
SEVERAL = [
    CAPTURES / n
    for n in (
        "go-leak.pcap", "go-drain.pcap", "pipelined.pcap", "ipv6.pcap", "curl-multi.pcapng",
        "nginx-request-limit.pcap", "reset-linger.pcap", "ab-http10.pcap",
        "zeek/wikipedia.pcap",
    )
]
needs_dask = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="dask.distributed is not installed (pip install -e '.[dask]')",
)


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*KEEPALIVE, *args], capture_output=True, timeout=timeout)


def json_of(paths: list[Path], *extra: str) -> bytes:
    p = run("analyze", *map(str, paths), "--format", "json", *extra)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


def test_jobs_give_the_same_json_on_several_captures() -> None:
    one = json_of(SEVERAL)
    assert json_of(SEVERAL, "--jobs", "2") == one
    assert json_of(SEVERAL, "-j", "3") == one
    assert json_of(SEVERAL, "--jobs", "1") == one  # the default, said aloud


@needs_editcap
def test_jobs_give_the_same_json_on_split_parts(tmp_path: Path) -> None:
    parts = split_capture(CAPTURES / "nginx-request-limit.pcap", tmp_path / "a", 3)
    parts += split_capture(CAPTURES / "zeek" / "wikipedia.pcap", tmp_path / "b", 4)
    one = json_of(parts)
    assert json_of(parts, "--jobs", "2") == one
    assert json_of(parts, "--jobs", "3") == one


def test_every_partition_has_connections_and_they_add_up() -> None:
    """The partitioning really splits the work (a partition that took every connection,
    or none, would still merge to the right answer)."""
    paths = [str(p) for p in SEVERAL]
    order = list(range(len(paths)))
    whole = analyzer.analyze(paths)
    stores = [ConnectionStore(limit=None) for _ in range(3)]
    parts = [
        run_partition(PartitionSpec(paths, paths, order, 300.0, False, "native",
                                    breaks_of(paths, order, None)), i, 3, conns=stores[i])
        for i in range(3)
    ]
    counts = [len(conns) for conns in stores]
    assert all(counts) and sum(counts) == len(whole.connection_records)
    for k, cap in enumerate(whole.capture_records):
        assert sum(caps[k].tcp_packets for caps in parts) == cap.tcp_packets
        assert all(caps[k].packets == cap.packets for caps in parts)
    # only partition 0 counts what is not TCP (the others only late packets of their own
    # finished connections)
    assert any(parts[0][k].skipped for k in range(len(paths)))
    assert all(
        set(caps[k].skipped) <= OWN_SKIPS for caps in parts[1:] for k in range(len(paths))
    )


@pytest.mark.parametrize("by_path", [False, True], ids=["bytes", "file"])
def test_results_travel_intact(tmp_path: Path, by_path: bool) -> None:
    """What travels between processes (records as plain tuples, rebuilt by the parent's
    own classes, compiled or not; the exchanges as the worker's exchange store, its bytes
    or its file): everything comes back equal, the last exchange still the last of the
    list. The records themselves pickle too."""
    paths = [str(CAPTURES / "go-drain.pcap"), str(CAPTURES / "zeek" / "wikipedia.pcap")]
    spec = PartitionSpec(paths, paths, [0, 1], 300.0, False, "native", [])
    here = ConnectionStore(limit=None)
    # no exchange store: the exchanges stay in the records
    caps = run_partition(spec, 0, 1, conns=here)
    conns = here.records
    store = ExchangeStore()
    wire = run_part(spec, 0, 1, str(tmp_path) if by_path else None)
    back = ConnectionStore(limit=None)
    back_caps = unwire(pickle.loads(pickle.dumps(wire)), store, back)
    back_conns = back.records
    assert not any(tmp_path.iterdir())  # the worker's file was taken over
    assert back_caps == caps
    assert all(c.exchanges == [] for c in back_conns)
    def values(c: ConnectionRecord) -> tuple[object, ...]:
        t = connection_values(c)
        return t[:32] + t[33:]  # all but exchange_runs (no store here)

    assert [values(c) for c in back_conns] == [values(c) for c in conns]
    assert [c.last_exchange for c in back_conns] == [c.last_exchange for c in conns]
    renumber(conns)
    renumber(back_conns)
    store.seal(lambda: ((c.id, c.exchange_runs) for c in back_conns))
    assert list(store.records()) == [e for c in conns for e in c.exchanges]
    store.attach(back_conns)
    store.close()
    assert all(c.exchange_runs is None for c in conns)  # (no store here)
    for c in back_conns:
        assert (c.exchange_runs is None) == (c.exchange_count == 0)
        c.exchange_runs = None
    assert back_conns == conns
    assert [c.first for c in back_conns] == [c.first for c in conns]
    assert all(c.last_exchange is c.exchanges[-1] for c in back_conns if c.exchanges)
    assert pickle.loads(pickle.dumps(conns)) == conns
    e = pickle.loads(pickle.dumps(analyzer.CaptureError("x.pcap", "no such file")))
    assert isinstance(e, analyzer.CaptureError) and str(e) == "x.pcap: no such file"


def test_api_jobs() -> None:
    paths = [str(p) for p in SEVERAL[:4]]
    assert analyzer.analyze(paths, jobs=2).to_json() == analyzer.analyze(paths).to_json()
    with pytest.raises(analyzer.AnalyzerError, match="at least 1"):
        analyzer.analyze(paths, jobs=0)


def test_a_worker_error_comes_back_as_one_line(tmp_path: Path) -> None:
    """An error raised in a worker process (here: a pcapng without an interface
    description, found only when read) reaches the user as the same one line."""
    shb = bytes.fromhex("0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000")
    bad = tmp_path / "noidb.pcapng"
    bad.write_bytes(shb)
    p = run("analyze", str(CAPTURES / "go-drain.pcap"), str(bad), "--jobs", "2")
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert err.count("\n") == 1 and "no interface description block" in err, err
    assert "Traceback" not in err


# ---- CLI errors


def test_jobs_zero_is_a_one_line_error() -> None:
    p = run("analyze", str(CAPTURES / "go-drain.pcap"), "--jobs", "0")
    err = p.stderr.decode()
    assert p.returncode == 2
    assert err.startswith("keepalive: error: --jobs") and err.count("\n") == 1, err
    assert p.stdout == b""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@needs_dask
def test_dask_closed_port_is_a_one_line_error() -> None:
    port = _free_port()
    p = run("analyze", str(CAPTURES / "go-drain.pcap"), "--dask", f"tcp://127.0.0.1:{port}")
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert err.startswith("keepalive: error: cannot reach the dask scheduler"), err
    assert err.count("\n") == 1 and "Traceback" not in err, err


@needs_dask
def test_dask_bad_address_is_a_one_line_error() -> None:
    p = run("analyze", str(CAPTURES / "go-drain.pcap"), "--dask", "no-port-here")
    err = p.stderr.decode()
    assert p.returncode == 2 and err.count("\n") == 1, err
    assert "bad dask scheduler address" in err


def test_dask_not_installed_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(analyzer.AnalyzerError, match=r"keepalive-analyzer\[dask\]"):
        analyzer.analyze(str(CAPTURES / "go-drain.pcap"), dask="tcp://127.0.0.1:8786")


# ---- a real local dask cluster


def _dask_bin() -> str:
    return str(Path(sys.executable).with_name("dask"))


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    """A scheduler and two single-threaded workers on loopback, as a user starts them;
    every process (and its children) is ended at the end."""
    if importlib.util.find_spec("distributed") is None or not os.path.exists(_dask_bin()):
        pytest.skip("dask.distributed is not installed (pip install -e '.[dask]')")
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> None:
        procs.append(subprocess.Popen(
            [_dask_bin(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=ROOT, start_new_session=True,  # its own process group, ended whole
        ))

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
        for _ in range(2):
            start("worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard")
        deadline = time.monotonic() + 60
        while True:  # the scheduler listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    pytest.fail("the dask scheduler did not start")
                time.sleep(0.2)
        with Client(address, timeout=10, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=90)
            assert len(client.scheduler_info()["workers"]) == 2
        yield address
    finally:
        for p in procs:
            _end(p)


def _end(p: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(timeout=wait)
            # the group may still hold a worker the nanny started: end it too
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return
        except subprocess.TimeoutExpired:
            continue


@needs_dask
def test_dask_gives_the_same_json(dask_cluster: str) -> None:
    one = json_of(SEVERAL)
    assert json_of(SEVERAL, "--dask", dask_cluster) == one  # 2 partitions: the threads
    assert json_of(SEVERAL, "--dask", dask_cluster, "--jobs", "3") == one


@needs_dask
@needs_editcap
def test_dask_on_split_parts_and_relative_paths(
    dask_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = split_capture(CAPTURES / "go-drain.pcap", tmp_path, 3)
    monkeypatch.chdir(tmp_path)  # the workers run elsewhere: paths go to them absolute
    rel = [Path(p.name) for p in parts]
    one = json_of(rel)
    assert json_of(rel, "--dask", dask_cluster) == one
    assert b'"capture":"part_00000' in one


@needs_dask
def test_dask_from_the_api(dask_cluster: str) -> None:
    paths = [str(p) for p in SEVERAL[:3]]
    got = analyzer.analyze(paths, dask=dask_cluster, jobs=2)
    assert got.to_json() == analyzer.analyze(paths).to_json()


@needs_dask
def test_dask_spans_each_worker_reads_its_share(
    dask_cluster: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Pcap input is cut in spans (analyzer.spans) on a real cluster of two workers: the
    same JSON, and the last task reads its share of the bytes (the reader's 1 MiB chunks
    allowing), not the whole input; the others add the tails of their connections."""
    import analyzer.spans

    monkeypatch.setattr(analyzer.spans, "MIN_SPAN", 1)
    pcap = tmp_path / "bench-20k.pcap"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen.py"), str(pcap), "--packets",
                    "20000", "--seed", "3"], check=True, capture_output=True, timeout=120)
    total = pcap.stat().st_size
    one = analyzer.analyze(str(pcap)).to_json()
    for jobs in (None, 3):
        got = analyzer.analyze(str(pcap), dask=dask_cluster, jobs=jobs)
        assert got.to_json() == one
        n = len(got.span_bytes)
        assert n == (jobs or 2)
        assert got.span_bytes[-1] <= total / n + (1 << 20)
        assert sum(got.span_bytes) < n * total


@pytest.mark.parametrize(
    "src,dst", [("10.0.0.7", "10.0.0.1"), ("fd00::7", "fd00::1"), ("192.168.1.250", "10.9.8.7")]
)
@pytest.mark.parametrize("sport", [1, 80, 40000, 65535])
def test_fast_path_partition_is_partition_of(src: str, dst: str, sport: int) -> None:
    """The packet loop decides the partition from the frame's bytes before it slices the
    key: exactly one partition of N takes each packet, in both directions, and it is
    partition_of(key, N)."""
    from analyzer.core.flows import FlowTable, partition_of
    from tests import builders as b

    for count in (2, 3, 5):
        takers = set()
        for s, d, sp, dp in ((src, dst, sport, 8080), (dst, src, 8080, sport)):
            frame = b.ethernet(b.ip_packet(s, d, b.tcp(sp, dp, 1000, flags=b.SYN)))
            for index in range(count):
                table = FlowTable("x", partition=(index, count))
                table.feed(frame, [(1.0, 1, 0, len(frame), len(frame))])
                if table.tcp_packets:
                    takers.add(index)
                    key = next(iter(table.table))
                    assert index == partition_of(key, count)
        assert len(takers) == 1, (count, takers)
