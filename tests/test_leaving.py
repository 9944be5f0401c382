"""analyzer.leaving: what a process about to be dropped keeps rather than frees."""

from __future__ import annotations

import gc
import sys
import weakref
from pathlib import Path

import pytest

from analyzer import leaving

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


class _Thing:
    pass


def test_keep_does_nothing_in_a_process_that_goes_on() -> None:
    thing = _Thing()
    ref = weakref.ref(thing)
    leaving.keep(thing)
    del thing
    gc.collect()
    assert ref() is None  # freed as usual
    assert leaving._kept is None


def test_keep_holds_until_the_process_is_dropped_once_started() -> None:
    leaving.start()
    thing = _Thing()
    ref = weakref.ref(thing)
    leaving.keep(thing)
    del thing
    gc.collect()
    assert ref() is not None
    kept = leaving._kept
    leaving.start()  # (a second start keeps what the first kept)
    assert leaving._kept is kept and len(kept) == 1


class _Exited(Exception):
    pass


def test_the_console_script_keeps_its_analysis_and_flow_table(monkeypatch, tmp_path) -> None:
    """cli.entry: the analysis it wrote and the flow table that made it are kept (not
    freed before os._exit); the report is whole."""
    from analyzer import cli
    from analyzer.analysis import Analysis
    from analyzer.core.flows import FlowTable

    def _exit(code: int) -> None:
        raise _Exited(code)

    out = tmp_path / "r.json"
    monkeypatch.setattr(cli.os, "_exit", _exit)
    monkeypatch.setattr(sys, "argv", [
        "keepalive", "analyze", str(CAPTURES / "ab-keepalive.pcap"), "--format", "json",
        "-o", str(out),
    ])
    with pytest.raises(_Exited):
        cli.entry()
    kept = leaving._kept
    assert kept is not None
    analyses = [k for k in kept if isinstance(k, Analysis)]
    assert len(analyses) == 1 and len(analyses[0].connections) > 0
    assert sum(isinstance(k, FlowTable) for k in kept) == 1
    assert out.read_bytes().endswith(b"}\n")


def test_forked_pool_workers_keep_and_spawned_ones_do_not(monkeypatch) -> None:
    """The pool's workers start keeping when they are dropped by os._exit (fork,
    forkserver), not when they exit normally (spawn)."""
    from analyzer import parallel
    from analyzer.store import aside

    made: list[dict] = []

    class Pool:
        def __init__(self, **kw) -> None:
            made.append(kw)

        def shutdown(self, **kw) -> None:
            pass

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", Pool)
    for fork in (True, False):
        monkeypatch.setattr(aside, "can_fork", lambda f=fork: f)
        with parallel._pool(2):
            pass
    assert made[0]["initializer"] is leaving.start
    method = made[1]["mp_context"].get_start_method()
    assert (made[1]["initializer"] is None) == (method == "spawn")
