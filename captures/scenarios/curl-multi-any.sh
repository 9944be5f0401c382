#!/usr/bin/env bash
# Recipe: re-records captures/curl-multi-any.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/curl-multi-any.sh
# curl-multi again (one curl, 5 URLs, nginx), but captured with 'tcpdump -i any', which
# writes Linux cooked-mode headers (SLL/SLL2) instead of Ethernet/loopback headers.
NAME=curl-multi-any
PORT=18121
CAPFILE=curl-multi-any.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
CAPIF=any start_capture
curl -sS -o /dev/null "http://127.0.0.1:$PORT/item[1-5].txt"
stop_capture
