"""The PromQL the Kubernetes backend asks: the server's CPU and memory (cAdvisor) and the
step's latency merged over k6 pods (native histograms)."""

from __future__ import annotations

SCRAPE_INTERVAL_S = 5.0
"""Prometheus' scrape interval (charts/monitoring/kube-prometheus-stack-values.yaml)."""
PUSH_INTERVAL_S = 5.0
"""k6's remote-write push interval (charts/loadtest/values.yaml)."""
QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
"""The latency figures of a step and the quantile each is."""


def selector(**labels: str) -> str:
    """PromQL label matchers; values with regex characters match as regexes."""
    return ",".join(
        f'{k}{"=~" if any(c in v for c in "[]*+") else "="}"{v}"' for k, v in labels.items()
    )


def latency_query(selected: str, quantile: float, reach: str) -> str:
    """One quantile of ``k6_http_req_duration_seconds`` over every pod's samples."""
    return (
        f"histogram_quantile({quantile}, sum(increase(k6_http_req_duration_seconds{{{selected}}}"
        f"[{reach}])))"
    )


def usage_queries(server: str, k6: str, window: str) -> dict[str, str]:
    """CPU seconds, peak RSS and throttled seconds of the server's pods, and the k6 pods' CPU,
    over ``window``; ``server`` and ``k6`` are selectors."""
    return {
        "cpu_s": f"sum(increase(container_cpu_usage_seconds_total{{{server}}}[{window}]))",
        "rss": f"max(max_over_time(container_memory_rss{{{server}}}[{window}]))",
        "load_cpu_s": f"sum(increase(container_cpu_usage_seconds_total{{{k6}}}[{window}]))",
        "throttled_s": (
            f"sum(increase(container_cpu_cfs_throttled_seconds_total{{{server}}}[{window}]))"
        ),
    }
