#!/usr/bin/env bash
# Recipe: re-records captures/httpx-per-call.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/httpx-per-call.sh
# python httpx.get() in a loop (5 GETs, 50 ms apart) against nginx with keep-alive on: each
# call uses a throw-away httpx.Client, so each request gets its own connection, closed by
# the client as soon as the call returns. Needs httpx (see CLIENT_PY below).
NAME=httpx-per-call
PORT=18221
CAPFILE=httpx-per-call.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
# The client needs httpx, which the project's .venv does not have: give a python that has it
# as CLIENT_PY (default /tmp/clients-venv/bin/python, made with
#   python3 -m venv /tmp/clients-venv && /tmp/clients-venv/bin/pip install httpx).
CLIENT_PY="${CLIENT_PY:-/tmp/clients-venv/bin/python}"
"$CLIENT_PY" -c 'import httpx' || { echo "$NAME: $CLIENT_PY cannot import httpx (set CLIENT_PY)" >&2; exit 1; }
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
"$CLIENT_PY" "$SC/$NAME.py" "http://127.0.0.1:$PORT"
stop_capture
