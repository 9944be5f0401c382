"""The pyshark capture backend: Wireshark's dissectors (through tshark) feed the core.

``keepalive analyze FILE --backend pyshark``. One ``pyshark.FileCapture`` runs tshark
over the file with Wireshark's own reassembly turned off (TCP desegmentation, HTTP
header/body desegmentation, IP defragmentation) so each raw segment reaches our core as
it was on the wire, and with TCP sequence analysis off (we take ``tcp.seq_raw`` /
``tcp.ack_raw``; the analysis would only cost time).

Speed: pyshark's default mode asks tshark for PDML (every field of every layer as XML,
~30 KB a packet here) and builds a Python object per field. We ask for EK output (one
JSON line a packet) restricted with ``-e`` to the fields below, and parse those lines
with orjson in chunks instead of pyshark's per-packet objects: ``make bench`` measures
it against pyshark's default XML mode on the same file (docs/backends.md).

From each packet we take: ``frame.protocols`` (to find the TCP layer and the IP layer
that carries it — the *inner* one behind any tunnel Wireshark decodes: VXLAN, AYIYA,
Teredo, GRE, …), addresses, ports, raw seq/ack, flags, the captured payload
(``tcp.payload``) and the announced payload length (``tcp.len``, from the IP header).
Timestamps come from ``frame.time_epoch`` (exact nanoseconds) and are turned into floats
with the native reader's arithmetic for this file (:class:`canonical.TimeLayout`).
pyshark is imported only when this backend is chosen.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from typing import Any

import orjson

from analyzer.capture.canonical import (
    BATCH,
    BackendUnavailable,
    Batch,
    Batcher,
    time_layout,
)
from analyzer.errors import CaptureError

INSTALL_PYSHARK = (
    "the pyshark backend needs pyshark: pip install 'keepalive-analyzer[pyshark]' "
    "(or pip install pyshark)"
)
INSTALL_TSHARK = (
    "the pyshark backend needs tshark on PATH: sudo apt-get install tshark "
    "(Debian/Ubuntu; wireshark-cli on Fedora/Arch, brew install wireshark on macOS)"
)

# Wireshark's reassembly off: raw segments, not reassembled PDUs, reach our core.
PREFS = {
    "tcp.desegment_tcp_streams": "FALSE",
    "http.desegment_headers": "FALSE",
    "http.desegment_body": "FALSE",
    "ip.defragment": "FALSE",
    "ipv6.defragment": "FALSE",
    "tcp.analyze_sequence_numbers": "FALSE",
    "tcp.calculate_timestamps": "FALSE",
    "tcp.track_bytes_in_flight": "FALSE",
}
FIELDS = (
    "frame.time_epoch", "frame.interface_id", "frame.len", "frame.protocols",
    "ip.src", "ip.dst", "ip.flags.mf", "ip.frag_offset", "ipv6.src", "ipv6.dst",
    "ipv6.fraghdr.offset", "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw",
    "tcp.flags", "tcp.hdr_len", "tcp.len", "tcp.payload",
)


def fast_parameters() -> list[str]:
    """tshark's EK output restricted to :data:`FIELDS` (pyshark ``custom_parameters``)."""
    out: list[str] = []
    for f in FIELDS:
        out += ["-e", f]
    return out


def _import_pyshark() -> Any:
    try:
        import pyshark
    except ImportError:
        raise BackendUnavailable(INSTALL_PYSHARK) from None
    if shutil.which("tshark") is None:
        raise BackendUnavailable(INSTALL_TSHARK)
    return pyshark


def _file_capture(pyshark: Any, path: str) -> Any:
    """A ``pyshark.FileCapture`` in EK mode whose output parser hands back chunks of
    parsed EK lines (lists of ``layers`` dicts) rather than one Packet object each."""
    from pyshark.tshark.output_parser.tshark_ek import TsharkEkJsonParser

    class ChunkParser(TsharkEkJsonParser):  # type: ignore[misc]
        def _extract_packet_from_data(
            self, data: bytes, got_first_packet: bool = True
        ) -> tuple[bytes | None, bytes]:
            end = data.rfind(b"\n")
            if end == -1:
                return None, data
            return data[: end + 1], data[end + 1 :]

        def _parse_single_packet(self, chunk: bytes) -> list[dict[str, list[str]]]:
            loads = orjson.loads
            return [
                loads(line)["layers"]
                for line in chunk.split(b"\n")
                if line.startswith(b'{"timestamp"')
            ]

    class FastFileCapture(pyshark.FileCapture):  # type: ignore[misc]
        def _setup_tshark_output_parser(self) -> ChunkParser:
            return ChunkParser()

    return FastFileCapture(
        path, keep_packets=False, use_ek=True, override_prefs=PREFS,
        custom_parameters=fast_parameters(),
    )


class PysharkCapture:
    """One capture file dissected by Wireshark through pyshark; the same shape as
    :class:`~analyzer.capture.files.CaptureFile`, plus ``skipped`` (per reason)."""

    backend = "pyshark"

    def __init__(self, path: str) -> None:
        self._pyshark = _import_pyshark()
        self.path = path
        self.layout = time_layout(path)
        self.format = self.layout.format
        self.packets = 0
        self.bytes_read = 0  # tshark reads the file; progress counts packets
        self.truncated = False
        self.warnings: list[str] = []
        self._batcher = Batcher()
        self.skipped = self._batcher.skipped

    def batches(self) -> Iterator[Batch]:
        b = self._batcher
        cap = _file_capture(self._pyshark, self.path)
        error: BaseException | None = None
        try:
            for chunk in cap:
                for layers in chunk:
                    self.packets += 1
                    try:
                        self._segment(layers)
                    except (KeyError, IndexError, ValueError, OSError):
                        b.skip("backend-undecoded")
                if len(b) >= BATCH:
                    out = b.take()
                    if out is not None:
                        yield out
        except Exception as e:  # noqa: BLE001 - tshark stopped: keep what it gave
            error = e
        finally:
            try:
                cap.close()
            except Exception as e:  # noqa: BLE001 - pyshark reports tshark's exit here
                error = error or e
            cap._running_processes.clear()  # closed: pyshark's __del__ must not retry
            last = getattr(cap, "_last_error_line", None)
            if error is not None and last:
                error = RuntimeError(last.decode(errors="replace") if isinstance(
                    last, bytes) else str(last))
        out = b.take()
        if out is not None:
            yield out
        if error is not None:
            why = (str(error).strip().splitlines() or [type(error).__name__])[0]
            if self.packets == 0:
                raise CaptureError(self.path, f"tshark cannot read it: {why}")
            self.truncated = True
            self.warnings.append(f"tshark stopped after {self.packets} packets: {why}")

    def _segment(self, layers: dict[str, list[str]]) -> None:
        b = self._batcher
        get = layers.get
        protos = get("frame_protocols", [""])[0].split(":")
        mf = get("ip_flags_mf")
        frag = get("ip_frag_offset")
        if (mf and "1" in mf) or (frag and any(x != "0" for x in frag)) or get(
            "ipv6_fraghdr_offset"
        ):
            b.skip("ip-fragment")
            return
        if "tcp" not in protos:
            if "ip" not in protos and "ipv6" not in protos:
                b.skip("not-ip")
            elif "udp" in protos:
                b.skip("udp")
            else:
                b.skip("not-tcp")
            return
        i = len(protos) - 1 - protos[::-1].index("tcp")
        if "icmp" in protos[:i] or "icmpv6" in protos[:i]:
            b.skip("not-tcp")  # the TCP header quoted inside an ICMP error
            return
        v = i - 1
        while v >= 0 and protos[v] not in ("ip", "ipv6"):
            v -= 1
        if v < 0:
            b.skip("not-ip")
            return
        if protos[v] == "ip":
            src = socket.inet_aton(layers["ip_src"][-1])
            dst = socket.inet_aton(layers["ip_dst"][-1])
        else:
            src = socket.inet_pton(socket.AF_INET6, layers["ipv6_src"][-1])
            dst = socket.inet_pton(socket.AF_INET6, layers["ipv6_dst"][-1])
        seq = get("tcp_seq_raw")
        if not seq:
            b.skip("truncated-tcp")
            return
        hl = get("tcp_hdr_len")
        seglen = get("tcp_len")
        if not hl or int(hl[-1]) < 20 or not seglen:
            b.skip("bad-tcp-header")
            return
        ack = get("tcp_ack_raw")
        pl = get("tcp_payload")
        payload = bytes.fromhex(pl[-1].replace(":", "")) if pl else b""
        sec, _, frac = layers["frame_time_epoch"][0].partition(".")
        iface = get("frame_interface_id")
        ts = self.layout.from_ns(
            int(sec), int(frac.ljust(9, "0")[:9]), int(iface[0]) if iface else 0
        )
        b.add(
            ts, src, dst, int(layers["tcp_srcport"][-1]), int(layers["tcp_dstport"][-1]),
            int(seq[-1]), int(ack[-1]) if ack else 0, int(layers["tcp_flags"][-1], 16),
            payload, int(seglen[-1]), int(get("frame_len", ["0"])[0]),
        )
