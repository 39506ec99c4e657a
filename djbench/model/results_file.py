"""``results.json``: written after every change (atomically), read with its schema checked,
older versions upgraded on the way in (their history: ``djbench.model.results``)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from djbench.model.errors import DjbenchError
from djbench.model.pod import Shape
from djbench.model.results import SCHEMA, CpuSource, Results

SCHEMA_V7 = "djbench/results/v7"


SCHEMA_V6 = "djbench/results/v6"


SCHEMA_V5 = "djbench/results/v5"


SCHEMA_V4 = "djbench/results/v4"


SCHEMA_V3 = "djbench/results/v3"


SCHEMA_V2 = "djbench/results/v2"


SCHEMA_V1 = "djbench/results/v1"


RESULTS_FILE = "results.json"


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
    upgrades = {
        SCHEMA_V1: upgrade_v1,
        SCHEMA_V2: upgrade_v2,
        SCHEMA_V3: upgrade_v3,
        SCHEMA_V4: upgrade_v4,
        SCHEMA_V5: upgrade_v5,
        SCHEMA_V6: upgrade_v6,
        SCHEMA_V7: upgrade_v7,
    }
    if schema != SCHEMA and schema not in upgrades:
        known = ", ".join([SCHEMA, *reversed(upgrades)])
        raise DjbenchError(f"{path}: unsupported results schema {schema!r} (expected {known})")
    while schema != SCHEMA:
        raw = upgrades[schema](raw)
        schema = raw["schema"]
    try:
        return Results.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DjbenchError(f"{path}: invalid results at {where}: {first['msg']}") from exc


V1_CLIENT = "httpx"


V1_POOL = 1000
"""What every v1 run that called the stub API used: httpx with a 1000-connection pool."""


def upgrade_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """A v1 document as v2 (:func:`upgrade_v2` takes it on to v3): the client v1 always used
    (its version from the environment), the scenario saying so, and slots from today's variant
    definitions."""
    from benchapp.catalog import WORKLOADS
    from djbench.model.variants import load_variants

    variants = load_variants()
    scenario = raw.get("scenario")
    scenario = dict(scenario) if isinstance(scenario, dict) else {}
    threads = scenario.get("threads")
    scenario["upstream_clients"] = {"sync": [V1_CLIENT], "async": [V1_CLIENT]}
    scenario["upstream_connections"] = V1_POOL
    environment = raw.get("environment")
    libraries = environment.get("libraries") if isinstance(environment, dict) else None
    version = libraries.get("httpx") if isinstance(libraries, dict) else None
    client = {"name": V1_CLIENT, "version": str(version or "unknown"), "max_connections": V1_POOL}
    runs = []
    for run in raw.get("runs") or []:
        if not isinstance(run, dict):
            runs.append(run)
            continue
        workload = WORKLOADS.get(str(run.get("workload")))
        variant = variants.get(str(run.get("variant")))
        extra: dict[str, Any] = {
            "client": client if workload and workload.touches_upstream else None,
            "slots": variant.slots(Shape(threads=threads) if threads else None)
            if variant
            else None,
        }
        runs.append({**run, **extra})
    return {**raw, "schema": SCHEMA_V2, "scenario": scenario, "runs": runs}


V2_CPU_SOURCES: dict[str, CpuSource] = {"local": "process-tree", "kubernetes": "cadvisor"}
"""Where each backend read the server's CPU before v3."""


def upgrade_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """A v2 document as v3 (:func:`upgrade_v3` takes it on to v4): measured steps name the
    source their backend then read CPU from."""
    source = V2_CPU_SOURCES.get(str(raw.get("backend")))
    runs = []
    for run in raw.get("runs") or []:
        if isinstance(run, dict) and isinstance(run.get("steps"), list):
            steps = [
                {**step, "cpu_source": source}
                if isinstance(step, dict) and step.get("status", "ok") == "ok"
                else step
                for step in run["steps"]
            ]
            run = {**run, "steps": steps}
        runs.append(run)
    return {**raw, "schema": SCHEMA_V3, "runs": runs}


def upgrade_v3(raw: dict[str, Any]) -> dict[str, Any]:
    """A v3 document as v4: before the latency proxy every connection was direct, which is
    what a run without ``distance`` reads as."""
    return {**raw, "schema": SCHEMA_V4}


def upgrade_v4(raw: dict[str, Any]) -> dict[str, Any]:
    """A v4 document as v5 (:func:`upgrade_v5` takes it on to v6): every run before v5
    measured benchapp (no ``project``)."""
    return {**raw, "schema": SCHEMA_V5}


def upgrade_v5(raw: dict[str, Any]) -> dict[str, Any]:
    """A v5 document as v6 (:func:`upgrade_v6` takes it on to v7): its steps are ok or
    failed as recorded (none was called saturated), with no outside CPU, load average or
    restart read; a fault names its run by the label it recorded (``uvicorn · aiohttp``),
    kept whole as the variant."""
    faults = [
        {**{k: v for k, v in f.items() if k != "run"}, "variant": f.get("run", "")}
        if isinstance(f, dict)
        else f
        for f in raw.get("faults") or []
    ]
    return {**raw, "schema": SCHEMA_V6, "faults": faults}


def upgrade_v6(raw: dict[str, Any]) -> dict[str, Any]:
    """A v6 document as v7 (:func:`upgrade_v7` takes it on to v8): before the shape was an
    axis every run had its variant's standard shape, which is what a run without ``shape``
    reads as."""
    return {**raw, "schema": SCHEMA_V7}


def upgrade_v7(raw: dict[str, Any]) -> dict[str, Any]:
    """A v7 document as v8: before mixes no step had parts, which is what a step without
    ``parts`` reads as."""
    return {**raw, "schema": SCHEMA}


def stored_schema(path: Path) -> str:
    """The results version a file was written in (``load_results`` upgrades it on reading)."""
    if path.is_dir():
        path = path / RESULTS_FILE
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return "unreadable"
    return str(raw.get("schema")) if isinstance(raw, dict) else "unreadable"
