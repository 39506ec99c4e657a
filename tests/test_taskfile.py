"""Taskfile.yml, checked with the real go-task (`.venv/bin/task`) without a cluster: the listing,
the preconditions on every tool, and what the tasks compose (`task --dry`, with stand-in tools
that do nothing)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from djbench.backends.kubernetes.releases import proxy_release
from djbench.contracts.chart_values import chart_values
from djbench.model.variants import standard_variants

REPO = Path(__file__).resolve().parents[1]
TASKFILE = REPO / "Taskfile.yml"
ENTRY_POINTS = {
    "up", "variants", "bench", "report", "grafana", "logs", "down", "test", "mirror",
}  # fmt: skip
TOOLS = ("docker", "kind", "helm", "kubectl")
# How each missing tool's message says to install it.
HOW_TO = {
    "docker": "bin/docker-setup",
    "kind": "go install sigs.k8s.io/kind@latest",
    "helm": "bin/k8s-tools",
    "kubectl": "bin/k8s-tools",
}
# `kind get clusters` answers $STUB_KIND_CLUSTERS, `nproc` $STUB_NPROC (default 8), `docker info`
# cgroup version $STUB_CGROUP (default 2), `kubectl config current-context` the one in $KUBECONFIG
# (failing without one, as kubectl does); every other stand-in succeeds silently.
STUB = """#!/bin/sh
if [ "$(basename "$0") $1 $2" = "kubectl config current-context" ]; then
  sed -n 's/^current-context: *\\(..*\\)$/\\1/p' "${KUBECONFIG:-/dev/null}" | grep .
  exit
fi
if [ "$(basename "$0") $1 $2" = "kind get clusters" ] && [ -n "$STUB_KIND_CLUSTERS" ]; then
  echo "$STUB_KIND_CLUSTERS"
fi
[ "$(basename "$0")" = nproc ] && echo "${STUB_NPROC:-8}"
[ "$(basename "$0") $1" = "docker info" ] && echo " Cgroup Version: ${STUB_CGROUP:-2}"
exit 0
"""

# The caller's variables a test must not inherit (KUBECONFIG: the current kubectl context).
CALLER_VARS = (
    "CLUSTER", "REGISTRY", "VALUES", "NAMESPACE", "PROFILE", "VARIANTS", "BASE_IMAGE", "VARIANT",
    "DIR", "KUBECONFIG", "DOCKER", "MONITORING", "PROMETHEUS",
)  # fmt: skip


@pytest.fixture(scope="module")
def task_exe() -> Path:
    for candidate in (REPO / ".venv" / "bin" / "task", shutil.which("task")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.fail("go-task is missing: it is in the dev dependencies (go-task-bin)")


@pytest.fixture(scope="module")
def taskfile() -> dict[str, Any]:
    doc = yaml.safe_load(TASKFILE.read_text())
    assert isinstance(doc, dict)
    return doc


def stub_dir(path: Path, tools: tuple[str, ...] = TOOLS) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        exe = path / tool
        exe.write_text(STUB)
        exe.chmod(0o755)
    return path


def run_task(
    task: Path,
    *args: str,
    path: str,
    taskfile: Path = TASKFILE,
    extra_env: dict[str, str] | None = None,
    docker: str | None = "docker",
) -> subprocess.CompletedProcess[str]:
    """``task ARGS`` with the stand-ins on ``path``; ``docker``: the client the tasks run
    (``DOCKER=``; by default the stand-in on ``path``, None: the Taskfile's own choice)."""
    inherited = {k: v for k, v in os.environ.items() if k not in CALLER_VARS}
    env = {**inherited, "PATH": path, **(extra_env or {})}
    cut = args.index("--") if "--" in args else len(args)
    pinned = [] if docker is None else [f"DOCKER={docker}"]
    args = (*args[:cut], *pinned, *args[cut:])
    # Task colours its output when CI=true even without a terminal: ask for plain text.
    return subprocess.run(
        [str(task), "--color=false", "--taskfile", str(taskfile), *args],
        cwd=taskfile.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def stubbed_path(tmp_path: Path) -> str:
    """PATH with stand-ins for docker, kind, helm, kubectl and nproc first."""
    return f"{stub_dir(tmp_path / 'stubs', (*TOOLS, 'nproc'))}{os.pathsep}{os.environ['PATH']}"


def commands(task: dict[str, Any]) -> list[str]:
    found = []
    for cmd in task.get("cmds", []):
        if isinstance(cmd, str):
            found.append(cmd)
        elif isinstance(cmd, dict):
            found += [cmd[k] for k in ("cmd", "defer") if isinstance(cmd.get(k), str)]
    return found


def test_task_list_shows_the_entry_points(task_exe: Path, stubbed_path: str) -> None:
    done = run_task(task_exe, "--list", path=stubbed_path)
    assert done.returncode == 0, done.stderr
    listed = set(re.findall(r"^\* ([\w:-]+):", done.stdout, re.M))
    assert listed == ENTRY_POINTS


def test_desc_only_on_entry_points(taskfile: dict[str, Any]) -> None:
    tasks = taskfile["tasks"]
    assert set(tasks) >= ENTRY_POINTS
    for name, task in tasks.items():
        if name in ENTRY_POINTS:
            assert task.get("desc", "").strip(), f"{name} needs a desc"
        else:
            assert "desc" not in task, f"{name} is internal: no desc"


def test_variables_have_defaults(taskfile: dict[str, Any]) -> None:
    variables = taskfile["vars"]
    for name, default in {
        "CLUSTER": "djbench",
        "NAMESPACE": "djbench",
        "PROFILE": "kubernetes",
    }.items():
        assert variables[name] == f'{{{{.{name} | default "{default}"}}}}'
    for name in ("VARIANTS", "BASE_IMAGE", "REGISTRY", "VALUES"):
        assert variables[name] == f'{{{{.{name} | default ""}}}}'


def test_every_tool_a_task_runs_is_a_precondition(taskfile: dict[str, Any]) -> None:
    for name, task in taskfile["tasks"].items():
        text = "\n".join(commands(task)).replace("{{.DOCKER}}", "docker")
        used = {t for t in TOOLS if re.search(rf"(?:^|[;\s]){t}\s", text, re.M)}
        if "djbench run --backend kubernetes" in text:
            used |= {"helm", "kubectl"}  # djbench drives the cluster with them
        checks = task.get("preconditions", [])
        for tool in used:
            sought = "command -v {{.DOCKER}}" if tool == "docker" else f"command -v {tool}"
            matching = [c for c in checks if sought in c["sh"]]
            assert matching, f"task {name} runs {tool} without checking for it"
            assert HOW_TO[tool] in matching[0]["msg"], f"{name}: say how to install {tool}"


def test_up_checks_every_tool_first(taskfile: dict[str, Any]) -> None:
    checked = " ".join(c["sh"] for c in taskfile["tasks"]["up"]["preconditions"])
    checked = checked.replace("{{.DOCKER}}", "docker")
    for tool in TOOLS:
        assert f"command -v {tool}" in checked


def test_dry_bench_composes_the_djbench_command(task_exe: Path, stubbed_path: str) -> None:
    done = run_task(task_exe, "--dry", "bench", path=stubbed_path)
    assert done.returncode == 0, done.stderr
    assert (
        "djbench run --backend kubernetes --namespace djbench --profile kubernetes" in done.stderr
    )
    assert "--variants" not in done.stderr


def test_dry_bench_passes_variables_and_cli_args(task_exe: Path, stubbed_path: str) -> None:
    done = run_task(
        task_exe,
        "--dry",
        "bench",
        "PROFILE=smoke",
        "NAMESPACE=bench",
        "VARIANTS=uvicorn,granian",
        "--",
        "--workloads",
        "cpu",
        path=stubbed_path,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "djbench run --backend kubernetes --namespace bench --profile smoke "
        "--variants uvicorn,granian --workloads cpu"
    ) in done.stderr


def test_dry_up_composes_the_cluster_in_order(task_exe: Path, stubbed_path: str) -> None:
    done = run_task(task_exe, "--dry", "up", path=stubbed_path)
    assert done.returncode == 0, done.stderr
    version = re.search(r'^version = "(.+)"$', (REPO / "pyproject.toml").read_text(), re.M)
    assert version
    steps = [
        "kind create cluster --name djbench --config .djbench/kind-config.yaml",
        "pin djbench.io/role=sut",
        "create configmap djbench-placement --namespace djbench",
        f"-f images/django/Dockerfile -t djbench/django:{version[1]} .",
        f"-f images/stubapi/Dockerfile -t djbench/stubapi:{version[1]} .",
        f"-f images/latencyproxy/Dockerfile -t djbench/latencyproxy:{version[1]} .",
        f"kind load docker-image --name djbench djbench/django:{version[1]} "
        f"djbench/stubapi:{version[1]} djbench/latencyproxy:{version[1]}",
        "helm repo add prometheus-community https://prometheus-community.github.io/helm-charts",
        "prometheus-community/kube-prometheus-stack",
        "--values charts/monitoring/kube-prometheus-stack-values.yaml",
        "helm upgrade --install djbench-dashboards charts/dashboards --namespace monitoring",
        "helm upgrade --install postgres charts/postgres --namespace djbench",
        "--wait-for-jobs",
        "helm upgrade --install stubapi charts/stubapi --namespace djbench",
    ]
    positions = [done.stderr.find(step) for step in steps]
    assert -1 not in positions, [s for s, p in zip(steps, positions, strict=True) if p < 0]
    assert positions == sorted(positions)


# Host CPUs -> the CPU set of each node role and the sut kubelet's reserved-cpus.
PLACEMENTS = {
    4: {"infra": "0", "load": "1", "sut": "2-3", "sut-reserved-cpus": "0-1"},
    5: {"infra": "0", "load": "1-2", "sut": "3-4", "sut-reserved-cpus": "0-2"},
    8: {"infra": "0-2", "load": "3-5", "sut": "6-7", "sut-reserved-cpus": "0-5"},
    16: {"infra": "0-6", "load": "7-13", "sut": "14-15", "sut-reserved-cpus": "0-13"},
}


def cpu_ids(cpus: str) -> set[int]:
    first, _, last = cpus.partition("-")
    return set(range(int(first), int(last or first) + 1))


@pytest.mark.parametrize("host_cpus", sorted(PLACEMENTS))
def test_dry_up_pins_each_node_to_its_cpus(
    task_exe: Path, stubbed_path: str, host_cpus: int
) -> None:
    done = run_task(
        task_exe, "--dry", "up", path=stubbed_path, extra_env={"STUB_NPROC": str(host_cpus)}
    )
    assert done.returncode == 0, done.stderr
    want = PLACEMENTS[host_cpus]
    pinned = dict(re.findall(r"^\s*pin (\S+) (\S+)$", done.stderr, re.M))
    assert pinned == {
        "djbench.io/role=sut": want["sut"],
        "djbench.io/role=load": want["load"],
        "djbench.io/role=infra": want["infra"],
        "node-role.kubernetes.io/control-plane": want["infra"],
    }
    assert 'docker update --cpuset-cpus "$2" "${node#node/}"' in done.stderr
    # Disjoint, and together every host CPU.
    sets = [cpu_ids(want[role]) for role in ("infra", "load", "sut")]
    assert set().union(*sets) == set(range(host_cpus))
    assert sum(map(len, sets)) == host_cpus
    assert len(sets[2]) == 2, "the server's node: 1 exclusive CPU + 1 shared"
    # The sut kubelet reserves exactly the CPUs outside its node's set.
    assert cpu_ids(want["sut-reserved-cpus"]) == set(range(host_cpus)) - sets[2]
    literals = dict(re.findall(r"--from-literal=([\w-]+)=(\S+)", done.stderr))
    assert literals == {
        "host-cpus": str(host_cpus),
        "control-plane": want["infra"],
        **want,
    }


@pytest.mark.parametrize("host_cpus", [1, 2, 3])
def test_up_refuses_too_few_cpus(task_exe: Path, stubbed_path: str, host_cpus: int) -> None:
    done = run_task(
        task_exe, "--dry", "up", path=stubbed_path, extra_env={"STUB_NPROC": str(host_cpus)}
    )
    assert done.returncode != 0
    assert f"task up needs at least 4 CPUs (`nproc --all` says {host_cpus})" in done.stderr
    assert "kind create cluster" not in done.stderr


def test_up_refuses_cgroup_v1(task_exe: Path, stubbed_path: str) -> None:
    done = run_task(task_exe, "--dry", "up", path=stubbed_path, extra_env={"STUB_CGROUP": "1"})
    assert done.returncode != 0
    assert "needs cgroup v2" in done.stderr
    assert "kind create cluster" not in done.stderr


def test_cluster_renders_the_kind_config_for_this_machine(
    task_exe: Path, stubbed_path: str, tmp_path: Path
) -> None:
    """`task cluster` for real (kind a stand-in): the sut kubelet's reserved-cpus in the config
    kind gets are the host CPUs outside the sut node's set; nothing else changes."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("Taskfile.yml", "kind-config.yaml"):
        shutil.copy(REPO / name, repo / name)
    done = run_task(
        task_exe,
        "cluster",
        path=stubbed_path,
        taskfile=repo / "Taskfile.yml",
        extra_env={"STUB_NPROC": "8"},
    )
    assert done.returncode == 0, done.stderr
    assert "kind create cluster --name djbench --config .djbench/kind-config.yaml" in done.stderr
    rendered = yaml.safe_load((repo / ".djbench" / "kind-config.yaml").read_text())
    original = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    sut = [n for n in rendered["nodes"] if n.get("labels", {}).get("djbench.io/role") == "sut"]
    patch = yaml.safe_load(sut[0]["kubeadmConfigPatches"][0])
    assert patch["nodeRegistration"]["kubeletExtraArgs"]["reserved-cpus"] == "0-5"
    patch["nodeRegistration"]["kubeletExtraArgs"]["reserved-cpus"] = "0"
    sut[0]["kubeadmConfigPatches"][0] = patch
    original_sut = [
        n for n in original["nodes"] if n.get("labels", {}).get("djbench.io/role") == "sut"
    ]
    original_sut[0]["kubeadmConfigPatches"][0] = yaml.safe_load(
        original_sut[0]["kubeadmConfigPatches"][0]
    )
    assert rendered == original


def test_dry_up_passes_the_base_image(task_exe: Path, stubbed_path: str) -> None:
    done = run_task(
        task_exe, "--dry", "up", "BASE_IMAGE=djbench/debian-base:bookworm", path=stubbed_path
    )
    assert done.returncode == 0, done.stderr
    # Every image: django, stubapi, latencyproxy.
    assert done.stderr.count("--build-arg BASE_IMAGE=djbench/debian-base:bookworm") == 3


def test_up_keeps_an_existing_cluster(task_exe: Path, stubbed_path: str) -> None:
    done = run_task(
        task_exe, "--dry", "up", path=stubbed_path, extra_env={"STUB_KIND_CLUSTERS": "djbench"}
    )
    assert done.returncode == 0, done.stderr
    assert "kind create cluster" not in done.stderr
    assert "kind load docker-image" in done.stderr


# `task up` on a cluster that is already there (CLUSTER=existing): no kind, images pushed to
# REGISTRY, charts installed onto the current kubectl context with REGISTRY's images.
REGISTRY = "registry.example.com/team"
KIND_ONLY = ("kind ", "--context kind-", "docker update", "pin ", "djbench-placement")


def djbench_version() -> str:
    version = re.search(r'^version = "(.+)"$', (REPO / "pyproject.toml").read_text(), re.M)
    assert version
    return version[1]


@pytest.fixture
def kubeconfig(tmp_path: Path) -> dict[str, str]:
    """KUBECONFIG naming a current context (read by kubectl and its stand-in alike)."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: elsewhere\n"
        "contexts: [{name: elsewhere, context: {cluster: elsewhere, user: me}}]\n"
        "clusters: [{name: elsewhere, cluster: {server: 'https://127.0.0.1:6443'}}]\n"
        "users: [{name: me, user: {}}]\n"
    )
    return {"KUBECONFIG": str(path)}


def registry_values(dry_output: str) -> str:
    """The cluster values file `task registry-values` writes, as composed."""
    written = re.search(r"cat > \S+ <<'EOF'\n(.*?)^EOF$", dry_output, re.M | re.S)
    assert written, dry_output
    return written[1]


def test_dry_up_on_an_existing_cluster(
    task_exe: Path, stubbed_path: str, kubeconfig: dict[str, str]
) -> None:
    done = run_task(
        task_exe, "--dry", "up", "CLUSTER=existing", f"REGISTRY={REGISTRY}/",
        path=stubbed_path, extra_env=kubeconfig,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for kind_only in KIND_ONLY:
        assert kind_only not in done.stderr
    version = djbench_version()
    steps = [
        f"-f images/django/Dockerfile -t {REGISTRY}/django:{version} .",
        f"-f images/stubapi/Dockerfile -t {REGISTRY}/stubapi:{version} .",
        f"-f images/latencyproxy/Dockerfile -t {REGISTRY}/latencyproxy:{version} .",
        f"docker push {REGISTRY}/django:{version}",
        f"docker push {REGISTRY}/stubapi:{version}",
        f"docker push {REGISTRY}/latencyproxy:{version}",
        "prometheus-community/kube-prometheus-stack",
        "helm upgrade --install djbench-dashboards charts/dashboards --namespace monitoring",
        "helm-values .djbench/registry-values.yaml postgres -o .djbench/values/postgres.registry",
        "helm upgrade --install postgres charts/postgres --namespace djbench --create-namespace"
        " -f .djbench/values/postgres.registry.yaml --wait --wait-for-jobs",
        "helm upgrade --install stubapi charts/stubapi --namespace djbench --create-namespace"
        " -f .djbench/values/stubapi.registry.yaml --wait",
    ]
    positions = [done.stderr.find(step) for step in steps]
    assert -1 not in positions, [s for s, p in zip(steps, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    assert done.stderr.count("cat > .djbench/registry-values.yaml") == 1


def test_existing_cluster_gets_the_registry_images(
    task_exe: Path, stubbed_path: str, kubeconfig: dict[str, str], tmp_path: Path
) -> None:
    """The values file `task up` and `task bench` compose is one djbench's charts take, and it
    gives every chart that runs a djbench image the pushed one."""
    done = run_task(
        task_exe, "--dry", "up", "CLUSTER=existing", f"REGISTRY={REGISTRY}",
        path=stubbed_path, extra_env=kubeconfig,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    values_file = tmp_path / "registry-values.yaml"
    values_file.write_text(registry_values(done.stderr))
    version = djbench_version()
    image = {"tag": version, "pullPolicy": "Always"}
    assert chart_values([values_file], "postgres") == {
        "image": {"repository": f"{REGISTRY}/postgres", "tag": "17"},
        "exporter": {"image": {"repository": f"{REGISTRY}/postgres-exporter", "tag": "v0.17.1"}},
        "seed": {"image": {"repository": f"{REGISTRY}/django", **image}},
    }
    assert chart_values([values_file], "stubapi") == {
        "image": {"repository": f"{REGISTRY}/stubapi", **image}
    }
    assert chart_values([values_file], "latencyproxy") == {
        "image": {"repository": f"{REGISTRY}/latencyproxy", **image}
    }
    assert chart_values([values_file], "django-variant") == {
        "image": {"repository": f"{REGISTRY}/django", **image}
    }


def test_existing_cluster_needs_no_kind_and_no_kind_host(
    task_exe: Path, tmp_path: Path, kubeconfig: dict[str, str]
) -> None:
    """Without kind, on 2 CPUs and cgroup v1: the checks only kind needs are skipped."""
    path = f"{stub_dir(tmp_path / 'stubs', ('docker', 'helm', 'kubectl', 'nproc'))}"
    done = run_task(
        task_exe, "--dry", "up", "CLUSTER=existing", f"REGISTRY={REGISTRY}",
        path=f"{path}{os.pathsep}{os.environ['PATH']}",
        extra_env={**kubeconfig, "STUB_NPROC": "2", "STUB_CGROUP": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"docker push {REGISTRY}/django:" in done.stderr


@pytest.mark.parametrize("task", ["up", "images", "postgres", "stubapi", "variants", "bench"])
def test_existing_cluster_refuses_without_a_registry(
    task_exe: Path, stubbed_path: str, kubeconfig: dict[str, str], task: str
) -> None:
    done = run_task(
        task_exe, "--dry", task, "CLUSTER=existing", path=stubbed_path, extra_env=kubeconfig
    )
    assert done.returncode != 0
    assert "task: CLUSTER=existing needs REGISTRY, the registry the cluster pulls" in done.stderr
    for command in ("docker build", "helm upgrade", "djbench run"):
        assert command not in done.stderr


def test_existing_cluster_refuses_without_a_kubectl_context(
    task_exe: Path, stubbed_path: str, tmp_path: Path
) -> None:
    empty = tmp_path / "kubeconfig"
    empty.write_text("apiVersion: v1\nkind: Config\n")
    done = run_task(
        task_exe, "--dry", "up", "CLUSTER=existing", f"REGISTRY={REGISTRY}",
        path=stubbed_path, extra_env={"KUBECONFIG": str(empty)},
    )  # fmt: skip
    assert done.returncode != 0
    assert "current kubectl context, and there is none" in done.stderr
    assert "docker build" not in done.stderr


@pytest.mark.parametrize("task", ["cluster", "placement"])
def test_kind_steps_refuse_an_existing_cluster(
    task_exe: Path, stubbed_path: str, task: str
) -> None:
    done = run_task(task_exe, "--dry", task, "CLUSTER=existing", path=stubbed_path)
    assert done.returncode != 0
    assert "CLUSTER=existing: no kind cluster to create or pin" in done.stderr
    assert "kind create" not in done.stderr


def test_kind_path_ignores_the_registry(task_exe: Path, stubbed_path: str) -> None:
    done = run_task(task_exe, "--dry", "up", f"REGISTRY={REGISTRY}", path=stubbed_path)
    assert done.returncode == 0, done.stderr
    assert "kind create cluster --name djbench" in done.stderr
    assert "kind load docker-image --name djbench" in done.stderr
    assert "docker push" not in done.stderr
    assert REGISTRY not in done.stderr
    assert "registry-values" not in done.stderr


def test_dry_bench_on_an_existing_cluster(
    task_exe: Path, stubbed_path: str, kubeconfig: dict[str, str]
) -> None:
    """The variants and k6 Jobs get VALUES, then REGISTRY's images (later files win)."""
    done = run_task(
        task_exe, "--dry", "bench", "CLUSTER=existing", f"REGISTRY={REGISTRY}",
        "VALUES=cluster.yaml", "--", "--k6-pods", "2",
        path=stubbed_path, extra_env=kubeconfig,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (
        "--profile kubernetes  --helm-values cluster.yaml"
        f" --helm-values .djbench/registry-values.yaml --k6-image {REGISTRY}/k6:1.1.0"
        " --k6-pods 2"
    ) in done.stderr
    assert f'repository: "{REGISTRY}/django"' in registry_values(done.stderr)


def test_dry_values_reach_each_chart(task_exe: Path, stubbed_path: str) -> None:
    """VALUES (kind or not): each chart's section, split by `djbench helm-values`."""
    for chart, release in (
        ("postgres", "postgres"), ("stubapi", "stubapi"), ("dashboards", "djbench-dashboards")
    ):  # fmt: skip
        done = run_task(task_exe, "--dry", chart, "VALUES=cluster.yaml", path=stubbed_path)
        assert done.returncode == 0, done.stderr
        assert f"helm-values cluster.yaml {chart} -o .djbench/values/{chart}.yaml" in done.stderr
        assert re.search(
            rf"helm upgrade --install {release} charts/{chart} .*"
            rf"--create-namespace -f \.djbench/values/{chart}\.yaml( |$)",
            done.stderr,
            re.M,
        ), done.stderr
    done = run_task(
        task_exe, "--dry", "variants", "VARIANTS=uvicorn", "VALUES=cluster.yaml", path=stubbed_path
    )
    assert done.returncode == 0, done.stderr
    assert "-f .djbench/values/django-variant.yaml --set variant=uvicorn" in done.stderr


def test_dry_down_on_an_existing_cluster(task_exe: Path, tmp_path: Path) -> None:
    """Without kind: uninstalls djbench's releases by name; namespaces and volumes stay."""
    path = stub_dir(tmp_path / "stubs", ("helm", "kubectl"))
    done = run_task(
        task_exe, "--dry", "down", "CLUSTER=existing",
        path=f"{path}{os.pathsep}{os.environ['PATH']}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "kind delete" not in done.stderr
    # A latency proxy left by an interrupted run (releases latencyproxy-db, -upstream).
    assert re.search(r"--short --filter '\^latencyproxy-\[a-z\]\+\$'", done.stderr)
    assert all(re.fullmatch(r"latencyproxy-[a-z]+", proxy_release(p)) for p in ("db", "upstream"))
    assert re.search(
        r"^helm uninstall --namespace djbench --ignore-not-found .* stubapi postgres$",
        done.stderr,
        re.M,
    )
    assert re.search(
        r"^helm uninstall --namespace monitoring --ignore-not-found djbench-dashboards monitoring$",
        done.stderr,
        re.M,
    )
    # A project's prepare Job a killed run left (a hook: no part of its release), by label;
    # nothing else is deleted.
    deletes = re.findall(r"^\s*kubectl delete .*$", done.stderr, re.M)
    assert deletes == [
        "kubectl delete job --namespace djbench --ignore-not-found --selector "
        "app.kubernetes.io/part-of=djbench,app.kubernetes.io/component=prepare"
    ]


def test_dry_grafana_on_an_existing_cluster_port_forwards(
    task_exe: Path, stubbed_path: str
) -> None:
    """No kind port mapping to find: always a port-forward."""
    done = run_task(task_exe, "--dry", "grafana", "CLUSTER=existing", path=stubbed_path)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^if true; then$", done.stderr, re.M)
    kind = run_task(task_exe, "--dry", "grafana", path=stubbed_path)
    assert re.search(r"^if ! healthy; then$", kind.stderr, re.M)


def test_image_tags_are_the_charts_default_tags() -> None:
    """`task up` tags images with the djbench version; the charts default to the same tag."""
    version = re.search(r'^version = "(.+)"$', (REPO / "pyproject.toml").read_text(), re.M)
    assert version
    charts = REPO / "charts"
    for chart, image in (
        ("django-variant", "djbench/django"),
        ("stubapi", "djbench/stubapi"),
        ("latencyproxy", "djbench/latencyproxy"),
    ):
        if not (charts / chart / "Chart.yaml").exists():
            pytest.skip(f"charts/{chart} is not written yet")
        values = yaml.safe_load((charts / chart / "values.yaml").read_text())
        assert values["image"]["repository"] == image
        assert values["image"]["tag"] in ("", version[1])
        assert (
            yaml.safe_load((charts / chart / "Chart.yaml").read_text())["appVersion"] == version[1]
        )
    seed = yaml.safe_load((charts / "postgres" / "values.yaml").read_text())["seed"]
    assert (seed["image"]["repository"], seed["image"]["tag"]) == ("djbench/django", version[1])


def test_dry_variants_installs_each_chosen_variant(task_exe: Path, stubbed_path: str) -> None:
    done = run_task(task_exe, "--dry", "variants", "VARIANTS=uvicorn,granian", path=stubbed_path)
    assert done.returncode == 0, done.stderr
    installs = re.findall(
        r"helm upgrade --install (\S+) charts/django-variant .*--set variant=(\S+)", done.stderr
    )
    assert installs == [("uvicorn", "uvicorn"), ("granian", "granian")]


def test_dry_variants_defaults_to_the_standard_line_up(task_exe: Path, stubbed_path: str) -> None:
    done = run_task(task_exe, "--dry", "variants", path=stubbed_path)
    assert done.returncode == 0, done.stderr
    installed = re.findall(r"helm upgrade --install (\S+) charts/django-variant", done.stderr)
    assert installed == standard_variants()


def test_variants_refuses_an_unknown_name(task_exe: Path, stubbed_path: str) -> None:
    done = run_task(task_exe, "--dry", "variants", "VARIANTS=uvicorn,nope", path=stubbed_path)
    assert done.returncode != 0
    assert "unknown variant 'nope'" in done.stderr
    assert "helm upgrade" not in done.stderr


def test_logs_requires_variant(task_exe: Path, stubbed_path: str) -> None:
    done = run_task(task_exe, "logs", path=stubbed_path)
    assert done.returncode != 0
    assert "VARIANT" in done.stdout + done.stderr


def test_dry_logs_selects_the_variant_pods(task_exe: Path, stubbed_path: str) -> None:
    done = run_task(task_exe, "--dry", "logs", "VARIANT=uvicorn", "--", "-f", path=stubbed_path)
    assert done.returncode == 0, done.stderr
    assert "kubectl logs --namespace djbench --selector djbench.io/variant=uvicorn" in done.stderr
    assert done.stderr.rstrip().endswith("-f")


def test_dry_grafana_and_down(task_exe: Path, stubbed_path: str) -> None:
    grafana = run_task(task_exe, "--dry", "grafana", path=stubbed_path)
    assert grafana.returncode == 0, grafana.stderr
    assert "kubectl port-forward" in grafana.stderr
    down = run_task(task_exe, "--dry", "down", "CLUSTER=other", path=stubbed_path)
    assert down.returncode == 0, down.stderr
    assert "kind delete cluster --name other" in down.stderr


def test_dry_report(task_exe: Path, stubbed_path: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.json").write_text("{}")
    done = run_task(task_exe, "--dry", "report", f"DIR={run_dir}", path=stubbed_path)
    assert done.returncode == 0, done.stderr
    assert f"djbench report {run_dir}" in done.stderr
    missing = run_task(task_exe, "--dry", "report", f"DIR={tmp_path / 'none'}", path=stubbed_path)
    assert missing.returncode != 0
    assert "DIR=" in missing.stderr


@pytest.mark.parametrize(
    ("task", "present", "missing"),
    [
        ("down", (), "kind"),
        ("cluster", (), "docker"),
        ("bench", (), "helm"),
        ("bench", ("helm",), "kubectl"),
        ("grafana", (), "kubectl"),
        ("up", ("docker",), "kind"),
    ],
)
def test_a_missing_tool_says_how_to_install_it(
    task_exe: Path, tmp_path: Path, task: str, present: tuple[str, ...], missing: str
) -> None:
    # A copy of the Taskfile in an empty directory: no .tools/bin, no .venv/bin to fall back on.
    copy = tmp_path / "repo" / "Taskfile.yml"
    copy.parent.mkdir()
    shutil.copy(TASKFILE, copy)
    path = str(stub_dir(tmp_path / "only", present))
    done = run_task(task_exe, "--dry", task, path=path, taskfile=copy)
    assert done.returncode != 0
    assert HOW_TO[missing] in done.stderr, done.stderr


def test_dry_up_with_monitoring_skipped_needs_no_chart_repository(
    task_exe: Path, stubbed_path: str, kubeconfig: dict[str, str]
) -> None:
    """A cluster that runs a Prometheus already, or wants none: no step of `task up` asks a
    chart repository for anything, and `task bench` points djbench at the one named."""
    done = run_task(
        task_exe, "--dry", "up", "CLUSTER=existing", f"REGISTRY={REGISTRY}", "MONITORING=skip",
        path=stubbed_path, extra_env=kubeconfig,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "helm repo" not in done.stderr
    assert "prometheus-community" not in done.stderr
    assert "MONITORING=skip: no kube-prometheus-stack installed" in done.stderr
    for local in ("charts/dashboards", "charts/postgres", "charts/stubapi"):
        assert local in done.stderr
    bench = run_task(
        task_exe, "--dry", "bench", "CLUSTER=existing", f"REGISTRY={REGISTRY}",
        "MONITORING=skip", "PROMETHEUS=observability/prometheus-operated:9090",
        path=stubbed_path, extra_env=kubeconfig,
    )  # fmt: skip
    assert bench.returncode == 0, bench.stderr
    assert "--prometheus observability/prometheus-operated:9090" in bench.stderr
    # Skipped and none named: djbench reads none (no remote write, no cAdvisor cross-check).
    none = run_task(
        task_exe, "--dry", "bench", "MONITORING=skip", path=stubbed_path, extra_env=kubeconfig
    )
    assert none.returncode == 0, none.stderr
    assert "--prometheus none" in none.stderr
    # Installed: djbench's default, the one task up installs.
    default = run_task(task_exe, "--dry", "bench", path=stubbed_path)
    assert "--prometheus" not in default.stderr
    wrong = run_task(task_exe, "--dry", "bench", "MONITORING=maybe", path=stubbed_path)
    assert wrong.returncode != 0
    assert "MONITORING is install (kube-prometheus-stack, from its chart repository) or skip" in (
        wrong.stderr
    )


def test_images_are_built_with_the_engine_s_own_client(task_exe: Path, stubbed_path: str) -> None:
    """bin/docker-setup's client (/usr/bin/docker, Debian's docker.io), not a newer one first
    on PATH, which wants the buildx plugin for BuildKit."""
    pinned = Path("/usr/bin/docker")
    done = run_task(task_exe, "--dry", "images", path=stubbed_path, docker=None)
    assert done.returncode == 0, done.stderr
    client = str(pinned) if pinned.is_file() else "docker"
    assert done.stderr.count(f"DOCKER_BUILDKIT=1 {client} build ") == 3
    # The very client bin/docker-setup installs and drives.
    assert f"\nDOCKER={pinned}\n" in (REPO / "bin" / "docker-setup").read_text()


def test_mirror_copies_the_others_images_into_the_registry(
    task_exe: Path, stubbed_path: str, kubeconfig: dict[str, str]
) -> None:
    done = run_task(
        task_exe, "--dry", "mirror", "CLUSTER=existing", f"REGISTRY={REGISTRY}",
        path=stubbed_path, extra_env=kubeconfig,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for public, mirrored in (
        ("postgres:17", "postgres:17"),
        ("quay.io/prometheuscommunity/postgres-exporter:v0.17.1", "postgres-exporter:v0.17.1"),
        ("grafana/k6:1.1.0", "k6:1.1.0"),
    ):
        assert (
            f"docker pull {public} && docker tag {public} {REGISTRY}/{mirrored} && docker push "
            f"{REGISTRY}/{mirrored}"
        ) in done.stderr


def test_the_mirrored_images_are_the_charts_and_djbench_s_defaults(
    taskfile: dict[str, Any],
) -> None:
    from djbench.cli import run

    variables = taskfile["vars"]
    postgres = yaml.safe_load((REPO / "charts" / "postgres" / "values.yaml").read_text())
    chart = yaml.safe_load((REPO / "charts" / "postgres" / "Chart.yaml").read_text())
    assert variables["POSTGRES_IMAGE"] == f"{postgres['image']['repository']}:{chart['appVersion']}"
    exporter = postgres["exporter"]["image"]
    assert variables["EXPORTER_IMAGE"] == f"{exporter['repository']}:{exporter['tag']}"
    import inspect

    default = inspect.signature(run).parameters["k6_image"].default
    assert variables["K6_IMAGE"] == default


def _images(objects: list[dict[str, Any]]) -> list[str]:
    """Every container image a rendered chart's pods pull."""
    found = []
    for obj in objects:
        spec = obj.get("spec") or {}
        pod = (spec.get("template") or {}).get("spec") or (spec.get("jobTemplate") or {})
        for key in ("initContainers", "containers"):
            found += [c["image"] for c in pod.get(key) or []]
    return found


def test_with_only_registry_set_no_chart_pulls_from_a_public_registry(
    task_exe: Path, stubbed_path: str, kubeconfig: dict[str, str], tmp_path: Path
) -> None:
    from djbench.backends.kubernetes import step_install_args, variant_install_args
    from djbench.backends.kubernetes.kube import find_tool
    from djbench.backends.kubernetes.releases import proxy_install_args
    from djbench.model.scenario_file import parse_scenario
    from djbench.model.setup import LoadStep, Setup
    from djbench.model.variants import load_variants

    done = run_task(
        task_exe, "--dry", "bench", "CLUSTER=existing", f"REGISTRY={REGISTRY}",
        path=stubbed_path, extra_env=kubeconfig,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    values_file = tmp_path / "registry-values.yaml"
    values_file.write_text(registry_values(done.stderr))
    k6_image = re.search(r"--k6-image (\S+)", done.stderr)
    assert k6_image
    helm = str(find_tool("helm"))
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps(parse_scenario("duration_s: 30", "x").resolved()))
    k6_args = step_install_args(
        "k6-r-0001", "http://uvicorn:8000", Setup(load_variants()["uvicorn"], "aiohttp"), "cpu",
        LoadStep("closed", 8), run_id="r", scenario_file=scenario, parallelism=1,
        remote_write=None, k6_image=k6_image[1], deadline_s=60, warmup_s=1, duration_s=30,
        max_vus=8, pre_vus=8,
    )  # fmt: skip
    # As the backend installs them: a variant, a latency proxy and a k6 step.
    setup = Setup(load_variants()["uvicorn"], "aiohttp")
    releases: dict[str, list[str]] = {
        chart: ["template", chart, str(REPO / "charts" / chart)]
        for chart in ("postgres", "stubapi", "dashboards")
    }
    releases["django-variant"] = ["template", *variant_install_args(setup, parse_scenario(
        "duration_s: 30", "x"))[2:]]  # fmt: skip
    releases["latencyproxy"] = ["template", *proxy_install_args("db", 100.0, 0.0)[2:]]
    releases["loadtest"] = ["template", *k6_args[2:]]
    images = []
    for chart, args in releases.items():
        section = tmp_path / f"{chart}.yaml"
        section.write_text(yaml.safe_dump(chart_values([values_file], chart)))
        rendered = subprocess.run(
            [helm, *args, "--values", str(section), "--namespace", "djbench"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert rendered.returncode == 0, (chart, rendered.stderr)
        images += _images([o for o in yaml.safe_load_all(rendered.stdout) if o])
    assert len(images) >= 7, images
    public = [i for i in images if not i.startswith(f"{REGISTRY}/")]
    assert public == [], public
