#!/usr/bin/env bash
# Recipe: re-records captures/go-drain.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/go-drain.sh
# Go net/http client -> Go net/http server, 10 sequential GETs; the client reads each
# body to EOF and closes it, so one TCP connection carries all 10 requests.
NAME=go-drain
PORT=18101
CAPFILE=go-drain.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
go_build "$SC/go-drain.go" "$WORK/go-drain"
"$WORK/go-drain" server "127.0.0.1:$PORT" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
"$WORK/go-drain" client "127.0.0.1:$PORT"
stop_capture
