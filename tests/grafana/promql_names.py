"""Metric names and label names out of the PromQL of Grafana dashboards.

Not a PromQL parser: a small tokenizer that knows where PromQL puts names that are *not*
metrics — function and aggregation names, keywords, label names inside ``{…}`` and in
``by``/``without``/``on``/``ignoring``/``group_left``/``group_right`` lists, string literals,
numbers and durations — so that every other identifier is a metric name. Grafana variables
(``$var``, ``${var}``, ``${var:format}``, ``[[var]]``) are replaced by a number first.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

GRAFANA_VARIABLE = re.compile(
    r"\$(?P<plain>\w+)|\$\{(?P<braced>\w+)(?::[^}]*)?\}|\[\[(?P<old>\w+)(?::[^\]]*)?\]\]"
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+(?:ms|[smhdwy]))+|0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<matchop>=~|!~|!=|==|=)
  | (?P<punct>[{}()\[\],@])
  | (?P<op>[-+*/%^<>]=?|>=|<=)
    """,
    re.VERBOSE,
)
# Aggregation operators take `by (…)`/`without (…)` between their name and their parentheses.
AGGREGATIONS = frozenset(
    [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ]
)
# Keywords whose parenthesised list holds label names.
LABEL_LISTS = frozenset(["by", "without", "on", "ignoring", "group_left", "group_right"])
KEYWORDS = (
    AGGREGATIONS
    | LABEL_LISTS
    | frozenset(["bool", "offset", "and", "or", "unless", "atan2", "inf", "nan"])
)


@dataclass(frozen=True)
class Selector:
    """One vector selector: the metric and the label names its matchers use."""

    metric: str
    labels: frozenset[str]


def grafana_variables(text: str) -> set[str]:
    """Names of the Grafana variables a string refers to."""
    return {
        m.group("plain") or m.group("braced") or m.group("old")
        for m in GRAFANA_VARIABLE.finditer(text)
    }


def _tokens(expr: str) -> list[tuple[str, str]]:
    text = _STRING.sub('""', expr)  # a string's content is never a name
    text = GRAFANA_VARIABLE.sub("1", text)  # durations and numbers, after substitution
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text.startswith('""', pos):
            tokens.append(("string", '""'))
            pos += 2
            continue
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"cannot tokenize PromQL at {text[pos : pos + 20]!r}: {expr}")
        kind = m.lastgroup or ""
        if kind != "space":
            tokens.append((kind, m.group()))
        pos = m.end()
    return tokens


def _closing(tokens: list[tuple[str, str]], start: int, open_: str, close: str) -> int:
    """Index of the token closing the bracket opened at ``start``."""
    depth = 0
    for i in range(start, len(tokens)):
        if tokens[i][1] == open_:
            depth += 1
        elif tokens[i][1] == close:
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced {open_}{close}")


def _matcher_labels(tokens: list[tuple[str, str]]) -> frozenset[str]:
    """Label names of the matchers between ``{`` and ``}`` (exclusive)."""
    labels = {
        value
        for (kind, value), nxt in itertools.pairwise(tokens)
        if kind == "ident" and nxt[0] == "matchop"
    }
    if "__name__" in labels:
        raise ValueError("__name__ matchers hide the metric name: name the metric instead")
    return frozenset(labels)


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of a PromQL expression, in order."""
    tokens = _tokens(expr)
    found: list[Selector] = []
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if value == "[":  # range or subquery: durations only
            i = _closing(tokens, i, "[", "]") + 1
        elif value == "{":  # a selector without a metric name
            end = _closing(tokens, i, "{", "}")
            _matcher_labels(tokens[i + 1 : end])
            raise ValueError(f"selector without a metric name in: {expr}")
        elif kind == "ident" and value in LABEL_LISTS and nxt == "(":
            i = _closing(tokens, i + 1, "(", ")") + 1
        elif kind == "ident" and (nxt == "(" or value in KEYWORDS):
            i += 1  # a function, an aggregation or a keyword
        elif kind == "ident":
            labels: frozenset[str] = frozenset()
            i += 1
            if nxt == "{":
                end = _closing(tokens, i, "{", "}")
                labels = _matcher_labels(tokens[i + 1 : end])
                i = end + 1
            found.append(Selector(value, labels))
        else:
            i += 1
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression queries."""
    return {s.metric for s in selectors(expr)}


_LABEL_VALUES = re.compile(
    r"^\s*label_values\(\s*(?:(?P<expr>.+),\s*)?(?P<label>\w+)\s*\)\s*$", re.S
)
_QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.+)\)\s*$", re.S)


@dataclass(frozen=True)
class VariableQuery:
    """A Grafana Prometheus variable query: the PromQL it runs and the label it lists."""

    expr: str | None
    label: str | None


def variable_query(query: str) -> VariableQuery:
    """Split ``label_values(expr, label)``, ``label_values(label)`` or ``query_result(expr)``."""
    if m := _LABEL_VALUES.match(query):
        return VariableQuery(m.group("expr"), m.group("label"))
    if m := _QUERY_RESULT.match(query):
        return VariableQuery(m.group("expr"), None)
    raise ValueError(f"unsupported variable query (use label_values or query_result): {query}")
