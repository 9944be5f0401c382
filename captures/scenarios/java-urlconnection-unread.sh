#!/usr/bin/env bash
# Recipe: re-records captures/java-urlconnection-unread.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/java-urlconnection-unread.sh
# Java java.net.HttpURLConnection per request (5 GETs, 50 ms apart): getResponseCode(),
# then disconnect() without reading the body, against nginx with keep-alive on; the JVM
# exits 0.5 s after the last response. Needs a JDK (javac).
NAME=java-urlconnection-unread
PORT=18230
CAPFILE=java-urlconnection-unread.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/classes"
javac -d "$WORK/classes" "$SC/$NAME.java"
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
java -cp "$WORK/classes" JavaUrlConnectionUnread "http://127.0.0.1:$PORT"
stop_capture
