"""Progress on the terminal while a run goes: a bar over all steps and one line per step.

Labels, phases and step errors come from outside (variant names, exception messages, PromQL
selectors such as ``pod=~"x-[a-z0-9]+"``), so nothing here is read as rich markup: lines are
``rich.text.Text`` with our styles attached, and the bar shows its description as plain text.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from djbench.analysis import load_label
from djbench.plan import LoadStep
from djbench.results import Step


class RichProgress:
    """The runner's progress sink, drawn with rich (plain lines when not on a terminal)."""

    def __init__(self, console: Console, total_steps: int) -> None:
        self.console = console
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._bar.add_task("preparing", total=total_steps)

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.stop()

    def phase(self, text: str) -> None:
        """Show a stage of the run."""
        self._bar.update(self._task, description=text)
        if not self.console.is_terminal:
            self.console.print(Text(f"… {text}", style="dim"))

    def step_started(self, run: str, workload: str, step: LoadStep) -> None:
        """Show the step being measured (``run``: the run's label)."""
        self._bar.update(self._task, description=f"{run} · {workload} · {step.model} {step.label}")

    def step_done(self, run: str, workload: str, step: Step) -> None:
        """Print one line with the step's headline numbers."""
        self._bar.advance(self._task)
        level = load_label(step)
        if step.status != "ok":
            self.console.print(
                Text.assemble(
                    "  ", ("failed", "red"), f" {run:<28} {workload:<9} {level:<10} {step.error}"
                )
            )
            return
        errors = f"  {step.errors} errors" if step.errors else ""
        dropped = f"  {step.dropped} dropped" if step.dropped else ""
        self.console.print(
            Text.assemble(
                "  ",
                ("ok", "green"),
                f"     {run:<28} {workload:<9} {level:<10} "
                f"{step.rps:9.1f} req/s  p50 {step.latency_ms.p50:8.1f} ms  "
                f"p99 {step.latency_ms.p99:8.1f} ms  cpu {step.cpu_util:4.0%}",
                (errors, "yellow"),
                (dropped, "yellow"),
            )
        )

    def skipped(self, count: int) -> None:
        """Count steps that will not run as done, so the bar stays truthful."""
        if count > 0:
            self._bar.advance(self._task, count)
