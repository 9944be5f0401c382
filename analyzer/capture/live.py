"""Live capture with scapy: raw frames from a packet socket, decoded by our own core.

The call shape is scapy's ``sniff(prn=…, store=False)`` (run by ``AsyncSniffer`` so the
terminal view can refresh meanwhile), on a socket scapy opens with its BPF filter. A
custom session drains the socket without dissecting anything: each ``recv`` hands the
``prn`` callback a *batch* of raw frames with their kernel timestamps (SO_TIMESTAMPNS),
which goes straight to :class:`analyzer.core.flows.FlowTable` — the same code the
offline reader feeds, so the same packets give the same answer.

Linux's loopback shows every packet twice (once going out, once coming in); like
libpcap, the outgoing copy is dropped. Packets the kernel dropped are read from
PACKET_STATISTICS at the end and reported.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from analyzer.capture.pcapwriter import PcapWriter
from analyzer.core.linktypes import LINKTYPE_ETHERNET, LINKTYPE_RAW
from analyzer.errors import AnalyzerError

SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
SNAPLEN = 262144
DRAIN = 512  # frames taken per wake-up, at most
RCVBUF = 32 * 1024 * 1024

# ARPHRD_* (the interface's hardware type) → pcap link type of the frames it gives
# ARPHRD (the interface's hardware type) → link type: Ethernet, loopback (Ethernet framed
# on Linux), and the raw-IP tunnels (ARPHRD_NONE, SIT, IPGRE)
_HATYPE_LINKTYPE = {
    1: LINKTYPE_ETHERNET, 772: LINKTYPE_ETHERNET, 65534: LINKTYPE_RAW, 776: LINKTYPE_RAW,
    778: LINKTYPE_RAW,
}
_TS = struct.Struct("qq").unpack_from


class PrivilegeError(AnalyzerError):
    """Opening a packet socket needs root or CAP_NET_RAW."""


def privilege_hint(argv: list[str] | None = None) -> str:
    """What to run instead: the same command through sudo with the venv's own path (sudo
    resets PATH), or the capability granted once to the interpreter."""
    exe = os.path.realpath(sys.executable)
    args = " ".join(argv if argv is not None else sys.argv[1:]) or "sniff"
    prog = sys.argv[0] if argv is None else "keepalive"
    if os.path.basename(prog) == "keepalive":
        cmd = f"{os.path.abspath(prog)} {args}"
    else:
        cmd = f"{sys.executable} -m analyzer {args}"
    return (
        f"live capture needs root or CAP_NET_RAW: run `sudo {cmd}`, or grant it once: "
        f"`sudo setcap cap_net_raw,cap_net_admin+eip {exe}`"
    )


class Frame:
    """One captured frame; ``sniffed_on`` is set by scapy's sniff loop."""

    __slots__ = ("data", "sec", "nsec", "wirelen", "sniffed_on")

    def __init__(self, data: bytes, sec: int, nsec: int, wirelen: int) -> None:
        self.data = data
        self.sec = sec
        self.nsec = nsec
        self.wirelen = wirelen
        self.sniffed_on: Any = None


class Batch(list):  # type: ignore[type-arg]
    """Frames read in one wake-up (a list; scapy's sniff loop sees one object)."""

    __slots__ = ("sniffed_on",)


def default_iface() -> str:
    try:
        import scapy.arch  # noqa: F401 - sets conf.loopback_name
        from scapy.config import conf
    except ImportError:
        raise AnalyzerError(
            "live capture needs scapy: pip install 'keepalive-analyzer[live]'"
        ) from None

    return str(conf.loopback_name)


def open_socket(iface: str, bpf: str | None) -> Any:
    """Open scapy's listening socket with the BPF filter; errors become one line."""
    import logging

    logging.getLogger("scapy").setLevel(logging.ERROR)
    try:
        import scapy.arch  # noqa: F401 - sets conf.L2listen for this platform
        from scapy.config import conf
        from scapy.error import Scapy_Exception
    except ImportError:
        raise AnalyzerError(
            "live capture needs scapy: pip install 'keepalive-analyzer[live]'"
        ) from None
    try:
        from scapy.interfaces import get_if_list

        known = list(get_if_list())
    except Exception:  # noqa: BLE001 - only for the message below
        known = []
    if known and iface not in known:
        raise AnalyzerError(f"no such interface: {iface} (available: {', '.join(known)})")
    try:
        return conf.L2listen(iface=iface, filter=bpf)
    except ValueError as e:
        raise AnalyzerError(f"cannot capture on {iface}: {e}") from None
    except PermissionError:
        raise PrivilegeError(privilege_hint()) from None
    except OSError as e:
        if e.errno in (1, 13):
            raise PrivilegeError(privilege_hint()) from None
        if e.errno == 19:
            raise AnalyzerError(f"no such interface: {iface}") from None
        raise AnalyzerError(f"cannot capture on {iface}: {e.strerror or e}") from None
    except Scapy_Exception as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "libpcap" in msg:
            raise AnalyzerError(
                f"cannot compile the capture filter {bpf!r}: BPF filters need libpcap "
                "(apt-get install libpcap0.8)"
            ) from None
        if "filter" in msg.lower():
            raise AnalyzerError(f"bad capture filter {bpf!r}: {msg}") from None
        raise AnalyzerError(f"cannot capture on {iface}: {msg}") from None


class LiveCapture:
    """A packet socket on one interface, drained in batches by scapy's sniff loop."""

    def __init__(self, iface: str | None = None, bpf: str | None = "tcp") -> None:
        self.iface = iface or default_iface()
        self.sock = open_socket(self.iface, bpf)
        self.writer: PcapWriter | None = None
        self.frames = 0  # frames handed to the analysis (and to the --write file)
        self.closed = False
        raw = getattr(self.sock, "ins", None)
        if not isinstance(raw, socket.socket) or not hasattr(socket, "AF_PACKET"):
            self.sock.close()
            raise AnalyzerError(
                "live capture is implemented for Linux packet sockets; on this platform "
                "record with tcpdump and run `keepalive analyze`"
            )
        self.raw: socket.socket = raw
        hatype = raw.getsockname()[3]
        if hatype not in _HATYPE_LINKTYPE:
            self.sock.close()
            raise AnalyzerError(f"{self.iface}: unsupported interface type (ARPHRD {hatype})")
        self.linktype = _HATYPE_LINKTYPE[hatype]
        self.loopback = hatype == 772
        for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
            try:
                raw.setsockopt(socket.SOL_SOCKET, opt, RCVBUF)
                break
            except OSError:
                continue
        raw.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.stats()  # reading PACKET_STATISTICS resets it: count from now on
        self.received = 0
        self.dropped = 0

    def stats(self) -> tuple[int, int]:
        """(packets, drops) since the last call, from the kernel."""
        try:
            raw = self.raw.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        except OSError:
            return 0, 0
        packets, drops = struct.unpack("II", raw)
        return packets, drops

    def drain(self) -> Batch:
        """Read what is waiting (at most DRAIN frames) without blocking."""
        out = Batch()
        recvmsg = self.raw.recvmsg
        loopback = self.loopback
        flags = socket.MSG_DONTWAIT
        for _ in range(DRAIN):
            try:
                data, anc, _fl, addr = recvmsg(SNAPLEN, 64, flags)
            except (BlockingIOError, InterruptedError):
                break
            if loopback and addr[2] == PACKET_OUTGOING:
                continue
            sec = nsec = 0
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = _TS(cdata)
            if not sec:
                t = time.time_ns()
                sec, nsec = divmod(t, 1_000_000_000)
            out.append(Frame(data, sec, nsec, len(data)))
        return out

    def write_to(self, path: str) -> None:
        """Also save every frame the analysis sees, as pcap (``--write``)."""
        try:
            fh = open(path, "wb")  # noqa: SIM115 - closed with the capture
        except OSError as e:
            raise AnalyzerError(f"{path}: cannot write: {e.strerror or e}") from None
        self.writer = PcapWriter(fh, self.linktype)

    def to_batch(self, frames: Batch) -> tuple[bytes, list[tuple[float, int, int, int, int]]]:
        """Frames → one ``(buf, records)`` batch, as the file readers give; the --write
        file gets the same frames with the same timestamps."""
        parts = []
        records = []
        off = 0
        lt = self.linktype
        writer = self.writer
        for fr in frames:
            n = len(fr.data)
            parts.append(fr.data)
            # the same float arithmetic as the pcap reader: same packets, same answer
            records.append((fr.sec + fr.nsec * 1e-9, lt, off, n, fr.wirelen))
            off += n
            if writer is not None:
                writer.write(fr.sec, fr.nsec, fr.data, fr.wirelen)
        self.frames += len(records)
        return b"".join(parts), records

    def run(
        self,
        on_batch: Callable[[bytes, list[tuple[float, int, int, int, int]]], None],
        *,
        duration: float | None = None,
        count: int | None = None,
        tick: Callable[[], None] | None = None,
        started: Callable[[], None] | None = None,
    ) -> None:
        """Capture with scapy's AsyncSniffer until ``duration``, ``count`` frames or
        Ctrl-C, handing each batch to ``on_batch`` and calling ``tick`` about once a
        second. Returns once the sniffer thread is over."""
        from scapy.sendrecv import AsyncSniffer
        from scapy.sessions import DefaultSession

        capture = self
        running = threading.Event()

        class _RawSession(DefaultSession):  # type: ignore[misc]
            def recv(self, sock: Any) -> Any:
                batch = capture.drain()
                if batch:
                    yield batch

        seen = [0]

        def prn(batch: Batch) -> None:
            if count:
                del batch[count - seen[0]:]
            seen[0] += len(batch)
            on_batch(*self.to_batch(batch))

        def stop_filter(_batch: Batch) -> bool:
            return bool(count) and seen[0] >= (count or 0)

        def on_started() -> None:
            running.set()
            if started is not None:
                started()

        sniffer = AsyncSniffer(
            opened_socket=self.sock, session=_RawSession, prn=prn, store=False,
            stop_filter=stop_filter, started_callback=on_started,
        )
        sniffer.start()
        try:
            # the duration counts from the moment packets can arrive
            while not running.wait(0.1):
                if sniffer.thread is None or not sniffer.thread.is_alive():
                    break
            wait(sniffer, tick, duration)
        except KeyboardInterrupt:
            pass
        finally:
            thread = sniffer.thread
            while thread is not None and thread.is_alive():
                try:
                    sniffer.stop(join=False)
                except Exception:  # noqa: BLE001 - "not running" yet or already stopping
                    pass
                thread.join(timeout=0.5)
        exc = getattr(sniffer, "exception", None)
        if exc is not None:
            raise AnalyzerError(f"live capture on {self.iface} failed: {exc}") from None

    def close(self) -> tuple[int, int]:
        """Close the socket and the --write file; returns (packets the kernel passed,
        packets it dropped). Closing twice is harmless."""
        if not self.closed:
            self.closed = True
            packets, drops = self.stats()
            self.received += packets
            self.dropped += drops
            try:
                self.sock.close()
            except OSError:
                pass
            if self.writer is not None:
                self.writer.close()
        return self.received, self.dropped


def sudo_user() -> tuple[int, int] | None:
    """(uid, gid) of the user who ran ``sudo``, when we are root because of it."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    uid = os.environ.get("SUDO_UID")
    gid = os.environ.get("SUDO_GID")
    if (not uid or not gid or not (uid.isdigit() and uid.isascii())
            or not (gid.isdigit() and gid.isascii()) or uid == "0"):
        return None
    return int(uid), int(gid)


def drop_privileges() -> tuple[int, int] | None:
    """Under sudo, become the invoking user once the socket is open: nothing after that
    runs as root, and every file written belongs to that user. Returns (uid, gid) when
    it dropped."""
    who = sudo_user()
    if who is None:
        return None
    try:
        import pwd

        os.initgroups(pwd.getpwuid(who[0]).pw_name, who[1])  # the user's own groups
    except (KeyError, OSError):
        os.setgroups([])
    os.setgid(who[1])
    os.setuid(who[0])
    return who


def wait(
    sniffer: Any,
    tick: Callable[[], None] | None = None,
    duration: float | None = None,
    every: float = 1.0,
) -> None:
    """Wait for the sniffer to end (``count`` reached, ``duration`` over, or Ctrl-C in the
    caller), calling ``tick`` about every ``every`` seconds meanwhile."""
    deadline = time.monotonic() + duration if duration is not None else None
    while True:
        thread = getattr(sniffer, "thread", None)
        if thread is None or not thread.is_alive():
            return
        step = every
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            step = min(step, left)
        thread.join(timeout=step)
        if tick is not None:
            tick()
