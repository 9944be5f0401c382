"""The formats for other tools: the ``json``, ``csv``, ``jsonl`` and ``parquet`` writers.

JSON (the contract, :mod:`analyzer.output.jsonout`) and CSV (the connections,
:mod:`analyzer.output.csvout`) are written by their own modules; here they get the
registry's writer shape (:mod:`analyzer.output`).

JSON lines: one object per line, each with a ``type`` field — ``capture``,
``connection``, ``exchange``, ``server`` — and otherwise the fields of the JSON contract
(docs/json.md), so ``jq 'select(.type=="connection")'`` or ``pandas.read_json(...,
lines=True)`` take it as it is.

Parquet: the typed DataFrames of :mod:`analyzer.tables` (connections, exchanges, servers),
one file each. ``--output DIR`` writes ``DIR/connections.parquet`` and friends;
``--output NAME.parquet`` writes ``NAME.connections.parquet``, ``NAME.exchanges.parquet``
and ``NAME.servers.parquet`` next to each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from analyzer.errors import AnalyzerError
from analyzer.output.jsonout import capture_dict, connection_dict, exchange_dict, server_dict

if TYPE_CHECKING:
    from analyzer.analysis import Analysis
    from analyzer.output import WriteOptions

TABLES = ("connections", "exchanges", "servers")


def write_json(a: Analysis, fh: IO[bytes], options: WriteOptions | None = None) -> None:
    """The ``json`` format: the JSON contract, streamed."""
    from analyzer.output.jsonout import write_json as write

    write(a, fh)


def write_csv(a: Analysis, fh: IO[bytes], options: WriteOptions | None = None) -> None:
    """The ``csv`` format: one row per connection."""
    from analyzer.output.csvout import connections_csv

    fh.write(connections_csv(a).encode())


def jsonl_objects(a: Analysis) -> Iterator[dict[str, Any]]:
    for c in a.capture_records:
        yield {"type": "capture", **capture_dict(c)}
    for conn in a.connection_records:
        yield {"type": "connection", **connection_dict(conn)}
    for e in a.exchange_records:
        yield {"type": "exchange", **exchange_dict(e)}
    for s in a.server_records:
        yield {"type": "server", **server_dict(s)}


def write_jsonl(a: Analysis, fh: IO[bytes], options: WriteOptions | None = None) -> None:
    """The ``jsonl`` format: :func:`jsonl_objects`, one per line."""
    from analyzer.store.files import encoder

    dumps = encoder()
    for obj in jsonl_objects(a):
        fh.write(dumps(obj) + b"\n")


def parquet_paths(output: Path) -> dict[str, Path]:
    """Where each table goes for ``--output DIR_OR_FILE``."""
    if output.suffix == ".parquet":
        stem = output.with_suffix("")
        return {t: stem.with_name(f"{stem.name}.{t}.parquet") for t in TABLES}
    return {t: output / f"{t}.parquet" for t in TABLES}


def write_parquet(a: Analysis, output: Path) -> dict[str, Path]:
    """Write the three tables; returns the paths written."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise AnalyzerError(
            "--format parquet needs pyarrow: pip install 'keepalive-analyzer[parquet]'"
        ) from None
    paths = parquet_paths(output)
    try:
        if output.suffix != ".parquet":
            output.mkdir(parents=True, exist_ok=True)
        for table, path in paths.items():
            getattr(a, table).to_parquet(path, index=False)
    except OSError as e:
        raise AnalyzerError(f"{output}: cannot write: {e.strerror or e}") from None
    return paths
