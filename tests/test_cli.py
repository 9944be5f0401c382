"""The ``keepalive`` command as a user runs it: a real subprocess, exit codes, one-line
errors on stderr, the JSON contract on stdout."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CAPTURES

KEEPALIVE = [sys.executable, "-m", "analyzer"]
REQUIRED_CONNECTION = {
    "id", "capture", "client", "server", "start", "end", "handshake_seen", "syn", "synack",
    "fin_client", "fin_server", "rst_client", "rst_server", "closed_by", "requests",
    "responses", "interim_responses", "label", "upgraded", "missing_bytes", "diagnosis",
}
REQUIRED_EXCHANGE = {
    "connection", "index", "method", "target", "version", "status", "request_ts",
    "response_ts", "opened_connection", "closed_connection",
}
REQUIRED_SERVER = {
    "server", "clients", "connections", "requests", "handshakes", "handshakes_per_request",
    "max_concurrent", "verdict", "diagnosis", "evidence", "hint",
}
REQUIRED_CAPTURE = {"path", "format", "packets", "tcp_packets", "skipped", "truncated", "warnings"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KEEPALIVE, *args], capture_output=True, text=True, timeout=120)


def test_json_contract() -> None:
    p = run("analyze", str(CAPTURES / "go-leak.pcap"), "--format", "json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["schema"] == "keepalive-analyzer/1"
    assert REQUIRED_CAPTURE <= set(d["captures"][0])
    assert all(REQUIRED_CONNECTION <= set(c) for c in d["connections"])
    assert all(REQUIRED_EXCHANGE <= set(e) for e in d["exchanges"])
    assert all(REQUIRED_SERVER <= set(s) for s in d["servers"])
    assert [c["id"] for c in d["connections"]] == [f"C{i}" for i in range(1, 11)]
    (s,) = d["servers"]
    assert (s["verdict"], s["diagnosis"]) == ("not-reused", "leak")
    assert s["handshakes_per_request"] == 1.0
    assert "io.Copy(io.Discard, resp.Body)" in s["hint"]
    assert all(e["opened_connection"] for e in d["exchanges"])


def test_table_report_names_the_verdict() -> None:
    p = run("analyze", str(CAPTURES / "go-leak.pcap"), str(CAPTURES / "go-drain.pcap"))
    assert p.returncode == 0, p.stderr
    assert "NOT-REUSED" in p.stdout and "[leak]" in p.stdout
    assert "REUSED" in p.stdout and "[reused]" in p.stdout
    assert p.stdout.index("[leak]") < p.stdout.index("\nconnections")


def test_csv_and_output_file(tmp_path: Path) -> None:
    out = tmp_path / "c.csv"
    p = run("analyze", str(CAPTURES / "curl-per-request.pcap"), "-f", "csv", "-o", str(out))
    assert p.returncode == 0, p.stderr
    lines = out.read_text().splitlines()
    assert lines[0].startswith("id,capture,client,server")
    assert len(lines) == 1 + 5
    assert all(",client-close," in line for line in lines[1:])


def test_gzip_capture(tmp_path: Path) -> None:
    gz = tmp_path / "drain.pcap.gz"
    gz.write_bytes(gzip.compress((CAPTURES / "go-drain.pcap").read_bytes()))
    p = run("analyze", str(gz), "-f", "json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["captures"][0]["format"] == "pcap.gz"
    assert d["servers"][0]["requests"] == 10


def _one_line_error(p: subprocess.CompletedProcess[str], *words: str) -> None:
    assert p.returncode == 2
    assert p.stdout == ""
    err = p.stderr.strip().splitlines()
    assert len(err) == 1, p.stderr
    assert "Traceback" not in p.stderr
    for w in words:
        assert w in err[0]


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda d: d / "missing.pcap", ["missing.pcap", "no such file"]),
        (lambda d: d, ["is a directory"]),
        (lambda d: _write(d / "empty.pcap", b""), ["empty.pcap", "empty"]),
        (lambda d: _write(d / "notes.txt", b"hello, not a capture\n" * 4), ["notes.txt", "text"]),
        (lambda d: _write(d / "x.pcap.gz", b"not gzip at all" * 4), ["x.pcap.gz", "gzip"]),
        (
            lambda d: _write(  # a pcapng section header and no interface description block
                d / "noidb.pcapng",
                bytes.fromhex("0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000"),
            ),
            ["noidb.pcapng", "no interface description block"],
        ),
        (
            lambda d: _write(
                d / "wifi.pcap",
                bytes.fromhex("d4c3b2a1020004000000000000000000ffff000069000000"),
            ),
            ["wifi.pcap", "link type 105"],
        ),
    ],
    ids=["missing", "directory", "empty", "text", "not-gzip", "no-idb", "linktype"],
)
def test_bad_input_one_line(tmp_path: Path, make, words) -> None:  # type: ignore[no-untyped-def]
    _one_line_error(run("analyze", str(make(tmp_path))), *words)


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def test_truncated_capture_warns_and_reports(tmp_path: Path) -> None:
    data = (CAPTURES / "go-drain.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) * 2 // 3 + 5])
    p = run("analyze", str(cut), "-f", "json")
    assert p.returncode == 0
    assert "warning" in p.stderr and "truncated" in p.stderr
    d = json.loads(p.stdout)
    assert d["captures"][0]["truncated"] is True
    assert d["captures"][0]["warnings"]
    assert d["connections"] and d["connections"][0]["requests"] >= 1


def test_help_has_an_example() -> None:
    p = run("analyze", "--help")
    assert p.returncode == 0
    assert "Example: keepalive analyze" in p.stdout


def test_console_script_installed() -> None:
    exe = Path(sys.executable).parent / "keepalive"
    assert exe.exists()
    p = subprocess.run([str(exe), "analyze", str(CAPTURES / "ipv6.pcap"), "-f", "json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0
    assert json.loads(p.stdout)["connections"][0]["server"].startswith("[::1]:")


@pytest.mark.parametrize(
    "args, words",
    [
        (["analyze", "x.pcap", "--format", "xml"], ["--format", "xml"]),
        (["analyze"], ["Missing argument"]),
        (["bogus"], ["No such command"]),
    ],
    ids=["bad-option-value", "missing-argument", "unknown-command"],
)
def test_usage_errors_without_traceback(args: list[str], words: list[str]) -> None:
    p = run(*args)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    for w in words:
        assert w in p.stderr


def test_ids_follow_first_packet_across_files() -> None:
    # go-drain was recorded before go-leak: naming it second must not change the ids.
    p = run("analyze", str(CAPTURES / "go-leak.pcap"), str(CAPTURES / "go-drain.pcap"),
            "-f", "json")
    d = json.loads(p.stdout)
    starts = [c["start"] for c in d["connections"]]
    assert starts == sorted(starts)
    assert [c["id"] for c in d["connections"]] == [f"C{i}" for i in range(1, 12)]
    assert d["connections"][0]["capture"].endswith("go-drain.pcap")
    ids = {c["id"] for c in d["connections"]}
    assert {e["connection"] for e in d["exchanges"]} <= ids


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as another user (setpriv)")
def test_no_permission(tmp_path: Path) -> None:
    f = tmp_path / "secret.pcap"
    f.write_bytes((CAPTURES / "go-drain.pcap").read_bytes())
    f.chmod(0o600)
    tmp_path.chmod(0o755)
    p = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *KEEPALIVE,
         "analyze", str(f)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "HOME": "/tmp"},
    )
    _one_line_error(p, "secret.pcap", "permission denied")


def test_version() -> None:
    from importlib.metadata import version

    from typer.testing import CliRunner

    from analyzer.cli import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"keepalive-analyzer {version('keepalive-analyzer')}\n"
    p = run("--version")  # through main(), as the console script runs it
    assert p.returncode == 0 and p.stdout == result.output


def _on_terminal(columns: int, *args: str) -> str:
    """The command's stdout on a pseudo-terminal ``columns`` wide, escape codes removed."""
    import fcntl
    import pty
    import re
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    with subprocess.Popen([*KEEPALIVE, *args], stdin=follower, stdout=follower,
                          stderr=subprocess.DEVNULL, env={**env, "TERM": "xterm"}) as proc:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other end closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=120) == 0
    os.close(leader)
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\].*?(?:\x1b\\|\x07)", "", text)


@pytest.mark.parametrize("columns", [60, 80, 100])
def test_narrow_terminal_keeps_endpoints_whole(columns: int) -> None:
    import re

    text = _on_terminal(columns, "analyze", str(CAPTURES / "go-leak.pcap"),
                        str(CAPTURES / "ipv6.pcap"))
    lines = text.splitlines()
    assert lines and max(len(line) for line in lines) <= columns
    rows = [line for line in lines if line.startswith("│C")]
    assert len(rows) == 11
    for row in rows:  # │C2 │ 127.0.0.1:41676 │ 127.0.0.1:18102 │ …: whole cells
        client, server = [cell.strip() for cell in row.split("│")[1:-1]][1:3]
        assert re.fullmatch(r"(127\.0\.0\.1|\[::1\]):\d{5}", client), row
        assert server in ("127.0.0.1:18102", "[::1]:18114"), row
    assert sum("│ 127.0.0.1:18102 " in row for row in rows) == 10
    assert "not shown" in text  # a column or more gave way, and the report says so


# ---- the console script's exit (cli.entry)


class _Exited(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


@pytest.mark.parametrize(("argv", "code"), [
    (["--version"], 0),
    (["analyze", "/nonexistent.pcap"], 2),
    (["analyze", "--no-such-option"], 2),
])
def test_entry_leaves_at_once_with_the_commands_status(monkeypatch, argv, code) -> None:
    """No thread or child runs: out by os._exit, with main()'s status."""
    import threading

    from analyzer import cli

    def _exit(c: int) -> None:
        raise _Exited(c)

    assert threading.active_count() == 1
    monkeypatch.setattr(cli.os, "_exit", _exit)
    monkeypatch.setattr(sys, "argv", ["keepalive", *argv])
    with pytest.raises(_Exited) as e:
        cli.entry()
    assert e.value.code == code


def test_entry_exits_normally_while_another_thread_runs(monkeypatch) -> None:
    """A thread still running (a Dask client, say) gets the normal exit and its clean-up."""
    import threading

    from analyzer import cli

    monkeypatch.setattr(cli.os, "_exit", lambda c: pytest.fail("os._exit with a thread running"))
    monkeypatch.setattr(sys, "argv", ["keepalive", "--version"])
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        with pytest.raises(SystemExit) as e:
            cli.entry()
        assert e.value.code == 0
    finally:
        stop.set()
        t.join()


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_a_big_report_on_a_pipe_arrives_whole_and_a_closed_pipe_is_quiet(tmp_path, fmt) -> None:
    """Everything written reaches the pipe before the process leaves; a reader that goes
    away early gets status 1 and no traceback."""
    from tests import builders as b

    c = b.Conversation().handshake()
    for i in range(1500):
        c.exchange(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i,
                   b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c.close()
    cap = b.write(tmp_path / "many.pcap", b.pcap(c.frames()))
    p = run("analyze", cap, "-f", "json")
    whole = json.loads(p.stdout)
    assert p.returncode == 0 and len(whole["exchanges"]) == 1500
    assert len(p.stdout) > 4 * 65536  # more than a pipe holds: written as it is read
    with subprocess.Popen([*KEEPALIVE, "analyze", cap, "-f", fmt], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(10)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        status = proc.wait(timeout=120)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert status in (0, 1)


# ---- the --output file (cli.results.create)


def test_an_output_file_rewritten_holds_exactly_the_new_report(tmp_path: Path) -> None:
    """Over a longer file, a shorter one, a hard link and a mode of its own: the new
    report's bytes and nothing after them, in the same file (inode, links, mode)."""
    out = tmp_path / "r.json"
    out.write_bytes(b"x" * 3_000_000)
    out.chmod(0o640)
    link = tmp_path / "link.json"
    os.link(out, link)
    ino = out.stat().st_ino
    p = run("analyze", str(CAPTURES / "go-leak.pcap"), "-f", "json", "-o", str(out))
    assert p.returncode == 0, p.stderr
    want = run("analyze", str(CAPTURES / "go-leak.pcap"), "-f", "json").stdout.encode()
    assert out.read_bytes() == want and link.read_bytes() == want
    st = out.stat()
    assert st.st_ino == ino and st.st_nlink == 2 and st.st_mode & 0o777 == 0o640
    p = run("analyze", str(CAPTURES / "go-leak.pcap"), "-f", "csv", "-o", str(out))
    assert p.returncode == 0 and out.read_bytes() == (
        run("analyze", str(CAPTURES / "go-leak.pcap"), "-f", "csv").stdout.encode())


def test_create_cuts_the_file_where_the_writing_ended_however_it_ended(tmp_path: Path) -> None:
    from analyzer.cli.results import create

    out = tmp_path / "r.txt"
    out.write_bytes(b"old report " * 1000)
    fh = create(out)
    assert out.stat().st_size <= 1  # the old report is gone at once
    fh.close()
    assert out.read_bytes() == b""  # nothing written: nothing left
    out.write_bytes(b"old report " * 1000)
    with pytest.raises(KeyboardInterrupt), create(out) as fh:
        fh.write(b"new")
        raise KeyboardInterrupt
    assert out.read_bytes() == b"new"
    fresh = tmp_path / "new.txt"
    with create(fresh) as fh:
        fh.write(b"abc")
    assert fresh.read_bytes() == b"abc"


def test_create_truncates_only_what_is_there_to_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new or empty file is never truncated (ext4 writes back at close a file truncated
    to nothing and written again: 0.2 s for 450 MB), nor one written over all it held."""
    from analyzer.cli import results

    cuts: list[int] = []
    real = os.ftruncate
    monkeypatch.setattr(results.os, "ftruncate", lambda fd, n: (cuts.append(n), real(fd, n)))
    fresh = tmp_path / "new.txt"
    with results.create(fresh) as fh:
        fh.write(b"abc")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with results.create(empty) as fh:
        fh.write(b"abcd")
    assert cuts == [] and fresh.read_bytes() == b"abc" and empty.read_bytes() == b"abcd"
    one = tmp_path / "one.txt"
    one.write_bytes(b"z")
    with results.create(one) as fh:
        pass
    assert one.read_bytes() == b"" and cuts == [0]  # (nothing written: nothing left)
    old = tmp_path / "old.txt"
    old.write_bytes(b"old report " * 1000)
    with results.create(old) as fh:
        fh.write(b"new report " * 2000)  # longer than it was: nothing past the end to cut
    assert old.read_bytes() == b"new report " * 2000 and cuts == [0, 1]
    with results.create(old) as fh:
        fh.write(b"short")
    assert old.read_bytes() == b"short" and cuts == [0, 1, 1]  # (cut to one byte at open)


def test_create_opens_a_fifo_or_a_device_as_always(tmp_path: Path) -> None:
    import threading

    from analyzer.cli.results import create

    with create(Path(os.devnull)) as fh:
        fh.write(b"gone")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    with create(fifo) as fh:
        fh.write(b"through the pipe")
    reader.join(timeout=10)
    assert got == [b"through the pipe"]
