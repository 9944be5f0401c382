"""House plan checks: the core imports only the standard library, and a JSON analysis
does not import pandas, scapy or pyshark."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

HEAVY = {"pandas", "rich", "scapy", "pyshark", "typer", "numpy", "pyarrow"}


def _imports(path: Path) -> list[str]:
    """Every module a file imports (top level, in functions and under TYPE_CHECKING
    alike: a cycle through any of them is a cycle in the house), absolute."""
    base = list(path.relative_to(ROOT).with_suffix("").parts[:-1])  # its package
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                up = base[: len(base) - node.level + 1]
                mod = ".".join(up + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append(mod)
            out += [f"{mod}.{a.name}" for a in node.names]
    return out


def _modules() -> dict[str, Path]:
    mods = {}
    for p in sorted((ROOT / "analyzer").rglob("*.py")):
        name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = p
    return mods


# The two libraries the core may use, each behind its own module (DESIGN.md).
BEHIND_OWN_MODULE = {"tlscrypt.py": "cryptography", "http2.py": "hpack"}


def test_core_imports_standard_library_and_core_only() -> None:
    for f in sorted((ROOT / "analyzer" / "core").glob("*.py")):
        for n in _imports(f):
            top = n.split(".")[0]
            assert top not in HEAVY, f"{f.name} imports {n}"
            if top == "analyzer":
                assert n.startswith("analyzer.core"), f"core/{f.name} imports {n}"
            elif top in BEHIND_OWN_MODULE.values():
                assert BEHIND_OWN_MODULE.get(f.name) == top, f"core/{f.name} imports {n}"
            else:
                assert top in sys.stdlib_module_names or top == "__future__", (
                    f"core/{f.name} imports {n}"
                )


def test_no_import_cycles() -> None:
    """No module imports another that imports it back, however far round (a package's
    __init__ re-exporting its own modules does not count)."""
    mods = _modules()
    graph = {
        name: {d for d in _imports(p) if d in mods and d != name
               and not d.startswith(name + ".")}
        for name, p in mods.items()
    }
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                cycles.append(sorted(scc))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def test_json_analysis_imports_no_pandas() -> None:
    """Nor, on cleartext HTTP/1, the TLS and HTTP/2 libraries."""
    code = (
        "import sys, analyzer; a = analyzer.analyze(sys.argv[1]); a.to_json(); "
        "bad = sorted(m for m in ('pandas', 'scapy', 'pyshark', 'rich', 'cryptography', "
        "'hpack') if m in sys.modules); "
        "print(','.join(bad))"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "captures" / "go-drain.pcap")],
        capture_output=True, text=True, check=True,
    )
    assert p.stdout.strip() == ""


def test_dataframes_are_typed_even_when_empty() -> None:
    import analyzer
    from analyzer.analysis import Analysis

    empty = Analysis([], [], [])
    for full, df in (
        (analyzer.analyze(str(ROOT / "captures" / "go-drain.pcap")), empty.connections),
    ):
        assert list(df.columns) == list(full.connections.columns)
        assert dict(df.dtypes) == dict(full.connections.dtypes)
    assert str(empty.exchanges["status"].dtype) == "Int64"
    assert str(empty.servers["verdict"].dtype) == "category"
