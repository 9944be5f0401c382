"""tls: the passive TLS reader — records, handshake facts, turns, decryption.

Three kinds of input. Hand-built records (the builders below, byte by byte from RFC 8446
§4 and RFC 5246 §7.4) check each fact, the record-layer limits and hostile lengths. Real
TLS 1.2 and 1.3 conversations made in memory by Python's ssl (:mod:`tests.tlsgen`) check
facts, full vs resumed, the turn estimate against the true request count, and, with their
key log, that the inner readers get exactly the bytes that were sent. A synthetic TLS 1.3
session encrypted here with known secrets checks what ssl cannot make (KeyUpdate,
EncryptedExtensions without the handshake secrets). Hypothesis then re-segments real
conversations (the facts must not change) and throws random and mutated bytes at the
reader (it must not raise).
"""

from __future__ import annotations

import functools
import json
import os
import random
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.core import tls
from analyzer.core.keylog import KeyLog
from analyzer.core.protocols import HTTP1, Readers
from analyzer.core.tls import (
    ANOMALIES,
    MAX_MESSAGE,
    MAX_RECORD,
    REASONS,
    TlsSession,
    parse_client_hello,
    parse_server_hello,
)
from tests.conftest import ROOT

FACT_KEYS = {
    "version", "sni", "alpn_offered", "alpn", "handshake", "hello_retry", "client_hellos",
    "cipher_suite", "records_client", "records_server", "decrypted", "why_not_decrypted",
    "alert", "close_notify_by",
}
CR = bytes(range(32))  # client random
SR = bytes(range(32, 64))  # server random
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------- builders
def u(n: int, width: int) -> bytes:
    return n.to_bytes(width, "big")


def vec(width: int, data: bytes) -> bytes:
    return u(len(data), width) + data


def rec(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
    """One record: type, version, 2-byte length, body (RFC 8446 §5.1)."""
    return bytes([ctype]) + u(version, 2) + u(len(body), 2) + body


def hs(kind: int, body: bytes) -> bytes:
    """One handshake message: type, 3-byte length, body (RFC 8446 §4)."""
    return bytes([kind]) + u(len(body), 3) + body


def ext(kind: int, data: bytes) -> bytes:
    return u(kind, 2) + vec(2, data)


def sni_ext(name: bytes) -> bytes:
    return ext(0, vec(2, b"\x00" + vec(2, name)))  # RFC 6066 §3


def alpn_ext(names: Sequence[bytes]) -> bytes:
    return ext(16, vec(2, b"".join(vec(1, n) for n in names)))  # RFC 7301 §3.1


def client_hello(
    random: bytes = CR,
    session_id: bytes = b"",
    sni: bytes | None = b"example.test",
    alpn: Sequence[bytes] = (),
    ticket: bytes | None = None,
    early: bool = False,
    versions: Sequence[int] = (),
    exts: bytes | None = None,
) -> bytes:
    e = b""
    if sni is not None:
        e += sni_ext(sni)
    if alpn:
        e += alpn_ext(alpn)
    if ticket is not None:
        e += ext(35, ticket)
    if early:
        e += ext(42, b"")
    if versions:
        e += ext(43, vec(1, b"".join(u(v, 2) for v in versions)))
    if exts is not None:
        e = exts
    body = (
        b"\x03\x03" + random + vec(1, session_id) + vec(2, b"\x13\x01\xc0\x2f")
        + vec(1, b"\x00") + vec(2, e)
    )
    return hs(1, body)


def server_hello(
    version: int = 0x0303,
    random: bytes = SR,
    session_id: bytes = b"",
    suite: int = 0xC02F,
    alpn: bytes | None = None,
    psk: bool = False,
    selected: int | None = None,
) -> bytes:
    e = b""
    if selected is not None:
        e += ext(43, u(selected, 2))
    if alpn is not None:
        e += alpn_ext([alpn])
    if psk:
        e += ext(41, b"\x00\x00")
    body = version.to_bytes(2, "big") + random + vec(1, session_id) + u(suite, 2) + b"\x00"
    return hs(2, body + vec(2, e))


CCS = rec(20, b"\x01")


def app(plaintext: int, overhead: int = 24) -> bytes:
    """An application-data record whose plaintext would be ``plaintext`` bytes."""
    return rec(23, bytes(plaintext + overhead))


def alert(level: int, description: int) -> bytes:
    return rec(21, bytes([level, description]))


Segments = list[tuple[int, bytes]]


def tls12(
    requests: int = 1,
    ch: bytes | None = None,
    sh: bytes | None = None,
    certificate: bool = True,
    ticket: bytes | None = None,
) -> Segments:
    """A TLS 1.2 connection: full handshake (or, certificate=False, an abbreviated one in
    which the server sends ChangeCipherSpec first), then ``requests`` request/response
    pairs in AES-GCM records (24 bytes of overhead)."""
    ch = ch if ch is not None else client_hello(alpn=[b"h2", b"http/1.1"])
    sh = sh if sh is not None else server_hello(alpn=b"http/1.1")
    segs: Segments = [(0, rec(22, ch, 0x0301))]
    if certificate:
        flight = sh + hs(11, bytes(300)) + hs(12, bytes(100)) + hs(14, b"")
        segs += [
            (1, rec(22, flight)),
            (0, rec(22, hs(16, bytes(66))) + CCS + rec(22, bytes(40))),
        ]
        nst = rec(22, hs(4, u(300, 4) + vec(2, ticket))) if ticket else b""
        segs.append((1, nst + CCS + rec(22, bytes(40))))
    else:
        segs += [(1, rec(22, sh) + CCS + rec(22, bytes(40))), (0, CCS + rec(22, bytes(40)))]
    for _ in range(requests):
        segs += [(0, app(100)), (1, app(300))]
    return segs


def tls13(requests: int = 1, psk: bool = False, tickets: int = 2, hrr: bool = False) -> Segments:
    """A TLS 1.3 connection (AES-128-GCM: 17 bytes of overhead): hellos in clear, the
    server's encrypted flight, the client's Finished, ``tickets`` NewSessionTicket records,
    then ``requests`` request/response pairs."""
    ch = client_hello(versions=[0x0304], alpn=[b"h2"])
    segs: Segments = [(0, rec(22, ch, 0x0301))]
    if hrr:
        retry = server_hello(random=tls.HRR_RANDOM, suite=0x1301, selected=0x0304)
        segs += [(1, rec(22, retry) + CCS), (0, CCS + rec(22, ch))]
    sh = server_hello(suite=0x1301, selected=0x0304, psk=psk)
    flight = rec(22, sh) + (b"" if hrr else CCS) + app(40, 17) + app(36, 17)
    if not psk:
        flight += app(800, 17) + app(264, 17)
    segs.append((1, flight))
    segs.append((0, (b"" if hrr else CCS) + app(36, 17)))  # the client's Finished
    if tickets:
        segs.append((1, b"".join(app(200, 17) for _ in range(tickets))))
    for _ in range(requests):
        segs += [(0, app(100, 17)), (1, app(300, 17))]
    return segs


def feed(
    segments: Segments,
    keylog: KeyLog | None = None,
    attach: Any = None,
    midstream: bool = False,
    eof: bool = True,
    framed: bool = False,
) -> TlsSession:
    """Feed the segments in order; ``framed``: each as a window ``buf[start:end]`` of a
    larger buffer with other bytes around it, as a captured frame is delivered."""
    session = TlsSession(keylog, attach, midstream)
    sinks = session.sinks()
    for i, (d, data) in enumerate(segments):
        if framed:
            frame = b"\x17\x03\x03\x00\x05" * 4 + data + b"\x16\x03\x01\x40\x00" * 4
            sinks[d].data(frame, 20, 20 + len(data), float(i))
        else:
            sinks[d].data(data, 0, len(data), float(i))
    if eof:
        for sink in sinks:
            sink.eof(float(len(segments)))
    return session


class Recorder:
    """A reader that keeps what it is given (the inner readers' stand-in)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.gaps = 0
        self.ended = False

    def data(self, buf: bytes, start: int, end: int, ts: float) -> None:
        self.buf += buf[start:end]

    def gap(self, n: int, ts: float) -> None:
        self.gaps += n

    def eof(self, ts: float) -> None:
        self.ended = True


class Inner:
    """attach_inner that records the protocol chosen and the bytes of each side."""

    def __init__(self) -> None:
        self.protocols: list[str] = []
        self.sides = (Recorder(), Recorder())

    def __call__(self, protocol: str) -> Readers:
        self.protocols.append(protocol)
        return self.sides


# ---------------------------------------------------------------------------- facts
def test_facts_of_a_full_tls12_handshake() -> None:
    s = feed(tls12(requests=2))
    f = s.facts()
    assert set(f) == FACT_KEYS
    assert f == {
        "version": "TLS 1.2", "sni": "example.test", "alpn_offered": ["h2", "http/1.1"],
        "alpn": "http/1.1", "handshake": "full", "hello_retry": False, "client_hellos": 1,
        "cipher_suite": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "records_client": 2,
        "records_server": 2, "decrypted": False, "why_not_decrypted": "no key log",
        "alert": None, "close_notify_by": None,
    }
    assert s.turns == 2
    assert s.record_version == "TLS 1.0"  # the ClientHello's record
    assert s.certificate
    assert s.anomalies == {}
    assert s.inner_protocol is None
    json.dumps(f)


@pytest.mark.parametrize(
    ("legacy", "selected", "name"),
    [
        (0x0300, None, "SSL 3.0"),
        (0x0301, None, "TLS 1.0"),
        (0x0302, None, "TLS 1.1"),
        (0x0303, None, "TLS 1.2"),
        (0x0303, 0x0304, "TLS 1.3"),  # supported_versions overrides legacy_version
        (0x0303, 0x7F1C, "0x7f1c"),  # a draft version: named by its code
    ],
)
def test_negotiated_version(legacy: int, selected: int | None, name: str) -> None:
    s = feed([(0, rec(22, client_hello())), (1, rec(22, server_hello(legacy, selected=selected)))])
    assert s.version == name


def test_no_server_hello_no_version_and_no_alpn_chosen() -> None:
    s = feed([(0, rec(22, client_hello(alpn=[b"h2"])))], eof=False)
    assert s.version is None and s.alpn is None and s.alpn_offered == ["h2"]
    assert s.handshake is None and s.cipher_suite is None


def test_sni_takes_the_host_name_entry_and_masks_unprintable_bytes() -> None:
    names = vec(2, b"\x05" + vec(2, b"other") + b"\x00" + vec(2, b"a\x00b\xffc.test"))
    s = feed([(0, rec(22, client_hello(exts=ext(0, names))))], eof=False)
    assert s.sni == "a?b?c.test"


def test_alpn_chosen_in_tls13_is_not_visible_in_clear() -> None:
    s = feed(tls13())
    assert s.alpn_offered == ["h2"] and s.alpn is None
    assert s.version == "TLS 1.3"
    assert s.cipher_suite == "TLS_AES_128_GCM_SHA256"


def test_unknown_cipher_suite_is_named_by_code() -> None:
    s = feed([(0, rec(22, client_hello())), (1, rec(22, server_hello(suite=0x1234)))])
    assert s.cipher_suite == "0x1234"


@pytest.mark.parametrize("framed", [False, True])
@pytest.mark.parametrize("size", [1, 3, 7])
def test_hello_split_across_records_and_segments(size: int, framed: bool) -> None:
    ch = client_hello(alpn=[b"http/1.1"])
    # three records, the message header itself cut between the first two
    records = rec(22, ch[:2]) + rec(22, ch[2:50]) + rec(22, ch[50:])
    segs = [(0, records[i : i + size]) for i in range(0, len(records), size)]
    s = feed(segs, eof=False, framed=framed)
    assert s.sni == "example.test" and s.alpn_offered == ["http/1.1"]
    assert s.client_hellos == 1


def test_one_record_holds_several_handshake_messages() -> None:
    flight = server_hello() + hs(11, bytes(20)) + hs(14, b"")
    s = feed([(0, rec(22, client_hello())), (1, rec(22, flight))], eof=False)
    assert [m for m in s.messages if m[0] == 1] == [(1, 2), (1, 11), (1, 14)]
    assert s.kind == "full"


# ---------------------------------------------------------------------------- full / resumed
def test_tls12_resumed_by_session_id_echo() -> None:
    sid = bytes(range(100, 132))
    segs = tls12(
        ch=client_hello(session_id=sid), sh=server_hello(session_id=sid), certificate=False
    )
    assert feed(segs).handshake == "resumed"


def test_tls12_new_session_id_is_full() -> None:
    segs = tls12(
        ch=client_hello(session_id=b"\x01" * 32), sh=server_hello(session_id=b"\x02" * 32)
    )
    assert feed(segs).handshake == "full"


def test_tls12_resumed_by_ticket_server_goes_to_ccs_without_certificate() -> None:
    segs = tls12(ch=client_hello(ticket=b"T" * 160), certificate=False)
    s = feed(segs)
    assert s.handshake == "resumed" and not s.certificate


def test_tls12_ticket_offered_but_refused_is_full() -> None:
    s = feed(tls12(ch=client_hello(ticket=b"T" * 160), certificate=True, ticket=b"N" * 100))
    assert s.handshake == "full" and s.ticket == b"N" * 100


def test_tls12_empty_ticket_extension_is_not_resumption() -> None:
    s = feed(tls12(ch=client_hello(ticket=b""), certificate=True))
    assert s.handshake == "full"


def test_tls12_session_id_echo_in_tls13_is_not_resumption() -> None:
    # TLS 1.3 servers echo legacy_session_id (RFC 8446 §4.1.3): only the PSK counts
    sid = b"\x07" * 32
    ch = client_hello(session_id=sid, versions=[0x0304])
    sh = server_hello(session_id=sid, suite=0x1301, selected=0x0304)
    segs = [(0, rec(22, ch)), (1, rec(22, sh) + app(40, 17)), (0, app(36, 17))]
    assert feed(segs).handshake == "full"


@pytest.mark.parametrize(("psk", "expected"), [(True, "resumed"), (False, "full")])
def test_tls13_resumed_by_pre_shared_key(psk: bool, expected: str) -> None:
    assert feed(tls13(psk=psk)).handshake == expected


def test_hello_retry_request() -> None:
    s = feed(tls13(hrr=True))
    assert s.hello_retry is True
    assert s.client_hellos == 2
    assert s.version == "TLS 1.3"
    assert s.handshake == "full"
    assert s.turns == 1


def test_hello_retry_alone_then_eof_is_failed() -> None:
    ch = client_hello(versions=[0x0304])
    retry = server_hello(random=tls.HRR_RANDOM, suite=0x1301, selected=0x0304)
    s = feed([(0, rec(22, ch)), (1, rec(22, retry))])
    assert s.hello_retry and s.handshake == "failed" and s.version == "TLS 1.3"


# ---------------------------------------------------------------------------- failed / None
def test_fatal_alert_before_completion_is_failed() -> None:
    s = feed([(0, rec(22, client_hello())), (1, alert(2, 40))], eof=False)
    assert s.handshake == "failed"
    assert s.alert == "server: handshake_failure"


def test_warning_alert_is_noted_but_not_failure() -> None:
    segs = tls12()
    segs.insert(1, (1, alert(1, 112)))  # unrecognized_name as a warning
    s = feed(segs)
    assert s.handshake == "full" and s.alert == "server: unrecognized_name"


def test_fatal_alert_wins_over_warning_and_unknown_descriptions_are_numbered() -> None:
    segs = [(0, rec(22, client_hello())), (1, alert(1, 112)), (0, alert(2, 200))]
    s = feed(segs, eof=False)
    assert s.alert == "client: alert 200" and s.handshake == "failed"


def test_close_notify_is_not_an_alert_fact() -> None:
    s = feed(tls12() + [(0, alert(1, 0))])
    assert s.alert is None and s.handshake == "full"


def test_bad_alert_record() -> None:
    s = feed([(0, rec(22, client_hello())), (1, rec(21, b"\x02\x28\x01"))], eof=False)
    assert s.anomalies == {"tls-bad-alert": 1}
    assert s.alert == "server: handshake_failure"


def test_tls12_encrypted_alert_before_completion_is_failed() -> None:
    segs = tls12()[:3]  # the client's CCS and Finished, not the server's
    segs.append((0, rec(21, bytes(26))))
    s = feed(segs, eof=False)
    assert s.handshake == "failed" and s.alert == "client: encrypted alert"


def test_tls13_client_first_record_too_short_for_finished_is_an_alert() -> None:
    segs = tls13()[:2] + [(0, app(2, 17))]  # 19 bytes: an encrypted alert
    s = feed(segs, eof=False)
    assert s.handshake == "failed" and s.alert == "client: encrypted alert"


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_eof_before_completion_is_failed(cut: int) -> None:
    s = feed(tls12()[:cut])
    assert s.handshake == "failed"
    assert s.alert is None


def test_end_of_capture_without_eof_decides_nothing() -> None:
    s = feed(tls12()[:2], eof=False)
    assert s.handshake is None


def test_gap_before_completion_is_failed_unless_completion_follows() -> None:
    segs = tls12()
    s = TlsSession()
    c, srv = s.sinks()
    for d, data in segs[:2]:
        s.sides[d].data(data, 0, len(data), 0.0)
    srv.gap(300, 1.0)  # a lost server record (a second Certificate, say)
    assert s.handshake == "failed"  # as things stand
    for d, data in segs[2:]:
        s.sides[d].data(data, 0, len(data), 2.0)
    assert s.handshake == "full"  # both Finished went by after all
    assert s.anomalies == {"tls-desync": 1, "tls-handshake-lost": 1}


def test_eof_with_no_client_hello_is_none() -> None:
    s = feed([(1, rec(22, server_hello()))])
    assert s.handshake is None


def test_midstream_after_the_handshake() -> None:
    segs = [(0, app(100)), (1, app(300)), (0, app(100)), (1, app(300))]
    s = feed(segs, keylog=KeyLog(), midstream=True)
    assert s.handshake is None
    assert s.records_client == 2 and s.records_server == 2 and s.turns == 2
    assert s.why_not_decrypted == "capture began after the handshake"
    assert s.version is None and s.record_version == "TLS 1.2"


def test_midstream_inside_a_record_resynchronises() -> None:
    stream = app(100) + app(50) + app(60)
    s = TlsSession(midstream=True)
    c, _ = s.sinks()
    c.data(stream, 37, len(stream), 0.0)  # the capture began 37 bytes into a record
    assert s.records_client == 2
    assert s.anomalies == {}


def test_gap_inside_a_record_keeps_the_boundary() -> None:
    s = TlsSession()
    c, srv = s.sinks()
    segs = tls12(requests=2)
    for d, data in segs[:4]:
        s.sides[d].data(data, 0, len(data), 0.0)
    r = app(100)
    c.data(r, 0, 20, 1.0)
    c.gap(len(r) - 40, 1.0)
    c.data(r, len(r) - 20, len(r), 1.0)
    srv.data(app(300), 0, len(app(300)), 2.0)
    c.data(app(100), 0, len(app(100)), 3.0)
    assert s.records_client == 2 and s.turns == 1
    assert "tls-desync" not in s.anomalies


def test_gap_over_a_header_resynchronises() -> None:
    s = TlsSession()
    c, _ = s.sinks()
    stream = app(100) + app(100) + app(100) + app(100)
    c.data(stream, 0, 50, 0.0)
    c.gap(100, 0.0)  # past the end of the first record and into the second header
    c.data(stream, 150, len(stream), 0.0)
    assert s.anomalies == {"tls-desync": 1}
    assert s.records_client == 2  # the third and fourth (the second is lost)
    assert not s.sides[0].resync


def test_gap_of_whole_records_resynchronises_at_once() -> None:
    s = TlsSession()
    c, srv = s.sinks()
    for d, data in tls12()[:4]:
        s.sides[d].data(data, 0, len(data), 0.0)
    c.gap(129, 1.0)  # one whole request record lost
    c.data(app(100), 0, 129, 1.0)  # the next one, alone in its segment
    srv.data(app(300), 0, 329, 2.0)
    assert s.records_client == 1 and s.turns == 1  # read before the server answered


# ---------------------------------------------------------------------------- record layer
def test_record_length_limit() -> None:
    ok = rec(23, bytes(MAX_RECORD))
    s = feed([(0, ok)], eof=False)
    assert s.anomalies == {} and s.records_client == 1
    too_long = bytes([23, 3, 3]) + u(MAX_RECORD + 1, 2) + bytes(10)
    s = feed([(0, too_long + app(100)), (1, app(100))], eof=False)
    assert s.anomalies == {"tls-record-too-long": 1}
    assert s.records_client == 0 and s.records_server == 1  # the other side goes on
    assert s.sides[0].stopped and not s.sides[1].stopped


@pytest.mark.parametrize(
    ("header", "anomaly"),
    [
        (b"\x19\x03\x03\x00\x01", "tls-bad-record-type"),
        (b"\x13\x03\x03\x00\x01", "tls-bad-record-type"),
        (b"\x17\x02\x03\x00\x01", "tls-bad-record-version"),
        (b"\x17\x03\x05\x00\x01", "tls-bad-record-version"),
        (b"GET /", "tls-bad-record-type"),
    ],
)
def test_bad_record_header_stops_the_direction(header: bytes, anomaly: str) -> None:
    s = feed([(0, app(100) + header + b"x" + app(100))], eof=False)
    assert s.anomalies == {anomaly: 1}
    assert s.records_client == 1
    s.sides[0].data(app(100), 0, 124, 0.0)  # nothing more is read
    assert s.records_client == 1


def test_truncated_record_at_eof() -> None:
    s = feed([(0, app(100)[:50])])
    assert s.anomalies == {"tls-truncated-record": 1} and s.records_client == 0


def test_heartbeat_is_ignored() -> None:
    s = feed(tls12() + [(0, rec(24, bytes(40)))])
    assert s.records_client == 1 and s.anomalies == {}


# ---------------------------------------------------------------------------- hostile lengths
@pytest.mark.parametrize(
    "block",
    [
        vec(2, ext(0, b"\x00\x10\x00\x00\x05abc")),  # server_name_list past its extension
        vec(2, ext(0, vec(2, b"\x00\x00\x40abc"))),  # host_name length past the list
        vec(2, ext(16, b"\x00\x03\x08h2")),  # ALPN name length past the list
        vec(2, ext(16, b"\xff\xff")),  # ALPN list length past the extension
        vec(2, b"\x00\x00\x40\x00abc"),  # an extension longer than the block
        vec(2, b"\x00"),  # half an extension type
        b"\x00\x50" + sni_ext(b"example.test"),  # the block longer than the message
        b"\xff",  # half a block length
    ],
)
def test_hostile_lengths_inside_client_hello_extensions(block: bytes) -> None:
    body = b"\x03\x03" + CR + b"\x00" + vec(2, b"\x13\x01") + b"\x01\x00" + block
    s = feed([(0, rec(22, hs(1, body))), (1, rec(22, server_hello()))], eof=False)
    assert s.anomalies == {"tls-bad-client-hello": 1}
    assert s.client_hellos == 1
    assert s.sni is None and s.alpn_offered == []
    assert s.version == "TLS 1.2"  # the rest of the handshake is still read


@pytest.mark.parametrize(
    "body",
    [
        b"\x03\x03" + SR[:10],  # cut inside the random
        b"\x03\x03" + SR + b"\x21" + bytes(33) + b"\xc0\x2f\x00",  # session id over 32
        b"\x03\x03" + SR + b"\x00\xc0\x2f\x00" + b"\x00\x08" + ext(43, b"\x03\x04"),
        b"\x03\x03" + SR + b"\x00\xc0\x2f\x00" + vec(2, ext(43, b"\x03")),  # 1-byte version
        b"\x03\x03" + SR + b"\x00\xc0\x2f\x00" + b"\x00\x06" + ext(16, b"\x00\x09\x08"),
    ],
)
def test_hostile_server_hello(body: bytes) -> None:
    s = feed([(0, rec(22, client_hello())), (1, rec(22, hs(2, body)))], eof=False)
    assert s.anomalies == {"tls-bad-server-hello": 1}
    assert s.version is None and s.handshake is None


def test_handshake_message_over_the_bound_is_skipped() -> None:
    big = hs(1, bytes(MAX_MESSAGE + 1))
    records = b"".join(rec(22, big[i : i + 16384]) for i in range(0, len(big), 16384))
    s = feed([(0, records + rec(22, client_hello(sni=b"after.test")))], eof=False)
    assert s.anomalies == {"tls-handshake-too-long": 1}
    assert s.client_hellos == 2 and s.sni == "after.test"


def test_big_certificate_is_skipped_by_arithmetic() -> None:
    cert = hs(11, bytes(200_000))  # over MAX_MESSAGE but never collected
    records = b"".join(rec(22, cert[i : i + 16384]) for i in range(0, len(cert), 16384))
    s = feed([(0, rec(22, client_hello())), (1, rec(22, server_hello()) + records)], eof=False)
    assert s.anomalies == {} and s.certificate


def test_parse_functions_raise_value_error_only() -> None:
    for cut in range(len(client_hello()) - 4):
        try:
            parse_client_hello(client_hello()[4 : 4 + cut])
        except ValueError:
            pass
    for cut in range(len(server_hello()) - 4):
        try:
            parse_server_hello(server_hello()[4 : 4 + cut])
        except ValueError:
            pass
    hello = parse_client_hello(client_hello(alpn=[b"h2"], ticket=b"t", early=True)[4:])
    assert hello.sni == "example.test" and hello.alpn == ["h2"] and hello.ticket == b"t"
    assert hello.early_data and hello.random == CR


def test_hello_from_the_wrong_side() -> None:
    s = feed([(1, rec(22, client_hello())), (0, rec(22, server_hello()))], eof=False)
    assert s.anomalies == {"tls-unexpected-message": 2}
    assert s.client_hellos == 0 and s.version is None


# ---------------------------------------------------------------------------- turns
def test_http2_control_records_are_not_turns() -> None:
    segs = tls12(requests=1)
    # SETTINGS ACK (9), WINDOW_UPDATE (13), PING (17) answered by the server: no request
    segs += [(0, app(9) + app(13)), (1, app(9)), (0, app(17)), (1, app(17))]
    s = feed(segs)
    assert s.turns == 1
    assert s.records_client == 4 and s.records_server == 3


def test_a_burst_with_one_request_record_is_one_turn() -> None:
    segs = tls12(requests=0) + [(0, app(9) + app(200) + app(200)), (1, app(300) + app(300))]
    assert feed(segs).turns == 1


def test_last_turn_ts_is_the_last_record_of_the_last_answer() -> None:
    segs = tls12(requests=2)  # the last response is segment 7 (ts 7.0 in feed)
    assert feed(segs).last_turn_ts == 7.0
    longer = segs + [(1, app(300))]  # more of the same response
    assert feed(longer).last_turn_ts == 8.0
    # a client control record, then a server record: no new answer
    assert feed(segs + [(0, app(9)), (1, app(9))]).last_turn_ts == 7.0
    assert feed(tls12(requests=0)).last_turn_ts is None


def test_unanswered_request_is_not_a_turn() -> None:
    assert feed(tls12(requests=2) + [(0, app(100))]).turns == 2


def test_tls13_encrypted_handshake_and_tickets_are_not_turns() -> None:
    s = feed(tls13(requests=3, tickets=2))
    assert s.turns == 3
    assert s.records_client == 3  # the client's Finished is not counted
    assert s.records_server == 2 + 3  # the tickets are (without keys they look the same)


def test_chacha20_overhead() -> None:
    segs = tls12(sh=server_hello(suite=0xCCA8), requests=0)
    # 17 + 16 bytes: a PING; 18 + 16: data (which the GCM overhead, 24, would call control)
    segs += [(0, app(17, 16)), (1, app(300, 16)), (0, app(18, 16)), (1, app(300, 16))]
    assert feed(segs).turns == 1


def test_aead_overhead_table() -> None:
    assert tls.aead_overhead(0x1301, True) == 17
    assert tls.aead_overhead(0x1305, True) == 9
    assert tls.aead_overhead(0xC02F, False) == 24
    assert tls.aead_overhead(0xCCA9, False) == 16
    assert tls.aead_overhead(0xC0AE, False) == 16
    assert tls.aead_overhead(-1, False) == 24


# ---------------------------------------------------------------------------- decryption reasons
def test_why_not_decrypted_without_and_with_a_key_log() -> None:
    assert feed(tls12()).why_not_decrypted == "no key log"
    assert feed(tls12(), keylog=KeyLog()).why_not_decrypted == "no secret for this connection"
    assert feed(tls12()[:1], keylog=KeyLog()).why_not_decrypted == "handshake incomplete"
    assert feed(tls13(), keylog=KeyLog()).why_not_decrypted == "no secret for this connection"


def test_why_not_decrypted_tls10_and_resumed() -> None:
    segs = tls12(sh=server_hello(version=0x0301))
    line = f"CLIENT_RANDOM {CR.hex()} {'11' * 48}\n".encode()
    assert feed(segs, keylog=KeyLog(line)).why_not_decrypted == "unsupported version TLS 1.0"
    sid = b"\x09" * 32
    resumed = tls12(
        ch=client_hello(session_id=sid), sh=server_hello(session_id=sid), certificate=False
    )
    s = feed(resumed, keylog=KeyLog())
    assert s.why_not_decrypted == "resumed session whose master secret is unknown"


def test_why_not_decrypted_zero_rtt() -> None:
    ch = client_hello(versions=[0x0304], early=True)
    segs = [(0, rec(22, ch) + CCS + app(100, 17))]
    s = feed(segs, keylog=KeyLog(), eof=False)
    assert s.early_records == 1 and s.records_client == 0
    assert s.why_not_decrypted == "TLS 1.3 0-RTT data"


def test_reasons_are_listed() -> None:
    assert len(set(REASONS)) == len(REASONS)
    assert len(set(ANOMALIES)) == len(ANOMALIES)


def test_cleartext_never_imports_cryptography() -> None:
    code = (
        "import sys\n"
        "from tests.test_tls import tls12, tls13, feed\n"
        "from analyzer.core.keylog import KeyLog\n"
        "feed(tls12()); feed(tls13()); feed(tls12(), keylog=None)\n"
        "bad = [m for m in sys.modules if m.startswith(('cryptography', "
        "'analyzer.core.tlscrypt'))]\n"
        "assert not bad, bad\n"
    )
    env = dict(os.environ, KEEPALIVE_PURE="1", PYTHONPATH=str(ROOT))
    p = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr[-2000:]


# ---------------------------------------------------------------------------- real TLS (tlsgen)
REQ = b"GET /item HTTP/1.1\r\nHost: example.test\r\n\r\n"
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"


def _gen() -> Any:
    return pytest.importorskip("tests.tlsgen")


@functools.cache
def conv(version: str, n: int = 1, tickets: bool = True, resumed: bool = False,
         alpn: bool = True, ciphers: str | None = None) -> Any:
    """A real conversation (cached: the contexts and sessions are reused)."""
    t = _gen()
    kw: dict[str, Any] = dict(
        version=version, requests=[REQ] * n, responses=[RESP] * n, tickets=tickets,
        alpn=["h2", "http/1.1"] if alpn else None,
        server_alpn=["http/1.1"] if alpn else None, ciphers=ciphers,
    )
    if resumed:
        first = t.tls_conversation(**kw)
        assert first.session is not None
        c = t.tls_conversation(session=first.session, **kw)
        c.first = first
        assert c.resumed
        return c
    return t.tls_conversation(**kw)


def run(c: Any, keylog: KeyLog | None = None, inner: Inner | None = None) -> TlsSession:
    return feed(list(c.segments), keylog=keylog, attach=inner)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_real_facts(version: str) -> None:
    from analyzer.core import tlscrypt

    c = conv(version, 2)
    s = run(c)
    f = s.facts()
    assert f["version"] == f"TLS {version}"
    assert f["sni"] == "example.test"
    assert f["alpn_offered"] == ["h2", "http/1.1"]
    assert f["alpn"] == ("http/1.1" if version == "1.2" else None)  # 1.3: encrypted
    assert f["handshake"] == "full"
    assert f["cipher_suite"] == tlscrypt.suite_name(c.suite)
    assert f["client_hellos"] == 1 and not f["hello_retry"]
    assert f["alert"] is None and s.anomalies == {}
    assert f["why_not_decrypted"] == "no key log"
    assert s.turns == 2


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("tickets", [True, False])
def test_real_resumed(version: str, tickets: bool) -> None:
    if version == "1.3" and not tickets:
        pytest.skip("TLS 1.3 resumes only with tickets")
    c = conv(version, 1, tickets=tickets, resumed=True)
    assert run(c.first).handshake == "full"
    s = run(c)
    assert s.handshake == "resumed"
    assert not s.certificate


@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("tickets", [True, False])
@pytest.mark.parametrize("resumed", [False, True])
def test_turns_equal_sequential_requests(
    n: int, version: str, tickets: bool, resumed: bool
) -> None:
    if version == "1.3" and resumed and not tickets:
        pytest.skip("TLS 1.3 resumes only with tickets")
    c = conv(version, n, tickets=tickets, resumed=resumed)
    s = run(c)
    assert s.turns == n
    assert s.handshake == ("resumed" if resumed else "full")
    keyed = run(c, KeyLog(c.keylog))
    assert keyed.turns == n
    assert keyed.records_client == n and keyed.records_server == n


def test_real_failed_handshake() -> None:
    t = _gen()
    for version in ("1.2", "1.3"):
        c = t.tls_conversation(version=version, fail=True)
        s = run(c)
        assert s.handshake == "failed", version
        assert s.alert == "client: unknown_ca"
        assert s.turns == 0


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_decrypted_plaintext_reaches_the_inner_readers(version: str) -> None:
    c = conv(version, 3)
    inner = Inner()
    s = run(c, KeyLog(c.keylog), inner)
    assert s.decrypted and s.why_not_decrypted is None
    assert inner.protocols == [HTTP1] and s.inner_protocol == HTTP1
    assert bytes(inner.sides[0].buf) == REQ * 3
    assert bytes(inner.sides[1].buf) == RESP * 3
    assert inner.sides[0].ended and inner.sides[1].ended
    assert s.alpn == "http/1.1"  # TLS 1.3: from the decrypted EncryptedExtensions
    assert s.certificate
    assert s.anomalies == {}


def test_decryption_without_attach_inner_still_decrypts() -> None:
    c = conv("1.3", 1)
    s = run(c, KeyLog(c.keylog))
    assert s.decrypted and s.inner_protocol is None


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_resumed_decryption(version: str) -> None:
    c = conv(version, 2, resumed=True)
    inner = Inner()
    s = run(c, KeyLog(c.keylog), inner)
    assert s.handshake == "resumed" and s.decrypted
    assert bytes(inner.sides[0].buf) == REQ * 2


@pytest.mark.parametrize("tickets", [True, False])
def test_tls12_resumption_recalls_the_remembered_master_secret(tickets: bool) -> None:
    c = conv("1.2", 2, tickets=tickets, resumed=True)
    keylog = KeyLog(c.first.keylog)  # only the first connection's line
    assert run(c.first, keylog).decrypted
    inner = Inner()
    s = run(c, keylog, inner)  # the resumed one has no line of its own here
    assert s.decrypted, s.why_not_decrypted
    assert bytes(inner.sides[1].buf) == RESP * 2
    # without having seen the first connection, the secret is unknown
    s = run(c, KeyLog(c.first.keylog))
    assert s.why_not_decrypted == "resumed session whose master secret is unknown"


def test_wrong_secret_is_decryption_failed() -> None:
    c = conv("1.2", 1)
    bad = KeyLog(f"CLIENT_RANDOM {c.client_random.hex()} {'00' * 48}\n".encode())
    s = run(c, bad)
    assert not s.decrypted and s.why_not_decrypted == "decryption failed"
    assert s.anomalies.get("tls-decrypt-failed") == 2  # each side, once
    assert s.turns == 1 and s.records_client == 1  # counted without keys instead


def test_unsupported_suite_is_named() -> None:
    c = conv("1.2", 1, ciphers="AES128-SHA", alpn=False)
    s = run(c, KeyLog(c.keylog))
    assert s.cipher_suite == "TLS_RSA_WITH_AES_128_CBC_SHA"
    assert s.why_not_decrypted == "unsupported cipher suite TLS_RSA_WITH_AES_128_CBC_SHA"
    assert s.turns == 1


def test_chacha20_tls12_decrypts() -> None:
    c = conv("1.2", 2, ciphers="ECDHE-RSA-CHACHA20-POLY1305")
    inner = Inner()
    s = run(c, KeyLog(c.keylog), inner)
    assert s.cipher_suite == "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
    assert bytes(inner.sides[0].buf) == REQ * 2
    assert run(c).turns == 2


def test_tls13_without_handshake_secrets_probes_the_application_key() -> None:
    c = conv("1.3", 2)
    lines = b"".join(
        line + b"\n" for line in c.keylog.splitlines() if b"TRAFFIC_SECRET_0" in line
    )
    inner = Inner()
    s = run(c, KeyLog(lines), inner)
    assert s.decrypted
    assert bytes(inner.sides[0].buf) == REQ * 2 and bytes(inner.sides[1].buf) == RESP * 2
    assert s.alpn is None  # EncryptedExtensions went by unread
    assert s.turns == 2 and s.handshake == "full"


def test_gap_after_decryption_began_reaches_the_inner_reader() -> None:
    c = conv("1.3", 3)
    inner = Inner()
    s = TlsSession(KeyLog(c.keylog), inner)
    sinks = s.sinks()
    responses = 0
    for d, data in c.segments:
        if d == 1 and data[:1] == b"\x17" and len(data) < 200:
            responses += 1
            if responses == 2:
                sinks[1].gap(len(data), 0.0)  # the second response is lost
                continue
        sinks[d].data(data, 0, len(data), 0.0)
    assert s.anomalies.get("tls-gap") == 1
    assert inner.sides[1].gaps > 0
    assert bytes(inner.sides[1].buf) == RESP  # only the first response
    assert bytes(inner.sides[0].buf) == REQ * 3  # the other side goes on


def test_secrets_never_in_output() -> None:
    c = conv("1.2", 1)
    keylog = KeyLog(c.keylog)
    s = run(c, keylog)
    assert s.decrypted
    secret = next(v for v in (keylog.secrets(c.client_random) or {}).values())
    shown = repr(s) + str(s) + json.dumps(s.facts()) + repr(s.sides) + repr(s.anomalies)
    for form in (secret.hex(), secret.hex().upper(), repr(secret), secret.hex()[:16]):
        assert form not in shown
    c13 = conv("1.3", 1)
    keylog = KeyLog(c13.keylog)
    s = run(c13, keylog)
    shown = repr(s) + json.dumps(s.facts()) + repr(s.sides)
    for v in (keylog.secrets(c13.client_random) or {}).values():
        assert v.hex()[:16] not in shown


# ---------------------------------------------------------------------------- synthetic TLS 1.3
class Enc13:
    """Encrypts TLS 1.3 records with one traffic secret (AES-128-GCM, RFC 8446 §5.2)."""

    def __init__(self, secret: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        from analyzer.core import tlscrypt

        self.aead = AESGCM(tlscrypt.hkdf_expand_label("sha256", secret, b"key", b"", 16))
        self.iv = tlscrypt.hkdf_expand_label("sha256", secret, b"iv", b"", 12)
        self.seq = 0

    def record(self, ctype: int, content: bytes) -> bytes:
        inner = content + bytes([ctype])
        header = b"\x17\x03\x03" + u(len(inner) + 16, 2)
        nonce = bytes(a ^ b for a, b in zip(self.iv, u(self.seq, 12), strict=True))
        self.seq += 1
        return header + self.aead.encrypt(nonce, inner, header)


def synthetic13(key_update: bool = True) -> tuple[Segments, bytes]:
    """A TLS 1.3 session encrypted here: EncryptedExtensions choosing h2, a Certificate,
    a NewSessionTicket, two requests, a KeyUpdate from the client between them."""
    from analyzer.core import tlscrypt

    chts, shts, cts, sts = (bytes([i]) * 32 for i in (1, 2, 3, 4))
    keylog = "".join(
        f"{label} {CR.hex()} {secret.hex()}\n"
        for label, secret in (
            ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", chts), ("SERVER_HANDSHAKE_TRAFFIC_SECRET", shts),
            ("CLIENT_TRAFFIC_SECRET_0", cts), ("SERVER_TRAFFIC_SECRET_0", sts),
        )
    ).encode()
    ch, sh_keys, capp, sapp = Enc13(chts), Enc13(shts), Enc13(cts), Enc13(sts)
    ee = hs(8, vec(2, alpn_ext([b"h2"])))
    segs: Segments = [
        (0, rec(22, client_hello(versions=[0x0304], alpn=[b"h2", b"http/1.1"]), 0x0301)),
        (1, rec(22, server_hello(suite=0x1301, selected=0x0304)) + CCS
         + sh_keys.record(22, ee) + sh_keys.record(22, hs(11, bytes(500)) + hs(15, bytes(260)))
         + sh_keys.record(22, hs(20, bytes(32)))),
        (0, CCS + ch.record(22, hs(20, bytes(32)))),
        (1, sapp.record(22, hs(4, bytes(180)))),
        (0, capp.record(23, REQ)),
        (1, sapp.record(23, RESP)),
    ]
    if key_update:
        next_secret = tlscrypt.tls13_next_secret(0x1301, cts)
        segs.append((0, capp.record(22, hs(24, b"\x00")) + Enc13(next_secret).record(23, REQ)))
    else:
        segs.append((0, capp.record(23, REQ)))
    segs.append((1, sapp.record(23, RESP)))
    return segs, keylog


def test_synthetic_tls13_key_update_and_encrypted_extensions() -> None:
    pytest.importorskip("cryptography")
    segs, keylog = synthetic13()
    inner = Inner()
    s = feed(segs, KeyLog(keylog), inner)
    assert s.alpn == "h2" and s.certificate
    assert bytes(inner.sides[0].buf) == REQ * 2  # the second after the KeyUpdate
    assert bytes(inner.sides[1].buf) == RESP * 2
    assert s.turns == 2 and s.records_client == 2 and s.records_server == 2
    assert s.anomalies == {}
    # without the ratchet the record after the KeyUpdate would not authenticate
    assert (0, 24) in s.messages


def test_synthetic_tls13_without_handshake_secrets() -> None:
    pytest.importorskip("cryptography")
    segs, keylog = synthetic13()
    app_only = b"".join(ln + b"\n" for ln in keylog.splitlines() if b"_0 " in ln)
    inner = Inner()
    s = feed(segs, KeyLog(app_only), inner)
    assert s.alpn is None and not s.certificate
    assert bytes(inner.sides[0].buf) == REQ * 2
    assert s.turns == 2


# ---------------------------------------------------------------------------- properties
def _observe(s: TlsSession) -> tuple[Any, ...]:
    return (s.facts(), s.turns, dict(s.anomalies), s.inner_protocol, s.kind)


def _resegment(segments: Segments, data: st.DataObject) -> Segments:
    """Each segment cut at random points; the order of the pieces is kept."""
    out: Segments = []
    for d, chunk in segments:
        if len(chunk) > 1:
            cuts = sorted(set(data.draw(
                st.lists(st.integers(1, len(chunk) - 1), max_size=6), label="cuts"
            )))
        else:
            cuts = []
        edges = [0, *cuts, len(chunk)]
        out += [(d, chunk[a:b]) for a, b in zip(edges, edges[1:], strict=False)]
    return out


SEGMENTED = [
    ("hand-1.2", False), ("hand-1.3-hrr", False), ("real-1.2", True), ("real-1.3", True),
    ("real-1.3-resumed", True), ("synthetic-1.3", True),
]


@functools.cache
def _segments(name: str) -> tuple[Segments, bytes | None]:
    if name == "hand-1.2":
        return tls12(requests=3, ticket=b"N" * 50), None
    if name == "hand-1.3-hrr":
        return tls13(requests=2, hrr=True), None
    if name == "synthetic-1.3":
        return synthetic13()
    version = "1.2" if name == "real-1.2" else "1.3"
    c = conv(version, 2, resumed=name.endswith("resumed"))
    return list(c.segments), c.keylog


@pytest.mark.parametrize(("name", "keyed"), SEGMENTED)
@FAST
@given(data=st.data())
def test_any_segmentation_gives_the_same_facts(name: str, keyed: bool, data: Any) -> None:
    segments, keylog = _segments(name)
    for key in ([None, keylog] if keyed and keylog else [None]):
        inner_a, inner_b = Inner(), Inner()
        whole = feed(segments, KeyLog(key) if key else None, inner_a)
        cut = feed(
            _resegment(segments, data), KeyLog(key) if key else None, inner_b, framed=True
        )
        assert _observe(cut) == _observe(whole)
        assert inner_a.sides[0].buf == inner_b.sides[0].buf
        assert inner_a.sides[1].buf == inner_b.sides[1].buf


def _check(s: TlsSession) -> None:
    f = s.facts()
    assert set(f) == FACT_KEYS
    json.dumps(f)
    assert f["handshake"] in (None, "full", "resumed", "failed")
    assert f["why_not_decrypted"] is None or any(
        str(f["why_not_decrypted"]).startswith(r) for r in REASONS
    )
    assert set(s.anomalies) <= set(ANOMALIES)
    assert s.turns <= s.records_server
    repr(s)


OPS = st.lists(
    st.tuples(st.integers(0, 1), st.sampled_from(["data", "data", "data", "gap", "eof"]),
              st.binary(max_size=300)),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(ops=OPS, midstream=st.booleans(), keyed=st.booleans())
def test_random_bytes_never_raise(
    ops: list[tuple[int, str, bytes]], midstream: bool, keyed: bool
) -> None:
    keylog = KeyLog(f"CLIENT_RANDOM {CR.hex()} {'11' * 48}\n".encode()) if keyed else None
    s = TlsSession(keylog, Inner(), midstream)
    sinks = s.sinks()
    for d, op, blob in ops:
        if op == "data":
            sinks[d].data(blob, 0, len(blob), 0.0)
        elif op == "gap":
            sinks[d].gap(len(blob) + 1, 0.0)
        else:
            sinks[d].eof(0.0)
    _check(s)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from([b"\x16\x03\x01", b"\x17\x03\x03", b"\x16\x03\x03\x00\x30\x02"]),
    blobs=st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=400)), max_size=10),
)
def test_record_shaped_random_bytes_never_raise(
    prefix: bytes, blobs: list[tuple[int, bytes]]
) -> None:
    s = TlsSession(KeyLog(), Inner())
    sinks = s.sinks()
    for d, blob in blobs:
        data = prefix + blob
        sinks[d].data(data, 0, len(data), 0.0)
    _check(s)


@pytest.mark.parametrize("name", [n for n, _ in SEGMENTED])
@FAST
@given(flips=st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=1,
                      max_size=8),
       midstream=st.booleans())
def test_mutated_real_streams_never_raise(
    name: str, flips: list[tuple[int, int]], midstream: bool
) -> None:
    segments, keylog = _segments(name)
    total = sum(len(c) for _, c in segments)
    stream = bytearray(b"".join(c for _, c in segments))
    for at, value in flips:
        stream[at % total] = value
    out: Segments = []
    pos = 0
    for d, c in segments:
        out.append((d, bytes(stream[pos : pos + len(c)])))
        pos += len(c)
    s = feed(out, KeyLog(keylog) if keylog else None, Inner(), midstream=midstream)
    _check(s)


def test_random_segments_of_random_records() -> None:
    """A seeded walk (cheap, many cases): records with random types and lengths."""
    rng = random.Random(7)
    for _ in range(300):
        segs: Segments = []
        for _ in range(rng.randrange(1, 12)):
            ctype = rng.choice([20, 21, 22, 23, 24])
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
            if ctype == 22 and rng.random() < 0.5:
                body = rng.choice([client_hello(), server_hello(selected=0x0304)])[
                    : rng.randrange(1, 120)
                ]
            segs.append((rng.randrange(2), rec(ctype, body)))
        _check(feed(segs, KeyLog(), Inner(), midstream=rng.random() < 0.3))


# ---------------------------------------------------------------------------- fuzz harness
def _fuzz_module() -> Any:
    sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
    try:
        import fuzz_tls
    finally:
        sys.path.pop(0)
    return fuzz_tls


def test_fuzz_harness_replays_real_conversations() -> None:
    fuzz_tls = _fuzz_module()
    for name, _ in SEGMENTED:
        segments, keylog = _segments(name)
        data = fuzz_tls.encode(segments, keylog)
        fuzz_tls.check(data)
        for cut in (1, len(data) // 2, len(data) - 1):
            fuzz_tls.check(data[:cut])
    fuzz_tls.check(b"")
    fuzz_tls.check(b"\xff" * 64)


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("atheris") is None, reason="atheris not installed"
)
def test_short_fuzz_run(tmp_path: Any) -> None:
    fuzz_tls = _fuzz_module()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, (name, _) in enumerate(SEGMENTED[:3]):
        segments, keylog = _segments(name)
        (corpus / f"seed-{i}").write_bytes(fuzz_tls.encode(segments, keylog))
    p = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "fuzz" / "fuzz_tls.py"), str(corpus),
         "-seed=1", "-runs=3000", "-max_total_time=60", "-rss_limit_mb=2048", "-timeout=10",
         f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT), KEEPALIVE_PURE="1"),
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Done" in p.stderr
