"""httpx-h2c-prior: one httpx.Client(http1=False, http2=True) making N GETs over cleartext
HTTP/2 with prior knowledge (h2c: the client sends the connection preface directly, no
Upgrade). Used by httpx-h2c-prior.sh (5 GETs).

    python httpx-h2c-prior.py http://127.0.0.1:18253 5
"""
import sys
import time

import httpx

base, n = sys.argv[1], int(sys.argv[2])
with httpx.Client(http1=False, http2=True) as client:
    for i in range(1, n + 1):
        r = client.get(f"{base}/item{i}.txt")
        print(f"GET /item{i}.txt -> {r.http_version} {r.status_code}, {len(r.content)} bytes",
              file=sys.stderr)
        time.sleep(0.05)
