#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A registry token service for test-registry-token.sh (stdlib only; RS256 by the openssl CLI).

    token_server.py PORTFILE LOG KEY CERT USER:PASSWORD [--mode-file FILE] [--forged-key KEY]
                    [--service NAME] [--issuer NAME]

Listens on 127.0.0.1 at a free port, written to PORTFILE once listening, and
answers GET /token?service=S&scope=repository:NAME:ACTIONS (scope repeated or
space-separated, as the distribution token spec allows) the way Docker Hub's
auth service does: {"token", "access_token", "expires_in", "issued_at"}, the
token a JWT signed with KEY (RS256), its header carrying CERT as "x5c" (the
chain the registry's rootcertbundle must verify), claims iss, sub, aud (= S),
exp, nbf, iat, jti and "access":

  - anonymous: pull of repositories under public/ only;
  - basic credentials USER:PASSWORD: pull and push of every repository;
  - other basic credentials: 401 (as real services answer a wrong password);
  - a service other than --service: 400.

What is asked for and not allowed is left out of "access" (the registry then
answers 401).  Each request is logged to LOG as one line:
"SERVICE SCOPE[ SCOPE…] USER" (USER "-" when anonymous, SCOPE "-" when none).

--mode-file FILE, read at every request: "forged" signs with --forged-key
(the header still names CERT: the signature does not verify), "expired"
issues a token that expired an hour ago, anything else (or no file) a good
one.
"""

import argparse
import base64
import http.server
import json
import os
import subprocess
import threading
import time
import urllib.parse
import uuid

lock = threading.Lock()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_der_b64(path):
    """The base64 of a PEM certificate's DER: the lines between its markers."""
    lines = open(path).read().split("\n")
    begin = lines.index("-----BEGIN CERTIFICATE-----")
    end = lines.index("-----END CERTIFICATE-----")
    return "".join(lines[begin + 1:end])


def sign(key, data):
    # RS256 is RSASSA-PKCS1-v1_5 over SHA-256: what `openssl dgst -sign` does with an RSA key
    p = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=data, capture_output=True, check=True)
    return p.stdout


def allowed(user, name):
    if user is not None:
        return {"pull", "push"}
    return {"pull"} if name.startswith("public/") else set()


def make_token(opts, service, scopes, user, mode):
    now = int(time.time())
    if mode == "expired":
        now -= 3600 + 300
    access = []
    for s in scopes:
        parts = s.split(":")
        if len(parts) < 3 or parts[0] != "repository":
            continue
        name, actions = ":".join(parts[1:-1]), parts[-1].split(",")
        granted = [a for a in actions if a in allowed(user, name)]
        if granted:
            access.append({"type": "repository", "name": name, "actions": granted})
    header = {"typ": "JWT", "alg": "RS256", "x5c": [opts.x5c]}
    claims = {"iss": opts.issuer, "sub": user or "", "aud": service, "exp": now + 300, "nbf": now - 10,
              "iat": now, "jti": uuid.uuid4().hex, "access": access}
    signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
    key = opts.forged_key if mode == "forged" else opts.key
    return signing_input.decode() + "." + b64url(sign(key, signing_input))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, extra=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def user(self):
        """None: anonymous; False: credentials refused; else the user's name."""
        h = self.headers.get("Authorization")
        if not h:
            return None
        if not h.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(h[6:], validate=True).decode()
        except ValueError:
            return False
        return given.split(":", 1)[0] if given == opts.credentials else False

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        service = q.get("service", [""])[0]
        scopes = [s for v in q.get("scope", []) for s in v.split(" ") if s]
        user = self.user()
        with lock, open(opts.log, "a") as f:
            f.write(f"{service or '-'} {' '.join(scopes) or '-'} "
                    f"{'-' if user is None else user or 'refused'}\n")
        if url.path != "/token":
            return self.answer(404, {"errors": [{"code": "NOT_FOUND", "message": "no such path"}]})
        if user is False:
            return self.answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}]},
                               [("WWW-Authenticate", 'Basic realm="isofs-test token service"')])
        if service != opts.service:
            return self.answer(400, {"errors": [{"code": "INVALID_REQUEST", "message": "unknown service"}]})
        mode = ""
        if opts.mode_file and os.path.exists(opts.mode_file):
            mode = open(opts.mode_file).read().strip()
        token = make_token(opts, service, scopes, user, mode)
        self.answer(200, {"token": token, "access_token": token, "expires_in": 300,
                          "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


ap = argparse.ArgumentParser()
ap.add_argument("portfile")
ap.add_argument("log")
ap.add_argument("key")
ap.add_argument("cert")
ap.add_argument("credentials")
ap.add_argument("--mode-file")
ap.add_argument("--forged-key")
ap.add_argument("--service", default="isofs-test")
ap.add_argument("--issuer", default="isofs-test-issuer")
opts = ap.parse_args()
opts.x5c = cert_der_b64(opts.cert)

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(opts.portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(opts.portfile + ".tmp", opts.portfile)
server.serve_forever()
