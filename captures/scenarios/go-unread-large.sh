#!/usr/bin/env bash
# Recipe: re-records captures/go-unread-large.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/go-unread-large.sh
# As go-unread-small (one shared Go http.Client, `defer resp.Body.Close()`, body never
# read; 10 GETs 50 ms apart, then 0.5 s sleep and exit) with 64 KiB bodies: the unread
# data left in the client socket turns each close into a client RST right after the
# response.
NAME=go-unread-large
PORT=18202
CAPFILE=go-unread-large.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
go_build "$SC/go-unread-large.go" "$WORK/go-unread-large"
"$WORK/go-unread-large" server "127.0.0.1:$PORT" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
"$WORK/go-unread-large" client "127.0.0.1:$PORT"
stop_capture
