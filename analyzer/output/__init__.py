"""The output formats of an analysis, registered once: their names, what each writes, what
it needs, and where its writer is.

``keepalive analyze --format`` and ``keepalive sniff --format`` offer exactly the formats
in :data:`FORMATS`, in its order, and their ``--help`` lists them from it; a new format is
one new module with a writer and one entry here. A writer is named by ``"module:function"``
and imported only when its format is used, so importing this registry imports neither
pandas, rich nor matplotlib (``--format json`` never loads pandas: tests/test_layering.py).

Two kinds of writer:

- a *stream* writer, ``write(analysis, fh, options)``, writes bytes to an open binary file
  (stdout or ``--output``);
- a *files* writer (``Format.files`` says what ``--output`` must name), ``write(analysis,
  path)``, makes its own files there and returns them, by what each holds.

Beyond the package's own dependencies (rich, orjson), ``Format.needs`` names the optional
libraries a format imports (``pandas``, ``pyarrow``, ``matplotlib``); the writer itself
turns a missing one into an :class:`~analyzer.errors.AnalyzerError` with the ``pip
install`` line.
"""

from __future__ import annotations

import importlib
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from analyzer.errors import AnalyzerError

__all__ = [
    "FORMATS", "FileWriter", "Format", "StreamWriter", "WriteOptions", "format_list",
    "get_format", "names",
]


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """What a stream writer may adapt to; the formats for other tools ignore it."""

    max_rows: int = 40  # rows a report for people shows (the terminal table)
    interactive: bool = False  # the stream is the user's terminal: its width, its colours
    colour: bool = True  # False when writing to a file: no escape codes in it


# The first argument is an analyzer.Analysis. Not named here even for mypy: outputs sit
# above the analysis in the house, and the analysis imports output modules lazily.
StreamWriter = Callable[[Any, IO[bytes], WriteOptions], None]
FileWriter = Callable[[Any, Path], Mapping[str, Path]]


@dataclass(frozen=True, slots=True)
class Format:
    """One output format of an analysis."""

    name: str  # the --format value
    writes: str  # what it writes, one line
    writer: str  # "module:function", imported when the format is used
    help: str = ""  # the words after its name in the command's --help, if any
    needs: tuple[str, ...] = ()  # optional libraries it imports: pandas, pyarrow, matplotlib
    files: str | None = None  # a files writer: what --output must name; None: a stream

    def _load(self) -> Any:
        module, _, function = self.writer.partition(":")
        return getattr(importlib.import_module(module), function)

    def stream_writer(self) -> StreamWriter:
        """The writer of a stream format (imported now)."""
        if self.files is not None:
            raise AnalyzerError(f"--format {self.name} writes files, not a stream")
        return cast(StreamWriter, self._load())

    def file_writer(self) -> FileWriter:
        """The writer of a files format (imported now)."""
        if self.files is None:
            raise AnalyzerError(f"--format {self.name} writes a stream, not files")
        return cast(FileWriter, self._load())


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "table", "the report for people: a verdict per server, then the connections (rich)",
            "analyzer.output.terminal:write_table",
        ),
        Format(
            "json", "the JSON contract, schema keepalive-analyzer/1 (docs/json.md)",
            "analyzer.output.exports:write_json",
        ),
        Format(
            "csv", "one row per connection, the JSON contract's fields",
            "analyzer.output.exports:write_csv", help="connections",
        ),
        Format(
            "jsonl", "JSON lines: captures, connections, exchanges, servers, each with a type",
            "analyzer.output.exports:write_jsonl", help='one object per line with a "type"',
        ),
        Format(
            "parquet", "the connections, exchanges and servers tables, one Parquet file each",
            "analyzer.output.exports:write_parquet",
            help="--output DIR or NAME.parquet: connections, exchanges, servers",
            needs=("pandas", "pyarrow"), files="--output DIR or --output NAME.parquet",
        ),
        Format(
            "har", "HAR 1.2, one entry per exchange, for browser HAR viewers",
            "analyzer.output.har:write_har", help="HAR 1.2",
        ),
    )
}


def names() -> list[str]:
    """The format names, in the order --format offers them."""
    return list(FORMATS)


def get_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise AnalyzerError(
            f"unknown format {name!r}: choose one of {', '.join(FORMATS)}"
        ) from None


def format_list(lead: str = "", end: str = "", width: int = 88) -> str:
    """The formats as a command's --help lists them, ``lead + "table, json, csv
    (connections), …" + end``, wrapped to ``width`` columns."""
    items = [f"{f.name} ({f.help})" if f.help else f.name for f in FORMATS.values()]
    return textwrap.fill(lead + ", ".join(items) + end, width=width, break_on_hyphens=False)
