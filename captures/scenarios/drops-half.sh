#!/usr/bin/env bash
# Recipe: re-records captures/drops-half.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/drops-half.sh
# A capture with half of its packets missing, as when tcpdump drops them. Records a reused
# keep-alive run in full (Go client, one shared http.Client, 20 GETs 50 ms apart, each
# ~20 KB body read to EOF and closed; the Go server flushes every 2000 bytes so each
# response spans several segments), then keeps only the odd-numbered packets (1, 3, 5, ...):
# every even-numbered packet is deleted. KEEP_FULL=FILE also keeps the full recording.
NAME=drops-half
PORT=18210
CAPFILE=drops-half.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
FINAL="$OUT"; OUT="$WORK/full.pcap"                  # stop_capture writes the full capture here
go_build "$SC/$NAME.go" "$WORK/$NAME"
"$WORK/$NAME" server "127.0.0.1:$PORT" 2>"$WORK/server.log" &
BG+=($!)
wait_listen
start_capture
"$WORK/$NAME" client "127.0.0.1:$PORT"
stop_capture
# ---- derive: delete every other packet (keep frames 1, 3, 5, ...) ------------------
# (a display filter on frame.number only: no dissection involved; editcap -r with
# $(seq 1 2 N) writes the same file but accepts at most 512 selections, i.e. ~1024 packets)
[ -z "${KEEP_FULL:-}" ] || cp "$OUT" "$KEEP_FULL"
tshark -n -r "$OUT" -Y 'frame.number % 2 == 1' -F pcap -w "$WORK/half.pcap" 2>/dev/null
mv -f "$WORK/half.pcap" "$FINAL"; chmod 644 "$FINAL"; chown --reference="$ROOT/captures" "$FINAL"
echo "$NAME: kept $(capinfos -T -r -c "$FINAL" | cut -f2) of $(capinfos -T -r -c "$OUT" | cut -f2) packets in $FINAL ($(stat -c %s "$FINAL") bytes)"
