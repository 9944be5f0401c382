#!/usr/bin/env bash
# Recipe: re-records captures/go-idle-timeout.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/go-idle-timeout.sh
# Go server (keep-alive, IdleTimeout 60 s); Go client whose Transport has
# IdleConnTimeout 1 s makes 4 GETs 2 s apart (drains and closes bodies, waits 2 s after
# the last): the client's pool closes every idle connection after ~1 s.
NAME=go-idle-timeout
PORT=18124
CAPFILE=go-idle-timeout.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
go_build "$SC/go-idle-timeout.go" "$WORK/go-idle-timeout"
"$WORK/go-idle-timeout" server "127.0.0.1:$PORT" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
"$WORK/go-idle-timeout" client "127.0.0.1:$PORT"
stop_capture
