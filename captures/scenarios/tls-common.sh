# Shared by the TLS / HTTP/2 recipes (sourced AFTER common.sh): a throw-away self-signed
# certificate, nginx started from a copy of the recipe's config inside $WORK (so relative
# ssl_certificate paths resolve to $WORK), the client's NSS key log, and saving it next to
# the capture as captures/NAME.keys (plain pcap, keys NOT embedded; see inject_keys).
# shellcheck shell=bash
KEYLOG="$WORK/keys"            # NSS key log written by the client (SSLKEYLOGFILE & co.)
: > "$KEYLOG"
make_cert() {   # make_cert -- $WORK/cert.pem + $WORK/key.pem, EC P-256, CN/SAN localhost
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 3650 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
}
nginx_tls_start() {   # nginx_tls_start [CONF] -- default $SC/$NAME.nginx.conf, copied into $WORK
  cp "${1:-$SC/$NAME.nginx.conf}" "$WORK/nginx.conf"
  nginx_start "$WORK/nginx.conf"
}
save_keys() {   # after stop_capture: captures/NAME.keys (must not be empty unless "allow-empty")
  local out="$ROOT/captures/$NAME.keys"
  [ -s "$KEYLOG" ] || [ "${1:-}" = allow-empty ] ||
    { echo "$NAME: the client wrote no key log lines" >&2; exit 1; }
  cp -f "$KEYLOG" "$out"; chmod 644 "$out"; chown --reference="$ROOT/captures" "$out"
  echo "$NAME: wrote $out ($(wc -l < "$out") lines)"
}
inject_keys() {   # after save_keys: captures/NAME-dsb.pcapng, the same packets + keys (DSB)
  local out="$ROOT/captures/$NAME-dsb.pcapng"
  editcap --inject-secrets "tls,$ROOT/captures/$NAME.keys" "$OUT" "$out"
  chmod 644 "$out"; chown --reference="$ROOT/captures" "$out"
  echo "$NAME: wrote $out ($(stat -c %s "$out") bytes)"
}
need_localhost_v4() {   # clients that connect to https://localhost:PORT (for SNI) must reach 127.0.0.1
  [ "$(getent ahosts localhost | awk 'NR==1{print $1}')" = 127.0.0.1 ] ||
    { echo "$NAME: 'localhost' must resolve to 127.0.0.1 first (nginx listens on 127.0.0.1 only)" >&2; exit 1; }
}
