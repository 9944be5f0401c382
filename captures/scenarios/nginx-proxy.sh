#!/usr/bin/env bash
# Recipe: re-records captures/nginx-proxy.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/nginx-proxy.sh
# nginx reverse proxy with its defaults (only proxy_pass) on port 18204 in front of a Go
# net/http upstream on port 18205; one curl invocation with 10 URLs. The capture holds
# BOTH hops (filter 'tcp port 18204 or tcp port 18205'): curl reuses its connection to
# nginx, but nginx opens a new upstream connection per request (HTTP/1.0,
# "Connection: close").
NAME=nginx-proxy
PORT=18204          # the front (nginx) port; common.sh checks and waits on $PORT
UPPORT=18205        # the upstream (Go) port
CAPFILE=nginx-proxy.pcap
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
