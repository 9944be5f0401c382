#!/usr/bin/env bash
# Recipe: re-records captures/close-delimited.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/close-delimited.sh
# Tiny python raw-socket server answering HTTP/1.1 200 with neither Content-Length nor
# chunked encoding and then closing (close-delimited body); a requests.Session() makes 3 GETs.
NAME=close-delimited
PORT=18120
CAPFILE=close-delimited.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
"$PY" "$SC/close-delimited.py" server 127.0.0.1 "$PORT" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
"$PY" "$SC/close-delimited.py" client 127.0.0.1 "$PORT"
stop_capture
