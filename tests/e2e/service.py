"""A small real service for the dashboard's tests: answers HTTP on $PORT (`/health` is 200),
writes a log line a second, and does a little work now and then so that its CPU and memory
charts have something to show. Standard library only."""

import http.server
import os
import random
import sys
import threading
import time

NAME = os.environ.get("SERVICE_NAME", "service")
PORT = int(os.environ.get("PORT", "0"))
# A footprint of its own (MiB), so that the services do not all draw the same memory line.
BALLAST = bytearray(int(os.environ.get("BALLAST_MIB", "0")) * 1024 * 1024)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n" if self.path == "/health" else f"{NAME}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass  # the health checks would flood the log


def chatter():
    n = 0
    cache = []  # grows and is cut back, as a cache does: memory that moves
    routes = ["/items", "/items/42", "/users/me", "/orders", "/search?q=boots"]
    while True:
        n += 1
        # Some work: a burst of CPU of varying length.
        end = time.monotonic() + random.uniform(0.0, 0.05)
        while time.monotonic() < end:
            pass
        if random.random() < 0.5:
            cache.append(bytearray(random.randint(1, 4) * 256 * 1024))
        if len(cache) > 24:
            del cache[: len(cache) // 2]
        print(f"tick {n}: GET {random.choice(routes)} 200 {random.randint(1, 40)}ms", flush=True)
        if n % 7 == 0:
            print(f"tick {n}: slow query took {random.randint(200, 900)}ms", file=sys.stderr, flush=True)
        time.sleep(1)


threading.Thread(target=chatter, daemon=True).start()
print(f"{NAME} listening on 127.0.0.1:{PORT}", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
