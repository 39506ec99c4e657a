"""Rendering the djbench Helm charts and reading the rendered objects, for tests.

Reusable by any test that needs the Kubernetes objects of a chart (e.g. running the rendered
pods' containers with Docker)::

    from helm_render import render, find, pod_spec, container_env, container_argv

    objects = render("django-variant", "uvicorn", {"variant": "uvicorn"})
    objects += render("postgres", "postgres")
    pod = pod_spec(find(objects, "Deployment", "uvicorn"))
    env = container_env(pod["containers"][0], objects)  # valueFrom and $(VAR) resolved
    argv = container_argv(pod["containers"][0], env)  # ["uvicorn", "benchapp.asgi:...", ...]

Charts are rendered with ``helm template`` (no cluster: ``lookup`` finds nothing, so generated
Secrets are new each time; render the charts of one test together and resolve from that list).
helm comes from ``.tools/bin/helm``, installed by ``bin/k8s-tools`` when missing.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
K8S_TOOLS = ROOT / "bin" / "k8s-tools"
HELM = ROOT / ".tools" / "bin" / "helm"
NAMESPACE = "djbench"

Manifest = dict[str, Any]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet", "Pod")


class HelmError(Exception):
    """``helm`` failed; ``stderr`` holds its message (which names the bad value)."""

    def __init__(self, args: Sequence[str], stderr: str) -> None:
        super().__init__(f"helm {' '.join(args)} failed:\n{stderr}")
        self.stderr = stderr


@functools.cache
def helm_binary() -> Path:
    """``.tools/bin/helm``, installed with ``bin/k8s-tools`` first when missing."""
    if not HELM.is_file():
        subprocess.run([str(K8S_TOOLS)], check=True, capture_output=True, timeout=600)
    if not HELM.is_file():
        raise FileNotFoundError(f"{HELM} is missing after running {K8S_TOOLS}")
    return HELM


def helm(*args: str) -> str:
    """Run helm; its stdout, or ``HelmError`` with its stderr."""
    proc = subprocess.run(
        [str(helm_binary()), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode != 0:
        raise HelmError(args, _without_info(proc.stderr))
    return proc.stdout


def _without_info(stderr: str) -> str:
    # helm logs one INFO line per symlink it follows (variants.yaml, k6/, dashboards/).
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("level=INFO"))


def chart_path(chart: str | Path) -> Path:
    """A chart directory: a bare name is one under charts/, anything else a path."""
    if isinstance(chart, str) and "/" not in chart:
        return CHARTS / chart
    return Path(chart)


def template(
    chart: str | Path,
    release: str,
    values: Mapping[str, Any] | None = None,
    files: Sequence[Path] = (),
    set_files: Mapping[str, Path] | None = None,
    namespace: str = NAMESPACE,
) -> str:
    """``helm template`` output (multi-document YAML) of one chart.

    ``values`` are passed as a values file (after ``files``, so they win); ``set_files`` as
    ``--set-file key=path`` (e.g. ``{"scenario": Path("scenario.json")}``).
    """
    return _template(
        str(chart_path(chart)),
        release,
        json.dumps(dict(values or {}), sort_keys=True),
        tuple(str(f) for f in files),
        tuple(sorted((k, str(v)) for k, v in (set_files or {}).items())),
        namespace,
    )


@functools.lru_cache(maxsize=256)
def _template(
    chart: str,
    release: str,
    values_json: str,
    files: tuple[str, ...],
    set_files: tuple[tuple[str, str], ...],
    namespace: str,
) -> str:
    args = ["template", release, chart, "--namespace", namespace]
    for file in files:
        args += ["--values", file]
    for key, path in set_files:
        args += ["--set-file", f"{key}={path}"]
    with tempfile.TemporaryDirectory(prefix="djbench-values-") as tmp:
        values_file = Path(tmp) / "values.json"
        values_file.write_text(values_json)
        args += ["--values", str(values_file)]
        return helm(*args)


def parse(text: str) -> list[Manifest]:
    """The objects of a multi-document YAML text (empty documents dropped)."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render(
    chart: str | Path,
    release: str,
    values: Mapping[str, Any] | None = None,
    files: Sequence[Path] = (),
    set_files: Mapping[str, Path] | None = None,
    namespace: str = NAMESPACE,
) -> list[Manifest]:
    """The objects ``helm template`` renders for one chart (see ``template``)."""
    return parse(template(chart, release, values, files, set_files, namespace))


def render_error(
    chart: str | Path,
    release: str,
    values: Mapping[str, Any] | None = None,
    files: Sequence[Path] = (),
    set_files: Mapping[str, Path] | None = None,
) -> str:
    """helm's error message for values that must be refused (AssertionError if rendered)."""
    try:
        template(chart, release, values, files, set_files)
    except HelmError as exc:
        return exc.stderr
    raise AssertionError(f"helm rendered {chart} with values {values} instead of refusing them")


def step_values(variant: str, views: str, **overrides: Any) -> dict[str, Any]:
    """Values of the loadtest chart for one k6 step against a variant's Service (add the
    scenario with ``set_files={"scenario": path}``)."""
    values: dict[str, Any] = {
        "target": f"http://{variant}:8000",
        "variant": variant,
        "views": views,
        "workload": "upstream",
        "model": "closed",
        "level": 32,
        "run": "20250101T000000Z",
        "parallelism": 2,
    }
    values.update(overrides)
    return values


def find(objects: Iterable[Manifest], kind: str, name: str | None = None) -> Manifest:
    """The one object of ``kind`` (and ``name``); AssertionError unless exactly one."""
    matches = [
        o
        for o in objects
        if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def of_kind(objects: Iterable[Manifest], kind: str) -> list[Manifest]:
    """Every object of one kind."""
    return [o for o in objects if o.get("kind") == kind]


def workloads(objects: Iterable[Manifest]) -> list[Manifest]:
    """Objects that run pods."""
    return [o for o in objects if o.get("kind") in WORKLOAD_KINDS]


def pod_template(obj: Manifest) -> Manifest:
    """The pod template (metadata + spec) of a workload, or a Pod itself."""
    if obj["kind"] == "Pod":
        return obj
    template_: Manifest = obj["spec"]["template"]
    return template_


def pod_spec(obj: Manifest) -> Manifest:
    """The pod spec of a workload."""
    spec: Manifest = pod_template(obj)["spec"]
    return spec


def all_containers(spec: Manifest) -> list[Manifest]:
    """Init containers and containers of a pod spec."""
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def secret_data(objects: Iterable[Manifest], name: str) -> dict[str, str]:
    """A rendered Secret's data, decoded (stringData included)."""
    secret = find(objects, "Secret", name)
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data


def configmap_data(objects: Iterable[Manifest], name: str) -> dict[str, str]:
    """A rendered ConfigMap's data."""
    data: dict[str, str] = find(objects, "ConfigMap", name).get("data") or {}
    return data


_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined names replaced, ``$$`` is ``$``, the rest kept."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, text)


def container_env(
    container: Manifest,
    objects: Iterable[Manifest],
    field_refs: Mapping[str, str] | None = None,
    namespace: str = NAMESPACE,
) -> dict[str, str]:
    """The environment the kubelet gives a container, from the rendered objects.

    ``envFrom`` first, then ``env`` in order; ``valueFrom`` resolved from the rendered Secrets
    and ConfigMaps (``secretKeyRef``, ``configMapKeyRef``) and ``field_refs`` (``fieldRef``
    paths such as ``metadata.name``; ``metadata.namespace`` defaults to ``namespace``); each
    value's ``$(VAR)`` references expanded against the variables defined before it.
    """
    objects = list(objects)
    fields = {"metadata.namespace": namespace, **(field_refs or {})}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = configmap_data(objects, source["configMapRef"]["name"])
        else:
            data = secret_data(objects, source["secretRef"]["name"])
        env.update({prefix + k: v for k, v in data.items()})
    for var in container.get("env", []):
        if "valueFrom" not in var:
            env[var["name"]] = expand(var.get("value", ""), env)
            continue
        ref = var["valueFrom"]
        if "secretKeyRef" in ref:
            key_ref = ref["secretKeyRef"]
            env[var["name"]] = secret_data(objects, key_ref["name"])[key_ref["key"]]
        elif "configMapKeyRef" in ref:
            key_ref = ref["configMapKeyRef"]
            env[var["name"]] = configmap_data(objects, key_ref["name"])[key_ref["key"]]
        elif "fieldRef" in ref:
            path = ref["fieldRef"]["fieldPath"]
            if path not in fields:
                raise KeyError(f"env {var['name']} needs the pod field {path}: pass field_refs")
            env[var["name"]] = fields[path]
        else:
            raise KeyError(f"env {var['name']}: unsupported valueFrom {sorted(ref)}")
    return env


def container_argv(container: Manifest, env: Mapping[str, str]) -> list[str]:
    """``command`` + ``args`` with ``$(VAR)`` expanded (empty command: the image's entrypoint)."""
    return [
        expand(str(a), env) for a in [*container.get("command", []), *container.get("args", [])]
    ]
