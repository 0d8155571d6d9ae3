#!/usr/bin/python3
"""A fault-injecting HTTP proxy in front of a registry, for tests.

usage: fault_proxy.py LISTEN_PORT UPSTREAM_HOST:PORT LOG [RULE...]

Rules (each applies once per matching request, in order):
  drop-blob=N    the first GET of a blob larger than N bytes: send the
                 headers and N bytes of the body, then cut the connection
  fail=PATH_PART:K  the first K requests whose path contains PATH_PART get
                 a 503
  no-range=1     drop every request's Range header (a registry without
                 range support: 200 with the whole blob)
  no-patch=1     answer every PATCH with 405 (a registry refusing chunked
                 uploads)
  redirect-blobs=1  answer a blob GET with a 307 to /_redirect/<same path>
                 on this proxy, which serves it without the Authorization
                 header (object storage behind a registry)
  referrers-api=1  a registry with the OCI 1.1 referrers API and no tag
                 schema: GET /v2/<name>/referrers/<alg>:<hex> answers the
                 index the registry keeps under the tag <alg>-<hex> (an
                 empty index when there is none), and that tag itself is
                 hidden (404)
  referrers-page=N  referrers-api=1, answered in pages of N entries: each
                 page but the last carries `Link: <…?n=N&last=D>;
                 rel="next"` (D the page's last entry), as OCI 1.1 allows
  referrers-link=absolute  the next links as absolute URLs on another host
                 (http://127.0.0.2:9/…): a client takes only their query
  referrers-link=elsewhere  the next links name another repository's list
                 (a client must not follow them)
  auth-sigs=USER:PASS  signature lookups (a manifest by a sha256-<hex> tag,
                 the referrers API) need HTTP basic credentials USER:PASS:
                 without them 401 with a Basic challenge (a private
                 registry); everything else passes as before
Every request is logged to LOG as "METHOD PATH RANGE -> STATUS", then
" body=N" for a request with a body and " peer=PORT" (the client's port:
one per connection).  The Host header is passed on, so the registry's
Location headers point back at the proxy.
"""
import base64
import http.client
import json
import urllib.parse
import http.server
import socket
import sys
import threading

port, upstream, log_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rules = sys.argv[4:]
lock = threading.Lock()
drop_left = {}
fail_left = {}
flags = set()
page_size = 0
sig_auth = None
link_kind = ""
for r in rules:
    k, v = r.split("=", 1)
    if k == "drop-blob":
        drop_left["blob"] = int(v)
    elif k == "fail":
        part, n = v.rsplit(":", 1)
        fail_left[part] = int(n)
    elif k in ("no-range", "no-patch", "redirect-blobs", "referrers-api"):
        flags.add(k)
    elif k == "auth-sigs":
        sig_auth = "Basic " + base64.b64encode(v.encode()).decode()
    elif k == "referrers-link":
        link_kind = v
    elif k == "referrers-page":
        flags.add("referrers-api")
        page_size = int(v)


def log(line):
    with lock, open(log_path, "a") as f:
        f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def forward(self):
        rng = self.headers.get("Range", "-")
        peer = f" peer={self.client_address[1]}"
        length = int(self.headers.get("Content-Length", "0") or 0)
        sent_body = f" body={length}" if length else ""
        path = self.path
        drop = set()
        if "no-range" in flags:
            drop.add("range")
        if path.startswith("/_redirect/"):
            path = path[len("/_redirect"):]
            drop.add("authorization")
        elif ("redirect-blobs" in flags and self.command == "GET"
                and "/blobs/sha256:" in path):
            log(f"{self.command} {self.path} {rng} -> 307{peer}")
            self.send_response(307)
            self.send_header("Location", f"http://{self.headers['Host']}/_redirect{path}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if (sig_auth and self.command in ("GET", "HEAD")
                and ("/manifests/sha256-" in path or "/referrers/" in path)
                and self.headers.get("Authorization") != sig_auth):
            log(f"{self.command} {self.path} {rng} -> 401 (no credentials){peer}")
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="signatures"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if "referrers-api" in flags and self.command == "GET":
            parts = path.split("?")[0].split("/")
            if len(parts) > 4 and parts[-2] == "referrers":
                self.referrers("/".join(parts[:-2]), parts[-1], rng, peer)
                return
            if (len(parts) > 4 and parts[-2] == "manifests"
                    and parts[-1].startswith(("sha256-", "sha512-"))
                    and not parts[-1].endswith(".sig")):
                log(f"{self.command} {self.path} {rng} -> 404 (hidden){peer}")
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        if "no-patch" in flags and self.command == "PATCH":
            self.rfile.read(length)
            log(f"{self.command} {self.path} {rng}{sent_body} -> 405 (injected){peer}")
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with lock:
            for part, n in fail_left.items():
                if part in self.path and n > 0:
                    fail_left[part] = n - 1
                    status = 503
                    break
            else:
                status = 0
        if status:
            log(f"{self.command} {self.path} {rng} -> 503 (injected)")
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection(upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in drop}
        conn.request(self.command, path, body=body, headers=headers)
        resp = conn.getresponse()
        cut = None
        with lock:
            if (self.command == "GET" and "/blobs/sha256:" in self.path
                    and resp.status == 200 and drop_left.get("blob") is not None
                    and int(resp.getheader("Content-Length") or 0) > drop_left["blob"]):
                cut = drop_left.pop("blob")
        log(f"{self.command} {self.path} {rng}{sent_body} -> {resp.status}"
            + (f" (cut after {cut} bytes)" if cut is not None else "") + peer)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding"):
                self.send_header(k, v)
        self.end_headers()
        sent = 0
        while True:
            chunk = resp.read(65536)
            if not chunk:
                break
            if cut is not None and sent + len(chunk) > cut:
                self.wfile.write(chunk[: cut - sent])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                conn.close()
                return
            self.wfile.write(chunk)
            sent += len(chunk)
        conn.close()

    def referrers(self, repo, digest, rng, peer):
        index = "application/vnd.oci.image.index.v1+json"
        conn = http.client.HTTPConnection(upstream, timeout=60)
        conn.request("GET", f"{repo}/manifests/{digest.replace(':', '-', 1)}",
                     headers={"Accept": index})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status != 200:
            body = ('{"schemaVersion":2,"mediaType":"%s","manifests":[]}'
                    % index).encode()
        link = None
        if page_size:
            doc = json.loads(body)
            entries = doc.get("manifests", [])
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            last = query.get("last", [None])[0]
            start = 0
            if last is not None:
                start = next((i + 1 for i, e in enumerate(entries)
                              if e.get("digest") == last), len(entries))
            page = entries[start:start + page_size]
            doc["manifests"] = page
            body = json.dumps(doc).encode()
            if start + page_size < len(entries):
                target = repo
                if link_kind == "absolute":
                    target = "http://127.0.0.2:9" + repo
                elif link_kind == "elsewhere":
                    target = repo.rsplit("/", 1)[0] + "/elsewhere"
                link = (f'<{target}/referrers/{digest}?n={page_size}'
                        f'&last={page[-1]["digest"]}>; rel="next"')
        log(f"GET {self.path} {rng} -> 200 (referrers){peer}")
        self.send_response(200)
        if link:
            self.send_header("Link", link)
        self.send_header("Content-Type", index)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
