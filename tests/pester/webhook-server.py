#!/usr/bin/env python3
"""A webhook (POST) and Pushgateway (PUT) receiver for the Pester tests:
records every request, answers by path.

    python3 webhook-server.py <record.jsonl>

Binds 127.0.0.1 on a free port and prints the port on the first line of
stdout. Each request is appended to <record.jsonl> as one JSON line:
{"method", "path", "status", "content_type", "authorization", "body"},
written before the answer, so records are in the order requests arrived and
a test that has its result also has the record.

The first path segment picks the answer:
  /ok/...            200
  /fail-once/...     500 the first time a path is seen, then 200
  /always500/...     500
  /bad-request/...   400 (not worth retrying)
  /reason/...        400 with a reason phrase and a body that repeat the
                     request's path (a server quoting a secret back)
  /slow/<s>/...      waits <s> seconds, then 200
anything else        404
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

record_path = sys.argv[1]
lock = threading.Lock()
seen = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        parts = [p for p in self.path.split("/") if p]
        kind = parts[0] if parts else ""
        with lock:
            count = seen.get(self.path, 0) + 1
            seen[self.path] = count
        if kind == "ok":
            status = 200
        elif kind == "fail-once":
            status = 500 if count == 1 else 200
        elif kind == "always500":
            status = 500
        elif kind in ("bad-request", "reason"):
            status = 400
        elif kind == "slow":
            status = 200
        else:
            status = 404
        with lock, open(record_path, "a", encoding="utf-8") as f:
            f.write(json.dumps({
                "method": self.command,
                "path": self.path,
                "status": status,
                "content_type": self.headers.get("Content-Type"),
                "authorization": self.headers.get("Authorization"),
                "body": body,
            }) + "\n")
        if kind == "slow":
            time.sleep(float(parts[1]) if len(parts) > 1 else 10)
        payload = b"ok" if status == 200 else b"nope"
        if kind == "reason":
            payload = ("no such hook: " + self.path).encode("utf-8")
        try:
            if kind == "reason":
                self.send_response(status, "Unknown hook " + self.path)
            else:
                self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


    do_PUT = do_POST


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
