"""Software seen on the wire → its fix: the data behind every hint.

A diagnosis says what the wire shows; the fix depends on the program on each side. The
request's ``User-Agent`` names the client (``Go-http-client/1.1``, ``python-requests/2.31``,
``curl/7.88.1`` …), the response's ``Server`` names the server (``nginx/1.22.1``,
``gunicorn``, ``BaseHTTP/0.6 Python/3.11.7`` …); forwarding fields and the shape of the
requests name a reverse proxy in between (classify decides that, see
:func:`analyzer.core.classify._proxies`).

Everything here is data:

* :data:`CLIENTS` and :data:`SERVERS`: a pattern per program, matched against the
  header value, first match wins;
* :data:`FIXES`: per diagnosis code, the fix for each program that has one of its own;
* :data:`LIKELY`: per code, what to say when the program is unknown — the causes in
  order of likelihood;
* :data:`PROXY_FIXES`: the upstream settings of each reverse proxy.

:func:`hint` puts them together: the fix for the software seen first, then the other
likely causes. ``docs/hints.md`` is written from these tables (:func:`markdown`; a test
keeps it current), and each row has a test.

(Over 400 lines because it is a table: the code is the last hundred lines; the fix texts
stay together so that a reader sees every program's advice for a diagnosis at once.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Software:
    """One program as it names itself on the wire."""

    key: str  # the key of its rows in FIXES
    name: str  # how hints and reports call it
    pattern: str  # a regular expression searched in the header value (case-insensitive)
    example: str  # a header value seen from it (tests and docs)


# Order matters where one value names several programs: urllib3 inside requests is
# "python-requests/…", aiohttp says "Python/3.11 aiohttp/3.9", Apache HttpClient says
# "Apache-HttpClient/4.5 (Java/17)": the more specific pattern comes first.
CLIENTS: Final[tuple[Software, ...]] = (
    Software("go", "Go net/http", r"^Go-http-client/", "Go-http-client/1.1"),
    Software("python-requests", "Python requests", r"^python-requests/", "python-requests/2.31.0"),
    Software("urllib3", "Python urllib3", r"^python-urllib3/", "python-urllib3/2.0.7"),
    Software("httpx", "Python httpx", r"^python-httpx/", "python-httpx/0.27.0"),
    Software("aiohttp", "Python aiohttp", r"\baiohttp/", "Python/3.11 aiohttp/3.9.5"),
    Software("urllib", "Python urllib", r"^Python-urllib/", "Python-urllib/3.11"),
    Software("curl", "curl", r"^curl/", "curl/7.88.1"),
    Software("ab", "ApacheBench (ab)", r"^ApacheBench/", "ApacheBench/2.3"),
    Software("wrk", "wrk", r"^wrk\b", "wrk/4.1.0"),
    Software("node-fetch", "Node fetch (undici)", r"^(node|undici)(/|$)", "node"),
    Software("node", "Node http", r"^(axios|got|node-fetch|node-superagent)\b", "axios/1.6.8"),
    Software("java-httpclient", "Java HttpClient", r"^Java-http-client/",
             "Java-http-client/17.0.15"),
    Software("okhttp", "OkHttp", r"^okhttp/", "okhttp/4.12.0"),
    Software("apache-httpclient", "Apache HttpClient", r"^Apache-HttpClient/",
             "Apache-HttpClient/4.5.14 (Java/17.0.15)"),
    Software("java-urlconnection", "Java HttpURLConnection", r"^Java/", "Java/17.0.15"),
    Software("browser", "a web browser", r"^Mozilla/5\.0 ",
             "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
)

SERVERS: Final[tuple[Software, ...]] = (
    Software("nginx", "nginx", r"^(nginx|openresty)\b", "nginx/1.22.1"),
    Software("apache", "Apache httpd", r"^Apache(/|$| )", "Apache/2.4.57 (Debian)"),
    Software("gunicorn", "gunicorn", r"^gunicorn\b", "gunicorn"),
    Software("uvicorn", "uvicorn", r"^uvicorn\b", "uvicorn"),
    Software("werkzeug", "Werkzeug (Flask dev server)", r"^Werkzeug/",
             "Werkzeug/3.0.1 Python/3.11.7"),
    Software("python-httpserver", "Python http.server", r"^(SimpleHTTP|BaseHTTP)/",
             "SimpleHTTP/0.6 Python/3.11.7"),
    Software("envoy", "Envoy", r"^envoy\b", "envoy"),
    Software("haproxy", "HAProxy", r"\bhaproxy\b", "haproxy"),
    Software("caddy", "Caddy", r"^Caddy\b", "Caddy"),
    Software("node", "Node http", r"^(node|express)\b", "Express"),
    Software("jetty", "Jetty", r"^Jetty\b", "Jetty(9.4.53.v20231009)"),
    Software("kestrel", "Kestrel", r"^Kestrel\b", "Kestrel"),
)

# Servers that are also the reverse proxies classify looks for in front of a hop.
PROXIES: Final = frozenset({"nginx", "apache", "envoy", "haproxy", "caddy"})

# Clients whose pool closes a connection right after a complete response only when the
# body was closed before EOF (Go's Transport; HttpURLConnection, whose keep-alive cache
# takes a connection back only once its stream was read to the end, recorded in
# captures/java-urlconnection-unread.pcap): their FIN after a response is unread-body.
CLOSES_ON_UNREAD: Final = frozenset({"go", "java-urlconnection"})

# Which side each code asks to change: its client, its server, or both.
SIDE: Final[dict[str, str]] = {
    "leak": "client", "unread-body": "client", "client-close": "client",
    "client-connection-close": "client", "http10-client": "client",
    "client-idle-timeout": "client", "tls-no-resumption": "client",
    "server-connection-close": "server", "http10-server": "server",
    "request-limit": "server", "close-delimited": "server", "server-close": "server",
    "idle-timeout": "both", "reset": "client", "reset-server": "server",
}

# What to say when the software is unknown: the causes, most likely first.
LIKELY: Final[dict[str, str]] = {
    "reused": "nothing to fix: connections are reused",
    "leak": "connections pile up open and idle while new ones are opened: the client "
    "neither reuses nor closes them. Most likely a response body never read to EOF and "
    "closed, or a new client / connection pool (Go: http.Transport) per request — read "
    "and close every body and share one client across requests",
    "unread-body": "the client ends each connection right after a complete response: "
    "read every response body to the end before closing it (a body closed early makes "
    "most clients drop the connection; an RST means response bytes were still unread in "
    "its socket), and share one client across requests",
    "client-close": "the client closes after each response although both sides allow "
    "keep-alive. Most likely a new client, session or process per request — share one "
    "client across requests; next, a response body closed before EOF (Go)",
    "client-connection-close": "the requests carry 'Connection: close': stop sending it "
    "— an explicit header, a client with keep-alive turned off, or a reverse proxy that "
    "talks HTTP/1.0 or 'Connection: close' to its upstream by default",
    "http10-client": "the client speaks HTTP/1.0 without 'Connection: keep-alive': send "
    "HTTP/1.1 requests (or the keep-alive header); a reverse proxy's default upstream "
    "settings do this too",
    "http10-server": "the server answers HTTP/1.0 without keep-alive: make it answer "
    "HTTP/1.1 with a Content-Length or chunked body",
    "server-connection-close": "the server answers 'Connection: close' although the "
    "client asked for nothing: enable keep-alive in the server, or in the proxy in front "
    "of it",
    "request-limit": "raise the server's per-connection request limit (now {n})",
    "idle-timeout": "the server closes idle connections (after ~{t}) before the client's "
    "next request: make the server's keep-alive idle timeout longer than the client's "
    "pauses, or the client's pool idle timeout shorter than the server's",
    "close-delimited": "send Content-Length or chunked transfer encoding so the body does "
    "not end with the connection",
    "server-close": "the server closes right after each response without saying so: "
    "enable keep-alive in the server (or the proxy in front of it); a server that handles "
    "one request per connection (a per-connection handler, a crash) does the same",
    "client-idle-timeout": "the client drops idle pooled connections before its next "
    "request: raise its pool's idle timeout above the request interval",
    "reset": "the client aborts connections with RST: it closed its socket with "
    "response bytes still unread (read each response to the end) or with SO_LINGER 0 — "
    "not the server",
    "reset-server": "the server aborts connections with RST: it closes with request bytes "
    "unread (e.g. a request body it did not read) or with SO_LINGER 0 (nginx: 'return "
    "444', 'reset_timedout_connection on')",
    "tls-no-resumption": "the client opens connection after connection with a full TLS "
    "handshake: reuse connections, or enable TLS session resumption (a shared session "
    "cache / tickets)",
}

# The fix for one program, per code (the program's key from CLIENTS or SERVERS).
FIXES: Final[dict[str, dict[str, str]]] = {
    "leak": {
        "go": "read every body to EOF and close it (io.Copy(io.Discard, resp.Body); "
        "resp.Body.Close()), and share one http.Client / http.Transport: a Transport "
        "built per request keeps each connection idle in a pool of its own",
        "python-requests": "use one requests.Session() and read or close every response "
        "(stream=True: r.content or r.close())",
        "urllib3": "use one PoolManager and release every response (preload_content=True, "
        "or r.release_conn())",
        "httpx": "use one httpx.Client() for all requests; with client.stream(), read or "
        "close every response",
        "aiohttp": "use one ClientSession for the program; read or release every response "
        "(async with session.get(...) as resp)",
        "node": "share one http.Agent({keepAlive: true}) and consume every response "
        "(res.resume() when the body is not needed)",
        "node-fetch": "consume or cancel every response body (await res.arrayBuffer() / "
        "res.body.cancel())",
        "java-httpclient": "build one HttpClient and reuse it; a client per request keeps "
        "each connection in a pool of its own",
        "java-urlconnection": "read every InputStream (getErrorStream() on errors) to the "
        "end and close it",
        "okhttp": "share one OkHttpClient and close every Response (response.close(), or "
        "use {} / try-with-resources)",
        "apache-httpclient": "share one CloseableHttpClient; EntityUtils.consume(entity) "
        "and close every response",
    },
    "unread-body": {
        "go": "read the body to EOF before closing it: io.Copy(io.Discard, resp.Body); "
        "resp.Body.Close(). Go's Transport puts a connection back in its pool only after "
        "its body was read to EOF; 'defer resp.Body.Close()' alone closes it. If every "
        "body is read already, the close is the pool's: share one http.Transport instead "
        "of one per request, and don't call CloseIdleConnections after each request",
        "python-requests": "with stream=True read the body (r.content, or iter_content to "
        "the end) before r.close(), and use one requests.Session()",
        "urllib3": "read the body (r.data) or drain it (r.drain_conn()) before "
        "r.release_conn()",
        "httpx": "read the body (response.read()) before closing a streamed response",
        "aiohttp": "await resp.read() (or resp.release()) before leaving the response",
        "node": "consume every response (res.resume() when the body is not needed) "
        "before the socket is destroyed",
        "node-fetch": "consume or cancel every body (await res.arrayBuffer() or "
        "res.body.cancel())",
        "java-httpclient": "read each body (BodyHandlers.discarding() when unused)",
        "java-urlconnection": "read the InputStream (getErrorStream() on errors) to the "
        "end and close it; disconnect() drops the connection",
        "okhttp": "read the body (response.body().string()) or close the Response",
        "apache-httpclient": "EntityUtils.consume(response.getEntity()) before close()",
    },
    "client-close": {
        "go": "share one http.Client (its Transport) across requests and read every "
        "body to EOF before Close",
        "python-requests": "requests.get() opens a session per call: use one "
        "requests.Session() for all requests",
        "urllib3": "use one PoolManager for all requests",
        "httpx": "httpx.get() opens a client per call: use one httpx.Client()",
        "aiohttp": "one ClientSession for the program, not one per request",
        "urllib": "urllib.request opens a connection per urlopen(): use "
        "http.client.HTTPConnection, urllib3 or requests.Session() to reuse one",
        "curl": "each curl run is a new process: pass several URLs to one curl (or reuse "
        "one libcurl easy handle)",
        "ab": "ab without -k opens a connection per request: use ab -k",
        "node": "share one http.Agent({keepAlive: true}) (agent: false and a new Agent "
        "per request close or strand the socket)",
        "node-fetch": "keep one process (and its fetch dispatcher) for all requests",
        "java-httpclient": "build one HttpClient and reuse it",
        "java-urlconnection": "read each response fully and close its stream (the JDK "
        "then keeps the connection; http.keepAlive=true is the default)",
        "okhttp": "share one OkHttpClient",
        "apache-httpclient": "share one CloseableHttpClient (its pooling connection "
        "manager)",
    },
    "tls-no-resumption": {
        "go": "share one http.Client (its Transport keeps connections and TLS sessions); "
        "where a Transport per request cannot be avoided, give them one "
        "TLSClientConfig.ClientSessionCache (tls.NewLRUClientSessionCache(0)) so new "
        "connections resume",
        "python-requests": "use one requests.Session(): it keeps the connection and its "
        "TLS session (requests.get() per call starts from nothing each time)",
        "urllib3": "use one PoolManager: it reuses connections and their TLS sessions",
        "httpx": "use one httpx.Client() (httpx.get() per call builds a new SSL context "
        "each time, with no session to resume)",
        "aiohttp": "one ClientSession for the program, not one per request",
        "curl": "each curl process starts with an empty session cache: pass several URLs "
        "to one curl, or reuse one libcurl handle (its session cache is on by default)",
        "node": "share one https.Agent({keepAlive: true}); it also resumes TLS sessions "
        "(maxCachedSessions, 100 by default)",
        "node-fetch": "keep one process and its fetch dispatcher for all requests",
        "java-httpclient": "build one HttpClient and reuse it (its SSLContext caches "
        "sessions)",
        "okhttp": "share one OkHttpClient",
        "apache-httpclient": "share one CloseableHttpClient",
    },
    "client-connection-close": {
        "go": "leave Transport.DisableKeepAlives false and req.Close false",
        "python-requests": "don't send 'Connection: close' in the headers",
        "urllib": "urllib.request always sends 'Connection: close': use urllib3, "
        "requests.Session() or http.client.HTTPConnection",
        "curl": "drop -H 'Connection: close'",
        "node": "agent: false sends 'Connection: close': use an http.Agent({keepAlive: "
        "true})",
        "java-urlconnection": "don't set http.keepAlive=false or 'Connection: close'",
        "java-httpclient": "don't set a 'Connection: close' header",
        "okhttp": "don't add 'Connection: close' (an interceptor?)",
        "apache-httpclient": "use a ConnectionReuseStrategy that keeps connections "
        "(the default), no 'Connection: close' header",
    },
    "http10-client": {
        "ab": "ab speaks HTTP/1.0: use ab -k (keep-alive)",
        "curl": "drop --http1.0 / -0",
        "python-requests": "requests speaks HTTP/1.1: something in between (a proxy) "
        "rewrites the requests",
    },
    "http10-server": {
        "python-httpserver": "set protocol_version = 'HTTP/1.1' on the request handler and "
        "send a Content-Length on every response",
        "werkzeug": "run with WSGIRequestHandler.protocol_version = 'HTTP/1.1' "
        "(Werkzeug's dev server answers HTTP/1.0 by default)",
    },
    "server-connection-close": {
        "go": "don't call srv.SetKeepAlivesEnabled(false), nor set 'Connection: close' "
        "in a handler",
        "nginx": "keepalive_timeout above 0 (0 turns keep-alive off), and no "
        "keepalive_disable for this client",
        "apache": "KeepAlive On (and MaxKeepAliveRequests above 0)",
        "gunicorn": "gunicorn's sync workers close after every response: use "
        "--worker-class gthread (or gevent) with --keep-alive N",
        "node": "don't set 'Connection: close' in the handler; server.keepAliveTimeout "
        "above 0",
        "python-httpserver": "don't set close_connection (or 'Connection: close') in the "
        "handler",
        "envoy": "check max_requests_per_connection and the listener's drain settings",
    },
    "request-limit": {
        "go": "Go's server has no request limit: the limit of {n} comes from middleware or "
        "a proxy in front of it",
        "nginx": "keepalive_requests above {n} (nginx's default is 1000)",
        "apache": "MaxKeepAliveRequests above {n} (0 is unlimited; the default is 100)",
        "envoy": "max_requests_per_connection above {n}",
    },
    "idle-timeout": {
        "go": "Server.IdleTimeout above the client's pauses (it falls back to "
        "ReadTimeout)",
        "nginx": "keepalive_timeout above the client's pauses (nginx's default is 75s)",
        "apache": "KeepAliveTimeout above the client's pauses (the default is 5s)",
        "gunicorn": "--keep-alive above the client's pauses (the default is 2s)",
        "uvicorn": "--timeout-keep-alive above the client's pauses (the default is 5s)",
        "node": "server.keepAliveTimeout above the client's pauses (the default is 5s)",
        "envoy": "common_http_protocol_options.idle_timeout above the client's pauses",
        "haproxy": "timeout http-keep-alive above the client's pauses",
        "python-requests": "client side: urllib3 has no idle timeout of its own: send "
        "requests more often or expect a reconnect",
        "node-fetch": "client side: undici's keepAliveTimeout follows the server's "
        "Keep-Alive header; set the server's timeout longer",
        "java-urlconnection": "client side: the JDK keeps idle connections 5s "
        "(http.keepAlive.time.server)",
    },
    "close-delimited": {
        "go": "Go frames every HTTP/1.1 response: a handler that hijacks the connection "
        "writes its own framing",
        "python-httpserver": "send_header('Content-Length', len(body)) on every response "
        "(and protocol_version = 'HTTP/1.1')",
    },
    "server-close": {
        "go": "a handler that panics or hijacks the connection closes it; so does a "
        "Server with SetKeepAlivesEnabled(false) behind a proxy that strips the header",
        "python-httpserver": "BaseHTTPRequestHandler handles one request per connection "
        "with protocol_version 'HTTP/1.0' (the default): set 'HTTP/1.1'",
    },
    "client-idle-timeout": {
        "go": "Transport.IdleConnTimeout above the request interval (0 is no limit; the "
        "DefaultTransport's is 90s)",
        "node": "http.Agent keepAlive: true with a longer timeout / free socket timeout",
        "java-httpclient": "-Djdk.httpclient.keepalive.timeout above the request interval "
        "(the default is 1200s)",
        "java-urlconnection": "the JDK keeps idle connections 5s by default "
        "(http.keepAlive.time.server)",
        "okhttp": "ConnectionPool(maxIdle, keepAliveDuration) above the request interval "
        "(the default is 5 minutes)",
        "apache-httpclient": "the connection manager's validateAfterInactivity / "
        "evictIdleConnections above the request interval",
    },
    "reset": {
        "go": "read every body to EOF before resp.Body.Close(), and no SetLinger(0) on "
        "the connection",
    },
    "reset-server": {
        "go": "no SetLinger(0) on accepted connections; read the request body before "
        "closing",
        "nginx": "no 'return 444' and no 'reset_timedout_connection on' for these requests; "
        "lingering_close on",
        "haproxy": "no 'option nolinger'",
    },
}

# A reverse proxy's settings for keep-alive to its upstream.
PROXY_FIXES: Final[dict[str, str]] = {
    "nginx": "in the proxy's location: proxy_http_version 1.1; proxy_set_header "
    "Connection \"\"; and in its upstream block: keepalive 16; (nginx talks HTTP/1.0 "
    "with 'Connection: close' to upstreams by default)",
    "apache": "Apache mod_proxy: no 'SetEnv proxy-nokeepalive 1' and no "
    "'force-proxy-request-1.0'; ProxyPass … keepalive=On disablereuse=Off",
    "haproxy": "HAProxy: no 'option httpclose' or 'option http-server-close' (keep the "
    "default 'option http-keep-alive')",
    "envoy": "Envoy keeps upstream connections by default: check the cluster's "
    "max_requests_per_connection and common_http_protocol_options",
    "caddy": "Caddy keeps upstream connections by default: check the reverse_proxy "
    "transport's keepalive settings",
    "*": "the reverse proxy in front of this server talks to it without keep-alive: "
    "enable upstream keep-alive in the proxy (nginx: proxy_http_version 1.1; "
    "proxy_set_header Connection \"\"; keepalive 16; in the upstream block)",
}

# Codes a reverse proxy's upstream settings explain (when the client is a proxy: a proxy
# that closes its upstream connection after each response looks like a client that
# closes, whatever the User-Agent it passes on says).
PROXY_CODES: Final = frozenset({
    "client-connection-close", "http10-client", "client-close", "unread-body",
})

UNKNOWN_ROWS: Final = 3  # fixes of common programs named when the software is unknown

# Every program's name by its key (a key names one program on either side); the servers'
# with Go's, which sends no Server field but has fixes of its own on that side.
NAMES: Final[dict[str, str]] = {sw.key: sw.name for sw in (*SERVERS, *CLIENTS)}
SERVER_NAMES: Final[dict[str, str]] = {sw.key: sw.name for sw in SERVERS} | {"go": "Go net/http"}

_cache: dict[tuple[bool, str], Software | None] = {}


def _identify(value: str | None, table: tuple[Software, ...], client: bool) -> Software | None:
    if not value:
        return None
    key = (client, value)
    if key in _cache:
        return _cache[key]
    found = None
    for sw in table:
        if re.search(sw.pattern, value, re.IGNORECASE):
            found = sw
            break
    if len(_cache) < 4096:
        _cache[key] = found
    return found


def identify_client(user_agent: str | None) -> Software | None:
    """The client program a ``User-Agent`` value names, or None."""
    return _identify(user_agent, CLIENTS, True)


def identify_server(server: str | None) -> Software | None:
    """The server program a ``Server`` value names, or None."""
    return _identify(server, SERVERS, False)


def closes_on_unread(user_agent: str | None) -> bool:
    """Does this client close after a response only when its body was not read to EOF?"""
    sw = identify_client(user_agent)
    return sw is not None and sw.key in CLOSES_ON_UNREAD


def hint(
    code: str,
    client: Software | None = None,
    server: Software | None = None,
    proxy: str | None = None,
    **params: object,
) -> str:
    """The fix for ``code``: the proxy's upstream settings first (``proxy``: a key of
    PROXY_FIXES, when the client of this hop is a reverse proxy), then the fix for the
    software seen on the side the code blames, then the likely causes in general.
    ``params`` fill the placeholders ({n}: request limit, {t}: idle timeout)."""
    side = SIDE.get(code, "both")
    fixes = FIXES.get(code, {})
    parts: list[str] = []
    if proxy is not None and code in PROXY_CODES:
        parts.append(PROXY_FIXES.get(proxy, PROXY_FIXES["*"]))
    else:
        # (both sides: the server's setting first — it is the one that closes)
        for sw, blamed in ((server, side in ("server", "both")),
                           (client, side in ("client", "both"))):
            if sw is not None and blamed and sw.key in fixes:
                parts.append(f"{sw.name}: {fixes[sw.key]}")
    general = LIKELY.get(code, "")
    if parts and side == "both" and server is None:
        # (a fix on both sides, the server's unknown: its commonest settings too)
        parts += _examples(fixes, SERVER_NAMES)
    if parts:
        text = "; ".join(parts)
        if general:
            text += f". Otherwise: {general}"
    else:
        # Unknown software: the general causes, then the fixes of the most common
        # programs (FIXES rows are in order of how often they are met)
        text = general
        common = _examples(fixes, NAMES)
        if common:
            text += ". For example — " + "; ".join(common)
    return _fill(text, params)


def resumption(client: Software | None) -> str:
    """What to add to another diagnosis' hint when every new TLS connection paid a full
    handshake: how this client resumes TLS sessions."""
    fixes = FIXES["tls-no-resumption"]
    how = (
        f"{client.name}: {fixes[client.key]}" if client is not None and client.key in fixes
        else "reuse connections, or give the client a shared TLS session cache so new ones "
        "resume"
    )
    return f"Each new connection also paid a full TLS handshake, none resumed — {how}."


def _examples(fixes: dict[str, str], names: dict[str, str]) -> list[str]:
    """The first UNKNOWN_ROWS fixes of programs in ``names``, named."""
    return [f"{names[k]}: {fix}" for k, fix in fixes.items() if k in names][:UNKNOWN_ROWS]


def _fill(text: str, params: dict[str, object]) -> str:
    for k, v in params.items():
        text = text.replace("{" + k + "}", str(v))
    return text


def markdown() -> str:
    """docs/hints.md: the tables above as a reader sees them."""
    out = [
        "# Hints: software on the wire → its fix",
        "",
        "Written from `analyzer/core/hints.py` (`python -m analyzer.core.hints > "
        "docs/hints.md`; a test keeps it current). A hint names the fix for the software "
        "seen on the side the diagnosis blames first (the request's `User-Agent`, the "
        "response's `Server`; a reverse proxy's upstream settings when the requests came "
        "through one), then the likely causes in general.",
        "",
        "## Clients (`User-Agent`)",
        "",
        "| program | pattern | example |",
        "|---|---|---|",
    ]
    for sw in CLIENTS:
        out.append(f"| {sw.name} | `{sw.pattern}` | `{sw.example}` |")
    out += ["", "## Servers (`Server`)", "", "| program | pattern | example |", "|---|---|---|"]
    for sw in SERVERS:
        out.append(f"| {sw.name} | `{sw.pattern}` | `{sw.example}` |")
    names = NAMES
    out += ["", "## Fixes per diagnosis", ""]
    for code, general in LIKELY.items():
        out += [f"### `{code}` (changes the {SIDE.get(code, 'both')} side)", "",
                f"Unknown software: {general}", ""]
        rows = FIXES.get(code, {})
        if rows:
            out += ["| software | fix |", "|---|---|"]
            for key, fix in rows.items():
                out.append(f"| {names.get(key, key)} | {fix} |")
            out.append("")
    out += ["## Reverse proxies (their upstream hop)", "", "| proxy | fix |", "|---|---|"]
    for key, fix in PROXY_FIXES.items():
        out.append(f"| {'unknown' if key == '*' else names.get(key, key)} | {fix} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
