"""Runs a plan on a backend: verify, measure step by step, write results after every step."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Protocol

from benchapp.catalog import WORKLOADS
from djbench.backends.base import Backend, ServerT
from djbench.environment import version_of
from djbench.errors import DjbenchError
from djbench.plan import LoadStep, Plan, Setup
from djbench.results import ClientInfo, Environment, Results, Run, Step, write_results
from djbench.scenario import Scenario

INCOMPLETE = "incomplete: the run was interrupted before this point"
SETTLE_S = 5.0
"""How long a server may take to become idle again before the next step gets a fresh one."""


class Progress(Protocol):
    """Where the runner reports what it is doing (a rich display, or nothing)."""

    def phase(self, text: str) -> None:
        """A stage of the whole run (starting Postgres, starting a variant...)."""

    def step_started(self, run: str, workload: str, step: LoadStep) -> None:
        """A step is about to run (``run``: the run's label, variant and client)."""

    def step_done(self, run: str, workload: str, step: Step) -> None:
        """A step finished (or failed)."""

    def skipped(self, count: int) -> None:
        """Steps that will not run (their run failed earlier)."""


def now_iso() -> str:
    """The current time in ISO 8601 with the UTC offset."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class ResultsWriter:
    """Holds the results so far and rewrites ``results.json`` after every change."""

    def __init__(
        self,
        out_dir: Path,
        results: Results,
        environment: Callable[[], Environment] | None = None,
    ) -> None:
        self.out_dir = out_dir
        self.results = results
        self._runs: list[Run] = list(results.runs)
        # Asked again at every write: a backend learns some facts only once steps ran (the
        # k6 version its pods report, whether the server's container has a CPU quota).
        self._environment = environment

    def put(self, index: int | None, run: Run) -> int:
        """Add (index None) or replace one run, then write; returns the run's index."""
        if index is None:
            self._runs.append(run)
            index = len(self._runs) - 1
        else:
            self._runs[index] = run
        self._flush()
        return index

    def finish(self) -> Results:
        """Stamp the end time and write the final file."""
        self.results = self.results.model_copy(update={"finished_at": now_iso()})
        self._flush()
        return self.results

    def _flush(self) -> None:
        update: dict[str, object] = {"runs": list(self._runs)}
        if self._environment is not None:
            update["environment"] = self._environment()
        self.results = self.results.model_copy(update=update)
        write_results(self.results, self.out_dir)


def client_info(setup: Setup, scenario: Scenario, workload: str) -> ClientInfo | None:
    """The upstream client of a run, for workloads that call the stub API."""
    if workload not in WORKLOADS or not WORKLOADS[workload].touches_upstream:
        return None
    return ClientInfo(
        name=setup.client,
        version=version_of(setup.client),  # each client is the distribution of its name
        max_connections=scenario.upstream_pool_size,
    )


def _run_record(
    plan: Plan, setup: Setup, workload: str, steps: list[Step], error: str | None
) -> Run:
    variant = setup.variant
    return Run(
        variant=variant.name,
        server=variant.server,
        interface=variant.interface,
        views=variant.views,
        workload=workload,
        crossed=variant.crossed,
        client=client_info(setup, plan.scenario, workload),
        slots=variant.slots(plan.scenario.threads),
        status="failed" if error else "ok",
        error=error,
        steps=list(steps),
    )


def execute(
    plan: Plan,
    backend: Backend[ServerT],
    out_dir: Path,
    environment: Callable[[], Environment],
    progress: Progress,
) -> Results:
    """Run the whole plan. Returns the results; ``results.json`` is current at every point.

    A failing variant or step is recorded and the run goes on. A run in progress is stored
    as incomplete before each step, so KeyboardInterrupt (which propagates) loses nothing.
    """
    progress.phase("preparing Postgres (seeded) and the stub API")
    with backend.infrastructure():
        writer = ResultsWriter(
            out_dir,
            Results(
                backend=backend.name,
                started_at=now_iso(),
                environment=environment(),
                scenario=plan.scenario.resolved(),
            ),
            environment,
        )
        for setup in plan.setups:
            _run_setup(plan, backend, setup, writer, progress)
        return writer.finish()


class ServerSlot(Generic[ServerT]):
    """The running server of one setup: started on demand, reused while it settles.

    A server still busy with the previous step's abandoned requests (a sync worker with a
    queue of timed-out connections) would pollute the next step, so it is restarted fresh.
    """

    def __init__(self, backend: Backend[ServerT], setup: Setup, progress: Progress) -> None:
        self.backend = backend
        self.setup = setup
        self.progress = progress
        self._stack: contextlib.ExitStack | None = None
        self._server: ServerT | None = None

    def ready(self) -> ServerT:
        """An idle running server: the current one if it settles, else a fresh one."""
        server = self._server
        if server is not None and server.alive() and self.backend.settle(server, SETTLE_S):
            return server
        why = "starting" if server is None else "restarting (still busy or gone)"
        self.close()
        self.progress.phase(f"{why} {self.setup.variant.label} ({self.setup.client} upstream)")
        # Held before entering, so a Ctrl-C inside the start still stops what it started.
        self._stack = contextlib.ExitStack()
        self._server = self._stack.enter_context(self.backend.server(self.setup))
        return self._server

    def close(self) -> None:
        """Stop the server, if one runs."""
        stack, self._stack, self._server = self._stack, None, None
        if stack is not None:
            stack.close()


def _run_setup(
    plan: Plan,
    backend: Backend[ServerT],
    setup: Setup,
    writer: ResultsWriter,
    progress: Progress,
) -> None:
    slot = ServerSlot(backend, setup, progress)
    workloads = plan.workloads_for(setup)
    try:
        for number, workload in enumerate(workloads):
            try:
                _run_workload(plan, backend, slot, workload, writer, progress)
            except ServerStartError as exc:
                error = f"server did not start: {exc}"
                for rest in workloads[number + 1 :]:
                    writer.put(None, _run_record(plan, setup, rest, [], error))
                progress.skipped((len(workloads) - number - 1) * plan.steps_per_run)
                return
    finally:
        slot.close()


class ServerStartError(Exception):
    """The variant's server could not be started (the cause is chained)."""


def _ready(slot: ServerSlot[ServerT]) -> ServerT:
    try:
        return slot.ready()
    except DjbenchError as exc:
        raise ServerStartError(str(exc)) from exc


def _run_workload(
    plan: Plan,
    backend: Backend[ServerT],
    slot: ServerSlot[ServerT],
    workload: str,
    writer: ResultsWriter,
    progress: Progress,
) -> None:
    setup = slot.setup
    steps: list[Step] = []
    record = _run_record(plan, setup, workload, steps, INCOMPLETE)
    index = writer.put(None, record)
    try:
        server = _ready(slot)
    except ServerStartError as exc:
        writer.put(index, _run_record(plan, setup, workload, steps, f"server did not start: {exc}"))
        progress.skipped(plan.steps_per_run)
        raise
    problem = backend.verify(server, workload)
    if problem:
        writer.put(index, _run_record(plan, setup, workload, steps, problem))
        progress.skipped(plan.steps_per_run)
        return
    todo = list(plan.closed_steps)
    open_added = False
    done = 0
    while todo:
        step = todo.pop(0)
        try:
            server = _ready(slot)
        except ServerStartError as exc:
            writer.put(
                index, _run_record(plan, setup, workload, steps, f"server did not start: {exc}")
            )
            progress.skipped(plan.steps_per_run - done)
            raise
        progress.step_started(record.label, workload, step)
        result = backend.measure(server, workload, step)
        steps.append(result)
        done += 1
        progress.step_done(record.label, workload, result)
        writer.put(index, _run_record(plan, setup, workload, steps, INCOMPLETE))
        if not todo and not open_added:
            open_added = True
            todo = plan.open_steps(steps)
            progress.skipped(plan.steps_per_run - done - len(todo))
    failed = [s for s in steps if s.status == "failed"]
    error = f"{len(failed)} of {len(steps)} steps failed: {failed[0].error}" if failed else None
    writer.put(index, _run_record(plan, setup, workload, steps, error))
