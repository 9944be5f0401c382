#!/usr/bin/env bash
# Recipe: re-records captures/curl-tls12-multi.pcap (+ .keys, the NSS key log) from
# scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/curl-tls12-multi.sh
# As curl-tls-multi, but TLS 1.2: one `curl -k --http1.1 --tls-max 1.2` with 5 URLs,
# cipher ECDHE-ECDSA-AES128-GCM-SHA256 -> nginx HTTPS: one connection, 5 requests.
NAME=curl-tls12-multi
PORT=18242
CAPFILE=curl-tls12-multi.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"       # the recording harness
source "$(dirname "${BASH_SOURCE[0]}")/tls-common.sh"   # cert, nginx TLS, key log
# ---- scenario ----------------------------------------------------------------------
make_cert
mkdir -p "$WORK/html"
for i in $(seq 5); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_tls_start
start_capture
SSLKEYLOGFILE="$KEYLOG" curl -sS -k --http1.1 --tlsv1.2 --tls-max 1.2 \
  --ciphers ECDHE-ECDSA-AES128-GCM-SHA256 --resolve "localhost:$PORT:127.0.0.1" \
  -o /dev/null "https://localhost:$PORT/item[1-5].txt"
stop_capture
save_keys
