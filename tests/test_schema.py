"""core/schema.py is the single source of every record's fields: the records (their
generated parts), the JSON objects, the DataFrames, the CSV columns, the store's
positions and docs/json.md all follow it, field by field."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import analyzer
from analyzer.core import _schema_gen, schema
from analyzer.core.schema import (
    ADDITION,
    CAPTURE,
    CONNECTION,
    CONTRACT,
    EXCHANGE,
    INTERNAL,
    NESTED_COLUMNS,
    RECORDS,
    REQUIRED,
    SERVER,
    Record,
    addition,
    contract,
)
from tests.conftest import CAPTURES, ROOT

RECORDS_PY = ROOT / "analyzer" / "core" / "records.py"


def _source() -> ModuleType:
    """records.py run from its source (a compiled record's fields say only ``type``, its
    ``__init__`` only ``(*args, **kwargs)``)."""
    spec = importlib.util.spec_from_file_location("records_source", RECORDS_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["records_source"] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


def test_schema_imports_only_the_standard_library_and_core() -> None:
    for name in ("schema.py", "_schema_gen.py"):
        tree = ast.parse((ROOT / "analyzer" / "core" / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for m in modules:
                top = m.split(".")[0]
                if m in ("analyzer.core.schema", "analyzer.core"):
                    continue  # (the generator reads the schema; the schema, the labels)
                assert top in sys.stdlib_module_names or top == "__future__", f"{name}: {m}"


def test_records_py_is_generated_from_the_schema() -> None:
    text = RECORDS_PY.read_text()
    assert _schema_gen.render(text) == text, (
        "analyzer/core/records.py is stale: run python -m analyzer.core._schema_gen"
    )


def test_the_generator_rewrites_a_stale_records_py(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A region edited by hand (or a schema changed since) is written anew; ``--check``
    says so and writes nothing."""
    good = RECORDS_PY.read_text()
    stale = good.replace("    reason: str = \"\"\n", "", 1)
    assert stale != good
    copy = tmp_path / "records.py"
    copy.write_text(stale)
    monkeypatch.setattr(_schema_gen, "RECORDS_PY", copy)
    assert _schema_gen.main(["--check"]) == 1
    assert "python -m analyzer.core._schema_gen" in capsys.readouterr().err
    assert copy.read_text() == stale
    assert _schema_gen.main([]) == 0
    assert copy.read_text() == good
    assert _schema_gen.main(["--check"]) == 0
    with pytest.raises(ValueError, match="missing"):
        _schema_gen.render(good.replace("# ---- functions: generated", "# functions", 1))


def test_schema_rejects_what_the_outputs_could_not_follow() -> None:
    with pytest.raises(ValueError, match="contract field after an addition"):
        Record("X", addition("a", "int", 0), contract("b", "int", 0))
    with pytest.raises(ValueError, match="twice"):
        Record("X", contract("a", "int", 0), addition("a", "int", 0))
    with pytest.raises(ValueError, match="never output, but has a dtype"):
        Record("X", schema.Field("a", "int", 0, INTERNAL, "int64"))
    with pytest.raises(ValueError, match="unpickles empty"):
        Record("X", contract("a", "int"), written_init=True)
    with pytest.raises(ValueError, match="categories"):
        Record("X", contract("a", "str", "", "category"))


@pytest.mark.parametrize("record", RECORDS, ids=[r.name for r in RECORDS])
def test_record_classes_follow_the_schema(record: Record) -> None:
    """records.py declares the schema's fields, in order, with its types and defaults;
    the records built by the million write their __init__ out with every field, a
    default_factory's parameter defaulting to None and giving a fresh object."""
    cls = getattr(_source(), record.name)
    fields = dataclasses.fields(cls)
    assert [f.name for f in fields] == list(record.names)
    for f in fields:
        s = record.by_name[f.name]
        assert f.type == s.type, f.name
        if s.factory is not None:
            assert f.default_factory is s.factory, f.name
        elif s.default is REQUIRED:
            assert f.default is dataclasses.MISSING, f.name
        else:
            assert f.default == s.default and type(f.default) is type(s.default), f.name
    assert cls.__dataclass_params__.init is not record.written_init
    # the class in use (compiled or not) has the same fields
    assert [f.name for f in dataclasses.fields(getattr(analyzer.core.records, record.name))] == [
        f.name for f in fields
    ]
    if not record.written_init:
        return
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [p.name for p in params] == list(record.names)
    for p in params:
        s = record.by_name[p.name]
        assert p.default == (None if s.factory is not None else s.default), p.name
    one, two = cls(), cls()
    for s in record.fields:
        if s.factory is not None:
            assert getattr(one, s.name) == s.factory()
            assert getattr(one, s.name) is not getattr(two, s.name)


def test_contract_first_and_outputs_in_declaration_order() -> None:
    for record in RECORDS:
        roles = [record.by_name[n].role for n in record.json]
        assert roles == sorted(roles, key=[CONTRACT, ADDITION].index), record.name
        assert record.json[: len(record.contract)] == record.contract
        assert record.json == tuple(n for n in record.names if record.by_name[n].output)
    assert set(CONNECTION.names) - set(CONNECTION.json) == {
        "held_until", "exchanges", "exchange_count", "close_delimited", "first",
        "exchange_runs", "last_exchange", "response_done_ts",
    }
    assert EXCHANGE.json == EXCHANGE.names and SERVER.json == SERVER.names
    assert CAPTURE.json == CAPTURE.names


def test_json_objects_follow_the_schema() -> None:
    """Every JSON object lists its record's output fields, in order, with the record's
    own values: the dict literals records.py generates, and jsonout's field lists."""
    from analyzer.output import jsonout

    a = analyzer.analyze(str(CAPTURES / "go-leak.pcap"))
    pairs: list[tuple[Record, tuple[str, ...], Callable[[Any], dict[str, Any]], Any]] = [
        (CAPTURE, jsonout.CAPTURE_FIELDS, jsonout.capture_dict, a.capture_records[0]),
        (CONNECTION, jsonout.CONNECTION_FIELDS, jsonout.connection_dict,
         a.connection_records[0]),
        (EXCHANGE, jsonout.EXCHANGE_FIELDS, jsonout.exchange_dict, a.exchange_records[0]),
        (SERVER, jsonout.SERVER_FIELDS, jsonout.server_dict, a.server_records[0]),
    ]
    for record, names, to_dict, rec in pairs:
        assert names == record.json
        row = to_dict(rec)
        assert tuple(row) == record.json
        assert row == {n: getattr(rec, n) for n in record.json}
    doc = a.to_dict()
    assert doc["schema"] == schema.SCHEMA == analyzer.SCHEMA
    for key, record in (("captures", CAPTURE), ("connections", CONNECTION),
                        ("exchanges", EXCHANGE), ("servers", SERVER)):
        assert tuple(doc[key][0]) == record.json


def test_frames_follow_the_schema() -> None:
    import pandas as pd

    from analyzer import tables

    a = analyzer.analyze(str(CAPTURES / "go-leak.pcap"))
    empty = analyzer.Analysis([], [], [])
    for record, dtypes, name in ((CONNECTION, tables.CONNECTION_DTYPES, "connections"),
                                 (EXCHANGE, tables.EXCHANGE_DTYPES, "exchanges"),
                                 (SERVER, tables.SERVER_DTYPES, "servers")):
        assert tuple(dtypes) == tuple(record.dtypes)
        # every output field is a column, but the {name: n} mappings
        assert [n for n in record.json if n not in dtypes] == [
            n for n in record.json if record.by_name[n].type.startswith("dict[")
        ]
        for df in (getattr(a, name), getattr(empty, name)):
            assert tuple(df.columns[: len(dtypes)]) == tuple(dtypes)
            for column, dtype in dtypes.items():
                assert df[column].dtype == dtype, (name, column)
                f = record.by_name[column]
                if f.categories:
                    assert isinstance(dtype, pd.CategoricalDtype)
                    assert tuple(dtype.categories) == f.categories
                else:
                    assert str(df[column].dtype) == f.dtype


def test_csv_columns_follow_the_schema() -> None:
    from analyzer.output import csvout

    a = analyzer.analyze(str(CAPTURES / "go-leak.pcap"))
    for analysis in (a, analyzer.Analysis([], [], [])):
        header = csvout.connections_csv(analysis).split("\n", 1)[0]
        nested = [f"{o}_{k}" for o, cols in NESTED_COLUMNS.items() for k, _t in cols]
        assert header.split(",") == [
            n for n in CONNECTION.json if n not in ("anomalies", *NESTED_COLUMNS)
        ] + ["anomalies", *nested]


def test_store_positions_are_named() -> None:
    """The store finds fields of a packed connection by name, and swaps the connection
    id at the head of each stored exchange line: it must stay the first key."""
    from analyzer.core.records import ConnectionRecord, connection_values
    from analyzer.store import connections as store
    from analyzer.store import exchanges

    assert EXCHANGE.json[0] == exchanges.LEAD_KEY == "connection"
    c = ConnectionRecord(first=7, exchange_runs=[1, 2], id="C3")
    t = connection_values(c)
    assert len(t) == len(CONNECTION.values)
    assert t[store.FIRST] == 7 and store.FIRST == 0  # the merge's key leads
    assert t[store.RUNS] == [1, 2] and store.RUNS == CONNECTION.index("exchange_runs")
    assert t[CONNECTION.index("id")] == "C3"
    assert "exchanges" not in CONNECTION.values  # in an exchange store, not packed


_SECTIONS = {"captures": CAPTURE, "connections": CONNECTION, "exchanges": EXCHANGE,
             "servers": SERVER}


def _documented() -> dict[str, dict[str, str]]:
    """docs/json.md: per section, each field named in the first column and its role."""
    out: dict[str, dict[str, str]] = {}
    section = ""
    for line in (ROOT / "docs" / "json.md").read_text().splitlines():
        m = re.match(r"## `(\w+)\[\]`", line)
        if m:
            section = m[1]
            out[section] = {}
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if section and line.startswith("|") and len(cells) >= 3 and cells[1] in (
            CONTRACT, ADDITION
        ):
            for name in re.findall(r"`(\w+)`", cells[0]):
                out[section][name] = cells[1]
    return out


def test_docs_describe_every_output_field_with_its_role() -> None:
    documented = _documented()
    assert set(documented) == set(_SECTIONS)
    for section, record in _SECTIONS.items():
        roles: dict[str, Any] = {n: record.by_name[n].role for n in record.json}
        assert documented[section] == roles, section
