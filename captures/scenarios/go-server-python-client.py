"""go-server-python-client: module-level requests.get() in a loop (5 GETs, 50 ms apart)
against a Go net/http server (which sends no `Server:` header). Each call uses a
throw-away Session, so each request gets its own connection, closed by the client.

    python go-server-python-client.py http://127.0.0.1:18231     (needs requests)
"""
import sys
import time

import requests

base = sys.argv[1]
for i in range(1, 6):
    r = requests.get(f"{base}/item/{i}")
    print(f"GET /item/{i} -> {r.status_code}, {len(r.content)} bytes", file=sys.stderr)
    time.sleep(0.05)
