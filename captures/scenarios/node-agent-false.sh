#!/usr/bin/env bash
# Recipe: re-records captures/node-agent-false.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/node-agent-false.sh
# Node http.get({..., agent: false}) per request (5 GETs, 50 ms apart, body read) against
# nginx with keep-alive on: each request has a one-off Agent without keep-alive. Needs node.
NAME=node-agent-false
PORT=18225
CAPFILE=node-agent-false.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
node "$SC/$NAME.js" 127.0.0.1 "$PORT"
stop_capture
