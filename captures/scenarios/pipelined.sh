#!/usr/bin/env bash
# Recipe: re-records captures/pipelined.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/pipelined.sh
# Raw-socket python client: 3 GETs pipelined in one send() on one connection to nginx,
# reads the 3 responses, sends a 4th GET, reads it, closes.
NAME=pipelined
PORT=18111
CAPFILE=pipelined.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
"$PY" "$SC/$NAME.py" 127.0.0.1 "$PORT"
stop_capture
