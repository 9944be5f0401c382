#!/usr/bin/env bash
# Recipe: re-records captures/ipv6.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/ipv6.sh
# IPv6 loopback: nginx listening on [::1]; one curl invocation with 5 URLs to
# http://[::1]:PORT/ -> one reused connection.
NAME=ipv6
PORT=18114
CAPFILE=ipv6.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
URLS=(); for i in 1 2 3 4 5; do URLS+=("http://[::1]:$PORT/item$i.txt"); done
curl -sS -g "${URLS[@]}" >/dev/null   # -g: no globbing, [::1] is literal
stop_capture
