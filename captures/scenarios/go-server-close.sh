#!/usr/bin/env bash
# Recipe: re-records captures/go-server-close.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/go-server-close.sh
# Go server with SetKeepAlivesEnabled(false) (Connection: close on every response);
# well-behaved Go client (drains and closes bodies), 5 sequential GETs.
NAME=go-server-close
PORT=18103
CAPFILE=go-server-close.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
go_build "$SC/go-server-close.go" "$WORK/go-server-close"
"$WORK/go-server-close" server "127.0.0.1:$PORT" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
"$WORK/go-server-close" client "127.0.0.1:$PORT"
stop_capture
