#!/usr/bin/env bash
# Recipe: re-records captures/curl-multi.pcapng from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/curl-multi-pcapng.sh
# curl-multi again (one curl, 5 URLs, nginx), but captured with dumpcap (Wireshark's
# capture engine) on lo into pcapng format.
NAME=curl-multi-pcapng
PORT=18122
CAPFILE=curl-multi.pcapng
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
# dumpcap instead of tcpdump: pcapng output (-P would force pcap; not used here)
dumpcap -q -i lo -f "tcp port $PORT" -w "$WORK/capture.pcapng" 2>"$WORK/dumpcap.log" &
DUMPCAP=$!; BG+=($DUMPCAP)
for i in $(seq 50); do [ -s "$WORK/capture.pcapng" ] && break; sleep 0.1; done
sleep 1
curl -sS -o /dev/null "http://127.0.0.1:$PORT/item[1-5].txt"
sleep 1
kill -INT "$DUMPCAP"; wait "$DUMPCAP" || true
mv -f "$WORK/capture.pcapng" "$OUT"; chmod 644 "$OUT"; chown --reference="$ROOT/captures" "$OUT"
echo "$NAME: wrote $OUT ($(stat -c %s "$OUT") bytes)"
