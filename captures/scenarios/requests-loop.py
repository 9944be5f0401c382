"""requests-loop: module-level requests.get() in a loop. Each call builds a throw-away
Session, so every request opens a new TCP connection, and the Session (and its pooled
connection) is closed as soon as the response has been read.

    python requests-loop.py http://127.0.0.1:18106
"""
import sys
import time

import requests

base = sys.argv[1]
for i in range(1, 6):
    r = requests.get(f"{base}/item{i}.txt")
    print(f"GET /item{i}.txt -> {r.status_code}, {len(r.content)} bytes", file=sys.stderr)
    time.sleep(0.05)
