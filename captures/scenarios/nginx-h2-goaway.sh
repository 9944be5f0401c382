#!/usr/bin/env bash
# Recipe: re-records captures/nginx-h2-goaway.pcap from scratch (cleartext HTTP/2: no key log).
# Run as root from the repo root:
#   sudo bash captures/scenarios/nginx-h2-goaway.sh
# nginx h2c with keepalive_requests 3 (nginx 1.22 applies it to HTTP/2 connections:
# GOAWAY after the 3rd stream); a Node http2 client (nginx-h2-goaway.js) makes 10
# sequential GETs with prior knowledge and opens a new session after each GOAWAY:
# expected connections of 3, 3, 3, 1 streams. (httpx 0.29/h2 4.4.1 cannot do this: nginx's
# GOAWAY arrives before the 3rd response's HEADERS and h2 then rejects them, "Invalid input
# ConnectionInputs.RECV_HEADERS in state ConnectionState.CLOSED"; curl 7.88.1 fails to reuse
# h2c connections at all, curl/curl#10634.)
NAME=nginx-h2-goaway
PORT=18254
CAPFILE=nginx-h2-goaway.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
node "$SC/$NAME.js" "http://127.0.0.1:$PORT" 10
stop_capture
