"""The Kubernetes backend: the same plan, with helm releases, k6 Jobs and Prometheus.

Infrastructure (Postgres, the stub API, monitoring) is installed by ``task up``; the backend
checks it is there, installs one variant at a time, runs each step as a k6 Indexed Job, reads
the client side from the Jobs' summaries (pod logs) and the server side from Prometheus
(cAdvisor's per-container CPU and memory); a run at a distance puts a latency proxy's release
between the variant and Postgres or the stub API. Its parts: ``releases`` (helm arguments),
``k6_logs`` (the client side), ``promql`` (the queries), ``server_side`` (the cgroup and
cAdvisor), ``proxy_releases`` (latency proxies), ``pods`` (what pods say), ``kube`` and
``jobwatch`` (the cluster's API), ``backend`` (the lifecycle).
"""

from djbench.backends.kubernetes.backend import (
    MIN_STEP_S,
    PLACEMENT_CONFIGMAP,
    KubernetesBackend,
)
from djbench.backends.kubernetes.k6_logs import merge_client_stats, summaries_from_logs
from djbench.backends.kubernetes.releases import (
    LOADTEST_CHART,
    SERVER_PORT,
    STUB_PORT,
    STUB_SERVICE,
    VARIANT_CHART,
    cpu_quantity,
    step_install_args,
    step_release,
    variant_install_args,
    variant_release,
)
from djbench.backends.kubernetes.server_side import KubeServer
from djbench.contracts.chart_values import CHARTS

__all__ = [
    "CHARTS",
    "LOADTEST_CHART",
    "MIN_STEP_S",
    "PLACEMENT_CONFIGMAP",
    "SERVER_PORT",
    "STUB_PORT",
    "STUB_SERVICE",
    "VARIANT_CHART",
    "KubeServer",
    "KubernetesBackend",
    "cpu_quantity",
    "merge_client_stats",
    "step_install_args",
    "step_release",
    "summaries_from_logs",
    "variant_install_args",
    "variant_release",
]
