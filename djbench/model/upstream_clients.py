"""The HTTP clients a scenario's views call the stub API with, each one a setup of its own."""

from __future__ import annotations

from pydantic import Field, field_validator

from benchapp.catalog import DEFAULT_UPSTREAM_CLIENTS, UPSTREAM_CLIENTS, ClientKind
from djbench.model.strict import Strict


def _clients_of(kind: ClientKind, names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in UPSTREAM_CLIENTS[kind]]
    if unknown:
        raise ValueError(
            f"unknown {kind} client {', '.join(unknown)}; "
            f"choose from: {', '.join(UPSTREAM_CLIENTS[kind])}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"{kind} clients must not repeat")
    return names


class UpstreamClients(Strict):
    """The HTTP clients the views call the stub API with: each one gives runs of its own.

    ``sync`` serves sync views (thread pools, gevent), ``async`` async views; a variant runs
    once per client of its views' kind on every workload that calls the stub API.
    """

    sync: list[str] = Field(default=[DEFAULT_UPSTREAM_CLIENTS["sync"]], min_length=1)
    async_: list[str] = Field(
        default=[DEFAULT_UPSTREAM_CLIENTS["async"]], min_length=1, alias="async"
    )

    @field_validator("sync")
    @classmethod
    def _sync_known(cls, names: list[str]) -> list[str]:
        return _clients_of("sync", names)

    @field_validator("async_")
    @classmethod
    def _async_known(cls, names: list[str]) -> list[str]:
        return _clients_of("async", names)

    def of(self, kind: ClientKind) -> list[str]:
        """The clients of one kind, in the scenario's order."""
        return self.sync if kind == "sync" else self.async_
