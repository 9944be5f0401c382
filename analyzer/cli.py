"""The ``keepalive`` command: thin typer wrappers over the public API.

Every :class:`~analyzer.errors.AnalyzerError` becomes one line on stderr and exit 2; a
traceback reaching a user is a bug (set KEEPALIVE_DEBUG=1 to see one).
"""

from __future__ import annotations

import contextlib
import enum
import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from analyzer.errors import AnalyzerError

if TYPE_CHECKING:
    from analyzer.api import Analysis

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Do your HTTP clients and servers reuse TCP connections? If not, why?",
    pretty_exceptions_enable=False,
)


class Format(str, enum.Enum):
    table = "table"
    json = "json"
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"
    har = "har"


class CompareFormat(str, enum.Enum):
    table = "table"
    json = "json"


class Backend(str, enum.Enum):
    native = "native"
    scapy = "scapy"
    pyshark = "pyshark"


# Options several commands share, declared once (sqlite-utils' option bundles).
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
MaxRows = Annotated[int, typer.Option(help="connections shown in the table")]
Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="write to this file, not stdout")
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="output format")]


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


@app.command()
def analyze(
    captures: Captures,
    format: FormatOpt = Format.table,
    output: Output = None,
    idle_timeout: IdleTimeout = 300.0,
    max_rows: MaxRows = 40,
    show_secrets: ShowSecrets = False,
    plot: Annotated[
        Path | None, typer.Option(help="also draw the connection timeline (.png or .svg)")
    ] = None,
    quiet: Quiet = False,
    backend: Annotated[
        Backend, typer.Option(help="who reads and dissects the packets (docs/backends.md)")
    ] = Backend.native,
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
) -> None:
    """Analyse capture files: a verdict per server, then every connection.

    Formats: table, json, csv (connections), jsonl (one object per line with a "type"),
    parquet (--output DIR or NAME.parquet: connections, exchanges, servers), har (HAR 1.2).

    Several files of one capture (tcpdump -C/-G, editcap -c: names that differ only in
    digits) are stitched: a connection that crosses a file boundary is one connection.
    Other files, and files that overlap in time, are analysed apart (--merge/--separate
    to choose); each file's warnings say which.

    Example: keepalive analyze captures/go-leak.pcap --format json -o result.json
    """
    if jobs is not None and jobs < 1:
        raise AnalyzerError(f"--jobs must be 1 or more (got {jobs})")
    result = _run_analyze(
        captures, idle_timeout, show_secrets, quiet, backend.value, jobs=jobs, dask=dask,
        merge=merge,
    )
    if plot is not None:
        from analyzer.output.figures import save_timeline

        save_timeline(result, plot)
    _emit(result, format, output, max_rows)


def _run_analyze(
    captures: list[Path], idle_timeout: float, show_secrets: bool, quiet: bool,
    backend: str = "native", jobs: int | None = None, dask: str | None = None,
    merge: bool | None = None,
) -> Analysis:
    """analyze() with warnings on stderr and, for long files on a terminal, a progress bar
    (one process only: partitions elsewhere report nothing on the way)."""
    from analyzer.api import analyze as run
    from analyzer.output import progress

    def warn(msg: str) -> None:
        print(f"keepalive: warning: {msg}", file=sys.stderr)

    paths = [str(p) for p in captures]
    # The analysis makes no reference cycles, and this process ends after the output: a
    # cyclic collection over a million records would cost time and free nothing.
    gc.disable()
    sequential = dask is None and (jobs is None or jobs == 1)
    with contextlib.ExitStack() as stack:
        on_progress = None
        # backends read by packet; partitions run elsewhere
        if sequential and backend == "native" and progress.wanted(paths, quiet):
            on_progress = stack.enter_context(progress.progress_bar(paths))
        return run(
            paths, idle_timeout=idle_timeout, on_warning=warn, show_secrets=show_secrets,
            on_progress=on_progress, backend=backend, jobs=jobs, dask=dask, merge=merge,
        )


@app.command()
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
) -> None:
    """Write one self-contained HTML report: verdicts, evidence, fixes, plots, tables.

    Example: keepalive report captures/go-leak.pcap -o report.html
    """
    result = _run_analyze(captures, idle_timeout, show_secrets, quiet, merge=merge)
    from analyzer.output.figures import require_matplotlib

    require_matplotlib()
    from analyzer.output.report import html_report

    page = html_report(result, max_rows=max_rows).encode()
    with _opened(output) as fh:
        fh.write(page)
    if not quiet:
        print(f"keepalive: wrote {output}", file=sys.stderr)


@app.command()
def compare(
    before: Annotated[Path, typer.Argument(help="capture or saved JSON, before the fix")],
    after: Annotated[Path, typer.Argument(help="capture or saved JSON, after the fix")],
    format: Annotated[CompareFormat, typer.Option("--format", "-f", help="table or json")] = (
        CompareFormat.table
    ),
    show_secrets: ShowSecrets = False,
) -> None:
    """Did the fix work? Two captures (or saved JSON) side by side, per server.

    Example: keepalive compare captures/go-leak.pcap captures/go-drain.pcap
    """
    from analyzer.compare import compare as run
    from analyzer.compare import render

    result = run(str(before), str(after), show_secrets=show_secrets)
    if format is CompareFormat.json:
        import json

        print(json.dumps(result.as_dict(), indent=2))
    else:
        from rich.console import Console

        render(result, Console(width=None if sys.stdout.isatty() else 120))


@app.command()
def sniff(
    iface: Annotated[
        str | None, typer.Option("--iface", "-i", help="interface (default: the loopback)")
    ] = None,
    port: Annotated[
        list[int] | None,
        typer.Option("--port", "-p", min=1, max=65535, help="TCP port to watch (repeatable)"),
    ] = None,
    bpf: Annotated[
        str | None, typer.Option("--filter", help="extra BPF filter, ANDed with the ports")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(min=0.001, help="stop after this many seconds")
    ] = None,
    count: Annotated[
        int | None, typer.Option(min=1, help="stop after this many packets")
    ] = None,
    write: Annotated[
        Path | None, typer.Option("--write", "-w", help="also save the packets as pcap")
    ] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="final report format")] = (
        Format.table
    ),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the report to this file")
    ] = None,
    idle_timeout: Annotated[
        float, typer.Option(help="expire connections idle this long (seconds)")
    ] = 300.0,
    max_rows: MaxRows = 40,
    show_secrets: ShowSecrets = False,
) -> None:
    """Capture live (needs root or CAP_NET_RAW) and report like analyze when it stops.

    Stops on Ctrl-C, --duration or --count. On a terminal a live table shows each server's
    open connections, new connections/s, requests/s and handshakes per request.

    Example: sudo .venv/bin/keepalive sniff --port 8080 --duration 30 --write run.pcap
    """
    from analyzer.api import sniff as run

    live_view = sys.stderr.isatty() and sys.stdout.isatty()
    view = None
    console = None
    live = None
    if live_view:
        from rich.console import Console
        from rich.live import Live

        from analyzer.output.live import LiveView

        console = Console(stderr=True)

    def started(name: str) -> None:
        print(f"keepalive: sniffing on {name} (filter: {_filter_text(port, bpf)})",
              file=sys.stderr, flush=True)

    def tick(table: object) -> None:
        if view is not None and live is not None:
            live.update(view.update(table), refresh=True)  # type: ignore[arg-type]

    # The report file is opened once privileges are dropped (it belongs to the invoking
    # user) and before the capture starts (a bad path fails at once, not after an hour).
    opened: list[IO[bytes]] = []

    def ready() -> None:
        if output is not None and str(output) != "-" and format is not Format.parquet:
            try:
                opened.append(open(output, "wb"))  # noqa: SIM115
            except OSError as e:
                raise AnalyzerError(f"{output}: cannot write: {e.strerror or e}") from None

    try:
        if live_view:
            view = LiveView(iface or "loopback")
            live = Live(view.renderable, console=console, auto_refresh=False, transient=False)
            live.start()
        result = run(
            iface, ports=port or (), bpf=bpf, duration=duration, count=count,
            write=str(write) if write is not None else None, idle_timeout=idle_timeout,
            on_tick=tick, on_start=started, on_ready=ready, show_secrets=show_secrets,
        )
    finally:
        if live is not None:
            live.stop()
    for cap in result.capture_records:
        for w in cap.warnings:
            print(f"keepalive: warning: {w}", file=sys.stderr)
    _emit(result, format, output, max_rows, opened[0] if opened else None)


def _filter_text(ports: list[int] | None, bpf: str | None) -> str:
    from analyzer.api import capture_filter

    return capture_filter(ports or (), bpf)


def _emit(
    result: Analysis, format: Format, output: Path | None, max_rows: int,
    opened: IO[bytes] | None = None,
) -> None:
    """Write the report in the chosen format to stdout, --output, or a file opened early."""
    if format is Format.parquet:
        if opened is not None:
            opened.close()
        if output is None:
            raise AnalyzerError("--format parquet needs --output DIR or --output NAME.parquet")
        from analyzer.output.exports import write_parquet

        for path in write_parquet(result, output).values():
            print(f"keepalive: wrote {path}", file=sys.stderr)
        return
    with _opened(output, opened) as fh:
        if format is Format.json:
            result.write_json(fh)
        elif format is Format.jsonl:
            from analyzer.output.exports import write_jsonl

            write_jsonl(result, fh)
        elif format is Format.har:
            import json

            from analyzer.output.har import har_dict

            fh.write(json.dumps(har_dict(result), indent=1).encode() + b"\n")
        elif format is Format.csv:
            from analyzer.output.csvout import connections_csv

            fh.write(connections_csv(result).encode())
        else:
            import io

            from rich.console import Console

            from analyzer.output.terminal import render

            text = io.TextIOWrapper(fh, encoding="utf-8", write_through=True)
            if output is None and sys.stdout.isatty():
                console = Console(file=text, force_terminal=True)
            else:
                console = Console(file=text, width=150, no_color=output is not None)
            render(result, console, max_rows)
            text.flush()
            text.detach()


@contextlib.contextmanager
def _opened(output: Path | None, opened: IO[bytes] | None = None) -> Iterator[IO[bytes]]:
    """stdout's byte stream, or the --output file (errors become one line)."""
    if opened is not None:
        with opened:
            yield opened
        return
    if output is None or str(output) == "-":
        sys.stdout.flush()
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    try:
        fh = open(output, "wb")  # noqa: SIM115
    except OSError as e:
        raise AnalyzerError(f"{output}: cannot write: {e.strerror or e}") from None
    with fh:
        yield fh


def main() -> None:
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
