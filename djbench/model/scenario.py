"""Scenarios: what to run, validated. One YAML file; profiles are scenarios shipped with djbench.

The resolved scenario (``Scenario.resolved()``) is the JSON the k6 script reads, locally and in
Kubernetes Jobs: the same document is stored in ``results.json`` as run.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from benchapp.catalog import (
    UPSTREAM_DELAYS_MS,
    WORKLOADS,
    Workload,
)
from djbench.model.mix import describe as describe_mix
from djbench.model.mix import shares
from djbench.model.network import Network
from djbench.model.pod import Cpus, ShapeSpec, Threads, Workers
from djbench.model.requests import (
    NAME,
    UNKNOWN_KIND,
    MixKind,
    NamedRequests,
    WorkloadKind,
    path_with_query,
)
from djbench.model.strict import Strict
from djbench.model.upstream_clients import UpstreamClients


class Slo(Strict):
    """The latency objective a step must meet to count towards capacity."""

    p99_ms: float = Field(gt=0)
    max_error_rate: float = Field(default=0.01, ge=0, le=1)


class ClosedModel(Strict):
    """Fixed concurrency ladder (k6 ``constant-vus``), like the classic articles."""

    concurrency: list[int] = Field(default=[1, 8, 32, 128], min_length=1)

    @model_validator(mode="after")
    def _positive(self) -> ClosedModel:
        if any(c < 1 for c in self.concurrency):
            raise ValueError("concurrency levels must be >= 1")
        return self


class OpenModel(Strict):
    """Arrival-rate steps (k6 ``constant-arrival-rate``): no coordinated omission.

    ``capacity_fractions`` scale the best closed-model throughput of the same variant and
    workload; ``rates`` are absolute requests per second. Both may be given.
    """

    capacity_fractions: list[float] = Field(default_factory=list)
    rates: list[float] = Field(default_factory=list)
    max_vus: int = Field(default=4096, ge=1)

    @model_validator(mode="after")
    def _positive(self) -> OpenModel:
        if any(f <= 0 for f in self.capacity_fractions) or any(r <= 0 for r in self.rates):
            raise ValueError("rates and capacity fractions must be > 0")
        return self


class DbPool(Strict):
    """Connection pool of each server process (Django's psycopg pool, or the raw async pool)."""

    min_size: int = Field(default=2, ge=0)
    max_size: int = Field(default=16, ge=1)
    timeout_s: float = Field(default=2.0, gt=0)

    def for_slots(self, slots: int | None) -> DbPool:
        """The pool of a server that holds at most ``slots`` requests at once (None: no
        bound): never more connections than it can use, so a one-thread server opens one,
        and a pool opened up front (``min_size``) pays no set-up it never uses."""
        if slots is None or slots >= self.max_size:
            return self
        return self.model_copy(update={"max_size": slots, "min_size": min(self.min_size, slots)})


DEFAULT_HEALTH_PATH = "/healthz"


class Scenario(Strict):
    """Everything a run needs to know, from one validated file."""

    name: str = "custom"
    description: str = ""
    variants: list[str] = Field(default_factory=list)
    """Variant names; empty means the standard line-up, ``[all]`` every variant."""
    workloads: list[str] = Field(default_factory=lambda: list(WORKLOADS))
    seed_rows: int = Field(default=1_000_000, ge=25)
    warmup_s: float = Field(default=1.0, ge=0)
    """Warm-up at the step's own load before it is measured (with open steps: 0 or >= 1 s)."""
    duration_s: float = Field(default=5.0, ge=1)
    """The measured phase; with ``max_duration_s``, the shortest one: a step then lasts longer
    when it needs to hold ``min_requests`` responses and (closed) ``min_cycles`` request
    cycles."""
    min_requests: int = Field(default=300, ge=1)
    min_cycles: int = Field(default=10, ge=1)
    max_duration_s: float | None = Field(default=None, ge=1)
    """The cap of steps sized by evidence; None: every step lasts ``warmup_s`` + ``duration_s``."""
    survey_max_duration_s: float | None = Field(default=None, ge=1)
    """A shorter cap for the survey's steps (they find the leaders and draw the curves; the
    confirmation rounds carry the verdict); None: ``max_duration_s``."""
    request_timeout_s: float = Field(default=10.0, gt=0)
    think_time_ms: float = Field(default=0.0, ge=0)
    threads: list[Threads] | None = None
    """Threads per worker of the variants whose concurrency is a thread pool they are told
    (gthread, uWSGI), each value its own setup; None: each variant's own. With ``workers``
    and ``cpus``, the pod's shape (``djbench.model.shapes``)."""
    workers: list[Workers] | None = None
    """Worker processes of the server in one pod, each value its own setup; None: one."""
    cpus: list[Cpus] | None = None
    """The pod's CPU budget, each value its own setup; None: one CPU."""
    shapes: list[ShapeSpec] | None = Field(default=None, min_length=1)
    """The pod's shapes as a list, in place of the axes' product: each its own setup, what
    it leaves out the variant's standard (``djbench.model.shapes``)."""
    closed: ClosedModel = Field(default_factory=ClosedModel)
    open: OpenModel = Field(default_factory=OpenModel)
    slo: dict[str, Slo] = Field(default_factory=dict)
    """Per-workload SLO; workloads not named use ``default_slo``."""
    default_slo: Slo = Field(default_factory=lambda: Slo(p99_ms=500))
    params: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Query parameters per workload, e.g. ``{cpu: {n: "20000"}}``."""
    db_pool: DbPool = Field(default_factory=DbPool)
    upstream_delays_ms: list[int] = Field(
        default_factory=lambda: list(UPSTREAM_DELAYS_MS), min_length=1
    )
    upstream_clients: UpstreamClients = Field(default_factory=UpstreamClients)
    network: Network = Field(default_factory=Network)
    """Distance between the server and what it waits on; by default every connection is direct."""
    upstream_connections: int | None = Field(default=None, ge=1)
    """Pool limit of every upstream client; None sizes it for the run's peak calls in flight."""
    repeats: int = Field(default=1, ge=1)
    """Measurements of each workload's leaders. Round 0 (the survey of every candidate, then
    each leader's capacity search) counts as one; each further round searches the leaders'
    capacity again in ``confirm_steps``, each on a freshly started server, in a shuffled
    order."""
    leaders: int = Field(default=2, ge=2)
    """Candidates per workload that confirmation rounds re-measure: the survey's best."""
    confirm_steps: int = Field(default=2, ge=2)
    """Steps of a confirmation round's search (from just below round 0's capacity: one rate
    that meets the SLO and one above it that does not bracket the capacity)."""
    search_steps: int = Field(default=0, ge=0)
    """Open-model steps that search each leader's capacity at SLO in round 0 (up from its
    survey capacity until a rate fails, then bisecting); 0: no search, and no repeats."""
    seed: int | None = Field(default=None, ge=0)
    """Seed of the rounds' shuffled order; None draws one (recorded in the results)."""
    requests: NamedRequests = Field(default_factory=dict)
    """A team's project's named requests (``djbench run --project``): the workloads in place
    of benchapp's; empty: benchapp's workloads."""
    health_path: str = DEFAULT_HEALTH_PATH
    """Where a started server is asked whether it is up and well (``healthy``)."""
    mix: dict[str, dict[str, float]] = Field(default_factory=dict)
    """Traffic mixes, each a workload of its own: its parts (benchapp's workloads or the
    project's requests) by weight, kept as shares of one (``djbench.model.mix``)."""

    @field_validator("threads", "workers", "cpus", mode="before")
    @classmethod
    def _one_value_or_several(cls, value: Any) -> Any:
        # A single number (``threads: 64``) is a one-value axis.
        return [value] if isinstance(value, int | float) and not isinstance(value, bool) else value

    @field_validator("threads", "workers", "cpus")
    @classmethod
    def _distinct_values(cls, values: list[Any] | None) -> list[Any] | None:
        if values is not None and (not values or len(set(values)) < len(values)):
            raise ValueError("give each value once, at least one")
        return values

    @model_validator(mode="before")
    @classmethod
    def _requests_are_the_workloads(cls, raw: Any) -> Any:
        # Named requests replace the catalog, and mixes join it: by default all are run.
        if not isinstance(raw, dict) or "workloads" in raw:
            return raw
        if raw.get("requests") or raw.get("mix"):
            known = list(raw.get("requests") or WORKLOADS)
            return {**raw, "workloads": [*known, *(raw.get("mix") or {})]}
        return raw

    @field_validator("mix")
    @classmethod
    def _mixes_in_shares(cls, mixes: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for name in mixes:
            if not NAME.match(name):
                raise ValueError(
                    f"{name!r} is not a mix's name (lowercase letters, digits and '-', up to 40)"
                )
        out = {}
        for name, parts in mixes.items():
            try:
                out[name] = shares(parts)
            except ValueError as exc:
                raise ValueError(f"mix {name}: {exc}") from None
        return out

    @field_validator("shapes")
    @classmethod
    def _distinct_shapes(cls, shapes: list[ShapeSpec] | None) -> list[ShapeSpec] | None:
        if shapes is not None and len(set(shapes)) < len(shapes):
            raise ValueError("give each shape once")
        return shapes

    @model_validator(mode="after")
    def _known_workloads(self) -> Scenario:
        if self.shapes is not None and (self.threads or self.workers or self.cpus):
            raise ValueError(
                "shapes: list the pod's shapes or give threads, workers and cpus as axes, not both"
            )
        known = list(self.requests) or list(WORKLOADS)
        kind = "request" if self.requests else "workload"
        for name, parts in self.mix.items():
            if name in known:
                raise ValueError(f"mix: {name} is already a {kind}'s name")
            unknown = [p for p in parts if p not in known]
            if unknown:
                raise ValueError(
                    f"mix {name}: unknown {kind} {', '.join(unknown)}; "
                    f"choose from: {', '.join(known)}"
                )
        for where, names, allowed in (
            ("workloads", self.workloads, [*known, *self.mix]),
            ("slo", list(self.slo), [*known, *self.mix]),
            ("params", list(self.params), known),
        ):
            unknown = [n for n in names if n not in allowed]
            if unknown:
                raise ValueError(
                    f"{where}: unknown {kind} {', '.join(unknown)}; "
                    f"choose from: {', '.join(allowed)}"
                )
        if not self.workloads:
            raise ValueError("workloads: at least one workload is needed")
        if self.repeats > 1 and not self.search_steps:
            raise ValueError(
                "repeats: confirmation rounds repeat the leaders' capacity search; "
                "set search_steps (e.g. 3) or repeats: 1"
            )
        if self.has_open_steps and 0 < self.warmup_s < 1:
            raise ValueError(
                "warmup_s: open-model steps need 0 (no warm-up) or at least 1 second (k6)"
            )
        return self

    @property
    def has_open_steps(self) -> bool:
        """Open-model steps: fractions of capacity, absolute rates, or a capacity search."""
        return bool(self.open.capacity_fractions or self.open.rates or self.search_steps)

    @property
    def peak_in_flight(self) -> int:
        """The most requests one step can hold in flight: the top of the ladder, or the open
        model's VU ceiling when it has steps (a capacity search is open-model too)."""
        ceiling = [self.open.max_vus] if self.has_open_steps else []
        return max([*self.closed.concurrency, *ceiling])

    @property
    def calls_upstream(self) -> bool:
        """Whether any workload of the scenario calls the stub API (a project's never do)."""
        return any(self.kind(w).touches_upstream for w in self.workloads)

    @property
    def upstream_pool_size(self) -> int:
        """Connections each upstream client may hold: at least the peak calls in flight (every
        request in flight making all its calls at once), so no pool limit shapes the result."""
        return self.upstream_connections or self.peak_in_flight * len(self.upstream_delays_ms)

    def parts(self, workload: str) -> dict[str, float]:
        """The requests a workload sends, by share: a mix's parts, else the workload alone."""
        return self.mix.get(workload) or {workload: 1.0}

    def kind(self, workload: str) -> WorkloadKind:
        """What the workload touches: the named request's, benchapp's catalog entry, or a
        mix's parts together (a name none knows, as in a results file of another version,
        touches nothing)."""
        if workload in self.mix:
            return MixKind.of([self.kind(part) for part in self.mix[workload]])
        known = self.requests.get(workload) if self.requests else WORKLOADS.get(workload)
        return known if known is not None else UNKNOWN_KIND

    def benchapp_workload(self, workload: str) -> Workload | None:
        """benchapp's catalog entry of a workload, None for a team's named request."""
        return None if self.requests else WORKLOADS.get(workload)

    def description_of(self, workload: str) -> str:
        """One line on what a workload is: benchapp's catalog entry, or a named request's
        method, path, expected status and description, or a mix's parts ("" for a name
        none knows)."""
        if workload in self.mix:
            return describe_mix(self.mix[workload])
        if not self.requests:
            known = WORKLOADS.get(workload)
            return known.description if known else ""
        r = self.requests.get(workload)
        if r is None:
            return ""
        what = f"{r.method} {path_with_query(r.path, r.query)}, answering {r.status}"
        return f"{what}: {r.description}" if r.description else what

    def healthy(self, status: int) -> bool:
        """Whether a health-path answer says a server is up and well: a project's below 500
        (it may answer 404 or redirect there), benchapp's ``/healthz`` exactly 200."""
        return status < 500 if self.requests else status == 200

    def think_time_s(self, workload: str) -> float:
        """Each virtual user's pause after a request of the workload (a mix: its parts'
        pauses weighted by their shares)."""
        if workload in self.mix:
            return sum(share * self.think_time_s(p) for p, share in self.mix[workload].items())
        think = self.requests[workload].think_time_ms if self.requests else None
        return (self.think_time_ms if think is None else think) / 1000

    def slo_for(self, workload: str) -> Slo:
        """The SLO that applies to one workload."""
        return self.slo.get(workload, self.default_slo)

    def resolved(self) -> dict[str, Any]:
        """The scenario as run, plus each workload's request (method, path per flavor, body).

        This is the document the k6 script reads: it needs nothing else from Python.
        """
        doc = self.model_dump(mode="json", by_alias=True)
        # A project's requests are all kept: its SLOs may name those this run left out.
        names = list(self.requests) if self.requests else self.workloads
        sent = [part for name in names for part in self.parts(name)]
        doc["requests"] = {name: self.request(name) for name in dict.fromkeys(sent)}
        return doc

    def request(self, workload: str) -> dict[str, Any]:
        """The request k6 sends (and verification checks) for one workload: method, path
        (benchapp's with a ``{views}`` placeholder), query (with the scenario's ``params``),
        headers, body, the status a correct answer has and the pause after it."""
        if self.requests:
            r = self.requests[workload]
            return {
                **r.model_dump(mode="json"),
                "query": {**r.query, **self.params.get(workload, {})},
                "think_time_ms": self.think_time_ms if r.think_time_ms is None else r.think_time_ms,
            }
        w = WORKLOADS[workload]
        return {
            "method": w.method,
            "path": f"/{{views}}/{workload}",
            "query": {**w.query, **self.params.get(workload, {})},
            "headers": {},
            "body": w.body,
            "status": 201 if w.method == "POST" else 200,
            "contains": None,
            "think_time_ms": self.think_time_ms,
            "database": w.touches_db,
            "description": w.description,
        }
