"""Bad values are refused at render (hence install) time, with a message naming the value."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from helm_render import CHARTS, find, render, render_error, step_values

from djbench.model.scenario import Scenario
from djbench.model.scenario_file import load_profile

# (chart, release, values, what the message must name)
BAD_VALUES: list[tuple[str, str, dict[str, Any], list[str]]] = [
    # django-variant: one worker, Guaranteed QoS, known variant, an image.
    ("django-variant", "uvicorn", {"workers": 2}, ["workers=2", "allowMultipleWorkers"]),
    ("django-variant", "uvicorn", {"workers": 0}, ["/workers"]),
    ("django-variant", "uvicorn", {"variant": "nginx-unit"}, ["nginx-unit", "gunicorn-sync, "]),
    ("django-variant", "not-a-variant", {}, ['"not-a-variant"', "known variants"]),
    ("django-variant", "uvicorn", {"image": {"repository": ""}}, ["/image/repository"]),
    (
        "django-variant",
        "uvicorn",
        {"resources": {"limits": {"cpu": "500m", "memory": "512Mi"}}},
        ["resources.limits.cpu (500m)", "resources.requests.cpu (1)"],
    ),
    (
        "django-variant",
        "uvicorn",
        {"resources": {"limits": {"cpu": "2", "memory": "512Mi"}}},
        ["resources.limits.cpu (2)", "must equal"],
    ),
    (
        "django-variant",
        "uvicorn",
        {"resources": {"limits": {"cpu": "1", "memory": "256Mi"}}},
        ["resources.limits.memory (256Mi)", "resources.requests.memory (512Mi)"],
    ),
    ("django-variant", "uvicorn", {"resources": {"limits": None}}, ["/resources", "limits"]),
    (
        "django-variant",
        "uvicorn",
        {"resources": {"requests": {"cpu": "one"}}},
        ["/resources/requests/cpu"],
    ),
    ("django-variant", "uvicorn", {"threads": 0}, ["/threads"]),
    ("django-variant", "uvicorn", {"replicas": 0}, ["/replicas"]),
    ("django-variant", "uvicorn", {"app": {"asgi": "team asgi"}}, ["/app/asgi"]),
    ("django-variant", "uvicorn", {"settingsModule": "shop settings"}, ["/settingsModule"]),
    ("django-variant", "uvicorn", {"healthPath": "up"}, ["/healthPath"]),
    ("django-variant", "uvicorn", {"prepare": {"commands": [[]]}}, ["/prepare/commands/0"]),
    ("django-variant", "uvicorn", {"prepare": {"commands": ["migrate"]}}, ["/prepare/commands/0"]),
    ("django-variant", "uvicorn", {"prepare": {"command": [["x"]]}}, ["command"]),
    ("django-variant", "uvicorn", {"database": {"host": ""}}, ["/database/host"]),
    # postgres
    ("postgres", "postgres", {"image": {"repository": ""}}, ["/image/repository"]),
    ("postgres", "postgres", {"maxConnections": 0}, ["/maxConnections"]),
    ("postgres", "postgres", {"seed": {"rows": "many"}}, ["/seed/rows"]),
    (
        "postgres",
        "postgres",
        {"seed": {"image": {"repository": "x", "tag": ""}}},
        ["/seed/image/tag"],
    ),
    ("postgres", "postgres", {"exporter": {"enabled": False}}, ["podMonitor.enabled", "exporter"]),
    ("postgres", "postgres", {"password": "hunter2"}, ["additional properties 'password'"]),
    # stubapi
    ("stubapi", "stubapi", {"image": {"repository": ""}}, ["/image/repository"]),
    ("stubapi", "stubapi", {"replicas": 0}, ["/replicas"]),
    ("stubapi", "stubapi", {"podMonitor": {"interval": "5"}}, ["/podMonitor/interval"]),
    # latencyproxy: Guaranteed QoS on CPU quantities, the jitter within the delay, two ports.
    ("latencyproxy", "latencyproxy-db", {"image": {"repository": ""}}, ["/image/repository"]),
    ("latencyproxy", "latencyproxy-db", {"delayMs": -1}, ["/delayMs"]),
    ("latencyproxy", "latencyproxy-db", {"delayMs": "20"}, ["/delayMs"]),
    ("latencyproxy", "latencyproxy-db", {"delayMs": 60001}, ["/delayMs"]),
    (
        "latencyproxy",
        "latencyproxy-db",
        {"delayMs": 10, "jitterMs": 12},
        ["jitterMs (12) must not exceed delayMs (10)"],
    ),
    ("latencyproxy", "latencyproxy-db", {"upstream": {"host": ""}}, ["/upstream/host"]),
    ("latencyproxy", "latencyproxy-db", {"upstream": {"port": 0}}, ["/upstream/port"]),
    ("latencyproxy", "latencyproxy-db", {"statsPort": 5432}, ["listenPort and statsPort"]),
    (
        "latencyproxy",
        "latencyproxy-db",
        {"resources": {"requests": {"cpu": "half", "memory": "128Mi"}}},
        ["/resources/requests/cpu"],
    ),
    (
        "latencyproxy",
        "latencyproxy-db",
        {"resources": {"limits": {"cpu": "2", "memory": "128Mi"}}},
        ["resources.limits.cpu (2)", "resources.requests.cpu (1)", "Guaranteed QoS"],
    ),
    (
        "latencyproxy",
        "latencyproxy-db",
        {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
        ["resources.limits.memory (1Gi)", "resources.requests.memory (128Mi)"],
    ),
    ("latencyproxy", "latencyproxy-db", {"replicas": 2}, ["additional properties 'replicas'"]),
    # dashboards
    ("dashboards", "djbench-dashboards", {"sidecar": {"label": ""}}, ["/sidecar/label"]),
]

STEP = step_values("uvicorn", "async")
BAD_STEPS: list[tuple[dict[str, Any], list[str]]] = [
    ({"workload": "nope"}, ['workload "nope"', "db-read"]),
    ({"model": "half-open"}, ["/model"]),
    ({"level": 0}, ["/level"]),
    ({"parallelism": 0}, ["/parallelism"]),
    ({"maxVUs": 0}, ["/maxVUs"]),
    ({"maxVUs": 2.5}, ["/maxVUs"]),
    ({"preVUs": 0}, ["/preVUs"]),
    ({"preVUs": 2.5}, ["/preVUs"]),
    ({"views": "sideways"}, ["/views"]),
    ({"target": "uvicorn:8000"}, ["/target"]),
    ({"target": ""}, ["target is required"]),
    ({"image": {"repository": ""}}, ["/image/repository"]),
    ({"remoteWrite": {"url": "prometheus:9090"}}, ["/remoteWrite/url"]),
]


@pytest.mark.parametrize(
    ("chart", "release", "values", "named"),
    BAD_VALUES,
    ids=[f"{c}-{'-'.join(v) or r}" for c, r, v, _ in BAD_VALUES],
)
def test_refused_naming_the_value(
    helm: Path, chart: str, release: str, values: dict[str, Any], named: list[str]
) -> None:
    message = render_error(chart, release, values)
    for text in named:
        assert text in message, f"{text!r} not in: {message}"


@pytest.mark.parametrize(("overrides", "named"), BAD_STEPS, ids=["-".join(o) for o, _ in BAD_STEPS])
def test_bad_step_refused(
    helm: Path, scenario_file: Path, overrides: dict[str, Any], named: list[str]
) -> None:
    message = render_error(
        "loadtest", "k6-0001", {**STEP, **overrides}, set_files={"scenario": scenario_file}
    )
    for text in named:
        assert text in message, f"{text!r} not in: {message}"


def test_step_without_scenario_refused(helm: Path) -> None:
    assert "scenario is required" in render_error("loadtest", "k6-0001", STEP)


def test_step_with_a_scenario_that_is_not_json(helm: Path, tmp_path: Path) -> None:
    bad = tmp_path / "scenario.json"
    bad.write_text("name: smoke\n")
    message = render_error("loadtest", "k6-0001", STEP, set_files={"scenario": bad})
    assert "scenario is not valid JSON" in message


def test_step_with_an_unresolved_scenario(helm: Path, tmp_path: Path) -> None:
    """The scenario file as written by a user (no `requests`) is not what k6 reads."""
    raw = load_profile("smoke").model_dump(mode="json")
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(raw))
    message = render_error("loadtest", "k6-0001", STEP, set_files={"scenario": path})
    assert 'workload "upstream" is not in the scenario' in message


def test_unknown_server_refused(helm: Path, tmp_path: Path) -> None:
    """A variant whose server the image does not provide (variants.yaml edited by hand)."""
    chart = tmp_path / "django-variant"
    shutil.copytree(CHARTS / "django-variant", chart)  # the variants.yaml link is copied as a file
    (chart / "variants.yaml").write_text(
        "waitress:\n  server: waitress\n  interface: wsgi\n  views: sync\n  threads: 4\n"
        '  argv: [waitress-serve, "--threads={threads}", "--port={port}", "{workers}"]\n'
    )
    message = render_error(chart, "waitress")
    assert 'server "waitress" is unknown' in message


def test_a_mix_is_a_workload_of_the_step_and_an_unknown_one_is_refused(
    helm: Path, tmp_path: Path
) -> None:
    """A mix's name is the step's workload (k6 sends its parts' requests); a name that is
    neither a request nor a mix is refused, both kinds listed."""
    scenario = Scenario.model_validate(
        {"workloads": ["half"], "mix": {"half": {"sleep": 1, "cpu": 1}}}
    )
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario.resolved()))
    rendered = render(
        "loadtest", "k6-0001", {**STEP, "workload": "half"}, set_files={"scenario": path}
    )
    assert find(rendered, "Job", "k6-0001")
    message = render_error(
        "loadtest", "k6-0001", {**STEP, "workload": "nope"}, set_files={"scenario": path}
    )
    assert (
        'workload "nope" is not in the scenario\'s requests or mixes (cpu, half, sleep)' in message
    )
