#!/usr/bin/env bash
# Recipe: re-records captures/requests-tls-loop.pcap (+ requests-tls-loop.keys, the NSS key log urllib3 writes
# to $SSLKEYLOGFILE) from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/requests-tls-loop.sh
# nginx over HTTPS (TLS 1.3, self-signed cert); python requests -> https://localhost:18249
# (SNI localhost): requests.get(verify=False) x5, a throw-away Session per call: 5 connections, 5 full handshakes.
NAME=requests-tls-loop
PORT=18249
CAPFILE=requests-tls-loop.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"       # the recording harness
source "$(dirname "${BASH_SOURCE[0]}")/tls-common.sh"   # cert, nginx TLS, key log
# ---- scenario ----------------------------------------------------------------------
need_localhost_v4
make_cert
mkdir -p "$WORK/html"
for i in $(seq 5); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_tls_start
start_capture
SSLKEYLOGFILE="$KEYLOG" "$PY" "$SC/requests-tls-loop.py" "https://localhost:$PORT"
stop_capture
save_keys
