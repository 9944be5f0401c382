"""What a byte stream is delivered to: a :class:`Sink`.

A direction's :class:`~analyzer.core.streams.Stream` hands its bytes, in order, to a sink
(a protocol reader, or an :class:`~analyzer.core.protocols.Opening` while the protocol is
chosen); so do the readers that carry another protocol inside them: a TLS session its
plaintext, an HTTP/1 reader the bytes of a tunnel after ``101 Switching Protocols``. Its
own module, so that every one of them can name it without importing the others.
"""

from __future__ import annotations

from typing import Protocol


class Sink(Protocol):
    """``data``: ``buf[start:end]`` arrived at ``ts``, next in the stream; ``gap``: ``n``
    bytes were lost; ``eof``: the stream ended."""

    def data(self, buf: bytes, start: int, end: int, ts: float) -> None: ...
    def gap(self, n: int, ts: float) -> None: ...
    def eof(self, ts: float) -> None: ...
