"""core.readback: the exchange store's lines rewritten for the report. The C ``put_run``
(analyzer/core/_lines.c) and its Python twin give the same bytes, or the same error, for
any run of any window; the windows hand every run over whole."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from analyzer.core import readback
from tests.fuzz.fuzz_lines import agree

needs_c = pytest.mark.skipif(readback._c_put_run is None,
                             reason="the C lines module is not built (pure core)")

_line = st.one_of(
    # a stored exchange line: an old head, a comma, the rest (no newline inside), newline
    st.builds(lambda h, rest: h + b"," + rest + b"\n",
              st.sampled_from([b'{"connection":"C7"', b'{"connection":"C12"', b"", b"x"]),
              st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"."))),
    st.binary(max_size=16),  # anything at all
)


@needs_c
@settings(max_examples=3000, deadline=None)
@given(
    st.binary(max_size=4), st.lists(_line, max_size=8).map(b"".join), st.binary(max_size=6),
    st.data(), st.sampled_from([b'{"connection":"', b""]),
    st.sampled_from(["C1", "C123456", "", "é", "\udcff"]),
    st.sampled_from([b"\n  ", b",\n  ", b""]), st.sampled_from([b",\n  ", b"", b"\n"]),
)
@example(b"", b'{"connection":"C7","a":1}\n{"connection":"C7","a":2}\n', b"", None,
         b'{"connection":"', "C1", b"\n  ", b",\n  ")
def test_c_and_python_twins_agree(before, blob, after, data, prefix, cid, lead, sep) -> None:
    win = before + blob + after
    if data is None:
        s, e = len(before), len(before) + len(blob)
    else:
        s = data.draw(st.integers(-2, len(win) + 2))
        e = data.draw(st.integers(-2, len(win) + 2))
    agree(readback, b"xy", win, s, e, prefix, cid, lead, sep)


def test_a_run_is_rewritten_as_the_report_wants_it() -> None:
    win = b'junk{"connection":"C7","i":1}\n{"connection":"C7","i":2}\nmore'
    s = 4
    e = win.index(b"more")
    for f in (readback.put_run_py, readback.put_run):
        out = bytearray(b"<")
        n = f(out, win, s, e, b'{"connection":"', "C3", b"\n  ", b",\n  ")
        assert bytes(out) == b'<\n  {"connection":"C3","i":1},\n  {"connection":"C3","i":2}'
        assert n == len(out) - 1
        with pytest.raises(ValueError):
            f(bytearray(), b"no comma\n", 0, 9, b"", "C1", b"", b"")
        with pytest.raises(ValueError):
            f(bytearray(), win, 5, 4, b"", "C1", b"", b"")


@needs_c
def test_c_put_run_checks_its_arguments() -> None:
    c = readback._c_put_run
    assert c is not None
    with pytest.raises(TypeError):
        c(b"not a bytearray", b"a,b\n", 0, 4, b"", "C1", b"", b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        c(bytearray(), "str", 0, 1, b"", "C1", b"", b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        c(bytearray(), b"a,b\n", 0, 4, b"", b"C1", b"", b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        c(bytearray(), b"a,b\n", 0, 4)  # type: ignore[call-arg]


@needs_c
def test_c_put_run_grows_a_section_by_doubling() -> None:
    """A section built run by run is reallocated (and copied) a logarithmic number of
    times: the bytearray's room at least doubles when it must grow, and it keeps that
    room when cut to what was written. The bytes are the Python twin's."""
    import sys

    c = readback._c_put_run
    assert c is not None
    win = b'{"connection":"C7","i":1}\n{"connection":"C7","i":2}\n'
    out, twin = bytearray(), bytearray()
    sizes = set()
    for k in range(20000):
        c(out, win, 0, len(win), b'{"connection":"', f"C{k}", b"\n  " if k == 0 else b",\n  ",
          b",\n  ")
        sizes.add(sys.getsizeof(out))
        readback.put_run_py(twin, win, 0, len(win), b'{"connection":"', f"C{k}",
                            b"\n  " if k == 0 else b",\n  ", b",\n  ")
    assert out == twin and len(out) > 1_000_000
    assert len(sizes) < 40  # (growing by an eighth each time: ~110 sizes)


def test_write_runs_hands_each_buffer_over_without_a_copy() -> None:
    """write_runs gives ``write`` each buffer it built (never changed afterwards), and all
    of them together are the section."""
    win = b'{"connection":"C7","i":1}\n'
    runs = [(f"C{k}", win, 0, len(win)) for k in range(1000)]
    got: list[bytes] = []
    assert readback.write_runs(iter(runs), b'{"connection":"', got.append, 4096)
    assert len(got) > 3
    whole = b"".join(got)
    expect = b",\n  ".join(b'{"connection":"C%d","i":1}' % k for k in range(1000))
    assert whole == b"\n  " + expect
    assert b"".join(bytes(g) for g in got) == whole  # (none changed since)


def test_windows_give_every_run_whole_across_windows_and_files() -> None:
    """Runs in any order, in two files (tags), windows smaller than the file: each run's
    bytes are the run's, and reads are one per window, not one per run."""
    shift = 8
    files = {0: bytes(range(200)), 1: bytes(range(100, 250))}
    reads = []

    def read(start: int, end: int) -> bytes:
        reads.append((start, end))
        f = files[start >> shift]
        off = start & ((1 << shift) - 1)
        return f[off:off + end - start]

    order = [("C1", [0, 10, 40, 50]), ("C2", None), ("C3", [12, 30]),
             ("C4", [(1 << shift) + 5, (1 << shift) + 90]), ("C5", [60, 70])]
    got = [(cid, win[s:e]) for cid, win, s, e in readback.windows(order, read, 32, shift)]
    assert got == [("C1", files[0][0:10]), ("C1", files[0][40:50]), ("C3", files[0][12:30]),
                   ("C4", files[1][5:90]), ("C5", files[0][60:70])]
    assert len(reads) == 5  # (C3's run lies before the window then: read again)
    with pytest.raises(RuntimeError):
        list(readback.windows([("C9", [190, 260])], read, 4, shift))


# ---- put_marks: a draft's marks replaced as it is copied
_MARK = b'"diagnosis":null'


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(st.one_of(st.just(_MARK), st.binary(max_size=24),
                       st.sampled_from([b'"diagnosis":', b"null", b'"diag', b"nosis\":null"])),
             max_size=30).map(b"".join),
    st.integers(len(_MARK), 64), st.lists(st.integers(0, 2), max_size=40),
)
def test_put_marks_replaces_each_mark_in_order_across_any_window(
    draft: bytes, window: int, codes: list[int]
) -> None:
    reps = [_MARK, b'"diagnosis":"leak"', b'"diagnosis":"a-longer-one"']
    pieces = draft.split(_MARK)
    marks = len(pieces) - 1
    reads: list[tuple[int, int]] = []

    def read(start: int, end: int) -> bytes:
        reads.append((start, end))
        return draft[start:end]

    out: list[bytes] = []
    if marks > len(codes):
        with pytest.raises(ValueError, match="more marks than codes"):
            readback.put_marks(read, len(draft), _MARK, bytes(codes), reps, out.append, window)
        return
    n, wrote = readback.put_marks(read, len(draft), _MARK, bytes(codes), reps, out.append,
                                  window)
    want = pieces[0] + b"".join(reps[codes[k]] + pieces[k + 1] for k in range(marks))
    assert n == marks and b"".join(out) == want and wrote == len(want)
    assert all(e - s <= window for s, e in reads)  # (a window at a time)


def test_put_marks_refuses_a_short_draft_and_an_empty_mark() -> None:
    with pytest.raises(OSError, match="shorter"):
        readback.put_marks(lambda s, e: b"", 10, _MARK, b"", [], print, 64)
    with pytest.raises(ValueError, match="empty mark"):
        readback.put_marks(lambda s, e: b"", 10, b"", b"", [], print, 64)


# ---- the spool's lines without a dict per exchange (_lines.keyed, core.spool.LineSpool)
_keyed = pytest.importorskip("analyzer.core._lines").keyed if readback._c_put_run else None
_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12),
    st.sampled_from(['"', "\\", ",", "]", "[", "{", "}", '\\"', '",', "\\\\", "\u2028"]),
)


@needs_c
@settings(max_examples=3000, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=6), _scalar), min_size=1, max_size=8,
                unique_by=lambda kv: kv[0]))
def test_keyed_makes_the_object_orjson_makes(items: list[tuple[str, object]]) -> None:
    import orjson

    assert _keyed is not None
    keys = [k for k, _ in items]
    values = tuple(v for _, v in items)
    heads = tuple(orjson.dumps(k) + b":" for k in keys)
    want = orjson.dumps(dict(items), option=orjson.OPT_APPEND_NEWLINE)
    assert _keyed(orjson.dumps(values), heads) == want


@needs_c
@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.binary(max_size=40), st.binary(max_size=30).map(lambda b: b"[" + b + b"]"),
                st.lists(st.sampled_from([b'"', b"\\", b",", b"1", b"[", b"]", b"{", b"x", b" "]),
                         max_size=12).map(lambda p: b"[" + b"".join(p) + b"]")),
       st.integers(1, 4))
def test_keyed_refuses_what_is_not_a_flat_array_of_as_many_values(
    arr: bytes, k: int
) -> None:
    """Any bytes: a ValueError or bytes, never a crash or a read past the input; a valid
    flat array of k values always gives its object, and one that is valid JSON but not
    such an array is refused. (The values' own syntax is orjson's to get right: keyed
    only ever reads its output.)"""
    import orjson

    assert _keyed is not None
    heads = tuple(b'"k%d":' % i for i in range(k))
    try:
        values = orjson.loads(arr)
        valid = True
    except orjson.JSONDecodeError:
        values, valid = None, False
    shaped = (isinstance(values, list) and len(values) == k
              and not any(isinstance(v, (list, dict)) for v in values))
    try:
        got = _keyed(arr, heads)
    except ValueError:
        assert not (shaped and arr == orjson.dumps(values))
        return
    assert shaped or not valid  # valid JSON of another shape is always refused
    if shaped and arr == orjson.dumps(values):  # (as orjson writes it)
        assert got == orjson.dumps({f"k{i}": v for i, v in enumerate(values)},
                                   option=orjson.OPT_APPEND_NEWLINE)


@needs_c
def test_keyed_checks_its_arguments() -> None:
    assert _keyed is not None
    for arr, heads in [(b"[1,2]", (b'"a":',)), (b"[1]", (b'"a":', b'"b":')), (b"[]", (b'"a":',)),
                       (b"[[1]]", (b'"a":',)), (b'["a]', (b'"a":',)), (b"[1,]", (b'"a":',)),
                       (b"[1", (b'"a":',)), (b"[1]", ())]:
        with pytest.raises(ValueError):
            _keyed(arr, heads)
    with pytest.raises(TypeError):
        _keyed("[1]", (b'"a":',))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _keyed(b"[1]", [b'"a":'])  # type: ignore[arg-type]
    assert _keyed(b'[1,"x"]', (b'"a":', b'"b":')) == b'{"a":1,"b":"x"}\n'


_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=10)
_ts = st.one_of(st.none(), st.floats(0, 2e9, allow_nan=False))


@settings(max_examples=500, deadline=None)
@given(st.builds(
    lambda *v: v, _text, st.integers(0, 10**6), st.one_of(st.none(), _text),
    st.one_of(st.none(), _text), st.one_of(st.none(), _text),
    st.one_of(st.none(), st.integers(0, 999)), _ts, _ts, st.booleans(), st.booleans(), _ts,
    st.one_of(st.none(), _text), _text, _text, st.one_of(st.none(), _text),
    st.integers(0, 9), _ts, _text, st.one_of(st.none(), st.integers(0, 2**31)),
))
def test_spool_lines_from_values_are_the_filled_dicts_lines(values: tuple) -> None:
    """The exchange store's spool writes the same line for an exchange whether it fills
    a dict (the pure core, or no orjson) or keys its values' array (C)."""
    from analyzer.core.records import ExchangeRecord
    from analyzer.core.spool import LineSpool
    from analyzer.store import exchanges as ex_store
    from analyzer.store.files import encoder

    dumps = encoder()
    got: list[bytes] = []
    plain: list[bytes] = []
    keyed = LineSpool(ex_store._line_encoder(dumps), got.append, 0,
                      *ex_store._values_encoder(dumps))
    filled = LineSpool(ex_store._line_encoder(dumps), plain.append, 0)
    ex = ExchangeRecord(*values)
    keyed.add(ex)
    filled.add(ex)
    assert got == plain
    assert got[0].startswith(b'{"connection":') and got[0].endswith(b"}\n")
