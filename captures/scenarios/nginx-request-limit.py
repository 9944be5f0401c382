"""nginx-request-limit: one requests.Session() making 10 sequential GETs to an nginx
with keepalive_requests 3. nginx answers the 3rd request on each connection with
"Connection: close" and closes; urllib3 then opens a new connection.

    python nginx-request-limit.py http://127.0.0.1:18109
"""
import sys
import time

import requests

base = sys.argv[1]
with requests.Session() as s:
    for i in range(1, 11):
        r = s.get(f"{base}/item{i}.txt")
        print(f"GET /item{i}.txt -> {r.status_code}, {len(r.content)} bytes, "
              f"Connection: {r.headers.get('Connection')}", file=sys.stderr)
        time.sleep(0.05)
