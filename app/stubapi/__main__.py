"""Serve the stub API: ``python -m stubapi [--host H] [--port P] [--log-level L] [--backlog N]``.

The one definition of how the stub is served, wherever it runs (the local backend, the image,
the chart): uvicorn with uvloop, httptools counting connections (stubapi.protocol), the app's
lifespan, no access log (a line per call would cost CPU under load).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn
from uvicorn.config import LOG_LEVELS

from stubapi.app import app
from stubapi.protocol import CountingHttpToolsProtocol


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(
        prog="python -m stubapi",
        description="Serve the stub upstream API.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=8081, help="port to bind")
    parser.add_argument(
        "--log-level", choices=list(LOG_LEVELS), default="warning", help="uvicorn log level"
    )
    parser.add_argument(
        "--backlog", type=int, default=4096, help="listen backlog (thousands of calls at high load)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until SIGINT/SIGTERM; exit 3 when the server cannot start (as uvicorn's CLI)."""
    args = parse_args(argv)
    uvicorn.run(
        app, host=args.host, port=args.port, loop="uvloop", http=CountingHttpToolsProtocol,
        lifespan="auto", access_log=False, log_level=args.log_level, backlog=args.backlog,
    )  # fmt: skip


if __name__ == "__main__":
    main()
