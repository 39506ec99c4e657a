"""The allow-list of dashboard metrics is itself checked: against the app's registry, what the
stub API serves, the k6 binary the project uses, and the k6 script's tags."""

from __future__ import annotations

import contextlib
import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import metric_sources as ms
import pytest

from djbench.measure.k6 import find_k6
from djbench.model.errors import DjbenchError


def test_app_metrics_come_from_its_registry() -> None:
    app = ms.app_metrics()
    assert app["djbench_request_duration_seconds_bucket"] == "histogram"
    assert {
        "djbench_request_duration_seconds_sum",
        "djbench_request_duration_seconds_count",
    } <= set(app)
    assert app["process_cpu_seconds_total"] == "counter"
    assert not any(name.endswith("_created") for name in app)


def test_stub_metrics_are_what_the_stub_serves() -> None:
    """The table the allow-list reads is the one /metrics renders (in-process, no server)."""
    from stubapi.metrics import render

    lines = render().decode().splitlines()
    served = dict(line.split()[2:4] for line in lines if line.startswith("# TYPE "))
    assert ms.stub_metrics() == served
    assert served["djbench_stub_requests_total"] == "counter"
    assert served["djbench_stub_in_flight"] == "gauge"
    assert ms.allowed_metrics()["djbench_stub_in_flight"] == "stub API"


def test_k6_remote_write_names() -> None:
    k6 = ms.k6_metrics()
    # The names the k6 maintainers' own Prometheus dashboards query (native-histogram flavour).
    for name in (
        "k6_http_reqs_total",
        "k6_http_req_duration_seconds",
        "k6_http_req_failed_rate",
        "k6_dropped_iterations_total",
        "k6_vus",
        "k6_iterations_total",
        "k6_data_sent_total",
    ):
        assert name in k6, name
    assert not any(name.endswith("_bucket") for name in k6), "native histograms have no _bucket"


def test_k6_script_tags() -> None:
    assert {"run", "variant", "workload", "step", "phase", "name"} <= ms.k6_script_tags()


def test_cadvisor_list_leaves_out_what_the_kubelet_scrape_drops(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kept = ms.cadvisor_metrics()
    assert "container_cpu_usage_seconds_total" in kept
    assert "container_cpu_cfs_throttled_periods_total" in kept
    assert "container_memory_mapped_file" not in kept
    # Without our values: kube-prometheus-stack's defaults.
    monkeypatch.setattr(ms, "MONITORING_VALUES", tmp_path / "absent.yaml")
    default = ms.cadvisor_metrics()
    assert "container_cpu_cfs_throttled_seconds_total" not in default
    assert "container_spec_cpu_quota" not in default


# Every kind of built-in metric: HTTP, checks, VUs and (one VU, a fast arrival rate, a slow
# iteration) dropped iterations.
PROBE = """
import http from 'k6/http';
import { check, sleep } from 'k6';
export const options = {
  scenarios: {
    probe: {
      executor: 'constant-arrival-rate', rate: 20, timeUnit: '1s', duration: '1500ms',
      preAllocatedVUs: 1, maxVUs: 1,
    },
  },
};
export default function () {
  check(http.get(__ENV.PROBE_URL), { ok: (r) => r.status === 200 });
  sleep(0.3);
}
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _http_server(directory: Path) -> Iterator[str]:
    def handler(*args: object, **kwargs: object) -> _Quiet:
        return _Quiet(*args, directory=str(directory), **kwargs)  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_k6_builtin_table_matches_the_k6_binary(tmp_path: Path) -> None:
    """What k6 itself says about each metric it emits (``--out json`` Metric records)."""
    try:
        k6 = find_k6()
    except DjbenchError as exc:
        pytest.skip(str(exc))
    script = tmp_path / "probe.js"
    script.write_text(PROBE)
    out = tmp_path / "out.json"
    with _http_server(tmp_path) as url:
        done = subprocess.run(
            [str(k6), "run", "--quiet", "--no-summary", "--out", f"json={out}", str(script)],
            env={"PROBE_URL": url, "K6_NO_USAGE_REPORT": "true", "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    emitted: dict[str, tuple[str, str]] = {}
    for line in out.read_text().splitlines():
        record = json.loads(line)
        if record["type"] == "Metric":
            data = record["data"]
            emitted[data["name"]] = (data["type"], data["contains"])
    assert {"http_reqs", "http_req_duration", "checks", "vus", "dropped_iterations"} <= set(emitted)
    for name, kind in emitted.items():
        assert ms.K6_BUILTIN.get(name) == kind, f"k6 reports {name} as {kind}"
