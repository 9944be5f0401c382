#!/usr/bin/env bash
# Recipe: re-records captures/tls-failed.pcap (+ tls-failed.keys, the client's NSS key
# log, EMPTY: no handshake completes) from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/tls-failed.sh
# nginx with `ssl_protocols TLSv1.2` only; 2 attempts of `curl -k --tlsv1.3 --tls-max 1.3`
# (50 ms apart): nginx (OpenSSL) answers each ClientHello with a fatal protocol_version
# alert and closes; curl exits 35. No HTTP request is ever sent.
NAME=tls-failed
PORT=18255
CAPFILE=tls-failed.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"       # the recording harness
source "$(dirname "${BASH_SOURCE[0]}")/tls-common.sh"   # cert, nginx TLS, key log
# ---- scenario ----------------------------------------------------------------------
make_cert
mkdir -p "$WORK/html"
mkbody "$WORK/html/item1.txt" 600
nginx_tls_start
start_capture
for i in 1 2; do
  rc=0
  SSLKEYLOGFILE="$KEYLOG" curl -sS -k --http1.1 --tlsv1.3 --tls-max 1.3 \
    --resolve "localhost:$PORT:127.0.0.1" -o /dev/null "https://localhost:$PORT/item1.txt" || rc=$?
  [ "$rc" = 35 ] || { echo "$NAME: curl exited $rc, expected 35 (TLS handshake failure)" >&2; exit 1; }
  sleep 0.05
done
stop_capture
save_keys allow-empty
