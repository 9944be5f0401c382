#!/usr/bin/env bash
# Recipe: re-records captures/nginx-request-limit.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/nginx-request-limit.sh
# nginx with keepalive_requests 3; a requests.Session() makes 10 sequential GETs.
# Expected connections of 3,3,3,1 requests, nginx closing after every 3rd response.
NAME=nginx-request-limit
PORT=18109
CAPFILE=nginx-request-limit.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
"$PY" "$SC/$NAME.py" "http://127.0.0.1:$PORT"
stop_capture
