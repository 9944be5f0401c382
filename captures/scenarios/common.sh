# Shared by every recipe in this folder (sourced after NAME, PORT and CAPFILE are set):
# paths, root check, a work dir and background processes cleaned up on exit, the capture
# (tcpdump on lo, this scenario's port only), nginx and Go helpers.
# shellcheck shell=bash
# Run as root from anywhere; paths are resolved from this file (repo root = ../..).
SC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"   # captures/scenarios (this file's dir)
ROOT="$(cd "$SC/../.." && pwd)"                       # repo root
OUT="$ROOT/captures/$CAPFILE"
[ "$(id -u)" = 0 ] || { echo "$NAME: must run as root (tcpdump on lo)" >&2; exit 1; }
PY="$ROOT/.venv/bin/python"; [ -x "$PY" ] || PY=python3
WORK="$(mktemp -d "/tmp/ka-$NAME.XXXXXX")"; chmod 755 "$WORK"
BG=()                                                   # background pids to stop on exit
cleanup() {
  local p
  for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${BG[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
listening() { ss -Hltn "sport = :$PORT" | grep -q .; }
if listening; then echo "$NAME: port $PORT is already in use" >&2; exit 1; fi
wait_listen() {
  local i; for i in $(seq 100); do listening && return 0; sleep 0.1; done
  echo "$NAME: server did not start listening on port $PORT" >&2; return 1
}
go_build() {   # go_build SRC.go OUTBIN -- single-file package main, standard library only
  GOCACHE="${GOCACHE:-/tmp/gocache}" HOME="${HOME:-/tmp}" GOFLAGS= GOPROXY=off GO111MODULE=auto \
    go build -o "$2" "$1"
}
nginx_start() {  # nginx_start CONF -- prefix = $WORK (root html, pid, temp dirs inside it)
  mkdir -p "$WORK/html" "$WORK/tmp"
  nginx -p "$WORK/" -c "$1" -e stderr -g 'daemon off;' 2>"$WORK/nginx.log" &
  BG+=($!)
  wait_listen
}
start_capture() {  # only this scenario's port; packets buffered per packet (-U)
  tcpdump -i "${CAPIF:-lo}" -U -w "$WORK/capture" "tcp port $PORT" 2>"$WORK/tcpdump.log" &
  TCPDUMP=$!; BG+=($TCPDUMP)
  sleep 1
}
stop_capture() {
  sleep 1
  kill -INT "$TCPDUMP"; wait "$TCPDUMP" || true
  mv -f "$WORK/capture" "$OUT"; chmod 644 "$OUT"; chown --reference="$ROOT/captures" "$OUT"
  echo "$NAME: wrote $OUT ($(stat -c %s "$OUT") bytes); $(grep -E 'captured' "$WORK/tcpdump.log" || true)"
}
mkbody() {   # mkbody FILE SIZE -- deterministic text body
  head -c "$2" < <(yes "keepalive-analyzer $NAME test body.") > "$1"
}
