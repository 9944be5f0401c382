#!/usr/bin/env bash
# Recipe: re-records captures/curl-tls-multi.pcap (+ curl-tls-multi.keys, the client's NSS
# key log, and curl-tls-multi-dsb.pcapng, the same packets with the keys embedded) from
# scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/curl-tls-multi.sh
# One `curl -k --http1.1` with 5 URLs against nginx over HTTPS (TLS 1.3, self-signed cert,
# SNI localhost via --resolve): curl reuses one TLS connection for the 5 requests.
NAME=curl-tls-multi
PORT=18240
CAPFILE=curl-tls-multi.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"       # the recording harness
source "$(dirname "${BASH_SOURCE[0]}")/tls-common.sh"   # cert, nginx TLS, key log
# ---- scenario ----------------------------------------------------------------------
make_cert
mkdir -p "$WORK/html"
for i in $(seq 5); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_tls_start
start_capture
SSLKEYLOGFILE="$KEYLOG" curl -sS -k --http1.1 --tlsv1.3 --resolve "localhost:$PORT:127.0.0.1" \
  -o /dev/null "https://localhost:$PORT/item[1-5].txt"
stop_capture
save_keys
inject_keys
