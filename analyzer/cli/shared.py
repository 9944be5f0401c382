"""What the commands share: their option bundles, and the one place where an error becomes
one line on stderr and an exit code.

Options several commands take are declared once here (sqlite-utils' option bundles). The
``--format`` and ``--backend`` choices are the names of the registries
(:mod:`analyzer.output`, :mod:`analyzer.capture`), never a list of their own.

Exit codes: 0 done; 2 an :class:`~analyzer.errors.AnalyzerError` (bad input, missing
library) or a usage error; 130 interrupted; 1 a closed pipe; 70 a bug, whose traceback
``KEEPALIVE_DEBUG=1`` shows. A traceback reaching a user is a bug.
"""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from analyzer.capture import backend_names
from analyzer.errors import AnalyzerError
from analyzer.output import names as format_names


def _choices(name: str, values: list[str]) -> Any:
    """An Enum of these values: typer makes it the option's choices (``<a|b|c>`` in the
    help, click's one-line usage error for anything else)."""
    return enum.Enum(name, [(value, value) for value in values], type=str)


# The commands get the chosen name as a str subclass (an Enum member): chosen() gives the
# plain str; mypy sees only that.
if TYPE_CHECKING:
    FormatName = str
    BackendName = str
else:
    FormatName = _choices("Format", format_names())
    BackendName = _choices("Backend", backend_names())


def chosen(choice: str) -> str:
    """The plain name of a --format / --backend choice."""
    return str(getattr(choice, "value", choice))


Captures = Annotated[
    list[Path], typer.Argument(help="pcap / pcapng files, optionally .gz", show_default=False)
]
IdleTimeout = Annotated[
    float, typer.Option(help="expire connections idle this long (capture seconds)")
]
ShowSecrets = Annotated[
    bool, typer.Option(help="keep URL userinfo and token-like query values unmasked")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")]
Merge = Annotated[
    bool | None,
    typer.Option(
        "--merge/--separate", show_default=False,
        help="several files: --merge stitches every file that follows the one before it "
        "into one capture; --separate analyses each file apart (own verdicts) "
        "[default: parts of one rotated series (names that differ only in digits) are "
        "stitched, other files are apart]",
    ),
]
TlsKeylog = Annotated[
    Path | None,
    typer.Option(
        "--tls-keylog", metavar="FILE", show_default=False,
        help="decrypt TLS with this NSS key log (SSLKEYLOGFILE, Go's KeyLogWriter, "
        "Python's keylog_filename); a pcapng's embedded secrets are used without it. "
        "Secrets are never printed",
    ),
]
MaxRows = Annotated[int, typer.Option(help="connections shown in the table")]
Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="write to this file, not stdout")
]
FormatOpt = Annotated[FormatName, typer.Option("--format", "-f", help="output format")]


def warn(message: str) -> None:
    print(f"keepalive: warning: {message}", file=sys.stderr)


def run(app: typer.Typer) -> None:
    """Run the app as the ``keepalive`` command: every error ends in one line on stderr
    and the exit code above, never a traceback."""
    try:
        app(standalone_mode=False)
    except AnalyzerError as e:
        print(f"keepalive: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("keepalive: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except SystemExit:
        raise
    except Exception as e:  # usage errors (click's, vendored by typer) and the unexpected
        # Duck-typed: typer >= 0.23 ships its own copy of click, so no import of click here.
        if type(e).__name__ == "Abort":
            sys.exit(130)
        show = getattr(e, "show", None)
        code = getattr(e, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        if os.environ.get("KEEPALIVE_DEBUG"):
            raise
        print(
            f"keepalive: internal error: {type(e).__name__}: {e} "
            "(a bug: please report it; KEEPALIVE_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        sys.exit(70)
