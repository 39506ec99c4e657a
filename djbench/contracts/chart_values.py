"""A cluster values file: one section per chart, so no chart gets another chart's values.

As in an umbrella chart (kube-prometheus-stack: ``grafana:``, ``prometheus-node-exporter:``),
the file's top-level keys are the charts' names (each ``charts/*/Chart.yaml`` ``name``)::

    global:                 # given to every chart that has the value (its values.schema.json)
      imagePullSecrets: [{name: regcred}]
    postgres:
      persistence: {storageClassName: fast}
    django-variant:
      image: {repository: registry.example.com/djbench/django, tag: "0.1.0"}
      nodeSelector: {djbench.io/role: sut}
    loadtest:
      nodeSelector: {djbench.io/role: load}

``chart_values`` gives one chart its section, ``global`` merged under it (the section wins).
Anything else at the top (``image:``, a misspelt chart) or a value the chart does not take is
refused with one line, so a flat values file meant for one chart cannot reach the others.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from djbench.model.errors import DjbenchError

REPO = Path(__file__).resolve().parents[2]
"""The checkout djbench runs from (its charts, and .tools/bin of bin/k8s-tools)."""
CHARTS = REPO / "charts"
GLOBAL = "global"

Values = dict[str, Any]


@dataclass(frozen=True)
class Chart:
    name: str
    path: Path
    values: frozenset[str]
    """The top-level values it takes: its values.schema.json's properties."""


@functools.cache
def charts() -> dict[str, Chart]:
    """The charts under ``charts/``, by their Chart.yaml name."""
    found: dict[str, Chart] = {}
    for chart_yaml in sorted(CHARTS.glob("*/Chart.yaml")):
        name = str(yaml.safe_load(chart_yaml.read_text())["name"])
        schema = json.loads((chart_yaml.parent / "values.schema.json").read_text())
        found[name] = Chart(name, chart_yaml.parent, frozenset(schema.get("properties", {})))
    return found


def sections() -> str:
    """The allowed top-level keys, for messages."""
    return ", ".join([GLOBAL, *charts()])


def _chart(name: str) -> Chart:
    try:
        return charts()[name]
    except KeyError:
        raise DjbenchError(f"unknown chart {name!r}; choose {', '.join(charts())}") from None


def _mapping(path: Path, where: str, value: object) -> Values:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DjbenchError(f"{path}: {where} must be a mapping of chart values")
    return value


def load(path: Path) -> dict[str, Values]:
    """The file's sections, checked: only chart names and ``global``, each a mapping of values
    its chart takes (a ``global`` value must be taken by at least one chart)."""
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise DjbenchError(f"values file not found: {path}") from None
    except OSError as exc:
        raise DjbenchError(f"cannot read values file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DjbenchError(f"{path}: not valid YAML: {first}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise DjbenchError(
            f"{path}: a cluster values file is a mapping with a section per chart: {sections()}"
        )
    known = charts()
    unknown = [str(key) for key in doc if key != GLOBAL and key not in known]
    if unknown:
        raise DjbenchError(
            f"{path}: not a chart section: {', '.join(map(repr, unknown))}; put each chart's "
            f"values under the chart's name (sections: {sections()})"
        )
    found = {str(key): _mapping(path, f"section {key!r}", value) for key, value in doc.items()}
    for name, values in found.items():
        if name == GLOBAL:
            taken = frozenset().union(*(c.values for c in known.values()))
            stray = [k for k in values if k not in taken]
            if stray:
                raise DjbenchError(f"{path}: global.{stray[0]} is a value of no chart")
            continue
        stray = [k for k in values if k not in known[name].values]
        if stray:
            raise DjbenchError(
                f"{path}: {name}.{stray[0]} is not a value of the {name} chart "
                f"(charts/{known[name].path.name}/values.schema.json)"
            )
    return found


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> Values:
    """``over`` on ``base``, maps merged key by key, as helm merges ``-f`` files (a ``null``
    stays, to drop the chart's default)."""
    merged = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        merged[key] = (
            merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
        )
    return merged


def chart_values(paths: Iterable[Path], chart: str) -> Values:
    """What ``chart`` gets from these files, later files winning: in each, the ``global``
    values the chart takes, then its own section."""
    target = _chart(chart)
    values: Values = {}
    for path in paths:
        found = load(path)
        shared = {k: v for k, v in found.get(GLOBAL, {}).items() if k in target.values}
        values = merge(values, merge(shared, found.get(chart, {})))
    return values


def dump(values: Values) -> str:
    """As a helm ``-f`` file."""
    return yaml.safe_dump(values, sort_keys=False, default_flow_style=False) if values else "{}\n"


def write_chart_values(paths: Iterable[Path], chart: str, out: Path) -> Path:
    """``chart_values`` written to ``out`` (its folder made); ``out``."""
    text = dump(chart_values(paths, chart))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out
