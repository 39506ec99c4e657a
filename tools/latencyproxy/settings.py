"""What one proxy process does: where it listens, where it relays to, the delay it adds."""

from __future__ import annotations

from argparse import ArgumentTypeError
from dataclasses import dataclass
from typing import Any

Address = tuple[str, int]
"""``(host, port)``."""


def format_address(address: Address) -> str:
    """``host:port``, an IPv6 host in brackets."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def address(text: str) -> Address:
    """``HOST:PORT`` (an IPv6 host in brackets) as ``(host, port)``."""
    host, colon, port = text.rpartition(":")
    if not colon or not host:
        raise ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ArgumentTypeError(f"expected a port in 1..65535, got {text!r}")
    return host, int(port)


@dataclass(frozen=True)
class Settings:
    """The relay's settings: ``delay_ms`` is added to each direction, ± ``jitter_ms``."""

    listen: Address
    upstream: Address
    delay_ms: float
    jitter_ms: float = 0.0

    @property
    def delay_s(self) -> float:
        """The delay of each direction, in seconds."""
        return self.delay_ms / 1000

    @property
    def jitter_s(self) -> float:
        """The jitter, in seconds."""
        return self.jitter_ms / 1000

    def describe(self) -> dict[str, Any]:
        """The settings as ``GET /stats`` reports them."""
        return {
            "listen": format_address(self.listen),
            "upstream": format_address(self.upstream),
            "delay_ms": self.delay_ms,
            "jitter_ms": self.jitter_ms,
        }
