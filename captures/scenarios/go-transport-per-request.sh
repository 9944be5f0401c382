#!/usr/bin/env bash
# Recipe: re-records captures/go-transport-per-request.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/go-transport-per-request.sh
# Go client that builds a new http.Transport + http.Client per request, reads each body to
# EOF and closes it. 10 GETs 50 ms apart, then it sleeps 0.5 s and exits: every GET dials a
# new connection and all 10 stay open and idle until the process exits.
NAME=go-transport-per-request
PORT=18203
CAPFILE=go-transport-per-request.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
go_build "$SC/go-transport-per-request.go" "$WORK/go-transport-per-request"
"$WORK/go-transport-per-request" server "127.0.0.1:$PORT" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
"$WORK/go-transport-per-request" client "127.0.0.1:$PORT"
stop_capture
