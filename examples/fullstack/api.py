"""The API: JSON over HTTP, backed by Redis."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from resp import Redis


class Handler(BaseHTTPRequestHandler):
    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        r = Redis()
        if self.path == "/health":
            self.send_json(200, {"ok": r.call("PING") == "PONG"})
        elif self.path == "/api/todos":
            self.send_json(200, {
                "schema": r.call("GET", "schema:version"),
                "todos": r.call("LRANGE", "todos", 0, -1),
                "visits": r.call("INCR", "visits"),
            })
        else:
            self.send_json(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        print("api:", fmt % args, flush=True)


port = int(os.environ.get("PORT", "8080"))
print("api listening on", port, flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
