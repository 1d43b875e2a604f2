"""The web front end: a page rendered from the API's answer."""

import html
import json
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API = os.environ.get("API_URL", "http://127.0.0.1:8080")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/":
            self.send_error(404)
            return
        with urllib.request.urlopen(API + "/api/todos", timeout=5) as resp:
            data = json.load(resp)
        items = "".join("<li>%s</li>" % html.escape(t) for t in data["todos"])
        page = (
            "<!doctype html><title>Todos</title><h1>Todos</h1><ul>%s</ul>"
            "<p>schema %s, visit %d</p>" % (items, data["schema"], data["visits"])
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, fmt, *args):
        print("web:", fmt % args, flush=True)


port = int(os.environ.get("PORT", "8081"))
print("web listening on", port, flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
