"""urllib-loop: urllib.request.urlopen() in a loop (5 GETs, 50 ms apart), body read
in full and the response closed. urllib has no connection pool: every urlopen() opens
its own connection (and urllib's AbstractHTTPHandler sends `Connection: close`).
Standard library only.

    python urllib-loop.py http://127.0.0.1:18223
"""
import sys
import time
import urllib.request

base = sys.argv[1]
for i in range(1, 6):
    with urllib.request.urlopen(f"{base}/item{i}.txt") as r:
        body = r.read()
        print(f"GET /item{i}.txt -> {r.status}, {len(body)} bytes", file=sys.stderr)
    time.sleep(0.05)
