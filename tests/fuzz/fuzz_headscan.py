"""Coverage-guided differential fuzzing of the HTTP/1 header scan: the C scanner
(analyzer/core/_headscan.c) against its Python twin (``http1._scan_head_py``).

The invariant (:func:`agree`): for any bytes, any range and any flags, both give the same
first line, block end, headers and Content-Length values (or both give up); the C scanner
never reads outside the range (run it under a sanitizer to see that too).

    python tests/fuzz/fuzz_headscan.py CORPUS -max_total_time=300   # make fuzz

The first input byte picks the flags and the next two the range's start and cut; the rest
is the buffer. Needs the compiled core (the C scanner is not used by the pure one).
tests/test_http1.py checks :func:`agree` on generated header blocks too.
"""

from __future__ import annotations

from types import ModuleType

SEEDS = [
    b"\x07\x00\x00GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nUser-Agent: curl\r\n\r\nabc",
    b"\x02\x00\x00HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nServer: nginx\r\n\r\n",
    b"\x05\x01\x02PUT /x HTTP/1.0\nConnection:\tclose \nX-Forwarded-For: 1.2.3.4\n\n",
]


def agree(
    http1: ModuleType, buf: bytes, s: int, e: int, fast: bool, is_request: bool, software: bool
) -> None:
    """The C scan (``http1._scan_head``, with ``_c_scan`` set) gives what the Python twin
    gives: the same scanned numbers and, when the scan did not give up, the same headers
    (in order) and Content-Length values. Raises AssertionError otherwise."""
    h_py: dict[str, str] = {}
    c_py: list[str] = []
    want = http1._scan_head_py(buf, s, e, fast, is_request, software, h_py, c_py)
    h_c: dict[str, str] = {}
    c_c: list[str] = []
    got = http1._scan_head(buf, s, e, fast, is_request, software, h_c, c_c)
    assert got == want, (buf, s, e, fast, is_request, software, got, want)
    if want is not None:  # (a scan given up leaves nothing the caller keeps)
        assert (list(h_c.items()), c_c) == (list(h_py.items()), c_py), (buf, h_c, h_py)


def main() -> None:
    from twins import fuzz, source_module

    http1 = source_module("analyzer/core/http1.py")

    def check(data: bytes) -> None:
        if len(data) < 3:
            return
        flags, lead, cut = data[0], data[1], data[2]
        buf = data[3:]
        s = min(lead, len(buf))
        agree(http1, buf, s, max(s, len(buf) - cut), bool(flags & 1), bool(flags & 2),
              bool(flags & 4))

    twins = [f for f in vars(http1).values()
             if getattr(f, "__module__", None) == http1.__name__ and hasattr(f, "__code__")]
    fuzz("fuzz_headscan", http1._c_scan is not None, SEEDS, twins, check)


if __name__ == "__main__":
    main()
