#!/usr/bin/env bash
# Recipe: re-records captures/curl-connection-close.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/curl-connection-close.sh
# One curl invocation with 5 URLs and -H 'Connection: close' against nginx: every request
# asks the server to close, so nginx closes after each response and curl reconnects.
NAME=curl-connection-close
PORT=18108
CAPFILE=curl-connection-close.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
curl -sS -o /dev/null -H 'Connection: close' "http://127.0.0.1:$PORT/item[1-5].txt"
stop_capture
