"""What the runner makes and records: a task (one run to make), its ``Run`` as it stands, the
steps with overload called a result, an infrastructure fault."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from djbench.backends.steps import NO_SUCCESS
from djbench.measure.environment import version_of
from djbench.model.pod import PodFacts
from djbench.model.results import ClientInfo, Fault, PathCheck, Run, Step
from djbench.model.scenario import Scenario
from djbench.model.setup import LoadStep, Setup
from djbench.plan.measurement import (
    Plan,
)

INCOMPLETE = "incomplete: the run was interrupted before this point"


def client_info(setup: Setup, scenario: Scenario, workload: str) -> ClientInfo | None:
    """The upstream client of a run, for workloads that call the stub API."""
    if not scenario.kind(workload).touches_upstream:
        return None
    return ClientInfo(
        name=setup.client,
        version=version_of(setup.client),  # each client is the distribution of its name
        max_connections=scenario.upstream_pool_size,
    )


@dataclass(frozen=True)
class Task:
    """One run to make: a setup on a workload in a round, with fixed steps or the ladder."""

    setup: Setup
    workload: str
    round: int = 0
    steps: tuple[LoadStep, ...] | None = None
    """None: the closed ladder, then the open steps it implies (the survey)."""
    known: tuple[Step, ...] = ()
    """Steps measured before (the survey's, for a confirmation): they size this run's steps."""
    purpose: Literal["survey", "search", "confirm"] = "survey"
    search_start: float | None = None
    """For a search (round 0's, or a confirmation round's shorter one): its first rate."""

    @property
    def searching(self) -> bool:
        """Whether each step's rate follows from the last (a capacity search)."""
        return self.search_start is not None

    def planned(self, plan: Plan) -> int:
        """Its steps, for progress."""
        if self.searching:
            return self.search_limit(plan)
        return plan.steps_per_run if self.steps is None else len(self.steps)

    def search_limit(self, plan: Plan) -> int:
        """Steps a search may take: round 0's ``search_steps``, a confirmation's fewer."""
        s = plan.scenario
        return s.confirm_steps if self.purpose == "confirm" else s.search_steps


class InfrastructureFault(Exception):
    """Postgres or the stub API is gone: nothing measured from here on would count."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.message)
        self.fault = fault


def run_record(
    task: Task,
    plan: Plan,
    steps: list[Step],
    error: str | None,
    paths: Sequence[PathCheck] = (),
    restarts: Sequence[str] = (),
    load_average: tuple[float, float, float] | None = None,
    pod: PodFacts | None = None,
) -> Run:
    variant = task.setup.variant
    return Run(
        variant=variant.name,
        server=variant.server,
        interface=variant.interface,
        views=variant.views,
        workload=task.workload,
        crossed=variant.crossed,
        client=client_info(task.setup, plan.scenario, task.workload),
        slots=task.setup.slots,
        shape=task.setup.shape,
        status="failed" if error else "ok",
        error=error,
        round=task.round,
        purpose=task.purpose,
        distance=task.setup.distance,
        paths=list(paths),
        steps=with_saturation(steps),
        restarts=list(restarts),
        pod=pod,
        load_average=load_average,
    )


def with_saturation(steps: Sequence[Step]) -> list[Step]:
    """The steps with overload called a result: a step that got not one successful response
    above a measured step of the same load model is ``saturated``, not failed (every request
    past the timeout is what that load gets from this server). One whose server ran Postgres
    out of connections stays failed, that named as its cause: the server's setup, not the
    load, broke it."""

    def level(step: Step) -> float:
        return float((step.concurrency if step.model == "closed" else step.rate) or 0)

    measured = [s for s in steps if s.measured]
    return [
        step.model_copy(update={"status": "saturated"})
        if step.status == "failed"
        and step.error == NO_SUCCESS
        and any(m.model == step.model and level(m) < level(step) for m in measured)
        else step
        for step in steps
    ]


def fault_of(message: str, task: Task, load: str | None) -> Fault:
    """A fault noticed while ``task`` ran, naming its run by data."""
    setup = task.setup
    return Fault(
        message=message,
        workload=task.workload,
        variant=setup.variant.name,
        client=setup.client if setup.calls_upstream else None,
        distance=setup.distance,
        shape=setup.shape,
        load=load,
    )
