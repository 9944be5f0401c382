"""Where packets come from: the only code that touches files, sockets, scapy or tshark.

Every source yields *batches*: ``(buf, records)`` where ``buf`` is a ``bytes`` chunk and
``records`` a list of ``(ts, linktype, offset, caplen, wirelen)`` tuples pointing into it.
The flow loop in :mod:`analyzer.core.flows` walks the records; nothing keeps ``buf``
beyond its batch.
"""

from analyzer.capture.files import CaptureFile, open_capture

__all__ = ["CaptureFile", "open_capture"]
