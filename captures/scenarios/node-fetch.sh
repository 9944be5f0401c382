#!/usr/bin/env bash
# Recipe: re-records captures/node-fetch.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/node-fetch.sh
# Node 20's global fetch() (undici) in a loop (5 GETs, 50 ms apart, `await r.text()`)
# against nginx with keep-alive on: undici's pool reuses one connection. Needs node >= 18.
NAME=node-fetch
PORT=18226
CAPFILE=node-fetch.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
node "$SC/$NAME.js" "http://127.0.0.1:$PORT"
stop_capture
