"""Shared by the differential fuzz targets, each a C function against its Python twin
(fuzz_headscan.py, fuzz_lines.py): the twin's module loaded from its source beside the
compiled core (so the fuzzer can instrument the twin, while the C code is the one the
core calls), and the targets' common ``main``. Imported by the targets run as scripts."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def source_module(relpath: str) -> ModuleType:
    """The module at ``relpath`` (from the project's root) loaded from its source, under a
    name of its own, after the compiled core (and with it the C extensions)."""
    sys.path.insert(0, ROOT)
    import analyzer  # noqa: F401  (the compiled core, and with it the C code)

    name = "_" + os.path.basename(relpath).removesuffix(".py") + "_source"
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relpath))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fuzz(
    target: str, built: bool, seeds: list[bytes], twins: Iterable[Any],
    check: Callable[[bytes], None],
) -> None:
    """``--write-seeds CORPUS``: the seeds into CORPUS; else atheris, with the Python
    twins instrumented (their coverage guides it), on ``check``."""
    import atheris

    if not built:
        sys.exit(f"{target}: the C code is not built (compile the core: make)")
    if "--write-seeds" in sys.argv:
        corpus = sys.argv[-1]
        os.makedirs(corpus, exist_ok=True)
        for i, seed in enumerate(seeds):
            with open(os.path.join(corpus, f"seed-{i}"), "wb") as f:
                f.write(seed)
        return
    for f in twins:
        atheris.instrument_func(f)
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()
