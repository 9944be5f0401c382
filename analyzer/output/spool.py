"""Exchanges kept on disk instead of in memory, for captures of any length.

A long live capture over keep-alive connections makes millions of exchanges; the flow
table hands each completed one to an :class:`ExchangeSpool`, which encodes it at once as
one JSON line in an anonymous temporary file (gone when closed). The JSON report copies
those lines as they are; DataFrames read them back. Memory stays flat while the
classifier works from per-connection counts and last exchanges.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from analyzer.core.records import ExchangeRecord
from analyzer.output.jsonout import encoder, exchange_dict


class ExchangeSpool:
    def __init__(self) -> None:
        self._fh = tempfile.TemporaryFile("w+b")  # noqa: SIM115 - lives as long as the spool
        self._dumps = encoder()
        self.count = 0

    def add(self, ex: ExchangeRecord) -> None:
        self._fh.write(self._dumps(exchange_dict(ex)) + b"\n")
        self.count += 1

    def lines(self) -> Iterator[bytes]:
        """Each exchange as its encoded JSON object, in the order they were added."""
        self._fh.flush()
        self._fh.seek(0)
        for line in self._fh:
            yield line.rstrip(b"\n")
        self._fh.seek(0, 2)

    def write_lines(self, write: Callable[[bytes], Any]) -> bool:
        """Write the lines as ``write_json`` lists them; says whether there was any."""
        first = True
        for line in self.lines():
            write(b"\n  " if first else b",\n  ")
            write(line)
            first = False
        return not first

    def records(self) -> Iterator[ExchangeRecord]:
        import json

        for line in self.lines():
            yield ExchangeRecord(**json.loads(line))

    def close(self) -> None:
        self._fh.close()
