"""House plan checks: the core imports only the standard library, and a JSON analysis
does not import pandas, scapy or pyshark."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT

HEAVY = {"pandas", "rich", "scapy", "pyshark", "typer", "numpy", "pyarrow"}


def test_core_imports_standard_library_only() -> None:
    for f in sorted((ROOT / "analyzer" / "core").glob("*.py")):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for n in names:
                top = n.split(".")[0]
                assert top not in HEAVY, f"{f.name} imports {n}"
                assert top in sys.stdlib_module_names or top in ("analyzer", "__future__"), (
                    f"{f.name} imports {n}"
                )


def test_json_analysis_imports_no_pandas() -> None:
    code = (
        "import sys, analyzer; a = analyzer.analyze(sys.argv[1]); a.to_json(); "
        "bad = sorted(m for m in ('pandas', 'scapy', 'pyshark', 'rich') if m in sys.modules); "
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
