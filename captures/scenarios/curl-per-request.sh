#!/usr/bin/env bash
# Recipe: re-records captures/curl-per-request.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/curl-per-request.sh
# 5 separate curl processes against nginx: each opens its own connection and
# closes it (FIN from the client) when it exits.
NAME=curl-per-request
PORT=18117
CAPFILE=curl-per-request.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
for i in 1 2 3 4 5; do
  curl -sS -o /dev/null "http://127.0.0.1:$PORT/item$i.txt"
  sleep 0.05
done
stop_capture
