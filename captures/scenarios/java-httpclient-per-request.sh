#!/usr/bin/env bash
# Recipe: re-records captures/java-httpclient-per-request.pcap from scratch. Run as root from the repo root:
#   sudo bash captures/scenarios/java-httpclient-per-request.sh
# Java 11+ java.net.http.HttpClient built anew per request (HttpClient.newHttpClient(),
# default settings; 5 GETs, 50 ms apart, body read as a String) against nginx with
# keep-alive on; the JVM exits 0.5 s after the last response. Needs a JDK >= 11 (javac).
NAME=java-httpclient-per-request
PORT=18228
CAPFILE=java-httpclient-per-request.pcap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # the recording harness
# ---- scenario ----------------------------------------------------------------------
mkdir -p "$WORK/classes"
javac -d "$WORK/classes" "$SC/$NAME.java"
mkdir -p "$WORK/html"
for i in $(seq 10); do mkbody "$WORK/html/item$i.txt" 600; done
nginx_start "$SC/$NAME.nginx.conf"
start_capture
java -cp "$WORK/classes" JavaHttpClientPerRequest "http://127.0.0.1:$PORT"
stop_capture
