"""The loadtest chart: one k6 step as an Indexed Job running the repository's script."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from helm_render import (
    ROOT,
    Manifest,
    configmap_data,
    find,
    pod_spec,
    pod_template,
    render,
    step_values,
)

from djbench.contracts import k6_step as contract
from djbench.model.scenario import OpenModel

K6_DIR = ROOT / "k6"


def step(scenario_file: Path, **overrides: object) -> list[Manifest]:
    values = step_values("gunicorn-gthread", "sync", **overrides)
    return render("loadtest", "k6-0001", values, set_files={"scenario": scenario_file})


@pytest.mark.parametrize("parallelism", [1, 3])
def test_indexed_job(helm: Path, scenario_file: Path, parallelism: int) -> None:
    job = find(step(scenario_file, parallelism=parallelism), "Job", "k6-0001")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == parallelism
    assert spec["backoffLimit"] == 0
    assert spec["ttlSecondsAfterFinished"] == 3600
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    env = {e["name"]: e for e in spec["template"]["spec"]["containers"][0]["env"]}
    assert env["DJBENCH_PARALLELISM"]["value"] == str(parallelism)
    assert env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )


def test_environment_of_the_script(helm: Path, scenario_file: Path) -> None:
    objects = step(scenario_file, model="open", level=120.5, run="20250102T030405Z")
    container = pod_spec(find(objects, "Job", "k6-0001"))["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DJBENCH_TARGET"] == "http://gunicorn-gthread:8000"
    assert env["DJBENCH_VARIANT"] == "gunicorn-gthread"
    assert env["DJBENCH_VIEWS"] == "sync"
    assert env["DJBENCH_WORKLOAD"] == "upstream"
    assert env["DJBENCH_MODEL"] == "open"
    assert env["DJBENCH_LEVEL"] == "120.5"
    assert env["DJBENCH_RUN"] == "20250102T030405Z"
    # The default: the scenario's default ceiling (the harness passes each step's own).
    assert env["DJBENCH_MAX_VUS"] == str(OpenModel().max_vus)
    # A modest preallocation by default: each allocated VU holds a keep-alive connection.
    assert env["DJBENCH_PRE_VUS"] == "64"
    assert env["K6_PROMETHEUS_RW_SERVER_URL"].endswith("/api/v1/write")
    assert env["K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM"] == "true"
    assert re.fullmatch(r"\d+s", env["K6_PROMETHEUS_RW_PUSH_INTERVAL"])
    args = container["args"]
    assert args[args.index("--out") + 1] == "experimental-prometheus-rw"
    assert "DJBENCH_SUMMARY" not in env, "the summary goes to stdout, the pod log"


def test_remote_write_can_be_off(helm: Path, scenario_file: Path) -> None:
    objects = step(scenario_file, remoteWrite={"enabled": False})
    container = pod_spec(find(objects, "Job", "k6-0001"))["containers"][0]
    assert "--out" not in container["args"]
    assert not [e for e in container["env"] if e["name"].startswith("K6_PROMETHEUS_RW")]


def test_labels_name_run_variant_workload_and_step(helm: Path, scenario_file: Path) -> None:
    objects = step(scenario_file, model="open", level=12.5, workload="db-read")
    expected = {
        "djbench.io/run": "20250101T000000Z",
        "djbench.io/variant": "gunicorn-gthread",
        "djbench.io/workload": "db-read",
        "djbench.io/step": "open-12.5",
    }
    job = find(objects, "Job", "k6-0001")
    assert expected.items() <= job["metadata"]["labels"].items()
    assert expected.items() <= pod_template(job)["metadata"]["labels"].items()


def test_script_is_the_repository_script(helm: Path, scenario_file: Path) -> None:
    """The ConfigMap holds k6/ as is, mounted in the same layout, so its imports resolve."""
    objects = step(scenario_file)
    data = configmap_data(objects, "k6-0001-script")
    spec = pod_spec(find(objects, "Job", "k6-0001"))
    volume = next(v for v in spec["volumes"] if v["name"] == "script")
    layout = {item["path"]: data[item["key"]] for item in volume["configMap"]["items"]}
    on_disk = {str(p.relative_to(K6_DIR)): p.read_text() for p in K6_DIR.rglob("*.js")}
    assert layout == on_disk
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "script")
    script = spec["containers"][0]["args"][-1]
    assert script == f"{mount['mountPath']}/bench.js"
    for path, text in layout.items():
        for imported in re.findall(r"from '(\./[^']+)'", text):
            resolved = (Path(path).parent / imported).as_posix().removeprefix("./")
            assert resolved in layout, f"{path} imports {imported}, not mounted"


def test_scenario_is_the_given_document(helm: Path, scenario_file: Path) -> None:
    objects = step(scenario_file)
    stored = configmap_data(objects, "k6-0001-scenario")["scenario.json"]
    assert json.loads(stored) == json.loads(scenario_file.read_text())
    spec = pod_spec(find(objects, "Job", "k6-0001"))
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "scenario")
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert env["DJBENCH_SCENARIO"] == f"{mount['mountPath']}/scenario.json"


def test_k6_image_is_a_value(helm: Path, scenario_file: Path) -> None:
    objects = step(scenario_file, image={"repository": "registry.example.com/k6", "tag": "1.2.0"})
    container = pod_spec(find(objects, "Job", "k6-0001"))["containers"][0]
    assert container["image"] == "registry.example.com/k6:1.2.0"
    default = pod_spec(find(step(scenario_file), "Job", "k6-0001"))["containers"][0]
    assert default["image"] == "grafana/k6:1.1.0"


def test_environment_is_the_k6_contracts_kubernetes_side(helm: Path, scenario_file: Path) -> None:
    """The Job sets every variable of the contract (djbench.contracts.k6_step) the Kubernetes side
    sets, and no other DJBENCH_ one; each chart-backed variable comes from its value."""
    objects = step(scenario_file)
    env = pod_spec(find(objects, "Job", "k6-0001"))["containers"][0]["env"]
    ours = {e["name"] for e in env if e["name"].startswith(("DJBENCH_", "JOB_"))}
    assert ours == contract.names("both", "kubernetes")
    defaults = yaml.safe_load((ROOT / "charts" / "loadtest" / "values.yaml").read_text())
    for var in contract.ENV:
        if var.chart_value is not None:
            assert var.chart_value in defaults, f"{var.name}: no chart value {var.chart_value}"
    # Each chart-backed variable follows its value.
    values = {
        "target": "http://t:1", "variant": "v-x", "views": "async", "workload": "db-read",
        "model": "open", "level": 2.5, "run": "r-x", "client": "c-x", "parallelism": 3,
        "warmupS": 1.5, "durationS": 12, "maxVUs": 300, "preVUs": 40,
    }  # fmt: skip
    assert {v.chart_value for v in contract.ENV} - {None} == set(values)
    objects = render("loadtest", "k6-0001", values, set_files={"scenario": scenario_file})
    env = pod_spec(find(objects, "Job", "k6-0001"))["containers"][0]["env"]
    by_name = {e["name"]: e.get("value") for e in env}
    for var in contract.ENV:
        if var.chart_value is not None:
            assert by_name[var.name] == str(values[var.chart_value]), var.name


@pytest.mark.parametrize("level", [12.5, 32, 153.6, 0.5, 1e-3, 1e-7, 1234567, 12.3456789])
def test_level_and_step_label_are_written_as_k6_writes_them(
    helm: Path, scenario_file: Path, level: float
) -> None:
    objects = step(scenario_file, model="open", level=level)
    job = find(objects, "Job", "k6-0001")
    env = {e["name"]: e.get("value") for e in pod_spec(job)["containers"][0]["env"]}
    assert env[contract.LEVEL] == contract.format_level(level)
    assert job["metadata"]["labels"]["djbench.io/step"] == contract.step_tag("open", level)


def test_containers_are_the_ones_the_backend_reads(helm: Path, scenario_file: Path) -> None:
    """The backend reads the k6 summary from K6_CONTAINER's log and k6's version from
    K6_VERSION_CONTAINER's; the init container runs the same image, as locked down as k6."""
    from djbench.backends.kubernetes.releases import K6_CONTAINER, K6_VERSION_CONTAINER

    spec = pod_spec(find(step(scenario_file), "Job", "k6-0001"))
    [k6] = spec["containers"]
    [version] = spec["initContainers"]
    assert (k6["name"], version["name"]) == (K6_CONTAINER, K6_VERSION_CONTAINER)
    assert version["command"] == ["k6", "version"]
    assert version["image"] == k6["image"]
    assert version["securityContext"] == k6["securityContext"]
    assert version["resources"] == k6["resources"]
