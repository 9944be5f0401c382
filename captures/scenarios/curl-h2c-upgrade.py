"""curl-h2c-upgrade (server side): a small HTTP/2 server (python h2) that accepts the HTTP/1.1 `Upgrade: h2c`
handshake (RFC 7540 section 3.2; nginx, Go's net/http and Node's http2 do not): it answers
the first request with `101 Switching Protocols`, sends its SETTINGS and the response to
that request on stream 1, then serves further requests as HTTP/2 streams on the same
connection. Fixed 600-byte text bodies. One connection at a time (enough for a recipe).

    python curl-h2c-upgrade.py 127.0.0.1 18256
"""
import socket
import sys

import h2.config
import h2.connection
import h2.events

host, port = sys.argv[1], int(sys.argv[2])
BODY = (b"keepalive-analyzer h2c-upgrade test body.\n" * 15)[:600]


def respond(conn, stream_id):
    conn.send_headers(stream_id, [(":status", "200"), ("content-type", "text/plain"),
                                  ("content-length", str(len(BODY))), ("server", "h2c-upgrade.py")])
    conn.send_data(stream_id, BODY, end_stream=True)


def serve(sock):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    print(f"upgrade request: {lines[0]!r} Upgrade={hdrs.get('upgrade')!r}", file=sys.stderr)
    if hdrs.get("upgrade", "").lower() != "h2c" or "http2-settings" not in hdrs:
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
    conn.initiate_upgrade_connection(hdrs["http2-settings"])  # request = stream 1, half-closed
    respond(conn, 1)
    sock.sendall(conn.data_to_send())
    data = rest                                              # the client's preface follows
    while True:
        if data:
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    print(f"stream {ev.stream_id}: {dict(ev.headers).get(b':path')}", file=sys.stderr)
                    respond(conn, ev.stream_id)
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    print(f"GOAWAY from client: {ev.error_code}", file=sys.stderr)
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
        data = sock.recv(65536)
        if not data:
            return


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port))
ls.listen(8)
while True:
    s, _ = ls.accept()
    with s:
        serve(s)
