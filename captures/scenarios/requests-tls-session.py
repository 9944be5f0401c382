"""requests-tls-session: one requests.Session() (verify=False) for 5 GETs over HTTPS: the
pooled TLS connection is reused. urllib3 writes the NSS key log to $SSLKEYLOGFILE.

    SSLKEYLOGFILE=keys python requests-tls-session.py https://localhost:18250
"""
import sys
import time

import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
base = sys.argv[1]
with requests.Session() as s:
    for i in range(1, 6):
        # verify=False per call: Session.verify = False would be overridden by
        # $REQUESTS_CA_BUNDLE / $CURL_CA_BUNDLE when those are set (requests' trust_env)
        r = s.get(f"{base}/item{i}.txt", verify=False)
        print(f"GET /item{i}.txt -> {r.status_code}, {len(r.content)} bytes", file=sys.stderr)
        time.sleep(0.05)
