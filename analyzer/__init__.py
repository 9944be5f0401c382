"""keepalive-analyzer: do your HTTP clients and servers reuse TCP connections, and if not, why?

Public API::

    import analyzer
    a = analyzer.analyze("capture.pcap")
    a.servers          # one row per server endpoint: verdict, diagnosis, evidence, hint
    a.connections      # one row per TCP connection
    a.exchanges        # one row per HTTP request/response
    a.to_json()        # the JSON contract, schema keepalive-analyzer/1
"""

from analyzer.api import SCHEMA, Analysis, analyze, sniff
from analyzer.errors import AnalyzerError, CaptureError, UnsupportedLinkType

__version__ = "0.1.0"

__all__ = [
    "SCHEMA", "Analysis", "AnalyzerError", "CaptureError", "UnsupportedLinkType", "analyze",
    "sniff",
]
