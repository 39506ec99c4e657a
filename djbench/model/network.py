"""Distance as a scenario gives it: the round-trip times the latency proxy adds."""

from __future__ import annotations

from pydantic import Field, model_validator

from djbench.model.results import Distance
from djbench.model.strict import Strict

MAX_RTT_MS = 10_000.0


class Network(Strict):
    """Round-trip times the latency proxy (``tools/latencyproxy``) adds between the server and
    Postgres, and between the server and the stub API. Every combination of the two lists is
    its own set of runs. An empty list keeps that side direct (no proxy in the path); 0 puts
    the proxy there without delay, where it still counts connections and round trips."""

    db_rtt_ms: list[float] = Field(default_factory=list)
    upstream_rtt_ms: list[float] = Field(default_factory=list)
    jitter_ms: float = Field(default=0.0, ge=0)
    """Each direction's delay varies by up to ± this much (the proxy keeps the order)."""

    @model_validator(mode="after")
    def _sane(self) -> Network:
        sides = {"db_rtt_ms": self.db_rtt_ms, "upstream_rtt_ms": self.upstream_rtt_ms}
        for name, values in sides.items():
            if any(not 0 <= v <= MAX_RTT_MS for v in values):
                raise ValueError(f"{name}: round-trip times must be within 0 … {MAX_RTT_MS:g} ms")
            if len(set(values)) != len(values):
                raise ValueError(f"{name}: a round-trip time is listed twice")
        # Each direction waits half a round trip, ± the jitter: never less than nothing.
        shortest = min([*self.db_rtt_ms, *self.upstream_rtt_ms], default=None)
        if self.jitter_ms and shortest is not None and self.jitter_ms > shortest / 2:
            raise ValueError(
                f"jitter_ms: at most half the shortest round trip ({shortest:g} ms), "
                "as each direction waits half of it"
            )
        return self

    def distances(self) -> list[Distance]:
        """Every combination, nearest first: the db's round trip, then the upstream's."""
        direct: list[float | None] = [None]
        return [
            Distance(db_rtt_ms=db, upstream_rtt_ms=up)
            for db in (sorted(self.db_rtt_ms) or direct)
            for up in (sorted(self.upstream_rtt_ms) or direct)
        ]
