"""A connection's label and who closed it: the two words DESIGN.md gives every connection.

* **label**: ``persistent`` (2 or more exchanges), ``per-request`` (exactly 1), ``unused``
  (no payload at all) or ``not-http`` (payload, but no exchange: another protocol, TLS,
  HTTP/2, or bytes no reader made sense of). While a connection is still open the live
  view shows :func:`label_so_far`, which is ``…`` until its first exchange.
* **closed_by**: the side that sent the first teardown packet — ``client`` / ``server``
  for a FIN, ``client-rst`` / ``server-rst`` for a RST — or ``open`` when the capture
  ended first.

The flow reassembler (:mod:`analyzer.core.flows`) calls these when a connection becomes a
record and for the live view's rows, so a connection is named the same way in both.
"""

from __future__ import annotations

from typing import Final

PERSISTENT: Final = "persistent"
PER_REQUEST: Final = "per-request"
UNUSED: Final = "unused"
NOT_HTTP: Final = "not-http"
LABELS: Final = (PERSISTENT, PER_REQUEST, UNUSED, NOT_HTTP)
SO_FAR: Final = "…"  # an open connection without an exchange yet: any label may follow

CLIENT: Final = "client"
SERVER: Final = "server"
CLIENT_RST: Final = "client-rst"
SERVER_RST: Final = "server-rst"
OPEN: Final = "open"
CLOSED_BY: Final = (CLIENT, SERVER, CLIENT_RST, SERVER_RST, OPEN)


def label(exchanges: int, payload: bool, setup_only: bool = False) -> str:
    """The label of a finished connection: from how many exchanges it carried and whether
    it carried any payload at all. ``setup_only``: the payload was a protocol's own setup
    (a TLS handshake, an HTTP/2 preface and SETTINGS), no request: unused too."""
    if exchanges >= 2:
        return PERSISTENT
    if exchanges == 1:
        return PER_REQUEST
    return NOT_HTTP if payload and not setup_only else UNUSED


def label_so_far(exchanges: int) -> str:
    """The label of a connection still open, for a live view: ``…`` until it has carried
    an exchange (it may yet turn out unused, not-http or anything else)."""
    if exchanges >= 2:
        return PERSISTENT
    return PER_REQUEST if exchanges == 1 else SO_FAR


def closed_by(teardown: tuple[int, str, float] | None) -> str:
    """Who closed the connection, from its first teardown packet ``(direction, "fin" or
    "rst", time)`` (direction 0: client → server), None when there was none."""
    if teardown is None:
        return OPEN
    if teardown[1] == "rst":
        return CLIENT_RST if teardown[0] == 0 else SERVER_RST
    return CLIENT if teardown[0] == 0 else SERVER
