"""httpx-h2: one httpx.Client(http2=True) for 5 GETs over HTTPS; ALPN negotiates h2 and the
5 requests are 5 streams on one connection. verify= gets an ssl.SSLContext that does not
verify (the equivalent of verify=False) but writes the NSS key log: httpx ignores
$SSLKEYLOGFILE when verify=False.

    python httpx-h2.py https://localhost:18251 KEYLOG
"""
import ssl
import sys
import time

import httpx

base, keylog = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.keylog_filename = keylog
with httpx.Client(http2=True, verify=ctx) as client:
    for i in range(1, 6):
        r = client.get(f"{base}/item{i}.txt")
        print(f"GET /item{i}.txt -> {r.http_version} {r.status_code}, {len(r.content)} bytes",
              file=sys.stderr)
        time.sleep(0.05)
