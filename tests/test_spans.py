"""Spans (issue 15): ``--jobs``/``--dask`` cut uncompressed pcap input into byte spans,
each read by one worker; the answer is one process's, byte for byte — on every recorded
capture cut at many places, on rotated parts, on generated traffic built to cross the cuts
(port reuse, connections mid-way, late packets after a close), and through real worker
processes and a real Dask cluster. A cut the workers cannot prove runs in one process."""

from __future__ import annotations

import dataclasses
import io
import random
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import analyzer
import analyzer.spans as spans
from analyzer.capture.files import first_timestamp
from analyzer.core.flows import IDLE_TIMEOUT
from analyzer.passes import (
    SERIES_GAP,
    PartitionSpec,
    breaks_of,
    file_order,
    merge_parts,
    say_groups,
)
from analyzer.pipeline import analyze, finish
from analyzer.store import ConnectionStore, ExchangeStore
from tests import builders as b
from tests.conftest import CAPTURES, needs_editcap, split_capture

PCAPS = sorted(p for p in CAPTURES.glob("*.pcap"))


def json_of(a: analyzer.Analysis) -> bytes:
    out = io.BytesIO()
    a.write_json(out)
    return out.getvalue()


def spec_of(paths: list[str]) -> PartitionSpec:
    order = file_order(paths, "native")
    return PartitionSpec(paths, paths, order, IDLE_TIMEOUT, False, "native",
                         breaks_of(paths, order, None), SERIES_GAP)


def in_spans(paths: list[str], plan: spans.SpanPlan) -> bytes:
    """The spans run one after the other in this process, merged as the parent does."""
    spec = spec_of(paths)
    store, conns = ExchangeStore(), ConnectionStore()
    results = (spans.run_span(spec, plan, k) for k in range(len(plan.starts)))
    caps, work = spans.run_spans(results, spec, plan, store, conns)
    assert len(work) == len(plan.starts) and all(n > 0 for n in work)
    captures = merge_parts([caps])
    say_groups(captures, spec.order, spec.breaks)
    return json_of(finish(captures, conns, store))


def planned(paths: list[str], n: int) -> spans.SpanPlan:
    plan = spans.plan_spans(spec_of(paths), n, min_bytes=1)
    assert plan is not None and len(plan.starts) >= 2
    return plan


@pytest.mark.parametrize("path", PCAPS, ids=lambda p: p.name)
def test_every_capture_cut_in_spans_gives_the_same_json(path: Path) -> None:
    one = json_of(analyze(str(path)))
    for n in (2, 3, 7):
        assert in_spans([str(path)], planned([str(path)], n)) == one, n


@needs_editcap
@pytest.mark.parametrize("name", ["wrk-nginx-default.pcap", "requests-loop.pcap"])
def test_rotated_parts_cut_in_spans(tmp_path: Path, name: str) -> None:
    parts = [str(p) for p in split_capture(CAPTURES / name, tmp_path, 4)]
    one = json_of(analyze(parts))
    for n in (2, 3, 5):
        assert in_spans(parts, planned(parts, n)) == one


def test_two_experiments_apart_cut_in_spans() -> None:
    paths = [str(CAPTURES / "go-leak.pcap"), str(CAPTURES / "go-drain.pcap")]
    one = json_of(analyze(paths))
    for n in (2, 4):
        assert in_spans(paths, planned(paths, n)) == one


# ---- generated traffic built to cross the cuts
def _conversation(rnd: random.Random, t0: float, port: int, kind: str) -> b.Conversation:
    c = b.Conversation(("10.0.0.1", port), ("10.0.0.2", 80), client_isn=rnd.randrange(1 << 32),
                       server_isn=rnd.randrange(1 << 32), t0=t0, dt=0.01)
    if kind == "mid":
        c.mid_stream()
    else:
        c.handshake()
    for k in range(rnd.randint(1, 3)):
        c.exchange(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % k,
                   b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
    if kind == "rst":
        c.rst(rnd.randint(0, 1))
    elif kind != "open":
        c.close(rnd.randint(0, 1))
        if kind == "late":  # a retransmitted FIN (and its ACK) a while after the close
            later = c.t + rnd.choice((0.5, 12.0, 30.0))
            c.segments += [dataclasses.replace(s, ts=later + k * 0.001)
                           for k, s in enumerate(c.segments[-2:])]
    return c


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**32 - 1), st.integers(2, 9))
def test_generated_traffic_across_cuts(tmp_path_factory: pytest.TempPathFactory, seed: int,
                                       n: int) -> None:
    rnd = random.Random(seed)
    frames = []
    t = 1_700_000_000.0
    for _ in range(rnd.randint(3, 14)):
        port = rnd.choice((40000, 40001, 40002))  # few 4-tuples: port reuse
        kind = rnd.choice(("syn", "syn", "mid", "rst", "open", "late"))
        frames += _conversation(rnd, t, port, kind).frames()
        t += rnd.choice((0.005, 0.05, 0.5, 20.0))
    frames = b.merge(frames)
    path = tmp_path_factory.mktemp("gen") / "gen.pcap"
    path.write_bytes(b.pcap(frames))
    one = json_of(analyze(str(path)))
    plan = spans.plan_spans(spec_of([str(path)]), n, min_bytes=1)
    assert plan is not None
    try:
        assert in_spans([str(path)], plan) == one
    except spans.Unsplittable:
        pass  # not provable: the analysis runs in one process (test_unsplittable_falls_back…)


# ---- cutting
def test_record_boundary_finds_the_next_record() -> None:
    data = b.pcap([(1_700_000_000 + i, b"\x00" * (60 + i)) for i in range(100)])
    offsets = []
    p = 24
    while p < len(data):
        offsets.append(p)
        p += 16 + struct.unpack_from("<I", data, p + 8)[0]
    for at in range(25, len(data) - 200, 37):
        want = next(o for o in offsets if o >= at)
        got = spans.record_boundary(data, at, "<", 1e-6, 262144, True)
        assert got == want


def test_payload_that_looks_like_records_cannot_fool_the_cut(tmp_path: Path) -> None:
    """A packet carrying a pcap file (a capture downloaded over HTTP, say) holds chains of
    record headers: a cut that lands in it resynchronises on them, the worker before says
    where the records really start, and the analysis runs in one process."""
    inner = b.pcap([(1_700_000_000 + i, b"\x11" * 40) for i in range(400)])[24:]
    body = inner[: 1400]
    conv = b.Conversation(t0=1_700_000_000.0)
    conv.handshake().exchange(b"GET /x.pcap HTTP/1.1\r\nHost: x\r\n\r\n",
                              b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    conv.close(0)
    path = tmp_path / "fool.pcap"
    path.write_bytes(b.pcap(conv.frames()))
    data = path.read_bytes()
    at = data.find(inner[:64]) + 3  # inside the payload, before a fake header
    fake = spans.record_boundary(data, at, "<", 1e-6, 262144, True)
    real = 24
    while real < at:
        real += 16 + struct.unpack_from("<I", data, real + 8)[0]
    assert fake != real  # the guess is fooled …
    spec = spec_of([str(path)])
    plan = spans.SpanPlan([(0, 24), (0, fake)], [0], [spans.last_timestamp(str(path))],
                          [len(data)], [first_timestamp(str(path))])
    store, conns = ExchangeStore(), ConnectionStore()
    with pytest.raises(spans.Unsplittable, match="record boundary"):  # … the check is not
        spans.run_spans((spans.run_span(spec, plan, k) for k in range(2)), spec, plan,
                        store, conns)
    store.close()
    conns.close()


def test_last_timestamp_is_the_last_records() -> None:
    for path in PCAPS[:10]:
        a = analyze(str(path))
        got = spans.last_timestamp(str(path))
        ends = [c.end for c in a.connection_records]
        if ends:
            assert got is not None and got >= max(ends) - 1e-6


def test_what_cannot_be_cut_is_not() -> None:
    ng = str(CAPTURES / "curl-multi.pcapng")
    assert spans.plan_spans(spec_of([ng]), 2, min_bytes=1) is None
    one = str(PCAPS[0])
    assert spans.plan_spans(spec_of([one]), 1, min_bytes=1) is None  # one worker
    assert spans.plan_spans(spec_of([one]), 2) is None  # too small to be worth it


# ---- through real workers
def test_jobs_cut_in_spans_through_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spans, "MIN_SPAN", 1)
    paths = [str(CAPTURES / n) for n in ("wrk-nginx-default.pcap", "requests-loop.pcap")]
    one = json_of(analyze(paths))
    for jobs in (2, 3):
        a = analyze(paths, jobs=jobs)
        assert len(a.span_bytes) >= 2
        assert json_of(a) == one


def test_unsplittable_falls_back_to_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spans, "MIN_SPAN", 1)

    def refuse(*a: object, **k: object) -> None:
        raise spans.Unsplittable("test")

    monkeypatch.setattr(spans, "run_spans", refuse)
    path = str(CAPTURES / "requests-loop.pcap")
    said: list[str] = []
    a = analyze(path, jobs=2, on_warning=said.append)
    assert a.span_bytes == []
    assert json_of(a) == json_of(analyze(path))
    assert said == ["the input could not be cut for parallel work (test): analysed in one "
                    "process"]


# ---- every cut: the same answer, or the spans refuse (and one process answers)
def _boundaries(path: str) -> list[int]:
    data = Path(path).read_bytes()
    out, p = [], 24
    while p + 16 <= len(data):
        n = struct.unpack_from("<I", data, p + 8)[0]
        if p + 16 + n > len(data):
            break
        out.append(p)
        p += 16 + n
    return out


def every_cut(paths: list[str], idle: float = IDLE_TIMEOUT) -> tuple[int, int]:
    """Cut the input once at every record boundary (and at every file start): each cut
    gives one process's JSON or is refused (Unsplittable). Returns (equal, refused)."""
    order = file_order(paths, "native")
    spec = PartitionSpec(paths, paths, order, idle, False, "native",
                         breaks_of(paths, order, None), SERIES_GAP)
    base = spans.plan_spans(spec, 2, min_bytes=1)
    if base is None:
        base = spans.SpanPlan([(0, 24)], *_groups_of(spec))
    one = json_of(analyze(paths, idle_timeout=idle))
    equal = refused = 0
    for pos, i in enumerate(order):
        for at in _boundaries(paths[i]):
            if (pos, at) == (0, 24):
                continue
            plan = dataclasses.replace(base, starts=[(0, 24), (pos, at)])
            store, conns = ExchangeStore(), ConnectionStore()
            try:
                caps, _work = spans.run_spans(
                    (spans.run_span(spec, plan, k) for k in range(2)), spec, plan, store, conns)
            except spans.Unsplittable:
                refused += 1
                store.close()
                conns.close()
                continue
            captures = merge_parts([caps])
            say_groups(captures, spec.order, spec.breaks)
            assert json_of(finish(captures, conns, store)) == one, (pos, at)
            equal += 1
    return equal, refused


def _groups_of(spec: PartitionSpec) -> tuple[list[int], list[float | None], list[int],
                                             list[float | None]]:
    old = spans.RESYNC_CHAIN
    spans.RESYNC_CHAIN = 1  # (a file too small for a chain of records: only the groups)
    try:
        plan = spans.plan_spans(spec, 2, min_bytes=1)
    finally:
        spans.RESYNC_CHAIN = old
    assert plan is not None
    return plan.groups, plan.last_ts, plan.sizes, plan.first_ts


T0 = 1_700_000_000.0
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"


def _write(tmp: Path, name: str, frames: list[tuple[float, bytes]]) -> str:
    path = tmp / name
    path.write_bytes(b.pcap(frames))
    return str(path)


def test_every_cut_time_going_back(tmp_path: Path) -> None:
    """A record stamped earlier than the one before (merged capture queues)."""
    c = b.Conversation(("10.0.0.1", 40000), ("10.0.0.2", 80), t0=T0, dt=0.01)
    fr = c.handshake().exchange(GET, OK).close(0).frames()
    udp = b.ethernet(b.ipv4("10.0.0.9", "10.0.0.8", b.udp(53, 53, b"x"), proto=17))
    d = b.Conversation(("10.0.0.3", 40001), ("10.0.0.2", 80), t0=T0 + 100)
    d.emit(0, b.SYN)
    for frames in (fr + d.frames() + [(fr[-1][0] + 0.2, fr[-1][1])],
                   fr + [(T0 + 100, udp), (fr[-1][0] + 30, fr[-1][1])]):
        equal, refused = every_cut([_write(tmp_path, "back.pcap", frames)])
        assert equal + refused == len(frames) - 1


def test_every_cut_truncated_part_of_a_rotated_capture(tmp_path: Path) -> None:
    """A part cut short before its one frame ended (tcpdump killed) feeds nothing: it
    decides no group, in spans as in one process."""
    def conv(port: int, t0: float, close: bool = True) -> b.Conversation:
        c = b.Conversation(("10.0.0.1", port), ("10.0.0.2", 80), t0=t0, dt=0.01)
        c.handshake().exchange(GET, OK)
        return c.close(0) if close else c

    c = conv(40000, T0, close=False)
    fr = c.frames()
    p1 = _write(tmp_path, "dump1.pcap", fr + conv(40001, T0 + 0.5).frames())
    cut = b.pcap([(T0 + 0.3, fr[3][1])])
    (tmp_path / "dump2.pcap").write_bytes(cut[: 24 + 16 + 10])
    c.t = T0 + 2
    c.close(0)
    p3 = _write(tmp_path, "dump3.pcap", c.frames()[-3:])
    equal, refused = every_cut([p1, str(tmp_path / "dump2.pcap"), p3])
    assert equal > 0


def test_every_cut_late_packet_with_a_short_idle_timeout(tmp_path: Path) -> None:
    """--idle-timeout below TIME_WAIT: a connection seen mid-way expires in a span's tail
    while one process still takes its late packet as late."""
    c = b.Conversation(("10.0.0.1", 40000), ("10.0.0.2", 80), t0=T0, dt=0.01)
    c.handshake().exchange(GET, OK).fin(0)
    n1 = len(c.segments)
    c.t = T0 + 0.2
    c.fin(1).ack(0)
    fr = c.frames()
    y = b.Conversation(("10.0.0.3", 40001), ("10.0.0.2", 80), t0=T0 + 11, dt=24)
    y.emit(0, b.SYN)
    y.emit(1, b.SYN | b.ACK)
    y.emit(0, b.ACK)
    yf = y.frames()
    paths = [_write(tmp_path, "run1.pcap", fr[:n1]),
             _write(tmp_path, "run2.pcap", fr[n1:] + yf[:1]),
             _write(tmp_path, "run3.pcap", yf[1:2]),
             _write(tmp_path, "run4.pcap", [(T0 + 40, fr[-1][1]), *yf[2:]])]
    every_cut(paths, idle=30.0)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**32 - 1))
def test_every_cut_of_generated_traffic(tmp_path_factory: pytest.TempPathFactory,
                                        seed: int) -> None:
    rnd = random.Random(seed)
    frames: list[tuple[float, bytes]] = []
    t = T0
    for _ in range(rnd.randint(2, 8)):
        port = rnd.choice((40000, 40001))
        kind = rnd.choice(("syn", "mid", "rst", "open", "late"))
        frames += _conversation(rnd, t, port, kind).frames()
        t += rnd.choice((0.005, 0.05, 0.5, 20.0))
    path = _write(tmp_path_factory.mktemp("cut"), "gen.pcap", b.merge(frames))
    every_cut([path])
