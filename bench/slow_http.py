#!/usr/bin/env python3
"""slow_http.py PORTFILE DELAY - an HTTP server on 127.0.0.1 that answers
every request after DELAY seconds (one thread per request), for the
head-of-line blocking benchmark.  Writes its port to PORTFILE."""
import http.server
import socketserver
import sys
import time

DELAY = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0


class Slow(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self):
        Slow.hits += 1
        with open(sys.argv[1] + ".hits", "w") as f:
            f.write(str(Slow.hits))
        time.sleep(DELAY)
        body = b"slow\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Slow)
with open(sys.argv[1], "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
