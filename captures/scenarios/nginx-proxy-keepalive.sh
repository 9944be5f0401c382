#!/usr/bin/env bash
# Recipe: re-records captures/nginx-proxy-keepalive.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/nginx-proxy-keepalive.sh
# The nginx-proxy scenario with the upstream keep-alive fix (upstream block with
# keepalive 8, proxy_http_version 1.1, proxy_set_header Connection ""): nginx on port 18206
# in front of a Go net/http upstream on port 18207; one curl invocation with 10 URLs. The
# capture holds BOTH hops (filter 'tcp port 18206 or tcp port 18207'): both are reused.
NAME=nginx-proxy-keepalive
PORT=18206          # the front (nginx) port; common.sh checks and waits on $PORT
UPPORT=18207        # the upstream (Go) port
CAPFILE=nginx-proxy-keepalive.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
if PORT=$UPPORT listening; then echo "$NAME: port $UPPORT is already in use" >&2; exit 1; fi
start_capture_both() {  # as common.sh's start_capture, but both hops: front and upstream
  tcpdump -i "${CAPIF:-lo}" -U -w "$WORK/capture" "tcp port $PORT or tcp port $UPPORT" \
    2>"$WORK/tcpdump.log" &
  TCPDUMP=$!; BG+=($TCPDUMP)
  sleep 1
}
go_build "$SC/$NAME.go" "$WORK/$NAME"
"$WORK/$NAME" "127.0.0.1:$UPPORT" 2>"$WORK/upstream.log" &
BG+=($!)
PORT=$UPPORT wait_listen
nginx_start "$SC/$NAME.nginx.conf"
start_capture_both
curl -sS -o /dev/null "http://127.0.0.1:$PORT/item[1-10].txt"
stop_capture
