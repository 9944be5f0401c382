"""requests-session: one requests.Session() for 5 GETs; urllib3's pool reuses the
connection.

    python requests-session.py http://127.0.0.1:18116
"""
import sys
import time

import requests

base = sys.argv[1]
with requests.Session() as s:
    for i in range(1, 6):
        r = s.get(f"{base}/item{i}.txt")
        print(f"GET /item{i}.txt -> {r.status_code}, {len(r.content)} bytes", file=sys.stderr)
        time.sleep(0.05)
