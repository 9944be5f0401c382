"""``keepalive analyze``: capture files in, a verdict per server and every connection out."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated

import typer

from analyzer.cli.results import analyze_files, emit
from analyzer.cli.shared import (
    BackendName,
    Captures,
    FormatOpt,
    IdleTimeout,
    MaxRows,
    Merge,
    Output,
    Quiet,
    ShowSecrets,
    TlsKeylog,
    chosen,
)
from analyzer.errors import AnalyzerError
from analyzer.output import format_list


def analyze(
    captures: Captures,
    format: FormatOpt = "table",
    output: Output = None,
    idle_timeout: IdleTimeout = 300.0,
    max_rows: MaxRows = 40,
    show_secrets: ShowSecrets = False,
    plot: Annotated[
        Path | None, typer.Option(help="also draw the connection timeline (.png or .svg)")
    ] = None,
    quiet: Quiet = False,
    backend: Annotated[
        BackendName, typer.Option(help="who reads and dissects the packets (docs/backends.md)")
    ] = "native",
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", "-j", show_default=False,
            help="analyse in N processes, connections split between them; the same "
            "result as one [default: 1; with --dask: the cluster's threads]",
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="run on a dask.distributed cluster, e.g. tcp://SCHEDULER:8786 (pip "
            "install 'keepalive-analyzer[dask]'); its workers must read the capture "
            "files at the same path",
        ),
    ] = None,
    merge: Merge = None,
    tls_keylog: TlsKeylog = None,
) -> None:
    """Analyse capture files: a verdict per server, then every connection.

    {formats}

    Several files of one capture (tcpdump -C/-G, editcap -c: names that differ only in
    digits) are stitched: a connection that crosses a file boundary is one connection.
    Other files, and files that overlap in time, are analysed apart (--merge/--separate
    to choose); each file's warnings say which.

    Example: keepalive analyze captures/go-leak.pcap --format json -o result.json
    """
    if jobs is not None and jobs < 1:
        raise AnalyzerError(f"--jobs must be 1 or more (got {jobs})")
    result = analyze_files(
        captures, idle_timeout, show_secrets, quiet, chosen(backend), jobs=jobs, dask=dask,
        merge=merge, tls_keylog=tls_keylog, write_ahead=chosen(format) == "json",
    )
    if plot is not None:
        from analyzer.output.figures import save_timeline

        save_timeline(result, plot)
    emit(result, chosen(format), output, max_rows)


# The formats the help lists are the registry's.
analyze.__doc__ = inspect.cleandoc(analyze.__doc__ or "").replace(
    "{formats}", format_list("Formats: ", ".")
)
