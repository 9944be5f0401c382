"""``keepalive report``: one self-contained HTML file (:mod:`analyzer.output.report`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from analyzer.cli.results import analyze_files, open_output
from analyzer.cli.shared import Captures, IdleTimeout, Merge, Quiet, ShowSecrets, TlsKeylog


def report(
    captures: Captures,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="the HTML file to write")
    ] = Path("report.html"),
    idle_timeout: IdleTimeout = 300.0,
    max_rows: Annotated[int, typer.Option(help="connections and exchanges listed")] = 1000,
    show_secrets: ShowSecrets = False,
    quiet: Quiet = False,
    merge: Merge = None,
    tls_keylog: TlsKeylog = None,
) -> None:
    """Write one self-contained HTML report: verdicts, evidence, fixes, plots, tables.

    Example: keepalive report captures/go-leak.pcap -o report.html
    """
    result = analyze_files(
        captures, idle_timeout, show_secrets, quiet, merge=merge, tls_keylog=tls_keylog
    )
    from analyzer.output.figures import require_matplotlib

    require_matplotlib()
    from analyzer.output.report import html_report

    page = html_report(result, max_rows=max_rows).encode()
    with open_output(output) as fh:
        fh.write(page)
    if not quiet:
        print(f"keepalive: wrote {output}", file=sys.stderr)
