#!/usr/bin/env bash
# Recipe: re-records captures/curl-tls-per-request.pcap (+ .keys, the NSS key log) from
# scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/curl-tls-per-request.sh
# 5 separate `curl -k --http1.1` processes against nginx over HTTPS (TLS 1.3): a new
# process per request, so a new TCP connection and a full TLS handshake each time (curl
# keeps no session cache across processes).
NAME=curl-tls-per-request
PORT=18241
CAPFILE=curl-tls-per-request.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"       # the recording harness
source "$(dirname "${BASH_SOURCE[0]}")/tls-common.sh"   # cert, nginx TLS, key log
# ---- scenario ----------------------------------------------------------------------
make_cert
mkdir -p "$WORK/html"
for i in $(seq 5); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_tls_start
start_capture
for i in $(seq 5); do
  SSLKEYLOGFILE="$KEYLOG" curl -sS -k --http1.1 --tlsv1.3 --resolve "localhost:$PORT:127.0.0.1" \
    -o /dev/null "https://localhost:$PORT/item$i.txt"
  sleep 0.05
done
stop_capture
save_keys
