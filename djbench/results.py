"""The results contract (``djbench/results/v1``): models, writing step by step, loading.

Format history:
- v1: first version. ``runs[].steps[]`` per measured load step; warm-ups are not stored.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from djbench.errors import DjbenchError

SCHEMA = "djbench/results/v1"
RESULTS_FILE = "results.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class Latency(_Frozen):
    """Latency percentiles in milliseconds, from one full histogram."""

    p50: float
    p90: float
    p95: float
    p99: float
    max: float


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
    """Successful responses per second over the measured phase."""
    latency_ms: Latency
    """Latency of every request of the phase (failed ones included)."""
    cpu_s: float
    """CPU seconds (user + system) the server's process tree spent in the measured phase."""
    cpu_util: float
    """``cpu_s`` over the phase's duration and the server's CPU budget: 1.0 = budget used up."""
    cpu_ms_per_req: float
    """Server CPU milliseconds per successful response."""
    rss_mib: float
    """Peak resident memory of the server's process tree during the phase."""
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    load_cpu_s: float | None = None
    """CPU seconds k6 itself spent in the step: shows whether the load generator kept up."""
    infra_cpu_s: float | None = None
    """CPU seconds of Postgres and the stub API in the step (they share the load CPUs)."""
    throttled_s: float | None = None
    """Time the server's CPU quota throttled it during the step (None without a quota)."""

    @property
    def error_rate(self) -> float:
        """Errors as a fraction of requests (0 when nothing was sent)."""
        return self.errors / self.requests if self.requests else 0.0


class Run(_Frozen):
    """All steps of one variant on one workload."""

    variant: str
    server: str
    interface: Literal["wsgi", "asgi"]
    views: str
    workload: str
    status: Literal["ok", "failed"]
    error: str | None
    crossed: bool = False
    steps: list[Step] = Field(default_factory=list)


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


class Results(_Frozen):
    """One benchmark run: environment, the scenario as run, and every (variant, workload) run."""

    schema_: str = Field(alias="schema", default=SCHEMA)
    backend: Literal["local", "kubernetes"]
    started_at: str
    finished_at: str | None = None
    environment: Environment
    scenario: dict[str, Any]
    runs: list[Run] = Field(default_factory=list)

    def to_json(self) -> str:
        """Serialise with the contract's field names."""
        return self.model_dump_json(by_alias=True, indent=2)


def write_results(results: Results, out_dir: Path) -> Path:
    """Write ``results.json`` atomically, so a crash mid-write never leaves a torn file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / RESULTS_FILE
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".results-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        fh.write(results.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    Path(tmp).replace(target)
    return target


def load_results(path: Path) -> Results:
    """Read ``results.json`` (or a directory holding it), checking the schema version."""
    if path.is_dir():
        path = path / RESULTS_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise DjbenchError(f"{path}: no such file") from exc
    except json.JSONDecodeError as exc:
        raise DjbenchError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    schema = raw.get("schema") if isinstance(raw, dict) else None
    if schema != SCHEMA:
        raise DjbenchError(f"{path}: unsupported results schema {schema!r} (expected {SCHEMA})")
    try:
        return Results.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DjbenchError(f"{path}: invalid results at {where}: {first['msg']}") from exc
