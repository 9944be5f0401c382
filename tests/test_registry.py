"""The two registries: output formats (:mod:`analyzer.output`) and capture backends
(:mod:`analyzer.capture`). Every entry resolves; the CLI offers exactly their names;
importing them loads nothing heavy; a new format is one entry and one writer."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer import capture, output
from analyzer.errors import AnalyzerError
from tests.conftest import CAPTURES, ROOT


def _child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def _choices(command: str, option: str) -> list[str]:
    import typer.main

    from analyzer.cli import app

    group = typer.main.get_command(app)
    param = next(p for p in group.commands[command].params  # type: ignore[attr-defined]
                 if p.name == option)
    return list(param.type.choices)


# ---- output formats


@pytest.mark.parametrize("fmt", list(output.FORMATS.values()), ids=list(output.FORMATS))
def test_every_format_resolves_to_its_writer(fmt: output.Format) -> None:
    assert fmt.writes and fmt.name == fmt.name.lower()
    assert set(fmt.needs) <= {"pandas", "pyarrow", "matplotlib"}
    if fmt.files is None:
        assert callable(fmt.stream_writer())
        with pytest.raises(AnalyzerError, match="stream"):
            fmt.file_writer()
    else:
        assert callable(fmt.file_writer())
        with pytest.raises(AnalyzerError, match="files"):
            fmt.stream_writer()


@pytest.mark.parametrize("command", ["analyze", "sniff"])
def test_cli_offers_the_registered_formats(command: str) -> None:
    assert _choices(command, "format") == output.names() == list(output.FORMATS)


def test_help_lists_the_registered_formats() -> None:
    from analyzer.cli.analyze import analyze

    assert output.format_list("Formats: ", ".") in (analyze.__doc__ or "")
    for name in output.names():
        assert name in output.format_list()


def test_unknown_format() -> None:
    with pytest.raises(AnalyzerError, match="unknown format 'xml'"):
        output.get_format("xml")


def test_registry_imports_nothing_heavy() -> None:
    p = _child(
        "import sys, analyzer.output, analyzer.capture; "
        "print(','.join(m for m in ('pandas', 'rich', 'matplotlib', 'pyarrow', 'scapy', "
        "'pyshark', 'analyzer.capture.scapy_backend', 'analyzer.capture.pyshark_backend') "
        "if m in sys.modules))"
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == ""


@pytest.mark.parametrize(
    "fmt", [f for f in output.FORMATS.values() if f.files is None],
    ids=[f.name for f in output.FORMATS.values() if f.files is None],
)
def test_a_format_imports_only_what_it_needs(fmt: output.Format, tmp_path: Path) -> None:
    """`keepalive analyze x.pcap -f NAME` loads pandas or matplotlib only when the format
    says it needs them."""
    out = tmp_path / "out"
    p = _child(
        "import sys; from analyzer.cli import main; sys.argv = ['keepalive', 'analyze', "
        f"{str(CAPTURES / 'go-drain.pcap')!r}, '-f', {fmt.name!r}, '-o', {str(out)!r}]\n"
        "try: main()\nexcept SystemExit as e: assert not e.code, e.code\n"
        "print(','.join(m for m in ('pandas', 'matplotlib', 'pyarrow') if m in sys.modules))"
    )
    assert p.returncode == 0, p.stderr
    loaded = set(filter(None, p.stdout.strip().split(",")))
    assert loaded <= set(fmt.needs)
    assert out.stat().st_size > 0


def test_a_new_format_is_one_entry_and_one_writer(tmp_path: Path) -> None:
    """A format registered before the CLI is built is offered, listed and written."""
    writer = tmp_path / "countformat.py"
    writer.write_text(
        "def write(a, fh, options):\n"
        "    fh.write(f'{len(a.connection_records)} connections\\n'.encode())\n"
    )
    p = _child(
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "from analyzer import output\n"
        "output.FORMATS['count'] = output.Format('count', 'the number of connections', "
        "'countformat:write', help='how many connections')\n"
        "from analyzer.cli import main\n"
        "sys.argv = ['keepalive', 'analyze', "
        f"{str(CAPTURES / 'go-leak.pcap')!r}, '-f', 'count']\n"
        "main()"
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout == "10 connections\n"


def test_a_files_format_needs_output() -> None:
    (fmt,) = [f for f in output.FORMATS.values() if f.files is not None]
    p = subprocess.run(
        [sys.executable, "-m", "analyzer", "analyze", str(CAPTURES / "go-leak.pcap"),
         "-f", fmt.name], capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 2
    assert p.stderr == f"keepalive: error: --format {fmt.name} needs {fmt.files}\n"


# ---- capture backends


def test_cli_offers_the_registered_backends() -> None:
    assert _choices("analyze", "backend") == capture.backend_names() == list(capture.BACKENDS)
    assert capture.backend_names()[0] == "native"  # the default comes first


@pytest.mark.parametrize("name", list(capture.BACKENDS))
def test_every_backend_opener_resolves(name: str) -> None:
    backend = capture.get_backend(name)
    assert backend.name == name and backend.reads
    assert callable(backend.load())


def test_native_opens_through_the_registry() -> None:
    cf = capture.open_backend(str(CAPTURES / "go-leak.pcap"), "native")
    assert isinstance(cf, capture.CaptureFile)
    assert sum(len(records) for _, records in cf.batches()) == 100


def test_unknown_backend() -> None:
    with pytest.raises(AnalyzerError, match="unknown backend 'wireshark': choose one of native"):
        capture.open_backend(str(CAPTURES / "go-leak.pcap"), "wireshark")


def test_canonical_imports_no_backend() -> None:
    """The backends import their helpers from canonical; canonical imports no backend (the
    registry names them as strings), so there is no circle between them."""
    tree = ast.parse((ROOT / "analyzer" / "capture" / "canonical.py").read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    } | {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert not {m for m in imported if m and m.endswith("_backend")}

