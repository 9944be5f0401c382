#!/usr/bin/env bash
# Recipe: re-records captures/ab-keepalive.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/ab-keepalive.sh
# ApacheBench with -k: ab -k -n 5 -c 1 against nginx. ab sends HTTP/1.0 requests with
# Connection: keep-alive; nginx keeps the connection open, so all 5 share one connection.
NAME=ab-keepalive
PORT=18115
CAPFILE=ab-keepalive.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"; mkbody "$WORK/html/item1.txt" 600
nginx_start "$SC/$NAME.nginx.conf"
start_capture
ab -k -n 5 -c 1 "http://127.0.0.1:$PORT/item1.txt" >"$WORK/ab.log"
stop_capture
