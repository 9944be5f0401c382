"""httpx-per-call: module-level httpx.get() in a loop (5 GETs, 50 ms apart). Each call
builds a throw-away httpx.Client and closes it when the call returns, so every request
opens a new TCP connection, and the client closes it right after the response.

    python httpx-per-call.py http://127.0.0.1:18221     (needs httpx)
"""
import sys
import time

import httpx

base = sys.argv[1]
for i in range(1, 6):
    r = httpx.get(f"{base}/item{i}.txt")
    print(f"GET /item{i}.txt -> {r.status_code}, {len(r.content)} bytes", file=sys.stderr)
    time.sleep(0.05)
