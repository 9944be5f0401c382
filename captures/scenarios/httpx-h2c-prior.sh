#!/usr/bin/env bash
# Recipe: re-records captures/httpx-h2c-prior.pcap from scratch (cleartext HTTP/2: no key log).
# Run as root from the repo root:
#   sudo bash captures/scenarios/httpx-h2c-prior.sh
# nginx with `listen ... http2` WITHOUT ssl (h2c); one httpx.Client(http1=False, http2=True)
# makes 5 GETs with prior knowledge (connection preface sent directly): 1 connection, 5 streams.
# (curl --http2-prior-knowledge with several URLs fails on connection reuse in curl 7.88.1:
# "Error in the HTTP2 framing layer", curl/curl#10634, fixed by curl/curl#10643.)
# Needs httpx with the http2 extra (h2): $CLIENTS_PY, default /tmp/clients-venv/bin/python
# (python3 -m venv /tmp/clients-venv && /tmp/clients-venv/bin/pip install 'httpx[http2]').
NAME=httpx-h2c-prior
PORT=18253
CAPFILE=httpx-h2c-prior.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
HPY="${CLIENTS_PY:-/tmp/clients-venv/bin/python}"
"$HPY" -c 'import httpx, h2' || { echo "$NAME: $HPY lacks httpx[http2]" >&2; exit 1; }
mkdir -p "$WORK/html"
for i in $(seq 5); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
"$HPY" "$SC/httpx-h2c-prior.py" "http://127.0.0.1:$PORT" 5
stop_capture
