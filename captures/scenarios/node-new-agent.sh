#!/usr/bin/env bash
# Recipe: re-records captures/node-new-agent.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/node-new-agent.sh
# Node http.get with `agent: new http.Agent({keepAlive: true})` made per request and never
# destroyed (5 GETs, 50 ms apart, body read) against nginx with keep-alive on: every Agent
# keeps its idle socket, so connections pile up until the process exits 0.5 s after the
# last response. Needs node.
NAME=node-new-agent
PORT=18227
CAPFILE=node-new-agent.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
node "$SC/$NAME.js" 127.0.0.1 "$PORT"
stop_capture
