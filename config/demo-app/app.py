"""Slipway's demo app: a tiny web server that logs each request.

Needs only python3's standard library. It listens on $PORT (set by Slipway's runtime),
answers every GET with a small page naming the app, the process and the release, and
writes one log line per request to stdout, where Slipway picks it up:
`slipway logs --app demo --tail` shows them live. Config vars are environment variables:
`slipway config set GREETING=Hi --app demo` changes the greeting (a new release).
On SIGTERM it stops accepting, finishes the request in flight and exits.
"""

import html
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "5000"))
DYNO = os.environ.get("DYNO", "web.1")
APP = os.environ.get("SLIPWAY_APP", "demo")
RELEASE = os.environ.get("SLIPWAY_RELEASE", "v?")


class Handler(BaseHTTPRequestHandler):
    server_version = "slipway-demo/1"

    def do_GET(self):
        greeting = os.environ.get("GREETING", "Hello from Slipway")
        body = (
            "<!doctype html><meta charset=utf-8><title>{app}</title>"
            "<h1>{greeting}!</h1>"
            "<p>This is <b>{app}</b>, served by process <b>{dyno}</b> of release <b>{release}</b>.</p>"
            "<p>Watch this request in the logs: <code>slipway logs --app {app} --tail</code></p>\n"
        ).format(
            app=html.escape(APP),
            greeting=html.escape(greeting),
            dyno=html.escape(DYNO),
            release=html.escape(RELEASE),
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, fmt, *args):
        # One line per request on stdout (the default goes to stderr).
        request_id = self.headers.get("X-Request-Id", "-")
        print(
            '{} "{}" {} request_id={}'.format(
                self.headers.get("X-Forwarded-For", self.client_address[0]),
                self.requestline,
                args[1] if len(args) > 1 else "-",
                request_id,
            ),
            flush=True,
        )


def main():
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = False

    def stop(signum, frame):
        print("received SIGTERM, shutting down", flush=True)
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    print("{} listening on port {} ({})".format(APP, PORT, RELEASE), flush=True)
    server.serve_forever()
    server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
