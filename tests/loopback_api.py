"""A Kubernetes API server on loopback for the ``kubernetes`` client's reads in tests: each GET
answered by a function from recorded or hand-written API objects."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

Answer = Callable[[str, dict[str, list[str]]], tuple[int, object]]
"""What a loopback API server says to a GET: (status, JSON body) for (path, query)."""


class LoopbackApi:
    """A Kubernetes API server on loopback answering from a function, reached through a
    kubeconfig (context ``rec``) the real ``kubernetes`` client reads."""

    def __init__(self, answer: Answer) -> None:
        def do_get(handler: BaseHTTPRequestHandler) -> None:
            url = urlsplit(handler.path)
            code, body = answer(url.path, parse_qs(url.query))
            data = json.dumps(body).encode()
            handler.send_response(code)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)

        handler = type(
            "Handler",
            (BaseHTTPRequestHandler,),
            {"do_GET": do_get, "log_message": lambda *_: None},
        )
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._stopped = False
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop answering (idempotent)."""
        if not self._stopped:
            self._stopped = True
            self.server.shutdown()
            self.server.server_close()

    def kubeconfig(self) -> dict[str, object]:
        server = f"http://127.0.0.1:{self.server.server_port}"
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "rec", "cluster": {"server": server}}],
            "users": [{"name": "rec", "user": {"token": "recorded"}}],
            "contexts": [{"name": "rec", "context": {"cluster": "rec", "user": "rec"}}],
            "current-context": "rec",
        }


NOT_FOUND = (404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})
"""The API's answer for an object that does not exist."""
