"""TLS key log files (``--tls-keylog``): read whole, checked to be one, never shown.

The NSS key log format (SSLKEYLOGFILE, Go's ``tls.Config.KeyLogWriter``, Python's
``SSLContext.keylog_filename``, Node's ``--tls-keylog``): lines ``LABEL <client random hex>
<secret hex>`` and ``#`` comments; :class:`analyzer.core.keylog.KeyLog` parses them. Here
only the file: its bytes, and the one-line errors of a file that is not one. A pcapng's
embedded secrets (Decryption Secrets Blocks) come from :mod:`analyzer.capture.files`.
"""

from __future__ import annotations

import os

from analyzer.core.keylog import LABELS
from analyzer.errors import CaptureError


def read_keylog(path: str | os.PathLike[str]) -> bytes:
    """The key log file's bytes. One that cannot be read, is too large or is not a key log
    is the user's error, said in one line that names the file (never its contents); an
    empty one is a key log without secrets."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            data = fh.read(MAX_KEYLOG + 1)
    except OSError as e:
        raise CaptureError(name, f"cannot read the TLS key log ({e.strerror})") from None
    if len(data) > MAX_KEYLOG:
        raise CaptureError(name, f"TLS key log over {MAX_KEYLOG >> 20} MiB")
    head = data[:KEYLOG_SNIFF]
    lines = [
        line.split(None, 1)[0] for line in head.splitlines()
        if line.strip() and not line.lstrip().startswith(b"#")
    ]
    if head.translate(None, _KEYLOG_TEXT) or (
        lines and not any(word in KEYLOG_LABELS for word in lines)
    ):
        # bytes that are not text, or lines of text none of which is a key log's
        raise CaptureError(
            name, "not an NSS key log (lines like 'CLIENT_RANDOM <hex> <hex>', as "
            "SSLKEYLOGFILE writes)"
        )
    return data


KEYLOG_SNIFF = 1 << 16  # bytes of a key log looked at to tell it is one
_KEYLOG_TEXT = bytes([9, 10, 13, *range(32, 127)])  # what a key log is made of
KEYLOG_LABELS = frozenset({*(label.encode() for label in LABELS), b"RSA"})


MAX_KEYLOG = 256 << 20  # bytes of key log read (a line per TLS connection: ~200 bytes)
