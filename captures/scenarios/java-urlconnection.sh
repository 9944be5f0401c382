#!/usr/bin/env bash
# Recipe: re-records captures/java-urlconnection.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/java-urlconnection.sh
# Java java.net.HttpURLConnection per request (5 GETs, 50 ms apart), body read fully and
# the stream closed, against nginx with keep-alive on: the JDK's keep-alive cache reuses
# the connection. The JVM exits 0.5 s after the last response. Needs a JDK (javac).
NAME=java-urlconnection
PORT=18229
CAPFILE=java-urlconnection.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/classes"
javac -d "$WORK/classes" "$SC/$NAME.java"
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
java -cp "$WORK/classes" JavaUrlConnection "http://127.0.0.1:$PORT"
stop_capture
