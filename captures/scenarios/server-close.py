"""server-close: a tiny raw-socket HTTP server that answers every request with a normal
HTTP/1.1 response framed by Content-Length (and NO Connection header at all), then closes
the socket right away: the server sends the first FIN immediately after the response,
without announcing "Connection: close". The client mode is a requests.Session() making
4 GETs 50 ms apart; urllib3 finds the pooled connection dropped and reconnects each time.

    python server-close.py server 127.0.0.1 18123
    python server-close.py client 127.0.0.1 18123
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
            body = (f"server-close response {n}: Content-Length framed, then the server "
                    f"closes.\n" * 8).encode()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        c.close()  # immediately: server FIN right after the response, no Connection: close
        print(f"served {addr}", file=sys.stderr)
else:
    import requests

    with requests.Session() as s:
        for i in range(1, 5):
            r = s.get(f"http://{host}:{port}/item{i}")
            print(f"GET /item{i} -> {r.status_code}, {len(r.content)} bytes, "
                  f"Connection: {r.headers.get('Connection')!r}", file=sys.stderr)
            time.sleep(0.05)
