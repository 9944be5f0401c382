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

from typing import Annotated

import typer

from analyzer.cli import analyze, compare, report, sniff
from analyzer.cli.shared import run

__all__ = ["app", "main"]

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
    """The ``keepalive`` console script (and ``python -m analyzer``)."""
    run(app)
