"""TLS record decryption: known answers (RFC 8448 §3, the TLS 1.2 PRF vectors), real
conversations made by OpenSSL (tests/tlsgen.py) decrypted from their key logs, damaged
records, and key material kept out of every message."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from analyzer.core import tlscrypt as tc
from analyzer.core.keylog import KeyLog
from tests import tlsgen

HANDSHAKE, CCS, ALERT, APPDATA = 22, 20, 21, 23
CLOSE_NOTIFY = b"\x01\x00"

# ---------------------------------------------------------------------------- RFC 8448 §3
# "Simple 1-RTT Handshake", TLS_AES_128_GCM_SHA256: the traffic secrets, the keys and IVs
# derived from them, and complete records as printed in the RFC.
RFC8448 = {
    "client_hs": ("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21",
                  "dbfaa693d1762c5b666af5d950258d01", "5bd3c71b836e0b76bb73265f"),
    "server_hs": ("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38",
                  "3fce516009c21727d0f2e4e86ee403bc", "5d313eb2671276ee13000b30"),
    "client_ap": ("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5",
                  "17422dda596ed5d9acd890e3c63f5051", "5b78923dee08579033e523d9"),
    "server_ap": ("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643",
                  "9f02283b6c9c07efc26bb9f2ac92e356", "cf782b88dd83549aadf1e984"),
}
RFC8448_CLIENT_FINISHED = bytes.fromhex(
    "1703030035"
    "75ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc44d87f38f80338ac98fc46deb384bd1c"
    "aeacab6867d726c40546"
)
RFC8448_CLIENT_VERIFY_DATA = bytes.fromhex(
    "a8ec436d677634ae525ac1fcebe11a039ec17694fac6e98527b642f2edd5ce61"
)
RFC8448_SERVER_TICKET = bytes.fromhex(
    "17030300de3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d41d6af8f6b580dcf3d11d63"
    "c758db289a015940252f55713e061dc13e078891a38efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b"
    "9fa1b6c0d4a3d03f75e09c30ba1e62972ac46f75f7b981be63439b2999ce13064615139891d5e4c5b406f1"
    "6e3fc181a77ca475840025db2f0a77f81b5ab05b94c01346755f69232c86519d86cbeeac87aac347d143f9"
    "605d64f650db4d023e70e952ca49fe5137121c74bc2697687e248746d6df353005f3bce18696129c815355"
    "6b3b6c6779b37bf15985684f"
)
RFC8448_CLIENT_DATA = bytes.fromhex(
    "1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a"
    "9a20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4"
)
RFC8448_SERVER_DATA = bytes.fromhex(
    "17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602d"
    "cb501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d"
)
RFC8448_CLIENT_ALERT = bytes.fromhex("1703030013c9872760655666b74d7ff1153efd6db6d0b0e3")
RFC8448_SERVER_ALERT = bytes.fromhex("1703030013b58fd67166ebf599d24720cfbe7efa7a8864a9")
RFC8448_PAYLOAD = bytes(range(0x32))  # 50 bytes 00..31, each way


def _split(record: bytes) -> tuple[bytes, bytes]:
    return record[:5], record[5:]


@pytest.mark.parametrize("name", sorted(RFC8448))
def test_rfc8448_key_and_iv(name: str) -> None:
    secret, key, iv = (bytes.fromhex(h) for h in RFC8448[name])
    assert tc.hkdf_expand_label("sha256", secret, b"key", b"", 16) == key
    assert tc.hkdf_expand_label("sha256", secret, b"iv", b"", 12) == iv


def test_rfc8448_records_decrypt() -> None:
    def secret(name: str) -> bytes:
        return bytes.fromhex(RFC8448[name][0])

    client_hs = tc.tls13_decryptor(0x1301, secret("client_hs"))
    assert client_hs.decrypt(*_split(RFC8448_CLIENT_FINISHED)) == (
        HANDSHAKE, b"\x14\x00\x00\x20" + RFC8448_CLIENT_VERIFY_DATA
    )
    client = tc.tls13_decryptor(0x1301, secret("client_ap"))
    assert client.decrypt(*_split(RFC8448_CLIENT_DATA)) == (APPDATA, RFC8448_PAYLOAD)
    assert client.decrypt(*_split(RFC8448_CLIENT_ALERT)) == (ALERT, CLOSE_NOTIFY)
    assert client.seq == 2
    server = tc.tls13_decryptor(0x1301, secret("server_ap"))
    ticket = server.decrypt(*_split(RFC8448_SERVER_TICKET))  # seq 0: NewSessionTicket
    assert ticket is not None and ticket[0] == HANDSHAKE
    assert ticket[1][:4] == b"\x04\x00\x00\xc9" and len(ticket[1]) == 4 + 0xC9
    assert server.decrypt(*_split(RFC8448_SERVER_DATA)) == (APPDATA, RFC8448_PAYLOAD)
    assert server.decrypt(*_split(RFC8448_SERVER_ALERT)) == (ALERT, CLOSE_NOTIFY)


def test_rfc8448_out_of_order_or_wrong_key_fails_and_keeps_seq() -> None:
    server = tc.tls13_decryptor(0x1301, bytes.fromhex(RFC8448["server_ap"][0]))
    assert server.decrypt(*_split(RFC8448_SERVER_DATA)) is None  # seq 1's record at seq 0
    assert server.seq == 0
    client = tc.tls13_decryptor(0x1301, bytes.fromhex(RFC8448["client_hs"][0]))
    assert client.decrypt(*_split(RFC8448_CLIENT_DATA)) is None  # handshake key, app record
    assert client.seq == 0


# ---------------------------------------------------------------------------- derivations
def test_tls12_prf_published_vectors() -> None:
    # the P_SHA256 vector circulated on the IETF TLS list (also in OpenSSL's and NSS's tests)
    out = tc.tls12_prf(
        "sha256", bytes.fromhex("9bbe436ba940f017b17652849a71db35"), b"test label",
        bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c"), 100,
    )
    assert out.hex() == (
        "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a4"
        "6b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d1"
        "22ee42c5a72e5a5110fff70187347b66"
    )
    # P_SHA384 (checked against `openssl kdf -kdfopt digest:SHA2-384 … TLS1-PRF`)
    out = tc.tls12_prf(
        "sha384", bytes.fromhex("b80b733d6ceefcdc71566ea48e5567df"), b"test label",
        bytes.fromhex("cd665cf6a8447dd6ff8b27555edb7465"), 48,
    )
    assert out.hex() == (
        "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0faa60be9fe34f82"
        "b1233c9146a0"
    )


@pytest.mark.parametrize("suite, hash_name, size", [(0x1301, "sha256", 32),
                                                    (0x1302, "sha384", 48),
                                                    (0x1303, "sha256", 32)])
def test_tls13_next_secret_is_hkdf_expand_label_traffic_upd(
    suite: int, hash_name: str, size: int
) -> None:
    """RFC 8446 §7.2, computed independently: HKDF-Expand of one block is
    HMAC(secret, HkdfLabel || 0x01) (RFC 5869 §2.3), with HkdfLabel spelled out by hand."""
    secret = bytes(range(size))
    label = b"tls13 traffic upd"
    info = struct.pack("!H", size) + bytes([len(label)]) + label + b"\x00"
    expected = hmac.new(secret, info + b"\x01", getattr(hashlib, hash_name)).digest()
    assert tc.tls13_next_secret(suite, secret) == expected
    assert tc.tls13_next_secret(suite, expected) != expected


# ---------------------------------------------------------------------------- suites
def test_suite_table() -> None:
    assert set(tc.SUITES) == {
        0x1301, 0x1302, 0x1303, 0xC02B, 0xC02C, 0xC02F, 0xC030, 0xCCA8, 0xCCA9, 0xCCAA,
        0x009C, 0x009D, 0x009E, 0x009F,
    }
    for code, s in tc.SUITES.items():
        assert s.code == code
        assert (s.hash == "sha384") == ("SHA384" in s.name)
        assert s.key_len == (16 if "128" in s.name else 32)
        assert s.version == ("1.3" if code >> 8 == 0x13 else "1.2")
        assert s.aead == (tc.CHACHA20_POLY1305 if "CHACHA20" in s.name else tc.AES_GCM)
        assert s.iv_len == (4 if s.version == "1.2" and s.aead == tc.AES_GCM else 12)


def test_suite_names() -> None:
    assert tc.suite_name(0xC02F) == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert tc.suite_name(0x1303) == "TLS_CHACHA20_POLY1305_SHA256"
    assert tc.suite_name(0xC013) == "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
    assert tc.suite_name(0x1304) == "TLS_AES_128_CCM_SHA256"
    assert tc.suite_name(0x0A0A) == "0x0a0a"  # GREASE / unknown


@pytest.mark.parametrize("call", [
    lambda: tc.tls12_decryptors(0xC013, bytes(48), bytes(32), bytes(32)),  # CBC
    lambda: tc.tls12_decryptors(0xC0AC, bytes(48), bytes(32), bytes(32)),  # CCM
    lambda: tc.tls12_decryptors(0x1301, bytes(48), bytes(32), bytes(32)),  # a 1.3 suite
    lambda: tc.tls13_decryptor(0xC02F, bytes(32)),  # a 1.2 suite
    lambda: tc.tls13_decryptor(0x1304, bytes(32)),
    lambda: tc.tls13_next_secret(0x0A0A, bytes(32)),
])
def test_unsupported_suites_raise(call: object) -> None:
    with pytest.raises(tc.UnsupportedSuite) as info:
        call()  # type: ignore[operator]
    assert "cipher suite" in str(info.value)
    assert info.value.code in (0xC013, 0xC0AC, 0x1301, 0xC02F, 0x1304, 0x0A0A)


# ---------------------------------------------------------------------------- real TLS 1.2
def decrypt_tls12(conv: tlsgen.Conv, master: bytes) -> list[list[tuple[int, bytes]]]:
    """Per direction, every record after ChangeCipherSpec decrypted (None fails the test)."""
    decryptors = tc.tls12_decryptors(conv.suite, master, conv.client_random, conv.server_random)
    out: list[list[tuple[int, bytes]]] = [[], []]
    for side in (0, 1):
        protected = False
        for ctype, header, fragment in tlsgen.records(conv.stream(side)):
            if ctype == CCS:
                protected = True
            elif protected:
                result = decryptors[side].decrypt(header, fragment)
                assert result is not None, f"side {side} record {len(out[side])}"
                out[side].append(result)
    return out


def app_data(records: list[tuple[int, bytes]]) -> bytes:
    return b"".join(data for ctype, data in records if ctype == APPDATA)


REQUESTS = [b"GET /a HTTP/1.1\r\nHost: example.test\r\n\r\n", b"GET /b HTTP/1.1\r\n\r\n"]
RESPONSES = [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
             b"HTTP/1.1 200 OK\r\nContent-Length: 40000\r\n\r\n" + b"z" * 40000]


@pytest.mark.parametrize("ciphers, suite", [
    ("ECDHE-RSA-AES128-GCM-SHA256", 0xC02F),
    ("ECDHE-RSA-AES256-GCM-SHA384", 0xC030),
    ("ECDHE-RSA-CHACHA20-POLY1305", 0xCCA8),
    ("AES128-GCM-SHA256", 0x009C),
    ("AES256-GCM-SHA384", 0x009D),
])
def test_tls12_conversation_decrypts(ciphers: str, suite: int) -> None:
    conv = tlsgen.tls_conversation("1.2", REQUESTS, RESPONSES, ciphers=ciphers)
    assert conv.suite == suite and conv.version == "1.2"
    log = KeyLog(conv.keylog)
    found = log.secrets(conv.client_random)
    assert found is not None
    client, server = decrypt_tls12(conv, found["CLIENT_RANDOM"])
    for records in (client, server):
        assert records[0][0] == HANDSHAKE and records[0][1][:4] == b"\x14\x00\x00\x0c"  # Finished
        assert records[-1] == (ALERT, CLOSE_NOTIFY)
    assert app_data(client) == b"".join(REQUESTS)
    assert app_data(server) == b"".join(RESPONSES)
    assert len(server) > 4  # the 40 kB body spans several records


def test_tls12_resumed_session_decrypts_with_the_first_master_secret() -> None:
    """What KeyLog.remember/recall is for: a resumed TLS 1.2 session keeps the master
    secret of the connection that made it."""
    first = tlsgen.tls_conversation("1.2", ciphers="ECDHE-RSA-AES128-GCM-SHA256")
    again = tlsgen.tls_conversation("1.2", ciphers="ECDHE-RSA-AES128-GCM-SHA256",
                                    session=first.session)
    assert again.resumed and again.client_random != first.client_random
    master = KeyLog(first.keylog).secrets(first.client_random)
    assert master is not None
    client, server = decrypt_tls12(again, master["CLIENT_RANDOM"])
    assert app_data(client) == b"".join(tlsgen.DEFAULT_REQUESTS)
    assert app_data(server) == b"".join(tlsgen.DEFAULT_RESPONSES)


# ---------------------------------------------------------------------------- real TLS 1.3
def decrypt_tls13(conv: tlsgen.Conv) -> list[list[tuple[int, bytes]]]:
    """Per direction, every protected record, each tried with the application key, then
    the handshake key (the way the TLS reader may do it without parsing handshakes)."""
    found = KeyLog(conv.keylog).secrets(conv.client_random)
    assert found is not None
    out: list[list[tuple[int, bytes]]] = [[], []]
    for side, prefix in ((0, "CLIENT"), (1, "SERVER")):
        app = tc.tls13_decryptor(conv.suite, found[f"{prefix}_TRAFFIC_SECRET_0"])
        hs = tc.tls13_decryptor(conv.suite, found[f"{prefix}_HANDSHAKE_TRAFFIC_SECRET"])
        for ctype, header, fragment in tlsgen.records(conv.stream(side)):
            if ctype != APPDATA:  # ClientHello/ServerHello, middlebox-compatibility CCS
                continue
            result = app.decrypt(header, fragment) or hs.decrypt(header, fragment)
            assert result is not None, f"side {side} record {len(out[side])}"
            out[side].append(result)
    return out


def check_tls13(conv: tlsgen.Conv, requests: list[bytes], responses: list[bytes]) -> None:
    client, server = decrypt_tls13(conv)
    assert app_data(client) == b"".join(requests)
    assert app_data(server) == b"".join(responses)
    # the client's Finished came first, under its handshake key
    assert client[0][0] == HANDSHAKE and client[0][1][0] == 20
    # the server's flight: EncryptedExtensions first
    assert server[0][0] == HANDSHAKE and server[0][1][0] == 8
    handshake_types = [data[0] for ctype, data in server if ctype == HANDSHAKE]
    assert 20 in handshake_types  # its Finished
    assert client[-1] == (ALERT, CLOSE_NOTIFY) and server[-1] == (ALERT, CLOSE_NOTIFY)


def test_tls13_conversation_decrypts() -> None:
    conv = tlsgen.tls_conversation("1.3", REQUESTS, RESPONSES, alpn=["http/1.1"])
    assert conv.suite == 0x1302 and conv.version == "1.3"  # OpenSSL's first choice
    check_tls13(conv, REQUESTS, RESPONSES)
    _, server = decrypt_tls13(conv)
    assert 4 in [data[0] for ctype, data in server if ctype == HANDSHAKE]  # NewSessionTicket


def test_tls13_resumed_conversation_decrypts() -> None:
    first = tlsgen.tls_conversation("1.3")
    again = tlsgen.tls_conversation("1.3", session=first.session)
    assert again.resumed
    check_tls13(again, list(tlsgen.DEFAULT_REQUESTS), list(tlsgen.DEFAULT_RESPONSES))


@pytest.mark.parametrize("suites, code", [
    ("TLS_CHACHA20_POLY1305_SHA256", 0x1303),
    ("TLS_AES_128_GCM_SHA256", 0x1301),
])
def test_tls13_other_suites_decrypt(suites: str, code: int) -> None:
    """Python's ssl cannot pick a TLS 1.3 suite; tlsgen runs OpenSSL with a config that does."""
    conv = tlsgen.tls_conversation("1.3", REQUESTS, RESPONSES, tls13_suites=suites)
    if conv.suite != code:
        pytest.skip(f"this OpenSSL ignored Ciphersuites={suites}")
    check_tls13(conv, REQUESTS, RESPONSES)


# ---------------------------------------------------------------------------- self-consistency
def _tls13_record(suite: int, secret: bytes, seq: int, ctype: int, body: bytes,
                  padding: int = 0) -> tuple[bytes, bytes]:
    """Protect one record as RFC 8446 §5.2 says, with keys derived here from the secret."""
    s = tc.SUITES[suite]
    key = tc.hkdf_expand_label(s.hash, secret, b"key", b"", s.key_len)
    iv = tc.hkdf_expand_label(s.hash, secret, b"iv", b"", 12)
    nonce = (int.from_bytes(iv, "big") ^ seq).to_bytes(12, "big")
    inner = body + bytes([ctype]) + bytes(padding)
    header = struct.pack("!BHH", APPDATA, 0x0303, len(inner) + 16)
    aead = AESGCM(key) if s.aead == tc.AES_GCM else ChaCha20Poly1305(key)
    return header, aead.encrypt(nonce, inner, header)


@pytest.mark.parametrize("suite", [0x1301, 0x1302, 0x1303])
def test_tls13_every_suite_against_independent_encryption(suite: int) -> None:
    secret = bytes(range(48 if suite == 0x1302 else 32))
    dec = tc.tls13_decryptor(suite, secret)
    assert dec.decrypt(*_tls13_record(suite, secret, 0, HANDSHAKE, b"\x08\0\0\0")) == (
        HANDSHAKE, b"\x08\0\0\0"
    )
    assert dec.decrypt(*_tls13_record(suite, secret, 1, APPDATA, b"GET", padding=100)) == (
        APPDATA, b"GET"
    )
    assert dec.decrypt(*_tls13_record(suite, secret, 2, APPDATA, b"")) == (APPDATA, b"")
    # all padding, no content type: authenticated, but type 0 (a protocol error)
    header, fragment = _tls13_record(suite, secret, 3, 0, b"", padding=5)
    assert dec.decrypt(header, fragment) == (0, b"")
    assert dec.seq == 4
    nxt = tc.tls13_next_secret(suite, secret)
    updated = tc.tls13_decryptor(suite, nxt)
    assert updated.decrypt(*_tls13_record(suite, nxt, 0, APPDATA, b"after KeyUpdate")) == (
        APPDATA, b"after KeyUpdate"
    )


def _tls12_record(suite: int, key: bytes, iv: bytes, seq: int, ctype: int,
                  body: bytes) -> tuple[bytes, bytes]:
    """Protect one TLS 1.2 record: RFC 5288 §3 (AES-GCM), RFC 7905 §2 (ChaCha20)."""
    s = tc.SUITES[suite]
    aad = struct.pack("!QBHH", seq, ctype, 0x0303, len(body))
    if s.aead == tc.AES_GCM:
        explicit = (seq * 7919 + 5).to_bytes(8, "big")  # any value; sent in the record
        fragment = explicit + AESGCM(key).encrypt(iv + explicit, body, aad)
    else:
        nonce = (int.from_bytes(iv, "big") ^ seq).to_bytes(12, "big")
        fragment = ChaCha20Poly1305(key).encrypt(nonce, body, aad)
    return struct.pack("!BHH", ctype, 0x0303, len(fragment)), fragment


@pytest.mark.parametrize("suite", sorted(c for c, s in tc.SUITES.items() if s.version == "1.2"))
def test_tls12_every_suite_against_independent_encryption(suite: int) -> None:
    s = tc.SUITES[suite]
    master, client_random, server_random = bytes(range(48)), b"c" * 32, b"s" * 32
    block = tc.tls12_prf(s.hash, master, b"key expansion", server_random + client_random,
                         2 * (s.key_len + s.iv_len))
    ck, sk = block[: s.key_len], block[s.key_len : 2 * s.key_len]
    civ = block[2 * s.key_len : 2 * s.key_len + s.iv_len]
    siv = block[2 * s.key_len + s.iv_len :]
    client, server = tc.tls12_decryptors(suite, master, client_random, server_random)
    for seq, body in enumerate([b"\x14\x00\x00\x0c" + bytes(12), b"hello", b""]):
        ctype = HANDSHAKE if seq == 0 else APPDATA
        assert client.decrypt(*_tls12_record(suite, ck, civ, seq, ctype, body)) == (ctype, body)
        assert server.decrypt(*_tls12_record(suite, sk, siv, seq, ctype, body)) == (ctype, body)
    # the client's key does not open the server's records
    assert client.decrypt(*_tls12_record(suite, sk, siv, 3, APPDATA, b"x")) is None


# ---------------------------------------------------------------------------- damage
@pytest.mark.parametrize("where", ["header-type", "header-version", "nonce", "body", "tag"])
def test_tampered_tls12_record_fails_and_keeps_seq(where: str) -> None:
    conv = tlsgen.tls_conversation("1.2", ciphers="ECDHE-RSA-AES128-GCM-SHA256")
    found = KeyLog(conv.keylog).secrets(conv.client_random)
    assert found is not None
    client, _ = tc.tls12_decryptors(conv.suite, found["CLIENT_RANDOM"], conv.client_random,
                                    conv.server_random)
    records = tlsgen.records(conv.stream(0))
    after_ccs = [t for t, _, _ in records].index(CCS) + 1
    _, header, fragment = records[after_ccs]  # the client's Finished
    bad_header, bad_fragment = bytearray(header), bytearray(fragment)
    if where == "header-type":
        bad_header[0] = APPDATA
    elif where == "header-version":
        bad_header[2] ^= 0x01  # the version byte: part of the additional data
    elif where == "nonce":
        bad_fragment[0] ^= 0x80
    elif where == "body":
        bad_fragment[10] ^= 0x01
    else:
        bad_fragment[-1] ^= 0x01
    assert client.decrypt(bytes(bad_header), bytes(bad_fragment)) is None
    assert client.seq == 0
    assert client.decrypt(header, fragment) is not None
    assert client.seq == 1


def test_tampered_tls13_record_fails_and_keeps_seq() -> None:
    secret = bytes.fromhex(RFC8448["client_ap"][0])
    dec = tc.tls13_decryptor(0x1301, secret)
    header, fragment = _split(RFC8448_CLIENT_DATA)
    for i in (0, len(fragment) // 2, len(fragment) - 1):
        damaged = fragment[:i] + bytes([fragment[i] ^ 0x40]) + fragment[i + 1 :]
        assert dec.decrypt(header, damaged) is None
    assert dec.decrypt(b"\x16" + header[1:], fragment) is None  # the header is authenticated
    assert dec.decrypt(header, fragment[:15]) is None  # shorter than a tag
    assert dec.decrypt(header[:4], fragment) is None
    assert dec.seq == 0
    assert dec.decrypt(header, fragment) == (APPDATA, RFC8448_PAYLOAD)
    assert dec.seq == 1


# ---------------------------------------------------------------------------- secrecy
def test_no_key_material_in_messages_or_reprs() -> None:
    master = bytes.fromhex("5e" * 24 + "c7" * 24)
    secret = bytes.fromhex("a5" * 16 + "3c" * 16)
    texts: list[str] = []
    for call in (
        lambda: tc.tls12_decryptors(0xC013, master, b"c" * 32, b"s" * 32),
        lambda: tc.tls12_decryptors(0xC02F, master[:47], b"c" * 32, b"s" * 32),
        lambda: tc.tls12_decryptors(0xC02F, master, b"c" * 31, b"s" * 32),
        lambda: tc.tls13_decryptor(0xC02F, secret),
        lambda: tc.Decryptor(tc.SUITES[0x1301], secret, secret[:12]),  # 32-byte key for AES-128
    ):
        with pytest.raises((tc.UnsupportedSuite, ValueError)) as info:
            call()
        texts += [str(info.value), repr(info.value)]
    client, server = tc.tls12_decryptors(0xC030, master, b"c" * 32, b"s" * 32)
    dec13 = tc.tls13_decryptor(0x1303, secret)
    texts += [repr(client), str(server), repr(dec13), f"{dec13}"]
    s = tc.SUITES[0x1303]
    derived = [tc.hkdf_expand_label(s.hash, secret, b"key", b"", 32),
               tc.hkdf_expand_label(s.hash, secret, b"iv", b"", 12)]
    block = tc.tls12_prf("sha384", master, b"key expansion", b"s" * 32 + b"c" * 32, 72)
    for text in texts:
        low = text.lower()
        for material in [master, secret, *derived, block[:32], block[32:64], block[64:68]]:
            assert material.hex() not in low, text
        assert "seq=" in text or "cipher suite" in text or "length" in text or "bytes" in text
    assert repr(dec13) == "Decryptor(TLS_CHACHA20_POLY1305_SHA256, seq=0)"


# ---------------------------------------------------------------------------- the generator
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_wireshark_decrypts_tlsgen_captures(version: str, tmp_path: Path) -> None:
    """tests/tlsgen.py's capture and key log are what real tools produce: Wireshark's
    dissector decrypts them and finds every request."""
    conv = tlsgen.tls_conversation(version, REQUESTS, RESPONSES)
    (tmp_path / "t.pcap").write_bytes(tlsgen.pcap_bytes(conv))
    (tmp_path / "keys").write_bytes(conv.keylog)
    out = subprocess.run(
        [str(shutil.which("tshark")), "-r", str(tmp_path / "t.pcap"),
         "-o", f"tls.keylog_file:{tmp_path / 'keys'}", "-Y", "http.request",
         "-T", "fields", "-e", "http.request.uri"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()
    assert out == ["/a", "/b"]
