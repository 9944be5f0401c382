#!/usr/bin/env bash
# Recipe: re-records captures/go-unread-small.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/go-unread-small.sh
# The seed bug as usually written: one shared Go http.Client, `defer resp.Body.Close()`
# and the body never read. 10 GETs 50 ms apart (300-byte bodies), then it sleeps 0.5 s and
# exits. Closing the unread body makes the Transport close each connection (client FIN)
# right after its response, so every GET dials a new connection.
NAME=go-unread-small
PORT=18201
CAPFILE=go-unread-small.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
go_build "$SC/go-unread-small.go" "$WORK/go-unread-small"
"$WORK/go-unread-small" server "127.0.0.1:$PORT" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
"$WORK/go-unread-small" client "127.0.0.1:$PORT"
stop_capture
