"""A tiny API for the quickstart stack: /health, and /items read from the store."""
import http.server
import os
import urllib.request

STORE = os.environ["STORE_URL"]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body, status = b"ok\n", 200
        elif self.path == "/items":
            with urllib.request.urlopen(STORE + "items.json", timeout=2) as r:
                body, status = r.read(), 200
        else:
            body, status = b"not found\n", 404
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
