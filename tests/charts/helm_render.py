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
``helm template`` has no cluster to ask which APIs it serves either: ``api_versions`` tells it
(``Capabilities.APIVersions``), by default the Prometheus operator's PodMonitor as on the
supported install. helm comes from ``.tools/bin/helm``, installed by ``bin/k8s-tools`` when
missing.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
import shutil
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
# The API the charts' PodMonitors need, as helm names it in Capabilities.APIVersions (a cluster
# serves it once the Prometheus operator's CRDs are installed: kube-prometheus-stack).
POD_MONITOR_API = "monitoring.coreos.com/v1/PodMonitor"
# What the supported install has (`task up`: kube-prometheus-stack from charts/monitoring first).
MONITORING_APIS: tuple[str, ...] = (POD_MONITOR_API,)
# The Kubernetes version rendered objects are validated against (kubernetes-validate).
KUBERNETES_VERSION = "1.33.0"
# Custom resources: no schema in kubernetes-validate; checked by the PodMonitor policy tests.
CUSTOM_KINDS = frozenset({"PodMonitor"})


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
    api_versions: Sequence[str] = MONITORING_APIS,
) -> str:
    """``helm template`` output (multi-document YAML) of one chart.

    ``values`` are passed as a values file (after ``files``, so they win; ``None`` is ``null``);
    ``set_files`` as ``--set-file key=path`` (e.g. ``{"scenario": Path("scenario.json")}``).
    ``api_versions`` are the APIs the cluster is taken to serve (``--api-versions``): by default
    the Prometheus operator's PodMonitor, as on the supported install (kube-prometheus-stack,
    installed by ``task up`` before the charts), so the PodMonitors are rendered; ``()`` is a
    cluster without the operator's CRDs.
    """
    return _template(
        str(chart_path(chart)),
        release,
        json.dumps(dict(values or {}), sort_keys=True),
        tuple(str(f) for f in files),
        tuple(sorted((k, str(v)) for k, v in (set_files or {}).items())),
        namespace,
        tuple(api_versions),
    )


@functools.lru_cache(maxsize=256)
def _template(
    chart: str,
    release: str,
    values_json: str,
    files: tuple[str, ...],
    set_files: tuple[tuple[str, str], ...],
    namespace: str,
    api_versions: tuple[str, ...],
) -> str:
    args = ["template", release, chart, "--namespace", namespace]
    for api in api_versions:
        args += ["--api-versions", api]
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
    api_versions: Sequence[str] = MONITORING_APIS,
) -> list[Manifest]:
    """The objects ``helm template`` renders for one chart (see ``template``)."""
    return parse(template(chart, release, values, files, set_files, namespace, api_versions))


def render_error(
    chart: str | Path,
    release: str,
    values: Mapping[str, Any] | None = None,
    files: Sequence[Path] = (),
    set_files: Mapping[str, Path] | None = None,
    api_versions: Sequence[str] = MONITORING_APIS,
) -> str:
    """helm's error message for values that must be refused (AssertionError if rendered)."""
    try:
        template(chart, release, values, files, set_files, api_versions=api_versions)
    except HelmError as exc:
        return exc.stderr
    raise AssertionError(f"helm rendered {chart} with values {values} instead of refusing them")


def coalesce(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """helm's coalescing of ``values`` over ``defaults`` (``CoalesceValues``/``CoalesceTables``).

    Missing keys come from ``defaults``, tables merge key by key, and a null in ``values``
    REMOVES a key that ``defaults`` has; a null for a key that ``defaults`` lacks stays null.
    """
    out = dict(values)
    for key, default in defaults.items():
        if key not in out:
            out[key] = copy.deepcopy(default)
        elif out[key] is None:
            del out[key]
        elif isinstance(out[key], Mapping) and isinstance(default, Mapping):
            out[key] = coalesce(out[key], default)
    return out


def render_reuse_values(
    chart: str | Path,
    release: str,
    installed: Mapping[str, Any],
    upgrade: Mapping[str, Any] | None = None,
    namespace: str = NAMESPACE,
    api_versions: Sequence[str] = MONITORING_APIS,
) -> list[Manifest]:
    """What ``helm upgrade RELEASE CHART --reuse-values`` renders, with ``upgrade`` as its
    ``--set`` values, for a release installed with the user values ``installed``.

    As helm does it (``reuseValues`` in helm's pkg/action/upgrade.go): the chart's defaults are
    replaced by the installed release's computed values (``installed`` over the chart's
    values.yaml, where a null has removed the key), and the user values are ``upgrade`` over
    ``installed``, nulls included. So ``nodeSelector: null`` from the install reaches the
    schema and the templates as a null, for a key the defaults no longer have; a plain
    ``helm template`` with the same null never shows it (helm drops the defaulted key first).
    The chart is copied (links resolved) to hold those defaults as its values.yaml.
    """
    source = chart_path(chart)
    defaults = yaml.safe_load((source / "values.yaml").read_text()) or {}
    with tempfile.TemporaryDirectory(prefix="djbench-reuse-") as tmp:
        copy_ = Path(tmp) / source.name
        shutil.copytree(source, copy_, symlinks=False)
        (copy_ / "values.yaml").write_text(json.dumps(coalesce(installed, defaults)))
        user_values = coalesce(upgrade or {}, installed)
        return render(copy_, release, user_values, namespace=namespace, api_versions=api_versions)


def validate(files: Sequence[Path | str]) -> str:
    """What ``kubernetes-validate --strict`` says against manifest files; empty when valid."""
    proc = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "kubernetes-validate"),
            "--strict",
            "--kubernetes-version",
            KUBERNETES_VERSION,
            "--quiet",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode == 0 and "ERROR" not in proc.stdout:
        return ""
    return proc.stdout + proc.stderr


def kubernetes_errors(objects: Iterable[Manifest], workdir: Path) -> str:
    """``validate`` of the objects of standard kinds (the custom ones are skipped), written to
    a file in ``workdir``."""
    standard = [o for o in objects if o["kind"] not in CUSTOM_KINDS]
    with tempfile.NamedTemporaryFile(
        "w", prefix="objects-", suffix=".yaml", dir=workdir, delete=False
    ) as file:
        yaml.safe_dump_all(standard, file)
    return validate([file.name])


def without_random(objects: list[Manifest]) -> list[Manifest]:
    """The objects with generated Secret data masked (new at every render)."""
    return [
        {**o, "data": dict.fromkeys(o.get("data") or {}, "<generated>")}
        if o["kind"] == "Secret"
        else o
        for o in objects
    ]


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
