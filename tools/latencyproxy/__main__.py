"""Run the latency proxy: ``python -m latencyproxy --listen H:P --upstream H:P --delay-ms D``.

One process, one uvloop event loop. SIGTERM or SIGINT stops it (exit 0); bad arguments exit 2
(argparse); an address that cannot be bound exits 3 with one line on stderr (as the stub API).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import resource
import signal
import sys
from collections.abc import Awaitable, Sequence

import uvloop

from latencyproxy.control import start_control
from latencyproxy.relay import Proxy
from latencyproxy.settings import Address, Settings, address, format_address
from latencyproxy.stats import Stats

EXIT_CANNOT_BIND = 3
STOP_TIMEOUT_S = 5.0
"""How long a stop waits for the connections it closes to be gone."""
MAX_DELAY_MS = 60_000
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

log = logging.getLogger("latencyproxy")


class BindError(Exception):
    """An address the proxy cannot listen on."""


def milliseconds(text: str) -> float:
    """A delay in milliseconds: a number in 0..MAX_DELAY_MS."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of ms, got {text!r}") from None
    if not (math.isfinite(value) and 0 <= value <= MAX_DELAY_MS):
        raise argparse.ArgumentTypeError(f"expected 0..{MAX_DELAY_MS} ms, got {text!r}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(
        prog="python -m latencyproxy",
        description=(
            "Relay TCP connections to an upstream, delaying each direction of each connection"
            " (toxiproxy's latency toxic): network distance without netem."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    # Required options default to SUPPRESS: no "(default: None)" in their help.
    no_default = argparse.SUPPRESS
    parser.add_argument(
        "--listen", type=address, metavar="HOST:PORT", required=True, default=no_default,
        help="address to accept clients on",
    )  # fmt: skip
    parser.add_argument(
        "--upstream", type=address, metavar="HOST:PORT", required=True, default=no_default,
        help="address to relay each connection to",
    )  # fmt: skip
    parser.add_argument(
        "--delay-ms", type=milliseconds, metavar="D", required=True, default=no_default,
        help="delay added to EACH direction, in ms: the round trip grows by 2*D;"
        " 0 relays without timers",
    )  # fmt: skip
    parser.add_argument(
        "--jitter-ms", type=milliseconds, default=0.0, metavar="J",
        help="each chunk's delay varies uniformly within D ± J ms, order kept; J <= D",
    )  # fmt: skip
    parser.add_argument(
        "--stats", type=address, default=None, metavar="HOST:PORT",
        help="address to serve GET /stats (JSON), /metrics (Prometheus) and /healthz on",
    )  # fmt: skip
    parser.add_argument("--backlog", type=int, default=4096, help="listen backlog")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="warning", help="log level")
    args = parser.parse_args(argv)
    if args.jitter_ms > args.delay_ms:
        parser.error(
            f"--jitter-ms ({args.jitter_ms:g}) must not exceed --delay-ms ({args.delay_ms:g}):"
            " the delays would be cut at 0 and their mean would grow"
        )
    if args.backlog < 1:
        parser.error(f"--backlog must be at least 1, got {args.backlog}")
    return args


async def _bind(what: str, where: Address, server: Awaitable[asyncio.Server]) -> asyncio.Server:
    try:
        return await server
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise BindError(f"cannot listen for {what} on {format_address(where)}: {reason}") from exc


async def serve(settings: Settings, stats_address: Address | None, backlog: int) -> None:
    """Relay until SIGTERM or SIGINT; BindError when an address cannot be bound."""
    loop = asyncio.get_running_loop()
    stats = Stats()
    proxy = Proxy(settings, stats, loop)
    servers = [await _bind("clients", settings.listen, proxy.listen(backlog))]
    if stats_address is not None:
        control = start_control(stats_address, stats, settings)
        servers.append(await _bind("/stats", stats_address, control))
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    described = settings.describe()
    log.info("relaying %(listen)s to %(upstream)s, %(delay_ms)g ms each way", described)
    await stop.wait()
    for server in servers:
        server.close()
    proxy.close()
    # Until the closed connections are gone: what was written is flushed, each end gets a FIN.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(STOP_TIMEOUT_S):
            await asyncio.gather(*(server.wait_closed() for server in servers))


def raise_open_files_limit() -> None:
    """Two sockets per relayed connection: lift the soft limit on open files to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: Sequence[str] | None = None) -> None:
    """Run until SIGTERM/SIGINT (exit 0); exit 3 when an address cannot be bound."""
    args = parse_args(argv)
    raise_open_files_limit()
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s latencyproxy %(levelname)s %(message)s"
    )
    settings = Settings(args.listen, args.upstream, args.delay_ms, args.jitter_ms)
    try:
        uvloop.run(serve(settings, args.stats, args.backlog))
    except BindError as exc:
        print(f"latencyproxy: {exc}", file=sys.stderr)
        sys.exit(EXIT_CANNOT_BIND)


if __name__ == "__main__":
    main()
