#!/usr/bin/env bash
# Recipe: re-records captures/curl-h2-tls.pcap (+ curl-h2-tls.keys, curl's NSS key log)
# from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/curl-h2-tls.sh
# nginx with `listen ... ssl http2` (TLS 1.3, self-signed cert); one `curl -k --http2`
# with 5 URLs (SNI localhost via --resolve): ALPN h2, one connection, 5 streams.
NAME=curl-h2-tls
PORT=18252
CAPFILE=curl-h2-tls.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"       # the recording harness
source "$(dirname "${BASH_SOURCE[0]}")/tls-common.sh"   # cert, nginx TLS, key log
# ---- scenario ----------------------------------------------------------------------
make_cert
mkdir -p "$WORK/html"
for i in $(seq 5); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_tls_start
start_capture
SSLKEYLOGFILE="$KEYLOG" curl -sS -k --http2 --resolve "localhost:$PORT:127.0.0.1" \
  -o /dev/null "https://localhost:$PORT/item[1-5].txt"
stop_capture
save_keys
