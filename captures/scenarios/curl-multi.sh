#!/usr/bin/env bash
# Recipe: re-records captures/curl-multi.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/curl-multi.sh
# One curl invocation with 5 URLs against nginx: curl reuses one connection.
NAME=curl-multi
PORT=18107
CAPFILE=curl-multi.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
curl -sS -o /dev/null "http://127.0.0.1:$PORT/item[1-5].txt"
stop_capture
