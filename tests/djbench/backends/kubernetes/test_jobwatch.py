"""Waiting for a k6 Job, from API objects shaped as a cluster serves them (fixtures/k8s)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from djbench.backends.kubernetes.jobwatch import job_finished, unschedulable, wait_for_job
from djbench.model.errors import DjbenchError

RECORDED = Path(__file__).parents[2] / "fixtures" / "k8s"
SCHEDULER = (
    "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node "
    "affinity/selector. preemption: 0/3 nodes are available: 1 No preemption victims found for "
    "incoming pod, 2 Preemption is not helpful for scheduling."
)


def recorded(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RECORDED / f"{name}.json").read_text())
    return loaded


def test_an_unschedulable_pod_is_named_with_the_schedulers_message() -> None:
    pods = [recorded("pod-running"), recorded("pod-unschedulable")]
    assert unschedulable(pods) == (
        f"k6 pod k6-20261126t070000z-0003-0-x7k2p cannot be scheduled: {SCHEDULER}"
    )
    assert unschedulable([recorded("pod-running")]) is None
    assert unschedulable([]) is None


def test_job_states() -> None:
    assert not job_finished(recorded("job-running"))
    assert job_finished(recorded("job-complete"))
    with pytest.raises(DjbenchError) as failed:
        job_finished(recorded("job-failed"))
    assert str(failed.value) == (
        "k6 Job k6-20261126t070000z-0003 failed (DeadlineExceeded): "
        "Job was active longer than specified deadline"
    )


class Script:
    """A cluster that moves through recorded states, one per poll, on a fake clock."""

    def __init__(self, jobs: list[str], pods: list[list[str]]) -> None:
        self.jobs, self.pods = jobs, pods
        self.polls = 0
        self.now = 0.0

    def read_job(self) -> dict[str, Any]:
        return recorded(self.jobs[min(self.polls, len(self.jobs) - 1)])

    def list_pods(self) -> list[dict[str, Any]]:
        names = self.pods[min(self.polls, len(self.pods) - 1)]
        return [recorded(n) for n in names]

    def sleep(self, seconds: float) -> None:
        self.polls += 1
        self.now += seconds


def wait(script: Script, timeout_s: float = 60) -> None:
    wait_for_job(
        script.read_job, script.list_pods, timeout_s, clock=lambda: script.now, sleep=script.sleep
    )


def test_the_wait_ends_when_the_job_completes() -> None:
    script = Script(["job-running", "job-running", "job-complete"], [["pod-running"]])
    wait(script)
    assert script.polls == 2


def test_an_unschedulable_pod_fails_the_wait_at_once() -> None:
    script = Script(["job-running"], [["pod-running", "pod-unschedulable"]])
    with pytest.raises(DjbenchError, match="cannot be scheduled: 0/3 nodes are available"):
        wait(script)
    assert script.polls == 0  # not after the timeout: on the first look


def test_a_job_that_never_finishes_times_out() -> None:
    script = Script(["job-running"], [["pod-running"]])
    with pytest.raises(DjbenchError, match="k6 Job did not finish within 5s"):
        wait(script, timeout_s=5)
    assert script.now == 5
