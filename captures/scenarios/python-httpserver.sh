#!/usr/bin/env bash
# Recipe: re-records captures/python-httpserver.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/python-httpserver.sh
# An http.server.BaseHTTPRequestHandler with protocol_version "HTTP/1.1" (Content-Length on
# every response) and one curl invocation with 5 URLs: curl reuses the connection and the
# server keeps it open. Standard library only.
NAME=python-httpserver
PORT=18232
CAPFILE=python-httpserver.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
python3 "$SC/$NAME.py" 127.0.0.1 "$PORT" >"$WORK/server.log" 2>&1 &
BG+=($!)
wait_listen
start_capture
curl -sS -o /dev/null "http://127.0.0.1:$PORT/item[1-5].txt"
stop_capture
