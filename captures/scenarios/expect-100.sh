#!/usr/bin/env bash
# Recipe: re-records captures/expect-100.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/expect-100.sh
# curl POSTs a 32 KiB body twice in one invocation (2 URLs, --data-binary @file) with
# -H 'Expect: 100-continue' to a Go net/http server whose handler reads the body, so Go
# answers each with an interim 100 Continue before the final 200; one reused connection.
NAME=expect-100
PORT=18112
CAPFILE=expect-100.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
go_build "$SC/expect-100.go" "$WORK/expect-100"
"$WORK/expect-100" "127.0.0.1:$PORT" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
head -c 32768 < <(yes "keepalive-analyzer expect-100 upload body.") > "$WORK/body.bin"
start_capture
curl -sS -H 'Expect: 100-continue' --data-binary @"$WORK/body.bin" \
  "http://127.0.0.1:$PORT/upload1" "http://127.0.0.1:$PORT/upload2" >"$WORK/curl.out"
stop_capture
