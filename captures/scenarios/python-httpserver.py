"""python-httpserver: an http.server.BaseHTTPRequestHandler with
protocol_version = "HTTP/1.1" (persistent connections, Content-Length on every
response), served by a single-threaded http.server.HTTPServer. Standard library only.

    python3 python-httpserver.py 127.0.0.1 18232
"""
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

BODY = b"keepalive-analyzer python-httpserver test body.\n" * 12   # 576 bytes


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive; BaseHTTPRequestHandler defaults to HTTP/1.0

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


HTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
