"""What a process that is about to be dropped need not free.

The console script leaves by ``os._exit`` once its outputs are written
(:func:`analyzer.cli.entry`), and so do forked worker processes
(:mod:`analyzer.parallel`). Such a process gains nothing by freeing what its analysis
built, object by object, on the way: a 1M-packet analysis spent ~2.5% of its run freeing
its records and its flow table after the report was written (a sampling profile), and a
worker freed its flow table before it could hand its result back. So the code that is
done with such a structure hands it to :func:`keep`, which holds it until the process is
dropped, when the process said it will be (:func:`start`); otherwise (a library caller,
a notebook, a Dask worker's thread, the tests) :func:`keep` does nothing and the
structure is freed as usual.
"""

from __future__ import annotations

__all__ = ["keep", "start"]

_kept: list[object] | None = None


def start() -> None:
    """This process will be dropped (``os._exit``) once its work is done: what it is
    done with may stay until then."""
    global _kept
    if _kept is None:
        _kept = []


def keep(obj: object) -> None:
    """``obj`` is no longer needed: held until the process is dropped, if it will be
    (:func:`start`); else nothing is done (it is freed when its last reference goes)."""
    if _kept is not None:
        _kept.append(obj)
