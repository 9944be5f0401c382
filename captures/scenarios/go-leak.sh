#!/usr/bin/env bash
# Recipe: re-records captures/go-leak.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/go-leak.sh
# The SEED story: Go net/http client that never reads nor closes resp.Body. 10 GETs
# 50 ms apart, then it sleeps 0.5 s and exits (the kernel closes the leaked sockets).
NAME=go-leak
PORT=18102
CAPFILE=go-leak.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
go_build "$SC/go-leak.go" "$WORK/go-leak"
"$WORK/go-leak" server "127.0.0.1:$PORT" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
"$WORK/go-leak" client "127.0.0.1:$PORT"
stop_capture
