#!/usr/bin/env bash
# Recipe: re-records captures/go-tls-leak.pcap (+ go-tls-leak.keys, the client's NSS key log) from
# scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/go-tls-leak.sh
# Go HTTPS server (ListenAndServeTLS, self-signed cert) and a Go client forced to HTTP/1.1
# over TLS, 5 GETs 50 ms apart (see go-tls-leak.go).
NAME=go-tls-leak
PORT=18243
CAPFILE=go-tls-leak.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"       # the recording harness
source "$(dirname "${BASH_SOURCE[0]}")/tls-common.sh"   # cert, key log
# ---- scenario ----------------------------------------------------------------------
make_cert
go_build "$SC/go-tls-leak.go" "$WORK/go-tls-leak"
"$WORK/go-tls-leak" server "127.0.0.1:$PORT" "$WORK/cert.pem" "$WORK/key.pem" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
"$WORK/go-tls-leak" client "127.0.0.1:$PORT" "$KEYLOG"
stop_capture
save_keys
