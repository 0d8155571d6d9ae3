#!/usr/bin/env python3
"""A minimal Docker registry token service for integration tests.

GET /token?service=S&scope=repository:NAME:ACTIONS[&scope=...] answers
{"token", "access_token", "expires_in"} with a JWT signed RS256 by KEY,
its header carrying x5c = [CERT] (self-signed: the registry's
rootcertbundle is CERT itself), as distribution's token auth verifies it.

HTTP Basic credentials are checked against --user NAME:PASSWORD:ACTIONS
(ACTIONS, e.g. "pull,push", are the most that user is granted on any
repository): wrong credentials get 401; no credentials get a token with
no access at all (anonymous).  Each request is appended to --log as one
line "user=U service=S scope=SCOPE status=N" (one line per scope), so a
test can assert what the client asked for.

Stdlib only: the signature is made by `openssl dgst -sha256 -sign`.
It listens on 127.0.0.1, port 0 (a free one), writes the port to
--port-file once listening, and exits when its --parent process is gone,
so it never outlives the test that started it.
"""

import argparse
import base64
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Issuer:
    def __init__(self, a):
        self.a = a
        with open(a.cert) as f:
            self.x5c = base64.b64encode(ssl.PEM_cert_to_DER_cert(f.read())).decode()
        self.users = {}
        for u in a.user:
            name, pw, actions = u.split(":", 2)
            self.users[name] = (pw, [x for x in actions.split(",") if x])
        self.lock = threading.Lock()

    def sign(self, data):
        return subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", self.a.key],
            input=data, stdout=subprocess.PIPE, check=True).stdout

    def token(self, user, access):
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": self.a.issuer, "sub": user, "aud": self.a.service,
                  "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "."
                         + b64url(json.dumps(claims).encode()))
        return signing_input + "." + b64url(self.sign(signing_input.encode()))

    def log(self, line):
        with self.lock, open(self.a.log, "a") as f:
            f.write(line + "\n")


def handler(iss):
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def reply(self, status, body, extra=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            if u.path != "/token":
                self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
                return
            q = urllib.parse.parse_qs(u.query)
            service = q.get("service", [""])[0]
            scopes = q.get("scope", [])
            user, granted, status = "", [], 200
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                try:
                    name, pw = base64.b64decode(auth[6:]).decode().split(":", 1)
                except (ValueError, UnicodeDecodeError):
                    name, pw = "", None
                user = name
                if name in iss.users and iss.users[name][0] == pw:
                    granted = iss.users[name][1]
                else:
                    status = 401
            elif auth:
                status = 401
            for s in scopes or [""]:
                iss.log("user=%s service=%s scope=%s status=%d"
                        % (user or "-", service, s, status))
            if status == 401:
                self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                             "message": "bad credentials"}]},
                           [("WWW-Authenticate", 'Basic realm="test-issuer"')])
                return
            if service != iss.a.service:
                self.reply(400, {"errors": [{"code": "DENIED",
                                             "message": "unknown service"}]})
                return
            access = []
            for s in scopes:
                parts = s.split(":")
                if len(parts) < 3:
                    continue
                typ, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1]
                ok = [x for x in actions.split(",") if x in granted]
                if typ == "repository" and ok:
                    access.append({"type": typ, "name": name, "actions": ok})
            tok = iss.token(user, access)
            self.reply(200, {"token": tok, "access_token": tok,
                             "expires_in": 300,
                             "issued_at": time.strftime(
                                 "%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    return H


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--key", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--service", required=True)
    p.add_argument("--user", action="append", default=[],
                   help="NAME:PASSWORD:ACTIONS")
    p.add_argument("--log", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--parent", type=int, default=0)
    a = p.parse_args()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(Issuer(a)))
    srv.daemon_threads = True
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    if a.parent:
        def watch():
            while True:
                try:
                    os.kill(a.parent, 0)
                except ProcessLookupError:
                    os._exit(0)
                time.sleep(1)
        threading.Thread(target=watch, daemon=True).start()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
