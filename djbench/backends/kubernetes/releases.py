"""The helm releases the Kubernetes backend installs: a variant, and a k6 Job per step."""

from __future__ import annotations

import json
import re
from pathlib import Path

from benchapp.catalog import DEFAULT_UPSTREAM_CLIENTS, client_kind
from djbench.kube import REPO
from djbench.load import contract
from djbench.plan import LoadStep, Setup
from djbench.scenario import Scenario
from djbench.variants import Variant

CHARTS = REPO / "charts"
# The charts it installs, by their Chart.yaml name (also their folder and values section).
VARIANT_CHART = "django-variant"
LOADTEST_CHART = "loadtest"
SERVER_PORT = 8000
SERVER_CONTAINER = "server"
"""The variant chart's server container (its CPU and memory are the step's server side)."""
K6_CONTAINER = "k6"
K6_VERSION_CONTAINER = "k6-version"
"""The loadtest chart's containers: k6 itself, and the init container printing its version."""


def variant_release(variant: Variant) -> str:
    """Helm release of a variant: its name (the chart names its Service after it)."""
    return variant.name


def variant_install_args(setup: Setup, scenario: Scenario) -> list[str]:
    """``helm`` arguments that install one variant (``upgrade --install``, idempotent)."""
    variant = setup.variant
    pool = scenario.db_pool
    clients = {**DEFAULT_UPSTREAM_CLIENTS, client_kind(variant.views): setup.client}
    args = [
        "upgrade", "--install", variant_release(variant), str(CHARTS / VARIANT_CHART),
        "--set", f"variant={variant.name}",
        "--set", f"database.pool.min={pool.min_size}",
        "--set", f"database.pool.max={pool.max_size}",
        "--set", f"database.pool.timeoutSeconds={pool.timeout_s:g}",
        "--set-json", f"upstream.delaysMs={json.dumps(scenario.upstream_delays_ms)}",
        "--set-string", f"upstream.syncClient={clients['sync']}",
        "--set-string", f"upstream.asyncClient={clients['async']}",
        "--set", f"upstream.connections={scenario.upstream_pool_size}",
    ]  # fmt: skip
    if scenario.threads:
        args += ["--set", f"threads={scenario.threads}"]
    return args


def step_release(run_id: str, number: int) -> str:
    """Helm release (and Job) name of one k6 step: DNS-safe and short."""
    return f"k6-{re.sub(r'[^a-z0-9]', '', run_id.lower())[-20:]}-{number:04d}"


def step_install_args(
    release: str,
    server_url: str,
    setup: Setup,
    workload: str,
    step: LoadStep,
    *,
    run_id: str,
    scenario_file: Path,
    parallelism: int,
    remote_write: str,
    k6_image: str,
    deadline_s: int,
    warmup_s: float,
    duration_s: float,
    max_vus: int,
    pre_vus: int,
) -> list[str]:
    """``helm`` arguments that launch one step as a k6 Indexed Job (Job name = release).

    ``max_vus`` is the step's VU ceiling (``LoadStep.vus``) and ``pre_vus`` the VUs it
    allocates up front (``LoadStep.pre_vus``), both for all its pods together: k6's execution
    segments split them, with the arrival rate, across them."""
    variant = setup.variant
    # A tag is a ':' after the last '/': registry:5000/k6 has none.
    name_end = k6_image.rfind("/") + 1
    repository, _, tag = k6_image.rpartition(":")
    if ":" not in k6_image[name_end:]:
        repository, tag = k6_image, "latest"
    # The chart mounts the scenario at its own path: DJBENCH_SCENARIO is not a chart value.
    env = contract.step_env(
        scenario=str(scenario_file), target=server_url, views=variant.views, workload=workload,
        model=step.model, level=step.level, run=run_id, variant=variant.name, client=setup.client,
        warmup_s=warmup_s, duration_s=duration_s, max_vus=max_vus, pre_vus=pre_vus,
    )  # fmt: skip
    return [
        "upgrade", "--install", release, str(CHARTS / LOADTEST_CHART),
        *contract.chart_set_args(env),
        "--set", f"{contract.ENV_BY_NAME[contract.PARALLELISM].chart_value}={parallelism}",
        "--set-string", f"remoteWrite.url={remote_write}",
        "--set-file", f"scenario={scenario_file}",
        "--set-string", f"image.repository={repository}",
        "--set-string", f"image.tag={tag}",
        "--set", f"activeDeadlineSeconds={deadline_s}",
    ]  # fmt: skip


def cpu_quantity(text: str) -> float | None:
    """A Kubernetes CPU quantity ("1", "1500m", "0.5") in CPUs; None when empty or unknown."""
    text = text.strip()
    try:
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text) if text else None
    except ValueError:
        return None
