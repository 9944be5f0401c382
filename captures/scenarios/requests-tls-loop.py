"""requests-tls-loop: module-level requests.get(verify=False) in a loop over HTTPS. Each
call builds a throw-away Session (and a new urllib3 SSLContext), so every request opens a
new TCP connection with a full TLS handshake. urllib3 writes the NSS key log to
$SSLKEYLOGFILE.

    SSLKEYLOGFILE=keys python requests-tls-loop.py https://localhost:18249
"""
import sys
import time

import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
base = sys.argv[1]
for i in range(1, 6):
    r = requests.get(f"{base}/item{i}.txt", verify=False)
    print(f"GET /item{i}.txt -> {r.status_code}, {len(r.content)} bytes", file=sys.stderr)
    time.sleep(0.05)
