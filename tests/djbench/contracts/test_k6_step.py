"""The k6 step contract (djbench.contracts.k6_step) against the script and the local runner.

The chart's copy is tested in tests/charts/test_loadtest_chart.py, the Kubernetes backend's
(helm arguments, the merged-latency selector) in tests/djbench/backends.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from k6_probe import run_js

from djbench.backends.local.k6_process import k6_process
from djbench.contracts import k6_step as contract
from djbench.measure.k6 import SCRIPT, StepTarget, find_k6, parse_summary
from djbench.model.scenario_file import load_profile

K6_DIR = SCRIPT.parent
# Levels where Python's f"{x:g}" and JavaScript's String(x) used to disagree, and ordinary ones.
LEVELS = [12.5, 32, 153.6, 0.5, 1e-3, 1e-6, 1e-7, 1234567, 12.3456789, 1e20, 1e21, 0.1 + 0.2]


def _script_sources() -> dict[str, str]:
    return {str(p.relative_to(K6_DIR)): p.read_text() for p in sorted(K6_DIR.rglob("*.js"))}


def test_format_level_is_javascripts_number_to_string(tmp_path: Path) -> None:
    source = (
        "export default function () {}\n"
        "export function handleSummary() {\n"
        "  return { stdout: JSON.stringify(JSON.parse(__ENV.LEVELS).map((x) => `${x}`)) };\n"
        "}\n"
    )
    # json.dumps writes the shortest round-trip digits: JavaScript reads the same doubles.
    written = run_js(source, tmp_path, {"LEVELS": json.dumps(LEVELS)})
    assert [contract.format_level(x) for x in LEVELS] == written


def test_format_level_examples() -> None:
    assert contract.step_tag("open", 12.5) == "open-12.5"
    assert contract.step_tag("closed", 32.0) == "closed-32"
    assert contract.format_level(1234567) == "1234567"  # f"{x:g}": 1.23457e+06
    assert contract.format_level(12.3456789) == "12.3456789"  # f"{x:g}": 12.3457
    assert contract.format_level(1e-7) == "1e-7"
    with pytest.raises(ValueError, match="finite"):
        contract.format_level(float("nan"))


def test_script_reads_the_contracts_variables() -> None:
    sources = "\n".join(_script_sources().values())
    read = set(re.findall(r"__ENV\.([A-Z_][A-Z0-9_]*)", sources))
    required = set(re.findall(r"required\('([A-Z_][A-Z0-9_]*)'\)", sources))
    assert read | required == {var.name for var in contract.ENV}
    assert required == {var.name for var in contract.ENV if var.required}


def test_script_sets_the_contracts_tags() -> None:
    config = (K6_DIR / "lib" / "config.js").read_text()
    block = re.search(r"\btags: \{(.*?)\n\s*\}", config, re.S)
    assert block, "config.js has no `tags: {...}`"
    keys = re.findall(r"^\s*(\w+)\s*[:,]", block.group(1), re.M)
    assert tuple(keys) == contract.TAGS
    # The step tag is `${model}-${level}`, the level a JS number (format_level).
    assert re.search(r"step: `\$\{model\}-\$\{level\}`", block.group(1))
    bench = (K6_DIR / "bench.js").read_text()
    assert f"'{{{contract.PHASE_TAG}:{contract.MEASURE_PHASE}}}'" in bench
    assert re.search(rf"\b{contract.PHASE_TAG}: phaseAt\(", bench)


def test_script_counts_the_contracts_completions_metric(tmp_path: Path) -> None:
    source = (
        f"import {{ COMPLETED_METRIC }} from '{K6_DIR / 'lib' / 'credit.js'}';\n"
        "export default function () {}\n"
        "export function handleSummary() {\n"
        "  return { stdout: JSON.stringify({ name: COMPLETED_METRIC }) };\n"
        "}\n"
    )
    assert run_js(source, tmp_path, {})["name"] == contract.COMPLETED_METRIC
    bench = (K6_DIR / "bench.js").read_text()
    assert "new Counter(COMPLETED_METRIC)" in bench
    # A threshold on the whole metric (not a phase submetric): every credit is summed.
    assert re.search(r"\[COMPLETED_METRIC\]: \[", bench)


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "scenario.json"
    path.write_text(json.dumps(load_profile("smoke").resolved()))
    return path


def _local_process_env(
    scenario_file: Path,
    tmp_path: Path,
    model: str,
    level: float,
    max_vus: int = 64,
    pre_vus: int = 16,
) -> dict[str, str]:
    target = StepTarget(
        "http://127.0.0.1:9", "uvicorn", "async", "upstream", model, level, 1, 2,
        max_vus=max_vus, pre_vus=pre_vus, client="aiohttp",
    )  # fmt: skip
    proc = k6_process(
        find_k6(), scenario_file, target, summary=tmp_path / "summary.json",
        log=tmp_path / "k6.log", cpus="0", run_id="run-1",
    )  # fmt: skip
    assert proc.env is not None
    return dict(proc.env)


def test_local_runs_set_the_local_side(scenario_file: Path, tmp_path: Path) -> None:
    env = _local_process_env(scenario_file, tmp_path, "open", 12.5)
    ours = {name for name in env if name.startswith("DJBENCH_") or name.startswith("JOB_")}
    assert ours == contract.names("both", "local")
    assert env[contract.LEVEL] == "12.5"
    assert env[contract.MAX_VUS] == "64"
    assert env[contract.PRE_VUS] == "16"


def test_step_env_refuses_a_ceiling_k6_would_refuse() -> None:
    given = dict(
        scenario="s.json", target="http://t", views="async", workload="cpu", model="open",
        level=12.5, run="r", variant="v", client="", warmup_s=1, duration_s=2,
    )  # fmt: skip
    env = contract.step_env(**given, max_vus=300, pre_vus=40)
    assert (env[contract.MAX_VUS], env[contract.PRE_VUS]) == ("300", "40")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_vus"):
            contract.step_env(**given, max_vus=bad, pre_vus=40)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="pre_vus"):
            contract.step_env(**given, max_vus=300, pre_vus=bad)  # type: ignore[arg-type]


def test_the_ceiling_goes_to_the_chart_as_a_number() -> None:
    env = {contract.MAX_VUS: "300", contract.VIEWS: "async"}
    assert contract.ENV_BY_NAME[contract.MAX_VUS].chart_value == "maxVUs"
    assert contract.chart_set_args(env) == [
        "--set-json", "maxVUs=300", "--set-string", "views=async"
    ]  # fmt: skip


def test_the_preallocation_goes_to_the_chart_as_a_number() -> None:
    env = {contract.PRE_VUS: "40", contract.VIEWS: "async"}
    assert contract.ENV_BY_NAME[contract.PRE_VUS].chart_value == "preVUs"
    assert contract.ENV_BY_NAME[contract.PRE_VUS].required
    assert contract.PRE_VUS in contract.NUMBERS
    assert contract.chart_set_args(env) == [
        "--set-json", "preVUs=40", "--set-string", "views=async"
    ]  # fmt: skip


def k6_inspect(env: dict[str, str]) -> dict[str, Any]:
    """The options k6 resolves for the script under ``env`` (no load is generated)."""
    done = subprocess.run(
        [str(find_k6()), "inspect", "--include-system-env-vars", str(SCRIPT)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    options: dict[str, Any] = json.loads(done.stdout)
    return options


@pytest.mark.parametrize(
    ("model", "level"), [("closed", 32.0), *(("open", level) for level in LEVELS[:-3])]
)
def test_k6_tags_every_metric_as_the_contract_says(
    scenario_file: Path, tmp_path: Path, model: str, level: float
) -> None:
    options = k6_inspect(_local_process_env(scenario_file, tmp_path, model, level))
    expected = contract.step_tags(
        run="run-1", variant="uvicorn", client="aiohttp", workload="upstream",
        model=model, level=level,
    )  # fmt: skip
    assert options["tags"] == expected
    for scenario in options["scenarios"].values():
        assert scenario["tags"] == expected


@pytest.mark.parametrize(
    ("level", "max_vus", "pre_vus"),
    [(12.5, 19, 4), (0.5, 1, 1), (2000.0, 300, 64), (2000.0, 1300, 300), (12.5, 19, 64)],
)
def test_k6_holds_an_open_step_to_its_own_ceiling(
    scenario_file: Path, tmp_path: Path, level: float, max_vus: int, pre_vus: int
) -> None:
    """The step's DJBENCH_MAX_VUS, not the scenario's open.max_vus, is k6's maxVUs; only
    DJBENCH_PRE_VUS of them (at most all) are allocated before the step starts, so idle VUs
    hold no keep-alive connections to the server."""
    env = _local_process_env(scenario_file, tmp_path, "open", level, max_vus, pre_vus)
    options = k6_inspect(env)
    scenarios = options["scenarios"]
    assert set(scenarios) == {"warmup", "measure"}
    for scenario in scenarios.values():
        assert scenario["executor"] == "constant-arrival-rate"
        assert scenario["maxVUs"] == max_vus
        assert scenario["preAllocatedVUs"] == min(pre_vus, max_vus)


def test_a_closed_step_ignores_the_ceiling(scenario_file: Path, tmp_path: Path) -> None:
    env = _local_process_env(scenario_file, tmp_path, "closed", 32.0, max_vus=1, pre_vus=1)
    options = k6_inspect(env)
    [scenario] = options["scenarios"].values()
    assert (scenario["executor"], scenario["vus"]) == ("constant-vus", 32)
    assert "maxVUs" not in scenario
    assert "preAllocatedVUs" not in scenario


@pytest.mark.parametrize("name", [contract.MAX_VUS, contract.PRE_VUS])
@pytest.mark.parametrize("text", ["", "0", "-3", "2.5", "many", "Infinity"])
def test_k6_refuses_a_vu_count_that_is_not_a_whole_number_from_one(
    scenario_file: Path, tmp_path: Path, name: str, text: str
) -> None:
    env = _local_process_env(scenario_file, tmp_path, "open", 12.5) | {name: text}
    done = subprocess.run(
        [str(find_k6()), "inspect", "--include-system-env-vars", str(SCRIPT)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    if text == "":
        assert f"environment variable {name} is required" in done.stderr
    else:
        assert f"{name} must be a whole number >= 1, not {text}" in done.stderr


def test_the_scripts_grid_is_the_contracts(tmp_path: Path) -> None:
    source = (
        f"import {{ quantileGrid, quantileStats }} from '{K6_DIR / 'lib' / 'summary.js'}';\n"
        "export default function () {}\n"
        "export function handleSummary() {\n"
        "  return { stdout: JSON.stringify({ grid: quantileGrid(), stats: quantileStats() }) };\n"
        "}\n"
    )
    written = run_js(source, tmp_path, {})
    assert tuple(written["grid"]) == contract.QUANTILE_GRID
    assert written["stats"] == [contract.quantile_stat(p) for p in contract.QUANTILE_GRID]
    for p in (50, 90, 95, 99):
        assert p in contract.QUANTILE_GRID


def test_k6_reports_every_grid_percentile_and_parse_summary_reads_them(tmp_path: Path) -> None:
    """Real k6 on known samples: its percentiles are numpy's linear ones, keys as the contract's.

    The probe's summary has the script's shape: the grid on the measured latency only.
    """
    samples = np.random.default_rng(11).lognormal(np.log(20), 1.0, 3001)
    source = (
        "import { Trend, Counter } from 'k6/metrics';\n"
        f"import {{ gridOnlyOn, trendStats }} from '{K6_DIR / 'lib' / 'summary.js'}';\n"
        "const latency = new Trend('latency');\n"
        "const other = new Trend('other');\n"
        "const reqs = new Counter('reqs');\n"
        "const usual = ['min', 'avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'];\n"
        "export const options = { summaryTrendStats: trendStats(usual) };\n"
        "export default function () {\n"
        "  for (const x of JSON.parse(__ENV.SAMPLES)) {\n"
        "    latency.add(x);\n"
        "    other.add(x);\n"
        "    reqs.add(1);\n"
        "  }\n"
        "}\n"
        "export function handleSummary(data) {\n"
        "  const m = gridOnlyOn(data.metrics, 'latency', usual);\n"
        "  const metrics = { 'http_req_duration{phase:measure}': m.latency,\n"
        "    'http_reqs{phase:measure}': m.reqs, other: m.other };\n"
        "  return { stdout: JSON.stringify({ startedAtMs: 0, metrics }) };\n"
        "}\n"
    )
    doc = run_js(source, tmp_path, {"SAMPLES": json.dumps(samples.tolist())})
    values = doc["metrics"]["http_req_duration{phase:measure}"]["values"]
    assert {contract.quantile_stat(p) for p in contract.QUANTILE_GRID} <= set(values)
    assert set(doc["metrics"]["other"]["values"]) == {
        "min", "avg", "med", "p(90)", "p(95)", "p(99)", "max"
    }  # fmt: skip
    stats = parse_summary(doc, 0.0, 1.0)
    assert stats.requests == len(samples)
    expected = np.percentile(samples, contract.QUANTILE_GRID)  # numpy's default: linear
    np.testing.assert_allclose(stats.quantiles, expected, rtol=1e-12)
    assert stats.latency.p50 == stats.quantiles[contract.QUANTILE_GRID.index(50.0)]
    assert stats.latency.max == stats.quantiles[-1] == samples.max()
