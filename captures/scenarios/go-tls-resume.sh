#!/usr/bin/env bash
# Recipe: re-records captures/go-tls-resume.pcap (+ go-tls-resume.keys, the client's NSS key log) from
# scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/go-tls-resume.sh
# Go HTTPS server (ListenAndServeTLS, self-signed cert); a Go client (go-tls-resume.go)
# with a new Transport per request, body drained, idle connection closed after each GET,
# 5 GETs 50 ms apart; TLS 1.3, shared tls.NewLRUClientSessionCache: the 1st handshake full, the next 4 resumed (PSK).
NAME=go-tls-resume
PORT=18245
CAPFILE=go-tls-resume.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"       # the recording harness
source "$(dirname "${BASH_SOURCE[0]}")/tls-common.sh"   # cert, key log
# ---- scenario ----------------------------------------------------------------------
make_cert
go_build "$SC/go-tls-resume.go" "$WORK/go-tls-resume"
"$WORK/go-tls-resume" server "127.0.0.1:$PORT" "$WORK/cert.pem" "$WORK/key.pem" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
"$WORK/go-tls-resume" client "127.0.0.1:$PORT" "$KEYLOG" resume tls13
stop_capture
save_keys
