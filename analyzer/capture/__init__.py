"""Where packets come from: the only code that touches files, sockets, scapy or tshark; and
the registry of capture backends, the readers a capture file can be read with.

Every source yields *batches*: ``(buf, records)`` where ``buf`` is a ``bytes`` chunk and
``records`` a list of ``(ts, linktype, offset, caplen, wirelen)`` tuples pointing into it.
The flow loop in :mod:`analyzer.core.flows` walks the records; nothing keeps ``buf``
beyond its batch.

:data:`BACKENDS` names each backend once: ``native`` (our own pcap/pcapng readers,
:mod:`analyzer.capture.files`), ``scapy`` and ``pyshark`` (their libraries dissect, and
:mod:`analyzer.capture.canonical` turns what they found into the native batches). An
opener is named by ``"module:callable"`` and imported only when a file is opened with it,
so choosing ``native`` never imports scapy or pyshark, and :mod:`~analyzer.capture.canonical`,
which the two backends import their helpers from, imports no backend itself.
``keepalive analyze --backend`` offers exactly these names (docs/backends.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from analyzer.capture.files import CaptureFile, open_capture
from analyzer.errors import AnalyzerError

if TYPE_CHECKING:
    from collections.abc import Callable

    from analyzer.capture.canonical import BackendCapture

__all__ = [
    "BACKENDS", "Backend", "CaptureFile", "backend_names", "get_backend", "open_backend",
    "open_capture",
]


@dataclass(frozen=True, slots=True)
class Backend:
    """One way to read a capture file."""

    name: str  # the --backend value
    reads: str  # who reads and dissects the packets, one line
    opener: str  # "module:callable": path -> a capture yielding batches; imported when used
    needs: tuple[str, ...] = ()  # libraries and tools beyond the standard ones
    reports_progress: bool = False  # reports bytes read as it goes (analyze's on_progress)

    def load(self) -> Callable[[str], CaptureFile | BackendCapture]:
        """The opener, imported now (a missing library raises when a file is opened:
        :class:`~analyzer.capture.canonical.BackendUnavailable`, with the install line)."""
        module, _, name = self.opener.partition(":")
        return cast("Callable[[str], CaptureFile | BackendCapture]",
                    getattr(importlib.import_module(module), name))


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            "native", "our own pcap/pcapng readers, record by record, in 1 MiB chunks",
            "analyzer.capture.files:open_capture", reports_progress=True,
        ),
        Backend(
            "scapy", "scapy's layers dissect each packet",
            "analyzer.capture.scapy_backend:ScapyCapture", needs=("scapy",),
        ),
        Backend(
            "pyshark", "Wireshark's dissectors, through tshark and pyshark",
            "analyzer.capture.pyshark_backend:PysharkCapture", needs=("pyshark", "tshark"),
        ),
    )
}


def backend_names() -> list[str]:
    """The backend names, in the order --backend offers them."""
    return list(BACKENDS)


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise AnalyzerError(
            f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}"
        ) from None


def open_backend(path: str, backend: str) -> CaptureFile | BackendCapture:
    """Open ``path`` with the backend named ``backend`` (its library imported only now)."""
    return get_backend(backend).load()(path)
