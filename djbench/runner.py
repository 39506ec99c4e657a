"""Runs a plan on a backend: verify, measure step by step, write results after every step."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from djbench.backends.base import Backend, LoadStep, ServerT
from djbench.errors import DjbenchError
from djbench.plan import Plan
from djbench.results import Environment, Results, Run, Step, write_results
from djbench.variants import Variant

INCOMPLETE = "incomplete: the run was interrupted before this point"


class Progress(Protocol):
    """Where the runner reports what it is doing (a rich display, or nothing)."""

    def phase(self, text: str) -> None:
        """A stage of the whole run (starting Postgres, starting a variant...)."""

    def step_started(self, variant: str, workload: str, step: LoadStep) -> None:
        """A step is about to run."""

    def step_done(self, variant: str, workload: str, step: Step) -> None:
        """A step finished (or failed)."""

    def skipped(self, count: int) -> None:
        """Steps that will not run (their run failed earlier)."""


def now_iso() -> str:
    """The current time in ISO 8601 with the UTC offset."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class ResultsWriter:
    """Holds the results so far and rewrites ``results.json`` after every change."""

    def __init__(self, out_dir: Path, results: Results) -> None:
        self.out_dir = out_dir
        self.results = results
        self._runs: list[Run] = list(results.runs)

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
        self.results = self.results.model_copy(update={"runs": list(self._runs)})
        write_results(self.results, self.out_dir)


def _run_record(variant: Variant, workload: str, steps: list[Step], error: str | None) -> Run:
    return Run(
        variant=variant.name,
        server=variant.server,
        interface=variant.interface,
        views=variant.views,
        workload=workload,
        crossed=variant.crossed,
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

    A failing variant or step is recorded and the run goes on; KeyboardInterrupt marks the
    current run as interrupted, writes, and propagates.
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
        )
        for variant in plan.variants:
            _run_variant(plan, backend, variant, writer, progress)
        return writer.finish()


def _run_variant(
    plan: Plan,
    backend: Backend[ServerT],
    variant: Variant,
    writer: ResultsWriter,
    progress: Progress,
) -> None:
    pending = list(plan.workloads)
    while pending:
        progress.phase(f"starting {variant.label}")
        server_cm = backend.server(variant)
        try:
            server = server_cm.__enter__()
        except DjbenchError as exc:
            error = f"server did not start: {exc}"
            for workload in pending:
                writer.put(None, _run_record(variant, workload, [], error))
            progress.skipped(len(pending) * plan.steps_per_run)
            return
        with contextlib.ExitStack() as stack:
            stack.push(server_cm)
            while pending:
                workload = pending.pop(0)
                _run_workload(plan, backend, server, workload, writer, progress)
                if not server.alive():
                    break  # a fresh server for the remaining workloads


def _run_workload(
    plan: Plan,
    backend: Backend[ServerT],
    server: ServerT,
    workload: str,
    writer: ResultsWriter,
    progress: Progress,
) -> None:
    variant = server.variant
    steps: list[Step] = []
    index = writer.put(None, _run_record(variant, workload, steps, INCOMPLETE))
    problem = backend.verify(server, workload)
    if problem:
        writer.put(index, _run_record(variant, workload, steps, problem))
        progress.skipped(plan.steps_per_run)
        return
    todo = list(plan.closed_steps)
    open_added = False
    done = 0
    while todo:
        step = todo.pop(0)
        progress.step_started(variant.name, workload, step)
        result = backend.measure(server, workload, step)
        steps.append(result)
        done += 1
        progress.step_done(variant.name, workload, result)
        if not server.alive():
            writer.put(index, _run_record(variant, workload, steps, server.describe_exit()))
            progress.skipped(plan.steps_per_run - done)
            return
        writer.put(index, _run_record(variant, workload, steps, INCOMPLETE))
        if not todo and not open_added:
            open_added = True
            todo = plan.open_steps(steps)
            progress.skipped(plan.steps_per_run - done - len(todo))
    failed = [s for s in steps if s.status == "failed"]
    error = f"{len(failed)} of {len(steps)} steps failed: {failed[0].error}" if failed else None
    writer.put(index, _run_record(variant, workload, steps, error))
