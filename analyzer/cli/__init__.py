"""The ``keepalive`` command: the typer app, one module per command, each a few lines over
the public API (:mod:`analyzer`), and :func:`main`, the console script.

- :mod:`~analyzer.cli.analyze`, :mod:`~analyzer.cli.report`, :mod:`~analyzer.cli.compare`,
  :mod:`~analyzer.cli.sniff`: the commands;
- :mod:`~analyzer.cli.shared`: their option bundles, and every error as one line on
  stderr and an exit code (set KEEPALIVE_DEBUG=1 to see a bug's traceback);
- :mod:`~analyzer.cli.results`: running an analysis and writing its result in a format of
  the registry (:mod:`analyzer.output`).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from analyzer import leaving
from analyzer.cli import analyze, compare, report, sniff
from analyzer.cli.shared import run

__all__ = ["app", "entry", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Do your HTTP clients and servers reuse TCP connections? If not, why?",
    pretty_exceptions_enable=False,
)


def _print_version(wanted: bool) -> None:
    """--version: the installed distribution's version (the package's own when it runs
    from a source tree that was never installed)."""
    if not wanted:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("keepalive-analyzer")
    except PackageNotFoundError:
        import analyzer

        number = getattr(analyzer, "__version__", "unknown")
    print(f"keepalive-analyzer {number}")
    raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True,
                     help="print the version and exit"),
    ] = False,
) -> None:
    """Do your HTTP clients and servers reuse TCP connections? If not, why?"""


# In this order in --help.
app.command()(analyze.analyze)
app.command()(report.report)
app.command()(compare.compare)
app.command()(sniff.sniff)


def main() -> None:
    """The ``keepalive`` command, run in this interpreter (which goes on afterwards)."""
    run(app)


def entry() -> None:
    """The ``keepalive`` console script (and ``python -m analyzer``): :func:`main`, then
    out of the process at once.

    Every output is written and closed by then, every temporary file gone (the stores'
    are unlinked when made, the workers' directories removed on the way out). A normal
    exit would still tear the interpreter down object by object, with a last cyclic
    collection over everything the analysis left: 16% of a 100-packet run (0.159 s
    against 0.130 s) and ~1% of a 1M-packet one, for nothing. When another thread or a
    child process still runs (a Dask cluster, a backend's tshark), the exit is the
    normal one, so that their own clean-up runs."""
    code: int = 0
    leaving.start()  # dropped by os._exit below: what it is done with need not be freed
    try:
        main()
    except SystemExit as e:
        if isinstance(e.code, int):
            code = e.code
        elif e.code is not None:  # (as Python does: the message on stderr, status 1)
            print(e.code, file=sys.stderr)
            code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            if not stream.closed:  # (a reader that went away: closed by then, or now)
                stream.flush()
        except BrokenPipeError:  # as run() says it: status 1, nothing more
            code = code or 1
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    if not _others_running():
        os._exit(code)
    sys.exit(code)


def _others_running() -> bool:
    """Another thread, or a child process of multiprocessing's (imported only if used)."""
    import threading

    if threading.active_count() > 1:
        return True
    mp = sys.modules.get("multiprocessing")
    return mp is not None and bool(mp.active_children())
