"""The TLS key log: the secrets a user gives so that TLS connections can be decrypted.

Theory of operation
-------------------
The NSS key log format is what ``SSLKEYLOGFILE`` (browsers, curl, OpenSSL apps), Go's
``tls.Config.KeyLogWriter`` and Python's ``SSLContext.keylog_filename`` write: one secret a
line, ``LABEL <client random, 64 hex digits> <secret, hex>``, ``#`` comments, blank lines.
The client random (the 32 bytes of the ClientHello) names the connection, so a reader
that has seen a ClientHello asks :meth:`KeyLog.secrets` for that connection's secrets:

* TLS 1.2: ``CLIENT_RANDOM`` → the 48-byte master secret (RFC 5246 §8.1);
* TLS 1.3: ``CLIENT_HANDSHAKE_TRAFFIC_SECRET`` / ``SERVER_HANDSHAKE_TRAFFIC_SECRET``
  (the handshake flights), ``CLIENT_TRAFFIC_SECRET_0`` / ``SERVER_TRAFFIC_SECRET_0``
  (application data), ``CLIENT_EARLY_TRAFFIC_SECRET`` (0-RTT) and ``EXPORTER_SECRET``;
  each is one hash long (32 or 48 bytes, RFC 8446 §7.1).

Other labels (``RSA`` pre-master secrets, later traffic secrets some tools write) are
counted in :attr:`KeyLog.ignored`; lines that are not ``LABEL hex hex`` with the right
lengths are counted in :attr:`KeyLog.bad`. A key log is user input, possibly hostile or
truncated: nothing here raises on its content, a line longer than :data:`MAX_LINE` is
bad without being decoded, and at most :data:`MAX_CONNECTIONS` client randoms are kept
(the oldest is dropped first, counted in :attr:`KeyLog.dropped`). ``add`` takes whole
lines: a caller reading a file in pieces cuts them at a newline.

A resumed TLS 1.2 session (RFC 5246 §7.3, RFC 5077) reuses the master secret of an earlier
connection, and the key log names it only under that earlier client random. Like
Wireshark, the TLS reader :meth:`KeyLog.remember` s the master secret of every decrypted
TLS 1.2 session under its session ID and its session ticket, and :meth:`KeyLog.recall` s
it when a later ServerHello resumes one. That memory holds at most :data:`MAX_REMEMBERED`
sessions, oldest dropped first; tickets are kept by their SHA-256 digest.

Secrets never leave this object by ``repr``/``str``: they show counts only.
"""

from __future__ import annotations

from typing import Final

MAX_LINE: Final = 1024
"""Longest key log line accepted, in bytes (the longest valid one is about 230)."""
MAX_CONNECTIONS: Final = 1 << 20
"""Client randoms kept at most; the oldest is dropped first."""
MAX_REMEMBERED: Final = 100_000
"""TLS 1.2 sessions remembered for resumption at most; the oldest is dropped first."""

CLIENT_RANDOM: Final = "CLIENT_RANDOM"
CLIENT_HANDSHAKE_TRAFFIC_SECRET: Final = "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
SERVER_HANDSHAKE_TRAFFIC_SECRET: Final = "SERVER_HANDSHAKE_TRAFFIC_SECRET"
CLIENT_TRAFFIC_SECRET_0: Final = "CLIENT_TRAFFIC_SECRET_0"
SERVER_TRAFFIC_SECRET_0: Final = "SERVER_TRAFFIC_SECRET_0"
EXPORTER_SECRET: Final = "EXPORTER_SECRET"
CLIENT_EARLY_TRAFFIC_SECRET: Final = "CLIENT_EARLY_TRAFFIC_SECRET"

LABELS: Final = frozenset(
    (
        CLIENT_RANDOM,
        CLIENT_HANDSHAKE_TRAFFIC_SECRET,
        SERVER_HANDSHAKE_TRAFFIC_SECRET,
        CLIENT_TRAFFIC_SECRET_0,
        SERVER_TRAFFIC_SECRET_0,
        EXPORTER_SECRET,
        CLIENT_EARLY_TRAFFIC_SECRET,
    )
)
"""The labels kept; every other well-formed label is ignored."""

MASTER_SECRET_LEN: Final = 48  # RFC 5246 §8.1
TRAFFIC_SECRET_LENS: Final = (32, 48)  # SHA-256 and SHA-384 suites, RFC 8446 §7.1
CLIENT_RANDOM_LEN: Final = 32
_TICKET_TAG: Final = b"T"  # remembered keys: b"S" + session ID, or b"T" + SHA-256(ticket)
_SESSION_ID_TAG: Final = b"S"


def _unhex(text: bytes) -> bytes | None:
    """The bytes spelled by an even run of hex digits, or None."""
    if len(text) % 2 or not text:
        return None
    try:
        return bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None


def _memory_key(key: bytes) -> bytes:
    # a session ID is at most 32 bytes (RFC 5246 §7.4.1.2); a ticket may be up to 64 KiB,
    # so it is kept by its digest
    if len(key) <= 32:
        return _SESSION_ID_TAG + key
    import hashlib  # (here: importing it maps OpenSSL, ~4 MiB, which cleartext never needs)

    return _TICKET_TAG + hashlib.sha256(key).digest()


class KeyLog:
    """An NSS key log: client random → label → secret; see the module docstring.

    Always true (an empty key log still means the user asked for decryption); ``len`` is
    the number of client randoms known."""

    __slots__ = (
        "_by_random", "_remembered", "_max_connections", "_max_remembered",
        "lines", "bad", "ignored", "dropped",
    )

    def __init__(
        self,
        text: bytes = b"",
        *,
        max_connections: int = MAX_CONNECTIONS,
        max_remembered: int = MAX_REMEMBERED,
    ) -> None:
        self._by_random: dict[bytes, dict[str, bytes]] = {}
        self._remembered: dict[bytes, bytes] = {}
        self._max_connections = max(1, max_connections)
        self._max_remembered = max(1, max_remembered)
        self.lines = 0  # secret lines taken, over every add()
        self.bad = 0  # malformed lines
        self.ignored = 0  # well-formed lines with a label not in LABELS
        self.dropped = 0  # client randoms dropped at MAX_CONNECTIONS
        if text:
            self.add(text)

    def add(self, text: bytes) -> int:
        """Parse key log lines (LF or CRLF; the last line needs no newline) and keep their
        secrets; returns the number of secret lines taken. Never raises on content; a later
        line for the same client random and label replaces the earlier one."""
        taken = 0
        data = bytes(text)
        size = len(data)
        pos = 0
        while pos < size:
            # walk by offsets: only lines short enough to be valid are ever sliced out
            nl = data.find(b"\n", pos)
            end = size if nl < 0 else nl
            start, pos = pos, end + 1
            if end - start > MAX_LINE:
                self.bad += 1
                continue
            line = data[start:end].strip()
            if not line or line.startswith(b"#"):
                continue
            fields = line.split()
            if len(fields) != 3:
                self.bad += 1
                continue
            label_raw, random_hex, secret_hex = fields
            try:
                label = label_raw.decode("ascii")
            except UnicodeDecodeError:
                self.bad += 1
                continue
            if label not in LABELS:
                if label.replace("_", "").isalnum():
                    self.ignored += 1
                else:
                    self.bad += 1
                continue
            client_random = _unhex(random_hex)
            secret = _unhex(secret_hex)
            if client_random is None or len(client_random) != CLIENT_RANDOM_LEN or secret is None:
                self.bad += 1
                continue
            if label == CLIENT_RANDOM:
                if len(secret) != MASTER_SECRET_LEN:
                    self.bad += 1
                    continue
            elif len(secret) not in TRAFFIC_SECRET_LENS:
                self.bad += 1
                continue
            self._keep(client_random, label, secret)
            taken += 1
        self.lines += taken
        return taken

    def _keep(self, client_random: bytes, label: str, secret: bytes) -> None:
        entry = self._by_random.get(client_random)
        if entry is None:
            if len(self._by_random) >= self._max_connections:
                del self._by_random[next(iter(self._by_random))]
                self.dropped += 1
            entry = self._by_random[client_random] = {}
        entry[label] = secret

    def secrets(self, client_random: bytes) -> dict[str, bytes] | None:
        """label → secret for the connection with this client random (a copy), or None."""
        entry = self._by_random.get(bytes(client_random))
        return dict(entry) if entry is not None else None

    def remember(self, key: bytes, master_secret: bytes) -> None:
        """Keep a TLS 1.2 session's master secret under its session ID or session ticket
        (``key``), for a later connection that resumes it."""
        if not key:
            return
        mkey = _memory_key(bytes(key))
        remembered = self._remembered
        if mkey in remembered:
            del remembered[mkey]  # re-inserted below as the newest
        elif len(remembered) >= self._max_remembered:
            del remembered[next(iter(remembered))]
        remembered[mkey] = bytes(master_secret)

    def recall(self, key: bytes) -> bytes | None:
        """The master secret remembered under this session ID or ticket, or None."""
        if not key:
            return None
        return self._remembered.get(_memory_key(bytes(key)))

    def __len__(self) -> int:
        return len(self._by_random)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return (
            f"KeyLog(connections={len(self._by_random)}, lines={self.lines}, "
            f"bad={self.bad}, ignored={self.ignored}, remembered={len(self._remembered)})"
        )

    __str__ = __repr__
