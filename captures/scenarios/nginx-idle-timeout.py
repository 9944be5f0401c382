"""nginx-idle-timeout: one requests.Session() making 4 GETs with 2 s pauses, against an
nginx with keepalive_timeout 1s. nginx closes each connection after ~1 s of idleness
(no Connection: close header); urllib3 notices the dropped connection and reconnects.
The client also waits 2 s after the last response, so the last connection is closed by
the server's idle timeout too.

    python nginx-idle-timeout.py http://127.0.0.1:18110
"""
import sys
import time

import requests

base = sys.argv[1]
with requests.Session() as s:
    for i in range(1, 5):
        r = s.get(f"{base}/item{i}.txt")
        print(f"GET /item{i}.txt -> {r.status_code}, {len(r.content)} bytes", file=sys.stderr)
        time.sleep(2.0)
