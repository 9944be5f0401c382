"""Coverage-guided differential fuzzing of the report's rewrite of stored exchange lines:
the C ``put_run`` (analyzer/core/_lines.c) against its Python twin
(``readback.put_run_py``).

The invariant (:func:`agree`): for any window of bytes, any run bounds (in range or not),
any prefix, connection id, lead and separator, both append the same bytes and return the
same count, or both raise the same error and append nothing; the C code never reads or
writes outside its buffers (run it under a sanitizer to see that too).

    python tests/fuzz/fuzz_lines.py CORPUS -max_total_time=300   # make fuzz

The first input byte picks the prefix, id, lead and separator, the next two the run's
start and cut; the rest is the window (bytes 1 and 2 in it stand for a line's head, whole
or cut short). Needs the compiled core (the C code is not used by
the pure one). tests/test_readback.py checks :func:`agree` on generated runs too.
"""

from __future__ import annotations

from types import ModuleType

SEEDS = [
    b'\x00\x00\x00{"connection":"C7","i":1}\n{"connection":"C7","i":2}\n',
    b"\x00\x04\x00\x01,1\n\x01,2\n\x02,3\n\x01,\n",
    b'\x1b\x02\x03xx{"connection":"C12","t":"a\\nb"}\n{"connection":"C1","t":0}\nyy',
    b"\x2d\x00\x00,\n,\n\n,",
]
PREFIXES = [b'{"connection":"', b""]
IDS = ["C1", "C123456", "", "\u00e9", "\udcff"]  # (a lone surrogate: both refuse it)
LEADS = [b"\n  ", b",\n  ", b""]
SEPS = [b",\n  ", b"", b"\n"]


def agree(
    readback: ModuleType, out0: bytes, win: bytes, s: int, e: int, prefix: bytes, cid: str,
    lead: bytes, sep: bytes,
) -> None:
    """The C ``put_run`` gives what the Python twin gives (bytes appended and their count,
    or the same error with nothing appended). Raises AssertionError otherwise."""
    results = []
    for f in (readback.put_run_py, readback._c_put_run):
        out = bytearray(out0)
        try:
            n = f(out, win, s, e, prefix, cid, lead, sep)
        except (ValueError, UnicodeEncodeError) as x:
            results.append((type(x).__name__, bytes(out) == out0))
            continue
        assert out[:len(out0)] == out0, (win, s, e)
        results.append((bytes(out[len(out0):]), n))
    assert results[0] == results[1], (win, s, e, prefix, cid, lead, sep, results)


def main() -> None:
    from twins import fuzz, source_module

    readback = source_module("analyzer/core/readback.py")

    def check(data: bytes) -> None:
        if len(data) < 3:
            return
        pick, lead_at, cut = data[0], data[1], data[2]
        # a byte 0x01 stands for a stored line's head, so that short inputs make runs of
        # many lines whose heads match (or nearly: 0x02 is a head one byte short)
        win = data[3:].replace(b"\x01", b'{"connection":"C7"').replace(b"\x02", b'{"connection":"C')
        s = lead_at - 4  # (a few out of range below, and past the end: both refuse)
        e = len(win) - cut + 4
        agree(readback, b"<>", win, s, e, PREFIXES[pick & 1], IDS[(pick >> 1) % len(IDS)],
              LEADS[(pick >> 4) % len(LEADS)], SEPS[(pick >> 6) % len(SEPS)])

    fuzz("fuzz_lines", readback._c_put_run is not None, SEEDS, [readback.put_run_py], check)


if __name__ == "__main__":
    main()
