#!/usr/bin/env bash
# Recipe: re-records captures/curl-h2c-upgrade.pcap from scratch (cleartext: no key log).
# Run as root from the repo root:
#   sudo bash captures/scenarios/curl-h2c-upgrade.sh
# `curl --http2` with 5 http:// URLs against curl-h2c-upgrade.py (python h2): the first request
# goes out as HTTP/1.1 with `Upgrade: h2c` + `HTTP2-Settings`, the server answers
# `101 Switching Protocols` and the response on stream 1, then requests 2-5 are HTTP/2
# streams 3,5,7,9 on the same connection. (nginx, Go net/http without x/net/http2/h2c and
# Node's http2 module do not implement the Upgrade, hence the small python server.)
# Needs python h2: $CLIENTS_PY, default /tmp/clients-venv/bin/python
# (python3 -m venv /tmp/clients-venv && /tmp/clients-venv/bin/pip install 'httpx[http2]').
NAME=curl-h2c-upgrade
PORT=18256
CAPFILE=curl-h2c-upgrade.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
HPY="${CLIENTS_PY:-/tmp/clients-venv/bin/python}"
"$HPY" -c 'import h2' || { echo "$NAME: $HPY lacks h2" >&2; exit 1; }
"$HPY" "$SC/$NAME.py" 127.0.0.1 "$PORT" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
curl -sS --http2 -o /dev/null "http://127.0.0.1:$PORT/item[1-5].txt"
stop_capture
