#!/usr/bin/env bash
# Recipe: re-records captures/requests-tls-session.pcap (+ requests-tls-session.keys, the NSS key log urllib3 writes
# to $SSLKEYLOGFILE) from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/requests-tls-session.sh
# nginx over HTTPS (TLS 1.3, self-signed cert); python requests -> https://localhost:18250
# (SNI localhost): one requests.Session() (verify=False) x5: one TLS connection reused.
NAME=requests-tls-session
PORT=18250
CAPFILE=requests-tls-session.pcap
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
SSLKEYLOGFILE="$KEYLOG" "$PY" "$SC/requests-tls-session.py" "https://localhost:$PORT"
stop_capture
save_keys
