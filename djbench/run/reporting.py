"""Where the runner says what it is doing: a protocol every progress display (or none) meets."""

from __future__ import annotations

from typing import Protocol

from djbench.model.results import Step
from djbench.model.setup import LoadStep


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

    def run_failed(self, run: str, workload: str, error: str) -> None:
        """A run ended failed (verification, its server's start, its steps, a fault): said
        as it happens, with its cause."""
