"""pipelined: raw-socket HTTP/1.1 client. Sends 3 GET requests in ONE send() on one
connection (pipelining), reads the 3 responses (nginx answers them in order), then sends
a 4th GET, reads its response, and closes.

    python pipelined.py 127.0.0.1 18111
"""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])


def req(path):
    return (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"User-Agent: pipelined.py\r\nAccept: */*\r\n\r\n").encode()


def read_response(sock, buf):
    """Read one Content-Length-delimited response; return (status line, rest of buf)."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise EOFError("connection closed before headers")
        buf += data
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v)
    while len(buf) < length:
        data = sock.recv(65536)
        if not data:
            raise EOFError("connection closed in body")
        buf += data
    return lines[0], buf[length:]


s = socket.create_connection((host, port))
s.sendall(req("/item1.txt") + req("/item2.txt") + req("/item3.txt"))  # one send()
buf = b""
for i in range(3):
    status, buf = read_response(s, buf)
    print(f"pipelined response {i + 1}: {status}", file=sys.stderr)
s.sendall(req("/item4.txt"))
status, buf = read_response(s, buf)
print(f"response 4: {status}", file=sys.stderr)
s.close()
