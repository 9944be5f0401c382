#!/usr/bin/env bash
# Recipe: re-records captures/ab-http10.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/ab-http10.sh
# ApacheBench without -k: ab -n 5 -c 1 against nginx (keep-alive enabled).
# ab sends HTTP/1.0 requests without Connection: keep-alive, so nginx closes after each.
NAME=ab-http10
PORT=18105
CAPFILE=ab-http10.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"; mkbody "$WORK/html/item1.txt" 600
nginx_start "$SC/$NAME.nginx.conf"
start_capture
ab -n 5 -c 1 "http://127.0.0.1:$PORT/item1.txt" >"$WORK/ab.log"
stop_capture
