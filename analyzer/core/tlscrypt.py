"""TLS record decryption with keys from a key log: cipher suites, key derivation, AEAD.

The only core module besides :mod:`analyzer.core.keylog` that touches key material, and the
only one that imports ``cryptography``; the TLS reader imports it lazily, when a key log
was given.

Theory of operation
-------------------
Only AEAD cipher suites are decrypted (:data:`SUITES`): AES-GCM and ChaCha20-Poly1305, in
TLS 1.2 and TLS 1.3. CBC/HMAC, RC4, 3DES and AES-CCM suites are named by
:func:`suite_name` (so the output can say which one it was) and refused with
:class:`UnsupportedSuite`.

*TLS 1.2* (RFC 5246 §6.3, §5): the key log gives the master secret; the key block is
``PRF(master_secret, "key expansion", server_random + client_random)`` with the suite's
hash as P_hash, cut into client_write_key, server_write_key, client_write_IV,
server_write_IV (AEAD suites have no MAC keys). :func:`tls12_decryptors` returns one
:class:`Decryptor` per direction. Record protection:

* AES-GCM (RFC 5288 §3): the fragment starts with an 8-byte explicit nonce; the nonce is
  the 4-byte implicit salt (the write IV) followed by it;
* ChaCha20-Poly1305 (RFC 7905 §2): the nonce is the 12-byte write IV XOR the sequence
  number (left-padded to 12 bytes), no explicit part;
* both authenticate ``seq_num(8) + type + version + plaintext length`` (RFC 5246 §6.2.3.3).

*TLS 1.3* (RFC 8446 §7.1, §7.3): the key log gives each direction's traffic secrets; the
record key and IV are ``HKDF-Expand-Label(secret, "key" / "iv", "", length)``
(:func:`tls13_decryptor`). The nonce is the IV XOR the padded sequence number, the
additional data is the 5-byte record header (§5.2), and the plaintext is
``content || type || zeros``: the padding zeros are stripped and the last non-zero byte is
the true content type (§5.4). A KeyUpdate moves a direction to
``HKDF-Expand-Label(secret, "traffic upd", "", Hash.length)`` (:func:`tls13_next_secret`).

Each :class:`Decryptor` counts records in ``seq`` (RFC 5246 §6.1, RFC 8446 §5.3): it
starts at 0 with each new key and advances only when a record authenticates, so a record
that fails (wrong key, damaged bytes) leaves the state as it was and the caller may try
another key. A record missed by the capture makes every later one fail: the sequence
number is part of the nonce or the additional data.

Key material lives only in the AEAD objects and derivation locals: no ``repr``, ``str`` or
exception message here ever contains a key, an IV or a secret.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from analyzer.core.tlsnames import SUITE_NAMES

AES_GCM: Final = "AES-GCM"
CHACHA20_POLY1305: Final = "ChaCha20-Poly1305"
TAG_LEN: Final = 16  # both AEADs, RFC 5116 / RFC 8439
EXPLICIT_NONCE_LEN: Final = 8  # TLS 1.2 AES-GCM, RFC 5288 §3
NONCE_LEN: Final = 12
MASTER_SECRET_LEN: Final = 48
RANDOM_LEN: Final = 32


@dataclass(frozen=True, slots=True)
class Suite:
    """What decryption needs to know about one AEAD cipher suite."""

    code: int
    name: str  # IANA name
    version: str  # "1.2" or "1.3"
    aead: str  # AES_GCM or CHACHA20_POLY1305
    key_len: int
    iv_len: int  # TLS 1.2 GCM: the 4-byte implicit salt; otherwise the 12-byte IV
    hash: str  # "sha256" or "sha384": the PRF / HKDF hash


def _suite(code: int, name: str, version: str, aead: str, key_len: int, hash_: str) -> Suite:
    iv_len = 4 if version == "1.2" and aead == AES_GCM else NONCE_LEN
    return Suite(code, name, version, aead, key_len, iv_len, hash_)


SUITES: Final[dict[int, Suite]] = {
    s.code: s
    for s in (
        _suite(0x1301, "TLS_AES_128_GCM_SHA256", "1.3", AES_GCM, 16, "sha256"),
        _suite(0x1302, "TLS_AES_256_GCM_SHA384", "1.3", AES_GCM, 32, "sha384"),
        _suite(0x1303, "TLS_CHACHA20_POLY1305_SHA256", "1.3", CHACHA20_POLY1305, 32, "sha256"),
        _suite(0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "1.2", AES_GCM, 16, "sha256"),
        _suite(0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "1.2", AES_GCM, 32, "sha384"),
        _suite(0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "1.2", AES_GCM, 16, "sha256"),
        _suite(0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "1.2", AES_GCM, 32, "sha384"),
        _suite(0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "1.2",
               CHACHA20_POLY1305, 32, "sha256"),
        _suite(0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "1.2",
               CHACHA20_POLY1305, 32, "sha256"),
        _suite(0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "1.2",
               CHACHA20_POLY1305, 32, "sha256"),
        _suite(0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", "1.2", AES_GCM, 16, "sha256"),
        _suite(0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", "1.2", AES_GCM, 32, "sha384"),
        _suite(0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "1.2", AES_GCM, 16, "sha256"),
        _suite(0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "1.2", AES_GCM, 32, "sha384"),
    )
}
"""The decryptable cipher suites by code."""

_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
}
_HASH_LEN: Final[dict[str, int]] = {"sha256": 32, "sha384": 48}


def suite_name(code: int) -> str:
    """The IANA name of a cipher suite, or ``0x1234`` for a code not in the tables."""
    suite = SUITES.get(code)
    if suite is not None:
        return suite.name
    return SUITE_NAMES.get(code, f"0x{code & 0xFFFF:04x}")


class UnsupportedSuite(Exception):
    """The connection's cipher suite cannot be decrypted (not an AEAD suite here, or not
    the suite's TLS version); the message names the suite, never a key."""

    def __init__(self, code: int, why: str = "not supported for decryption") -> None:
        self.code = code
        super().__init__(f"cipher suite {suite_name(code)} ({code:#06x}): {why}")


def _lookup(code: int, version: str) -> Suite:
    suite = SUITES.get(code)
    if suite is None:
        raise UnsupportedSuite(code)
    if suite.version != version:
        raise UnsupportedSuite(code, f"a TLS {suite.version} suite, not TLS {version}")
    return suite


# ---------------------------------------------------------------------------- derivation
def _hmac(hash_name: str, key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, _HASHES[hash_name]())
    mac.update(data)
    return mac.finalize()


def tls12_prf(hash_name: str, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """The TLS 1.2 PRF (RFC 5246 §5): ``P_hash(secret, label + seed)`` cut to ``length``.

    ``P_hash = HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + …`` with
    ``A(0) = seed`` and ``A(i) = HMAC(secret, A(i-1))``."""
    seed = label + seed
    out = b""
    a = seed
    while len(out) < length:
        a = _hmac(hash_name, secret, a)
        out += _hmac(hash_name, secret, a + seed)
    return out[:length]


def hkdf_expand_label(
    hash_name: str, secret: bytes, label: bytes, context: bytes, length: int
) -> bytes:
    """HKDF-Expand-Label (RFC 8446 §7.1): HKDF-Expand(secret, HkdfLabel, length) where
    ``HkdfLabel = uint16 length, opaque label<7..255> = "tls13 " + label,
    opaque context<0..255>``."""
    full_label = b"tls13 " + label
    info = (
        struct.pack("!HB", length, len(full_label)) + full_label
        + struct.pack("!B", len(context)) + context
    )
    return HKDFExpand(_HASHES[hash_name](), length, info).derive(secret)


# ---------------------------------------------------------------------------- records
class Decryptor:
    """Decrypts one direction's TLS records with one key, in order; see the module
    docstring. ``seq`` is the sequence number of the next record."""

    __slots__ = ("suite", "seq", "_aead", "_iv", "_tls13", "_explicit")

    def __init__(self, suite: Suite, key: bytes, iv: bytes) -> None:
        if len(key) != suite.key_len or len(iv) != suite.iv_len:
            raise ValueError(f"wrong key or IV length for {suite.name}")
        self.suite = suite
        self.seq = 0
        self._aead: AESGCM | ChaCha20Poly1305 = (
            AESGCM(key) if suite.aead == AES_GCM else ChaCha20Poly1305(key)
        )
        self._iv = iv
        self._tls13 = suite.version == "1.3"
        # TLS 1.2 AES-GCM carries 8 nonce bytes in each record; the others derive the
        # whole nonce from the IV and the sequence number
        self._explicit = not self._tls13 and suite.aead == AES_GCM

    def _xor_nonce(self) -> bytes:
        padded = self.seq.to_bytes(NONCE_LEN, "big")
        return bytes(a ^ b for a, b in zip(self._iv, padded, strict=True))

    def decrypt(self, header: bytes, fragment: bytes) -> tuple[int, bytes] | None:
        """(content type, plaintext) of one record, given its 5-byte header as on the wire
        and its body; None when it does not authenticate (``seq`` then stays). A TLS 1.3
        record whose plaintext is all padding gives content type 0 (a protocol error the
        caller may record)."""
        if len(header) != 5:
            return None
        if self._explicit:
            if len(fragment) < EXPLICIT_NONCE_LEN + TAG_LEN:
                return None
            nonce = self._iv + fragment[:EXPLICIT_NONCE_LEN]
            ciphertext = fragment[EXPLICIT_NONCE_LEN:]
        else:
            if len(fragment) < TAG_LEN:
                return None
            nonce = self._xor_nonce()
            ciphertext = fragment
        if self._tls13:
            aad = bytes(header)
        else:
            # seq_num + TLSCompressed.type + version + length (RFC 5246 §6.2.3.3)
            aad = struct.pack(
                "!QB2sH", self.seq, header[0], header[1:3], len(ciphertext) - TAG_LEN
            )
        try:
            plaintext = self._aead.decrypt(nonce, bytes(ciphertext), aad)
        except InvalidTag:
            return None
        self.seq += 1
        if not self._tls13:
            return header[0], plaintext
        # TLSInnerPlaintext: content || ContentType type || uint8 zeros[] (RFC 8446 §5.4)
        end = len(plaintext.rstrip(b"\0"))
        if end == 0:
            return 0, b""
        return plaintext[end - 1], plaintext[: end - 1]

    def __repr__(self) -> str:
        return f"Decryptor({self.suite.name}, seq={self.seq})"

    __str__ = __repr__


def tls12_decryptors(
    suite: int, master_secret: bytes, client_random: bytes, server_random: bytes
) -> tuple[Decryptor, Decryptor]:
    """(client-write, server-write) decryptors of a TLS 1.2 connection (RFC 5246 §6.3);
    raises :class:`UnsupportedSuite` for a suite that is not a TLS 1.2 AEAD suite here."""
    s = _lookup(suite, "1.2")
    if len(master_secret) != MASTER_SECRET_LEN:
        raise ValueError(f"a TLS 1.2 master secret is {MASTER_SECRET_LEN} bytes")
    if len(client_random) != RANDOM_LEN or len(server_random) != RANDOM_LEN:
        raise ValueError(f"client and server randoms are {RANDOM_LEN} bytes")
    block = tls12_prf(
        s.hash,
        bytes(master_secret),
        b"key expansion",
        bytes(server_random) + bytes(client_random),
        2 * (s.key_len + s.iv_len),
    )
    k, i = s.key_len, s.iv_len
    client_key, server_key = block[:k], block[k : 2 * k]
    client_iv, server_iv = block[2 * k : 2 * k + i], block[2 * k + i : 2 * k + 2 * i]
    return Decryptor(s, client_key, client_iv), Decryptor(s, server_key, server_iv)


def tls13_decryptor(suite: int, traffic_secret: bytes) -> Decryptor:
    """A TLS 1.3 decryptor for one direction from one traffic secret (a handshake,
    application or early traffic secret from the key log; RFC 8446 §7.3); raises
    :class:`UnsupportedSuite` for a suite that is not a TLS 1.3 suite here."""
    s = _lookup(suite, "1.3")
    secret = bytes(traffic_secret)
    key = hkdf_expand_label(s.hash, secret, b"key", b"", s.key_len)
    iv = hkdf_expand_label(s.hash, secret, b"iv", b"", s.iv_len)
    return Decryptor(s, key, iv)


def tls13_next_secret(suite: int, secret: bytes) -> bytes:
    """The next application traffic secret after a KeyUpdate (RFC 8446 §7.2)."""
    s = _lookup(suite, "1.3")
    return hkdf_expand_label(s.hash, bytes(secret), b"traffic upd", b"", _HASH_LEN[s.hash])
