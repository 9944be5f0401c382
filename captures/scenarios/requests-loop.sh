#!/usr/bin/env bash
# Recipe: re-records captures/requests-loop.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/requests-loop.sh
# python requests.get() in a loop (5 GETs) against nginx with keep-alive on: each call
# uses a throw-away Session, so each request gets its own connection, closed by the client.
NAME=requests-loop
PORT=18106
CAPFILE=requests-loop.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
"$PY" "$SC/$NAME.py" "http://127.0.0.1:$PORT"
stop_capture
