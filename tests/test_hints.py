"""core/hints: every row of the software → fix tables, and docs/hints.md kept current."""

from __future__ import annotations

import pytest

from analyzer.core import hints
from tests.conftest import ROOT

BY_KEY = {("client", sw.key): sw for sw in hints.CLIENTS} | {
    ("server", sw.key): sw for sw in hints.SERVERS
}


@pytest.mark.parametrize("sw", hints.CLIENTS, ids=[sw.key for sw in hints.CLIENTS])
def test_client_row_identifies_its_example(sw: hints.Software) -> None:
    assert hints.identify_client(sw.example) is sw


@pytest.mark.parametrize("sw", hints.SERVERS, ids=[sw.key for sw in hints.SERVERS])
def test_server_row_identifies_its_example(sw: hints.Software) -> None:
    assert hints.identify_server(sw.example) is sw


@pytest.mark.parametrize(
    ("value", "key"),
    [
        # header values seen on the wire from real programs (captures/ and their docs)
        ("Go-http-client/1.1", "go"),
        ("Go-http-client/2.0", "go"),
        ("python-requests/2.28.1", "python-requests"),
        ("Python/3.11 aiohttp/3.8.4", "aiohttp"),
        ("Python-urllib/3.11", "urllib"),
        ("curl/8.5.0", "curl"),
        ("ApacheBench/2.3", "ab"),
        ("Apache-HttpClient/5.2.1 (Java/17.0.15)", "apache-httpclient"),
        ("Java/17.0.15", "java-urlconnection"),
        ("Java-http-client/21.0.2", "java-httpclient"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0", "browser"),
    ],
)
def test_real_user_agents(value: str, key: str) -> None:
    sw = hints.identify_client(value)
    assert sw is not None and sw.key == key


def test_unknown_and_missing_values() -> None:
    assert hints.identify_client(None) is None
    assert hints.identify_client("my-crawler/0.1") is None
    assert hints.identify_server("") is None
    assert hints.identify_server("Microsoft-IIS/10.0") is None
    assert hints.closes_on_unread("Go-http-client/1.1")
    assert not hints.closes_on_unread("curl/7.88.1") and not hints.closes_on_unread(None)


ROWS = [(code, key) for code, rows in hints.FIXES.items() for key in rows]


@pytest.mark.parametrize(("code", "key"), ROWS, ids=[f"{c}-{k}" for c, k in ROWS])
def test_fix_row_comes_first_for_its_software(code: str, key: str) -> None:
    side = hints.SIDE[code]
    fix = hints.FIXES[code][key].replace("{n}", "7").replace("{t}", "2.0s")
    client = BY_KEY.get(("client", key))
    server = BY_KEY.get(("server", key))
    got = None
    if side in ("client", "both") and client is not None:
        got = hints.hint(code, client=client, n=7, t="2.0s")
        assert got.startswith(f"{client.name}: {fix}")
    if side in ("server", "both") and server is not None:
        got = hints.hint(code, server=server, n=7, t="2.0s")
        assert got.startswith(f"{server.name}: {fix}")
    if got is None:
        # a program that does not name itself on that side (Go's server sends no
        # Server field): its row is among those named for unknown software
        got = hints.hint(code, n=7, t="2.0s")
        assert f": {fix}" in got, f"{key}'s row for {code} is never shown"
        return
    # the general causes follow the software's own fix
    assert "Otherwise: " in got and "{n}" not in got and "{t}" not in got


@pytest.mark.parametrize("code", list(hints.LIKELY))
def test_unknown_software_gets_the_likely_causes(code: str) -> None:
    got = hints.hint(code, n=7, t="2.0s")
    assert got.startswith(hints.LIKELY[code].replace("{n}", "7").replace("{t}", "2.0s"))
    assert "{n}" not in got and "{t}" not in got


@pytest.mark.parametrize("key", list(hints.PROXY_FIXES))
def test_proxy_row_comes_first_on_an_upstream_hop(key: str) -> None:
    curl = hints.identify_client("curl/7.88.1")
    got = hints.hint("client-connection-close", client=curl, proxy=key)
    assert got.startswith(hints.PROXY_FIXES[key])
    assert "drop -H" not in got  # the proxy's settings, not its client's


def test_fixes_name_only_codes_and_programs_that_exist() -> None:
    keys = {sw.key for sw in (*hints.CLIENTS, *hints.SERVERS)}
    for code, rows in hints.FIXES.items():
        assert code in hints.LIKELY and code in hints.SIDE
        assert set(rows) <= keys, code
    assert set(hints.PROXY_FIXES) - {"*"} <= hints.PROXIES


def test_docs_list_the_table() -> None:
    assert (ROOT / "docs" / "hints.md").read_text() == hints.markdown()


def test_classify_cache_answers_as_hints() -> None:
    """core/classify keeps hints' answers per User-Agent (hints is not compiled): the
    cached answers are hints' own, twice over (the second from the cache)."""
    from analyzer.core import classify

    values = [None, "", "my-crawler/0.1", "Go-http-client/1.1", "curl/7.88.1"]
    values += [sw.example for sw in hints.CLIENTS]
    for _ in range(2):
        for value in values:
            assert classify._client(value) is hints.identify_client(value)
