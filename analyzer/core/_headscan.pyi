# The header-block scan in C (analyzer/core/_headscan.c): http1._scan_head.
def scan(
    buf: bytes, s: int, e: int, fast: bool, is_request: bool, software: bool, /
) -> tuple[int, int, int, int, int, tuple[int, ...]] | None: ...
