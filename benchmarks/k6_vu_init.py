"""What does k6 spend before an open step starts? A benchmark, not a test: it prints ratios.

An open step pre-allocates its VUs (``DJBENCH_PRE_VUS``) in each of its two scenarios (warm-up
and measured phase overlap by the warm-up's graceful stop), and k6 runs the script's init code
once per VU before the first request. On ``upstream`` near capacity that is about a thousand
VUs per scenario, so this time comes between every two searched steps.

For each pre-allocation, one after the other, k6 runs ``k6/bench.js`` as the harness does
(``contract.step_env``) against a loopback port nothing listens on: it initialises every VU,
then ``setup()`` finds the target unhealthy and the test ends. The wall time of that is printed
for the script as it is (it builds its options only in k6's options run, ``__VU`` 0) and for a
copy that builds them in every VU, with the ratio and the time per VU initialised.

Usage: .venv/bin/python benchmarks/k6_vu_init.py [--vus 10,500,1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from djbench.backends.local.processes import free_port
from djbench.contracts import k6_step as contract
from djbench.measure.k6 import SCRIPT, find_k6
from djbench.model.scenario_file import load_profile

console = Console()
GUARD = "export const options = __VU === 0 ? buildOptions() : {};"
EVERY_VU = "export const options = buildOptions();"


def script_building_options_in_every_vu(into: Path) -> Path:
    """A copy of the k6 directory whose script builds its options in every VU."""
    copy = into / "k6"
    shutil.copytree(SCRIPT.parent, copy)
    script = copy / SCRIPT.name
    text = script.read_text()
    if GUARD not in text:
        raise SystemExit(f"{SCRIPT} no longer holds {GUARD!r}: update this benchmark")
    script.write_text(text.replace(GUARD, EVERY_VU))
    return script


def init_seconds(k6: Path, script: Path, scenario_file: Path, pre_vus: int, port: int) -> float:
    """Wall time of one k6 start that initialises ``pre_vus`` VUs per scenario, then aborts."""
    env = {
        "PATH": "/usr/bin:/bin",
        "K6_NO_USAGE_REPORT": "true",
        **contract.step_env(
            scenario=str(scenario_file),
            target=f"http://127.0.0.1:{port}",
            views="async",
            workload="upstream",
            model="open",
            level=float(pre_vus),
            run="k6-vu-init",
            variant="none",
            client="none",
            warmup_s=1.0,
            duration_s=1.0,
            max_vus=2 * pre_vus,
            pre_vus=pre_vus,
        ),
    }
    started = time.perf_counter()
    done = subprocess.run(
        [str(k6), "run", "--quiet", "--no-color", "--no-usage-report", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if "is not healthy" not in done.stderr:
        raise SystemExit(f"k6 did not end at setup(): {done.stderr.strip()[-300:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vus", default="10,500,1000", help="pre-allocated VUs per scenario")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    counts = [int(v) for v in args.vus.split(",")]
    k6 = find_k6()
    port = free_port()  # nothing listens on it: setup() aborts the test after the VU init
    table = Table(title="k6 start-up of one open step (median of repeats, seconds)")
    for column in ("pre-allocated VUs", "options in VU 0 only", "options in every VU", "ratio"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        scenario_file = Path(tmp) / "scenario.json"
        scenario_file.write_text(json.dumps(load_profile("default").resolved()))
        every_vu = script_building_options_in_every_vu(Path(tmp))
        per_vu: dict[str, list[tuple[int, float]]] = {"guarded": [], "every": []}
        for n in counts:
            # Interleaved, so drift on the machine reaches both scripts alike.
            guarded, every = [], []
            for _ in range(args.repeats):
                guarded.append(init_seconds(k6, SCRIPT, scenario_file, n, port))
                every.append(init_seconds(k6, every_vu, scenario_file, n, port))
            g, e = statistics.median(guarded), statistics.median(every)
            per_vu["guarded"].append((n, g))
            per_vu["every"].append((n, e))
            table.add_row(str(n), f"{g:.2f}", f"{e:.2f}", f"{e / g:.2f}×")
    console.print(table)
    for name, points in per_vu.items():
        (n0, t0), (n1, t1) = points[0], points[-1]
        # Two scenarios each pre-allocate n VUs: 2 × n initialised per start.
        ms = (t1 - t0) / (2 * (n1 - n0)) * 1000 if n1 > n0 else float("nan")
        console.print(f"{name}: {ms:.2f} ms per VU initialised")


if __name__ == "__main__":
    main()
