"""``keepalive compare``: did the fix work? Two captures (or saved JSON), per server
(:mod:`analyzer.compare`)."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated

import typer

from analyzer.cli.shared import ShowSecrets, TlsKeylog


class CompareFormat(str, enum.Enum):
    """A comparison's own two renderings (not an analysis's formats)."""

    table = "table"
    json = "json"


def compare(
    before: Annotated[Path, typer.Argument(help="capture or saved JSON, before the fix")],
    after: Annotated[Path, typer.Argument(help="capture or saved JSON, after the fix")],
    format: Annotated[CompareFormat, typer.Option("--format", "-f", help="table or json")] = (
        CompareFormat.table
    ),
    show_secrets: ShowSecrets = False,
    tls_keylog: TlsKeylog = None,
) -> None:
    """Did the fix work? Two captures (or saved JSON) side by side, per server.

    Example: keepalive compare captures/go-leak.pcap captures/go-drain.pcap
    """
    from analyzer.compare import compare as run
    from analyzer.compare import render

    result = run(
        str(before), str(after), show_secrets=show_secrets,
        tls_keylog=str(tls_keylog) if tls_keylog is not None else None,
    )
    if format is CompareFormat.json:
        import json

        print(json.dumps(result.as_dict(), indent=2))
    else:
        from rich.console import Console

        render(result, Console(width=None if sys.stdout.isatty() else 120))
