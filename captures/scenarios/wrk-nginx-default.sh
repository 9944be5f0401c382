#!/usr/bin/env bash
# Recipe: re-records captures/wrk-nginx-default.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/wrk-nginx-default.sh
# wrk (1 thread, 2 connections, throttled by wrk-nginx-default.lua to one request per
# ~1 ms per connection) for 2 s against nginx with its DEFAULT keepalive_requests (1000),
# tiny static body. Each wrk connection outlives nginx's limit: nginx answers the 1000th
# request of every connection with "Connection: close" and closes; wrk reconnects.
NAME=wrk-nginx-default
PORT=18208
CAPFILE=wrk-nginx-default.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
mkbody "$WORK/html/tiny.txt" 16
nginx_start "$SC/$NAME.nginx.conf"
start_capture
wrk -t1 -c2 -d2s -s "$SC/$NAME.lua" "http://127.0.0.1:$PORT/tiny.txt" >"$WORK/wrk.out"
cat "$WORK/wrk.out" >&2
stop_capture
