"""The PromQL the Kubernetes backend asks: cAdvisor's view of the server's CPU and memory (a
cross-check of its cgroup counters, and the fallback) and of the k6 pods' CPU."""

from __future__ import annotations

SCRAPE_INTERVAL_S = 5.0
"""Prometheus' scrape interval (charts/monitoring/kube-prometheus-stack-values.yaml)."""


def selector(**labels: str) -> str:
    """PromQL label matchers; values with regex characters match as regexes."""
    return ",".join(
        f'{k}{"=~" if any(c in v for c in "[]*+") else "="}"{v}"' for k, v in labels.items()
    )


def usage_queries(server: str, k6: str, window: str) -> dict[str, str]:
    """CPU seconds (and how many samples they rest on), peak RSS and throttled seconds of the
    server's pods, and the k6 pods' CPU, over ``window``; ``server`` and ``k6`` are selectors."""
    return {
        "cpu_s": f"sum(increase(container_cpu_usage_seconds_total{{{server}}}[{window}]))",
        "cpu_samples": (
            f"sum(count_over_time(container_cpu_usage_seconds_total{{{server}}}[{window}]))"
        ),
        "rss": f"max(max_over_time(container_memory_rss{{{server}}}[{window}]))",
        "load_cpu_s": f"sum(increase(container_cpu_usage_seconds_total{{{k6}}}[{window}]))",
        "throttled_s": (
            f"sum(increase(container_cpu_cfs_throttled_seconds_total{{{server}}}[{window}]))"
        ),
    }
