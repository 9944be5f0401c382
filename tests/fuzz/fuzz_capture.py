"""Coverage-guided fuzzing of the whole offline path with atheris (libFuzzer).

The invariant, in one line: any byte string given as a capture yields either an
Analysis whose JSON is the contract, or a CaptureError — nothing else, no hang.

    python tests/fuzz/fuzz_capture.py tests/fuzz/corpus -max_total_time=300   # make fuzz

Seeds are in tests/fuzz/corpus (small real captures); every input that ever broke
something is kept in tests/fuzz/regressions and replayed by tests/test_fuzz.py. A new
crash from libFuzzer (crash-*) goes into tests/fuzz/regressions with the fix.
"""

from __future__ import annotations

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

with atheris.instrument_imports():
    from invariant import check


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
