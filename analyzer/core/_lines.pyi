# The exchange store's lines rewritten in C (analyzer/core/_lines.c): readback.put_run.
def put_run(
    out: bytearray, win: bytes, s: int, e: int, prefix: bytes, cid: str, lead: bytes,
    sep: bytes, /
) -> int: ...
