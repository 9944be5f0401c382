"""Write frames to a classic pcap file (nanosecond timestamps), as the analysis saw them.

``keepalive sniff --write F`` saves exactly the frames fed to the flow table, with the
same timestamps, so analysing F offline gives the same answer as the live run.
"""

from __future__ import annotations

import struct
from typing import IO

MAGIC_NS = 0xA1B23C4D
SNAPLEN = 262144


class PcapWriter:
    """A pcap file being written; frames go through a buffered binary file."""

    def __init__(self, fh: IO[bytes], linktype: int, snaplen: int = SNAPLEN) -> None:
        self.fh = fh
        self.linktype = linktype
        fh.write(struct.pack("<IHHiIII", MAGIC_NS, 2, 4, 0, 0, snaplen, linktype))
        self._rec = struct.Struct("<IIII").pack

    def write(self, sec: int, nsec: int, frame: bytes, wirelen: int) -> None:
        self.fh.write(self._rec(sec, nsec, len(frame), wirelen))
        self.fh.write(frame)

    def close(self) -> None:
        self.fh.close()
