"""The scapy capture backend: scapy's readers and scapy's own dissection feed the core.

``keepalive analyze FILE --backend scapy``. scapy's streaming reader (``RawPcapReader``,
which opens pcapng as ``RawPcapNgReader`` and gzip on the fly — the readers under
``PcapReader`` / ``PcapNgReader``) gives each frame with its exact timestamp integers;
records are read whole, however long (see :meth:`ScapyCapture._records`); the frame is
dissected by the layer scapy registers for its link type
(``conf.l2types``: Ether, CookedLinux/V2, Loopback, IPv46, …), exactly as ``PcapReader``
does. From the innermost IP/IPv6 layer that carries a TCP layer we take addresses,
ports, seq, ack, flags, the payload and the IP-announced payload length, and hand them
to :class:`~analyzer.capture.canonical.Batcher` (a canonical raw IP packet per segment).

What scapy does not dissect is counted, never guessed: link types without a scapy layer
(NFLOG), UDP tunnels scapy has no layer for (AYIYA, Teredo on UDP 3544) and GTP-U packets
whose extension headers scapy's GTP layer stops at (a chain of them, or a type it does not
know) are counted as ``backend-undecoded`` with a warning naming them. Teredo on other
ports, which the native decoder recognises by its form, is plain UDP to scapy. scapy is
imported only when this backend is chosen.
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Iterator
from typing import Any

from analyzer.capture.canonical import (
    BATCH,
    BackendUnavailable,
    Batch,
    Batcher,
    time_layout,
)
from analyzer.capture.files import MAX_BLOCK, MAX_RECORD
from analyzer.core import linktypes

INSTALL = (
    "the scapy backend needs scapy: pip install 'keepalive-analyzer[live]' "
    "(or pip install scapy)"
)
# UDP tunnels the native decoder and Wireshark follow but scapy has no layer for.
_UNDISSECTED_TUNNELS = {5072: "AYIYA", 3544: "Teredo"}


def _import_scapy() -> dict[str, Any]:
    try:
        import scapy.layers.inet as inet
        import scapy.layers.inet6 as inet6
        import scapy.layers.l2  # noqa: F401 - registers Ether, CookedLinux, Loopback, GRE
        import scapy.layers.ppp  # noqa: F401 - registers PPP (link type 9)
        import scapy.layers.vxlan  # noqa: F401 - binds VXLAN to UDP 4789
        from scapy.config import conf
        from scapy.contrib.gtp import GTP_U_Header  # binds GTPv1-U to UDP 2152
        from scapy.packet import NoPayload, Padding, Raw
        from scapy.utils import RawPcapReader
    except ImportError:
        raise BackendUnavailable(INSTALL) from None
    return {
        "conf": conf, "reader": RawPcapReader, "IP": inet.IP, "IPv6": inet6.IPv6,
        "TCP": inet.TCP, "UDP": inet.UDP, "ICMP": inet.ICMP,
        "ICMPv6": (inet6._ICMPv6, inet6.ICMPv6Unknown),
        "Frag6": inet6.IPv6ExtHdrFragment, "IPv46": inet6.IPv46,
        "NoPayload": NoPayload, "Raw": Raw, "Padding": Padding, "GTP_U": GTP_U_Header,
    }


class ScapyCapture:
    """One capture file read and dissected by scapy; the same shape as
    :class:`~analyzer.capture.files.CaptureFile` (``format``, ``packets``, ``truncated``,
    ``warnings``, :meth:`batches`), plus ``skipped`` (per reason)."""

    backend = "scapy"

    def __init__(self, path: str) -> None:
        self._s = _import_scapy()
        self.path = path
        self.layout = time_layout(path)
        self.format = self.layout.format
        self.packets = 0
        self.bytes_read = 0  # scapy reads packet by packet; progress counts packets
        self.truncated = False
        self.warnings: list[str] = []
        self._batcher = Batcher()
        self.skipped = self._batcher.skipped
        self._undecoded: dict[str, int] = {}

    def batches(self) -> Iterator[Batch]:
        s = self._s
        try:
            reader = s["reader"](self.path)
        except Exception as e:  # noqa: BLE001 - scapy raises plain Scapy_Exception
            from analyzer.errors import CaptureError

            raise CaptureError(self.path, f"scapy cannot read it: {e}") from None
        b = self._batcher
        layers = s["conf"].l2types.num2layer
        raw_ip = s["IPv46"]
        ng = hasattr(reader, "interfaces")
        nano = bool(getattr(reader, "nano", False))
        pcap_lt = getattr(reader, "linktype", 1)
        scale_code: dict[int, int] = {}
        last_ts = 0.0
        # scapy logs what it finds odd (a truncated record) on its own logger; we say it
        # once, in the capture's warnings.
        log = logging.getLogger("scapy.runtime")
        level = log.level
        log.setLevel(logging.ERROR)
        try:
            for data, meta in self._records(reader, ng):
                self.packets += 1
                if ng:
                    lt = meta.linktype
                    if meta.tshigh is not None:
                        code = scale_code.get(meta.tsresol)
                        if code is None:
                            code = scale_code[meta.tsresol] = _resol_code(meta.tsresol)
                        ticks = (meta.tshigh << 32) | meta.tslow
                        last_ts = self.layout.pcapng_time(ticks, code)
                    ts = last_ts
                else:
                    lt = pcap_lt
                    ts = meta.sec + meta.usec * (1e-9 if nano else 1e-6)
                cls = layers.get(lt)
                if cls is None and linktypes.framing(lt) == linktypes.RAW_IP:
                    cls = raw_ip  # a raw-IP number scapy does not register (14)
                if cls is None:
                    name = f"link type {lt} ({linktypes.name(lt)})"
                    self._undecoded[name] = self._undecoded.get(name, 0) + 1
                    b.skip("backend-undecoded")
                    continue
                try:
                    self._segment(cls(data), ts, meta.wirelen)
                except Exception:  # noqa: BLE001 - a frame scapy cannot dissect is data
                    b.skip("backend-undecoded")
                if len(b) >= BATCH:
                    out = b.take()
                    if out is not None:
                        yield out
            if self.layout.format.endswith(".gz") and not self.truncated:
                # scapy stops quietly at a cut gzip stream; reading on says whether it was
                fh = getattr(reader, "f", None)
                if fh is not None:
                    fh.read(1)
        except Exception as e:  # noqa: BLE001 - a damaged file: keep what was read
            self.truncated = True
            self.warnings.append(f"read error after {self.packets} packets: {e}")
        finally:
            reader.close()
            log.setLevel(level)
        out = b.take()
        if out is not None:
            yield out
        for what, n in sorted(self._undecoded.items()):
            self.warnings.append(
                f"scapy does not dissect {what}: {n} packets counted as skipped "
                "(backend-undecoded); try --backend native or --backend pyshark"
            )

    def _records(self, reader: Any, ng: bool) -> Iterator[tuple[bytes, Any]]:
        """Every record of the file, whole: ``(frame, scapy's PacketMetadata)``.

        Iterating a scapy reader calls ``_read_packet(size=MTU)``, and scapy's MTU is
        65,535: every longer frame came back cut to that, and the check that a classic pcap
        record was whole (``len(data) < caplen``) then took it for the end of a truncated
        file. Loopback captures with TSO/GRO carry 64 KiB+ frames (tcpdump's snaplen is
        262,144). For pcapng, scapy reads each block whole and only the slice is bounded,
        so we ask for records up to our own block bound. For classic pcap, scapy 2.8 also
        reads at most ``4 * MTU`` = 262,140 bytes of a record and skips the rest, short of
        a full 262,144-byte record; so the record walk (16-byte header, then the frame) is
        done here, on the stream scapy opened (gzip included) with the byte order it read
        from the file header, bounded like the native reader (``MAX_RECORD``)."""
        if ng:
            while True:
                try:
                    yield reader._read_packet(size=MAX_BLOCK)
                except EOFError:
                    return
        f = reader.f
        header = struct.Struct(reader.endian + "IIII").unpack
        metadata = reader.PacketMetadata
        n = 0
        while True:
            head = f.read(16)
            if len(head) < 16:
                if head:
                    self._cut(n, len(head))
                return
            sec, frac, caplen, wirelen = header(head)
            if caplen > MAX_RECORD:
                self.truncated = True
                self.warnings.append(
                    f"corrupt record after {n} packets (captured length {caplen}); "
                    "stopped reading"
                )
                return
            data = f.read(caplen)
            if len(data) < caplen:
                self._cut(n, 16 + len(data))
                return
            n += 1
            yield data, metadata(sec=sec, usec=frac, wirelen=wirelen, caplen=caplen)

    def _cut(self, n: int, left: int) -> None:
        self.truncated = True
        self.warnings.append(
            f"capture is truncated: last record cut after {n} packets ({left} bytes left over)"
        )

    def _segment(self, pkt: Any, ts: float, wirelen: int) -> None:
        s = self._s
        IP, IPv6, TCP, UDP = s["IP"], s["IPv6"], s["TCP"], s["UDP"]
        NoPayload = s["NoPayload"]
        b = self._batcher
        ip = None
        gtp = None
        layer = last = pkt
        while not isinstance(layer, NoPayload):
            t = type(layer)
            if t is TCP:
                break
            if t is IP:
                if layer.frag or layer.flags.MF:
                    b.skip("ip-fragment")
                    return
                ip = layer
                gtp = None  # an IP layer after GTP-U: scapy walked its extension headers
            elif t is IPv6:
                ip = layer
                gtp = None
            elif t is s["Frag6"]:
                b.skip("ip-fragment")
                return
            elif t is s["ICMP"] or isinstance(layer, s["ICMPv6"]):
                b.skip("not-tcp")
                return
            elif t is UDP and (layer.dport in _UNDISSECTED_TUNNELS
                               or layer.sport in _UNDISSECTED_TUNNELS):
                port = layer.dport if layer.dport in _UNDISSECTED_TUNNELS else layer.sport
                name = f"{_UNDISSECTED_TUNNELS[port]} tunnels (UDP {port})"
                self._undecoded[name] = self._undecoded.get(name, 0) + 1
                b.skip("backend-undecoded")
                return
            elif t is s["GTP_U"]:
                gtp = layer
            last = layer
            layer = layer.payload
        else:
            if gtp is not None and gtp.gtp_type == 0xFF and gtp.E and type(last) is s["Raw"]:
                # a G-PDU whose extension headers scapy could not walk to the user packet
                name = "some GTP-U extension headers (UDP 2152)"
                self._undecoded[name] = self._undecoded.get(name, 0) + 1
                b.skip("backend-undecoded")
            elif ip is None:
                b.skip("not-ip")
            elif ip.haslayer(UDP):
                b.skip("udp")
            else:
                b.skip("not-tcp")
            return
        if ip is None:
            b.skip("not-ip")
            return
        tcp = layer
        thl = tcp.dataofs * 4
        pl = tcp.payload
        if isinstance(pl, NoPayload):
            payload = b""
        elif type(pl) is s["Raw"]:
            payload = pl.load
        else:
            payload = bytes(pl)
        if type(ip) is IP:
            src = socket.inet_aton(ip.src)
            dst = socket.inet_aton(ip.dst)
            seglen = ip.len - ip.ihl * 4 - thl if ip.len else len(payload)
        else:
            src = socket.inet_pton(socket.AF_INET6, ip.src)
            dst = socket.inet_pton(socket.AF_INET6, ip.dst)
            if not ip.plen:
                seglen = len(payload)
            elif ip.payload is tcp:
                seglen = ip.plen - thl
            else:  # extension headers between IPv6 and TCP
                seglen = ip.plen - (len(bytes(ip.payload)) - len(bytes(tcp))) - thl
        if thl < 20:
            b.skip("bad-tcp-header")
            return
        b.add(ts, src, dst, tcp.sport, tcp.dport, tcp.seq, tcp.ack, int(tcp.flags),
              payload, seglen, wirelen)


def _resol_code(tsresol: int) -> int:
    """scapy's tsresol (10**r or 2**r ticks per second) back to the if_tsresol byte."""
    r = 0
    while 10**r < tsresol:
        r += 1
    if 10**r == tsresol:
        return r
    return 0x80 | (tsresol.bit_length() - 1)
