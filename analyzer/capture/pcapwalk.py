"""The classic pcap record walk: records read in place, each frame handed to a flow table.

A classic pcap file (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html) is a
24-byte file header and then records, each a 16-byte header — seconds, fraction of a
second (micro- or nanoseconds, by the file's magic), captured length, original length, in
the file's byte order — and the captured frame. :class:`~analyzer.capture.files.CaptureFile`
reads the file in ~1 MiB chunks and checks which records of a chunk are whole
(:meth:`~analyzer.capture.files.CaptureFile.runs`); :func:`walk_pcap` then walks such a
run and hands each frame to :meth:`analyzer.core.flows.FlowTable.frame` as offsets into
the chunk: no tuple, no copy per packet. Other inputs hand the same table record lists
(:meth:`~analyzer.core.flows.FlowTable.feed`); the table sees frames the same way.

This module is compiled with the core (``analyzer/_compiled.py``): the call per record is
then a native call, and each header byte a C load.
"""

from __future__ import annotations

from typing import Final

from analyzer.core.flows import FlowTable

RECORD_HEADER: Final = 16  # bytes before each record's frame


def walk_pcap(
    table: FlowTable, buf: bytes, start: int, end: int, little: bool, scale: float, lt: int
) -> int:
    """Feed the classic pcap records ``buf[start:end]`` (whole ones, checked by the reader)
    to ``table``: ``little`` their byte order, ``scale`` seconds per unit of their second
    field, ``lt`` the file's link type. Returns how many there were."""
    ts = table.now
    last = ts
    back = 0
    pos = start
    i = 0
    while pos < end:
        # Byte reads rather than struct: compiled, each is a plain C load.
        if little:
            sec = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16 | buf[pos + 3] << 24
            frac = buf[pos + 4] | buf[pos + 5] << 8 | buf[pos + 6] << 16 | buf[pos + 7] << 24
            caplen = (buf[pos + 8] | buf[pos + 9] << 8 | buf[pos + 10] << 16
                      | buf[pos + 11] << 24)
        else:
            sec = buf[pos] << 24 | buf[pos + 1] << 16 | buf[pos + 2] << 8 | buf[pos + 3]
            frac = buf[pos + 4] << 24 | buf[pos + 5] << 16 | buf[pos + 6] << 8 | buf[pos + 7]
            caplen = (buf[pos + 8] << 24 | buf[pos + 9] << 16 | buf[pos + 10] << 8
                      | buf[pos + 11])
        ts = sec + frac * scale
        if ts < last:
            back += 1  # (time went back: analyzer.spans will not cut such a capture)
        last = ts
        table.frame(buf, ts, lt, pos + RECORD_HEADER, caplen, i)
        pos += RECORD_HEADER + caplen
        i += 1
    if back:
        table.backwards += back
    table.end_batch(ts, i)
    return i
