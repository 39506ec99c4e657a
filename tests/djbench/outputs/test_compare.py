"""`djbench compare`: two results files side by side, B against A, with the same statistics
as the verdicts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from djbench.analysis.core import analyze
from djbench.model.results import Latency, Results, Run, Step
from djbench.model.results_file import load_results, write_results
from djbench.outputs.compare import compare_analyses, row_cells

FIXTURE = Path(__file__).parents[1] / "fixtures" / "results-small.json"


def _run(variant: str, rate: float, round_: int) -> Run:
    step = Step(
        model="closed", concurrency=8, rate=None, duration_s=5.0, requests=round(rate * 5),
        errors=0, dropped=0, rps=rate, latency_ms=Latency(p50=5, p90=8, p95=9, p99=10, max=12),
        cpu_s=4.5, cpu_util=0.9, cpu_ms_per_req=9.0, rss_mib=60.0,
    )  # fmt: skip
    return Run(
        variant=variant, server="uvicorn", interface="asgi", views="async", workload="cpu",
        status="ok", error=None, round=round_, steps=[step],
    )  # fmt: skip


def _results(rates: dict[str, list[float]]) -> Results:
    base = load_results(FIXTURE)
    runs = [_run(v, r, i) for v, rs in rates.items() for i, r in enumerate(rs)]
    return base.model_copy(update={"runs": runs})


A = {
    "uvicorn": [100, 101, 99, 102, 98],
    "granian": [80, 82, 79, 81, 80],
    "gunicorn-sync": [50, 51, 49, 50, 52],
    "gunicorn-gthread": [60, 61, 59, 60, 60],
}
B = {
    "uvicorn": [130, 128, 131, 129, 132],  # faster
    "granian": [81, 79, 80, 82, 80],  # the same
    "gunicorn-sync": [40, 41, 39, 40, 42],  # slower
    "granian-extra": [10, 10, 10, 10, 10],
}


def test_b_against_a_per_candidate() -> None:
    found = compare_analyses(analyze(_results(A)), analyze(_results(B)))
    verdicts = {row.label: row.verdict for row in found.rows}
    assert verdicts == {"uvicorn": "faster", "granian": "≈", "gunicorn-sync": "slower"}
    uvicorn = next(r for r in found.rows if r.label == "uvicorn")
    assert uvicorn.change is not None
    assert uvicorn.change.ratio.median == 130 / 100
    cells = row_cells(uvicorn)
    assert cells[:4] == ["cpu", "uvicorn", "100.0 [98.0–102.0]", "130.0 [128.0–132.0]"]
    assert cells[4].startswith("1.30× [") and cells[5] == "faster (p=0.0079)"
    assert found.only_a == ("cpu / gunicorn-gthread",)
    assert found.only_b == ("cpu / granian-extra",)


def test_the_command_prints_full_names_without_a_terminal(tmp_path: Path) -> None:
    a = write_results(_results(A), tmp_path / "a")
    b = write_results(_results(B), tmp_path / "b")
    done = subprocess.run(
        [sys.executable, "-m", "djbench", "compare", str(a), str(b)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split()[:2] == ["cpu", "gunicorn-sync"] and "slower" in line for line in lines)
    assert "only in A: cpu / gunicorn-gthread" in done.stdout


def test_nothing_in_common_is_an_error(tmp_path: Path) -> None:
    a = write_results(_results({"uvicorn": [100.0]}), tmp_path / "a")
    b = write_results(_results({"granian": [100.0]}), tmp_path / "b")
    done = subprocess.run(
        [sys.executable, "-m", "djbench", "compare", str(a), str(b)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("ERROR: ") and "no variant and workload in common" in done.stderr


def test_files_not_measured_alike_are_refused_unless_allowed(tmp_path: Path) -> None:
    """pyperf refuses runs whose key metadata differs: another CPU model, CPU budget,
    backend, results version or server version is named, and the comparison refused."""
    base = _results(A)
    env = base.environment.model_copy(
        update={"cpu_model": "AMD EPYC", "servers": {**base.environment.servers, "uvicorn": "0.1"}}
    )
    other = _results(B).model_copy(update={"environment": env})
    a = write_results(base, tmp_path / "a")
    b = write_results(other, tmp_path / "b")
    done = subprocess.run(
        [sys.executable, "-m", "djbench", "compare", str(a), str(b)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"ERROR: {a} and {b} were not measured alike: cpu_model ")
    assert "'AMD EPYC'" in line and "uvicorn version" in line and "--allow-different" in line
    # A v4 file against a v6 one: the version differs too.
    assert (FIXTURE.read_text().count('"djbench/results/v4"')) == 1
    allowed = subprocess.run(
        [sys.executable, "-m", "djbench", "compare", str(a), str(b), "--allow-different"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.startswith("WARNING: not measured alike: cpu_model")
    from djbench.outputs.compare import differences

    assert differences(base, base, ("djbench/results/v4", "djbench/results/v6")) == [
        "results version 'djbench/results/v4' vs 'djbench/results/v6'"
    ]
