"""The cluster reads of ``Kube`` through the real ``kubernetes`` client, against a loopback API
server that answers with recorded objects (fixtures/k8s)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from djbench.errors import DjbenchError
from djbench.kube import Kube

RECORDED = Path(__file__).parent / "fixtures" / "k8s"
JOB = "k6-20261126t070000z-0003"


def _object(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((RECORDED / f"{name}.json").read_text())
    return loaded


class RecordedApi(BaseHTTPRequestHandler):
    """Serves the Job's status and its pods; any other path is a 404 Status, as the API's."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == f"/apis/batch/v1/namespaces/djbench/jobs/{JOB}/status":
            self._answer(200, _object("job-complete"))
        elif url.path == "/api/v1/namespaces/djbench/configmaps/djbench-placement":
            placement = {"host-cpus": "8", "sut": "6-7", "load": "3-5", "infra": "0-2"}
            meta = {"name": "djbench-placement"}
            self._answer(200, {"kind": "ConfigMap", "metadata": meta, "data": placement})
        elif url.path == "/api/v1/namespaces/djbench/pods":
            selector = parse_qs(url.query).get("labelSelector", [""])[0]
            items = [_object("pod-unschedulable"), _object("pod-running")]
            if selector != f"batch.kubernetes.io/job-name={JOB}":
                items = []
            self._answer(200, {"apiVersion": "v1", "kind": "PodList", "items": items})
        else:
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                      "reason": "NotFound", "code": 404}  # fmt: skip
            self._answer(404, status)

    def _answer(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kube]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordedApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "rec", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}
                ],
                "users": [{"name": "rec", "user": {"token": "recorded"}}],
                "contexts": [{"name": "rec", "context": {"cluster": "rec", "user": "rec"}}],
                "current-context": "rec",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("helm", "kubectl"):  # Kube finds its tools first; these reads never run them
        (bin_dir / tool).write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    try:
        yield Kube("djbench", context="rec")
    finally:
        server.shutdown()
        server.server_close()


def test_a_job_and_its_pods_read_as_api_objects(kube: Kube) -> None:
    job = kube.job(JOB)
    assert job["kind"] == "Job"
    assert [c["type"] for c in job["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    pods = kube.job_pods(JOB)
    assert [p["metadata"]["name"] for p in pods] == [
        "k6-20261126t070000z-0003-0-x7k2p",
        "k6-20261126t070000z-0003-1-m9q4z",
    ]
    condition = pods[0]["status"]["conditions"][0]
    assert (condition["type"], condition["reason"]) == ("PodScheduled", "Unschedulable")


def test_a_missing_job_is_one_line(kube: Kube) -> None:
    with pytest.raises(DjbenchError, match=r"^kubernetes: reading job nope: 404 "):
        kube.job("nope")


def test_a_config_map_or_none(kube: Kube) -> None:
    placement = kube.config_map("djbench-placement")
    assert placement == {"host-cpus": "8", "sut": "6-7", "load": "3-5", "infra": "0-2"}
    assert kube.config_map("absent") is None
