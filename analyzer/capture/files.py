"""Native streaming readers for classic pcap and pcapng, plain or gzip-compressed.

The file is read in ~1 MiB chunks into one buffer; records are located in place and
handed on as offsets, so a capture is never loaded whole and frames are never copied.

Formats: classic pcap (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html),
both byte orders, microsecond (0xa1b2c3d4) and nanosecond (0xa1b23c4d) magics; pcapng
(draft-ietf-opsawg-pcapng): SHB, IDB (if_tsresol, if_tsoffset), EPB, SPB and the obsolete
PB; unknown blocks are skipped; several sections and interfaces, both byte orders.

A capture that ends mid-record is *truncated*: what it held is returned and a warning is
recorded. Absurd lengths are refused before anything is allocated for them.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from collections.abc import Iterator
from typing import IO, TypeVar

from analyzer.core import linktypes
from analyzer.errors import CaptureError, UnsupportedLinkType

CHUNK = 1 << 20
MAX_RECORD = 256 * 1024  # larger than any real snaplen (262144); guards absurd lengths
MAX_BLOCK = 16 * 1024 * 1024

Record = tuple[float, int, int, int, int]
_T = TypeVar("_T")
Batch = tuple[bytes, list[Record]]

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_TLS_KEY_LOG = 0x544C534B  # a DSB's secrets type: "TLSK", an NSS key log
# What reading a damaged file can raise. zlib.error (corrupt deflate data in a .gz) is not
# an OSError, so it is listed on its own; without it a corrupt .gz escaped as a traceback.
_READ_ERRORS = (OSError, EOFError, gzip.BadGzipFile, zlib.error)


class CaptureFile:
    """One capture file, opened and identified; :meth:`batches` streams its packets.

    After iteration: ``packets`` (records read), ``truncated``, ``warnings``.
    """

    def __init__(self, path: str, fileobj: IO[bytes] | None = None) -> None:
        self.path = path
        self.packets = 0
        self.truncated = False
        self.warnings: list[str] = []
        # the TLS key logs of a pcapng's Decryption Secrets Blocks, as read (never output)
        self.secrets: list[bytes] = []
        self._held_secrets: bytes | None = None
        self.bytes_read = 0
        # classic pcap: where in the file the buffer of the latest run starts (a span of
        # the input, analyzer.spans, reads from a record boundary: start_at)
        self.buf_offset = 0
        self._start = 24
        self._fh = open_file(path) if fileobj is None else _wrap(path, fileobj)
        self._read_error: BaseException | None = None
        try:
            head = self._fh.read(24)
        except _READ_ERRORS as e:
            self._fh.close()
            raise CaptureError(path, f"cannot read: {_why(e)}") from None
        self.compressed = isinstance(self._fh, gzip.GzipFile)
        self._head = head
        if not head:
            self._fh.close()
            raise CaptureError(
                path, "empty file (0 bytes): the capture was never written; check the "
                "command that recorded it (tcpdump -w FILE)"
            )
        magic = head[:4]
        if magic in _PCAP_MAGICS:
            self.format = "pcap"
            if len(head) < 24:
                self._fh.close()
                raise CaptureError(path, "truncated pcap file header")
            order, self._tsres = _PCAP_MAGICS[magic]
            self._order = order
            (network,) = struct.unpack_from(order + "I", head, 20)
            self.linktype = network & 0x0FFFFFFF
            if self.linktype not in linktypes.SUPPORTED:
                self._fh.close()
                raise UnsupportedLinkType(path, self.linktype)
            self.nanosecond = self._tsres == 1e-9
        elif magic == _PCAPNG_SHB:
            self.format = "pcapng"
            self.linktype = -1
        else:
            self._fh.close()
            kind = _guess(head)
            raise CaptureError(
                path, f"not a pcap or pcapng capture ({kind}); record one with "
                "`tcpdump -w FILE` or `tshark -w FILE`"
            )
        if self.compressed:
            self.format += ".gz"

    def close(self) -> None:
        self._fh.close()

    def start_at(self, offset: int) -> None:
        """Read an uncompressed classic pcap from ``offset``, a record boundary (the
        records before it are another reader's: :mod:`analyzer.spans`)."""
        if self.format != "pcap":
            raise ValueError(f"{self.format} cannot be read from an offset")
        self._fh.seek(offset)
        self._head = self._head[:24]
        self._start = offset

    def _read(self) -> bytes:
        """Up to CHUNK bytes of capture data.

        A gzip stream that ends early (or is damaged) raises only *after* the bytes
        decompressed before the damage have been returned: ``GzipFile.read(n)`` would
        drop everything it had gathered for this call along with the exception, so a
        truncated .gz lost its last MiB of packets (all of them, for a small file).
        ``read1`` returns what one decompression step gave; the error is kept and raised
        on the next call."""
        if self._read_error is not None:
            e, self._read_error = self._read_error, None
            raise e
        if not self.compressed:
            return self._fh.read(CHUNK)
        parts: list[bytes] = []
        n = 0
        try:
            while n < CHUNK:
                d = self._fh.read1(CHUNK - n)  # type: ignore[attr-defined]
                if not d:
                    break
                parts.append(d)
                n += len(d)
        except _READ_ERRORS as e:
            if not parts:
                raise
            self._read_error = e
        return b"".join(parts)

    def batches(self) -> Iterator[Batch]:
        if self.format.startswith("pcapng"):
            yield from self._guarded(self._pcapng())
        else:
            for buf, out, _start, _end, _count in self._guarded(self._pcap()):
                yield buf, out

    def runs(self) -> Iterator[tuple[bytes, int, int, int]]:
        """Classic pcap only: ``(buf, start, end, packets)``, runs of whole, checked
        records for :func:`analyzer.capture.pcapwalk.walk_pcap`, which walks them into a
        flow table (no tuple per packet). Same warnings and truncation as :meth:`batches`."""
        for buf, _out, start, end, count in self._guarded(self._pcap(walk=True)):
            yield buf, start, end, count

    def _guarded(self, chunks: Iterator[_T]) -> Iterator[_T]:
        """A read error ends the capture with a warning (what was read counts); the file
        is closed however the reading ends."""
        try:
            yield from chunks
        except (*_READ_ERRORS, struct.error) as e:
            self.truncated = True
            self.warnings.append(f"read error after {self.packets} packets: {_why(e)}")
        finally:
            self._fh.close()

    def record_ts(self, buf: bytes, pos: int) -> float:
        """The timestamp of the classic pcap record at ``buf[pos:]``."""
        sec, frac = struct.unpack_from(self._order + "II", buf, pos)
        return sec + frac * self._tsres

    @property
    def little_endian(self) -> bool:
        return self._order == "<"

    @property
    def ts_scale(self) -> float:
        return self._tsres

    # ---- classic pcap
    def _pcap(self, walk: bool = False) -> Iterator[tuple[bytes, list[Record], int, int, int]]:
        """Whole records chunk by chunk: as a list of record tuples, or (``walk``) as the
        span ``start:end`` of ``count`` records."""
        rec = struct.Struct(self._order + "IIII").unpack_from
        tail = self._head[24:]  # bytes read but not yet used: less than one record
        n = 0
        at = self._start - len(tail)  # the file offset of the next read
        while True:
            data = self._read()
            self.bytes_read += len(data)
            if not data:
                break
            chunk_at = at
            at += len(data)
            pos = 0
            if tail:
                # The record across the chunk boundary gets a small buffer of its own:
                # joining the tail to the whole chunk would copy the capture once more.
                if len(tail) < 16:
                    if len(data) < 16 - len(tail):
                        tail += data
                        continue
                    incl = rec(tail + data[: 16 - len(tail)], 0)[2]
                else:
                    incl = rec(tail, 0)[2]
                need = 16 + incl - len(tail)
                if incl <= MAX_RECORD and len(data) < need:
                    tail += data
                    continue
                small = tail + data[: need if incl <= MAX_RECORD else 16]
                out: list[Record] = []
                end, count, corrupt = self._scan(small, 0, out, n, walk)
                if count:
                    n += count
                    self.packets = n
                    self.buf_offset = chunk_at - len(tail)
                    yield small, out, 0, end, count
                if corrupt:
                    return
                pos = need
                tail = b""
            out = []
            end, count, corrupt = self._scan(data, pos, out, n, walk)
            if count:
                n += count
                self.packets = n
                self.buf_offset = chunk_at
                yield data, out, pos, end, count
            if corrupt:
                return
            tail = data[end:] if end < len(data) else b""
        self.packets = n
        if tail:
            self.truncated = True
            self.warnings.append(
                f"capture is truncated: last record cut after {n} packets "
                f"({len(tail)} bytes left over)"
            )

    def _scan(
        self, buf: bytes, pos: int, out: list[Record], n: int, walk: bool
    ) -> tuple[int, int, bool]:
        """The whole records of ``buf`` from ``pos``: appended to ``out`` (or, ``walk``,
        only checked and counted). Returns (where the first incomplete or corrupt one
        starts, how many, whether one was corrupt); ``n``: packets before."""
        le = self._order == "<"
        scale = self._tsres
        lt = self.linktype
        blen = len(buf)
        append = out.append
        count = 0
        while pos + 16 <= blen:
            if le:  # byte reads compile to plain C loads (mypyc); struct does not
                incl = (buf[pos + 8] | buf[pos + 9] << 8 | buf[pos + 10] << 16
                        | buf[pos + 11] << 24)
            else:
                incl = (buf[pos + 8] << 24 | buf[pos + 9] << 16 | buf[pos + 10] << 8
                        | buf[pos + 11])
            if incl > MAX_RECORD:
                self.truncated = True
                self.warnings.append(
                    f"corrupt record after {n + count} packets "
                    f"(captured length {incl}); stopped reading"
                )
                self.packets = n + count
                return pos, count, True
            start = pos + 16
            end = start + incl
            if end > blen:
                break
            if not walk:
                if le:
                    sec = (buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
                           | buf[pos + 3] << 24)
                    frac = (buf[pos + 4] | buf[pos + 5] << 8 | buf[pos + 6] << 16
                            | buf[pos + 7] << 24)
                    orig = (buf[pos + 12] | buf[pos + 13] << 8 | buf[pos + 14] << 16
                            | buf[pos + 15] << 24)
                else:
                    sec, frac, _incl, orig = struct.unpack_from(">IIII", buf, pos)
                append((sec + frac * scale, lt, start, incl, orig))
            count += 1
            pos = end
        return pos, count, False

    # ---- pcapng
    def _pcapng(self) -> Iterator[Batch]:
        buf = self._head
        pos = 0
        n = 0
        order = "<"
        # per interface: (linktype, ts multiplier, ts offset, snaplen)
        ifaces: list[tuple[int, float, float, int]] = []
        last_ts = 0.0
        eof = False
        seen_unsupported: set[int] = set()
        warned: set[tuple[int, int]] = set()  # (interface, link type) warned of
        any_supported = False
        reparse = False  # the buffer holds blocks still to parse: no read first
        while not eof or reparse:
            if reparse:
                reparse = False
            else:
                data = self._read()
                self.bytes_read += len(data)
                if not data:
                    eof = True
                else:
                    buf = buf[pos:] + data if pos < len(buf) else data
                    pos = 0
            blen = len(buf)
            out: list[Record] = []
            append = out.append
            while pos + 12 <= blen:
                btype_raw = buf[pos : pos + 4]
                if btype_raw == _PCAPNG_SHB:
                    bom = buf[pos + 8 : pos + 12]
                    if bom == b"\x4d\x3c\x2b\x1a":
                        order = "<"
                    elif bom == b"\x1a\x2b\x3c\x4d":
                        order = ">"
                    else:
                        self._corrupt(n + len(out), "bad section byte-order magic")
                        break
                btype, blk = struct.unpack_from(order + "II", buf, pos)
                if blk < 12 or blk % 4 or blk > MAX_BLOCK:
                    self._corrupt(n + len(out), f"bad block length {blk}")
                    pos = blen
                    eof = True
                    break
                if pos + blk > blen:
                    break
                body = pos + 8
                bend = pos + blk - 4
                if btype == 6 or btype == 2:  # EPB, obsolete PB
                    if btype == 6:
                        iid, hi, lo, incl, orig = struct.unpack_from(order + "IIIII", buf, body)
                    else:
                        iid, _drops, hi, lo, incl, orig = struct.unpack_from(
                            order + "HHIIII", buf, body
                        )
                    start = body + 20
                    if iid >= len(ifaces):
                        self._corrupt(n + len(out), f"packet for undeclared interface {iid}")
                        pos += blk
                        continue
                    lt, mul, tsoff, _snap = ifaces[iid]
                    if start + incl > bend:
                        incl = max(0, bend - start)
                    last_ts = ((hi << 32) | lo) * mul + tsoff
                    append((last_ts, lt, start, incl, orig))  # decode skips odd link types
                elif btype == 3:  # SPB: interface 0, no timestamp
                    if not ifaces:
                        self._corrupt(n + len(out), "simple packet before any interface")
                    else:
                        (orig,) = struct.unpack_from(order + "I", buf, body)
                        lt, _mul, _off, snap = ifaces[0]
                        start = body + 4
                        incl = min(orig, bend - start, snap or orig)
                        append((last_ts, lt, start, incl, orig))
                elif btype == 1:  # IDB
                    lt, _res, snap = struct.unpack_from(order + "HHI", buf, body)
                    mul, tsoff = _idb_options(buf, body + 8, bend, order)
                    ifaces.append((lt, mul, tsoff, snap))
                    any_supported = any_supported or lt in linktypes.SUPPORTED
                    if lt not in linktypes.SUPPORTED and (len(ifaces) - 1, lt) not in warned:
                        # one warning per interface (a section repeating it: not again)
                        seen_unsupported.add(lt)
                        warned.add((len(ifaces) - 1, lt))
                        self.warnings.append(
                            f"interface {len(ifaces) - 1} has unsupported link type {lt} "
                            f"({linktypes.name(lt)}); its packets are skipped "
                            f"(linktype-{lt})"
                        )
                elif btype == 10 and bend - body >= 8:  # DSB: Decryption Secrets Block
                    stype, slen = struct.unpack_from(order + "II", buf, body)
                    if stype == _TLS_KEY_LOG:  # an NSS key log (editcap --inject-secrets)
                        text = bytes(buf[body + 8 : min(body + 8 + slen, bend)])
                        if out:
                            # it applies to the packets after it: the batch so far goes
                            # out first, the secrets with the next one
                            self._held_secrets = text
                            pos += blk
                            break
                        self.secrets.append(text)
                elif btype == 0x0A0D0D0A:
                    ifaces = []
                pos += blk
            if out:
                n += len(out)
                self.packets = n
                yield buf, out
            if self._held_secrets is not None:
                self.secrets.append(self._held_secrets)
                self._held_secrets = None
                if pos + 12 <= len(buf):
                    reparse = True  # (the blocks after it are in the buffer already)
                    continue
            if eof:
                break
        self.packets = n
        if pos < len(buf) and not self.truncated:
            self.truncated = True
            self.warnings.append(
                f"capture is truncated: last block cut after {n} packets "
                f"({len(buf) - pos} bytes left over)"
            )
        if not ifaces and n == 0 and not self.truncated:
            raise CaptureError(
                self.path, "pcapng file has no interface description block (a damaged or "
                "partial file: re-export it with `editcap FILE OUT.pcapng`)"
            )
        if seen_unsupported and not any_supported:
            raise UnsupportedLinkType(self.path, min(seen_unsupported))

    def _corrupt(self, n: int, what: str) -> None:
        self.truncated = True
        self.warnings.append(f"corrupt pcapng after {n} packets: {what}; stopped reading")


def idb_time(buf: bytes, p: int, end: int, order: str) -> tuple[int, int]:
    """(if_tsresol byte, if_tsoffset seconds) of an IDB's options (defaults: 6 = µs, 0)."""
    tsresol = 6
    tsoffset = 0
    while p + 4 <= end:
        code, olen = struct.unpack_from(order + "HH", buf, p)
        if code == 0:
            break
        v = p + 4
        if code == 9 and olen >= 1:
            tsresol = buf[v]
        elif code == 14 and olen >= 8:
            tsoffset = struct.unpack_from(order + "q", buf, v)[0]
        p = v + ((olen + 3) & ~3)
    return tsresol, tsoffset


def ts_multiplier(tsresol: int) -> float:
    """Seconds per timestamp unit for an ``if_tsresol`` byte (MSB set: a power of 2)."""
    return 2.0 ** -(tsresol & 0x7F) if tsresol & 0x80 else 10.0**-tsresol


def _idb_options(buf: bytes, p: int, end: int, order: str) -> tuple[float, float]:
    """The multiplier and offset the reader applies to an interface's timestamps."""
    tsresol, tsoffset = idb_time(buf, p, end, order)
    return ts_multiplier(tsresol), float(tsoffset)


def open_file(path: str) -> IO[bytes]:
    """Open a capture file for reading (gunzipped on the fly); one-line CaptureErrors."""
    if os.path.isdir(path):
        raise CaptureError(path, "is a directory: name the capture files inside it")
    try:
        # unbuffered: the reader asks for 1 MiB at a time itself
        fh: IO[bytes] = open(path, "rb", buffering=0)  # noqa: SIM115
    except FileNotFoundError:
        raise CaptureError(path, "no such file") from None
    except PermissionError:
        raise CaptureError(path, "permission denied (try sudo, or check the file mode)") from None
    except OSError as e:
        raise CaptureError(path, f"cannot open: {_why(e)}") from None
    return _wrap(path, fh)


def _wrap(path: str, fh: IO[bytes]) -> IO[bytes]:
    """Decompress on the fly when the file is gzip (by its magic, whatever its name)."""
    magic = fh.read(2)
    fh.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    if path.endswith(".gz") and magic:
        fh.close()
        raise CaptureError(
            path, "named .gz but is not gzip-compressed: rename it, or recompress it with gzip"
        )
    return fh


def _guess(head: bytes) -> str:
    if head[:4] in (b"\x89PNG",) or head[:3] == b"\xff\xd8\xff":
        return "looks like an image"
    try:
        head.decode("utf-8")
        return "looks like a text file"
    except UnicodeDecodeError:
        return f"unknown magic {head[:4].hex()}"


def _why(e: BaseException) -> str:
    s = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return s.splitlines()[0] if s else type(e).__name__


def open_capture(path: str, fileobj: IO[bytes] | None = None) -> CaptureFile:
    """Open and identify a capture file (or an already open, seekable binary file named
    ``path``); raises :class:`CaptureError` with a one-line reason."""
    return CaptureFile(path, fileobj)


def pcapng_secrets(path: str) -> list[bytes]:
    """The TLS key logs of a pcapng's Decryption Secrets Blocks (none for other formats):
    for the backends (scapy, pyshark), which do not hand them on. Reads the whole file."""
    cf = CaptureFile(path)
    try:
        if cf.format.startswith("pcapng"):
            for _batch in cf.batches():
                pass
        return cf.secrets
    except CaptureError:
        return cf.secrets  # what it held before the damage
    finally:
        cf.close()


def first_timestamp(path: str) -> float | None:
    """The timestamp of a capture's first packet, or None when it holds none (or is cut
    or damaged before one): reads only the headers in front of it, a few hundred bytes,
    with the reader's own arithmetic. Several files of one capture are put in order by it
    (:func:`analyzer.pipeline.analyze`). Raises :class:`CaptureError` like :func:`open_capture`
    for a file that is no capture at all."""
    CaptureFile(path).close()  # the same one-line errors as reading it
    fh = open_file(path)
    try:
        return _first_ts(fh)
    except (*_READ_ERRORS, struct.error):
        return None
    finally:
        fh.close()


def _read_exactly(fh: IO[bytes], n: int) -> bytes:
    parts: list[bytes] = []
    while n > 0:
        d = fh.read(n)
        if not d:
            break
        parts.append(d)
        n -= len(d)
    return b"".join(parts)


def _first_ts(fh: IO[bytes]) -> float | None:
    head = _read_exactly(fh, 24)
    magic = head[:4]
    if magic in _PCAP_MAGICS:
        order, scale = _PCAP_MAGICS[magic]
        rec = _read_exactly(fh, 16)
        if len(rec) < 16:
            return None
        sec, frac = struct.unpack_from(order + "II", rec)
        return sec + frac * scale  # as CaptureFile._pcap
    # pcapng: walk the blocks to the first packet, as CaptureFile._pcapng reads them
    order = "<"
    ifaces: list[tuple[float, float]] = []  # per interface: ts multiplier, ts offset
    buf = head
    while True:
        if len(buf) < 12:
            buf += _read_exactly(fh, 12 - len(buf))
            if len(buf) < 12:
                return None
        if buf[:4] == _PCAPNG_SHB:
            bom = buf[8:12]
            if bom == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                return None
        btype, blk = struct.unpack_from(order + "II", buf)
        if blk < 12 or blk % 4 or blk > MAX_BLOCK:
            return None
        if len(buf) < blk:
            buf += _read_exactly(fh, blk - len(buf))
            if len(buf) < blk:
                return None
        body, bend = 8, blk - 4
        if btype == 6 or btype == 2:  # EPB, obsolete PB
            if btype == 6:
                iid, hi, lo = struct.unpack_from(order + "III", buf, body)
            else:
                iid, _drops, hi, lo = struct.unpack_from(order + "HHII", buf, body)
            if iid < len(ifaces):
                mul, tsoff = ifaces[iid]
                return ((hi << 32) | lo) * mul + tsoff
        elif btype == 3 and ifaces:  # SPB: no timestamp of its own; the reader says 0.0
            return 0.0
        elif btype == 1:  # IDB
            ifaces.append(_idb_options(buf, body + 8, bend, order))
        elif btype == 0x0A0D0D0A:
            ifaces = []
        buf = buf[blk:]
