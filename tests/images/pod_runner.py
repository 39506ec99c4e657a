"""Run the pods that the charts render as Docker containers, with the rendered spec.

What is carried over, from the rendered objects only:
- image (chart reference mapped to a locally built tag), ``command`` (as the entrypoint) and
  ``args``, ``workingDir``;
- the environment: ``env`` (``value`` with ``$(VAR)`` expansion, ``secretKeyRef``,
  ``configMapKeyRef``, ``fieldRef`` of the pod's name, namespace, labels and annotations) and
  ``envFrom``, resolved from the rendered ConfigMaps and Secrets (Secret ``data``
  base64-decoded) by the chart tests' helper (tests/charts/helm_render.py);
- the security context: user and group (``--user``), ``fsGroup`` and ``supplementalGroups``
  (``--group-add``), ``runAsNonRoot`` (checked against the image's numeric user),
  ``readOnlyRootFilesystem`` (``--read-only``), ``allowPrivilegeEscalation: false``
  (``no-new-privileges``), capabilities; seccomp ``RuntimeDefault`` is Docker's default;
- volumes: ``emptyDir`` as tmpfs (``/dev/shm`` as ``--shm-size``), claim templates as
  anonymous volumes, ConfigMap and Secret volumes as read-only files;
- CPU and memory limits (``--cpus``, ``--memory``);
- networking: one user-defined network; the pod's first container holds the pod's network
  namespace and has an alias for every Service that selects the pod (short and cluster DNS
  names); the pod's other containers join that namespace, as in a pod;
- probes: startup, readiness and liveness run as the kubelet would (HTTP GET and TCP connect to
  the pod's address, ``exec`` in the container);
- init containers: each runs to completion, in order, before the pod's containers start (on
  the pod's network, with its volumes); a non-zero exit fails the pod; their output is kept in
  ``Pod.init_logs``.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker_engine as de
from rendering import helm_render

HR = helm_render()

Obj = dict[str, Any]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet")
_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_DECIMAL = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


class PodError(AssertionError):
    """A rendered pod could not be run as specified, or did not become ready."""


def quantity(raw: str | int | float) -> float:
    """A Kubernetes quantity as a number: ``500m`` -> 0.5, ``512Mi`` -> 536870912."""
    match = _QUANTITY.match(str(raw))
    if not match:
        raise PodError(f"not a quantity: {raw!r}")
    number, suffix = float(match.group(1)), match.group(2)
    if suffix == "m":
        return number / 1000
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    raise PodError(f"unknown quantity suffix in {raw!r}")


@dataclass
class Rendered:
    """Objects from ``helm template`` (several releases may be merged), in one namespace."""

    objects: list[Obj]
    namespace: str = HR.NAMESPACE

    def add(self, objects: list[Obj]) -> None:
        """Add objects, replacing any of the same kind and name (a re-rendered release)."""
        new = {(o["kind"], o["metadata"]["name"]) for o in objects}
        self.objects = [
            o for o in self.objects if (o["kind"], o["metadata"]["name"]) not in new
        ] + objects

    def of_kind(self, kind: str) -> list[Obj]:
        return [o for o in self.objects if o.get("kind") == kind]

    def get(self, kind: str, name: str) -> Obj:
        for obj in self.of_kind(kind):
            if obj["metadata"]["name"] == name:
                return obj
        raise PodError(f"no rendered {kind} named {name!r}")

    def config_map(self, name: str) -> dict[str, str]:
        data: dict[str, str] = HR.configmap_data(self.objects, name)
        return data

    def secret(self, name: str) -> dict[str, str]:
        data: dict[str, str] = HR.secret_data(self.objects, name)
        return data

    def services_selecting(self, labels: Mapping[str, str]) -> list[Obj]:
        """Services whose selector matches these pod labels."""
        found = []
        for svc in self.of_kind("Service"):
            selector = (svc.get("spec") or {}).get("selector") or {}
            if selector and all(labels.get(k) == v for k, v in selector.items()):
                found.append(svc)
        return found


@dataclass
class Pod:
    """A pod running as containers: the first holds the pod's network namespace."""

    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    spec: Obj
    containers: dict[str, str] = field(default_factory=dict)
    """Container name in the spec -> Docker container name."""
    ip: str = ""
    init_logs: dict[str, str] = field(default_factory=dict)
    """Init container name -> what it printed."""

    @property
    def main(self) -> str:
        return next(iter(self.containers.values()))


def pod_of(obj: Obj, index: int = 0) -> Pod:
    """The pod a rendered workload object (or Pod) would create; ``index``: the completion
    index of an Indexed Job's pod."""
    name = obj["metadata"]["name"]
    if obj["kind"] == "Pod":
        meta, spec = obj["metadata"], obj["spec"]
    elif obj["kind"] in WORKLOAD_KINDS:
        meta, spec = obj["spec"]["template"].get("metadata") or {}, obj["spec"]["template"]["spec"]
        name = f"{name}-{index}" if obj["kind"] in ("StatefulSet", "Job") else f"{name}-test"
    else:
        raise PodError(f"{obj['kind']} {name} has no pod template")
    annotations = dict(meta.get("annotations") or {})
    if obj["kind"] == "Job" and obj["spec"].get("completionMode") == "Indexed":
        annotations["batch.kubernetes.io/job-completion-index"] = str(index)
    return Pod(name, dict(meta.get("labels") or {}), annotations, spec)


class PodRunner:
    """Starts rendered pods on one Docker network and removes every container it started."""

    def __init__(
        self,
        rendered: Rendered,
        network: str,
        images: Mapping[str, str],
        workdir: Path,
        unavailable: Mapping[str, str] | None = None,
    ) -> None:
        """``images``: chart image repository -> local tag. ``unavailable``: repository ->
        why that container cannot run here (it is left out of its pod, and said so)."""
        self.rendered = rendered
        self.network = network
        self.images = dict(images)
        self.unavailable = dict(unavailable or {})
        self.workdir = workdir
        self.skipped: list[str] = []
        self._started: list[str] = []

    # -- the rendered spec, translated ----------------------------------------------------

    def image_for(self, ref: str) -> str | None:
        repository = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
        if repository in self.images:
            return self.images[repository]
        if repository in self.unavailable:
            return None
        raise PodError(f"image {ref} has no local counterpart (known: {sorted(self.images)})")

    def environment(self, pod: Pod, container: Obj) -> dict[str, str]:
        """The container's environment, as the kubelet resolves it (the chart tests' helper),
        with the pod's own fields for ``fieldRef``."""
        fields = {"metadata.name": pod.name}
        fields |= {f"metadata.annotations['{k}']": v for k, v in pod.annotations.items()}
        fields |= {f"metadata.labels['{k}']": v for k, v in pod.labels.items()}
        env: dict[str, str] = HR.container_env(
            container, self.rendered.objects, fields, self.rendered.namespace
        )
        index = pod.annotations.get("batch.kubernetes.io/job-completion-index")
        if index is not None:
            env.setdefault("JOB_COMPLETION_INDEX", index)  # set by the Job controller
        return env

    def security_flags(self, pod: Pod, container: Obj, image: str) -> list[str]:
        pod_ctx = pod.spec.get("securityContext") or {}
        ctx = {**pod_ctx, **(container.get("securityContext") or {})}
        if ctx.get("privileged"):
            raise PodError(f"{pod.name}: privileged containers are not run")
        flags: list[str] = []
        user = ctx.get("runAsUser")
        if user is None:
            user = json.loads(de.docker("image", "inspect", image).stdout)[0]["Config"]["User"]
            user = str(user).split(":")[0] or "0"
        if ctx.get("runAsNonRoot") and not (str(user).isdigit() and int(user) != 0):
            raise PodError(f"{pod.name}: runAsNonRoot, but the user is {user!r} (not numeric)")
        if "runAsUser" in ctx or "runAsGroup" in ctx:
            flags += ["--user", f"{user}:{ctx.get('runAsGroup', user)}"]
        for group in [pod_ctx.get("fsGroup"), *(pod_ctx.get("supplementalGroups") or [])]:
            if group is not None:
                flags += ["--group-add", str(group)]
        if ctx.get("readOnlyRootFilesystem"):
            flags.append("--read-only")
        if ctx.get("allowPrivilegeEscalation") is False:
            flags += ["--security-opt", "no-new-privileges"]
        caps = ctx.get("capabilities") or {}
        flags += [f"--cap-drop={c}" for c in caps.get("drop") or []]
        flags += [f"--cap-add={c}" for c in caps.get("add") or []]
        seccomp = (ctx.get("seccompProfile") or {}).get("type", "RuntimeDefault")
        if seccomp != "RuntimeDefault":
            raise PodError(f"{pod.name}: seccomp profile {seccomp} is not emulated")
        return flags

    def volume_flags(self, pod: Pod, container: Obj, owner: Obj) -> list[str]:
        volumes = {v["name"]: v for v in pod.spec.get("volumes") or []}
        claims = {
            c["metadata"]["name"]
            for c in (owner.get("spec") or {}).get("volumeClaimTemplates") or []
        }
        flags: list[str] = []
        for mount in container.get("volumeMounts") or []:
            path, name = mount["mountPath"], mount["name"]
            ro = ",readonly" if mount.get("readOnly") else ""
            if name in claims:
                flags += ["--mount", f"type=volume,destination={path}{ro}"]
                continue
            volume = volumes.get(name)
            if volume is None:
                raise PodError(f"{pod.name}: volume {name} is not defined")
            if "emptyDir" in volume:
                size = (volume["emptyDir"] or {}).get("sizeLimit")
                if path == "/dev/shm":
                    flags += ["--shm-size", str(int(quantity(size or "64Mi")))]
                    continue
                options = "rw,exec,mode=1777" + (f",size={int(quantity(size))}" if size else "")
                flags += ["--tmpfs", f"{path}:{options}"]
            elif "configMap" in volume or "secret" in volume:
                src = self._files_volume(pod, name, volume, mount)
                flags += ["--mount", f"type=bind,source={src},destination={path},readonly"]
            else:
                raise PodError(f"{pod.name}: volume {name} of this type is not emulated")
        return flags

    def _files_volume(self, pod: Pod, name: str, volume: Obj, mount: Obj) -> Path:
        if "configMap" in volume:
            source, data = (
                volume["configMap"],
                self.rendered.config_map(volume["configMap"]["name"]),
            )
        else:
            source = volume["secret"]
            data = self.rendered.secret(source["secretName"])
        items = source.get("items") or [{"key": k, "path": k} for k in data]
        root = self.workdir / pod.name / name
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        for item in items:
            target = root / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(data[item["key"]])
            target.chmod(item.get("mode", source.get("defaultMode", 0o644)))
        return root / mount["subPath"] if mount.get("subPath") else root

    def network_flags(self, pod: Pod, owner: Obj) -> list[str]:
        ns = self.rendered.namespace
        flags = ["--network", self.network, "--hostname", pod.name]
        aliases = {pod.name}
        for svc in self.rendered.services_selecting(pod.labels):
            name = svc["metadata"]["name"]
            aliases |= {name, f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"}
            self._check_ports(pod, svc)
        governing = (owner.get("spec") or {}).get("serviceName")
        if owner.get("kind") == "StatefulSet" and governing:
            aliases |= {f"{pod.name}.{governing}", f"{pod.name}.{governing}.{ns}.svc"}
        for alias in sorted(aliases):
            flags += ["--network-alias", alias]
        return flags

    def _check_ports(self, pod: Pod, svc: Obj) -> None:
        """A Docker alias cannot remap ports: each Service port must equal its target."""
        for port in svc["spec"].get("ports") or []:
            target = self.container_port(pod, port.get("targetPort", port["port"]))
            if target != port["port"]:
                raise PodError(
                    f"Service {svc['metadata']['name']} maps port {port['port']} to {target}: "
                    "not reproducible with Docker network aliases"
                )

    @staticmethod
    def container_port(pod: Pod, port: int | str) -> int:
        """A port number, or the number of a named container port of the pod."""
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for container in pod.spec["containers"]:
            for p in container.get("ports") or []:
                if p.get("name") == port:
                    return int(p["containerPort"])
        raise PodError(f"{pod.name}: no container port named {port!r}")

    @staticmethod
    def resource_flags(container: Obj) -> list[str]:
        limits = (container.get("resources") or {}).get("limits") or {}
        flags = []
        if "cpu" in limits:
            flags += ["--cpus", f"{quantity(limits['cpu']):g}"]
        if "memory" in limits:
            flags += ["--memory", str(int(quantity(limits["memory"])))]
        return flags

    # -- running ------------------------------------------------------------------------

    def start(self, owner: Obj, index: int = 0) -> Pod:
        """Start every container of the rendered workload's pod (detached)."""
        pod = pod_of(owner, index)
        name = pod.name
        for container in pod.spec.get("initContainers") or []:
            self._run_init(pod, owner, container)
        for container in pod.spec["containers"]:
            image = self.image_for(container["image"])
            if image is None:
                reason = self.unavailable[container["image"].rsplit(":", 1)[0]]
                self.skipped.append(f"{name}/{container['name']}: {reason}")
                continue
            self._run(pod, owner, container, image)
        if not pod.containers:
            raise PodError(f"{name}: none of its containers can run here")
        pod.ip = self._ip(pod.main)
        return pod

    def _run_init(self, pod: Pod, owner: Obj, container: Obj, timeout: float = 120) -> None:
        """One init container, run to its end before anything else of the pod starts."""
        image = self.image_for(container["image"])
        if image is None:
            raise PodError(f"{pod.name}/{container['name']}: its image cannot run here")
        docker_name = self._run(pod, owner, container, image, register=False)
        try:
            code = int(de.docker("wait", docker_name, timeout=timeout).stdout.strip() or "-1")
            output = de.logs(docker_name, lines=500)
        finally:
            de.remove(docker_name)
        if code != 0:
            raise PodError(
                f"{pod.name}: init container {container['name']} exited {code}: {output}"
            )
        pod.init_logs[container["name"]] = output

    def _run(self, pod: Pod, owner: Obj, container: Obj, image: str, register: bool = True) -> str:
        docker_name = de.unique(f"{pod.name}-{container['name']}")[:63]
        env = self.environment(pod, container)
        command = [HR.expand(str(a), env) for a in container.get("command") or []]
        args = [HR.expand(str(a), env) for a in container.get("args") or []]
        flags = ["--detach", "--name", docker_name, "--label", f"{de.LABEL}=1"]
        if pod.containers:  # a pod's containers share its network namespace
            flags += ["--network", f"container:{pod.main}"]
        else:
            flags += self.network_flags(pod, owner)
        flags += self.security_flags(pod, container, image)
        flags += self.volume_flags(pod, container, owner)
        flags += self.resource_flags(container)
        if container.get("workingDir"):
            flags += ["--workdir", container["workingDir"]]
        for key, value in env.items():
            # Values travel in docker's own environment, not on its command line, except
            # the few that the docker client itself reads.
            own = key in ("PATH", "HOME", "TMPDIR") or key.startswith("DOCKER_")
            flags += ["--env", f"{key}={value}" if own else key]
        if command:
            flags += ["--entrypoint", command[0]]
        argv = [*command[1:], *args]
        passed = {k: v for k, v in env.items() if f"{k}={v}" not in flags}
        de.docker("run", *flags, image, *argv, env=passed)
        self._started.append(docker_name)
        if register:
            pod.containers[container["name"]] = docker_name
        return docker_name

    def _ip(self, container: str) -> str:
        fmt = f'{{{{(index .NetworkSettings.Networks "{self.network}").IPAddress}}}}'
        return de.docker("inspect", "--format", fmt, container).stdout.strip()

    def running(self, container: str) -> bool:
        state = de.docker("inspect", "--format", "{{.State.Running}}", container, check=False)
        return state.stdout.strip() == "true"

    def probe(self, pod: Pod, container: Obj, probe: Obj) -> bool:
        """One probe attempt, as the kubelet makes it."""
        timeout = float(probe.get("timeoutSeconds", 1))
        if "httpGet" in probe:
            get = probe["httpGet"]
            port = self.container_port(pod, get["port"])
            url = f"{get.get('scheme', 'HTTP').lower()}://{pod.ip}:{port}{get.get('path', '/')}"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
                    return 200 <= resp.status < 400
            except (urllib.error.URLError, OSError):
                return False
        if "tcpSocket" in probe:
            port = self.container_port(pod, probe["tcpSocket"]["port"])
            try:
                socket.create_connection((pod.ip, port), timeout=timeout).close()
            except OSError:
                return False
            return True
        if "exec" in probe:
            done = de.docker(
                "exec", pod.containers[container["name"]], *probe["exec"]["command"],
                check=False, timeout=timeout + 10,
            )  # fmt: skip
            return done.returncode == 0
        raise PodError(f"{pod.name}: probe {probe} is not emulated")

    def wait_ready(self, pod: Pod, timeout: float = 90) -> None:
        """Startup probes, then readiness probes, of every running container; then liveness
        once. Fails early, with the logs, if a container exits."""
        deadline = time.monotonic() + timeout
        for container in pod.spec["containers"]:
            if container["name"] not in pod.containers:
                continue
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = container.get(kind)
                if probe is None:
                    continue
                while not self.probe(pod, container, probe):
                    docker_name = pod.containers[container["name"]]
                    if not self.running(docker_name):
                        raise PodError(
                            f"{docker_name} exited before its {kind} passed:\n"
                            f"{de.logs(docker_name)}"
                        )
                    if time.monotonic() > deadline:
                        raise PodError(
                            f"{docker_name}: {kind} failed for {timeout:.0f}s:\n"
                            f"{de.logs(docker_name)}"
                        )
                    time.sleep(0.25)

    def run_job(self, job: Obj, index: int = 0, timeout: float = 300) -> tuple[int, str]:
        """Run one pod of a Job to completion: (exit code of its first container, output)."""
        pod = self.start(job, index)
        try:
            done = de.docker("wait", pod.main, timeout=timeout)
            return int(done.stdout.strip() or "-1"), de.logs(pod.main, lines=500)
        finally:
            de.remove(*pod.containers.values())

    def stop(self, pod: Pod) -> None:
        """SIGTERM to every container, as on pod deletion; a container still running after
        the pod's grace period is killed, and that is an error (it ignored SIGTERM)."""
        grace = int(pod.spec.get("terminationGracePeriodSeconds", 30))
        names = list(reversed(pod.containers.values()))  # the namespace holder last
        started = time.monotonic()
        try:
            de.docker("stop", "--time", str(grace), *names, timeout=grace + 30)
            took = time.monotonic() - started
            if took >= grace:
                raise PodError(f"{pod.name} did not stop on SIGTERM within {grace}s")
        finally:
            de.remove(*names)

    def cleanup(self) -> None:
        """Remove every container this runner started."""
        de.remove(*self._started)
        self._started.clear()


@contextlib.contextmanager
def running(runner: PodRunner, owner: Obj, ready_timeout: float = 90) -> Iterator[Pod]:
    """A started, ready pod; stopped with SIGTERM afterwards (removed at once on an error)."""
    pod = runner.start(owner)
    try:
        runner.wait_ready(pod, ready_timeout)
        yield pod
    except BaseException:
        de.remove(*pod.containers.values())
        raise
    runner.stop(pod)
