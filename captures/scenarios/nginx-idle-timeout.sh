#!/usr/bin/env bash
# Recipe: re-records captures/nginx-idle-timeout.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/nginx-idle-timeout.sh
# nginx with keepalive_timeout 1s; a requests.Session() makes 4 GETs with 2 s pauses
# (and waits 2 s after the last): nginx closes every idle connection after ~1 s.
NAME=nginx-idle-timeout
PORT=18110
CAPFILE=nginx-idle-timeout.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
"$PY" "$SC/$NAME.py" "http://127.0.0.1:$PORT"
stop_capture
