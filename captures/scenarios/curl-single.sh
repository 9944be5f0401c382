#!/usr/bin/env bash
# Recipe: re-records captures/curl-single.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/curl-single.sh
# One single curl request to nginx (default keep-alive config), nothing else: one
# connection, one request; curl sends the first FIN when it exits.
NAME=curl-single
PORT=18209
CAPFILE=curl-single.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
mkbody "$WORK/html/item1.txt" 600
nginx_start "$SC/$NAME.nginx.conf"
start_capture
curl -sS -o /dev/null "http://127.0.0.1:$PORT/item1.txt"
stop_capture
