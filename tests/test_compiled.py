"""The compiled core (mypyc, setup.py) and the pure-Python sources give the same answers.

``make test`` builds the extensions (``pip install -e .``); in CI the core must really be
compiled, or the speed the benchmark measures is not what the tests checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import analyzer
from analyzer import _compiled

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = sorted((ROOT / "captures").glob("*.pcap"))[:8] + [
    *sorted((ROOT / "captures" / "zeek").glob("*.pcap"))[:6],
]


def test_ci_runs_the_compiled_core() -> None:
    if not os.environ.get("CI"):
        pytest.skip("outside CI a pure-Python run is allowed (KEEPALIVE_PURE=1, no compiler)")
    assert _compiled.compiled(), _compiled.status()


def _json(env: dict[str, str], paths: list[Path]) -> str:
    code = (
        "import sys, analyzer; a = analyzer.analyze(sys.argv[1:]); "
        "sys.stdout.write(analyzer._compiled.status() + '\\n' + a.to_json())"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, *map(str, paths)], env=env, capture_output=True,
        text=True, check=True, cwd=ROOT,
    )
    return p.stdout


def test_pure_and_compiled_agree() -> None:
    if not _compiled.compiled():
        pytest.skip(f"the core is not compiled here: {_compiled.status()}")
    paths = [p for p in CAPTURES if p.exists()]
    assert len(paths) >= 5
    env = dict(os.environ)
    env.pop("KEEPALIVE_PURE", None)
    compiled = _json(env, paths)
    pure = _json({**env, "KEEPALIVE_PURE": "1"}, paths)
    assert compiled.split("\n", 1)[0] == "compiled (mypyc)"
    assert pure.split("\n", 1)[0] == "pure Python (KEEPALIVE_PURE=1)"
    assert '"exchanges"' in pure
    assert compiled.split("\n", 1)[1] == pure.split("\n", 1)[1]


@pytest.mark.parametrize(("edited", "probe", "running"), [
    ("streams.py", "analyzer.core.streams.__file__", "streams.py"),
    # the hand-written C: the pure core never loads it (it runs its Python twin)
    ("_headscan.c", "analyzer.core.http1._c_scan", "None"),
    ("_lines.c", "analyzer.core.readback._c_put_run", "None"),
])
def test_stale_build_falls_back_to_the_sources(
    tmp_path: Path, edited: str, probe: str, running: str
) -> None:
    """A source edited after the build must run as written: the whole core falls back to
    the pure-Python modules, with one warning line naming the file."""
    if not _compiled.compiled():
        pytest.skip(f"the core is not compiled here: {_compiled.status()}")
    import shutil

    copy = tmp_path / "analyzer"
    shutil.copytree(Path(analyzer.__file__).parent, copy)
    os.utime(copy / "core" / edited)  # "edited" after the build
    p = subprocess.run(
        [sys.executable, "-c", "import analyzer, analyzer.core.streams, analyzer.core.http1; "
         f"print(analyzer._compiled.status()); print({probe})"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    status, found = p.stdout.splitlines()
    assert status.startswith("pure Python (compiled modules older")
    assert found.endswith(running)
    assert p.stderr.count("\n") == 1 and f"core/{edited}" in p.stderr


# The records' fields, their written-out __init__ and the JSON rows are checked against
# core/schema.py in tests/test_schema.py.


def test_records_pickle() -> None:
    """Records survive pickle, compiled or not (multiprocessing, notebooks): a compiled
    record is rebuilt empty and filled in again."""
    import pickle

    a = analyzer.analyze(str(ROOT / "captures" / "go-leak.pcap"))
    for records in (a.connection_records, a.exchange_records, a.server_records,
                    a.capture_records):
        assert records
        assert pickle.loads(pickle.dumps(records)) == records


def _distinct(record: Any, skip: tuple[str, ...] = ()) -> dict[str, object]:
    """A value of its own for each field of ``record`` (a core.schema.Record), by type."""
    out: dict[str, object] = {}
    for k, f in enumerate(record.fields):
        if f.name in skip:
            continue
        if f.type.startswith("bool"):
            out[f.name] = k % 2 == 0
        elif f.type.startswith("dict["):
            out[f.name] = {f"a{k}": k}
        elif f.type.startswith("list[int]"):
            out[f.name] = [k, k + 1]
        elif f.type.startswith("float"):
            out[f.name] = k + 0.5
        elif f.type.startswith("int"):
            out[f.name] = k + 1000
        else:
            assert f.type.startswith("str"), f"{f.name}: a value for {f.type}?"
            out[f.name] = f"s{k}"
    return out


def test_connection_values_round_trip_every_field() -> None:
    """records.connection_values / connection_from_values (how connections go to disk and
    come back from workers), generated from core/schema.py: every field, each with a
    value of its own, comes back in its place, through marshal."""
    import marshal

    from analyzer.core.records import (
        ConnectionRecord,
        ExchangeRecord,
        connection_from_values,
        connection_values,
        exchange_values,
    )
    from analyzer.core.schema import CONNECTION, EXCHANGE

    ex = ExchangeRecord(**_distinct(EXCHANGE))  # type: ignore[arg-type]
    assert ExchangeRecord(*exchange_values(ex)) == ex
    fields = _distinct(CONNECTION, ("exchanges", "last_exchange"))
    c = ConnectionRecord(**fields, last_exchange=ex, exchanges=[ex])  # type: ignore[arg-type]
    back = connection_from_values(marshal.loads(marshal.dumps(connection_values(c))), [ex])
    assert back == c
    assert connection_values(back)[0] == c.first
    none = ConnectionRecord(**fields)  # type: ignore[arg-type]
    assert connection_from_values(connection_values(none), []) == none


def test_the_per_packet_path_is_compiled_as_one_group() -> None:
    """Every module the per-packet step calls is in the compiled group, so each call
    between them is native (the pcap walk → flows → decode/partition/streams → http1)."""
    per_packet = {
        "analyzer/capture/pcapwalk.py", "analyzer/capture/files.py",
        "analyzer/core/flows.py", "analyzer/core/decode.py", "analyzer/core/linktypes.py",
        "analyzer/core/partition.py", "analyzer/core/streams.py",
        "analyzer/core/protocols.py", "analyzer/core/http1.py",
        "analyzer/core/exchanges.py", "analyzer/core/labels.py",
    }
    assert per_packet <= set(_compiled.SOURCES)
    assert all((ROOT / s).is_file() for s in _compiled.SOURCES)
    assert len(set(_compiled.SOURCES)) == len(_compiled.SOURCES)
