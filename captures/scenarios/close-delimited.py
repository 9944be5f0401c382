"""close-delimited: a tiny raw-socket HTTP server that answers every request with
"HTTP/1.1 200 OK" and NO Content-Length and NO chunked encoding, then closes the
connection: the body ends only when the connection closes. The client mode is a
requests.Session() making 3 GETs.

    python close-delimited.py server 127.0.0.1 18120
    python close-delimited.py client 127.0.0.1 18120
"""
import socket
import sys
import time

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

if mode == "server":
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(16)
    n = 0
    while True:
        c, addr = ls.accept()
        n += 1
        buf = b""
        while b"\r\n\r\n" not in buf:  # read the whole request head (GETs have no body)
            data = c.recv(65536)
            if not data:
                break
            buf += data
        if buf:
            body = (f"close-delimited response {n}: the body ends when the server closes "
                    f"the connection.\n" * 8).encode()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body)
        c.close()
        print(f"served {addr}", file=sys.stderr)
else:
    import requests

    with requests.Session() as s:
        for i in range(1, 4):
            r = s.get(f"http://{host}:{port}/item{i}")
            print(f"GET /item{i} -> {r.status_code}, {len(r.content)} bytes", file=sys.stderr)
            time.sleep(0.05)
