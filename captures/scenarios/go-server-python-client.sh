#!/usr/bin/env bash
# Recipe: re-records captures/go-server-python-client.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/go-server-python-client.sh
# python requests.get() in a loop (5 GETs, 50 ms apart) against a Go net/http server
# (standard library; its responses carry no Server header): each call uses a throw-away
# Session, so each request gets its own connection, closed by the client.
# Needs go, and requests (see CLIENT_PY below).
NAME=go-server-python-client
PORT=18231
CAPFILE=go-server-python-client.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
# The client needs requests, which the project's .venv may not have: give a python that has
# it as CLIENT_PY (default /tmp/clients-venv/bin/python, made with
#   python3 -m venv /tmp/clients-venv && /tmp/clients-venv/bin/pip install requests).
CLIENT_PY="${CLIENT_PY:-/tmp/clients-venv/bin/python}"
"$CLIENT_PY" -c 'import requests' || { echo "$NAME: $CLIENT_PY cannot import requests (set CLIENT_PY)" >&2; exit 1; }
go_build "$SC/$NAME.go" "$WORK/$NAME"
"$WORK/$NAME" "127.0.0.1:$PORT" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
"$CLIENT_PY" "$SC/$NAME.py" "http://127.0.0.1:$PORT"
stop_capture
