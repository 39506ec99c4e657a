"""Cluster values files: a section per chart, `global` under each, the rest refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_cli import assert_one_line_error, djbench

from djbench.contracts.chart_values import chart_values, charts, load, merge
from djbench.model.errors import DjbenchError

SECTIONS = "sections: global, dashboards, django-variant, latencyproxy, loadtest, postgres, stubapi"


def write(tmp_path: Path, text: str, name: str = "cluster.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_sections_are_the_charts_names() -> None:
    names = {p.parent.name for p in (Path(__file__).parents[3] / "charts").glob("*/Chart.yaml")}
    assert (
        set(charts())
        == names
        == {"dashboards", "django-variant", "latencyproxy", "loadtest", "postgres", "stubapi"}
    )


def test_a_chart_gets_global_under_its_section(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "global: {imagePullSecrets: [{name: a}], nodeSelector: {role: x}}\n"
        "loadtest: {nodeSelector: {role: load}, resources: {limits: null}}\n"
        "django-variant: {resources: {limits: {cpu: '2'}}}\n",
    )
    assert chart_values([path], "loadtest") == {
        "imagePullSecrets": [{"name": "a"}],
        "nodeSelector": {"role": "load"},
        "resources": {"limits": None},
    }
    # dashboards has neither value: global gives it nothing.
    assert chart_values([path], "dashboards") == {}
    assert chart_values([path], "postgres") == {
        "imagePullSecrets": [{"name": "a"}],
        "nodeSelector": {"role": "x"},
    }


def test_later_files_win(tmp_path: Path) -> None:
    a = write(tmp_path, "loadtest: {resources: {requests: {cpu: '1', memory: 1Gi}}}\n", "a.yaml")
    b = write(tmp_path, "global: {resources: {requests: {cpu: 500m}}}\n", "b.yaml")
    assert chart_values([a, b], "loadtest") == {
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}
    }


def test_merge_keeps_null_to_drop_a_default() -> None:
    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"b": None}}) == {"a": {"b": None, "c": 2}}


def test_empty_file_gives_nothing(tmp_path: Path) -> None:
    assert load(write(tmp_path, "")) == {}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "image: {repository: r}\nresources: {}\n",
            "not a chart section: 'image', 'resources'; put each chart's values under the "
            f"chart's name ({SECTIONS})",
        ),
        ("djangovariant: {}\n", "not a chart section: 'djangovariant'"),
        (
            "- a\n",
            "a cluster values file is a mapping with a section per chart: global, dashboards",
        ),
        ("postgres: [1]\n", "section 'postgres' must be a mapping of chart values"),
        (
            "postgres: {variant: uvicorn}\n",
            "postgres.variant is not a value of the postgres chart "
            "(charts/postgres/values.schema.json)",
        ),
        ("global: {persistance: {}}\n", "global.persistance is a value of no chart"),
        ("postgres: {a: [\n", "not valid YAML"),
    ],
)
def test_refusals(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DjbenchError) as caught:
        chart_values([path], "postgres")
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)
    assert_one_line_error(djbench("helm-values", str(path), "postgres"), fragment)


def test_helm_values_prints_or_writes_one_chart(tmp_path: Path) -> None:
    path = write(
        tmp_path, "global: {imagePullSecrets: [{name: a}]}\ndjango-variant: {image: {tag: '1'}}\n"
    )
    done = djbench("helm-values", str(path), "postgres")
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout) == {"imagePullSecrets": [{"name": "a"}]}
    out = tmp_path / "sub" / "variant.values.yaml"
    done = djbench("helm-values", str(path), "django-variant", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert yaml.safe_load(out.read_text()) == {
        "imagePullSecrets": [{"name": "a"}],
        "image": {"tag": "1"},
    }


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["helm-values", "{file}", "django"],
            "unknown chart 'django'; choose dashboards, django-variant, latencyproxy, loadtest, "
            "postgres, stubapi",
        ),
        (
            ["helm-values", "/nonexistent.yaml", "postgres"],
            "values file not found: /nonexistent.yaml",
        ),
        (
            ["run", "--backend", "kubernetes", "--helm-values", "/nonexistent.yaml"],
            "values file not found: /nonexistent.yaml",
        ),
        (
            ["run", "--backend", "kubernetes", "--helm-values", "{flat}"],
            "not a chart section: 'image'",
        ),
    ],
)
def test_cli_refusals(tmp_path: Path, args: list[str], fragment: str) -> None:
    files = {
        "file": write(tmp_path, "{}\n"),
        "flat": write(tmp_path, "image: {tag: '1'}\n", "flat.yaml"),
    }
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    argv += ["--out", str(tmp_path / "run")] if argv[0] == "run" else []
    assert_one_line_error(djbench(*argv), fragment)
    assert not (tmp_path / "run").exists()
