#!/usr/bin/env bash
# Recipe: re-records captures/go-tls-drain.pcap (+ go-tls-drain.keys, the client's NSS key log) from
# scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/go-tls-drain.sh
# Go HTTPS server (ListenAndServeTLS, self-signed cert) and a Go client forced to HTTP/1.1
# over TLS, 5 GETs 50 ms apart (see go-tls-drain.go).
NAME=go-tls-drain
PORT=18244
CAPFILE=go-tls-drain.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"       # the recording harness
source "$(dirname "${BASH_SOURCE[0]}")/tls-common.sh"   # cert, key log
# ---- scenario ----------------------------------------------------------------------
make_cert
go_build "$SC/go-tls-drain.go" "$WORK/go-tls-drain"
"$WORK/go-tls-drain" server "127.0.0.1:$PORT" "$WORK/cert.pem" "$WORK/key.pem" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
"$WORK/go-tls-drain" client "127.0.0.1:$PORT" "$KEYLOG"
stop_capture
save_keys
