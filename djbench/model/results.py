"""The results contract (``djbench/results/v8``): models, writing step by step, loading.

Format history:
- v1: first version. ``runs[].steps[]`` per measured load step; warm-ups are not stored.
- v2: the upstream HTTP client is part of a run (``runs[].client``: name, version, pool size;
  null when the workload makes no upstream calls), with the server's concurrent request slots
  (``runs[].slots``: threads, null when unbounded); steps of workloads that call the stub API
  record its traffic (``steps[].upstream``: connections, calls, peak in flight). v1 files still
  load: their runs read as made with httpx 0.28 (the only client v1 had), and their slots
  come from today's variant definitions.
- v3: each step says where its server CPU and memory figures come from (``steps[].cpu_source``:
  the process tree locally, the container's cgroup counters or cAdvisor on Kubernetes) and, on
  Kubernetes, what cAdvisor saw of the same window (``steps[].cadvisor_cpu_s``) as a
  cross-check. Runs are repeated in rounds (``runs[].round``: 0 for the survey of every
  candidate, 1… for the confirmation rounds of each workload's leaders; ``runs[].purpose``:
  survey, search of a leader's capacity, or confirmation). An infrastructure
  fault (Postgres or the stub API gone) stops the run and is recorded (``faults``). v2 files
  load with the source each backend then used (local: the process tree, Kubernetes:
  cAdvisor) and every run as round 0; v1 files as v2, then v3.
- v4: network distance. A run records the round-trip time the latency proxy added between
  its server and Postgres and between its server and the stub API (``runs[].distance``; a
  null side: a direct connection, no proxy), and the round-trip times measured through each
  proxy before the run (``runs[].paths``). Steps record what each proxy relayed
  (``steps[].db_path``, ``steps[].upstream_path``: connections, round trips, the proxy's CPU).
  v3 files load as v4 with direct connections.
- v5: a team's project (``project``: its name, file, settings, entry points, database and
  environment; null: benchapp); steps record the database connections the server held at
  peak (``steps[].db_connections``) and those Postgres refused (``steps[].db_refused``). v4
  files load as v5 with no project.
- v6: overload is a result: a step without one successful response above a step of the same
  run that was measured is ``saturated`` (``steps[].status``), and the run stays ok. Steps
  record the CPU time something other than the server spent on the server's CPUs
  (``steps[].outside_cpu_s``; null where not read), runs the machine's load average when
  they began (``runs[].load_average``: 1, 5 and 15 minutes) and why their server was
  restarted on the way (``runs[].restarts``); a project records the build commands it ran
  and the entry points djbench supplied (``project.build``, ``project.defaulted``). A fault
  names its run by data (``faults[].variant``, ``client``, ``distance``), not a display label.
  v5 files load as v6 with none of these, a fault's label kept as its variant.
- v7: the pod's shape is an axis. A run of a scenario that sets ``threads``, ``workers`` or
  ``cpus`` records the shape its server was started in (``runs[].shape``: threads per worker,
  null where the worker holds requests otherwise; worker processes; the CPU budget), and its
  slots are workers × threads; a fault names that shape too (``faults[].shape``). A run without
  one had the variant's standard shape (one worker of its own threads on the run's CPU
  budget). On Kubernetes a run records its server's pod (``runs[].pod``: its name, QoS class,
  CPU request and limit, and whether the static CPU manager could give it CPUs of its own).
  v6 files load as v7 with every run in its standard shape and no pod.
- v8: a traffic mix is a workload (the scenario's ``mix``). A step of a mix records each of
  its parts (``steps[].parts``: the part's name, the share asked for, the requests of it
  started in the window, its errors and latency); the step's own figures are the whole
  mix's. v7 files load as v8 with no parts.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from djbench.model.pod import PodFacts, Shape

SCHEMA = "djbench/results/v8"


CpuSource = Literal["process-tree", "cgroup", "cadvisor"]


StepStatus = Literal["ok", "failed", "saturated"]
"""``ok``: measured; ``failed``: no measurement (its error says why); ``saturated``: not one
successful response, above a step of the same run that was measured (overload, a result)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class Latency(_Frozen):
    """Latency percentiles in milliseconds, from one full histogram."""

    p50: float
    p90: float
    p95: float
    p99: float
    max: float


class UpstreamTraffic(_Frozen):
    """What the stub API saw of one measured step (the server's upstream calls)."""

    connections: int
    """TCP connections the stub accepted in the window: reuse keeps this far below ``calls``."""
    calls: int
    """Upstream calls started in the window."""
    peak_in_flight: int
    """Most calls in flight at once (100 ms resolution)."""

    @property
    def connections_per_call(self) -> float | None:
        """New connections per call: about 0 when the client reuses them, 1 when it churns."""
        return self.connections / self.calls if self.calls else None


class ProxyTraffic(_Frozen):
    """What one latency proxy relayed in a measured step (the server's side of a path)."""

    connections: int
    """TCP connections the server opened through the proxy in the window."""
    round_trips: int
    """Turns of the conversation: server-to-target data after target-to-server data (each
    query or call waits one added round-trip time for its answer)."""
    cpu_s: float
    """CPU seconds the proxy spent in the step (it shares the load CPUs)."""

    def per_request(self, requests: float) -> tuple[float, float] | None:
        """Connections and round trips per served request (None when nothing was served)."""
        if requests <= 0:
            return None
        return self.connections / requests, self.round_trips / requests


class Part(_Frozen):
    """One part of a traffic mix in one measured step: what k6 sent of it, how it answered."""

    name: str
    share: float
    """The share of the mix's requests the scenario asked for."""
    requests: int
    """Requests of the part started in the measured window: their share is the mix sent."""
    errors: int
    latency_ms: Latency


def load_label(model: str, level: float | None) -> str:
    """The load a step applies, written one way everywhere: ``c=32`` (closed model: VUs) or
    ``150/s`` (open model: arrivals per second)."""
    if model == "closed":
        return f"c={level or 0:g}"
    return f"{level or 0:g}/s"


class Step(_Frozen):
    """One measured load step: client-side numbers from k6, server-side from the collectors."""

    model: Literal["closed", "open"]
    concurrency: int | None
    rate: float | None
    duration_s: float
    requests: int
    errors: int
    dropped: int
    rps: float
    """Successful responses per second over the measured phase: completions credited to the
    window by the share of each response's time inside it (not phase-quantized)."""
    latency_ms: Latency
    """Latency of every request of the phase (failed ones included)."""
    cpu_s: float
    """CPU seconds (user + system) the server's process tree spent in the measured phase."""
    cpu_util: float
    """``cpu_s`` over the phase's duration and the server's CPU budget: 1.0 = budget used up."""
    cpu_ms_per_req: float
    """Server CPU milliseconds per successful response (the same credited completions)."""
    rss_mib: float
    """Peak resident memory of the server's process tree during the phase."""
    status: StepStatus = "ok"
    error: str | None = None
    """Why a step that is not ok has no measurement (a saturated one: what its load got)."""
    load_cpu_s: float | None = None
    """CPU seconds k6 itself spent in the step: shows whether the load generator kept up."""
    infra_cpu_s: float | None = None
    """CPU seconds of Postgres and the stub API in the step (they share the load CPUs)."""
    throttled_s: float | None = None
    """Time the server's CPU quota throttled it during the step (None without a quota, e.g.
    exclusive CPUs of Kubernetes' static CPU manager: nothing can throttle it)."""
    cpu_source: CpuSource | None = None
    """Where ``cpu_s``, ``rss_mib`` and ``throttled_s`` come from (None: the step failed)."""
    cadvisor_cpu_s: float | None = None
    """cAdvisor's CPU seconds of the server in the same window, when Prometheus held enough
    samples (Kubernetes): a cross-check of ``cpu_s`` read from the cgroup."""
    upstream: UpstreamTraffic | None = None
    """The stub API's view of the step, for workloads that call it (None otherwise)."""
    db_path: ProxyTraffic | None = None
    """The latency proxy between the server and Postgres (None: a direct connection)."""
    db_connections: int | None = None
    """The most client connections the database held at once during the step (the server's,
    nearly all); None where not read (Kubernetes, a team's own database)."""
    db_refused: int | None = None
    """Connections Postgres refused during the step for want of a free one (its
    ``max_connections`` reached); None where not read (Kubernetes, a team's own database)."""
    upstream_path: ProxyTraffic | None = None
    """The latency proxy between the server and the stub API (None: a direct connection)."""
    outside_cpu_s: float | None = None
    """CPU seconds something other than the server spent on the server's CPUs in the
    window (another program, the kernel's own work); None where not read (Kubernetes)."""
    parts: list[Part] | None = None
    """Each part of a traffic mix (None: the step's workload is not a mix)."""

    @property
    def load_label(self) -> str:
        """``c=32`` or ``150/s``."""
        return load_label(self.model, self.concurrency if self.model == "closed" else self.rate)

    @property
    def measured(self) -> bool:
        """Whether the step is a measurement (ok): not failed, not saturated."""
        return self.status == "ok"

    @property
    def error_rate(self) -> float:
        """Errors as a fraction of requests (0 when nothing was sent)."""
        return self.errors / self.requests if self.requests else 0.0


class ClientInfo(_Frozen):
    """The HTTP client a run's views made their upstream calls with."""

    name: str
    """A name from ``benchapp.catalog.UPSTREAM_CLIENTS``."""
    version: str
    max_connections: int
    """The client's pool limit (sized for the run's peak number of calls in flight)."""


class Distance(_Frozen):
    """Round-trip time the latency proxy adds between the server and what it waits on; None
    on a side: a direct connection (no proxy in the path)."""

    db_rtt_ms: float | None = None
    upstream_rtt_ms: float | None = None

    @property
    def label(self) -> str:
        """``direct``, ``db +100 ms`` or ``db +1 ms · upstream +50 ms``, as tables show it."""
        sides = [
            f"{name} +{rtt:g} ms"
            for name, rtt in (("db", self.db_rtt_ms), ("upstream", self.upstream_rtt_ms))
            if rtt is not None
        ]
        return " · ".join(sides) or "direct"


DIRECT = Distance()


class PathCheck(_Frozen):
    """The round-trip time added through one proxy, measured before a run at its concurrency."""

    path: Literal["db", "upstream"]
    target_ms: float
    connections: int
    p50_ms: float
    p99_ms: float
    """Added round-trip time (through the proxy minus direct), in milliseconds."""
    ok: bool
    """Both percentiles within the tolerance of the target (``djbench.measure.pathcheck``)."""
    attempts: int = 1
    """Measurements taken: a check off target is measured again, up to a few times."""
    noise_ms: float | None = None
    """What the straight path's own spread (p99 − p50) added to the p99's tolerance: pod
    networking's (Kubernetes), or a busy machine's beyond 1 ms (locally); None: nothing."""
    proxy_cpu: str | None = None
    """The CPU the proxy was given (a Kubernetes quantity, ``200m``); None: locally, where
    it shares the load CPUs."""


CandidateKey = tuple[str, str | None, Shape | None]
"""What makes runs of one workload comparable candidates: variant, upstream client, shape."""


class Run(_Frozen):
    """All steps of one variant (with one upstream client) on one workload."""

    variant: str
    server: str
    interface: Literal["wsgi", "asgi"]
    views: str
    workload: str
    status: Literal["ok", "failed"]
    error: str | None
    crossed: bool = False
    client: ClientInfo | None = None
    """The upstream client, for workloads that call the stub API (None otherwise)."""
    slots: int | None = None
    """Requests the server works on at once: its workers × threads; None when unbounded
    (async, gevent)."""
    shape: Shape | None = None
    """The pod's shape the server was started in, where the scenario made the shape an
    axis; None: the variant's standard shape (one worker of its own threads on the run's
    CPU budget)."""
    round: int = 0
    """0: the survey of every candidate (and the search of the leaders' capacity); 1 and on:
    confirmation rounds of the leaders."""
    purpose: Literal["survey", "search", "confirm"] = "survey"
    """``survey``: the ladder (the curves); ``search``: open-model steps bisecting a leader's
    capacity at SLO; ``confirm``: a leader's capacity measured again."""
    distance: Distance = DIRECT
    """Round-trip times added between the server and Postgres / the stub API."""
    paths: list[PathCheck] = Field(default_factory=list)
    """The added round-trip times measured through each proxy before the run."""
    steps: list[Step] = Field(default_factory=list)
    load_average: tuple[float, float, float] | None = None
    """The machine's load average (1, 5, 15 min) when the run began; None where not read."""
    restarts: list[str] = Field(default_factory=list)
    """Why the run's server was restarted on the way (it answered 500, stayed busy...)."""
    pod: PodFacts | None = None
    """On Kubernetes, the server's pod as the cluster made it (its QoS class, its CPU);
    None locally."""

    @property
    def key(self) -> CandidateKey:
        """What makes runs of one workload comparable candidates: variant, client and shape."""
        return self.variant, self.client.name if self.client else None, self.shape


class Environment(_Frozen):
    """Versions and hardware: part of the result, as in pyperf's metadata."""

    python: str
    django: str
    k6: str
    cpu_model: str
    cpus: int
    servers: dict[str, str]
    libraries: dict[str, str] = Field(default_factory=dict)
    platform: str | None = None
    usable_cpus: list[int] = Field(default_factory=list)
    server_cpus: list[int] = Field(default_factory=list)
    load_cpus: list[int] = Field(default_factory=list)
    cpu_quota: bool | None = None
    postgres: str | None = None


class Fault(_Frozen):
    """A piece of infrastructure gone mid-run, and where the run was when it noticed."""

    message: str
    """The cause in one line, e.g. ``Postgres exited with signal 9 (SIGKILL)``."""
    workload: str
    variant: str
    """The variant of the run being measured (in files before v6: that run's label)."""
    client: str | None = None
    """Its upstream client, where the workload calls one."""
    distance: Distance = DIRECT
    shape: Shape | None = None
    """Its pod's shape, where the scenario made the shape an axis."""
    load: str | None = None
    """The step's load label, when the fault was noticed after a step."""


class ProjectInfo(_Frozen):
    """A team's project, measured in place of benchapp (``djbench run --project``)."""

    name: str
    file: str
    """Its ``djbench.yaml``."""
    settings: str
    entry_points: dict[str, str]
    """The entry point each interface served (``wsgi``, ``asgi``)."""
    database: str
    """Whose database it used: the one djbench prepared, or the team's own."""
    env: dict[str, str] = Field(default_factory=dict)
    """The servers' environment as its ``djbench.yaml`` gives it (placeholders unfilled)."""
    build: list[list[str]] = Field(default_factory=list)
    """The build commands run before the database was prepared (``build`` in the file)."""
    defaulted: list[str] = Field(default_factory=list)
    """Interfaces whose entry point the project lacks, served by Django's own application
    for its settings (``djbench.project.config.default_app``)."""


class Results(_Frozen):
    """One benchmark run: environment, the scenario as run, and every (variant, workload) run."""

    schema_: str = Field(alias="schema", default=SCHEMA)
    backend: Literal["local", "kubernetes"]
    started_at: str
    finished_at: str | None = None
    environment: Environment
    scenario: dict[str, Any]
    runs: list[Run] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)
    """Infrastructure faults that stopped the run: nothing measured after them counts."""
    project: ProjectInfo | None = None
    """The team's project the run measured; None: benchapp (every file before v5)."""

    def to_json(self) -> str:
        """Serialise with the contract's field names."""
        return self.model_dump_json(by_alias=True, indent=2)
