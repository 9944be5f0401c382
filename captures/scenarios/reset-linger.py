"""reset-linger: for each of 5 requests, a raw socket with SO_LINGER {on, 0 s}: connect,
send one GET (HTTP/1.1, keep-alive by default), read the full response, close(). With a
zero linger time close() aborts the connection: the client sends RST instead of FIN.

    python reset-linger.py 127.0.0.1 18113
"""
import socket
import struct
import sys
import time

host, port = sys.argv[1], int(sys.argv[2])
for i in range(1, 6):
    s = socket.create_connection((host, port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.sendall(f"GET /item{i}.txt HTTP/1.1\r\nHost: {host}:{port}\r\n"
              f"User-Agent: reset-linger.py\r\nAccept: */*\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, _, body = buf.partition(b"\r\n\r\n")
    length = next(int(l.split(b":", 1)[1]) for l in head.split(b"\r\n")
                  if l.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += s.recv(65536)
    print(f"GET /item{i}.txt -> {head.split(b' ')[1].decode()}, {len(body)} bytes", file=sys.stderr)
    s.close()  # SO_LINGER 0 -> RST
    time.sleep(0.05)
