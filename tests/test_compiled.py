"""The compiled core (mypyc, setup.py) and the pure-Python sources give the same answers.

``make test`` builds the extensions (``pip install -e .``); in CI the core must really be
compiled, or the speed the benchmark measures is not what the tests checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_stale_build_falls_back_to_the_sources(tmp_path: Path) -> None:
    """A source edited after the build must run as written: the whole core falls back to
    the pure-Python modules, with one warning line naming the file."""
    if not _compiled.compiled():
        pytest.skip(f"the core is not compiled here: {_compiled.status()}")
    import shutil

    copy = tmp_path / "analyzer"
    shutil.copytree(Path(analyzer.__file__).parent, copy)
    os.utime(copy / "core" / "streams.py")  # "edited" after the build
    p = subprocess.run(
        [sys.executable, "-c", "import analyzer, analyzer.core.streams as s; "
         "print(analyzer._compiled.status()); print(s.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    status, path = p.stdout.splitlines()
    assert status.startswith("pure Python (compiled modules older")
    assert path.endswith("streams.py")
    assert p.stderr.count("\n") == 1 and "core/streams.py" in p.stderr


@pytest.mark.parametrize("name", ["ExchangeRecord", "ConnectionRecord"])
def test_record_init_matches_its_fields(name: str) -> None:
    """The records spell out their __init__ (so mypyc compiles it): the parameters and
    their defaults must be the dataclass fields, in order, with the same defaults (None
    standing for a default_factory, which must then give a fresh object each time).
    Every field has a default: a compiled record is unpickled by building it empty."""
    import dataclasses
    import importlib.util
    import inspect

    # the source, not the build: a compiled __init__ shows only (*args, **kwargs)
    spec = importlib.util.spec_from_file_location(
        "records_source", ROOT / "analyzer" / "core" / "records.py"
    )
    assert spec is not None and spec.loader is not None
    records = importlib.util.module_from_spec(spec)
    sys.modules["records_source"] = records  # dataclasses look the module up
    spec.loader.exec_module(records)
    cls = getattr(records, name)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = dataclasses.fields(cls)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        if f.default_factory is not dataclasses.MISSING:
            assert p.default is None, f.name
            continue
        assert f.default is not dataclasses.MISSING, f"{f.name}: no default (pickle)"
        assert p.default == f.default, f.name
    one, two = cls(), cls()
    for f in fields:
        if f.default_factory is not dataclasses.MISSING:
            assert getattr(one, f.name) == f.default_factory()
            assert getattr(one, f.name) is not getattr(two, f.name)


def test_json_rows_follow_the_contract_order() -> None:
    """The dict literals that build the JSON objects list the contract's fields, in its
    order (required first, additions after), and read the record's own values."""
    from analyzer.core.records import connection_row, exchange_row
    from analyzer.output.jsonout import CONNECTION_FIELDS, EXCHANGE_FIELDS

    a = analyzer.analyze(str(ROOT / "captures" / "go-leak.pcap"))
    c = a.connection_records[0]
    e = a.exchange_records[0]
    assert tuple(connection_row(c)) == CONNECTION_FIELDS
    assert tuple(exchange_row(e)) == EXCHANGE_FIELDS
    assert connection_row(c) == {f: getattr(c, f) for f in CONNECTION_FIELDS}
    assert exchange_row(e) == {f: getattr(e, f) for f in EXCHANGE_FIELDS}


def test_records_pickle() -> None:
    """Records survive pickle, compiled or not (multiprocessing, notebooks)."""
    import pickle

    a = analyzer.analyze(str(ROOT / "captures" / "go-leak.pcap"))
    assert pickle.loads(pickle.dumps(a.connection_records)) == a.connection_records
    assert pickle.loads(pickle.dumps(a.exchange_records)) == a.exchange_records


def test_connection_values_round_trip_every_field() -> None:
    """records.connection_values / connection_from_values (how connections go to disk and
    come back from workers) spell the fields out: every field, each with a value of its
    own, comes back in its place; a field added to the record and forgotten there fails
    here."""
    import dataclasses
    import importlib.util
    import marshal

    from analyzer.core.records import (
        ConnectionRecord,
        ExchangeRecord,
        connection_from_values,
        connection_values,
        exchange_values,
    )

    # the field types from the source (a compiled record's fields say only `type`)
    spec = importlib.util.spec_from_file_location(
        "records_source", ROOT / "analyzer" / "core" / "records.py"
    )
    assert spec is not None and spec.loader is not None
    source = importlib.util.module_from_spec(spec)
    sys.modules["records_source"] = source
    spec.loader.exec_module(source)

    def distinct(cls: type, skip: tuple[str, ...] = ()) -> dict[str, object]:
        out: dict[str, object] = {}
        for k, f in enumerate(dataclasses.fields(getattr(source, cls.__name__))):
            if f.name in skip:
                continue
            t = str(f.type)
            if "bool" in t:
                out[f.name] = k % 2 == 0
            elif "dict" in t:
                out[f.name] = {f"a{k}": k}
            elif "list[int]" in t:
                out[f.name] = [k, k + 1]
            elif "float" in t:
                out[f.name] = k + 0.5
            elif t.startswith("int"):
                out[f.name] = k + 1000
            else:
                out[f.name] = f"s{k}"
        return out

    ex = ExchangeRecord(**distinct(ExchangeRecord))  # type: ignore[arg-type]
    assert ExchangeRecord(*exchange_values(ex)) == ex
    fields = distinct(ConnectionRecord, ("exchanges", "last_exchange"))
    c = ConnectionRecord(**fields, last_exchange=ex, exchanges=[ex])  # type: ignore[arg-type]
    back = connection_from_values(marshal.loads(marshal.dumps(connection_values(c))), [ex])
    assert back == c
    assert connection_values(back)[0] == c.first
    none = ConnectionRecord(**fields)  # type: ignore[arg-type]
    assert connection_from_values(connection_values(none), []) == none
