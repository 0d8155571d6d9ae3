#!/usr/bin/python3
"""A registry that lies, for tests: it serves one model from an OCI layout
and misbehaves in the way the repository's first path component names.

usage: hostile_registry.py LAYOUT LOG PORTFILE [--interval SECONDS]

LAYOUT is an OCI image layout whose first index.json entry is the model.
It is served as tag "1" of every repository MODE/NAME (also by digest),
on 127.0.0.1 at a port the kernel picks, written to PORTFILE once the
server listens.  "The weights" below is the model's largest layer.

Modes:
  good                as a registry should: Content-Length, Range -> 206
  endless-blob        the weights: their bytes, then zeros without end (no
                      Content-Length; only the client ends it)
  endless-config      the same for the config blob
  endless-manifest    the manifest, then spaces without end
  endless-error       the weights: a 404 page that never ends
  big-length          the weights: a Content-Length 1 MiB larger than the
                      blob, then the blob's bytes
  short               the weights: half of their bytes, with a
                      Content-Length that says so
  stall               the weights: the headers, then a byte every
                      INTERVAL seconds (default 3)
  stall-headers       the weights: the request is read, nothing answered
  trickle             the weights: 2 KiB a second (never a stall)
  redirect-loop       every manifest and blob: 302 back to itself
  redirect-loop-blob  the weights alone: 302 back to itself
  wrong-size          the manifest declares the weights 1 byte smaller than
                      their bytes, whose digest it keeps
  cut-no-range        not a lie: a registry without Range support (200, the
                      whole blob, whatever the Range) that cuts the first
                      transfer of the weights halfway

A request for a range is answered for that range (206), the fault applied
to it.  Every request is logged to LOG once it ends, as
"METHOD PATH RANGE -> STATUS sent=N": N body bytes the socket accepted
(the kernel's buffers included), so a test can tell how far the client
let a fault go.
"""
import hashlib
import http.server
import json
import os
import re
import socket
import sys
import threading
import time

layout, log_path, port_file = sys.argv[1], sys.argv[2], sys.argv[3]
interval = 3.0
if len(sys.argv) > 5 and sys.argv[4] == "--interval":
    interval = float(sys.argv[5])
lock = threading.Lock()
cut_done = False


def blob_path(digest):
    algo, hexd = digest.split(":", 1)
    return os.path.join(layout, "blobs", algo, hexd)


def read_blob(digest):
    with open(blob_path(digest), "rb") as f:
        return f.read()


with open(os.path.join(layout, "index.json")) as f:
    top = json.load(f)["manifests"][0]
manifest_bytes = read_blob(top["digest"])
manifest = json.loads(manifest_bytes)
weights = max(manifest["layers"], key=lambda d: d["size"])["digest"]
config = manifest["config"]["digest"]
media_type = manifest.get("mediaType", "application/vnd.oci.image.manifest.v1+json")

# wrong-size: the same manifest, the weights declared a byte short (and
# their file metadata with them, so that only the download can tell).
lying = json.loads(manifest_bytes)
for d in lying["layers"]:
    if d["digest"] == weights:
        d["size"] -= 1
        for k, v in d.get("annotations", {}).items():
            if k.endswith(".file.metadata+json"):
                meta = json.loads(v)
                if "size" in meta:
                    meta["size"] -= 1
                d["annotations"][k] = json.dumps(meta, separators=(",", ":"))
lying_bytes = json.dumps(lying, separators=(",", ":")).encode()


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def log(line):
    with lock, open(log_path, "a") as f:
        f.write(line + "\n")


PATH = re.compile(r"^/v2/(?P<mode>[a-z-]+)/[a-z0-9]+/(?P<kind>manifests|blobs)/(?P<ref>[^/?]+)(\?.*)?$")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        # Small socket buffers: what "sent" counts stays close to what the
        # client read.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)

    def write(self, data):
        self.wfile.write(data)
        self.sent += len(data)

    def head(self, status, length=None, ctype="application/octet-stream", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if length is None:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(length))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()

    def handle_one_request(self):
        self.sent = 0
        self.status = 0
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        if getattr(self, "command", None):
            log(f"{self.command} {self.path} {self.headers.get('Range', '-') if self.headers else '-'}"
                f" -> {self.status} sent={self.sent}")
            self.command = None

    def send_response(self, code, message=None):
        self.status = code
        super().send_response(code, message)

    def do_GET(self):
        self.serve(body=True)

    def do_HEAD(self):
        self.serve(body=False)

    def serve(self, body):
        if self.path in ("/v2/", "/v2"):
            self.head(200, 2, "application/json")
            if body:
                self.write(b"{}")
            return
        m = PATH.match(self.path)
        if m is None:
            self.head(404, 0)
            return
        mode, kind, ref = m.group("mode"), m.group("kind"), m.group("ref")
        if kind == "manifests":
            self.serve_manifest(mode, ref, body)
        else:
            self.serve_blob(mode, ref, body)

    def redirect(self):
        hop = int(re.search(r"hop=(\d+)", self.path).group(1)) + 1 if "hop=" in self.path else 1
        target = re.sub(r"\?.*$", "", self.path) + f"?hop={hop}"
        self.head(302, 0, extra=[("Location", f"http://{self.headers['Host']}{target}")])

    def serve_manifest(self, mode, ref, body):
        doc = lying_bytes if mode == "wrong-size" else manifest_bytes
        if ref not in ("1", sha256(doc)):
            self.head(404, 0)
            return
        if mode == "redirect-loop":
            self.redirect()
            return
        if mode == "endless-manifest":
            self.head(200, None, media_type)
            if body:
                self.write(doc)
                pad = b" " * 65536
                while True:
                    self.write(pad)
            return
        self.head(200, len(doc), media_type, [("Docker-Content-Digest", sha256(doc))])
        if body:
            self.write(doc)

    def serve_blob(self, mode, digest, body):
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest) or not os.path.exists(blob_path(digest)):
            self.head(404, 0)
            return
        data = read_blob(digest)
        target = {
            "endless-config": config,
        }.get(mode, weights)
        faulty = digest == target and mode != "good"
        if mode == "redirect-loop" or (faulty and mode == "redirect-loop-blob"):
            self.redirect()
            return
        if faulty and mode == "cut-no-range":
            global cut_done
            with lock:
                cut, cut_done = not cut_done, True
            self.head(200, len(data))
            self.write(data[: len(data) // 2] if cut else data)
            if cut:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            return
        status, extra = 200, []
        rng = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "") or "")
        if rng:
            a = int(rng.group(1))
            b = int(rng.group(2)) if rng.group(2) else len(data) - 1
            b = min(b, len(data) - 1)
            extra = [("Content-Range", f"bytes {a}-{b}/{len(data)}")]
            data, status = data[a:b + 1], 206
        if not faulty:
            self.head(status, len(data), extra=extra)
            if body:
                self.write(data)
            return
        if mode in ("endless-blob", "endless-config"):
            self.head(status, None, extra=extra)
            self.write(data)
            zeros = bytes(65536)
            while True:
                self.write(zeros)
        elif mode == "endless-error":
            self.head(404, None, "application/json")
            self.write(b'{"errors":[{"code":"BLOB_UNKNOWN","message":"')
            while True:
                self.write(b"x" * 65536)
        elif mode == "big-length":
            self.head(status, len(data) + (1 << 20), extra=extra)
            self.write(data)
            self.close_connection = True
        elif mode == "short":
            half = data[: len(data) // 2]
            self.head(status, len(half), extra=extra)
            self.write(half)
        elif mode == "stall":
            self.head(status, len(data), extra=extra)
            for i in range(len(data)):
                self.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(interval)
        elif mode == "stall-headers":
            time.sleep(3600)
        elif mode == "trickle":
            self.head(status, len(data), extra=extra)
            for i in range(0, len(data), 2048):
                self.write(data[i:i + 2048])
                time.sleep(1)
        else:  # wrong-size: the truth, against a manifest that lies
            self.head(status, len(data), extra=extra)
            self.write(data)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
