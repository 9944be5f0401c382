#!/usr/bin/env bash
# Recipe: re-records captures/http10-server.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/http10-server.sh
# python3 -m http.server (SimpleHTTPRequestHandler, protocol HTTP/1.0) serving small files;
# one curl invocation with 5 URLs (curl would reuse the connection, but the server answers
# HTTP/1.0 without keep-alive and closes after each response).
NAME=http10-server
PORT=18104
CAPFILE=http10-server.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 5); do mkbody "$WORK/html/item$i.txt" 600; done
python3 -m http.server --bind 127.0.0.1 --directory "$WORK/html" "$PORT" >"$WORK/server.log" 2>&1 &
BG+=($!)
wait_listen
start_capture
curl -sS -o /dev/null "http://127.0.0.1:$PORT/item[1-5].txt"
stop_capture
