#!/usr/bin/python3
"""A registry round trip made slow on purpose, and every request counted.

usage: latency_proxy.py serve LISTEN_PORT UPSTREAM_HOST:PORT LOG DELAY
       latency_proxy.py stats LOG FROM_BYTE TO_BYTE [USER_AGENT_PREFIX]

serve: an HTTP/1.1 proxy in front of a registry on loopback that holds
every request DELAY milliseconds before passing it on (a fixed network
round trip), then streams the answer back.  DELAY is a number, or a file
holding one, read at every request (to change it between two clients
without a new proxy, whose address signatures may name).  Requests in flight at the same
time are delayed at the same time (one thread each), so a client's wall
time is about (requests made one after another) x DELAY_MS: it shows the
sequential depth of what the client does, not only how many requests it
makes.  Every request is appended to LOG as one JSON line: start and end
(seconds, wall clock), method, path, status, User-Agent, client port.  A
request line the proxy cannot parse (e.g. a TLS probe of a client trying
https first) is logged too, as method "BAD".

stats: the lines of LOG between two byte offsets (the caller notes the
log's size before and after the client runs), optionally only those whose
User-Agent starts with a prefix, summed up as one line of JSON:
  requests  how many
  bad       how many of them were unparseable request lines
  depth     the longest chain of requests each started after the previous
            one had ended (the round trips made in sequence)
  span_ms   first start to last end
  paths     method and path of each, in order of start
"""
import http.client
import http.server
import json
import sys
import threading
import time


def serve(port, upstream, log_path, delay_arg):
    lock = threading.Lock()

    def delay_s():
        try:
            return float(delay_arg) / 1000.0
        except ValueError:
            with open(delay_arg) as f:
                return float(f.read().strip() or 0) / 1000.0

    def log(rec):
        line = json.dumps(rec, separators=(",", ":"))
        with lock, open(log_path, "a") as f:
            f.write(line + "\n")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def log_error(self, *a):
            log({"t0": time.time(), "t1": time.time(), "d": 0, "m": "BAD", "path": "",
                 "status": 400, "ua": "", "peer": self.client_address[1]})

        def forward(self):
            t0 = time.time()
            length = int(self.headers.get("Content-Length", "0") or 0)
            body = self.rfile.read(length) if length else None
            delay = delay_s()
            time.sleep(delay)
            conn = http.client.HTTPConnection(upstream, timeout=120)
            headers = dict(self.headers.items())
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("connection", "transfer-encoding"):
                    self.send_header(k, v)
            if resp.getheader("Content-Length") is None and self.command != "HEAD":
                # An answer of unknown length: the connection ends it.
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                while True:
                    chunk = resp.read(65536)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
            self.wfile.flush()
            conn.close()
            log({"t0": t0, "t1": time.time(), "d": delay, "m": self.command,
                 "path": self.path, "status": resp.status,
                 "ua": self.headers.get("User-Agent", ""),
                 "peer": self.client_address[1]})

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    srv.serve_forever()


def stats(log_path, start, end, ua_prefix):
    with open(log_path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    recs = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    if ua_prefix:
        recs = [r for r in recs if r["ua"].startswith(ua_prefix)]
    recs.sort(key=lambda r: r["t0"])
    # Longest chain of requests in sequence: depth[i] = 1 + the deepest
    # request that had ended before request i started.  "Ended" with half a
    # delay of slack: the proxy notes a request's end just after its last
    # byte, and a client may already be sending the next one; requests in
    # flight together started less than a delay apart, so they never count
    # as one after the other.
    depth = []
    for i, r in enumerate(recs):
        before = [depth[j] for j in range(i)
                  if recs[j]["t1"] - recs[j]["d"] / 2 <= r["t0"]]
        depth.append(1 + max(before, default=0))
    out = {
        "requests": len(recs),
        "bad": sum(1 for r in recs if r["m"] == "BAD"),
        "depth": max(depth, default=0),
        "span_ms": round((max(r["t1"] for r in recs) - recs[0]["t0"]) * 1000, 1)
        if recs else 0,
        "paths": [f'{r["m"]} {r["path"]} {r["status"]}' for r in recs],
    }
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "stats":
        stats(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
              sys.argv[5] if len(sys.argv) == 6 else "")
    else:
        sys.exit(__doc__)
