#!/usr/bin/env bash
# Recipe: re-records captures/server-close.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/server-close.sh
# Tiny python raw-socket server answering HTTP/1.1 200 with Content-Length and no Connection
# header, then closing at once (server FIN, unannounced); a requests.Session() makes 4 GETs.
NAME=server-close
PORT=18123
CAPFILE=server-close.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
"$PY" "$SC/server-close.py" server 127.0.0.1 "$PORT" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
"$PY" "$SC/server-close.py" client 127.0.0.1 "$PORT"
stop_capture
