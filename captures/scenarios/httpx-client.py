"""httpx-client: one httpx.Client() for all 5 GETs (50 ms apart); its connection pool
keeps the connection and reuses it. The client is closed (with the pool) at the end.

    python httpx-client.py http://127.0.0.1:18222     (needs httpx)
"""
import sys
import time

import httpx

base = sys.argv[1]
with httpx.Client() as client:
    for i in range(1, 6):
        r = client.get(f"{base}/item{i}.txt")
        print(f"GET /item{i}.txt -> {r.status_code}, {len(r.content)} bytes", file=sys.stderr)
        time.sleep(0.05)
