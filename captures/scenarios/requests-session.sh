#!/usr/bin/env bash
# Recipe: re-records captures/requests-session.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/requests-session.sh
# python requests.Session(), 5 GETs against nginx: one reused connection.
NAME=requests-session
PORT=18116
CAPFILE=requests-session.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
"$PY" "$SC/$NAME.py" "http://127.0.0.1:$PORT"
stop_capture
