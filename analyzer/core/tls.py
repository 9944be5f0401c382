"""Passive, streaming TLS reader for one TCP connection: records, handshake, decryption.

Theory of operation
-------------------
A :class:`TlsSession` watches both byte streams of one connection through two sinks
(:meth:`TlsSession.sinks`: client→server and server→client, each fed ``data`` / ``gap`` /
``eof`` by :mod:`analyzer.core.streams`, or by a :class:`~analyzer.core.protocols.Opening`
that chose ``tls``). Everything it learns comes from the bytes in the order they arrive;
the two directions meet only through that order.

*Record layer* (RFC 8446 §5.1, RFC 5246 §6.2). Each direction is cut into records by their
5-byte headers: content type 20 ChangeCipherSpec, 21 alert, 22 handshake, 23 application
data, 24 heartbeat; version 3.x; length at most :data:`MAX_RECORD` (2^14 + 2048, the TLS 1.2
ciphertext bound, plus 256 slack). A header that breaks these rules ends the reading of that
direction (an anomaly): there is no way to find the next record boundary in a synchronised
stream that stops making sense. Record bodies that nobody will look at (application data
without keys) are skipped by arithmetic, never copied; the others (at most one record,
:data:`MAX_RECORD` bytes) are collected and handled when complete.

*Losing sync.* A gap that ends inside the current record's body keeps the boundary (the
record is counted but its content is lost); a gap that swallows a header, or a capture
that began mid-connection (``midstream``), puts the direction in *resync*: a candidate
header (type 20-23, version 3.0-3.4, length 1..MAX_RECORD) is accepted when the header
that its length points to is valid too. In ``midstream`` mode the very first bytes of a
direction are trusted if they form a valid header (a capture usually starts at a segment,
and a segment usually starts a record), so the order of the two directions is kept.

*Handshake* (RFC 8446 §4, RFC 5246 §7.4). Handshake messages are reassembled across
records per direction. Only ClientHello, ServerHello, TLS 1.2 NewSessionTicket and (when
decrypted) EncryptedExtensions are collected and parsed, each bounded by
:data:`MAX_MESSAGE`; every other message is skipped by arithmetic and only its type noted
(:attr:`TlsSession.messages`). From the hellos, all in clear, come the *facts*: version
(the ServerHello's ``supported_versions`` overrides its legacy version), SNI, ALPN offered
and (TLS 1.2) chosen, cipher suite, HelloRetryRequest (the special ServerHello random),
and whether the handshake is full or resumed:

* TLS 1.3: resumed when the ServerHello carries ``pre_shared_key`` (extension 41);
* TLS 1.2: resumed when the ServerHello echoes the ClientHello's non-empty session id, or
  when the client offered a non-empty session ticket (extension 35) and the server goes
  to ChangeCipherSpec without a Certificate (RFC 5077 §3.1); a Certificate,
  ServerKeyExchange or ServerHelloDone makes it full.

The handshake *completes*, without keys: TLS 1.2 (and an unknown version) when both sides
sent ChangeCipherSpec and a record after it (their Finished); TLS 1.3 when the client sent
its first application-data record after the ServerHello (its encrypted Finished), unless
that record is too short to be a Finished (:data:`ALERT_RECORD_MAX`: an encrypted alert).
It *fails* on a fatal alert before completion, or when a direction ends (eof or gap)
after a ClientHello before completion; :attr:`TlsSession.handshake` is then ``failed``.
With no ClientHello at all it is None (the capture began after the handshake).

*Turns* estimate requests without keys. Application-data records after the handshake are
counted each way; a client *burst* (consecutive client records not interrupted by server
records) that holds a record which is neither handshake nor a likely HTTP/2 control frame
(plaintext of at most :data:`CONTROL_MAX` bytes: SETTINGS ACK 9, WINDOW_UPDATE and
RST_STREAM 13, PING 17; the plaintext size is the record length minus the suite's AEAD
overhead, :func:`aead_overhead`) and is answered by a server record counts one turn.
Not counted: TLS 1.3 encrypted handshake records (server records before the client's
Finished, the client's Finished itself), and a server burst with no client data before it
(TLS 1.3 NewSessionTicket). For a sequential HTTP/1.1 client this is the request count.
:attr:`TlsSession.last_turn_ts` is the time of the last record of the server burst that
answered the last turn. Without keys a TLS 1.3 record's true type is hidden, so the
record counts include NewSessionTicket and close_notify records; a record that decrypts
is counted exactly (inner type application data, its true plaintext size).

*Decryption* (with a :class:`~analyzer.core.keylog.KeyLog`). :mod:`analyzer.core.tlscrypt`
(which imports ``cryptography``) is imported only when a key log is given and a connection
has something to decrypt. TLS 1.2: at the first ChangeCipherSpec the master secret is the
key log's ``CLIENT_RANDOM``, or, for a resumed session without a line of its own, the one
remembered under its session id or ticket; a known master secret is remembered under the
session id and the NewSessionTicket's ticket for later connections. Each side's records
after its ChangeCipherSpec are decrypted with its key (the first is its Finished). TLS 1.3:
after the ServerHello each side uses its handshake traffic secret until its Finished, then
its application traffic secret; without the handshake secrets, records that do not
authenticate under the application key are skipped until one does. A KeyUpdate ratchets
that side's secret. Decrypted application data goes to an inner
:class:`~analyzer.core.protocols.Opening` made from ``attach_inner`` on the first plaintext,
so the HTTP/1 and HTTP/2 readers read it as if it were clear; a gap after decryption began
stops that direction's decryption and passes the gap on. When nothing could be
decrypted, :attr:`TlsSession.why_not_decrypted` names the reason (:data:`REASONS`).

Hostile bytes never raise: every oddity is a named anomaly in
:attr:`TlsSession.anomalies` (:data:`ANOMALIES`). Secrets are held only by the decryptors
and a private slot, and appear in no fact, ``repr`` or exception.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Final, NamedTuple, Protocol

from analyzer.core.protocols import MORE, Opening, OpeningSide, Readers
from analyzer.core.tlsnames import SUITE_NAMES

if TYPE_CHECKING:
    from analyzer.core.keylog import KeyLog

# ---- record layer (RFC 8446 §5.1)
CHANGE_CIPHER_SPEC: Final = 20
ALERT: Final = 21
HANDSHAKE: Final = 22
APPLICATION_DATA: Final = 23
HEARTBEAT: Final = 24
MAX_RECORD: Final = (1 << 14) + 2048 + 256  # TLSCiphertext bound (RFC 5246 §6.2.3) + slack
MAX_MESSAGE: Final = 64 * 1024  # a parsed handshake message, at most
MAX_NOTED: Final = 64  # handshake message types noted in TlsSession.messages
MAX_NAMES: Final = 32  # ALPN names kept
MAX_NAME_LEN: Final = 255

# ---- handshake message types (RFC 8446 §4, RFC 5246 §7.4)
CLIENT_HELLO: Final = 1
SERVER_HELLO: Final = 2
NEW_SESSION_TICKET: Final = 4
END_OF_EARLY_DATA: Final = 5
ENCRYPTED_EXTENSIONS: Final = 8
CERTIFICATE: Final = 11
SERVER_KEY_EXCHANGE: Final = 12
SERVER_HELLO_DONE: Final = 14
FINISHED: Final = 20
KEY_UPDATE: Final = 24
_COLLECTED: Final = frozenset(
    {CLIENT_HELLO, SERVER_HELLO, NEW_SESSION_TICKET, ENCRYPTED_EXTENSIONS, KEY_UPDATE}
)

# ---- extensions
EXT_SERVER_NAME: Final = 0
EXT_ALPN: Final = 16
EXT_SESSION_TICKET: Final = 35
EXT_PRE_SHARED_KEY: Final = 41
EXT_EARLY_DATA: Final = 42
EXT_SUPPORTED_VERSIONS: Final = 43

# SHA-256("HelloRetryRequest"), the random of a HelloRetryRequest (RFC 8446 §4.1.3)
HRR_RANDOM: Final = bytes.fromhex(
    "CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C"
)

TLS13: Final = 0x0304
TLS12: Final = 0x0303
VERSIONS: Final[dict[int, str]] = {
    0x0304: "TLS 1.3",
    0x0303: "TLS 1.2",
    0x0302: "TLS 1.1",
    0x0301: "TLS 1.0",
    0x0300: "SSL 3.0",
}

CONTROL_MAX: Final = 17  # plaintext bytes of the largest HTTP/2 control frame (PING)
# A TLS 1.3 client record after the ServerHello this short is no Finished (the smallest:
# 4 + 32 bytes, + 1 type + an 8-byte CCM_8 tag = 45) but an encrypted alert (2 + 1 + 16).
ALERT_RECORD_MAX: Final = 40
ALERT_PLAINTEXT: Final = 2  # level, description

# Alert descriptions (RFC 8446 §6, RFC 5246 §7.2, RFC 7301 §3.2)
ALERTS: Final[dict[int, str]] = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
    21: "decryption_failed", 22: "record_overflow", 30: "decompression_failure",
    40: "handshake_failure", 41: "no_certificate", 42: "bad_certificate",
    43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
    46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
    49: "access_denied", 50: "decode_error", 51: "decrypt_error",
    60: "export_restriction", 70: "protocol_version", 71: "insufficient_security",
    80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
    100: "no_renegotiation", 109: "missing_extension", 110: "unsupported_extension",
    111: "certificate_unobtainable", 112: "unrecognized_name",
    113: "bad_certificate_status_response", 114: "bad_certificate_hash_value",
    115: "unknown_psk_identity", 116: "certificate_required",
    120: "no_application_protocol",
}
FATAL: Final = 2  # alert level
_SIDES: Final = ("client", "server")

# ---- the anomaly names (TlsSession.anomalies)
ANOMALIES: Final = (
    "tls-bad-record-type",  # content type not 20-24: the direction stops
    "tls-bad-record-version",  # record version not 3.x (x <= 4): the direction stops
    "tls-record-too-long",  # record length over MAX_RECORD: the direction stops
    "tls-truncated-record",  # the stream ended inside a record
    "tls-desync",  # a gap swallowed a record header: the direction resynchronises
    "tls-gap",  # bytes lost after decryption began: that direction stops decrypting
    "tls-handshake-lost",  # a gap inside a handshake record: its messages are not read
    "tls-handshake-too-long",  # a message that would be parsed is over MAX_MESSAGE
    "tls-bad-client-hello",
    "tls-bad-server-hello",
    "tls-bad-new-session-ticket",
    "tls-bad-encrypted-extensions",
    "tls-bad-alert",  # an alert record that is not pairs of bytes
    "tls-unexpected-message",  # a hello from the wrong side, or a second one
    "tls-renegotiation",  # a second ChangeCipherSpec: that direction stops decrypting
    "tls-decrypt-failed",  # a record did not authenticate: that direction stops decrypting
    "tls-bad-inner-type",  # a decrypted record of no known content type
)

# ---- why_not_decrypted
NO_KEY_LOG: Final = "no key log"
NO_SECRET: Final = "no secret for this connection"
RESUMED_UNKNOWN: Final = "resumed session whose master secret is unknown"
UNSUPPORTED_SUITE: Final = "unsupported cipher suite"  # + " <name>"
UNSUPPORTED_VERSION: Final = "unsupported version"  # + " <name>"
DECRYPTION_FAILED: Final = "decryption failed"
AFTER_HANDSHAKE: Final = "capture began after the handshake"
HANDSHAKE_INCOMPLETE: Final = "handshake incomplete"
EARLY_DATA: Final = "TLS 1.3 0-RTT data"
MISSING_BYTES: Final = "bytes missing from the capture"
NO_CRYPTOGRAPHY: Final = "cryptography is not installed"
NO_APPLICATION_DATA: Final = "no application data"
REASONS: Final = (
    NO_KEY_LOG, NO_SECRET, RESUMED_UNKNOWN, UNSUPPORTED_SUITE, UNSUPPORTED_VERSION,
    DECRYPTION_FAILED, AFTER_HANDSHAKE, HANDSHAKE_INCOMPLETE, EARLY_DATA, MISSING_BYTES,
    NO_CRYPTOGRAPHY, NO_APPLICATION_DATA,
)

# a plausible record header while resynchronising (the length is checked apart)
_CANDIDATE = re.compile(rb"[\x14-\x17]\x03[\x00-\x04]")
_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")

# decryption phases of one direction
_NONE: Final = 0
_HANDSHAKE_KEYS: Final = 1  # TLS 1.3 handshake traffic secret
_APPLICATION_KEYS: Final = 2  # TLS 1.3 application traffic secret, or TLS 1.2 keys


def version_name(code: int) -> str:
    """"TLS 1.3" … "SSL 3.0", or ``0x7f1c`` for a code not in :data:`VERSIONS`."""
    return VERSIONS.get(code, f"0x{code:04x}")


def suite_name(code: int) -> str:
    """The IANA name of a cipher suite, or ``0x1234`` (as :mod:`~analyzer.core.tlscrypt`
    spells unknown ones)."""
    return SUITE_NAMES.get(code, f"0x{code & 0xFFFF:04x}")


CLIENT_AUTH_RECORDS: Final = 2  # TLS 1.3: a client's Certificate and CertificateVerify


def finished_record13(suite: int) -> int:
    """The length of the record that carries a TLS 1.3 Finished (the suite's hash, a
    4-byte handshake header, the content type and the tag), or 0 for an unknown suite."""
    name = SUITE_NAMES.get(suite, "")
    if not name or "_WITH_" in name:
        return 0  # unknown, or a TLS 1.2 suite
    digest = 48 if name.endswith("SHA384") else 32
    return digest + 4 + aead_overhead(suite, True)


def aead_overhead(suite: int, tls13: bool) -> int:
    """Bytes a record adds to its plaintext: TLS 1.3, a 16-byte tag and the content type
    byte (an 8-byte tag for CCM_8); TLS 1.2 AES-GCM/CCM, an 8-byte explicit nonce and a
    16-byte tag; ChaCha20-Poly1305, the tag alone; unknown (or CBC), 24."""
    name = SUITE_NAMES.get(suite, "")
    if tls13:
        return 9 if name.endswith("CCM_8_SHA256") else 17
    if "CHACHA20" in name or name.endswith("CCM_8"):
        return 16
    return 24


def _printable(raw: bytes) -> str:
    text = raw[:MAX_NAME_LEN].decode("ascii", "replace")
    return _UNPRINTABLE.sub("?", text)


# ---- message parsing
class _Malformed(Exception):
    """A length inside a message points past its end (never leaves this module)."""


class _Cursor:
    """Reads big-endian integers and length-prefixed vectors from ``b[i:end]``."""

    __slots__ = ("b", "i", "end")

    def __init__(self, b: bytes, i: int = 0, end: int = -1) -> None:
        self.b = b
        self.i = i
        self.end = len(b) if end < 0 else end

    def left(self) -> int:
        return self.end - self.i

    def take(self, n: int) -> bytes:
        if n < 0 or self.i + n > self.end:
            raise _Malformed
        out = self.b[self.i : self.i + n]
        self.i += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, width: int) -> _Cursor:
        """The vector whose ``width``-byte length comes next, as a cursor; skips it."""
        n = self.uint(width)
        if self.i + n > self.end:
            raise _Malformed
        sub = _Cursor(self.b, self.i, self.i + n)
        self.i += n
        return sub


def _extensions(c: _Cursor) -> dict[int, bytes]:
    """type → data of an extensions block (the first of duplicates); none when absent."""
    out: dict[int, bytes] = {}
    if not c.left():
        return out  # TLS 1.2 and older hellos may end before the extensions
    block = c.vector(2)
    while block.left():
        kind = block.uint(2)
        data = block.vector(2)
        if kind not in out:
            out[kind] = data.take(data.left())
    return out


def _alpn_names(data: bytes) -> list[str]:
    names: list[str] = []
    block = _Cursor(data).vector(2)
    while block.left():
        name = block.vector(1)
        if len(names) < MAX_NAMES:
            names.append(_printable(name.take(name.left())))
    return names


class ClientHello(NamedTuple):
    random: bytes
    session_id: bytes
    sni: str | None
    alpn: list[str]
    ticket: bytes  # a non-empty session ticket offered (extension 35), else b""
    early_data: bool  # extension 42 (TLS 1.3 0-RTT)


class ServerHello(NamedTuple):
    version: int  # supported_versions' choice, else legacy_version
    random: bytes
    session_id: bytes
    suite: int
    alpn: str | None
    psk: bool  # pre_shared_key (extension 41)
    retry: bool  # a HelloRetryRequest


def parse_client_hello(body: bytes) -> ClientHello:
    """The ClientHello fields this reader uses (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2);
    raises ValueError when a length points past the message."""
    try:
        c = _Cursor(body)
        c.take(2)  # legacy_version
        random = c.take(32)
        sid = c.vector(1)
        if sid.left() > 32:
            raise _Malformed
        session_id = sid.take(sid.left())
        c.vector(2)  # cipher_suites
        c.vector(1)  # legacy_compression_methods
        ext = _extensions(c)
        sni = None
        raw = ext.get(EXT_SERVER_NAME)
        if raw:
            names = _Cursor(raw).vector(2)
            while names.left():
                kind = names.uint(1)
                name = names.vector(2)
                if kind == 0 and sni is None:
                    sni = _printable(name.take(name.left()))
        raw = ext.get(EXT_ALPN)
        alpn = _alpn_names(raw) if raw is not None else []
        return ClientHello(
            random, session_id, sni, alpn, ext.get(EXT_SESSION_TICKET, b""),
            EXT_EARLY_DATA in ext,
        )
    except _Malformed:
        raise ValueError("malformed ClientHello") from None


def parse_server_hello(body: bytes) -> ServerHello:
    """The ServerHello fields this reader uses (RFC 8446 §4.1.3, RFC 5246 §7.4.1.3);
    raises ValueError when a length points past the message."""
    try:
        c = _Cursor(body)
        version = c.uint(2)
        random = c.take(32)
        sid = c.vector(1)
        if sid.left() > 32:
            raise _Malformed
        session_id = sid.take(sid.left())
        suite = c.uint(2)
        c.take(1)  # legacy_compression_method
        ext = _extensions(c)
        raw = ext.get(EXT_SUPPORTED_VERSIONS)
        if raw is not None:
            version = _Cursor(raw).uint(2)
        raw = ext.get(EXT_ALPN)
        names = _alpn_names(raw) if raw is not None else []
        return ServerHello(
            version, random, session_id, suite, names[0] if names else None,
            EXT_PRE_SHARED_KEY in ext, random == HRR_RANDOM,
        )
    except _Malformed:
        raise ValueError("malformed ServerHello") from None


def parse_new_session_ticket12(body: bytes) -> bytes:
    """The ticket of a TLS 1.2 NewSessionTicket (RFC 5077 §3.3); ValueError if malformed."""
    try:
        c = _Cursor(body)
        c.take(4)  # ticket_lifetime_hint
        ticket = c.vector(2)
        return ticket.take(ticket.left())
    except _Malformed:
        raise ValueError("malformed NewSessionTicket") from None


def parse_encrypted_extensions(body: bytes) -> str | None:
    """The ALPN protocol chosen in a TLS 1.3 EncryptedExtensions (RFC 8446 §4.3.1)."""
    try:
        raw = _extensions(_Cursor(body)).get(EXT_ALPN)
        names = _alpn_names(raw) if raw is not None else []
        return names[0] if names else None
    except _Malformed:
        raise ValueError("malformed EncryptedExtensions") from None


# ---- decryption (the objects come from analyzer.core.tlscrypt, imported lazily)
class _Decryptor(Protocol):
    def decrypt(self, header: bytes, fragment: bytes) -> tuple[int, bytes] | None: ...


class TlsSide:
    """One direction of a :class:`TlsSession`: its sink (``data`` / ``gap`` / ``eof``) and
    its record, handshake and decryption state."""

    __slots__ = (
        "session", "direction", "stopped", "resync", "trust_start", "boundary", "sync",
        "sync_need",
        "hdr", "head", "ctype", "length", "need", "keep", "frag", "damaged",
        "ccs", "post_ccs", "hs_done", "hs_hdr", "hs_type", "hs_left", "hs_body", "hs_lost",
        "dec", "phase", "probe", "_secret", "_next", "record_version", "ended",
        "hs_records",
    )

    def __init__(self, session: TlsSession, direction: int, midstream: bool) -> None:
        self.session = session
        self.direction = direction
        self.stopped = False
        self.resync = midstream  # looking for a record boundary
        self.trust_start = midstream  # the first bytes may be taken as a header
        self.boundary = False  # after a gap: sync[0] is likely where a record starts
        self.sync = bytearray()
        self.sync_need = 0  # bytes `sync` must hold before the scan is worth redoing
        self.hdr = b""  # a record header cut by a segment boundary
        self.head = b""  # the current record's header
        self.ctype = 0
        self.length = 0
        self.need = 0  # body bytes of the current record still to come
        self.keep = False  # collect the body
        self.frag = bytearray()
        self.damaged = False
        self.ccs = 0  # ChangeCipherSpec records seen (TLS 1.2)
        self.post_ccs = False  # TLS 1.2: a record came after this side's ChangeCipherSpec
        self.hs_done = False  # TLS 1.3: this side's Finished has gone by
        self.hs_records = 0  # TLS 1.3 client: encrypted handshake records before Finished
        self.hs_hdr = b""
        self.hs_type = -1  # the handshake message being read (-1: between messages)
        self.hs_left = 0
        self.hs_body: bytearray | None = None
        self.hs_lost = False
        self.dec: _Decryptor | None = None
        self.phase = _NONE
        self.probe = False  # skip records that fail to authenticate until one does
        self._secret: bytes | None = None  # TLS 1.3: the current application secret
        self._next: bytes | None = None  # TLS 1.3: the application secret after Finished
        self.record_version: int | None = None
        self.ended = False

    def __repr__(self) -> str:
        return f"TlsSide({_SIDES[self.direction]}, stopped={self.stopped})"

    # ---- sink
    def data(self, buf: bytes, start: int, end: int, ts: float) -> None:
        if self.stopped or start >= end:
            return
        if self.resync:
            self._resync(buf, start, end, ts)
            return
        s = start
        while s < end:
            if self.stopped:
                return
            need = self.need
            if need:
                n = end - s
                take = need if need < n else n
                if self.keep:
                    self.frag += buf[s : s + take]
                s += take
                self.need = need - take
                if not self.need:
                    self._end_record(ts)
                continue
            hdr = self.hdr
            if hdr or end - s < 5:
                stop = s + 5 - len(hdr)
                if stop > end:
                    stop = end
                hdr += buf[s:stop]
                s = stop
                if len(hdr) < 5:
                    self.hdr = hdr
                    return
                self.hdr = b""
            else:
                hdr = buf[s : s + 5]
                s += 5
            if not self._header(bytes(hdr)):
                return
            if not self.need:
                self._end_record(ts)

    def gap(self, n: int, ts: float) -> None:
        if n <= 0:
            return
        self.session._lost(self, n, ts)
        if self.stopped:
            return
        if self.resync:
            self.sync.clear()
            self.sync_need = 0
            self.trust_start = False
            self.boundary = True
            return
        if self.need and n <= self.need:
            # the gap ends inside this record: the next header is where it was
            self.need -= n
            self.damaged = True
            if not self.need:
                self._end_record(ts)
            return
        self.session._anomaly("tls-desync")
        if self.session.client_hellos and not self.session.completed:
            # whole records went: a message may have begun or ended in them
            self.session._handshake_lost(self)
        self.resync = True
        self.trust_start = False
        self.boundary = True
        self.hdr = b""
        self.need = 0
        self.keep = False
        self.frag = bytearray()

    def eof(self, ts: float) -> None:
        if self.ended:
            return
        if not self.stopped and not self.resync and (self.need or self.hdr):
            self.session._anomaly("tls-truncated-record")
        self.session._end(self, ts)

    # ---- records
    def _header(self, hdr: bytes) -> bool:
        """Take a record header; False (and the direction stops) when it is not one."""
        ctype, major, minor = hdr[0], hdr[1], hdr[2]
        length = hdr[3] << 8 | hdr[4]
        session = self.session
        if not CHANGE_CIPHER_SPEC <= ctype <= HEARTBEAT:
            session._anomaly("tls-bad-record-type")
            self._stop()
            return False
        if major != 3 or minor > 4:
            session._anomaly("tls-bad-record-version")
            self._stop()
            return False
        if length > MAX_RECORD:
            session._anomaly("tls-record-too-long")
            self._stop()
            return False
        if self.record_version is None:
            self.record_version = major << 8 | minor
        self.head = hdr
        self.ctype = ctype
        self.length = self.need = length
        self.damaged = False
        if ctype == APPLICATION_DATA:
            self.keep = self.dec is not None
        else:
            self.keep = ctype != HEARTBEAT
        if self.keep:
            self.frag = bytearray()
        return True

    def _end_record(self, ts: float) -> None:
        frag = bytes(self.frag) if self.keep and not self.damaged else None
        if self.keep and self.damaged and self.ctype == HANDSHAKE:
            self.session._handshake_lost(self)
        self.frag = bytearray()
        self.keep = False
        self.session._record(self, self.ctype, self.length, self.head, frag, ts)

    def _stop(self) -> None:
        self.stopped = True
        self.dec = None
        self.frag = bytearray()
        self.sync = bytearray()

    def _resync(self, buf: bytes, start: int, end: int, ts: float) -> None:
        sync = self.sync
        sync += buf[start:end]
        if len(sync) < self.sync_need:
            return  # the candidate waiting at sync[0] cannot be decided yet
        if self.trust_start:
            if len(sync) < 5:
                self.sync_need = 5
                return
            self.trust_start = False
            if _plausible(sync, 0):
                self._synced(0, ts)
                return
        n = len(sync)
        i = 0
        wait = 0  # bytes from i needed to decide the candidate at i (0: none waits)
        while True:
            m = _CANDIDATE.search(sync, i)
            if m is None:
                i = max(i, n - 4)  # a candidate may start in the last bytes
                break
            p = m.start()
            if p + 5 > n:
                i, wait = p, 5
                break
            if not _plausible(sync, p):
                i = p + 1
                continue
            q = p + 5 + (sync[p + 3] << 8 | sync[p + 4])
            if q == n and p == 0 and self.boundary:
                # right after a gap, a record that ends where the bytes so far end: lost
                # segments usually end where records end
                self._synced(0, ts)
                return
            if q + 5 > n:
                i, wait = p, q + 5 - p
                break
            if _plausible(sync, q):
                self._synced(p, ts)
                return
            i = p + 1
        if i:
            del sync[:i]
            self.boundary = False
        self.sync_need = wait

    def _synced(self, at: int, ts: float) -> None:
        data = bytes(self.sync[at:])
        self.sync = bytearray()
        self.sync_need = 0
        self.resync = False
        self.boundary = False
        self.data(data, 0, len(data), ts)


def _plausible(b: bytes | bytearray, at: int) -> bool:
    """Is there a record header at ``b[at:at+5]`` a resynchronising reader may accept?"""
    if at + 5 > len(b):
        return False
    length = b[at + 3] << 8 | b[at + 4]
    return (
        CHANGE_CIPHER_SPEC <= b[at] <= APPLICATION_DATA and b[at + 1] == 3
        and b[at + 2] <= 4 and 0 < length <= MAX_RECORD
    )


class TlsSession:
    """The TLS reader of one connection; see the module docstring.

    ``keylog``: secrets for decryption (None: no decryption, ``why_not_decrypted`` says
    "no key log"). ``attach_inner``: given the protocol the decrypted bytes speak (as
    :class:`~analyzer.core.protocols.Opening` chooses it), the readers that take them.
    ``midstream``: the capture may have begun inside the connection (records resync)."""

    __slots__ = (
        "keylog", "attach_inner", "midstream", "sides", "anomalies", "negotiated",
        "sni", "alpn_offered", "alpn", "suite", "hello_retry", "client_hellos",
        "server_hello", "kind", "completed", "failed", "cut", "certificate", "alert",
        "_alert_fatal", "close_notify_by", "close_notify_ts", "records_client",
        "records_server", "_turns", "_asked", "_answering", "last_turn_ts",
        "decrypted", "_reason", "_keys", "_master", "client_random", "server_random",
        "client_session_id", "server_session_id", "offered_ticket", "ticket",
        "early_data", "early_records", "opening", "inner", "messages",
    )

    def __init__(
        self,
        keylog: KeyLog | None = None,
        attach_inner: Callable[[str], Readers] | None = None,
        midstream: bool = False,
    ) -> None:
        self.keylog = keylog
        self.attach_inner = attach_inner
        self.midstream = midstream
        self.sides = (TlsSide(self, 0, midstream), TlsSide(self, 1, midstream))
        self.anomalies: dict[str, int] = {}
        self.negotiated = 0  # the version code the ServerHello chose (0: none seen)
        self.sni: str | None = None
        self.alpn_offered: list[str] = []
        self.alpn: str | None = None
        self.suite = -1
        self.hello_retry = False
        self.client_hellos = 0
        self.server_hello = False  # a ServerHello that is not a HelloRetryRequest
        self.kind: str | None = None  # "full" | "resumed" once the hellos tell
        self.completed = False
        self.failed = False  # a fatal alert before completion
        self.cut = False  # a direction ended or lost bytes before completion
        self.certificate = False  # the server sent a Certificate (in clear or decrypted)
        self.alert: str | None = None
        # the side whose close_notify came first (or, not decrypted, an alert-sized
        # record after the handshake): who began the close, whoever sent the first FIN
        self.close_notify_by: str | None = None
        self.close_notify_ts: float | None = None
        self._alert_fatal = False
        self.records_client = 0
        self.records_server = 0
        self._turns = 0
        self._asked = False  # the current client burst holds a request-like record
        self._answering = False  # the server burst under way answers a turn
        self.last_turn_ts: float | None = None  # the last record of the last answer
        self.decrypted = False
        self._reason: str | None = None
        self._keys = False  # decryption was set up
        self._master: bytes | None = None  # TLS 1.2 master secret (remembered, never shown)
        self.client_random = b""
        self.server_random = b""
        self.client_session_id = b""
        self.server_session_id = b""
        self.offered_ticket = b""
        self.ticket = b""  # the TLS 1.2 NewSessionTicket's
        self.early_data = False
        self.early_records = 0
        self.opening: Opening | None = None
        self.inner: tuple[OpeningSide, OpeningSide] | None = None
        self.messages: list[tuple[int, int]] = []  # (direction, handshake type), bounded

    def __repr__(self) -> str:
        return (
            f"TlsSession(version={self.version!r}, handshake={self.handshake!r}, "
            f"records={self.records_client}/{self.records_server}, "
            f"decrypted={self.decrypted})"
        )

    def sinks(self) -> tuple[TlsSide, TlsSide]:
        """The sinks to give the client→server and server→client streams."""
        return self.sides

    # ---- facts
    @property
    def version(self) -> str | None:
        """The negotiated version ("TLS 1.3" …), None before a ServerHello."""
        return version_name(self.negotiated) if self.negotiated else None

    @property
    def record_version(self) -> str | None:
        """The version in the first record header (the client's, else the server's)."""
        for side in self.sides:
            if side.record_version is not None:
                return version_name(side.record_version)
        return None

    @property
    def cipher_suite(self) -> str | None:
        return suite_name(self.suite) if self.suite >= 0 else None

    @property
    def handshake(self) -> str | None:
        """"full" | "resumed" | "failed" | None (see the module docstring)."""
        if self.completed and not self.failed:
            return self.kind
        if self.failed or (self.cut and self.client_hellos):
            return "failed"
        return None

    @property
    def turns(self) -> int:
        """Client bursts with a request-like record answered by the server (see
        :attr:`last_turn_ts` for when the last answer's last record came)."""
        return self._turns

    @property
    def inner_protocol(self) -> str | None:
        """The protocol the decrypted bytes speak, once chosen."""
        if self.opening is None or self.opening.protocol == MORE:
            return None
        return self.opening.protocol

    @property
    def why_not_decrypted(self) -> str | None:
        """None when something was decrypted, else the reason (:data:`REASONS`)."""
        if self.decrypted:
            return None
        if self.keylog is None:
            return NO_KEY_LOG
        if self._reason is not None:
            return self._reason
        if not self.client_hellos and not self.server_hello:
            if self.records_client or self.records_server or self.midstream:
                return AFTER_HANDSHAKE
            return HANDSHAKE_INCOMPLETE
        if not self.server_hello or not self._keys:
            return HANDSHAKE_INCOMPLETE
        return NO_APPLICATION_DATA

    def facts(self) -> dict[str, object]:
        """What the JSON ``tls`` object holds (no key material)."""
        return {
            "version": self.version,
            "sni": self.sni,
            "alpn_offered": list(self.alpn_offered),
            "alpn": self.alpn,
            "handshake": self.handshake,
            "hello_retry": self.hello_retry,
            "client_hellos": self.client_hellos,
            "cipher_suite": self.cipher_suite,
            "records_client": self.records_client,
            "records_server": self.records_server,
            "decrypted": self.decrypted,
            "why_not_decrypted": self.why_not_decrypted,
            "alert": self.alert,
            "close_notify_by": self.close_notify_by,
        }

    # ---- bookkeeping
    def _anomaly(self, name: str) -> None:
        self.anomalies[name] = self.anomalies.get(name, 0) + 1

    def _why(self, reason: str) -> None:
        if self._reason is None:
            self._reason = reason

    def _complete(self) -> None:
        self.completed = True

    def _tls13(self) -> bool:
        return self.negotiated == TLS13 and self.server_hello

    def _count(self, direction: int, size: int, ts: float) -> None:
        """An application-data record of about ``size`` plaintext bytes: a client record
        larger than an HTTP/2 control frame asks; a server record larger than one answers
        (a close_notify, or the SETTINGS ACK an HTTP/2 server sends between the client's
        preface and its first HEADERS, do not: that ACK would make the preface a turn)."""
        if direction == 0:
            self.records_client += 1
            self._answering = False
            if size > CONTROL_MAX:
                self._asked = True
        else:
            self.records_server += 1
            if size <= CONTROL_MAX:
                return
            if self._asked:
                self._turns += 1
                self._asked = False
                self._answering = True
            if self._answering:
                self.last_turn_ts = ts

    # ---- stream events
    def _lost(self, side: TlsSide, n: int, ts: float) -> None:
        if not self.completed and self.client_hellos:
            self.cut = True
        if side.dec is not None and (side.ccs or self._tls13()):
            side.dec = None
            self._anomaly("tls-gap")
            self._why(MISSING_BYTES)
            if self.inner is not None:
                self.inner[side.direction].gap(n, ts)

    def _end(self, side: TlsSide, ts: float) -> None:
        side.ended = True
        if not self.completed and self.client_hellos:
            self.cut = True
        if self.inner is not None:
            self.inner[side.direction].eof(ts)

    def _handshake_lost(self, side: TlsSide) -> None:
        if not side.hs_lost:
            side.hs_lost = True
            side.hs_body = None
            self._anomaly("tls-handshake-lost")

    # ---- records
    def _record(
        self, side: TlsSide, ctype: int, length: int, head: bytes, frag: bytes | None,
        ts: float,
    ) -> None:
        d = side.direction
        if self._tls13():
            if ctype == APPLICATION_DATA:
                self._record13(side, length, head, frag, ts)
            elif ctype == HANDSHAKE:
                if frag is not None:
                    self._handshake(side, frag, ts)
            elif ctype == ALERT:
                if frag is not None:
                    self._alerts(d, frag, ts)
            return  # ChangeCipherSpec: middlebox compatibility (RFC 8446 §D.4)
        # TLS 1.2 and older, or a version not (yet) known
        if ctype == CHANGE_CIPHER_SPEC:
            if self.negotiated == TLS13:
                return  # compatibility CCS after a HelloRetryRequest
            self._change_cipher_spec(side)
            return
        if ctype == HEARTBEAT:
            return
        after_ccs = side.ccs > 0
        result = None
        if after_ccs and side.dec is not None and frag is not None:
            result = self._decrypt(side, head, frag, ts)
        if result is not None:
            self._plain(side, result[0], result[1], ts)
        elif ctype == APPLICATION_DATA:
            if not self._early(side):
                self._count(d, length - aead_overhead(self.suite, False), ts)
        elif after_ccs:
            if ctype == ALERT and not self.completed:
                self._encrypted_alert(d)
            elif ctype == ALERT and self.close_notify_by is None:
                self._close_notify(d, ts)  # encrypted: most likely close_notify
        elif ctype == HANDSHAKE:
            if frag is not None:
                self._handshake(side, frag, ts)
        elif ctype == ALERT and frag is not None:
            if len(frag) > ALERT_PLAINTEXT and not self.client_hellos and not self.server_hello:
                # seen without its handshake: an encrypted alert (a clear one is two
                # bytes), at this point most likely close_notify
                if self.close_notify_by is None:
                    self._close_notify(d, ts)
            else:
                self._alerts(d, frag, ts)
        if after_ccs:
            side.post_ccs = True  # this side's Finished (or what stands in for it)
            if not self.completed and self.sides[0].post_ccs and self.sides[1].post_ccs:
                self._complete()

    def _record13(
        self, side: TlsSide, length: int, head: bytes, frag: bytes | None, ts: float
    ) -> None:
        d = side.direction
        result = None
        if frag is not None and side.dec is not None:
            result = self._decrypt(side, head, frag, ts)
        if result is not None:
            self._plain(side, result[0], result[1], ts)
            return
        if d == 0:
            if not side.hs_done:
                if length <= ALERT_RECORD_MAX and not self.early_data:
                    side.hs_done = True
                    self._encrypted_alert(0)
                    return
                finished = finished_record13(self.suite)
                if finished and length != finished and side.hs_records < CLIENT_AUTH_RECORDS:
                    # not Finished's size: the client's Certificate or CertificateVerify
                    # (client authentication, RFC 8446 §4.4), still its handshake
                    side.hs_records += 1
                    return
                side.hs_done = True  # the client's Finished (RFC 8446 §4.4.4)
                self._complete()
                return
            self._closing(0, length, ts)
            self._count(0, length - aead_overhead(self.suite, True), ts)
        elif self.sides[0].hs_done:
            size = length - aead_overhead(self.suite, True)
            if size == ALERT_PLAINTEXT and not self.records_server and not self.records_client:
                # the server's first word after the client's Finished is an alert, with no
                # ticket and no request before it: it refused the handshake (a client
                # certificate it rejects, RFC 8446 §4.4.2.4)
                self._encrypted_alert(1)
                self.records_server += 1
                return
            self._closing(1, length, ts)
            self._count(1, size, ts)

    def _close_notify(self, d: int, ts: float) -> None:
        self.close_notify_by = _SIDES[d]
        self.close_notify_ts = ts

    def _closing(self, d: int, length: int, ts: float) -> None:
        """TLS 1.3 not decrypted: a record whose plaintext is two bytes is an alert (no
        HTTP/2 frame is that small), after the handshake most likely close_notify."""
        if (
            self.close_notify_by is None
            and length - aead_overhead(self.suite, True) == ALERT_PLAINTEXT
        ):
            self._close_notify(d, ts)

    def _early(self, side: TlsSide) -> bool:
        """A client application-data record between a ClientHello that offered 0-RTT and
        the ServerHello: early data (RFC 8446 §4.2.10), not decrypted."""
        if side.direction == 0 and self.early_data and not self.server_hello:
            self.early_records += 1
            self._why(EARLY_DATA)
            return True
        return False

    def _change_cipher_spec(self, side: TlsSide) -> None:
        side.ccs += 1
        if side.ccs > 1:
            self._anomaly("tls-renegotiation")
            side.dec = None
            return
        if side.direction == 1 and self.kind is None and self.server_hello:
            self.kind = "resumed"  # a ticket accepted: no Certificate before the CCS
        if self.server_hello and not self._keys and self.keylog is not None:
            self._setup12()

    def _plain(self, side: TlsSide, itype: int, plain: bytes, ts: float) -> None:
        """A decrypted record: application data to the inner readers, the rest read."""
        d = side.direction
        if itype == APPLICATION_DATA:
            self.decrypted = True
            self._count(d, len(plain), ts)
            if plain and self.attach_inner is not None:
                if self.opening is None:
                    self.opening = Opening(self.attach_inner)
                    self.inner = self.opening.sinks()
                if self.inner is not None:
                    self.inner[d].data(plain, 0, len(plain), ts)
        elif itype == HANDSHAKE:
            self._handshake(side, plain, ts)
        elif itype == ALERT:
            self._alerts(d, plain, ts)
        else:
            self._anomaly("tls-bad-inner-type")

    # ---- alerts
    def _alerts(self, d: int, frag: bytes, ts: float) -> None:
        if len(frag) < 2 or len(frag) % 2:
            self._anomaly("tls-bad-alert")
        for i in range(0, len(frag) - 1, 2):
            level, description = frag[i], frag[i + 1]
            if description == 0:
                if self.close_notify_by is None:
                    self._close_notify(d, ts)
                continue  # close_notify: the normal end
            name = f"{_SIDES[d]}: {ALERTS.get(description, f'alert {description}')}"
            if level == FATAL:
                if not self._alert_fatal:
                    self.alert = name
                    self._alert_fatal = True
                if not self.completed or (self._tls13() and not self.records_server):
                    # (TLS 1.3: a server's refusal of the client's certificate comes
                    # after the client's Finished, before any application data)
                    self.failed = True
            elif self.alert is None:
                self.alert = name

    def _encrypted_alert(self, d: int) -> None:
        """An alert that could not be read, before the handshake completed: fatal."""
        if not self._alert_fatal:
            self.alert = f"{_SIDES[d]}: encrypted alert"
            self._alert_fatal = True
        self.failed = True

    # ---- handshake messages
    def _handshake(self, side: TlsSide, data: bytes, ts: float) -> None:
        """Reassemble handshake messages from one record's fragment (or plaintext)."""
        i, n = 0, len(data)
        while i < n and not side.hs_lost:
            if side.hs_type < 0:
                hh = side.hs_hdr
                take = 4 - len(hh)
                hh += data[i : i + take]
                i += take
                if len(hh) < 4:
                    side.hs_hdr = hh
                    return
                side.hs_hdr = b""
                kind = hh[0]
                length = hh[1] << 16 | hh[2] << 8 | hh[3]
                side.hs_type, side.hs_left = kind, length
                if kind in _COLLECTED:
                    if length > MAX_MESSAGE:
                        self._anomaly("tls-handshake-too-long")
                        side.hs_body = None
                    else:
                        side.hs_body = bytearray()
                else:
                    side.hs_body = None
            take = min(side.hs_left, n - i)
            if take and side.hs_body is not None:
                side.hs_body += data[i : i + take]
            i += take
            side.hs_left -= take
            if not side.hs_left:
                kind, body = side.hs_type, side.hs_body
                side.hs_type, side.hs_body = -1, None
                self._message(side, kind, bytes(body) if body is not None else None)

    def _message(self, side: TlsSide, kind: int, body: bytes | None) -> None:
        d = side.direction
        if len(self.messages) < MAX_NOTED:
            self.messages.append((d, kind))
        if kind == CLIENT_HELLO:
            if d != 0:
                self._anomaly("tls-unexpected-message")
            elif body is not None:
                self._client_hello(body)
            else:
                self.client_hellos += 1  # too long to read, still a ClientHello
        elif kind == SERVER_HELLO:
            if d != 1:
                self._anomaly("tls-unexpected-message")
            elif body is not None:
                self._server_hello(body)
        elif kind == FINISHED:
            if self._tls13():
                if side.phase == _HANDSHAKE_KEYS:
                    self._application_keys(side)
                if d == 0 and not side.hs_done:
                    side.hs_done = True
                    self._complete()
                side.hs_done = True
        elif d == 1 and kind in (CERTIFICATE, SERVER_KEY_EXCHANGE, SERVER_HELLO_DONE):
            if kind == CERTIFICATE:
                self.certificate = True
            if self.kind is None and self.server_hello and not self._tls13():
                self.kind = "full"
        elif kind == NEW_SESSION_TICKET:
            if d == 1 and body is not None and not self._tls13():
                self._new_session_ticket(body)
        elif kind == ENCRYPTED_EXTENSIONS:
            if d == 1 and body is not None:
                try:
                    alpn = parse_encrypted_extensions(body)
                except ValueError:
                    self._anomaly("tls-bad-encrypted-extensions")
                else:
                    if alpn is not None:
                        self.alpn = alpn
        elif kind == KEY_UPDATE:
            if side.phase == _APPLICATION_KEYS and self._tls13():
                self._key_update(side)

    def _client_hello(self, body: bytes) -> None:
        self.client_hellos += 1
        try:
            hello = parse_client_hello(body)
        except ValueError:
            self._anomaly("tls-bad-client-hello")
            return
        if self.client_hellos > 1 and self.client_random:
            return  # the second ClientHello after a HelloRetryRequest repeats the first
        self.client_random = hello.random
        self.client_session_id = hello.session_id
        self.sni = hello.sni
        self.alpn_offered = hello.alpn
        self.offered_ticket = hello.ticket
        self.early_data = hello.early_data

    def _server_hello(self, body: bytes) -> None:
        try:
            hello = parse_server_hello(body)
        except ValueError:
            self._anomaly("tls-bad-server-hello")
            return
        if self.server_hello:
            self._anomaly("tls-unexpected-message")
            return
        self.negotiated = hello.version
        self.suite = hello.suite
        if hello.retry:
            self.hello_retry = True
            return
        self.server_hello = True
        self.server_random = hello.random
        self.server_session_id = hello.session_id
        if hello.version == TLS13:
            self.kind = "resumed" if hello.psk else "full"
            if self.keylog is not None:
                self._setup13()
            return
        if hello.alpn is not None:
            self.alpn = hello.alpn
        if hello.session_id and hello.session_id == self.client_session_id:
            self.kind = "resumed"
        elif not self.offered_ticket:
            self.kind = "full"
        # else: a ticket was offered; the next server message decides

    def _new_session_ticket(self, body: bytes) -> None:
        try:
            ticket = parse_new_session_ticket12(body)
        except ValueError:
            self._anomaly("tls-bad-new-session-ticket")
            return
        if ticket:
            self.ticket = ticket
            if self._master is not None and self.keylog is not None:
                self.keylog.remember(ticket, self._master)

    # ---- keys (analyzer.core.tlscrypt imports cryptography: imported here, when needed)
    def _setup12(self) -> None:
        """TLS 1.2 decryptors at the first ChangeCipherSpec (see the module docstring)."""
        self._keys = True
        keylog = self.keylog
        if keylog is None:
            return
        if self.negotiated != TLS12:
            self._why(f"{UNSUPPORTED_VERSION} {version_name(self.negotiated)}")
            return
        if not self.client_random:
            self._why(AFTER_HANDSHAKE)
            return
        secrets = keylog.secrets(self.client_random) or {}
        master = secrets.get("CLIENT_RANDOM")
        if master is None and self.kind == "resumed":
            for key in (self.offered_ticket, self.server_session_id):
                if key and master is None:
                    master = keylog.recall(key)
            if master is None:
                self._why(RESUMED_UNKNOWN)
                return
        if master is None:
            self._why(NO_SECRET)
            return
        self._master = master
        if self.server_session_id:
            keylog.remember(self.server_session_id, master)
        if self.ticket:
            keylog.remember(self.ticket, master)
        tlscrypt = self._crypto()
        if tlscrypt is None:
            return
        try:
            client, server = tlscrypt.tls12_decryptors(
                self.suite, master, self.client_random, self.server_random
            )
        except tlscrypt.UnsupportedSuite:
            self._why(f"{UNSUPPORTED_SUITE} {suite_name(self.suite)}")
            return
        except ValueError:
            self._why(DECRYPTION_FAILED)
            return
        self.sides[0].dec, self.sides[1].dec = client, server
        self.sides[0].phase = self.sides[1].phase = _APPLICATION_KEYS

    def _setup13(self) -> None:
        """TLS 1.3 decryptors at the ServerHello (see the module docstring)."""
        self._keys = True
        keylog = self.keylog
        if keylog is None:
            return
        secrets = keylog.secrets(self.client_random) if self.client_random else None
        if not secrets:
            self._why(NO_SECRET if self.client_random else AFTER_HANDSHAKE)
            return
        tlscrypt = self._crypto()
        if tlscrypt is None:
            return
        labels = (
            ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0"),
            ("SERVER_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0"),
        )
        for side, (hs_label, app_label) in zip(self.sides, labels, strict=True):
            handshake, application = secrets.get(hs_label), secrets.get(app_label)
            try:
                if handshake is not None:
                    side.dec = tlscrypt.tls13_decryptor(self.suite, handshake)
                    side.phase = _HANDSHAKE_KEYS
                    side._next = application
                    # after 0-RTT the client's EndOfEarlyData uses the early key
                    side.probe = side.direction == 0 and self.early_data
                elif application is not None:
                    side.dec = tlscrypt.tls13_decryptor(self.suite, application)
                    side.phase = _APPLICATION_KEYS
                    side._secret = application
                    side.probe = True  # the handshake records will not authenticate
                else:
                    self._why(NO_SECRET)
            except tlscrypt.UnsupportedSuite:
                self._why(f"{UNSUPPORTED_SUITE} {suite_name(self.suite)}")
                return
            except ValueError:
                self._why(DECRYPTION_FAILED)
                return

    def _crypto(self) -> ModuleType | None:
        """:mod:`analyzer.core.tlscrypt` (imported here, when keys are first needed: a
        capture without secrets never loads ``cryptography``), or None when
        ``cryptography`` is missing (the reason says so)."""
        try:
            from analyzer.core import tlscrypt
        except ImportError:
            self._why(NO_CRYPTOGRAPHY)
            return None
        return tlscrypt

    def _application_keys(self, side: TlsSide) -> None:
        """TLS 1.3: this side's Finished went by; its application secret from now on."""
        secret, side._next = side._next, None
        side.dec = None
        side.phase = _NONE
        if secret is None:
            self._why(NO_SECRET)
            return
        tlscrypt = self._crypto()
        if tlscrypt is None:
            return
        try:
            side.dec = tlscrypt.tls13_decryptor(self.suite, secret)
        except (tlscrypt.UnsupportedSuite, ValueError):
            self._why(DECRYPTION_FAILED)
            return
        side._secret = secret
        side.phase = _APPLICATION_KEYS

    def _key_update(self, side: TlsSide) -> None:
        """TLS 1.3 KeyUpdate (RFC 8446 §4.6.3): the sender's next records use the next
        secret. (update_requested needs nothing here: the peer's own KeyUpdate follows.)"""
        side.dec = None
        if side._secret is None:
            return
        tlscrypt = self._crypto()
        if tlscrypt is None:
            return
        try:
            secret = tlscrypt.tls13_next_secret(self.suite, side._secret)
            side.dec = tlscrypt.tls13_decryptor(self.suite, secret)
        except (tlscrypt.UnsupportedSuite, ValueError):
            side.dec = None
            self._why(DECRYPTION_FAILED)
            return
        side._secret = secret

    def _decrypt(
        self, side: TlsSide, head: bytes, frag: bytes, ts: float
    ) -> tuple[int, bytes] | None:
        dec = side.dec
        if dec is None:
            return None
        try:
            result = dec.decrypt(head, frag)
        except (ValueError, TypeError, OverflowError):
            result = None
        if result is None:
            if side.probe:
                return None  # not this key's record: skipped
            side.dec = None
            self._anomaly("tls-decrypt-failed")
            self._why(DECRYPTION_FAILED)
            if self.inner is not None:  # the readers lose this side's bytes from here
                self.inner[side.direction].gap(len(frag), ts)
            return None
        side.probe = False
        return result
