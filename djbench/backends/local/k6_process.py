"""k6 as a local child process: one step of the script on the load CPUs, its summary read."""

from __future__ import annotations

import json
import time
from pathlib import Path

from djbench.backends.local.processes import ManagedProcess
from djbench.contracts import k6_step as contract
from djbench.measure.k6 import SCRIPT, ClientStats, StepTarget, parse_summary
from djbench.model.errors import DjbenchError


def k6_process(
    k6: Path,
    scenario_file: Path,
    step: StepTarget,
    *,
    summary: Path,
    log: Path,
    cpus: str,
    run_id: str,
) -> ManagedProcess:
    """A k6 process (not yet started) for one step, placed on the load CPUs. Its paths are
    absolute: k6 opens a relative one against the script's folder, not the working one."""
    summary = summary.resolve()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(summary.parent),
        "K6_NO_USAGE_REPORT": "true",
        **contract.step_env(
            scenario=str(scenario_file.resolve()),
            target=step.target,
            views=step.views,
            workload=step.workload,
            model=step.model,
            level=step.level,
            run=run_id,
            variant=step.variant,
            client=step.client,
            warmup_s=step.warmup_s,
            duration_s=step.duration_s,
            max_vus=step.max_vus,
            pre_vus=step.pre_vus,
        ),
        contract.SUMMARY: str(summary),
    }
    argv = [str(k6), "run", "--quiet", "--no-color", "--no-usage-report", str(SCRIPT)]
    return ManagedProcess("k6", argv, log_path=log, env=env, cpus=cpus)


def wait_k6(
    proc: ManagedProcess, summary: Path, timeout_s: float, warmup_s: float, duration_s: float
) -> ClientStats:
    """Wait for a started k6 process and read its summary; errors name the cause."""
    deadline = time.monotonic() + timeout_s
    while proc.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.running():
        proc.stop()
        raise DjbenchError(f"k6 did not finish within {timeout_s:.0f}s")
    status = proc.returncode()
    # 99 only says thresholds failed (ours always pass); anything else is k6's own failure,
    # e.g. 108 when setup() found the target unhealthy: its log says why.
    if status not in (0, 99) or not summary.is_file():
        raise DjbenchError(f"k6 exited with status {status}: {proc.log_tail(3)}")
    try:
        doc = json.loads(summary.read_text())
    except json.JSONDecodeError as exc:
        raise DjbenchError(f"k6 summary is not JSON: {exc.msg}") from exc
    return parse_summary(doc, warmup_s, duration_s)
