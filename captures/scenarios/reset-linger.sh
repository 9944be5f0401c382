#!/usr/bin/env bash
# Recipe: re-records captures/reset-linger.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/reset-linger.sh
# Raw-socket python client, 5 connections to nginx, each with SO_LINGER {on, 0 s}: one GET,
# read the full response, close() -> the client aborts the connection with RST.
NAME=reset-linger
PORT=18113
CAPFILE=reset-linger.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
"$PY" "$SC/$NAME.py" 127.0.0.1 "$PORT"
stop_capture
