#!/usr/bin/env bash
# Recipe: re-records captures/go-tls-h2.pcap (+ go-tls-h2.keys, the client's NSS key log,
# and go-tls-h2-dsb.pcapng, the same packets with the keys embedded) from scratch.
# Run as root from the repo root:
#   sudo bash captures/scenarios/go-tls-h2.sh
# Go HTTPS server (ListenAndServeTLS, self-signed cert) and a Go client with HTTP/2 (ALPN h2)
# over TLS, 5 GETs 50 ms apart (see go-tls-h2.go).
NAME=go-tls-h2
PORT=18248
CAPFILE=go-tls-h2.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"       # the recording harness
source "$(dirname "${BASH_SOURCE[0]}")/tls-common.sh"   # cert, key log
# ---- scenario ----------------------------------------------------------------------
make_cert
go_build "$SC/go-tls-h2.go" "$WORK/go-tls-h2"
"$WORK/go-tls-h2" server "127.0.0.1:$PORT" "$WORK/cert.pem" "$WORK/key.pem" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
"$WORK/go-tls-h2" client "127.0.0.1:$PORT" "$KEYLOG"
stop_capture
save_keys
inject_keys
