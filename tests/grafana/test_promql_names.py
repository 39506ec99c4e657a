"""The PromQL tokenizer the dashboard tests rely on: it must find every metric and nothing else."""

from __future__ import annotations

import pytest
from promql_names import grafana_variables, metric_names, selectors, variable_query


@pytest.mark.parametrize(
    ("expr", "metrics"),
    [
        ("up", {"up"}),
        ("sum(up)", {"up"}),
        (
            'sum by (pod) (rate(container_cpu_usage_seconds_total{namespace="x", '
            'pod=~"a-[a-z0-9]+"}[5m]))',
            {"container_cpu_usage_seconds_total"},
        ),
        (
            "histogram_quantile(0.99, sum by (le, variant) (rate(foo_seconds_bucket[1m])))",
            {"foo_seconds_bucket"},
        ),
        ("a / on (pod) group_left (node, variant) b", {"a", "b"}),
        ("count without (instance) (y offset 5m) > bool 1e3", {"y"}),
        ("max_over_time(up[$__range:])", {"up"}),
        ("rate(m[$__rate_interval]) * 1000 / rate(n[${__rate_interval}])", {"m", "n"}),
        ('histogram_quantile($quantile, sum(rate(h{run=~"$run"}[1m])))', {"h"}),
        ('m{a="rate(b) and c{d}"}', {"m"}),
        ("x and ignoring (le) y unless z or w", {"x", "y", "z", "w"}),
        ("sum(rate(a[1m])) by (pod)", {"a"}),
        ("sum(rate(a:recorded:rate5m[1h30m]))", {"a:recorded:rate5m"}),
        ("topk(3, sum by (route) (r_total)) @ end()", {"r_total"}),
    ],
)
def test_metric_names(expr: str, metrics: set[str]) -> None:
    assert metric_names(expr) == metrics


def test_selector_labels() -> None:
    found = selectors('a{run=~"$run", b!="x"} / on (pod) b{c="1"} + c')
    assert [(s.metric, set(s.labels)) for s in found] == [
        ("a", {"run", "b"}),
        ("b", {"c"}),
        ("c", set()),
    ]


@pytest.mark.parametrize("expr", ['{__name__="up"}', 'up{__name__=~"x.*"}', '{job="a"}'])
def test_hidden_metric_names_are_refused(expr: str) -> None:
    with pytest.raises(ValueError):
        metric_names(expr)


def test_unbalanced_is_an_error() -> None:
    with pytest.raises(ValueError, match="unbalanced"):
        metric_names('sum(rate(a{b="c"[5m]))')


def test_grafana_variables() -> None:
    text = '$run ${variant} ${workload:regex} [[old]] $__rate_interval {{legend}} "$"'
    assert grafana_variables(text) == {"run", "variant", "workload", "old", "__rate_interval"}


def test_variable_queries() -> None:
    q = variable_query('label_values(k6_http_reqs_total{run=~"$run"}, variant)')
    assert (q.expr, q.label) == ('k6_http_reqs_total{run=~"$run"}', "variant")
    assert variable_query("label_values(namespace)").expr is None
    assert variable_query("query_result(sum(up))").expr == "sum(up)"
    with pytest.raises(ValueError):
        variable_query("metrics(k6_.*)")
