"""The contracts written once and read across languages, each diffed against every copy: the
measured server's settings (local environment against what the chart renders), the server
programs (variants, the chart's list, the ``servers`` extra), the upstream calls' delays."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from benchapp.catalog import UPSTREAM_DELAYS_MS
from djbench.contracts.chart_values import CHARTS, REPO
from djbench.contracts.server import SETTINGS, server_settings, server_values
from djbench.model.scenario_file import parse_scenario
from djbench.model.setup import Setup
from djbench.model.variants import SERVER_DISTRIBUTIONS, load_variants


def _configmap(helm: Path, values: dict[str, object], tmp_path: Path) -> dict[str, str]:
    """The variant's ConfigMap (its DJBENCH_* environment) as the chart renders ``values``."""
    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(values))
    done = subprocess.run(
        [str(helm), "template", "x", str(CHARTS / "django-variant"), "-f", str(file)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (config,) = [o for o in yaml.safe_load_all(done.stdout) if o and o["kind"] == "ConfigMap"]
    data: dict[str, str] = config["data"]
    return data


@pytest.mark.parametrize(
    ("variant", "client", "scenario"),
    [
        ("gunicorn-gthread", "httpx2", "threads: 64\ndb_pool: {max_size: 40, min_size: 4}"),
        ("uvicorn", "aiohttp", "upstream_delays_ms: [10, 20]\nupstream_connections: 77"),
        ("gunicorn-sync", "requests", ""),
    ],
)
def test_both_backends_give_the_server_the_same_settings(
    helm: Path, tmp_path: Path, variant: str, client: str, scenario: str
) -> None:
    setup = Setup(load_variants()[variant], client)
    parsed = parse_scenario(scenario, "s")
    rendered = _configmap(helm, server_values(setup, parsed), tmp_path)
    local = server_settings(setup, parsed)
    assert set(local) == set(SETTINGS)
    assert {k: rendered[k] for k in SETTINGS} == local


def test_one_list_of_servers() -> None:
    """variants.yaml's servers, the chart's (what the django image provides) and the
    ``servers`` extra name the same programs and distributions."""
    used = {v.server for v in load_variants().values()}
    assert used == set(SERVER_DISTRIBUTIONS)
    helpers = (CHARTS / "django-variant" / "templates" / "_helpers.tpl").read_text()
    listed = re.search(r'\$servers := list ((?:"[a-z]+" ?)+)', helpers)
    assert listed is not None
    assert re.findall(r'"([a-z]+)"', listed[1]) == list(SERVER_DISTRIBUTIONS)
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["servers"]
    distributions = {Requirement(r).name for r in extra}
    assert set(SERVER_DISTRIBUTIONS.values()) <= distributions


def test_one_set_of_upstream_delays() -> None:
    values = yaml.safe_load((CHARTS / "django-variant" / "values.yaml").read_text())
    assert tuple(values["upstream"]["delaysMs"]) == UPSTREAM_DELAYS_MS
    assert tuple(parse_scenario("", "s").upstream_delays_ms) == UPSTREAM_DELAYS_MS
