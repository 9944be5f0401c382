"""Which modules are compiled with mypyc, and the guard against stale builds.

``setup.py`` compiles :data:`SOURCES` (the per-packet path) into C extensions that sit
beside their ``.py`` files. Python prefers an extension over a source file of the same
name, so a source edited after the build would silently not run. :func:`install` (called
first thing by ``analyzer/__init__``) therefore falls back to the pure-Python sources for
*all* of them (they call each other natively, so it is all or nothing) when

* ``KEEPALIVE_PURE=1`` is set, or
* any compiled module is older than its source — with a one-line warning saying how to
  rebuild (``make`` does it, or ``pip install -e .``).

The hand-written C extensions (:data:`C_SOURCES`) go with them: not used by the pure
core, and a C source newer than its extension makes the build stale too.

``compiled()`` says whether the extensions are in use, ``status()`` says why not.
Standard library only; ``setup.py`` reads this file without importing the package.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

SOURCES = [
    "analyzer/core/records.py",
    "analyzer/core/linktypes.py",
    "analyzer/core/decode.py",
    "analyzer/core/fragments.py",
    "analyzer/core/partition.py",
    "analyzer/core/streams.py",
    "analyzer/core/http1.py",
    "analyzer/core/protocols.py",
    "analyzer/core/secrets.py",
    "analyzer/core/exchanges.py",
    "analyzer/core/labels.py",
    "analyzer/core/flows.py",
    "analyzer/core/classify.py",
    "analyzer/core/readback.py",
    "analyzer/core/spool.py",
    "analyzer/capture/files.py",
    "analyzer/capture/pcapwalk.py",
]
MODULES = [s[:-3].replace("/", ".") for s in SOURCES]
# Hand-written C extensions, each the fast twin of code kept in Python in a compiled
# module (analyzer/core/_headscan.c: http1's header scan; analyzer/core/_lines.c: the
# exchange store's lines rewritten for the report, readback's). They follow the compiled
# modules: used when those are, not when the core runs pure (or stale).
C_SOURCES = ["analyzer/core/_headscan.c", "analyzer/core/_lines.c"]
C_MODULES = [s[:-2].replace("/", ".") for s in C_SOURCES]

_state = {"compiled": False, "why": "not installed"}


def compiled() -> bool:
    return bool(_state["compiled"])


def status() -> str:
    """'compiled (mypyc)' or 'pure Python (<why>)'."""
    return "compiled (mypyc)" if _state["compiled"] else f"pure Python ({_state['why']})"


def _extension(root: str, source: str) -> str | None:
    base = os.path.join(root, source.rsplit(".", 1)[0])
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if os.path.exists(base + suffix):
            return base + suffix
    return None


class _PureFinder:
    """A meta-path finder that loads the listed modules from their ``.py`` sources."""

    def __init__(self, root: str) -> None:
        self.root = root

    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name in C_MODULES:  # (the pure core runs its own Python twin of these)
            raise ModuleNotFoundError(f"{name}: not used by the pure-Python core", name=name)
        if name not in MODULES:
            return None
        source = os.path.join(self.root, name.replace(".", os.sep) + ".py")
        return importlib.util.spec_from_file_location(name, source)


def install() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    exts = [(_extension(root, s), os.path.join(root, s)) for s in SOURCES]
    if not any(e for e, _ in exts):
        _state["why"] = "no compiled modules"
        return
    # The code lives in one shared library (the per-module extensions are small shims that
    # an incremental build need not rewrite): it must be newer than every source.
    native = _extension(root, "analyzer/_native__mypyc.py")
    built = os.path.getmtime(native) if native else 0.0
    stale = [src for ext, src in exts if ext is None or built < os.path.getmtime(src)]
    for source in C_SOURCES:  # (one not built at all is just not used: http1's twin runs)
        ext = _extension(root, source)
        src = os.path.join(root, source)
        if ext is not None and os.path.getmtime(ext) < os.path.getmtime(src):
            stale.append(src)
    if os.environ.get("KEEPALIVE_PURE") == "1":
        _state["why"] = "KEEPALIVE_PURE=1"
    elif stale:
        _state["why"] = "compiled modules older than their sources"
        print(
            f"keepalive: {os.path.relpath(stale[0], root)} is newer than its compiled module; "
            "running the pure-Python core (rebuild: make setup, or pip install -e .)",
            file=sys.stderr,
        )
    else:
        _state["compiled"] = True
        return
    if any(m in sys.modules for m in MODULES + C_MODULES):
        return  # too late to choose; whatever is loaded stays
    sys.meta_path.insert(0, _PureFinder(root))
