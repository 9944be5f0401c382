#!/usr/bin/env bash
# Recipe: re-records captures/urllib-loop.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/urllib-loop.sh
# python urllib.request.urlopen() in a loop (5 GETs, 50 ms apart, body read) against nginx
# with keep-alive on: urllib sends `Connection: close` and has no pool, so each request
# gets its own connection. Standard library only.
NAME=urllib-loop
PORT=18223
CAPFILE=urllib-loop.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
"$PY" "$SC/$NAME.py" "http://127.0.0.1:$PORT"
stop_capture
