# The header-block scan in C (analyzer/core/_headscan.c): http1._scan_head.
def scan(
    buf: bytes, s: int, e: int, fast: bool, is_request: bool, software: bool, /
) -> tuple[int, int, int, int, int, tuple[int, ...]] | None: ...
def scan_into(
    buf: bytes, s: int, e: int, fast: bool, is_request: bool, software: bool,
    headers: dict[str, str], cls: list[str], /
) -> tuple[int, int, int, int, int] | None: ...
def configure(
    names: tuple[str, ...], kinds: tuple[int, ...], framing: int, length: int, present: int,
    max_software: int, interned: dict[bytes, str], interned_max: int, /
) -> None: ...
