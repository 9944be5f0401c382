#!/usr/bin/env bash
# Recipe: re-records captures/aiohttp-per-call.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/aiohttp-per-call.sh
# python aiohttp with a new ClientSession per request (5 GETs, 50 ms apart, body read)
# against nginx with keep-alive on: closing the session closes its connection, so each
# request gets its own connection. Needs aiohttp (see CLIENT_PY below).
NAME=aiohttp-per-call
PORT=18224
CAPFILE=aiohttp-per-call.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
# The client needs aiohttp, which the project's .venv does not have: give a python that has it
# as CLIENT_PY (default /tmp/clients-venv/bin/python, made with
#   python3 -m venv /tmp/clients-venv && /tmp/clients-venv/bin/pip install aiohttp).
CLIENT_PY="${CLIENT_PY:-/tmp/clients-venv/bin/python}"
"$CLIENT_PY" -c 'import aiohttp' || { echo "$NAME: $CLIENT_PY cannot import aiohttp (set CLIENT_PY)" >&2; exit 1; }
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
"$CLIENT_PY" "$SC/$NAME.py" "http://127.0.0.1:$PORT"
stop_capture
