"""The helm releases the Kubernetes backend installs: a variant, a latency proxy per side its
distance names, and a k6 Job per step."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from djbench.contracts import k6_step as contract
from djbench.contracts.chart_values import CHARTS
from djbench.contracts.server import server_values
from djbench.model.results import Distance, ProjectInfo
from djbench.model.scenario import Scenario
from djbench.model.setup import LoadStep, Setup
from djbench.model.variants import Variant
from latencyproxy.ping import PathName

# The charts it installs, by their Chart.yaml name (also their folder and values section).
VARIANT_CHART = "django-variant"
LOADTEST_CHART = "loadtest"
LATENCYPROXY_CHART = "latencyproxy"
SERVER_PORT = 8000
SERVER_CONTAINER = "server"
"""The variant chart's server container (its CPU and memory are the step's server side)."""
K6_CONTAINER = "k6"
K6_VERSION_CONTAINER = "k6-version"
"""The loadtest chart's containers: k6 itself, and the init container printing its version."""
STUB_SERVICE = "stubapi"
STUB_PORT = 8080
"""The stub API's Service (charts/stubapi: fullname and service.port)."""
POSTGRES_SERVICE = "postgres"
POSTGRES_PORT = 5432
"""Postgres' Service (charts/postgres), where the variant chart's database.host points."""
PROXY_CONTAINER = "latencyproxy"
PROXY_STATS_PORT = 8081
"""The latencyproxy chart's container and its statsPort (GET /stats)."""
PROXY_TARGETS: dict[PathName, tuple[str, int]] = {
    "db": (POSTGRES_SERVICE, POSTGRES_PORT),
    "upstream": (STUB_SERVICE, STUB_PORT),
}
"""What each side's proxy relays to; it listens on the same port, so a variant changes only
the host it connects to."""


INSTALL_TIMEOUT_S = 300
"""The longest a variant's or a proxy's release may take to become ready (helm's --timeout);
a pod that cannot become ready (unschedulable, its image not pulled, crashing) fails it at
once instead (``Kube.watched``)."""


PREPARE_TIMEOUT_S = 1800
"""…plus, with a prepare Job, its own deadline (the chart's prepare.activeDeadlineSeconds)."""


WATCH_SLACK_S = 30
"""The watch outlasts helm's own timeout by this much, so helm says first why it gave up."""


def variant_release(variant: Variant) -> str:
    """Helm release of a variant: its name (the chart names its Service after it)."""
    return variant.name


def set_json_args(values: dict[str, Any], prefix: str = "") -> list[str]:
    """``--set-json path=value`` for each leaf of nested values (types kept, as in a file)."""
    args = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            args += set_json_args(value, f"{prefix}{key}.")
        else:
            args += ["--set-json", f"{prefix}{key}={json.dumps(value)}"]
    return args


def variant_install_args(
    setup: Setup,
    scenario: Scenario,
    project: ProjectInfo | None = None,
    prepare: list[list[str]] | None = None,
) -> list[str]:
    """``helm`` arguments that install one variant (``upgrade --install``, idempotent): the
    measured server, the stub API's delays, the latency proxies its distance names; with
    ``prepare``, the commands its prepare Job runs once the server is ready."""
    return [
        "upgrade", "--install", variant_release(setup.variant), str(CHARTS / VARIANT_CHART),
        *set_json_args(server_values(setup, scenario, project)),
        "--set-json", f"prepare.commands={json.dumps(prepare or [])}",
        # One pod is the unit measured, whatever a cluster values file says (--set wins).
        "--set-json", "replicas=1",
        *proxy_routes(setup.distance),
    ]  # fmt: skip


def proxy_release(path: PathName) -> str:
    """Helm release of one side's latency proxy (the chart names its Service after it)."""
    return f"latencyproxy-{path}"


def proxy_sides(distance: Distance) -> list[tuple[PathName, float]]:
    """The sides a distance puts a proxy on, with their added round-trip times."""
    sides: list[tuple[PathName, float | None]] = [
        ("db", distance.db_rtt_ms),
        ("upstream", distance.upstream_rtt_ms),
    ]
    return [(path, rtt) for path, rtt in sides if rtt is not None]


def proxy_install_args(path: PathName, rtt_ms: float, jitter_ms: float) -> list[str]:
    """``helm`` arguments that install one side's proxy adding ``rtt_ms`` to each round trip
    (``--set-json``: a fraction stays a number, which the chart's schema asks for)."""
    host, port = PROXY_TARGETS[path]
    return [
        "upgrade", "--install", proxy_release(path), str(CHARTS / LATENCYPROXY_CHART),
        "--set-string", f"upstream.host={host}",
        "--set", f"upstream.port={port}",
        "--set", f"listenPort={port}",
        # Each direction waits half: a request and its answer together wait the round trip.
        "--set-json", f"delayMs={rtt_ms / 2:g}",
        "--set-json", f"jitterMs={jitter_ms:g}",
    ]  # fmt: skip


def proxy_routes(distance: Distance) -> list[str]:
    """``helm`` arguments pointing a variant at the proxies instead of their targets."""
    routes = {
        "db": f"database.host={proxy_release('db')}",
        "upstream": f"stubApi.url=http://{proxy_release('upstream')}:{STUB_PORT}",
    }
    return [arg for path, _ in proxy_sides(distance) for arg in ("--set-string", routes[path])]


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
    remote_write: str | None,
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
        *(
            ["--set-string", f"remoteWrite.url={remote_write}"]
            if remote_write
            else ["--set", "remoteWrite.enabled=false"]
        ),
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
