#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A misbehaving registry in front of a real one, for test-registry.sh (stdlib only).

    registry_proxy.py PORTFILE hang
    registry_proxy.py PORTFILE stall UPSTREAM
    registry_proxy.py PORTFILE pass UPSTREAM LOG
    registry_proxy.py PORTFILE expire UPSTREAM LOG DIGEST

Listens on 127.0.0.1 at a free port, written to PORTFILE once listening.
hang: accepts connections and never answers.  stall: forwards requests to
UPSTREAM (host:port, plain http); a blob it sends only the headers and half
the body of, then nothing.  pass: forwards everything, and logs each request
as "METHOD PATH RANGE" (RANGE "-" when none) to LOG.  expire: as pass, and
the Authorization of the first GET of blob DIGEST is expired from then on: that
request and every later one carrying it go upstream without it (a registry
with token auth answers 401 and its challenge, as it does to a token that
expired); LOG lines end with the status answered.
"""

import http.client
import http.server
import os
import socket
import sys
import threading
import time

PORTFILE, MODE = sys.argv[1], sys.argv[2]
UPSTREAM = sys.argv[3] if len(sys.argv) > 3 else None
LOG = sys.argv[4] if len(sys.argv) > 4 else None
EXPIRE_DIGEST = sys.argv[5] if len(sys.argv) > 5 else None
expired = set()
FORWARDED = ("Content-Type", "Content-Length", "Docker-Content-Digest", "Location", "WWW-Authenticate",
             "Content-Range", "Accept-Ranges", "Docker-Upload-Uuid", "Range")
lock = threading.Lock()


def write_port(port):
    with open(PORTFILE + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(PORTFILE + ".tmp", PORTFILE)


def hang():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    write_port(s.getsockname()[1])
    held = []
    while True:
        c, _ = s.accept()
        held.append(c)  # never read, never answered, never closed


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self):
        line = f"{self.command} {self.path} {self.headers.get('Range', '-')}"
        if LOG and MODE != "expire":
            with lock, open(LOG, "a") as f:
                f.write(line + "\n")
        body = None
        if "Content-Length" in self.headers:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        conn = http.client.HTTPConnection(UPSTREAM, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        if MODE == "expire":
            auth = self.headers.get("Authorization")
            with lock:
                if auth and self.command == "GET" and self.path.endswith("/blobs/" + EXPIRE_DIGEST) and not expired:
                    expired.add(auth)
                if auth in expired:
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if MODE == "expire":
            with lock, open(LOG, "a") as f:
                f.write(f"{line} {resp.status}\n")
        self.send_response(resp.status)
        for k in FORWARDED:
            v = resp.getheader(k)
            if v is not None and k != "Content-Length":
                self.send_header(k, v)
        self.send_header("Content-Length", resp.getheader("Content-Length", str(len(data))))
        self.end_headers()
        if self.command == "HEAD":
            return
        if MODE == "stall" and self.command == "GET" and "/blobs/" in self.path and len(data) > 4096:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            time.sleep(3600)
        self.wfile.write(data)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = forward


def main():
    if MODE == "hang":
        hang()
        return
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    srv.daemon_threads = True
    write_port(srv.server_address[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
