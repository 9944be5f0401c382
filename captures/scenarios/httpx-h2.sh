#!/usr/bin/env bash
# Recipe: re-records captures/httpx-h2.pcap (+ httpx-h2.keys, the client's NSS key log)
# from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/httpx-h2.sh
# nginx with `listen ... ssl http2` (TLS 1.3, self-signed cert); one
# httpx.Client(http2=True) makes 5 GETs: one connection, 5 HTTP/2 streams.
# Needs httpx with the http2 extra (h2): $CLIENTS_PY, default /tmp/clients-venv/bin/python
# (python3 -m venv /tmp/clients-venv && /tmp/clients-venv/bin/pip install 'httpx[http2]').
NAME=httpx-h2
PORT=18251
CAPFILE=httpx-h2.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"       # the recording harness
source "$(dirname "${BASH_SOURCE[0]}")/tls-common.sh"   # cert, nginx TLS, key log
# ---- scenario ----------------------------------------------------------------------
HPY="${CLIENTS_PY:-/tmp/clients-venv/bin/python}"
"$HPY" -c 'import httpx, h2' || { echo "$NAME: $HPY lacks httpx[http2]" >&2; exit 1; }
need_localhost_v4
make_cert
mkdir -p "$WORK/html"
for i in $(seq 5); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_tls_start
start_capture
"$HPY" "$SC/$NAME.py" "https://localhost:$PORT" "$KEYLOG"
stop_capture
save_keys
