"""Runs INSIDE a container on the test network: stands in for Prometheus' remote-write
receiver. Accepts every POST and prints one JSON line per request (path and the headers the
remote-write protocol requires), so the test can see that k6 wrote where the chart told it.

    python3 remote_write_sink.py PORT
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        record = {
            "path": self.path,
            "content_type": self.headers.get("Content-Type"),
            "content_encoding": self.headers.get("Content-Encoding"),
            "version": self.headers.get("X-Prometheus-Remote-Write-Version"),
            "bytes": len(body),
        }
        print(json.dumps(record), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the JSON lines are the only output."""


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Sink).serve_forever()  # noqa: S104
