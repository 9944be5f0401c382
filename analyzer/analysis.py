"""The result of an analysis: :class:`Analysis` holds the records (captures,
connections, exchanges, servers) and offers them as pandas DataFrames (imported only when
asked for) and as the JSON contract of DESIGN.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from analyzer.core.records import (
    CaptureRecord,
    ConnectionRecord,
    ExchangeRecord,
    ServerRecord,
)

if TYPE_CHECKING:
    import pandas as pd

    from analyzer.store import ExchangeStore
    from analyzer.store.aside import Aside

SCHEMA = "keepalive-analyzer/1"


class Analysis:
    """The result of an analysis: captures, connections, exchanges and servers.

    ``connections``, ``exchanges`` and ``servers`` are pandas DataFrames with declared
    dtypes (typed even when empty); the plain records are in ``*_records``.

    The exchanges of a large analysis (and of a live capture) are on disk, in ``spool``:
    ``exchange_records`` reads them back, and the connections' ``exchanges`` lists are
    empty (each keeps ``exchange_count`` and ``last_exchange``). The connections of an
    analysis with more than ``store.MEMORY_CONNECTIONS`` of them, or of input files over
    ``store.STREAM_BYTES`` in all, are on disk too:
    ``connection_records`` is then a :class:`~analyzer.store.ConnectionStore`
    (iterate it, ``len()`` it, index or slice it; ``list()`` loads them all). The
    temporary files go with the Analysis.
    """

    def __init__(
        self,
        captures: list[CaptureRecord],
        connections: Sequence[ConnectionRecord],
        servers: list[ServerRecord],
        spool: ExchangeStore | None = None,
    ) -> None:
        self.capture_records = captures
        self.connection_records = connections
        self.server_records = servers
        self.spool = spool  # exchanges on disk (large or live), else in the connections
        # with --jobs/--dask on input cut in spans (analyzer.spans): the bytes each span's
        # worker read, in order (empty otherwise)
        self.span_bytes: list[int] = []
        # processes its writers may use (--jobs): the JSON writer writes half the
        # connections section in a second one (analyzer.output.jsonout) when there are
        # many and no draft of it was started
        self.jobs = 1
        # a draft of the JSON connections section, being written by a second process
        # (analyze(write_ahead=True)); the JSON writer takes it
        self.connections_draft: Aside | None = None

    @property
    def exchange_records(self) -> list[ExchangeRecord]:
        """Every exchange (read back from the spool when there is one)."""
        if self.spool is not None:
            return list(self.spool.records())
        return [e for c in self.connection_records for e in c.exchanges]

    @property
    def exchange_count(self) -> int:
        return sum(c.exchange_count for c in self.connection_records)

    @property
    def connections(self) -> pd.DataFrame:
        from analyzer import tables

        return tables.connections_frame(self.connection_records)

    @property
    def exchanges(self) -> pd.DataFrame:
        from analyzer import tables

        return tables.exchanges_frame(self.exchange_records)

    @property
    def servers(self) -> pd.DataFrame:
        from analyzer import tables

        return tables.servers_frame(self.server_records)

    def to_dict(self) -> dict[str, Any]:
        from analyzer.output.jsonout import analysis_dict

        return analysis_dict(self)

    def to_json(self, indent: int | None = None) -> str:
        """The JSON contract as a string: one record per line, or ``indent``-ed."""
        if indent is not None:
            import json

            return json.dumps(self.to_dict(), indent=indent)
        import io

        from analyzer.output.jsonout import write_json

        buf = io.BytesIO()
        write_json(self, buf)
        return buf.getvalue().decode()

    def write_json(self, fh: IO[bytes]) -> None:
        """Stream the JSON contract to a file opened in binary mode."""
        from analyzer.output.jsonout import write_json

        write_json(self, fh)

    def __repr__(self) -> str:
        return (
            f"<Analysis captures={len(self.capture_records)} "
            f"connections={len(self.connection_records)} "
            f"exchanges={self.exchange_count} servers={len(self.server_records)}>"
        )
