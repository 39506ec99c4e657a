"""helm, kubectl, the cluster's API and Prometheus, as the Kubernetes backend uses them.

helm installs and removes releases; cluster state (Jobs, pods) is read with the official
``kubernetes`` client, as API objects rather than parsed command output.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from djbench.backends.kubernetes.jobwatch import owned_pods, pod_selector, pod_trouble
from djbench.contracts.chart_values import REPO
from djbench.model.errors import DjbenchError

TOOLS_BIN = REPO / ".tools" / "bin"
HOW_TO = {
    "helm": "run bin/k8s-tools (installs helm and kubectl into .tools/bin)",
    "kubectl": "run bin/k8s-tools (installs helm and kubectl into .tools/bin)",
}


def find_tool(name: str) -> Path:
    """A tool on PATH, else in the repository's ``.tools/bin``; else a how-to-install error."""
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    local = TOOLS_BIN / name
    if local.is_file():
        return local
    raise DjbenchError(f"{name} not found: {HOW_TO.get(name, 'install it')}")


WATCH_S = 2.0
"""How often a watched install looks at its release's pods."""


@dataclass(frozen=True)
class PrometheusRef:
    """Where Prometheus answers, reached through the API server's service proxy."""

    namespace: str = "monitoring"
    service: str = (
        "monitoring-prometheus"  # fixed by charts/monitoring/kube-prometheus-stack-values.yaml
    )
    port: int = 9090

    @property
    def label(self) -> str:
        """``monitoring/monitoring-prometheus:9090``: as ``--prometheus`` takes it."""
        return f"{self.namespace}/{self.service}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> PrometheusRef | None:
        """``NAMESPACE/SERVICE[:PORT]`` (a Prometheus the cluster already runs), or ``none``
        (no Prometheus: no k6 metrics remote-written, no cAdvisor cross-check)."""
        if text == "none":
            return None
        where, _, port = text.partition(":")
        namespace, _, service = where.partition("/")
        names = all(_DNS_LABEL.fullmatch(n) for n in (namespace, service))
        if not names or (port and not port.isdigit()):
            raise DjbenchError(
                f"--prometheus {text!r}: give NAMESPACE/SERVICE[:PORT] of the cluster's "
                "Prometheus (e.g. monitoring/prometheus-operated:9090), or none"
            )
        return cls(namespace, service, int(port) if port else 9090)


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
DEFAULT_PROMETHEUS = PrometheusRef()
"""The one `task up` installs (kube-prometheus-stack, charts/monitoring)."""


class Kube:
    """Runs helm and kubectl against one namespace; every failure is a one-line DjbenchError."""

    def __init__(self, namespace: str, context: str | None = None) -> None:
        self.namespace = namespace
        self.context = context
        self._helm = find_tool("helm")
        self._kubectl = find_tool("kubectl")

    def _context(self, flag: str) -> list[str]:
        return [flag, self.context] if self.context else []

    def helm(self, *args: str, timeout: float = 900, watch: str | None = None) -> str:
        """``helm ARGS --namespace NS``; returns stdout. ``watch``: a release whose install
        waits (``--wait``): its pods are watched meanwhile, and one that will never become
        ready fails it within seconds with the cluster's reason (``watched``)."""
        cmd = [
            str(self._helm),
            *args,
            "--namespace",
            self.namespace,
            *self._context("--kube-context"),
        ]
        if watch is None:
            return _run(cmd, timeout)
        return self.watched(cmd, f"app.kubernetes.io/instance={watch}", timeout)

    def watched(self, cmd: list[str], selector: str, timeout: float) -> str:
        """Run ``cmd`` while watching the pods ``selector`` names (a release's: its server,
        a prepare Job's): one that will never become ready (``pod_trouble``) stops it with
        the cluster's reason; so does ``timeout``, naming where to look. Returns stdout."""
        name = selector.partition("=")[2] or selector
        deadline = time.monotonic() + timeout
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            while True:
                try:
                    out, err = proc.communicate(timeout=WATCH_S)
                    break
                except subprocess.TimeoutExpired:
                    pass
                trouble = None
                with contextlib.suppress(DjbenchError):  # the API answers the next time
                    trouble = pod_trouble(self.pods(selector))
                if trouble is not None:
                    raise DjbenchError(f"{name} will not become ready: {trouble}")
                if time.monotonic() >= deadline:
                    raise DjbenchError(
                        f"{name} was not ready within {timeout:.0f} s "
                        f"(kubectl describe pods -l {selector})"
                    )
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()
        if proc.returncode != 0:
            message = (err.strip() or out.strip()).splitlines()
            raise DjbenchError(f"{_name(cmd)}: {message[-1] if message else 'failed'}")
        return out

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 300) -> str:
        """``kubectl ARGS --namespace NS``; returns stdout."""
        cmd = [str(self._kubectl), *args, "--namespace", self.namespace]
        cmd += self._context("--context")
        return _run(cmd, timeout, stdin)

    @functools.cached_property
    def _api(self) -> Any:
        """The ``kubernetes`` client for the kubeconfig's (or ``context``'s) cluster."""
        from kubernetes import config
        from kubernetes.config.config_exception import ConfigException

        try:
            # KUBECONFIG read now, like kubectl (the client reads it once, at its import); it may
            # list several files. The function has no annotations, though the client is typed.
            return config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=os.environ.get("KUBECONFIG") or None, context=self.context
            )
        except (ConfigException, OSError) as exc:
            raise DjbenchError(f"kubernetes: no usable kubeconfig ({exc})") from exc

    @functools.cached_property
    def _exec_api(self) -> Any:
        """A client of its own for exec: the client's websocket call swaps a method of the
        ApiClient while it runs, which would race with reads from other threads."""
        from kubernetes import config

        self._api  # noqa: B018 -- the kubeconfig checked once, with its one-line error
        return config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG") or None, context=self.context
        )

    def _read(self, what: str, call: Any) -> Any:
        """One API call, its answer as a JSON-shaped object; failures are one line."""
        from kubernetes.client import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return self._api.sanitize_for_serialization(call())
        except ApiException as exc:
            raise DjbenchError(f"kubernetes: reading {what}: {exc.status} {exc.reason}") from exc
        except HTTPError as exc:
            raise DjbenchError(f"kubernetes: reading {what}: {exc}") from exc

    def config_map(self, name: str) -> dict[str, str] | None:
        """A ConfigMap's data in the namespace; None when there is no such ConfigMap."""
        from kubernetes.client import CoreV1Api

        api = CoreV1Api(self._api)
        found = self._read_or_none(
            f"configmap {name}", lambda: api.read_namespaced_config_map(name, self.namespace)
        )
        if found is None:
            return None
        return {str(k): str(v) for k, v in (found.get("data") or {}).items()}

    def job(self, name: str) -> dict[str, Any]:
        """A Job of the namespace, as its API object."""
        from kubernetes.client import BatchV1Api

        api = BatchV1Api(self._api)
        read: dict[str, Any] = self._read(
            f"job {name}", lambda: api.read_namespaced_job_status(name, self.namespace)
        )
        return read

    def job_pods(self, name: str) -> list[dict[str, Any]]:
        """The pods a Job created: by the Job's own selector and owner references, which
        every cluster version sets (1.27 added the ``batch.kubernetes.io/`` labels)."""
        from kubernetes.client import CoreV1Api

        job = self.job(name)
        selector = pod_selector(job)
        api = CoreV1Api(self._api)
        listing = self._read(
            f"pods of job {name}",
            lambda: api.list_namespaced_pod(self.namespace, label_selector=selector),
        )
        return owned_pods(job, listing.get("items") or [])

    def pods(self, label_selector: str) -> list[dict[str, Any]]:
        """The namespace's pods that match a label selector, as API objects."""
        from kubernetes.client import CoreV1Api

        api = CoreV1Api(self._api)
        listing = self._read(
            f"pods {label_selector}",
            lambda: api.list_namespaced_pod(self.namespace, label_selector=label_selector),
        )
        return list(listing.get("items") or [])

    def server_version(self) -> str | None:
        """The API server's version (``v1.35.0``), as it reports it."""
        from kubernetes.client import VersionApi

        found = self._read("the server version", lambda: VersionApi(self._api).get_code())
        version = found.get("gitVersion") if isinstance(found, dict) else None
        return str(version) if version else None

    def deployment(self, name: str) -> dict[str, Any] | None:
        """A Deployment of the namespace as its API object; None when there is none."""
        from kubernetes.client import AppsV1Api

        api = AppsV1Api(self._api)
        found: dict[str, Any] | None = self._read_or_none(
            f"deployment {name}", lambda: api.read_namespaced_deployment(name, self.namespace)
        )
        return found

    def service(self, name: str) -> dict[str, Any] | None:
        """A Service of the namespace as its API object; None when there is none."""
        from kubernetes.client import CoreV1Api

        api = CoreV1Api(self._api)
        found: dict[str, Any] | None = self._read_or_none(
            f"service {name}", lambda: api.read_namespaced_service(name, self.namespace)
        )
        return found

    def _read_or_none(self, what: str, call: Any) -> Any:
        """Like ``_read``, with None for an object that does not exist (404)."""
        from kubernetes.client import ApiException

        try:
            return self._read(what, call)
        except DjbenchError as exc:
            if isinstance(exc.__cause__, ApiException) and exc.__cause__.status == 404:
                return None
            raise

    def running_pod(self, release: str) -> str:
        """The name of a Running pod of a release (the charts' ``app.kubernetes.io/instance``)."""
        from kubernetes.client import CoreV1Api

        api = CoreV1Api(self._api)
        listing = self._read(
            f"pods of {release}",
            lambda: api.list_namespaced_pod(
                self.namespace,
                label_selector=f"app.kubernetes.io/instance={release}",
                field_selector="status.phase=Running",
            ),
        )
        names = sorted(
            str(pod["metadata"]["name"])
            for pod in listing.get("items") or []
            if not pod["metadata"].get("deletionTimestamp")
        )
        if not names:
            raise DjbenchError(f"kubernetes: {release} has no running pod")
        return names[0]

    def pod_log(self, pod: str, container: str, tail: int | None = None) -> str:
        """A container's log: all of it, or its last ``tail`` lines."""
        from kubernetes.client import CoreV1Api

        api = CoreV1Api(self._api)
        text: str = self._read(
            f"log of {pod}/{container}",
            lambda: api.read_namespaced_pod_log(
                pod, self.namespace, container=container, tail_lines=tail
            ),
        )
        return text

    def exec(self, pod: str, container: str, command: list[str], timeout: float = 30) -> str:
        """Run a command in a container and return its stdout; a non-zero exit is an error."""
        from kubernetes.client import ApiException, CoreV1Api
        from kubernetes.stream import stream
        from urllib3.exceptions import HTTPError
        from websocket import WebSocketException

        api = CoreV1Api(self._exec_api)
        where = f"exec in {pod}/{container}"
        try:
            resp = stream(
                api.connect_get_namespaced_pod_exec, pod, self.namespace, container=container,
                command=command, stdin=False, stdout=True, stderr=True, tty=False,
                _preload_content=False,
            )  # fmt: skip
            try:
                resp.run_forever(timeout=timeout)
                out, err, code = resp.read_stdout(), resp.read_stderr(), resp.returncode
            finally:
                resp.close()
        except ApiException as exc:
            raise DjbenchError(f"kubernetes: {where}: {exc.status} {exc.reason}") from exc
        except (HTTPError, WebSocketException, OSError) as exc:
            raise DjbenchError(f"kubernetes: {where}: {exc}") from exc
        if code != 0:
            last = (err.strip() or out.strip()).splitlines()
            raise DjbenchError(
                f"kubernetes: {where} exited {code}: {last[-1] if last else 'no output'}"
            )
        return str(out)

    def service_get(self, service: str, port: int, path: str, namespace: str | None = None) -> str:
        """GET a path of a Service through the API server's proxy (no port-forward)."""
        ns = namespace or self.namespace
        return self.kubectl(
            "get", "--raw", f"/api/v1/namespaces/{ns}/services/{service}:{port}/proxy{path}"
        )

    def service_post(self, service: str, port: int, path: str, body: str) -> str:
        """POST a JSON body to a Service through the API server's proxy."""
        raw = f"/api/v1/namespaces/{self.namespace}/services/{service}:{port}/proxy{path}"
        return self.kubectl("create", "--raw", raw, "-f", "-", stdin=body)

    def prometheus(self, prom: PrometheusRef, query: str, at: float) -> float | None:
        """One instant PromQL query at a wall-clock time; None when it has no sample."""
        params = urllib.parse.urlencode({"query": query, "time": f"{at:.3f}"})
        raw = self.service_get(prom.service, prom.port, f"/api/v1/query?{params}", prom.namespace)
        try:
            doc = json.loads(raw)
            if doc.get("status") != "success":
                raise DjbenchError(f"prometheus: {doc.get('error', 'query failed')}: {query}")
            result = doc["data"]["result"]
            if not result:
                return None
            value = float(result[0]["value"][1])
        except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise DjbenchError(f"prometheus: unexpected answer to {query}: {raw[:200]}") from exc
        return None if value != value else value  # NaN: no data in the window


def _run(cmd: list[str], timeout: float, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise DjbenchError(f"{_name(cmd)} timed out after {timeout:.0f}s") from exc
    if done.returncode != 0:
        message = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise DjbenchError(f"{_name(cmd)}: {message[-1] if message else 'failed'}")
    return done.stdout


def _name(cmd: list[str]) -> str:
    """``kubectl get`` / ``helm upgrade``: the program and its subcommand, for messages."""
    words = [a for a in cmd[1:] if not a.startswith("-")]
    return f"{Path(cmd[0]).name} {words[0] if words else ''}".strip()
