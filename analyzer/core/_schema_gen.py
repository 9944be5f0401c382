"""Writes the parts of :mod:`analyzer.core.records` that spell every field out, from
:mod:`analyzer.core.schema`.

records.py is compiled with mypyc, and what is fast compiled is code that names each
field: a written-out ``__init__`` (a dataclass-generated one runs as interpreted code),
a dict literal per JSON object (built natively: ~2x faster to encode than a record read
through ``attrgetter``), tuples of attributes. Rather than keep those in step with the
schema by hand, this module writes them between marker lines in records.py::

    # ---- <key>: generated from core/schema.py (python -m analyzer.core._schema_gen)
    …
    # ---- end of generated code

``<key>`` is a record's class name (its field declarations and, for records with
``written_init``, its ``__init__``) or ``functions`` (the ``<record>_row`` functions and
the plain values of the records built by the million). Everything outside the markers —
docstrings, decorators, methods — is records.py's own.

Run ``python -m analyzer.core._schema_gen`` after editing the schema (``--check``: exit 1,
writing nothing, when records.py is stale; tests/test_schema.py runs the same check).
It imports the standard library and core/schema.py only.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

from analyzer.core.schema import (
    ADDITION,
    CONTRACT,
    INTERNAL,
    RECORDS,
    REQUIRED,
    Field,
    Record,
)

RECORDS_PY = Path(__file__).with_name("records.py")
COMMAND = "python -m analyzer.core._schema_gen"
BEGIN = "# ---- {key}: generated from core/schema.py ({command})"
END = "# ---- end of generated code"
WIDTH = 92  # of comments and docstrings (ruff allows lines of 100)
# The records built by the million (one per exchange, per connection): they travel as
# plain values too.
HOT = tuple(r for r in RECORDS if r.written_init)
HEADINGS = {
    CONTRACT: "contract (DESIGN.md's JSON, never renamed)",
    ADDITION: "additions (output)",
    INTERNAL: "internal: never output",
}

_REGION = re.compile(
    r"^(?P<indent>[ ]*)# ---- (?P<key>\w+): generated from core/schema\.py [^\n]*\n"
    r"(?P<body>.*?)"
    r"^(?P=indent)# ---- end of generated code\n",
    re.S | re.M,
)


def stem(record: Record) -> str:
    """``ConnectionRecord`` → ``connection``: the functions' and parameters' name."""
    return record.name.removesuffix("Record").lower()


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(text, WIDTH - len(indent) - 2)]


def _docstring(text: str, indent: str = "    ") -> list[str]:
    lines = textwrap.wrap('"""' + text + '"""', WIDTH - len(indent))
    return [indent + line for line in lines]


def _literal(value: object) -> str:
    """A default as source, strings in double quotes (ruff's and the project's style)."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def _declaration(f: Field) -> str:
    if f.factory is not None:
        return f"{f.name}: {f.type} = field(default_factory={f.factory.__name__})"
    if f.default is REQUIRED:
        return f"{f.name}: {f.type}"
    return f"{f.name}: {f.type} = {_literal(f.default)}"


def _parameter(f: Field) -> str:
    if f.factory is not None:
        return f"{f.name}: {f.type} | None = None"
    if f.default is REQUIRED:
        return f"{f.name}: {f.type}"
    return f"{f.name}: {f.type} = {_literal(f.default)}"


def _signature(name: str, params: str, returns: str) -> list[str]:
    line = f"def {name}({params}) -> {returns}:"
    if len(line) <= 100:
        return [line]
    return [f"def {name}(", f"    {params}", f") -> {returns}:"]


def class_body(record: Record) -> list[str]:
    """The field declarations and, with ``written_init``, the ``__init__``; indented as
    a class body."""
    out: list[str] = []
    role = ""
    for f in record.fields:
        if f.role != role:
            role = f.role
            out.append(f"    # {HEADINGS[role]}")
        out += _comment(f.doc, "    ") if f.doc else []
        out.append(f"    {_declaration(f)}")
    if not record.written_init:
        return out
    out += ["", "    def __init__(", "        self,"]
    out += [f"        {_parameter(f)}," for f in record.fields]
    out.append("    ) -> None:")
    for f in record.fields:
        if f.factory is not None:
            value = f"{f.factory.__name__}() if {f.name} is None else {f.name}"
        else:
            value = f.name
        out.append(f"        self.{f.name} = {value}")
    return out


def _nested(f: Field) -> Record | None:
    """The record a field holds one of (``ExchangeRecord | None``), if any."""
    for record in RECORDS:
        if re.fullmatch(rf"{record.name}( \| None)?", f.type):
            return record
    return None


def _row(record: Record) -> list[str]:
    name = stem(record)
    out = [
        *_signature(f"{name}_row", f"{name}: {record.name}", "dict[str, Any]"),
        *_docstring(f"The {name} as its JSON object: the keys of schema.{name.upper()}.json, "
                    "in order."),
        "    return {",
    ]
    out += [f'        "{k}": {name}.{k},' for k in record.json]
    out += ["    }"]
    return out


def _fill(record: Record) -> list[str]:
    name = stem(record)
    out = [
        *_signature(f"{name}_fill", f"row: dict[str, Any], {name}: {record.name}",
                    "dict[str, Any]"),
        *_docstring(f"``row`` made the {name}'s JSON object and returned: what "
                    f":func:`{name}_row` gives, in an empty dict (keys go in in order) or "
                    f"in one it filled before (values replaced, no dict built: for a row "
                    "encoded at once and dropped)."),
    ]
    out += [f'    row["{k}"] = {name}.{k}' for k in record.json]
    out += ["    return row"]
    return out


def _values(record: Record) -> list[str]:
    name = stem(record)
    out = _signature(f"{name}_values", f"{name}: {record.name}", "tuple[Any, ...]")
    if record.values == record.names:
        out += _docstring(f"The {name} as plain values (marshal and pickle write them fast): "
                          f"its fields in declaration order; ``{record.name}(*values)`` "
                          "rebuilds it.")
    else:
        out += _docstring(f"The {name} as plain values (marshal and pickle write them fast), "
                          f"as schema.{name.upper()}.values lists them; "
                          f":func:`{name}_from_values` rebuilds it.")
    items: list[str] = []
    for k in record.values:
        f = record.by_name[k]
        nested = _nested(f)
        if nested is None:
            items.append(f"{name}.{k}")
            continue
        if nested.values != nested.names:
            raise ValueError(f"{record.name}.{k}: {nested.name}(*values) would not rebuild it")
        out.append(f"    {k} = {name}.{k}")
        items.append(f"None if {k} is None else {stem(nested)}_values({k})")
    out.append("    return (")
    out += [f"        {item}," for item in items]
    out.append("    )")
    return out


def _from_values(record: Record) -> list[str]:
    name = stem(record)
    unpacked = [f for f in record.fields if not f.packed]
    params = "".join(f", {f.name}: {f.type}" for f in unpacked)
    given = "" if not unpacked else ", with " + ", ".join(f"``{f.name}``" for f in unpacked)
    out = [
        *_signature(f"{name}_from_values", f"values: tuple[Any, ...]{params}", record.name),
        *_docstring(f"The {name} :func:`{name}_values` gave ``values`` for{given}."),
    ]
    # positional, each named in a comment: interpreted, keywords cost 2.5x the call
    args: list[str] = []
    for f in record.fields:
        if not f.packed:
            args.append(f"{f.name},")
            continue
        i = record.index(f.name)
        nested = _nested(f)
        if nested is None:
            args.append(f"values[{i}],  # {f.name}")
            continue
        out.append(f"    {f.name} = values[{i}]")
        # (positional too: compiled, ``*values`` is a generic call that parses its arguments)
        args.append(f"None if {f.name} is None else {nested.name}(")
        args += [f"    {f.name}[{nested.index(n.name)}],  # {n.name}" for n in nested.fields]
        args.append("),")
    out.append(f"    return {record.name}(")
    out += [f"        {arg}" for arg in args]
    out.append("    )")
    return out


def _fill_values(record: Record) -> list[str]:
    name = stem(record)
    out = [
        *_signature(f"{name}_fill_values", "row: dict[str, Any], values: tuple[Any, ...]",
                    "dict[str, Any]"),
        *_docstring(f"``row`` made the JSON object of the {name} :func:`{name}_values` gave "
                    f"``values`` for, as :func:`{name}_fill` makes it, without rebuilding "
                    f"the {name} (a store's read back for the report)."),
    ]
    for k in record.json:
        f = record.by_name[k]
        if _nested(f) is not None or not f.packed:
            raise ValueError(f"{record.name}.{k}: not a plain value of {name}_values")
        out.append(f'    row["{k}"] = values[{record.index(k)}]')
    out += ["    return row"]
    return out


def functions() -> list[str]:
    """The JSON rows of every record; for the hot ones, rows refilled in place and the
    plain values (and the way back when ``Record(*values)`` would not do)."""
    parts = [_row(r) for r in RECORDS]
    for r in HOT:
        parts.append(_fill(r))
        parts.append(_values(r))
        if r.values != r.names:  # (stored as values and read back: the connections)
            parts.append(_from_values(r))
            parts.append(_fill_values(r))
    out: list[str] = []
    for part in parts:
        out += ["", "", *part] if out else part
    return out


def bodies() -> dict[str, list[str]]:
    """Each region's lines, by key."""
    out = {r.name: class_body(r) for r in RECORDS}
    out["functions"] = functions()
    return out


def render(text: str) -> str:
    """``text`` (records.py) with every generated region written anew."""
    wanted = bodies()
    seen: list[str] = []

    def fill(m: re.Match[str]) -> str:
        key, indent = m["key"], m["indent"]
        if key not in wanted:
            raise ValueError(f"records.py: unknown generated region {key!r}")
        seen.append(key)
        body = "".join(line + "\n" for line in wanted[key])
        begin = BEGIN.format(key=key, command=COMMAND)
        return f"{indent}{begin}\n{body}{indent}{END}\n"

    out = _REGION.sub(fill, text)
    missing = sorted(set(wanted) - set(seen))
    if missing or len(seen) != len(set(seen)):
        raise ValueError(f"records.py: generated regions missing or repeated: {missing or seen}")
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = RECORDS_PY.read_text()
    new = render(text)
    if new == text:
        return 0
    if "--check" in args:
        print(f"{RECORDS_PY} is stale: run {COMMAND}", file=sys.stderr)
        return 1
    RECORDS_PY.write_text(new)
    print(f"wrote {RECORDS_PY}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
